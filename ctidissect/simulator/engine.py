"""Discrete-event engine: runs a scenario's scripted clients against the sans-IO server on a
virtual clock and a virtual TCP network, and optionally writes what a tap would capture as
a pcap: real three-way handshakes, sequence and acknowledgement numbers, delayed ACKs,
FIN / RST closes, MSS-limited segments, several messages in one segment when written at
the same instant, and (with ``split_chance``) a message split over two segments.

The same scenario and seed always give byte-identical output.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..catalogue.versions import DEFAULT_SERVER_PORTS
from .agenda import Action, Agenda, Close, Connect, Send
from .clients import ScriptedClient
from .pcap_writer import TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, PcapWriter, tcp_frame
from .scenario import Scenario
from .server import CtiServer, SideState

SERVER_ADDRESSES = {"A": ("10.0.0.1", DEFAULT_SERVER_PORTS[0]), "B": ("10.0.0.2", DEFAULT_SERVER_PORTS[1])}
"""Side A and side B of the simulated CTI Server in pcap runs."""


@dataclass(eq=False)
class _Tcp:
    """One virtual TCP connection.  Index 0 is the client end, 1 the server end."""

    client: ScriptedClient
    conn: int
    side: str
    ips: tuple[str, str]
    ports: tuple[int, int]
    snd_nxt: list[int]
    rcv_nxt: list[int] = field(default_factory=lambda: [0, 0])
    acked: list[int] = field(default_factory=lambda: [0, 0])
    last_tx: list[float] = field(default_factory=lambda: [0.0, 0.0])
    last_arrival: list[float] = field(default_factory=lambda: [0.0, 0.0])
    fin_sent: list[bool] = field(default_factory=lambda: [False, False])
    fin_received: list[bool] = field(default_factory=lambda: [False, False])
    established: bool = False
    closed: bool = False
    ended_by: str = ""
    ip_id: list[int] = field(default_factory=lambda: [1, 1])


@dataclass
class ConnectionRecord:
    """How one TCP connection of the run went (for expected-results files)."""

    client: str
    side: str
    client_address: str
    server_address: str
    ended_by: str
    """"fin by server", "rst by client", "refused", "open at end" ..."""


@dataclass
class RunResult:
    scenario: Scenario
    server: CtiServer
    clients: dict[str, ScriptedClient]
    connections: list[ConnectionRecord]
    packets: int
    end_time: float


class Engine:
    """Runs ``scenario`` on a virtual clock.  ``pcap`` (a binary file object) receives the
    capture when given; ``seed`` overrides the scenario seed."""

    def __init__(self, scenario: Scenario, *, seed: int | None = None, pcap: BinaryIO | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.rng = random.Random(self.seed)
        self.net = scenario.network
        self.server = CtiServer(scenario.server_config(self.seed), keep_log=True)
        self.clients = [
            ScriptedClient(spec, random.Random(self.seed * 1000 + i)) for i, spec in enumerate(scenario.clients)
        ]
        self.writer = PcapWriter(pcap) if pcap is not None else None
        self.epoch = self.server.config.epoch
        self.agenda = Agenda()
        self.now = 0.0
        self._tcp_of_client: dict[int, _Tcp] = {}
        self._tcp_of_conn: dict[int, _Tcp] = {}
        self._all: list[_Tcp] = []
        self._next_conn = 1
        self._used_ports: set[tuple[str, int]] = set()

    # ------------------------------------------------------------------ main loop

    def run(self) -> RunResult:
        for client in self.clients:
            client.start(0.0)
        until = self.scenario.duration
        while True:
            t = self._next_time()
            if t is None or t > until:
                break
            self.now = t
            while True:
                progressed = False
                if (nt := self.agenda.next_time()) is not None and nt <= t:
                    self.agenda.collect(t)
                    progressed = True
                if (nt := self.server.next_wakeup()) is not None and nt <= t:
                    self._server_actions(self.server.collect(t), t)
                    progressed = True
                for idx, client in enumerate(self.clients):
                    if (nt := client.next_wakeup()) is not None and nt <= t:
                        self._client_actions(idx, client.collect(t), t)
                        progressed = True
                if not progressed:
                    break
        records = [
            ConnectionRecord(
                tcp.client.spec.id, tcp.side, f"{tcp.ips[0]}:{tcp.ports[0]}", f"{tcp.ips[1]}:{tcp.ports[1]}",
                tcp.ended_by or "open at end",
            )
            for tcp in self._all
        ]
        return RunResult(self.scenario, self.server, {c.spec.id: c for c in self.clients}, records,
                         self.writer.count if self.writer else 0, self.now)

    def _next_time(self) -> float | None:
        times = [self.agenda.next_time(), self.server.next_wakeup(), *(c.next_wakeup() for c in self.clients)]
        present = [t for t in times if t is not None]
        return min(present) if present else None

    # ------------------------------------------------------------------ application actions

    def _server_actions(self, actions: Iterable[Action | SideState], t: float) -> None:
        pending: dict[int, bytearray] = {}
        for act in actions:
            if isinstance(act, Send):
                pending.setdefault(act.conn, bytearray()).extend(act.data)
            elif isinstance(act, Close):
                tcp = self._tcp_of_conn.get(act.conn)
                if act.conn in pending and tcp is not None:
                    self._write(tcp, 1, bytes(pending.pop(act.conn)), t)
                if tcp is not None:
                    self._close(tcp, 1, act.abort, t)
            # SideState: the engine asks server.accepting() on each SYN instead.
        for conn, data in pending.items():
            tcp = self._tcp_of_conn.get(conn)
            if tcp is not None:
                self._write(tcp, 1, bytes(data), t)

    def _client_actions(self, idx: int, actions: Iterable[Action], t: float) -> None:
        client = self.clients[idx]
        buf = bytearray()
        for act in actions:
            tcp = self._tcp_of_client.get(idx)
            if isinstance(act, Send):
                buf.extend(act.data)
            elif isinstance(act, Close):
                if tcp is not None:
                    if buf:
                        self._write(tcp, 0, bytes(buf), t)
                        buf.clear()
                    self._close(tcp, 0, act.abort, t)
            elif isinstance(act, Connect):
                self._connect(idx, client, act.side, t)
        tcp = self._tcp_of_client.get(idx)
        if buf and tcp is not None:
            self._write(tcp, 0, bytes(buf), t)

    # ------------------------------------------------------------------ TCP model

    def _connect(self, idx: int, client: ScriptedClient, side: str, t: float) -> None:
        server_ip, server_port = SERVER_ADDRESSES[side]
        while True:
            port = 32768 + self.rng.randrange(28232)
            if (client.spec.ip, port) not in self._used_ports:
                break
        self._used_ports.add((client.spec.ip, port))
        tcp = _Tcp(client, 0, side, (client.spec.ip, server_ip), (port, server_port),
                   [self.rng.getrandbits(32), self.rng.getrandbits(32)])
        self._tcp_of_client[idx] = tcp
        self._all.append(tcp)
        self._segment(tcp, 0, TCP_SYN, b"", t, mss=self.net.mss)

    def _segment(self, tcp: _Tcp, end: int, flags: int, payload: bytes, t: float, *, mss: int | None = None) -> None:
        """Send one segment from ``end`` (0 client, 1 server) at ``t`` and schedule its arrival."""
        t = max(t, tcp.last_tx[end] + 1e-6) if tcp.last_tx[end] else t
        tcp.last_tx[end] = t
        seq = tcp.snd_nxt[end]
        ack = tcp.rcv_nxt[end] if flags & TCP_ACK else 0
        if flags & TCP_ACK:
            tcp.acked[end] = ack
        if self.writer is not None:
            other = 1 - end
            frame = tcp_frame(tcp.ips[end], tcp.ports[end], tcp.ips[other], tcp.ports[other], seq, ack, flags,
                              payload, ip_id=tcp.ip_id[end], mss=mss)
            self.writer.write(self.epoch + t, frame)
        tcp.ip_id[end] += 1
        tcp.snd_nxt[end] = (seq + len(payload) + (1 if flags & (TCP_SYN | TCP_FIN) else 0)) & 0xFFFFFFFF
        jitter = self.rng.uniform(0, self.net.jitter) if self.net.jitter else 0.0
        arrival = max(t + self.net.latency + jitter, tcp.last_arrival[end] + 1e-6)
        tcp.last_arrival[end] = arrival
        self.agenda.call_at(arrival, lambda at: self._arrive(tcp, end, flags, payload, seq, at))

    def _write(self, tcp: _Tcp, end: int, data: bytes, t: float) -> None:
        """Application bytes written at ``t``: MSS-sized segments, possibly in two writes."""
        if tcp.closed or tcp.fin_sent[end] or not tcp.established or not data:
            return
        parts = [data]
        if self.net.split_chance and len(data) > 1 and self.rng.random() < self.net.split_chance:
            cut = self.rng.randrange(1, len(data))
            parts = [data[:cut], data[cut:]]
        when = t
        for part in parts:
            for i in range(0, len(part), self.net.mss):
                self._segment(tcp, end, TCP_ACK | TCP_PSH, part[i:i + self.net.mss], when)
            when = when + self.rng.uniform(0.00005, 0.0005)

    def _close(self, tcp: _Tcp, end: int, abort: bool, t: float) -> None:
        if tcp.closed:
            return
        who = "client" if end == 0 else "server"
        if abort:
            tcp.closed = True
            tcp.ended_by = tcp.ended_by or f"rst by {who}"
            self._segment(tcp, end, TCP_RST | TCP_ACK, b"", t)
            self._detach(tcp)
        elif not tcp.fin_sent[end]:
            tcp.fin_sent[end] = True
            tcp.ended_by = tcp.ended_by or f"fin by {who}"
            self._segment(tcp, end, TCP_FIN | TCP_ACK, b"", t)

    def _detach(self, tcp: _Tcp) -> None:
        for table in (self._tcp_of_client, self._tcp_of_conn):
            for key, value in list(table.items()):
                if value is tcp:
                    del table[key]

    def _arrive(self, tcp: _Tcp, sender: int, flags: int, payload: bytes, seq: int, t: float) -> None:
        receiver = 1 - sender
        if flags & TCP_RST:
            tcp.closed = True
            self._detach(tcp)
            if receiver == 0:
                if not tcp.established:
                    tcp.client.connect_failed(t)
                else:
                    tcp.client.connection_lost(t)
            elif tcp.established:
                self.server.connection_lost(tcp.conn, t)
            return
        if tcp.closed:
            return
        tcp.rcv_nxt[receiver] = (seq + len(payload) + (1 if flags & (TCP_SYN | TCP_FIN) else 0)) & 0xFFFFFFFF
        if flags & TCP_SYN and not flags & TCP_ACK:
            if self.server.accepting(tcp.side):
                self._segment(tcp, 1, TCP_SYN | TCP_ACK, b"", t, mss=self.net.mss)
            else:
                # Side down: the SYN is refused with a reset.
                tcp.ended_by = "refused"
                self._segment(tcp, 1, TCP_RST | TCP_ACK, b"", t)
                tcp.closed = True
            return
        if flags & TCP_SYN:
            self._segment(tcp, 0, TCP_ACK, b"", t)
            tcp.established = True
            tcp.client.connected_ok(t, (tcp.ips[0], tcp.ports[0]))
            return
        if receiver == 1 and tcp.conn == 0:
            # Final ACK of the handshake: the server accepts the connection.
            tcp.conn = self._next_conn
            self._next_conn += 1
            self._tcp_of_conn[tcp.conn] = tcp
            self.server.connection_made(tcp.conn, tcp.side, (tcp.ips[0], tcp.ports[0]), t)
        if payload:
            if receiver == 1:
                self.server.data_received(tcp.conn, payload, t)
            else:
                tcp.client.data_received(payload, t)
            self.agenda.call_at(t + self.net.delayed_ack, lambda at: self._delayed_ack(tcp, receiver, at))
        if flags & TCP_FIN:
            tcp.fin_received[receiver] = True
            if receiver == 1:
                self.server.connection_lost(tcp.conn, t)
            else:
                tcp.client.connection_lost(t)
            if tcp.fin_sent[receiver]:
                self._segment(tcp, receiver, TCP_ACK, b"", t)
            else:
                # The peer application closes as soon as it reads end-of-stream.
                tcp.fin_sent[receiver] = True
                self._segment(tcp, receiver, TCP_FIN | TCP_ACK, b"", t)
            if tcp.fin_received[0] and tcp.fin_received[1]:
                tcp.closed = True
                self._detach(tcp)

    def _delayed_ack(self, tcp: _Tcp, end: int, t: float) -> None:
        if tcp.closed or tcp.fin_sent[end]:
            return
        if tcp.acked[end] != tcp.rcv_nxt[end]:
            self._segment(tcp, end, TCP_ACK, b"", t)


def run_scenario(scenario: Scenario, *, seed: int | None = None, pcap_path: str | Path | None = None) -> RunResult:
    """Run ``scenario`` on the virtual clock; with ``pcap_path``, write the capture there."""
    if pcap_path is None:
        return Engine(scenario, seed=seed).run()
    with open(pcap_path, "wb") as fh:
        return Engine(scenario, seed=seed, pcap=fh).run()


def result_summary(result: RunResult) -> dict[str, Any]:
    """What the analyzer should find in the capture of ``result``: message counts by name
    and direction, request/reply pairs, unanswered requests, EMERGENCY_CALL_EVENT fan-out,
    connections and the faults injected.  JSON-ready."""
    c2s: dict[str, int] = {}
    s2c: dict[str, int] = {}
    malformed: dict[str, int] = {}
    pairs: dict[str, int] = {}
    unanswered = []
    emergency_fanout: dict[str, int] = {}
    per_client = {}
    for cid, client in result.clients.items():
        for entry in client.transcript:
            name = entry.message.name or f"type {entry.message.type}"
            table = c2s if entry.direction == "out" else s2c
            if entry.message.anomalies:
                table = malformed  # bytes a scenario sends on purpose to be refused
            table[name] = table.get(name, 0) + 1
            if entry.direction == "in" and name == "EMERGENCY_CALL_EVENT":
                emergency_fanout[cid] = emergency_fanout.get(cid, 0) + 1
        for ex in client.history:
            key = f"{ex.request} -> {ex.reply}"
            pairs[key] = pairs.get(key, 0) + 1
            if ex.reply is None:
                unanswered.append({"client": cid, "request": ex.request, "invoke_id": ex.invoke_id,
                                   "sent_at_s": round(ex.sent_at, 6)})
        per_client[cid] = {
            "role": client.spec.role,
            "version": client.spec.version,
            "address": client.spec.ip,
            "received": len(client.received()),
            "events": client.events,
        }
    return {
        "scenario": result.scenario.name,
        "seed": result.server.config.seed,
        "description": " ".join(result.scenario.description.split()),
        "packets": result.packets,
        "messages": {"c2s": dict(sorted(c2s.items())), "s2c": dict(sorted(s2c.items())),
                     "total": sum(c2s.values()) + sum(s2c.values()),
                     "malformed_c2s": dict(sorted(malformed.items()))},
        "decoder_anomalies": {
            "required": list(result.scenario.expect.get("decoder_anomalies_required", [])),
            "allowed": list(result.scenario.expect.get("decoder_anomalies_allowed", [])),
        },
        "pairs": dict(sorted(pairs.items())),
        "unanswered": unanswered,
        "emergency_call_event_fanout": emergency_fanout,
        "connections": [vars(r) for r in result.connections],
        "clients": per_client,
        "faults_applied": result.server.faults_applied,
    }
