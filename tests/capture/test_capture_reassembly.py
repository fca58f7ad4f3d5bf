"""TCP reassembly cases of issue 3, point 2: each capture is crafted with scapy and the
exact sequence of (frame, conn, direction, name, InvokeID) and anomalies is asserted."""

from __future__ import annotations

import pytest
from pcapgen import (
    Conversation,
    agent_state_event,
    anomaly_records,
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
from ctidissect.capture import tcp as tcp_module
from ctidissect.wire import Message

CONN = "10.0.0.2:50000-10.0.0.1:42027"


def decode(tmp_path, packets, **kwargs):
    path = tmp_path / "case.pcap"
    write_capture(path, packets)
    stats = kwargs.pop("stats", None) or CaptureStats()
    records = list(read_capture(path, stats=stats, **kwargs))
    return records, stats


def rows(*items):
    return [(frame, CONN, direction, name, invoke) for frame, direction, name, invoke in items]


def test_several_messages_per_segment_and_split_inside_header(tmp_path):
    cv = Conversation()
    o, h2, h3, a = open_req(1), heartbeat_req(2), heartbeat_req(3), agent_state_event()
    oc, c2, c3 = open_conf(1), heartbeat_conf(2), heartbeat_conf(3)
    p = cv.handshake()  # frames 1-3
    p.append(cv.seg("c2s", o + h2 + h3[:3]))  # 4: two whole messages, third cut inside its header
    p.append(cv.seg("c2s", h3[3:6]))  # 5: still inside the header
    p.append(cv.seg("c2s", h3[6:]))  # 6: completes HEARTBEAT_REQ 3
    p.append(cv.seg("s2c", oc + c2 + c3 + a[:20]))  # 7
    p.append(cv.seg("s2c", a[20:]))  # 8
    records, stats = decode(tmp_path, p)
    assert message_rows(records) == rows(
        (4, "c2s", "OPEN_REQ", 1),
        (4, "c2s", "HEARTBEAT_REQ", 2),
        (6, "c2s", "HEARTBEAT_REQ", 3),
        (7, "s2c", "OPEN_CONF", 1),
        (7, "s2c", "HEARTBEAT_CONF", 2),
        (7, "s2c", "HEARTBEAT_CONF", 3),
        (8, "s2c", "AGENT_STATE_EVENT", None),
    )
    assert anomaly_rows(records) == []
    assert [r.raw for r in records] == [o, h2, h3, oc, c2, c3, a]
    assert all(r.version == 24 and r.extra["version_source"] == "open_req" for r in records)
    assert [round(r.ts, 6) for r in records][:3] == [1_700_000_000.003, 1_700_000_000.003, 1_700_000_000.005]
    assert records[-1].get("AGENT_ID") == "1001"
    assert (stats.packets, stats.cti_connections, stats.messages, stats.bytes_decoded, stats.bytes_in_anomalies) == (
        8,
        1,
        7,
        sum(map(len, (o, h2, h3, oc, c2, c3, a))),
        0,
    )


def test_message_split_byte_by_byte(tmp_path):
    cv = Conversation()
    o = open_req(1)
    p = cv.handshake() + [cv.seg("c2s", o[i : i + 1]) for i in range(len(o))]
    records, _ = decode(tmp_path, p)
    assert message_rows(records) == rows((3 + len(o), "c2s", "OPEN_REQ", 1))
    assert records[0].raw == o


def test_exact_retransmission_is_dropped(tmp_path):
    cv = Conversation()
    h1, h2 = heartbeat_req(1), heartbeat_req(2)
    first = cv.seg("c2s", open_req(7) + h1)
    p = cv.handshake() + [first, first.copy(), cv.seg("c2s", h2), cv.seg("s2c", heartbeat_conf(1))]
    records, stats = decode(tmp_path, p)
    assert message_rows(records) == rows(
        (4, "c2s", "OPEN_REQ", 7), (4, "c2s", "HEARTBEAT_REQ", 1), (6, "c2s", "HEARTBEAT_REQ", 2), (7, "s2c", "HEARTBEAT_CONF", 1)
    )
    assert anomaly_rows(records) == []
    assert stats.retransmitted_bytes == len(open_req(7) + h1)


def test_overlapping_retransmission(tmp_path):
    cv = Conversation()
    data = open_req(1) + heartbeat_req(2) + heartbeat_req(3)
    n = len(open_req(1))
    base = cv.next_seq["c2s"]
    p = cv.handshake()
    p.append(cv.seg("c2s", data[: n + 5], seq=base))  # 4: OPEN_REQ and 5 bytes of HB 2
    p.append(cv.seg("c2s", data[n - 10 : n + 20], seq=base + n - 10))  # 5: 15 old bytes, 15 new
    p.append(cv.seg("c2s", data[n + 20 :], seq=base + n + 20))  # 6: the rest
    records, stats = decode(tmp_path, p)
    assert message_rows(records) == rows(
        (4, "c2s", "OPEN_REQ", 1), (5, "c2s", "HEARTBEAT_REQ", 2), (6, "c2s", "HEARTBEAT_REQ", 3)
    )
    assert anomaly_rows(records) == []
    assert stats.retransmitted_bytes == 15


def test_retransmission_with_different_bytes_keeps_first_copy(tmp_path):
    cv = Conversation()
    h1, h2 = heartbeat_req(1), heartbeat_req(2)
    forged = heartbeat_req(99)
    base = cv.next_seq["c2s"]
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1)))  # 4
    p.append(cv.seg("c2s", h1))  # 5
    p.append(cv.seg("c2s", forged + h2, seq=base + len(open_req(1))))  # 6: overlaps HB 1 with other bytes
    records, _ = decode(tmp_path, p)
    assert message_rows(records) == rows(
        (4, "c2s", "OPEN_REQ", 1), (5, "c2s", "HEARTBEAT_REQ", 1), (6, "c2s", "HEARTBEAT_REQ", 2)
    )
    assert anomaly_rows(records) == [(6, "tcp.overlap_mismatch")]
    rec = anomaly_records(records, "tcp.overlap_mismatch")[0]
    assert rec.raw == forged and rec.direction == "c2s" and rec.conn == CONN
    # The anomaly comes before the message completed by the same segment.
    assert [r.name or r.anomalies[0].code for r in records][-2:] == ["tcp.overlap_mismatch", "HEARTBEAT_REQ"]


def test_out_of_order_segments(tmp_path):
    cv = Conversation()
    o, h1, h2, a = open_req(1), heartbeat_req(1), heartbeat_req(2), agent_state_event()
    p = cv.handshake()
    s1 = cv.seg("c2s", o)
    s2 = cv.seg("c2s", h1 + h2[:6])
    s3 = cv.seg("c2s", h2[6:])
    e1 = cv.seg("s2c", a[:30])
    e2 = cv.seg("s2c", a[30:50])
    e3 = cv.seg("s2c", a[50:])
    p += [s1, s3, s2, e3, e2, e1]  # frames 4..9
    records, stats = decode(tmp_path, p)
    assert message_rows(records) == rows(
        (4, "c2s", "OPEN_REQ", 1),
        (6, "c2s", "HEARTBEAT_REQ", 1),
        (6, "c2s", "HEARTBEAT_REQ", 2),
        (9, "s2c", "AGENT_STATE_EVENT", None),
    )
    assert anomaly_rows(records) == []
    assert stats.bytes_lost == 0


def test_sequence_number_wrap(tmp_path):
    # Both sides start a few bytes below 2**32: the streams wrap inside a message.
    cv = Conversation(c_isn=0xFFFFFFF0, s_isn=0xFFFFFFFA)
    o, h1, h2 = open_req(1), heartbeat_req(1), heartbeat_req(2)
    c, e = call_delivered_event(77), agent_state_event()
    p = cv.handshake()
    p.append(cv.seg("c2s", o[:10]))  # 4: crosses 0xFFFFFFFF
    p.append(cv.seg("c2s", o[10:] + h1))  # 5
    s2c_first = cv.seg("s2c", open_conf(1) + c[:3])  # wraps inside OPEN_CONF
    s2c_second = cv.seg("s2c", c[3:])
    p += [s2c_second, s2c_first]  # 6, 7: reordered across the wrap
    p.append(cv.seg("c2s", h2))  # 8
    p.append(cv.seg("s2c", e))  # 9
    records, _ = decode(tmp_path, p)
    assert message_rows(records) == rows(
        (5, "c2s", "OPEN_REQ", 1),
        (5, "c2s", "HEARTBEAT_REQ", 1),
        (7, "s2c", "OPEN_CONF", 1),
        (7, "s2c", "CALL_DELIVERED_EVENT", None),
        (8, "c2s", "HEARTBEAT_REQ", 2),
        (9, "s2c", "AGENT_STATE_EVENT", None),
    )
    assert anomaly_rows(records) == []
    assert records[3].fields["ConnectionCallID"] == 77


def test_missing_segment_at_message_boundary_acked_by_peer(tmp_path):
    cv = Conversation()
    h1, h2, h3 = heartbeat_req(1), heartbeat_req(2), heartbeat_req(3)
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1)))  # 4
    p.append(cv.seg("c2s", h1))  # 5
    cv.skip("c2s", len(h2))  # HEARTBEAT_REQ 2 never captured
    p.append(cv.seg("c2s", h3))  # 6: held, a hole before it
    p.append(cv.seg("s2c", heartbeat_conf(1)))  # 7: the server ACKs past the hole
    records, stats = decode(tmp_path, p)
    assert message_rows(records) == rows(
        (4, "c2s", "OPEN_REQ", 1), (5, "c2s", "HEARTBEAT_REQ", 1), (7, "c2s", "HEARTBEAT_REQ", 3), (7, "s2c", "HEARTBEAT_CONF", 1)
    )
    assert anomaly_rows(records) == [(7, "tcp.gap")]
    gap = anomaly_records(records, "tcp.gap")[0]
    assert gap.extra["bytes_lost"] == 12 and gap.extra["after_frame"] == 5 and gap.extra["before_frame"] == 6
    assert gap.raw == b"" and gap.direction == "c2s"
    assert "12 byte(s) missing" in gap.anomalies[0].detail and "between frame 5 and frame 6" in gap.anomalies[0].detail
    assert stats.bytes_lost == 12


def test_missing_segment_inside_a_message_then_resync(tmp_path):
    cv = Conversation()
    a = agent_state_event()
    h1, h2, h3 = heartbeat_req(1), heartbeat_req(2), heartbeat_req(3)
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1)))  # 4
    p.append(cv.seg("s2c", h1 + a[:30]))  # 5: server bytes (types do not matter to framing)
    cv.skip("s2c", 30)  # a[30:60] lost
    p.append(cv.seg("s2c", a[60:] + h2 + h3))  # 6: held
    p.append(cv.seg("c2s", heartbeat_req(4)))  # 7: acks past the hole -> gap, resync, HB 2 and 3
    records, stats = decode(tmp_path, p)
    assert message_rows(records) == rows(
        (4, "c2s", "OPEN_REQ", 1),
        (5, "s2c", "HEARTBEAT_REQ", 1),
        (7, "s2c", "HEARTBEAT_REQ", 2),
        (7, "s2c", "HEARTBEAT_REQ", 3),
        (7, "c2s", "HEARTBEAT_REQ", 4),
    )
    assert anomaly_rows(records) == [(7, "tcp.gap"), (7, "stream.resync")]
    gap = anomaly_records(records, "tcp.gap")[0]
    assert gap.raw == a[:30]  # the head of the message the gap cut
    assert (gap.extra["bytes_lost"], gap.extra["after_frame"], gap.extra["before_frame"]) == (30, 5, 6)
    resync = anomaly_records(records, "stream.resync")[0]
    assert resync.raw == a[60:]  # the tail of that message, skipped while resynchronising
    assert stats.bytes_lost == 30
    assert stats.bytes_in_anomalies == 30 + len(a) - 60


def test_missing_segment_never_acked_is_declared_at_capture_end(tmp_path):
    cv = Conversation()
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1)))  # 4
    cv.skip("c2s", 12)
    p.append(cv.seg("c2s", heartbeat_req(3)))  # 5: waits for the hole until the capture ends
    records, _ = decode(tmp_path, p)
    assert message_rows(records) == rows((4, "c2s", "OPEN_REQ", 1), (5, "c2s", "HEARTBEAT_REQ", 3))
    assert anomaly_rows(records) == [(5, "tcp.gap")]
    gap = anomaly_records(records, "tcp.gap")[0]
    assert (gap.extra["bytes_lost"], gap.extra["after_frame"], gap.extra["before_frame"]) == (12, 4, 5)


def test_hole_given_up_when_the_hold_queue_is_full(tmp_path, monkeypatch):
    monkeypatch.setattr(tcp_module, "MAX_PENDING_SEGMENTS", 2)
    cv = Conversation()
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1)))  # 4
    cv.skip("c2s", 12)
    p += [cv.seg("c2s", heartbeat_req(i)) for i in (3, 4, 5)]  # 5, 6, 7: the third overflows
    p.append(cv.seg("c2s", heartbeat_req(6)))  # 8: in order again
    records, _ = decode(tmp_path, p)
    assert message_rows(records) == rows(
        (4, "c2s", "OPEN_REQ", 1),
        (7, "c2s", "HEARTBEAT_REQ", 3),
        (7, "c2s", "HEARTBEAT_REQ", 4),
        (7, "c2s", "HEARTBEAT_REQ", 5),
        (8, "c2s", "HEARTBEAT_REQ", 6),
    )
    assert anomaly_rows(records) == [(7, "tcp.gap")]


def test_hole_given_up_after_the_timeout(tmp_path):
    cv = Conversation()
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1)))  # 4
    cv.skip("c2s", 12)
    p.append(cv.seg("c2s", heartbeat_req(3)))  # 5
    p.append(cv.seg("c2s", heartbeat_req(4)))  # 6: 11 s later, the hole is given up
    path = tmp_path / "slow.pcap"
    write_capture(path, p, times=[1_700_000_000.0 + i * 0.001 + (11.0 if i == 5 else 0.0) for i in range(len(p))])
    records = list(read_capture(path))
    assert message_rows(records) == rows(
        (4, "c2s", "OPEN_REQ", 1), (6, "c2s", "HEARTBEAT_REQ", 3), (6, "c2s", "HEARTBEAT_REQ", 4)
    )
    assert anomaly_rows(records) == [(6, "tcp.gap")]


def test_capture_begins_mid_connection_at_a_message_boundary(tmp_path):
    cv = Conversation()
    a1, a2 = agent_state_event("1001"), agent_state_event("1002")
    p = [cv.seg("s2c", a1), cv.seg("c2s", heartbeat_req(8)), cv.seg("s2c", heartbeat_conf(8) + a2)]
    records, _ = decode(tmp_path, p)
    assert message_rows(records) == rows(
        (1, "s2c", "AGENT_STATE_EVENT", None),
        (2, "c2s", "HEARTBEAT_REQ", 8),
        (3, "s2c", "HEARTBEAT_CONF", 8),
        (3, "s2c", "AGENT_STATE_EVENT", None),
    )
    # The midstream note and the version inference come first, once per connection.
    assert anomaly_rows(records) == [(1, "tcp.midstream"), (1, "version.inferred")]
    assert [r.extra["version_source"] for r in records if r.type is not None] == ["inferred"] * 4
    assert records[2].get("AGENT_ID") == "1001"


def test_capture_begins_mid_message(tmp_path):
    cv = Conversation()
    c = call_delivered_event(9)
    h1 = heartbeat_req(1)
    p = [cv.seg("c2s", c[40:] + h1), cv.seg("c2s", heartbeat_req(2)), cv.seg("s2c", heartbeat_conf(1))]
    records, _ = decode(tmp_path, p, version=22)
    assert message_rows(records) == rows(
        (1, "c2s", "HEARTBEAT_REQ", 1), (2, "c2s", "HEARTBEAT_REQ", 2), (3, "s2c", "HEARTBEAT_CONF", 1)
    )
    assert anomaly_rows(records) == [(1, "tcp.midstream"), (1, "stream.resync"), (1, "version.assumed")]
    assert anomaly_records(records, "stream.resync")[0].raw == c[40:]
    assert {r.version for r in records} == {22}


def test_no_handshake_and_no_ack(tmp_path):
    # Segments without SYN, without ACK flag: both directions start at byte 0 of a message.
    cv = Conversation()
    p = [cv.seg("c2s", open_req(5), flags="P"), cv.seg("s2c", open_conf(5), flags="P")]
    records, _ = decode(tmp_path, p)
    assert message_rows(records) == rows((1, "c2s", "OPEN_REQ", 5), (2, "s2c", "OPEN_CONF", 5))
    # OPEN_REQ decides the version, so only the midstream note remains.
    assert anomaly_rows(records) == [(1, "tcp.midstream")]


def test_fin_with_unfinished_message(tmp_path):
    cv = Conversation()
    h2 = heartbeat_req(2)
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1) + h2[:7]))  # 4
    p.append(cv.fin("c2s"))  # 5
    p.append(cv.seg("s2c", open_conf(1)))  # 6
    p.append(cv.fin("s2c"))  # 7
    p.append(cv.ack("c2s"))  # 8
    records, _ = decode(tmp_path, p, connection_events=True)
    assert event_rows(records) == [
        (1, CONN, "open", "c2s"),
        (5, CONN, "fin", "c2s"),
        (7, CONN, "fin", "s2c"),
    ]
    assert message_rows(records) == rows((4, "c2s", "OPEN_REQ", 1), (6, "s2c", "OPEN_CONF", 1))
    assert anomaly_rows(records) == [(5, "tcp.unfinished")]
    assert anomaly_records(records, "tcp.unfinished")[0].raw == h2[:7]
    # In order: open event, OPEN_REQ, the FIN event, then the unfinished bytes it revealed.
    kinds = [getattr(r, "kind", None) or r.name or r.anomalies[0].code for r in records]
    assert kinds == ["open", "OPEN_REQ", "fin", "tcp.unfinished", "OPEN_CONF", "fin"]


def test_fin_before_missing_data_waits_for_it(tmp_path):
    cv = Conversation()
    o, h1 = open_req(1), heartbeat_req(1)
    p = cv.handshake()
    s1 = cv.seg("c2s", o)
    s2 = cv.seg("c2s", h1)
    f = cv.fin("c2s")
    p += [s1, f, s2]  # 4, 5 (FIN overtakes the last data), 6
    records, _ = decode(tmp_path, p, connection_events=True)
    assert message_rows(records) == rows((4, "c2s", "OPEN_REQ", 1), (6, "c2s", "HEARTBEAT_REQ", 1))
    assert anomaly_rows(records) == []
    assert event_rows(records) == [(1, CONN, "open", "c2s"), (5, CONN, "fin", "c2s"), (6, CONN, "capture_end", None)]


def test_rst_flushes_held_segments(tmp_path):
    cv = Conversation()
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1)))  # 4
    cv.skip("c2s", 12)
    p.append(cv.seg("c2s", heartbeat_req(3)))  # 5: held
    p.append(cv.rst("s2c"))  # 6
    records, _ = decode(tmp_path, p, connection_events=True)
    assert message_rows(records) == rows((4, "c2s", "OPEN_REQ", 1), (6, "c2s", "HEARTBEAT_REQ", 3))
    assert anomaly_rows(records) == [(6, "tcp.gap")]
    assert event_rows(records) == [(1, CONN, "open", "c2s"), (6, CONN, "rst", "s2c")]


def test_port_reuse_after_fin_and_after_rst(tmp_path):
    p = []
    first = Conversation(c_isn=1000, s_isn=5000)
    p += first.handshake()  # 1-3
    p.append(first.seg("c2s", open_req(1)))  # 4
    p.append(first.fin("c2s"))  # 5
    p.append(first.fin("s2c"))  # 6
    second = Conversation(c_isn=900_000, s_isn=77_000)  # same 4-tuple, new SYN
    p += second.handshake()  # 7-9
    p.append(second.seg("c2s", open_req(2, version=19)))  # 10
    p.append(second.rst("c2s"))  # 11
    third = Conversation(c_isn=3_000_000, s_isn=9_000_000)
    p += third.handshake()  # 12-14
    p.append(third.seg("c2s", open_req(3)))  # 15
    stats = CaptureStats()
    records, _ = decode(tmp_path, p, connection_events=True, stats=stats)
    assert message_rows(records) == rows((4, "c2s", "OPEN_REQ", 1), (10, "c2s", "OPEN_REQ", 2), (15, "c2s", "OPEN_REQ", 3))
    assert [r.version for r in records if isinstance(r, Message)] == [24, 19, 24]
    assert event_rows(records) == [
        (1, CONN, "open", "c2s"),
        (5, CONN, "fin", "c2s"),
        (6, CONN, "fin", "s2c"),
        (7, CONN, "open", "c2s"),
        (11, CONN, "rst", "c2s"),
        (12, CONN, "open", "c2s"),
        (15, CONN, "capture_end", None),
    ]
    assert stats.cti_connections == 3
    assert anomaly_rows(records) == []


def test_port_reuse_detected_by_a_sequence_jump(tmp_path):
    first = Conversation(c_isn=1000, s_isn=5000)
    p = first.handshake()
    p.append(first.seg("c2s", open_req(1)))  # 4
    p.append(first.seg("s2c", open_conf(1)))  # 5
    # The capture missed the close and the new handshake: data far away in sequence space.
    later = Conversation(c_isn=400_000_000, s_isn=800_000_000)
    p.append(later.seg("c2s", open_req(2)))  # 6
    p.append(later.seg("s2c", open_conf(2)))  # 7
    records, _ = decode(tmp_path, p, connection_events=True)
    assert message_rows(records) == rows(
        (4, "c2s", "OPEN_REQ", 1), (5, "s2c", "OPEN_CONF", 1), (6, "c2s", "OPEN_REQ", 2), (7, "s2c", "OPEN_CONF", 2)
    )
    assert event_rows(records) == [
        (1, CONN, "open", "c2s"),
        (6, CONN, "replaced", None),
        (6, CONN, "open", "c2s"),
        (7, CONN, "capture_end", None),
    ]
    assert anomaly_rows(records) == [(6, "tcp.midstream")]


def test_syn_retransmission_is_not_a_new_connection(tmp_path):
    cv = Conversation()
    hs = cv.handshake()
    p = [hs[0], hs[0].copy(), hs[1], hs[2], cv.seg("c2s", open_req(1))]
    stats = CaptureStats()
    records, _ = decode(tmp_path, p, stats=stats)
    assert message_rows(records) == rows((5, "c2s", "OPEN_REQ", 1))
    assert stats.cti_connections == 1


def test_handshake_seen_from_syn_ack_only(tmp_path):
    cv = Conversation()
    hs = cv.handshake()
    p = [hs[1], hs[2], cv.seg("c2s", open_req(1)), cv.seg("s2c", open_conf(1))]
    records, _ = decode(tmp_path, p, connection_events=True)
    assert message_rows(records) == rows((3, "c2s", "OPEN_REQ", 1), (4, "s2c", "OPEN_CONF", 1))
    assert anomaly_rows(records) == []  # the SYN-ACK gives both stream starts
    assert event_rows(records)[0] == (1, CONN, "open", "s2c")


def test_two_connections_interleaved_keep_capture_order(tmp_path):
    a = Conversation(client=("10.0.0.2", 50000))
    b = Conversation(client=("10.0.0.3", 50001), server=("10.0.0.1", 43027))
    p = a.handshake() + b.handshake()
    p.append(a.seg("c2s", open_req(1)))  # 7
    p.append(b.seg("c2s", open_req(1, version=19)))  # 8
    p.append(b.seg("s2c", open_conf(1, version=19)))  # 9
    p.append(a.seg("s2c", open_conf(1)))  # 10
    records, stats = decode(tmp_path, p)
    conn_b = "10.0.0.3:50001-10.0.0.1:43027"
    assert message_rows(records) == [
        (7, CONN, "c2s", "OPEN_REQ", 1),
        (8, conn_b, "c2s", "OPEN_REQ", 1),
        (9, conn_b, "s2c", "OPEN_CONF", 1),
        (10, CONN, "s2c", "OPEN_CONF", 1),
    ]
    assert [r.version for r in records] == [24, 19, 19, 24]
    assert stats.cti_connections == 2


@pytest.mark.parametrize("snap", [60, 70])
def test_payload_cut_by_snap_length(tmp_path, snap):
    cv = Conversation()
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1)))  # 4
    p.append(cv.seg("c2s", heartbeat_req(2) + heartbeat_req(3)))  # 5: cut by the snap length
    p.append(cv.seg("c2s", heartbeat_req(4)))  # 6
    path = tmp_path / "snap.pcap"
    write_capture(path, p, snap={4: snap})
    records = list(read_capture(path))
    kept = snap - 54  # Ethernet 14 + IPv4 20 + TCP 20 bytes of headers
    expected = [(4, "c2s", "OPEN_REQ", 1)]
    if kept >= 12:
        expected.append((5, "c2s", "HEARTBEAT_REQ", 2))
    expected.append((6, "c2s", "HEARTBEAT_REQ", 4))
    assert message_rows(records) == rows(*expected)
    gaps = anomaly_records(records, "tcp.gap")
    assert len(gaps) == 1 and gaps[0].frame == 5 and gaps[0].extra["bytes_lost"] == 24 - kept
    assert "snap length" in gaps[0].anomalies[0].detail
