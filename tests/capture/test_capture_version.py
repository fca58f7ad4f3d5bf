"""Protocol version per connection: from OPEN_REQ, inferred from the bytes, or assumed."""

from __future__ import annotations

from pcapgen import (
    Conversation,
    agent_state_event,
    anomaly_records,
    anomaly_rows,
    call_delivered_event,
    heartbeat_conf,
    heartbeat_req,
    message_rows,
    open_conf,
    open_req,
    query_agent_state_req,
    write_capture,
)

from ctidissect.capture import read_capture
from ctidissect.wire import Message

CONN = "10.0.0.2:50000-10.0.0.1:42027"


def decode(tmp_path, packets, **kwargs):
    path = tmp_path / "v.pcap"
    write_capture(path, packets)
    return list(read_capture(path, **kwargs))


def messages(records):
    return [r for r in records if isinstance(r, Message) and r.type is not None]


def test_open_req_version_19_applies_to_both_directions(tmp_path):
    cv = Conversation()
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1, version=19) + query_agent_state_req(2, version=19)))  # 4
    p.append(cv.seg("s2c", open_conf(1, version=19) + agent_state_event("77", version=19)))  # 5
    p.append(cv.seg("s2c", call_delivered_event(5, version=19)))  # 6
    records = decode(tmp_path, p)
    assert message_rows(records) == [
        (4, CONN, "c2s", "OPEN_REQ", 1),
        (4, CONN, "c2s", "QUERY_AGENT_STATE_REQ", 2),
        (5, CONN, "s2c", "OPEN_CONF", 1),
        (5, CONN, "s2c", "AGENT_STATE_EVENT", None),
        (6, CONN, "s2c", "CALL_DELIVERED_EVENT", None),
    ]
    assert anomaly_rows(records) == []
    msgs = messages(records)
    assert {m.version for m in msgs} == {19}
    assert {m.extra["version_source"] for m in msgs} == {"open_req"}
    assert all(not m.anomalies for m in msgs)
    assert msgs[1].get("AGENT_INSTRUMENT") == "2001"
    assert msgs[3].get("AGENT_ID") == "77"
    assert msgs[4].get("ANI") == "5551234"


def test_midstream_narrow_format_is_inferred(tmp_path):
    cv = Conversation()
    p = [
        cv.seg("s2c", heartbeat_conf(3, version=19)),  # 1: says nothing about the version
        cv.seg("s2c", agent_state_event("55", version=19)),  # 2: 1+1-byte floating fields
        cv.seg("c2s", heartbeat_req(4, version=19)),  # 3
    ]
    records = decode(tmp_path, p)
    assert message_rows(records) == [
        (1, CONN, "s2c", "HEARTBEAT_CONF", 3),
        (2, CONN, "s2c", "AGENT_STATE_EVENT", None),
        (3, CONN, "c2s", "HEARTBEAT_REQ", 4),
    ]
    # The note is placed before the first message it explains, with that message's frame.
    assert anomaly_rows(records) == [(1, "tcp.midstream"), (1, "version.inferred")]
    note = anomaly_records(records, "version.inferred")[0]
    assert "1+1" in note.anomalies[0].detail
    msgs = messages(records)
    assert {m.version for m in msgs} == {19}
    assert {m.extra["version_source"] for m in msgs} == {"inferred"}
    assert msgs[1].get("AGENT_ID") == "55" and not msgs[1].anomalies


def test_midstream_wide_format_is_inferred_even_against_protocol_version(tmp_path):
    cv = Conversation()
    p = [cv.seg("s2c", call_delivered_event(12)), cv.seg("c2s", heartbeat_req(4))]
    records = decode(tmp_path, p, version=19)  # the user's guess is contradicted by the bytes
    assert message_rows(records) == [
        (1, CONN, "s2c", "CALL_DELIVERED_EVENT", None),
        (2, CONN, "c2s", "HEARTBEAT_REQ", 4),
    ]
    assert anomaly_rows(records) == [(1, "tcp.midstream"), (1, "version.inferred")]
    msgs = messages(records)
    assert {m.version for m in msgs} == {24}
    assert msgs[0].get("DNIS") == "8000" and not msgs[0].anomalies


def test_nothing_tells_the_version_so_it_is_assumed(tmp_path):
    cv = Conversation()
    p = [cv.seg("c2s", heartbeat_req(1)), cv.seg("s2c", heartbeat_conf(1))]
    records = decode(tmp_path, p)
    assert message_rows(records) == [(1, CONN, "c2s", "HEARTBEAT_REQ", 1), (2, CONN, "s2c", "HEARTBEAT_CONF", 1)]
    assert anomaly_rows(records) == [(1, "tcp.midstream"), (1, "version.assumed")]
    assert {m.version for m in messages(records)} == {24}
    assert "the default" in anomaly_records(records, "version.assumed")[0].anomalies[0].detail

    records = decode(tmp_path, p, version=17)
    assert {m.version for m in messages(records)} == {17}
    assert {m.extra["version_source"] for m in messages(records)} == {"assumed"}
    assert "--protocol-version" in anomaly_records(records, "version.assumed")[0].anomalies[0].detail


def test_held_frames_keep_capture_order_across_connections(tmp_path):
    a = Conversation(client=("10.0.0.2", 50000))
    b = Conversation(client=("10.0.0.3", 50003))
    conn_b = "10.0.0.3:50003-10.0.0.1:42027"
    p = [a.seg("c2s", heartbeat_req(1))]  # 1: connection A seen mid-stream, version unknown
    p += b.handshake()  # 2-4
    p.append(b.seg("c2s", open_req(9)))  # 5: connection B decided at once
    p.append(a.seg("s2c", heartbeat_conf(1)))  # 6
    p.append(a.seg("s2c", agent_state_event()))  # 7: now A's version is known
    records = decode(tmp_path, p)
    assert message_rows(records) == [
        (1, CONN, "c2s", "HEARTBEAT_REQ", 1),
        (5, conn_b, "c2s", "OPEN_REQ", 9),
        (6, CONN, "s2c", "HEARTBEAT_CONF", 1),
        (7, CONN, "s2c", "AGENT_STATE_EVENT", None),
    ]
    assert anomaly_rows(records) == [(1, "tcp.midstream"), (1, "version.inferred")]
    assert [r.frame for r in records] == sorted(r.frame for r in records)


def test_open_req_after_held_server_frames_decides_them(tmp_path):
    cv = Conversation()
    p = cv.handshake()
    p.append(cv.seg("s2c", heartbeat_conf(0, version=19)))  # 4: server speaks first; waits
    p.append(cv.seg("c2s", open_req(1, version=19)))  # 5
    records = decode(tmp_path, p)
    assert message_rows(records) == [(4, CONN, "s2c", "HEARTBEAT_CONF", 0), (5, CONN, "c2s", "OPEN_REQ", 1)]
    assert anomaly_rows(records) == []
    assert {m.extra["version_source"] for m in messages(records)} == {"open_req"}
    assert {m.version for m in messages(records)} == {19}
