"""Link types, VLAN tags, IPv6 and file formats: the same conversation decodes the same."""

from __future__ import annotations

import pytest
from pcapgen import (
    Conversation,
    agent_state_event,
    anomaly_rows,
    heartbeat_conf,
    heartbeat_req,
    message_rows,
    open_conf,
    open_req,
    write_capture,
)
from scapy.layers.inet import IP, TCP, fragment
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from ctidissect.capture import CaptureStats, read_capture


def conversation(**kwargs):
    cv = Conversation(**kwargs)
    a = agent_state_event()
    h = heartbeat_req(2)
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1) + h[:5]))  # 4
    p.append(cv.seg("c2s", h[5:]))  # 5
    p.append(cv.seg("s2c", open_conf(1) + heartbeat_conf(2) + a[:9]))  # 6
    p.append(cv.seg("s2c", a[9:]))  # 7
    return cv, p


def expected(conn):
    return [
        (4, conn, "c2s", "OPEN_REQ", 1),
        (5, conn, "c2s", "HEARTBEAT_REQ", 2),
        (6, conn, "s2c", "OPEN_CONF", 1),
        (6, conn, "s2c", "HEARTBEAT_CONF", 2),
        (7, conn, "s2c", "AGENT_STATE_EVENT", None),
    ]


@pytest.mark.parametrize("link", ["ether", "vlan", "qinq", "sll", "sll2", "raw", "ipv4", "null", "loop"])
@pytest.mark.parametrize("fmt", ["pcap", "pcap-ns", "pcap-be", "pcapng", "pcapng-be"])
def test_ipv4_on_every_link_and_format(tmp_path, link, fmt):
    cv, p = conversation()
    path = tmp_path / f"x.{fmt}"
    write_capture(path, p, link=link, fmt=fmt)
    records = list(read_capture(path))
    assert message_rows(records) == expected("10.0.0.2:50000-10.0.0.1:42027")
    assert anomaly_rows(records) == []
    assert round(records[0].ts, 6) == 1_700_000_000.003


@pytest.mark.parametrize("link", ["ether", "vlan", "sll", "sll2", "raw", "null", "loop"])
@pytest.mark.parametrize("ext", [False, True])
def test_ipv6(tmp_path, link, ext):
    cv, p = conversation(client=("2001:db8::2", 50000), server=("2001:db8::1", 42027), ipv6=True, ipv6_ext=ext)
    path = tmp_path / "v6.pcap"
    write_capture(path, p, link=link)
    records = list(read_capture(path))
    assert message_rows(records) == expected("[2001:db8::2]:50000-[2001:db8::1]:42027")
    assert anomaly_rows(records) == []


def test_ipv4_fragments_are_reassembled(tmp_path):
    cv = Conversation()
    p = cv.handshake()
    big = b"".join(heartbeat_req(i) for i in range(2, 60))  # 696 bytes
    p.append(cv.seg("c2s", open_req(1)))  # 4
    frags = fragment(cv.seg("c2s", big), fragsize=256)  # 5, 6, 7
    assert len(frags) == 3
    p += [frags[2], frags[0], frags[1]]  # out of order too
    p.append(cv.seg("s2c", heartbeat_conf(2)))  # 8
    path = tmp_path / "frag.pcap"
    write_capture(path, p)
    records = list(read_capture(path))
    conn = "10.0.0.2:50000-10.0.0.1:42027"
    assert message_rows(records) == [(4, conn, "c2s", "OPEN_REQ", 1)] + [
        (7, conn, "c2s", "HEARTBEAT_REQ", i) for i in range(2, 60)
    ] + [(8, conn, "s2c", "HEARTBEAT_CONF", 2)]
    assert anomaly_rows(records) == []


def test_incomplete_fragments_are_reported(tmp_path):
    cv = Conversation()
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1)))  # 4
    big = b"".join(heartbeat_req(i) for i in range(2, 40))  # 456 bytes
    frags = fragment(cv.seg("c2s", big), fragsize=256)
    p.append(frags[0])  # 5: the second fragment is never captured
    p.append(cv.seg("c2s", heartbeat_req(40)))  # 6
    p.append(cv.seg("s2c", heartbeat_conf(40)))  # 7: acks everything
    path = tmp_path / "frag.pcap"
    write_capture(path, p)
    stats = CaptureStats()
    records = list(read_capture(path, stats=stats))
    conn = "10.0.0.2:50000-10.0.0.1:42027"
    assert message_rows(records) == [
        (4, conn, "c2s", "OPEN_REQ", 1),
        (7, conn, "c2s", "HEARTBEAT_REQ", 40),
        (7, conn, "s2c", "HEARTBEAT_CONF", 40),
    ]
    assert anomaly_rows(records) == [(7, "tcp.gap"), (5, "ip.fragments_incomplete")]
    assert stats.bytes_lost == 456


def test_other_traffic_is_ignored(tmp_path):
    cv, p = conversation()
    noise = [
        Ether() / IP(src="10.9.9.9", dst="10.9.9.8") / TCP(sport=80, dport=51000, flags="PA") / Raw(b"HTTP/1.1 200 OK\r\n"),
        Ether(type=0x0806) / Raw(b"\x00" * 28),  # ARP
        Ether() / IP(src="10.9.9.9", dst="10.9.9.8", proto=17) / Raw(b"\x00" * 12),  # UDP-ish
    ]
    mixed = p[:4] + noise + p[4:]
    path = tmp_path / "mixed.pcap"
    write_capture(path, mixed)
    stats = CaptureStats()
    records = list(read_capture(path, stats=stats))
    conn = "10.0.0.2:50000-10.0.0.1:42027"
    shifted = [(f + 3 if f > 4 else f, *rest) for f, *rest in expected(conn)]
    assert message_rows(records) == shifted
    assert stats.packets == 10 and stats.cti_packets == 7


def test_configurable_server_port(tmp_path):
    cv, p = conversation(server=("10.0.0.1", 6000))
    path = tmp_path / "port.pcap"
    write_capture(path, p)
    assert list(read_capture(path)) == []
    records = list(read_capture(path, ports=[6000]))
    assert message_rows(records) == expected("10.0.0.2:50000-10.0.0.1:6000")
