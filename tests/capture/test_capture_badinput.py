"""Bad input: truncated, garbage, empty, wrong magic, corrupt records, non-CTI bytes."""

from __future__ import annotations

import struct

import pytest
from pcapgen import (
    Conversation,
    anomaly_records,
    anomaly_rows,
    heartbeat_conf,
    heartbeat_req,
    message_rows,
    open_req,
    write_capture,
)
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from ctidissect.capture import CaptureFormatError, CaptureStats, read_capture

CONN = "10.0.0.2:50000-10.0.0.1:42027"


def simple_capture(path, fmt="pcap"):
    cv = Conversation()
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1)))  # 4
    p.append(cv.seg("c2s", heartbeat_req(2)))  # 5
    p.append(cv.seg("s2c", heartbeat_conf(2)))  # 6
    write_capture(path, p, fmt=fmt)
    return path


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("cut", [1, 10, 40])
def test_truncated_last_record(tmp_path, fmt, cut):
    path = simple_capture(tmp_path / f"t.{fmt}", fmt)
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    stats = CaptureStats()
    records = list(read_capture(path, stats=stats))
    assert message_rows(records) == [(4, CONN, "c2s", "OPEN_REQ", 1), (5, CONN, "c2s", "HEARTBEAT_REQ", 2)]
    assert anomaly_rows(records) == [(6, "capture.truncated")]
    rec = anomaly_records(records, "capture.truncated")[0]
    assert rec.conn is None and rec.raw and len(rec.raw) < 120  # the partial record or block
    assert stats.packets == 5


def test_truncated_inside_a_record_header(tmp_path):
    path = simple_capture(tmp_path / "t.pcap")
    data = path.read_bytes()
    path.write_bytes(data + b"\x01\x02\x03")  # three bytes of a 16-byte record header
    records = list(read_capture(path))
    assert len(message_rows(records)) == 3
    assert anomaly_rows(records) == [(7, "capture.truncated")]
    assert anomaly_records(records, "capture.truncated")[0].raw == b"\x01\x02\x03"


def test_corrupt_record_header_stops_reading(tmp_path):
    path = simple_capture(tmp_path / "t.pcap")
    data = path.read_bytes()
    path.write_bytes(data + struct.pack("<IIII", 1, 2, 0x7FFFFFFF, 0x7FFFFFFF) + b"x" * 100)
    records = list(read_capture(path))
    assert len(message_rows(records)) == 3
    assert anomaly_rows(records) == [(7, "capture.bad_record")]


def test_header_only_capture_is_empty_not_an_error(tmp_path):
    path = tmp_path / "none.pcap"
    write_capture(path, [])
    stats = CaptureStats()
    assert list(read_capture(path, stats=stats)) == []
    assert stats.packets == 0


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not a pcap/pcapng capture"),
        (bytes(range(256)) * 4, "not a pcap/pcapng capture"),
        (b"\xd4\xc3", "too short"),
        (struct.pack("<IHH", 0xA1B2C3D4, 2, 4), "global header cut short"),
    ],
)
def test_not_a_capture(tmp_path, content, message):
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureFormatError, match=message):
        read_capture(path)


def test_non_cti_bytes_on_a_cti_port_become_anomaly_records(tmp_path):
    cv = Conversation()
    http = b"GET /index.html HTTP/1.1\r\nHost: example\r\nUser-Agent: test\r\n\r\n" * 3
    p = cv.handshake()
    p.append(cv.seg("c2s", http[:100]))  # 4
    p.append(cv.seg("c2s", http[100:]))  # 5
    p.append(cv.fin("c2s"))  # 6
    path = tmp_path / "http.pcap"
    write_capture(path, p)
    stats = CaptureStats()
    records = list(read_capture(path, stats=stats))
    assert message_rows(records) == []
    assert anomaly_rows(records) == [(6, "stream.resync"), (6, "tcp.unfinished")]
    # Every byte is accounted for.
    assert b"".join(r.raw for r in records) == http
    assert stats.bytes_in_anomalies == len(http)


def test_unknown_message_type_on_a_synchronised_stream(tmp_path):
    cv = Conversation()
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1) + struct.pack(">II", 4, 60000) + b"abcd" + heartbeat_req(3)))
    path = tmp_path / "unknown.pcap"
    write_capture(path, p)
    records = list(read_capture(path))
    assert [(r.type, r.anomaly_codes) for r in records] == [(3, []), (60000, ["type.unknown"]), (5, [])]


def test_unsupported_link_type_is_reported_once(tmp_path):
    path = tmp_path / "wifi.pcap"
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 105))
        for i in range(3):
            f.write(struct.pack("<IIII", 1_700_000_000 + i, 0, 30, 30) + b"\0" * 30)
    records = list(read_capture(path))
    assert anomaly_rows(records) == [(1, "link.unsupported")]


def test_headers_cut_short_on_a_cti_port(tmp_path):
    good = bytes(Ether() / IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=50000, dport=42027, flags="PA") / Raw(b"x" * 8))
    bad_offset = bytearray(good)
    bad_offset[14 + 20 + 12] = 0x30  # TCP data offset 12 bytes (< 20)
    other = bytes(Ether() / IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=50000, dport=80, flags="PA") / Raw(b"x"))
    path = tmp_path / "cut.pcap"
    write_capture(path, [good[:40], bytes(bad_offset), other[:40]])
    records = list(read_capture(path))
    assert anomaly_rows(records) == [(1, "ip.truncated"), (2, "tcp.bad_header")]
