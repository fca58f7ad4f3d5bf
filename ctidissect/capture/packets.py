"""Link, IP and TCP header parsing for captured frames, with plain ``struct``.

Link types: Ethernet (with 802.1Q / 802.1ad / QinQ VLAN tags and MPLS), Linux cooked
capture v1 (SLL) and v2 (SLL2), raw IP (LINKTYPE_RAW 101 and the historical DLT_RAW 12/14,
LINKTYPE_IPV4 228, LINKTYPE_IPV6 229), BSD loopback (DLT_NULL 0, host byte order, and
DLT_LOOP 108, network byte order).  Network layers: IPv4 (options allowed) and IPv6 (with
hop-by-hop, routing, destination-options, fragment and AH extension headers).

IP fragments are **reassembled** (CTI runs over TCP with path-MTU discovery, so fragments
are rare, but a capture through a tunnel can hold them): pieces are kept per datagram until
they cover it, at most :data:`MAX_FRAGMENTED_DATAGRAMS` datagrams at a time (the oldest is
dropped and reported).  A datagram that never completes is reported as
``ip.fragments_incomplete``; its bytes then also show up as a ``tcp.gap``.

A frame that is not TCP over IP is skipped without an anomaly (it is simply not CTI); a
link type that cannot carry IP is reported once per link type (``link.unsupported``); an IP
or TCP header cut by the snap length is reported (``ip.truncated``) when it may be CTI.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
RAW_IP_LINKTYPES = frozenset({LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4, LINKTYPE_IPV6})
SUPPORTED_LINKTYPES = frozenset(
    {LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2} | RAW_IP_LINKTYPES
)

INLINE_IPV4_LINKS: dict[int, tuple[int, int]] = {
    LINKTYPE_ETHERNET: (14, 12),
    LINKTYPE_LINUX_SLL: (16, 14),
    LINKTYPE_LINUX_SLL2: (20, 0),
    **dict.fromkeys(RAW_IP_LINKTYPES - {LINKTYPE_IPV6}, (0, -1)),
}
"""Link types whose plain IPv4 frames the capture engine's inline fast path (and the C packet
loop) take: linktype -> (offset of the IPv4 header, offset of the 2-byte ethertype that must
read 0x0800, or -1 when the link carries IP only).  VLAN tags before the ethertype
(:data:`VLAN_ETHERTYPES`) shift both by 4 bytes each; MPLS, IPv6, IPv4 options or anything
unusual goes through :class:`PacketParser`."""

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
VLAN_ETHERTYPES = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
MPLS_ETHERTYPES = frozenset({0x8847, 0x8848})
# BSD loopback address families: AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD/OpenBSD),
# 28 (FreeBSD), 30 (macOS) or 10 (Linux).
AF_INET = 2
AF_INET6_VALUES = frozenset({10, 24, 28, 30})

IPPROTO_TCP = 6
IPV6_EXTENSION_HEADERS = frozenset({0, 43, 60, 135, 139, 140})
IPV6_FRAGMENT = 44
IPV6_AH = 51
IPV6_NO_NEXT = 59

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_ACK = 0x10

MAX_FRAGMENTED_DATAGRAMS = 256
"""Datagrams being reassembled from IP fragments at one time."""

_TCP = struct.Struct(">HHIIBB")
_U16 = struct.Struct(">H")
_U32LE = struct.Struct("<I")
_U32BE = struct.Struct(">I")


class Segment(NamedTuple):
    """One TCP segment.  ``key`` is ``src addr + dst addr + src port + dst port`` as bytes
    (the flow key); addresses are 4 (IPv4) or 16 (IPv6) bytes; ``missing`` counts payload
    bytes the snap length cut off (they are in the stream but not in the capture)."""

    key: bytes
    src: bytes
    dst: bytes
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    payload: bytes
    missing: int


class Problem(NamedTuple):
    """A frame that may be CTI but cannot be parsed: an anomaly ``code`` and ``detail``;
    ``ports`` is ``(sport, dport)`` when the TCP ports could be read."""

    code: str
    detail: str
    ports: tuple[int, int] | None = None


class _Datagram:
    __slots__ = ("pieces", "total", "header", "frames", "proto")

    def __init__(self) -> None:
        self.pieces: dict[int, bytes] = {}
        self.total: int | None = None
        self.header: tuple[bytes, bytes] | None = None
        self.frames: list[int] = []
        self.proto = -1


class PacketParser:
    """Turns captured frames into TCP :class:`Segment` records.  Keeps IP-fragment state,
    so use one parser per capture."""

    def __init__(self) -> None:
        self._fragments: dict[tuple, _Datagram] = {}
        self.dropped_datagrams: list[tuple[tuple, _Datagram]] = []
        """Incomplete datagrams evicted to bound memory (read by the engine)."""

    # -- link layer --------------------------------------------------------------------
    def parse(self, linktype: int, data: bytes, frame: int) -> Segment | Problem | None:
        """The TCP segment in ``data`` (captured on a link of type ``linktype``), a
        :class:`Problem`, or None when the frame is not TCP over IP (or is an IP fragment
        whose datagram is not complete yet)."""
        if linktype == LINKTYPE_ETHERNET:
            if len(data) < 14:
                return None
            (etype,) = _U16.unpack_from(data, 12)
            off = 14
            return self._ether(etype, data, off, frame)
        if linktype == LINKTYPE_LINUX_SLL:
            if len(data) < 16:
                return None
            (etype,) = _U16.unpack_from(data, 14)
            return self._ether(etype, data, 16, frame)
        if linktype == LINKTYPE_LINUX_SLL2:
            if len(data) < 20:
                return None
            (etype,) = _U16.unpack_from(data, 0)
            return self._ether(etype, data, 20, frame)
        if linktype in RAW_IP_LINKTYPES:
            return self._ip_by_version(data, 0, frame)
        if linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
            if len(data) < 4:
                return None
            if linktype == LINKTYPE_LOOP:
                (family,) = _U32BE.unpack_from(data, 0)
            else:
                # Host byte order of the capturing machine: a family number is small, so
                # the order giving a value below 256 is the right one.
                (family,) = _U32LE.unpack_from(data, 0)
                if family > 0xFFFF:
                    (family,) = _U32BE.unpack_from(data, 0)
            if family == AF_INET:
                return self.ipv4(data, 4, frame)
            if family in AF_INET6_VALUES:
                return self.ipv6(data, 4, frame)
            return None
        return Problem("link.unsupported", f"link type {linktype} cannot carry CTI here")

    def _ether(self, etype: int, data: bytes, off: int, frame: int) -> Segment | Problem | None:
        n = len(data)
        while etype in VLAN_ETHERTYPES:
            if off + 4 > n:
                return None
            (etype,) = _U16.unpack_from(data, off + 2)
            off += 4
        if etype == ETH_IPV4:
            return self.ipv4(data, off, frame)
        if etype == ETH_IPV6:
            return self.ipv6(data, off, frame)
        if etype in MPLS_ETHERTYPES:
            # Pop labels up to bottom-of-stack; the payload's first nibble tells IPv4/IPv6.
            while off + 4 <= n:
                bos = data[off + 2] & 1
                off += 4
                if bos:
                    return self._ip_by_version(data, off, frame)
        return None

    def _ip_by_version(self, data: bytes, off: int, frame: int) -> Segment | Problem | None:
        if off >= len(data):
            return None
        version = data[off] >> 4
        if version == 4:
            return self.ipv4(data, off, frame)
        if version == 6:
            return self.ipv6(data, off, frame)
        return None

    # -- IPv4 --------------------------------------------------------------------------
    def ipv4(self, data: bytes, ip: int, frame: int) -> Segment | Problem | None:
        n = len(data)
        if ip + 20 > n:
            return Problem("ip.truncated", f"IPv4 header cut short ({n - ip} of 20 bytes)")
        vihl = data[ip]
        ihl = (vihl & 15) * 4
        if vihl >> 4 != 4 or ihl < 20:
            return None
        if data[ip + 9] != IPPROTO_TCP:
            return None
        if ip + ihl > n:
            return Problem("ip.truncated", f"IPv4 header with options cut short ({n - ip} of {ihl} bytes)")
        total = _U16.unpack_from(data, ip + 2)[0]
        if total == 0:
            total = n - ip  # TCP segmentation offload captures carry 0
        src = data[ip + 12 : ip + 16]
        dst = data[ip + 16 : ip + 20]
        (frag,) = _U16.unpack_from(data, ip + 6)
        if frag & 0x3FFF:
            # More-fragments flag or a non-zero offset: a piece of a larger datagram.
            (ident,) = _U16.unpack_from(data, ip + 4)
            end = min(ip + total, n)
            whole = self._fragment(
                (4, src, dst, ident), (frag & 0x1FFF) * 8, not frag & 0x2000, data[ip + ihl : end], frame, IPPROTO_TCP
            )
            if whole is None:
                return None
            return self.tcp(whole, 0, len(whole), src, dst, 0)
        end = ip + total
        missing = 0
        if end > n:
            missing = end - n
            end = n
        return self.tcp(data, ip + ihl, end, src, dst, missing)

    # -- IPv6 --------------------------------------------------------------------------
    def ipv6(self, data: bytes, ip: int, frame: int) -> Segment | Problem | None:
        n = len(data)
        if ip + 40 > n:
            return Problem("ip.truncated", f"IPv6 header cut short ({n - ip} of 40 bytes)")
        if data[ip] >> 4 != 6:
            return None
        (plen,) = _U16.unpack_from(data, ip + 4)
        nh = data[ip + 6]
        src = data[ip + 8 : ip + 24]
        dst = data[ip + 24 : ip + 40]
        end = ip + 40 + plen if plen else n  # 0: jumbogram or offload, take what is there
        missing = 0
        if end > n:
            missing = end - n
            end = n
        off = ip + 40
        while nh != IPPROTO_TCP:
            if nh in IPV6_EXTENSION_HEADERS:
                if off + 2 > end:
                    return Problem("ip.truncated", "IPv6 extension header cut short")
                nh, hlen = data[off], (data[off + 1] + 1) * 8
                off += hlen
            elif nh == IPV6_AH:
                if off + 2 > end:
                    return Problem("ip.truncated", "IPv6 authentication header cut short")
                nh, hlen = data[off], (data[off + 1] + 2) * 4
                off += hlen
            elif nh == IPV6_FRAGMENT:
                if off + 8 > end:
                    return Problem("ip.truncated", "IPv6 fragment header cut short")
                nxt = data[off]
                (offflags,) = _U16.unpack_from(data, off + 2)
                (ident,) = _U32BE.unpack_from(data, off + 4)
                whole = self._fragment(
                    (6, src, dst, ident), offflags & 0xFFF8, not offflags & 1, data[off + 8 : end], frame, nxt
                )
                if whole is None:
                    return None
                if nxt != IPPROTO_TCP:
                    return None
                return self.tcp(whole, 0, len(whole), src, dst, 0)
            else:
                return None  # no next header, ESP, UDP, ...
            if off > end:
                return Problem("ip.truncated", "IPv6 extension headers run past the packet")
        return self.tcp(data, off, end, src, dst, missing)

    # -- TCP ---------------------------------------------------------------------------
    def tcp(self, data: bytes, off: int, end: int, src: bytes, dst: bytes, missing: int) -> Segment | Problem:
        """Parse the TCP header at ``data[off]``; the segment ends at ``data[end]``."""
        if off + 20 > end:
            ports = _ports(data, off, end)
            return Problem("ip.truncated", f"TCP header cut short ({max(end - off, 0)} of 20 bytes)", ports)
        sport, dport, seq, ack, doff, flags = _TCP.unpack_from(data, off)
        hlen = (doff >> 4) * 4
        if hlen < 20:
            return Problem("tcp.bad_header", f"TCP data offset {hlen} bytes (below 20)", (sport, dport))
        if off + hlen > end:
            if missing:
                return Problem("ip.truncated", f"TCP options cut short ({end - off} of {hlen} bytes)", (sport, dport))
            return Problem("tcp.bad_header", f"TCP data offset {hlen} bytes runs past the segment", (sport, dport))
        return Segment(src + dst + data[off : off + 4], src, dst, sport, dport, seq, ack, flags, data[off + hlen : end], missing)

    # -- fragments ---------------------------------------------------------------------
    def _fragment(self, key: tuple, offset: int, last: bool, piece: bytes, frame: int, proto: int) -> bytes | None:
        table = self._fragments
        dgram = table.get(key)
        if dgram is None:
            if len(table) >= MAX_FRAGMENTED_DATAGRAMS:
                oldest = next(iter(table))
                self.dropped_datagrams.append((oldest, table.pop(oldest)))
            dgram = table[key] = _Datagram()
            dgram.proto = proto
        dgram.frames.append(frame)
        dgram.pieces.setdefault(offset, piece)
        if last:
            dgram.total = offset + len(piece)
        if dgram.total is None:
            return None
        # Complete when the pieces cover 0..total without a hole.
        covered = 0
        for start in sorted(dgram.pieces):
            if start > covered:
                return None
            covered = max(covered, start + len(dgram.pieces[start]))
        if covered < dgram.total:
            return None
        out = bytearray(dgram.total)
        for start, chunk in sorted(dgram.pieces.items()):
            out[start : start + len(chunk)] = chunk[: max(dgram.total - start, 0)]
        del table[key]
        return bytes(out)

    def incomplete_datagrams(self) -> list[tuple[tuple, _Datagram]]:
        """Datagrams still missing fragments (call at capture end), plus those evicted."""
        out = self.dropped_datagrams + list(self._fragments.items())
        self.dropped_datagrams = []
        self._fragments = {}
        return out


def datagram_ports(dgram: _Datagram) -> tuple[int, int] | None:
    """TCP ports of a partly reassembled datagram, when its first fragment is there."""
    first = dgram.pieces.get(0)
    if first is None or dgram.proto != IPPROTO_TCP or len(first) < 4:
        return None
    return _U16.unpack_from(first, 0)[0], _U16.unpack_from(first, 2)[0]


def _ports(data: bytes, off: int, end: int) -> tuple[int, int] | None:
    if off + 4 <= end:
        return _U16.unpack_from(data, off)[0], _U16.unpack_from(data, off + 2)[0]
    return None


def format_address(addr: bytes) -> str:
    """Dotted IPv4 or RFC 5952 IPv6 text of a 4- or 16-byte address."""
    return str(ipaddress.ip_address(addr))


def format_endpoint(addr: bytes, port: int) -> str:
    """``ip:port``, with the IPv6 address in brackets (``[::1]:42027``)."""
    text = format_address(addr)
    return f"[{text}]:{port}" if len(addr) == 16 else f"{text}:{port}"
