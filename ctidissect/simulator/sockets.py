"""Real-socket drivers (asyncio) for the sans-IO server and the scripted clients.

Protocol time is ``(loop.time() - start) / time_scale`` seconds: with ``time_scale`` 0.05 a
20-second IdleTimeout lasts one real second, which keeps end-to-end tests short.  Both
drivers of one run must use the same scale.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from .agenda import Close, Connect, Send
from .clients import ScriptedClient
from .server import CtiServer, SideState

log = logging.getLogger("ctidissect.simulator")

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


def _reset(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a CTI endpoint resetting the connection."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        except OSError as exc:  # already closed by the peer: a plain abort will do
            log.debug("SO_LINGER failed: %s", exc)
    transport.abort()


def _nodelay(transport: asyncio.BaseTransport) -> None:
    # GED-188 1: Cisco recommends TCP_NODELAY (Nagle off) on CTI connections.
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Clock:
    def __init__(self, loop: asyncio.AbstractEventLoop, time_scale: float, start: float | None = None) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.loop = loop
        self.scale = time_scale
        self.start = loop.time() if start is None else start

    def now(self) -> float:
        return (self.loop.time() - self.start) / self.scale

    def real(self, t: float) -> float:
        return self.start + t * self.scale


class _Pump:
    """Calls ``step(now)`` when a component's next wakeup comes, keeping one timer."""

    def __init__(self, clock: _Clock, step: Callable[[], None], next_time: Callable[[], float | None]) -> None:
        self.clock = clock
        self.step = step
        self.next_time = next_time
        self._handle: asyncio.TimerHandle | None = None
        self._when: float | None = None

    def rearm(self) -> None:
        t = self.next_time()
        if self._handle is not None and self._when is not None and (t is None or self._when <= t):
            return  # an earlier (or equal) wakeup is armed: it will re-arm for the rest
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._when = t
        if t is not None:
            self._handle = self.clock.loop.call_at(self.clock.real(t), self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._when = None
        self.step()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class _ServerProtocol(asyncio.Protocol):
    def __init__(self, runner: SocketServer, side: str) -> None:
        self.runner = runner
        self.side = side
        self.conn = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        runner = self.runner
        if not runner.server.accepting(self.side):
            _reset(transport)
            return
        _nodelay(transport)
        runner.next_conn += 1
        self.conn = runner.next_conn
        runner.transports[self.conn] = transport
        peer = transport.get_extra_info("peername") or ("0.0.0.0", 0)
        runner.server.connection_made(self.conn, self.side, (peer[0], peer[1]), runner.clock.now())
        runner.run()

    def data_received(self, data: bytes) -> None:
        if self.conn:
            self.runner.server.data_received(self.conn, data, self.runner.clock.now())
            self.runner.run()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn:
            self.runner.transports.pop(self.conn, None)
            self.runner.server.connection_lost(self.conn, self.runner.clock.now())
            self.runner.run()


class SocketServer:
    """Serves a :class:`CtiServer` on real TCP listeners, one per side.

    ``listen`` maps side ("A"/"B") to (host, port); port 0 picks a free port, see
    :attr:`addresses` after :meth:`start`."""

    def __init__(self, server: CtiServer, listen: dict[str, tuple[str, int]], *, time_scale: float = 1.0) -> None:
        self.server = server
        self.listen = dict(listen)
        self.time_scale = time_scale
        self.addresses: dict[str, tuple[str, int]] = {}
        self.transports: dict[int, asyncio.Transport] = {}
        self.next_conn = 0
        self._listeners: dict[str, asyncio.base_events.Server] = {}
        self.clock: _Clock
        self._pump: _Pump

    async def start(self, clock_start: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.clock = _Clock(loop, self.time_scale, clock_start)
        self._pump = _Pump(self.clock, self.run, self.server.next_wakeup)
        for side in sorted(self.listen):
            await self._open_listener(side, self.listen[side])

    async def _open_listener(self, side: str, address: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(lambda s=side: _ServerProtocol(self, s), address[0], address[1],
                                       reuse_address=True)
        self._listeners[side] = srv
        sockname = srv.sockets[0].getsockname()
        self.addresses[side] = (sockname[0], sockname[1])

    def run(self) -> None:
        """Execute every server action due now and re-arm the timer."""
        actions = self.server.collect(self.clock.now())
        for act in actions:
            if isinstance(act, Send):
                tr = self.transports.get(act.conn)
                if tr is not None and not tr.is_closing():
                    tr.write(act.data)
            elif isinstance(act, Close):
                tr = self.transports.pop(act.conn, None)
                if tr is not None:
                    if act.abort:
                        _reset(tr)
                    else:
                        tr.close()
                    self.server.connection_lost(act.conn, self.clock.now())
            elif isinstance(act, SideState):
                self._side_state(act)
        self._pump.rearm()

    def _side_state(self, act: SideState) -> None:
        if not act.up:
            srv = self._listeners.pop(act.side, None)
            if srv is not None:
                srv.close()  # new connection attempts are refused from now on
        elif act.side not in self._listeners and act.side in self.addresses:
            asyncio.get_running_loop().create_task(self._open_listener(act.side, self.addresses[act.side]))

    async def close(self) -> None:
        self._pump.cancel()
        for srv in self._listeners.values():
            srv.close()
        for tr in list(self.transports.values()):
            tr.close()
        for srv in self._listeners.values():
            await srv.wait_closed()
        self._listeners.clear()


class _ClientProtocol(asyncio.Protocol):
    def __init__(self, driver: _ClientDriver, generation: int) -> None:
        self.driver = driver
        self.generation = generation

    def data_received(self, data: bytes) -> None:
        if self.generation == self.driver.generation:
            self.driver.client.data_received(data, self.driver.clock.now())
            self.driver.run()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.generation == self.driver.generation:
            self.driver.transport = None
            self.driver.client.connection_lost(self.driver.clock.now())
            self.driver.run()


@dataclass
class _ClientDriver:
    client: ScriptedClient
    addresses: dict[str, tuple[str, int]]
    clock: _Clock
    transport: asyncio.Transport | None = None
    generation: int = 0
    tasks: set[asyncio.Task] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.pump = _Pump(self.clock, self.run, self.client.next_wakeup)

    def run(self) -> None:
        for act in self.client.collect(self.clock.now()):
            if isinstance(act, Send):
                if self.transport is not None and not self.transport.is_closing():
                    self.transport.write(act.data)
            elif isinstance(act, Close):
                tr, self.transport = self.transport, None
                self.generation += 1
                if tr is not None and act.abort:
                    _reset(tr)
                elif tr is not None:
                    tr.close()
            elif isinstance(act, Connect):
                task = asyncio.get_running_loop().create_task(self._connect(act.side))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        self.pump.rearm()

    async def _connect(self, side: str) -> None:
        loop = asyncio.get_running_loop()
        self.generation += 1
        generation = self.generation
        host, port = self.addresses[side]
        try:
            transport, _ = await loop.create_connection(lambda: _ClientProtocol(self, generation), host, port)
        except OSError as exc:
            log.debug("client %s: connect to side %s failed: %s", self.client.spec.id, side, exc)
            self.client.connect_failed(self.clock.now())
            self.run()
            return
        assert isinstance(transport, asyncio.Transport)
        _nodelay(transport)
        self.transport = transport
        self.client.connected_ok(self.clock.now(), transport.get_extra_info("sockname"))
        self.run()

    def stop(self) -> None:
        self.pump.cancel()
        for task in self.tasks:
            task.cancel()
        if self.transport is not None:
            self.transport.close()


async def run_clients(clients: list[ScriptedClient], addresses: dict[str, tuple[str, int]], duration: float, *,
                      time_scale: float = 1.0, clock_start: float | None = None) -> list[ScriptedClient]:
    """Run scripted clients over real sockets for ``duration`` protocol seconds against the
    server sides at ``addresses`` (side -> (host, port))."""
    loop = asyncio.get_running_loop()
    clock = _Clock(loop, time_scale, clock_start)
    drivers = [_ClientDriver(c, addresses, clock) for c in clients]
    for d in drivers:
        d.client.start(0.0)
        d.run()
    await asyncio.sleep(max(0.0, clock.real(duration) - loop.time()))
    # A last pass for the actions due exactly at the end.
    for d in drivers:
        d.run()
    for d in drivers:
        d.stop()
    await asyncio.sleep(0)
    return clients


async def run_scenario_live(scenario, *, time_scale: float = 1.0, host: str = "127.0.0.1", seed: int | None = None,
                            ports: tuple[int, int] = (0, 0),
                            start_delay: float = 0.0) -> tuple[CtiServer, dict[str, ScriptedClient]]:
    """Start a server for ``scenario`` on ``host`` (ephemeral ports by default), run the
    scenario's clients against it over loopback, stop it; returns server and clients.
    Scenario time 0 is ``start_delay`` real seconds after the call (to spread the
    connection bursts of scenarios run side by side)."""
    import random

    seed = scenario.seed if seed is None else seed
    server = CtiServer(scenario.server_config(seed), keep_log=True)
    runner = SocketServer(server, {"A": (host, ports[0]), "B": (host, ports[1])}, time_scale=time_scale)
    loop = asyncio.get_running_loop()
    start = loop.time() + start_delay
    await runner.start(start)
    clients = [ScriptedClient(spec, random.Random(seed * 1000 + i)) for i, spec in enumerate(scenario.clients)]
    try:
        await run_clients(clients, runner.addresses, scenario.duration, time_scale=time_scale, clock_start=start)
    finally:
        await runner.close()
    return server, {c.spec.id: c for c in clients}
