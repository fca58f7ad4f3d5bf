"""A minimal classic-pcap writer for synthetic Ethernet / IPv4 / TCP frames, with correct
IPv4 header and TCP checksums.  Plain ``struct``: no scapy, no root."""

from __future__ import annotations

import ipaddress
import struct
from typing import BinaryIO

PCAP_MAGIC = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
SNAPLEN = 65535

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10


def internet_checksum(data: bytes) -> int:
    """RFC 1071 ones'-complement sum of 16-bit words (odd length padded with a zero byte)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def mac_for(ip: str) -> bytes:
    """A locally administered MAC address derived from an IPv4 address."""
    return b"\x02\x00" + ipaddress.IPv4Address(ip).packed


def tcp_frame(
    src_ip: str, src_port: int, dst_ip: str, dst_port: int, seq: int, ack: int, flags: int,
    payload: bytes = b"", *, ip_id: int = 0, window: int = 65535, mss: int | None = None,
) -> bytes:
    """One Ethernet II frame holding an IPv4 (DF, TTL 64) TCP segment.  ``mss`` adds the
    MSS option (SYN segments)."""
    src = ipaddress.IPv4Address(src_ip).packed
    dst = ipaddress.IPv4Address(dst_ip).packed
    options = struct.pack(">BBH", 2, 4, mss) if mss is not None else b""
    offset = (20 + len(options)) // 4
    tcp_header = struct.pack(
        ">HHIIBBHHH", src_port, dst_port, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4, flags, window, 0, 0
    ) + options
    segment = tcp_header + payload
    pseudo = src + dst + struct.pack(">BBH", 0, 6, len(segment))
    checksum = internet_checksum(pseudo + segment)
    segment = segment[:16] + struct.pack(">H", checksum) + segment[18:]
    total_len = 20 + len(segment)
    ip_header = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total_len, ip_id & 0xFFFF, 0x4000, 64, 6, 0, src, dst)
    ip_header = ip_header[:10] + struct.pack(">H", internet_checksum(ip_header)) + ip_header[12:]
    return mac_for(dst_ip) + mac_for(src_ip) + b"\x08\x00" + ip_header + segment


class PcapWriter:
    """Writes a classic pcap (microsecond timestamps, Ethernet link type) to a binary file."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.count = 0
        fh.write(struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))

    def write(self, ts: float, frame: bytes) -> None:
        """Append ``frame`` captured at UNIX time ``ts`` (seconds)."""
        usec_total = round(ts * 1_000_000)
        sec, usec = divmod(usec_total, 1_000_000)
        self.fh.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
        self.fh.write(frame)
        self.count += 1
