"""A tiny in-memory driver for the sans-IO CtiServer (tests only)."""

from __future__ import annotations

import asyncio

import pytest

from ctidissect.simulator import Close, CtiServer, Send, SimulatorConfig
from ctidissect.simulator.server import SideState
from ctidissect.simulator.versioned import FrameReader, encode_for


class Harness:
    """Drives one CtiServer by hand: ``open(conn, ...)``, ``send(conn, name, ...)``,
    ``advance(t)``; replies are decoded per connection at its version."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.server = CtiServer(config or SimulatorConfig.default())
        self.now = 0.0
        self.readers: dict[int, FrameReader] = {}
        self.inbox: dict[int, list] = {}
        self.closed: dict[int, bool] = {}  # conn -> abort flag
        self.side_states: list[SideState] = []
        self.raw: dict[int, bytearray] = {}
        self.invoke = 100

    def connect(self, conn: int, version: int = 24, side: str = "A", ip: str = "10.1.0.10") -> None:
        self.readers[conn] = FrameReader(version)
        self.inbox[conn] = []
        self.raw[conn] = bytearray()
        self.server.connection_made(conn, side, (ip, 40000 + conn), self.now)

    def advance(self, t: float | None = None) -> None:
        """Run the server to time ``t`` (default: everything already due, plus latencies)."""
        target = self.now + 0.5 if t is None else t
        while True:
            nxt = self.server.next_wakeup()
            if nxt is None or nxt > target:
                break
            self.now = max(self.now, nxt)
            self._apply(self.server.collect(self.now))
        self.now = max(self.now, target)

    def _apply(self, actions) -> None:
        for act in actions:
            if isinstance(act, Send):
                self.raw[act.conn] += act.data
                self.inbox[act.conn].extend(self.readers[act.conn].feed(act.data))
            elif isinstance(act, Close):
                self.closed[act.conn] = act.abort
                self.server.connection_lost(act.conn, self.now)
            elif isinstance(act, SideState):
                self.side_states.append(act)

    def send_bytes(self, conn: int, data: bytes) -> None:
        self.server.data_received(conn, data, self.now)

    def send(self, conn: int, name: str, fields: dict | None = None, floats=(), version: int = 24) -> int:
        fields = dict(fields or {})
        self.invoke += 1
        fields.setdefault("InvokeID", self.invoke)
        self.send_bytes(conn, encode_for(name, fields, list(floats), version))
        return fields["InvokeID"]

    def take(self, conn: int) -> list:
        out, self.inbox[conn] = self.inbox[conn], []
        return out

    def open(self, conn: int, *, version: int = 24, services: int = 0x10, peripheral: int = 0xFFFFFFFF,
             agent_id: str | None = None, client_id: str | None = None, idle: int = 0xFFFFFFFF,
             password: bytes | None = b"", extra: dict | None = None, side: str = "A") -> list:
        self.connect(conn, version, side)
        floats = [("CLIENT_ID", client_id or f"client-{conn}")]
        if password is not None:
            floats.append(("CLIENT_PASSWORD", password))
        if agent_id:
            floats += [("AGENT_EXTENSION", agent_id), ("AGENT_ID", agent_id), ("AGENT_INSTRUMENT", agent_id)]
        fields = {"VersionNumber": version, "IdleTimeout": idle, "PeripheralID": peripheral,
                  "ServicesRequested": services, "CallMsgMask": 0xFFFFFFFF, "AgentStateMask": 0x3FFF,
                  "ConfigMsgMask": 0, **(extra or {})}
        self.send(conn, "OPEN_REQ", fields, floats, version)
        self.advance()
        return self.take(conn)

    def agent(self, conn: int, agent_id: str, *, version: int = 24, supervisor: bool = False, ready: bool = True) -> None:
        services = 0x7 | (0x80 if supervisor else 0)
        replies = self.open(conn, version=version, services=services, peripheral=5000, agent_id=agent_id)
        assert replies[0].name == "OPEN_CONF", replies
        self.send(conn, "SET_AGENT_STATE_REQ", {"PeripheralID": 5000, "AgentState": 0},
                  [("AGENT_ID", agent_id), ("AGENT_INSTRUMENT", agent_id)], version)
        if ready:
            self.send(conn, "SET_AGENT_STATE_REQ", {"PeripheralID": 5000, "AgentState": 3},
                      [("AGENT_INSTRUMENT", agent_id)], version)
        self.advance()
        self.take(conn)


def names(messages) -> list[str]:
    return [m.name for m in messages]


@pytest.fixture(autouse=True)
def fresh_event_loop_policy():
    """``asyncio.run`` leaves the main thread with 'no current event loop' set explicitly,
    which breaks later code calling ``asyncio.get_event_loop()`` (pyshark does).  Put a
    pristine default policy back after each test.  Imported by the modules that use asyncio."""
    yield
    asyncio.set_event_loop_policy(None)
