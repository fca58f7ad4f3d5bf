"""Helpers shared by the scapy-layer tests: codec fixtures, comparisons with the fast
decoder, and a small TCP pcap writer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parents[1]
if str(TESTS_DIR) not in sys.path:  # msgfactory.py and the codec tests live there
    sys.path.insert(0, str(TESTS_DIR))

import test_malformed  # noqa: E402
import test_vectors  # noqa: E402
from msgfactory import field_values, floating_items, layout_messages  # noqa: E402
from scapy.layers.inet import IP, TCP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.utils import wrpcap  # noqa: E402

from ctidissect.scapy_layer import CTI, CTI_RawInvoke, CTI_Unknown, CTIMessage  # noqa: E402
from ctidissect.wire import Message  # noqa: E402

__all__ = [
    "field_values",
    "floating_items",
    "layout_messages",
    "fast_key",
    "scapy_key",
    "assert_agree",
    "write_tcp_pcap",
    "MALFORMED_CASES",
    "VECTORS",
]

MALFORMED_CASES = test_malformed.CASES
"""The codec's malformed-input corpus: (id, bytes, version, expected)."""
VECTORS = {name: value for name, value in vars(test_vectors).items() if name.isupper() and isinstance(value, bytes)}
"""The codec's section-9 byte vectors by name."""


def fast_key(m: Message) -> tuple[Any, ...]:
    """What the differential tests compare, from a fast-decoder record."""
    return (
        m.type,
        m.name,
        dict(m.fields),
        [(i.tag, i.name, i.value) for i in m.floating],
        [(a.code, a.offset) for a in m.anomalies],
        m.raw,
    )


def scapy_key(pkt: CTI) -> tuple[Any, ...]:
    """The same, read field by field off a dissected scapy CTI packet (not via
    ``to_message``), following the codec's conventions for frames cut short."""
    body = pkt.payload
    header_ok = "MessageLength" in pkt.fields
    mtype = pkt.MessageType if header_ok else None
    name = None if not header_ok or isinstance(body, CTI_Unknown) else body.name
    truncated = any(a.code == "frame.truncated" for a in pkt.anomalies)
    if isinstance(body, CTIMessage) and not truncated:
        fields = {f.name: getattr(body, f.name) for f in body.active_fixed_fields()[: body._nfixed]}
        floating = [(i.tag, i.tag_name, i.value) for i in body.floating]
    elif isinstance(body, CTI_RawInvoke) and not truncated and body.InvokeID is not None:
        fields, floating = {"InvokeID": body.InvokeID}, []
    else:
        fields, floating = {}, []
    anomalies = pkt.anomalies
    if truncated:
        anomalies = [a for a in anomalies if a.code.startswith("frame.")]
    return (mtype, name, fields, floating, [(a.code, a.offset) for a in anomalies], pkt._raw_frame())


def assert_agree(fast: list[Message], pkts: list[CTI]) -> None:
    """Fast decoder records and scapy packets describe the same messages, field for field."""
    assert len(fast) == len(pkts)
    for f, p in zip(fast, pkts):
        assert scapy_key(p) == fast_key(f)
        assert fast_key(p.to_message()) == fast_key(f)


def write_tcp_pcap(
    path: Path,
    segments: list[tuple[str, bytes]],
    client: tuple[str, int] = ("10.0.0.2", 50123),
    server: tuple[str, int] = ("10.0.0.1", 42027),
) -> None:
    """Write one TCP connection (handshake, then ``segments`` as ``("c2s"|"s2c", payload)``,
    then FINs) as an Ethernet pcap with consistent sequence numbers."""
    seq = {"c2s": 1000, "s2c": 5000}
    ends = {"c2s": (client, server), "s2c": (server, client)}

    def pkt(direction: str, flags: str, payload: bytes = b"") -> Any:
        (sip, sport), (dip, dport) = ends[direction]
        other = "s2c" if direction == "c2s" else "c2s"
        p = (
            Ether()
            / IP(src=sip, dst=dip)
            / TCP(sport=sport, dport=dport, flags=flags, seq=seq[direction], ack=seq[other])
        )
        if payload:
            p = p / payload
        seq[direction] += len(payload) + (1 if ("S" in flags or "F" in flags) else 0)
        return p

    frames = [pkt("c2s", "S")]
    frames.append(pkt("s2c", "SA"))
    frames.append(pkt("c2s", "A"))
    for direction, payload in segments:
        frames.append(pkt(direction, "PA", payload))
    frames.append(pkt("c2s", "FA"))
    frames.append(pkt("s2c", "FA"))
    for i, f in enumerate(frames):
        f.time = 1_700_000_000 + i / 100
    wrpcap(str(path), frames)
