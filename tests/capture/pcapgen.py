"""Fixture generator: crafts pcap/pcapng captures of CTI conversations with scapy.

A :class:`Conversation` tracks both sides' sequence numbers and builds scapy IP/TCP
packets; :func:`write_capture` adds the link layer (Ethernet, VLAN, QinQ, SLL, SLL2, raw
IP, BSD loopback) and writes pcap (µs or ns, either byte order) or pcapng.  Messages are
built with :func:`ctidissect.wire.encode_message`, so the expected decode is known exactly.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether, Loopback, LoopbackOpenBSD
from scapy.packet import Packet, Raw
from scapy.utils import wrpcapng

from ctidissect.wire import encode_message

T0 = 1_700_000_000.0
"""Timestamp of the first packet (epoch seconds)."""
DT = 0.001
"""Seconds between consecutive packets."""


# -- messages ---------------------------------------------------------------------------
def open_req(invoke: int, version: int = 24) -> bytes:
    return encode_message(
        "OPEN_REQ",
        {"InvokeID": invoke, "VersionNumber": version, "IdleTimeout": 60, "PeripheralID": 5000, "ServicesRequested": 0x10},
        [("CLIENT_ID", "pytest"), ("CLIENT_PASSWORD", b"")],
        version,
    )


def open_conf(invoke: int, version: int = 24) -> bytes:
    return encode_message("OPEN_CONF", {"InvokeID": invoke, "MonitorID": 1, "PGStatus": 0}, [("PERIPHERAL_ID", 5000)], version)


def heartbeat_req(invoke: int, version: int = 24) -> bytes:
    return encode_message("HEARTBEAT_REQ", {"InvokeID": invoke}, (), version)


def heartbeat_conf(invoke: int, version: int = 24) -> bytes:
    return encode_message("HEARTBEAT_CONF", {"InvokeID": invoke}, (), version)


def agent_state_event(agent: str = "1001", version: int = 24) -> bytes:
    return encode_message(
        "AGENT_STATE_EVENT",
        {"PeripheralID": 5000, "AgentState": 3, "SkillGroupNumber": 77},
        [("AGENT_EXTENSION", "2001"), ("AGENT_ID", agent), ("AGENT_INSTRUMENT", "2001")],
        version,
    )


def call_delivered_event(call_id: int = 4242, version: int = 24) -> bytes:
    return encode_message(
        "CALL_DELIVERED_EVENT",
        {"PeripheralID": 5000, "ConnectionCallID": call_id, "ConnectionDeviceIDType": 0},
        [("CONNECTION_DEVID", "2001"), ("ANI", "5551234"), ("DNIS", "8000"), ("CALL_VAR_1", "hello")],
        version,
    )


def query_agent_state_req(invoke: int, version: int = 24) -> bytes:
    return encode_message(
        "QUERY_AGENT_STATE_REQ", {"InvokeID": invoke, "PeripheralID": 5000}, [("AGENT_INSTRUMENT", "2001")], version
    )


# -- conversations ----------------------------------------------------------------------
@dataclass
class Conversation:
    """One TCP connection.  Methods return scapy packets (IP layer up) and advance the
    sender's sequence number unless told otherwise."""

    client: tuple[str, int] = ("10.0.0.2", 50000)
    server: tuple[str, int] = ("10.0.0.1", 42027)
    c_isn: int = 1000
    s_isn: int = 5000
    ipv6: bool = False
    ipv6_ext: bool = False
    next_seq: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Stream offset 0 is ISN+1 (the SYN takes one sequence number).
        self.next_seq = {"c2s": (self.c_isn + 1) & 0xFFFFFFFF, "s2c": (self.s_isn + 1) & 0xFFFFFFFF}

    @property
    def name(self) -> str:
        c, s = self.client, self.server
        if self.ipv6:
            return f"[{c[0]}]:{c[1]}-[{s[0]}]:{s[1]}"
        return f"{c[0]}:{c[1]}-{s[0]}:{s[1]}"

    def _ip(self, direction: str) -> Packet:
        src, dst = (self.client, self.server) if direction == "c2s" else (self.server, self.client)
        if self.ipv6:
            ip = IPv6(src=src[0], dst=dst[0])
            if self.ipv6_ext:
                ip = ip / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()
            return ip
        return IP(src=src[0], dst=dst[0])

    def _ports(self, direction: str) -> tuple[int, int]:
        return (self.client[1], self.server[1]) if direction == "c2s" else (self.server[1], self.client[1])

    def _other(self, direction: str) -> str:
        return "s2c" if direction == "c2s" else "c2s"

    def handshake(self) -> list[Packet]:
        c, s = self.c_isn, self.s_isn
        sp, dp = self._ports("c2s")
        return [
            self._ip("c2s") / TCP(sport=sp, dport=dp, flags="S", seq=c),
            self._ip("s2c") / TCP(sport=dp, dport=sp, flags="SA", seq=s, ack=(c + 1) & 0xFFFFFFFF),
            self._ip("c2s") / TCP(sport=sp, dport=dp, flags="A", seq=(c + 1) & 0xFFFFFFFF, ack=(s + 1) & 0xFFFFFFFF),
        ]

    def seg(
        self, direction: str, data: bytes, *, seq: int | None = None, advance: bool = True, flags: str = "PA", ack: int | None = None
    ) -> Packet:
        """A data segment.  ``seq`` overrides the sequence number (retransmissions,
        reordering); ``advance`` False leaves the sender's next sequence number alone."""
        s = self.next_seq[direction] if seq is None else seq & 0xFFFFFFFF
        sp, dp = self._ports(direction)
        a = self.next_seq[self._other(direction)] if ack is None else ack
        pkt = self._ip(direction) / TCP(sport=sp, dport=dp, flags=flags, seq=s, ack=a) / Raw(data)
        if advance and seq is None:
            self.next_seq[direction] = (s + len(data)) & 0xFFFFFFFF
        return pkt

    def skip(self, direction: str, n: int) -> None:
        """Advance ``direction`` by ``n`` bytes that are never captured."""
        self.next_seq[direction] = (self.next_seq[direction] + n) & 0xFFFFFFFF

    def ack(self, direction: str) -> Packet:
        """A bare ACK from ``direction`` acknowledging everything the peer sent."""
        sp, dp = self._ports(direction)
        return self._ip(direction) / TCP(
            sport=sp, dport=dp, flags="A", seq=self.next_seq[direction], ack=self.next_seq[self._other(direction)]
        )

    def fin(self, direction: str) -> Packet:
        sp, dp = self._ports(direction)
        pkt = self._ip(direction) / TCP(
            sport=sp, dport=dp, flags="FA", seq=self.next_seq[direction], ack=self.next_seq[self._other(direction)]
        )
        self.next_seq[direction] = (self.next_seq[direction] + 1) & 0xFFFFFFFF
        return pkt

    def rst(self, direction: str) -> Packet:
        sp, dp = self._ports(direction)
        return self._ip(direction) / TCP(sport=sp, dport=dp, flags="R", seq=self.next_seq[direction])


def split(data: bytes, *cuts: int) -> list[bytes]:
    """``data`` cut at the given offsets."""
    out, prev = [], 0
    for c in (*cuts, len(data)):
        out.append(data[prev:c])
        prev = c
    return out


# -- links and files --------------------------------------------------------------------
LINKTYPES = {"ether": 1, "vlan": 1, "qinq": 1, "sll": 113, "sll2": 276, "raw": 101, "null": 0, "loop": 108, "ipv4": 228}


def with_link(ip_pkt: Packet, link: str) -> Packet:
    """``ip_pkt`` under the link layer ``link``."""
    v6 = ip_pkt.haslayer(IPv6)
    etype = 0x86DD if v6 else 0x0800
    if link == "ether":
        return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=etype) / ip_pkt
    if link == "vlan":
        return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1Q(vlan=10, type=etype) / ip_pkt
    if link == "qinq":
        return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1AD(vlan=100) / Dot1Q(vlan=10, type=etype) / ip_pkt
    if link == "sll":
        return CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, proto=etype) / ip_pkt
    if link == "sll2":
        return CookedLinuxV2(proto=etype, ifindex=1, pkttype=0, lladdrtype=1, lladdrlen=6) / ip_pkt
    if link in ("raw", "ipv4"):
        return ip_pkt
    if link == "null":
        return Loopback(type=30 if v6 else 2) / ip_pkt
    if link == "loop":
        return LoopbackOpenBSD(type=24 if v6 else 2) / ip_pkt
    raise ValueError(link)


def write_capture(
    path,
    packets: Sequence[Packet | bytes],
    link: str = "ether",
    fmt: str = "pcap",
    t0: float = T0,
    dt: float = DT,
    times: Sequence[float] | None = None,
    snap: dict[int, int] | None = None,
) -> list[bytes]:
    """Write ``packets`` (scapy IP packets, or raw link-layer bytes) to ``path``.  ``fmt``:
    ``pcap``, ``pcap-ns`` (nanosecond), ``pcap-be`` (big-endian), ``pcapng`` (scapy's
    writer) or ``pcapng-be`` (big-endian pcapng with if_tsresol=9, written by hand).
    Packet i gets timestamp ``t0 + i*dt`` unless ``times`` lists them.  ``snap`` maps a
    0-based packet index to the number of bytes captured of it (snap length).  Returns the
    frames' bytes as written."""
    frames = [p if isinstance(p, (bytes, bytearray)) else bytes(with_link(p, link)) for p in packets]
    for index, keep in (snap or {}).items():
        frames[index] = frames[index][:keep]
    linktype = LINKTYPES[link]
    if times is None:
        times = [t0 + i * dt for i in range(len(frames))]
    if fmt in ("pcap", "pcap-ns", "pcap-be"):
        # scapy's writer cannot write link type 0 (DLT_NULL), so the few header bytes are
        # written here.
        order = ">" if fmt == "pcap-be" else "<"
        nano = fmt == "pcap-ns"
        with open(path, "wb") as f:
            f.write(struct.pack(order + "IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
            for data, t in zip(frames, times):
                frac = round((t - int(t)) * (1e9 if nano else 1e6))
                f.write(struct.pack(order + "IIII", int(t), frac, len(data), len(data)) + data)
    elif fmt == "pcapng":
        pkts = []
        for data, t in zip(frames, times):
            pkt = _scapy_link_class(link)(data)
            pkt.time = t
            pkts.append(pkt)
        wrpcapng(str(path), pkts)
    elif fmt == "pcapng-be":
        _write_pcapng_be(path, frames, times, linktype)
    else:
        raise ValueError(fmt)
    return frames


def _scapy_link_class(link: str):
    return {
        "ether": Ether,
        "vlan": Ether,
        "qinq": Ether,
        "sll": CookedLinux,
        "sll2": CookedLinuxV2,
        "raw": IP,
        "ipv4": IP,
        "null": Loopback,
        "loop": LoopbackOpenBSD,
    }[link]


def _block(btype: int, body: bytes) -> bytes:
    pad = (-len(body)) % 4
    total = 12 + len(body) + pad
    return struct.pack(">II", btype, total) + body + b"\0" * pad + struct.pack(">I", total)


def _write_pcapng_be(path, frames: Iterable[bytes], times: Iterable[float], linktype: int) -> None:
    """Big-endian pcapng: a section header, a dummy interface 0 (another link type), the
    real interface 1 with nanosecond resolution, a name-resolution block to skip, and an
    enhanced packet block per frame."""
    shb = struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1)
    idb0 = struct.pack(">HHI", 147, 0, 65535)  # a user link type, never used
    opts = struct.pack(">HH", 9, 1) + bytes([9]) + b"\0\0\0" + struct.pack(">HH", 0, 0)
    idb1 = struct.pack(">HHI", linktype, 0, 65535) + opts
    nrb = struct.pack(">HH", 0, 0)
    out = [_block(0x0A0D0D0A, shb), _block(1, idb0), _block(1, idb1), _block(4, nrb)]
    for data, t in zip(frames, times):
        ticks = round(t * 1e9)
        body = struct.pack(">IIIII", 1, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + data
        out.append(_block(6, body))
    with open(path, "wb") as f:
        f.write(b"".join(out))


# -- reading back -----------------------------------------------------------------------
def message_rows(records) -> list[tuple]:
    """``(frame, conn, direction, name, InvokeID)`` of every message record."""
    from ctidissect.wire import Message

    return [(r.frame, r.conn, r.direction, r.name, r.invoke_id) for r in records if isinstance(r, Message) and r.type is not None]


def anomaly_rows(records) -> list[tuple]:
    """``(frame, code)`` of every anomaly record (``type`` None), in order."""
    from ctidissect.wire import Message

    return [(r.frame, r.anomalies[0].code) for r in records if isinstance(r, Message) and r.type is None]


def anomaly_records(records, code: str) -> list:
    from ctidissect.wire import Message

    return [r for r in records if isinstance(r, Message) and r.type is None and r.anomalies[0].code == code]


def event_rows(records) -> list[tuple]:
    """``(frame, conn, kind, direction)`` of every ConnectionEvent."""
    from ctidissect.capture import ConnectionEvent

    return [(r.frame, r.conn, r.kind, r.direction) for r in records if isinstance(r, ConnectionEvent)]


def raw_tcp_frame(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes) -> bytes:
    """An Ethernet/IPv4/TCP frame built with struct (for property tests that need many)."""
    import socket

    ip = struct.pack(
        ">BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 1, 0, 64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst)
    )
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0)
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp + payload
