"""``--detect``: CTI streams on ports that are not configured."""

from __future__ import annotations

from pcapgen import (
    Conversation,
    agent_state_event,
    anomaly_rows,
    call_delivered_event,
    event_rows,
    heartbeat_conf,
    heartbeat_req,
    message_rows,
    open_conf,
    open_req,
    write_capture,
)

from ctidissect.capture import CaptureStats, read_capture


def test_cti_on_another_port_found_by_its_open_req(tmp_path):
    cv = Conversation(server=("10.0.0.1", 5555))
    http = Conversation(client=("10.0.0.7", 41000), server=("10.0.0.8", 8080))
    p = cv.handshake()  # 1-3
    p += http.handshake()  # 4-6
    p.append(http.seg("c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))  # 7
    p.append(cv.seg("c2s", open_req(1)))  # 8
    p.append(http.seg("s2c", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))  # 9
    p.append(cv.seg("s2c", open_conf(1) + heartbeat_conf(0)))  # 10
    p.append(http.fin("c2s"))  # 11
    path = tmp_path / "d.pcap"
    write_capture(path, p)
    assert list(read_capture(path)) == []
    stats = CaptureStats()
    records = list(read_capture(path, detect=True, connection_events=True, stats=stats))
    conn = "10.0.0.2:50000-10.0.0.1:5555"
    assert message_rows(records) == [
        (8, conn, "c2s", "OPEN_REQ", 1),
        (10, conn, "s2c", "OPEN_CONF", 1),
        (10, conn, "s2c", "HEARTBEAT_CONF", 0),
    ]
    assert event_rows(records) == [(1, conn, "open", "c2s"), (11, conn, "capture_end", None)]
    assert anomaly_rows(records) == []
    assert stats.cti_connections == 1


def test_midstream_server_found_by_its_message_types(tmp_path):
    # Seen mid-connection, server on port 6000 talking to client port 40000 first.
    cv = Conversation(client=("10.0.0.2", 40000), server=("10.0.0.1", 6000))
    p = [
        cv.seg("s2c", agent_state_event() + call_delivered_event(3)),  # 1: two server-side events
        cv.seg("c2s", heartbeat_req(4)),  # 2
        cv.seg("s2c", heartbeat_conf(4)),  # 3
    ]
    path = tmp_path / "m.pcap"
    write_capture(path, p)
    records = list(read_capture(path, detect=True))
    conn = "10.0.0.2:40000-10.0.0.1:6000"
    assert message_rows(records) == [
        (1, conn, "s2c", "AGENT_STATE_EVENT", None),
        (1, conn, "s2c", "CALL_DELIVERED_EVENT", None),
        (2, conn, "c2s", "HEARTBEAT_REQ", 4),
        (3, conn, "s2c", "HEARTBEAT_CONF", 4),
    ]
    assert anomaly_rows(records) == [(1, "tcp.midstream"), (1, "version.inferred")]


def test_detected_flow_keeps_capture_order_with_configured_ports(tmp_path):
    known = Conversation(client=("10.0.0.3", 50003))
    other = Conversation(server=("10.0.0.1", 5555))
    p = known.handshake()  # 1-3
    p.append(known.seg("c2s", open_req(1)))  # 4
    p += other.handshake()  # 5-7
    p.append(other.seg("c2s", open_req(2)[:20]))  # 8: not enough to decide yet
    p.append(known.seg("c2s", heartbeat_req(3)))  # 9: waits behind frame 8
    p.append(other.seg("c2s", open_req(2)[20:]))  # 10: now the other flow is CTI
    path = tmp_path / "o.pcap"
    write_capture(path, p)
    records = list(read_capture(path, detect=True))
    assert message_rows(records) == [
        (4, "10.0.0.3:50003-10.0.0.1:42027", "c2s", "OPEN_REQ", 1),
        (9, "10.0.0.3:50003-10.0.0.1:42027", "c2s", "HEARTBEAT_REQ", 3),
        (10, "10.0.0.2:50000-10.0.0.1:5555", "c2s", "OPEN_REQ", 2),
    ]


def test_non_cti_flow_is_ignored_with_detect(tmp_path):
    tls = Conversation(client=("10.0.0.5", 51000), server=("10.0.0.6", 443))
    p = tls.handshake()
    p += [tls.seg("c2s", bytes(range(256)) * 8), tls.seg("s2c", b"\x16\x03\x01" + b"\xaa" * 600)]
    p += [tls.seg("c2s", b"\x17\x03\x03" + bytes(300)) for _ in range(20)]
    path = tmp_path / "tls.pcap"
    write_capture(path, p)
    stats = CaptureStats()
    assert list(read_capture(path, detect=True, stats=stats)) == []
    assert stats.cti_connections == 0
