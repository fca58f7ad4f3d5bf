"""Hand-built record sequences for the analysis tests.

Messages are real wire frames (``encode_message``) decoded back with ``decode_buffer``, then
given the capture context (frame, ts, conn, direction) the capture reader would set.
"""

from __future__ import annotations

from typing import Any

from ctidissect.capture.records import ConnectionEvent
from ctidissect.wire import decode_buffer, encode_message

T0 = 1_700_000_000.0
SERVER = "10.0.0.1:42027"
SERVER_B = "10.0.0.2:43027"

CLIENT_EVENTS = 0x01
CLIENT_CONTROL = 0x04
ALL_EVENTS = 0x10
PERIPHERAL_MONITOR = 0x20
CLIENT_MONITOR = 0x40
SUPERVISOR = 0x80
NO_CALL = 0xFFFFFFFF


class Trace:
    """A capture being built: records in order, frames numbered 1, 2, ...; ``at`` is seconds
    after :data:`T0`."""

    def __init__(self, version: int = 24) -> None:
        self.version = version
        self.records: list[Any] = []
        self.frame = 0

    def _next_frame(self) -> int:
        self.frame += 1
        return self.frame

    def msg(self, at: float, conn: str, direction: str, name: str, fields: dict[str, int] | None = None,
            floating: Any = (), version: int | None = None):
        version = self.version if version is None else version
        raw = encode_message(name, fields or {}, floating, version)
        (msg,) = decode_buffer(raw, version)
        msg.frame = self._next_frame()
        msg.ts = T0 + at
        msg.conn = conn
        msg.direction = direction
        self.records.append(msg)
        return msg

    def c2s(self, at: float, conn: str, name: str, fields: dict[str, int] | None = None, floating: Any = (), **kw):
        return self.msg(at, conn, "c2s", name, fields, floating, **kw)

    def s2c(self, at: float, conn: str, name: str, fields: dict[str, int] | None = None, floating: Any = (), **kw):
        return self.msg(at, conn, "s2c", name, fields, floating, **kw)

    def conn_event(self, at: float, conn: str, kind: str, direction: str | None = None, syn_seen: bool = True):
        port = int(conn.rsplit(":", 1)[1])
        ev = ConnectionEvent(conn, kind, self._next_frame(), T0 + at, direction, port, syn_seen)
        self.records.append(ev)
        return ev

    # -- sessions ----------------------------------------------------------------------

    def open(self, at: float, conn: str, *, client_id: str, services: int, granted: int | None = None,
             invoke_id: int = 1, idle_timeout: int = 60, peripheral_id: int = 5000, agent_id: str | None = None,
             extension: str | None = None, instrument: str | None = None, signature: str | None = None,
             version: int | None = None, conf_after: float = 0.010, syn: bool = True, session_type: int = 1):
        """SYN (connection event), OPEN_REQ and OPEN_CONF."""
        if syn:
            self.conn_event(at, conn, "open", syn_seen=True)
        version = self.version if version is None else version
        floats: list[tuple[str, Any]] = [("CLIENT_ID", client_id), ("CLIENT_PASSWORD", b"")]
        if signature:
            floats.append(("CLIENT_SIGNATURE", signature))
        for tag, value in (("AGENT_EXTENSION", extension), ("AGENT_ID", agent_id), ("AGENT_INSTRUMENT", instrument)):
            if value:
                floats.append((tag, value))
        self.c2s(at, conn, "OPEN_REQ", {
            "InvokeID": invoke_id, "VersionNumber": version, "IdleTimeout": idle_timeout,
            "PeripheralID": peripheral_id, "ServicesRequested": services,
        }, floats, version=version)
        conf = {"InvokeID": invoke_id, "ServicesGranted": services if granted is None else granted}
        if version >= 24:
            conf["SessionType"] = session_type
        self.s2c(at + conf_after, conn, "OPEN_CONF", conf, version=version)

    def emergency_event(self, at: float, conn: str, *, peripheral_id: int = 5000, call_id: int = NO_CALL,
                        session_id: int = 0, client_id: str | None = None, agent_id: str | None = None,
                        extension: str | None = None):
        floats = []
        if client_id:
            floats.append(("CLIENT_ID", client_id))
        if agent_id:
            floats.append(("AGENT_ID", agent_id))
        if extension:
            floats.append(("AGENT_EXTENSION", extension))
        return self.s2c(at, conn, "EMERGENCY_CALL_EVENT", {
            "PeripheralID": peripheral_id, "ConnectionCallID": call_id, "SessionID": session_id,
        }, floats)


def conn(n: int, server: str = SERVER) -> str:
    """Connection string of client number ``n``."""
    return f"10.1.0.{n}:{50000 + n}-{server}"


# -- the same trace as a pcap file (for the capture reader and the CLI) ------------------


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _packet(src: str, sport: int, dst: str, dport: int, seq: int, ack: int, flags: int, payload: bytes) -> bytes:
    import socket
    import struct

    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + _checksum(ip).to_bytes(2, "big") + ip[12:]
    return b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00" + ip + tcp


SYN, FIN, RST, PSH_ACK, ACK = 0x02, 0x01, 0x04, 0x18, 0x10


def write_pcap(trace: Trace, path) -> None:
    """Write ``trace`` as an Ethernet/IPv4/TCP pcap: a handshake for each ``open`` event
    with ``syn_seen``, one segment per message (its raw frame), FIN/RST packets for those
    events; ``capture_end`` events write nothing."""
    from ctidissect.capture.pcapfile import PcapWriter
    from ctidissect.capture.records import ConnectionEvent

    seqs: dict[str, list[int]] = {}
    writer = PcapWriter(path, 1)

    def send(name: str, direction: str, flags: int, payload: bytes, ts: float) -> None:
        client, _, server = name.partition("-")
        c_ip, c_port = client.rsplit(":", 1)
        s_ip, s_port = server.rsplit(":", 1)
        ends = {"c2s": (c_ip, int(c_port), s_ip, int(s_port)), "s2c": (s_ip, int(s_port), c_ip, int(c_port))}
        seq = seqs.setdefault(name, [1000, 5000])
        i = 0 if direction == "c2s" else 1
        src, sport, dst, dport = ends[direction]
        writer.write(ts, _packet(src, sport, dst, dport, seq[i], seq[1 - i], flags, payload))
        seq[i] += len(payload) + (1 if flags & (SYN | FIN) else 0)

    try:
        for rec in trace.records:
            if isinstance(rec, ConnectionEvent):
                if rec.kind == "open" and rec.syn_seen:
                    seqs[rec.conn] = [1000, 5000]
                    send(rec.conn, "c2s", SYN, b"", rec.ts)
                    send(rec.conn, "s2c", SYN | ACK, b"", rec.ts)
                    send(rec.conn, "c2s", ACK, b"", rec.ts)
                elif rec.kind == "fin":
                    send(rec.conn, rec.direction or "c2s", FIN | ACK, b"", rec.ts)
                elif rec.kind == "rst":
                    send(rec.conn, rec.direction or "c2s", RST | ACK, b"", rec.ts)
                continue
            send(rec.conn, rec.direction, PSH_ACK, rec.raw, rec.ts)
    finally:
        writer.close()
