"""Write small GED-188 pcaps with chosen timestamps (tests of the report package only).

Messages are encoded with :func:`ctidissect.wire.encode_message` and written one per TCP
segment (Ether/IP/TCP, correct sequence numbers, a SYN handshake and a FIN close), so the
capture reader sees whole connections whose every message has a known timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from ctidissect.wire import encode_message

SERVER_IP = "10.0.0.1"
SERVER_PORT = 42027
T0 = 1_700_000_000.0
"""Epoch seconds of the first packet of every generated capture."""

ALL_EVENTS = 0x10
CLIENT_EVENTS = 0x01
CLIENT_CONTROL = 0x04
SUPERVISOR = 0x80
SERVER_SERVICE = 0x100
NO_HEARTBEAT = 0xFFFFFFFF


@dataclass
class Conn:
    """One client connection; ``c2s``/``s2c`` append one message per TCP segment."""

    builder: PcapBuilder
    client_ip: str
    client_port: int
    version: int
    seq_c: int = 1000
    seq_s: int = 5000

    @property
    def name(self) -> str:
        return f"{self.client_ip}:{self.client_port}-{SERVER_IP}:{SERVER_PORT}"

    def _pkt(self, ts: float, c2s: bool, flags: str, payload: bytes = b"") -> None:
        """Queue one segment; sequence numbers are assigned in time order by
        :meth:`PcapBuilder.write`."""
        self.builder.pending.append((T0 + ts, len(self.builder.pending), self, c2s, flags, payload, 0))

    def skip(self, ts: float, nbytes: int) -> Conn:
        """At ``ts``, ``nbytes`` of the client stream go missing from the capture (a gap)."""
        self.builder.pending.append((T0 + ts, len(self.builder.pending), self, True, "", b"", nbytes))
        return self

    def _emit(self, ts: float, c2s: bool, flags: str, payload: bytes, skip: int) -> None:
        if skip:
            self.seq_c += skip
            return
        if c2s:
            ip = IP(src=self.client_ip, dst=SERVER_IP)
            tcp = TCP(sport=self.client_port, dport=SERVER_PORT, flags=flags, seq=self.seq_c, ack=self.seq_s)
        else:
            ip = IP(src=SERVER_IP, dst=self.client_ip)
            tcp = TCP(sport=SERVER_PORT, dport=self.client_port, flags=flags, seq=self.seq_s, ack=self.seq_c)
        pkt = Ether() / ip / tcp
        if payload:
            pkt = pkt / payload
        pkt.time = ts
        self.builder.packets.append(pkt)
        advance = len(payload) + (1 if ("S" in flags or "F" in flags) else 0)
        if c2s:
            self.seq_c += advance
        else:
            self.seq_s += advance

    def handshake(self, ts: float) -> Conn:
        self._pkt(ts, True, "S")
        self._pkt(ts + 0.0001, False, "SA")
        self._pkt(ts + 0.0002, True, "A")
        return self

    def c2s(self, ts: float, name: str, fields: dict[str, int] | None = None, floating: Any = ()) -> Conn:
        """Client sends ``name`` at ``ts`` seconds after :data:`T0`."""
        self._pkt(ts, True, "PA", encode_message(name, fields or {}, floating, self.version))
        return self

    def s2c(self, ts: float, name: str, fields: dict[str, int] | None = None, floating: Any = ()) -> Conn:
        """Server sends ``name`` at ``ts`` seconds after :data:`T0`."""
        self._pkt(ts, False, "PA", encode_message(name, fields or {}, floating, self.version))
        return self

    def raw_c2s(self, ts: float, data: bytes) -> Conn:
        self._pkt(ts, True, "PA", data)
        return self

    def close(self, ts: float) -> Conn:
        self._pkt(ts, True, "FA")
        self._pkt(ts + 0.0001, False, "FA")
        self._pkt(ts + 0.0002, True, "A")
        return self

    # ---- session helpers -------------------------------------------------------------
    def open_session(
        self,
        ts: float,
        *,
        invoke_id: int = 1,
        client_id: str = "client",
        password: str | bytes = b"",
        services: int = CLIENT_EVENTS,
        idle_timeout: int = 80,
        reserved: tuple[int, int, int] = (0, 0, 0),
        conf_delay: float = 0.01,
        floats: list[tuple[str, Any]] | None = None,
        agent: str | None = None,
        handshake: bool = True,
    ) -> Conn:
        """TCP handshake (unless ``handshake`` is False), OPEN_REQ (CLIENT_ID,
        CLIENT_PASSWORD, ...) and OPEN_CONF."""
        if handshake:
            self.handshake(ts - 0.001)
        if isinstance(password, str):
            password = password.encode()
        items = floats if floats is not None else [("CLIENT_ID", client_id), ("CLIENT_PASSWORD", password)]
        if agent:
            items = [*items, ("AGENT_ID", agent)]
        self.c2s(
            ts,
            "OPEN_REQ",
            {
                "InvokeID": invoke_id,
                "VersionNumber": self.version,
                "IdleTimeout": idle_timeout,
                "PeripheralID": 5000,
                "ServicesRequested": services,
                "Reserved1": reserved[0],
                "Reserved2": reserved[1],
                "Reserved3": reserved[2],
            },
            items,
        )
        if conf_delay is not None:
            self.s2c(ts + conf_delay, "OPEN_CONF", {"InvokeID": invoke_id, "ServicesGranted": services, "PeripheralOnline": 1})
        return self

    def request(
        self,
        ts: float,
        name: str,
        invoke_id: int,
        latency: float | None,
        answer: str | None = None,
        fields: dict[str, int] | None = None,
        floating: Any = (),
        answer_fields: dict[str, int] | None = None,
    ) -> Conn:
        """A request at ``ts`` answered ``latency`` seconds later (None: never answered)."""
        from ctidissect.catalogue import confirmation_of

        self.c2s(ts, name, {"InvokeID": invoke_id, **(fields or {})}, floating)
        if latency is not None:
            reply = answer or confirmation_of(name)
            assert reply, name
            self.s2c(ts + latency, reply, {"InvokeID": invoke_id, **(answer_fields or {})})
        return self


@dataclass
class PcapBuilder:
    """Collects packets of several connections and writes them sorted by time."""

    version: int = 24
    packets: list = field(default_factory=list)
    pending: list = field(default_factory=list)
    _next_port: int = 50000

    def connection(self, client_ip: str = "10.0.0.2", client_port: int | None = None, version: int | None = None) -> Conn:
        if client_port is None:
            client_port = self._next_port
            self._next_port += 1
        return Conn(self, client_ip, client_port, self.version if version is None else version)

    def write(self, path) -> str:
        """Sort the queued segments by time (stable), number them and write the pcap."""
        self.packets = []
        for ts, _order, conn, c2s, flags, payload, skip in sorted(self.pending, key=lambda e: (e[0], e[1])):
            conn._emit(ts, c2s, flags, payload, skip)
        wrpcap(str(path), self.packets)
        return str(path)
