"""The scapy layer against ``ctidissect.capture.read_capture`` on captures made with the
capture tests' generator (tests/capture/pcapgen.py): per message on every capture (also
with retransmissions, gaps and reordering), and whole streams through scapy's TCPSession
on the clean ones (TCPSession's own limits with loss are documented in docs/scapy.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from scapy.layers.inet import TCP
from scapy.sendrecv import sniff
from scapy.sessions import TCPSession
from scapy_testlib import assert_agree, field_values, floating_items, layout_messages

from ctidissect.capture import read_capture
from ctidissect.scapy_layer import CTI, DEFAULT_PORTS, cti_messages
from ctidissect.wire import Message, encode_message

CAPTURE_TESTS = Path(__file__).resolve().parents[1] / "capture"
if CAPTURE_TESTS.is_dir() and str(CAPTURE_TESTS) not in sys.path:
    sys.path.insert(0, str(CAPTURE_TESTS))
pcapgen = pytest.importorskip("pcapgen", reason="tests/capture/pcapgen.py not available")


def _messages(version: int) -> tuple[list[bytes], list[bytes]]:
    c2s = [encode_message("OPEN_REQ", {"InvokeID": 1, "VersionNumber": version}, [("CLIENT_ID", "t")], version)]
    s2c = [encode_message("OPEN_CONF", {"InvokeID": 1}, [], version)]
    for i, m in enumerate(layout_messages()[:30]):
        data = encode_message(m.name, field_values(m, version, seed=i), floating_items(m, version), version)
        (c2s if i % 2 else s2c).append(data)
    return c2s, s2c


def _clean_packets(version: int, ipv6: bool = False) -> list:
    if ipv6:
        cv = pcapgen.Conversation(client=("2001:db8::2", 50000), server=("2001:db8::1", 42027), ipv6=True)
    else:
        cv = pcapgen.Conversation()
    c2s, s2c = _messages(version)
    pkts = cv.handshake()
    pkts.append(cv.seg("c2s", c2s[0]))
    server = b"".join(s2c)
    client = b"".join(c2s[1:])
    for part in pcapgen.split(server, 3, 40, 41, 300, len(server) // 2):
        pkts.append(cv.seg("s2c", part))
    for part in pcapgen.split(client, 17, len(client) // 3):
        pkts.append(cv.seg("c2s", part))
    pkts += [cv.fin("c2s"), cv.fin("s2c")]
    return pkts


def _lossy_packets(version: int) -> list:
    cv = pcapgen.Conversation()
    c2s, s2c = _messages(version)
    pkts = cv.handshake()
    pkts.append(cv.seg("c2s", c2s[0]))
    first = cv.seg("s2c", b"".join(s2c[:3]))
    pkts += [first, first]  # retransmission of a segment ending on a message boundary
    late = cv.seg("s2c", b"".join(s2c[3:6]))
    after = cv.seg("s2c", b"".join(s2c[6:9]))
    pkts += [after, late]  # out of order
    cv.skip("s2c", len(s2c[9]))  # a message never captured (gap)
    pkts.append(cv.seg("s2c", b"".join(s2c[10:])))
    pkts.append(cv.seg("c2s", b"".join(c2s[1:])))
    return pkts


CASES = {
    "ether-pcap-v24": (lambda: _clean_packets(24), "ether", "pcap", True),
    "ether-pcap-v19": (lambda: _clean_packets(19), "ether", "pcap", True),
    "vlan-pcapng-v20": (lambda: _clean_packets(20), "vlan", "pcapng", True),
    "sll-ipv6-v24": (lambda: _clean_packets(24, ipv6=True), "sll", "pcap", True),
    "lossy-v24": (lambda: _lossy_packets(24), "ether", "pcap", False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_capture_agrees_with_scapy(case, tmp_path):
    make, link, fmt, clean = CASES[case]
    path = tmp_path / f"{case}.{fmt}"
    pcapgen.write_capture(path, make(), link=link, fmt=fmt)
    records = [r for r in read_capture(path) if isinstance(r, Message)]
    msgs = [r for r in records if r.type is not None]
    assert msgs
    # Per message: the bytes read_capture framed dissect identically with scapy.
    assert_agree(msgs, [CTI(m.raw, version=m.version) for m in msgs])
    if not clean:
        assert any(r.type is None for r in records)  # the gap is reported by the capture layer
        return
    # Whole streams: scapy's TCPSession (version learnt from OPEN_REQ) gives the same list.
    got: dict[str, list] = {"c2s": [], "s2c": []}
    for pkt in sniff(offline=str(path), session=TCPSession):
        if TCP in pkt:
            got["c2s" if pkt[TCP].dport in DEFAULT_PORTS else "s2c"].extend(cti_messages(pkt))
    for direction in ("c2s", "s2c"):
        assert_agree([m for m in msgs if m.direction == direction], got[direction])
