"""Request/reply pairing by (connection, InvokeID): statuses, latencies, orphans, streaming."""

from __future__ import annotations

import pytest
from analysis_builders import ALL_EVENTS, CLIENT_CONTROL, CLIENT_EVENTS, T0, Trace, conn

from ctidissect.analysis import AnalysisConfig, Pairer, analyze, iter_pairs
from ctidissect.analysis.pairing import invoke_id_of
from ctidissect.catalogue import MESSAGES, REQUEST, confirmation_of
from ctidissect.wire import VOCABULARY

A = conn(1)
B = conn(2)


def pairs_by_frame(records, config=None):
    return {p.frame: p for p in analyze(records, config).pairs}


def agent_trace() -> Trace:
    t = Trace()
    t.open(0.0, A, client_id="agent1", services=CLIENT_EVENTS | CLIENT_CONTROL, agent_id="1001", extension="3001",
           conf_after=0.012345)
    return t


def test_ok_pairs_exact_latency():
    t = agent_trace()
    t.c2s(1.000001, A, "HEARTBEAT_REQ", {"InvokeID": 2})
    t.s2c(1.000251, A, "HEARTBEAT_CONF", {"InvokeID": 2})
    t.c2s(2.5, A, "QUERY_AGENT_STATE_REQ", {"InvokeID": 3, "PeripheralID": 5000}, [("AGENT_ID", "1001")])
    t.s2c(2.987654, A, "QUERY_AGENT_STATE_CONF", {"InvokeID": 3, "AgentState": 3})
    pairs = analyze(t.records).pairs
    got = [(p.request, p.request_frame, p.response, p.response_frame, p.latency_s, p.status) for p in pairs]
    assert got == [
        ("OPEN_REQ", 2, "OPEN_CONF", 3, 0.012345, "ok"),
        ("HEARTBEAT_REQ", 4, "HEARTBEAT_CONF", 5, 0.00025, "ok"),
        ("QUERY_AGENT_STATE_REQ", 6, "QUERY_AGENT_STATE_CONF", 7, 0.487654, "ok"),
    ]
    assert pairs[1].request_ts == T0 + 1.000001
    assert pairs[1].response_ts == T0 + 1.000251
    assert all(p.anomaly is None and p.failure is None for p in pairs)


def test_failure_conf_and_control_failure_conf_by_name():
    t = agent_trace()
    t.c2s(1.0, A, "SET_AGENT_STATE_REQ", {"InvokeID": 7, "PeripheralID": 5000, "AgentState": 2})
    t.s2c(1.25, A, "CONTROL_FAILURE_CONF", {"InvokeID": 7, "FailureCode": 256, "PeripheralErrorCode": 12345})
    t.c2s(2.0, A, "ANSWER_CALL_REQ", {"InvokeID": 8, "PeripheralID": 5000, "ConnectionCallID": 77})
    t.s2c(2.000123, A, "CONTROL_FAILURE_CONF", {"InvokeID": 8, "FailureCode": 28, "PeripheralErrorCode": 0})
    t.c2s(3.0, A, "CLIENT_EVENT_REPORT_REQ", {"InvokeID": 9, "State": 0})
    t.s2c(3.5, A, "FAILURE_CONF", {"InvokeID": 9, "Status": 12})
    t.c2s(4.0, A, "SET_AGENT_STATE_REQ", {"InvokeID": 10, "PeripheralID": 5000})
    t.s2c(4.1, A, "CONTROL_FAILURE_CONF", {"InvokeID": 10, "FailureCode": 999, "PeripheralErrorCode": 1})
    pairs = pairs_by_frame(t.records)
    p = pairs[4]
    assert (p.status, p.response, p.failure, p.failure_code, p.peripheral_error_code, p.latency_s) == (
        "failed", "CONTROL_FAILURE_CONF", "CF_INVALID_AGENT_ID_SPECIFIED", 256, 12345, 0.25)
    assert (pairs[6].status, pairs[6].failure, pairs[6].latency_s) == ("failed", "CF_NO_CALL_TO_ANSWER", 0.000123)
    assert (pairs[8].status, pairs[8].response, pairs[8].failure, pairs[8].failure_code) == (
        "failed", "FAILURE_CONF", "E_CTI_FUNCTION_NOT_AVAILABLE", 12)
    # A code missing from the enum is kept by number.
    assert (pairs[10].status, pairs[10].failure) == ("failed", "999")


def test_late_and_unanswered_with_timeout():
    t = agent_trace()
    t.c2s(1.0, A, "SET_AGENT_STATE_REQ", {"InvokeID": 2, "PeripheralID": 5000})
    t.c2s(1.5, A, "CLIENT_EVENT_REPORT_REQ", {"InvokeID": 3})
    t.s2c(4.000001, A, "SET_AGENT_STATE_CONF", {"InvokeID": 2})  # 3.000001 s > 3 s timeout
    t.s2c(4.5, A, "FAILURE_CONF", {"InvokeID": 3, "Status": 17})  # exactly 3 s: not late
    t.c2s(5.0, A, "HEARTBEAT_REQ", {"InvokeID": 4})  # never answered
    t.c2s(9.0, A, "QUERY_AGENT_STATE_REQ", {"InvokeID": 5, "PeripheralID": 5000})  # capture ends 1 s later
    t.s2c(10.0, A, "AGENT_STATE_EVENT", {"MonitorID": 1, "PeripheralID": 5000})
    pairs = pairs_by_frame(t.records, AnalysisConfig(reply_timeout_s=3.0))
    assert (pairs[4].status, pairs[4].latency_s, pairs[4].anomaly, pairs[4].failure) == ("late", 3.000001, "pair.late", None)
    assert (pairs[5].status, pairs[5].latency_s, pairs[5].failure) == ("failed", 3.0, "E_CTI_UNSPECIFIED_FAILURE")
    assert (pairs[8].status, pairs[8].response, pairs[8].latency_s, pairs[8].waited_s, pairs[8].anomaly) == (
        "unanswered", None, None, 5.0, "pair.unanswered")
    # none by capture end, even if younger than the timeout
    assert (pairs[9].status, pairs[9].waited_s) == ("unanswered", 1.0)


def test_late_failure_keeps_failure_name():
    t = agent_trace()
    t.c2s(1.0, A, "SET_AGENT_STATE_REQ", {"InvokeID": 2, "PeripheralID": 5000})
    t.s2c(41.0, A, "CONTROL_FAILURE_CONF", {"InvokeID": 2, "FailureCode": 78})
    (p,) = [p for p in analyze(t.records).pairs if p.invoke_id == 2]
    assert (p.status, p.latency_s, p.failure) == ("late", 40.0, "CF_REQUEST_TIMEOUT_REJECTION")


def test_rst_resolves_outstanding_requests_at_once():
    t = agent_trace()
    t.c2s(1.0, A, "HEARTBEAT_REQ", {"InvokeID": 2})
    t.conn_event(2.5, A, "rst", "s2c")
    pairer = Pairer()
    resolved = []
    for r in t.records:
        resolved.append([p.status for p in pairer.feed(r)])
    assert resolved[-1] == ["unanswered"]
    assert pairer.outstanding == 0
    assert pairer.flush() == []


def test_duplicate_invoke_id_while_outstanding():
    t = agent_trace()
    t.c2s(1.0, A, "SET_AGENT_STATE_REQ", {"InvokeID": 5, "PeripheralID": 5000})  # frame 4
    t.c2s(1.1, A, "SET_AGENT_STATE_REQ", {"InvokeID": 5, "PeripheralID": 5000})  # frame 5: duplicate
    t.c2s(1.2, A, "HEARTBEAT_REQ", {"InvokeID": 5})  # frame 6: duplicate too (other type)
    t.s2c(1.5, A, "SET_AGENT_STATE_CONF", {"InvokeID": 5})  # answers frame 4 (first in, first out)
    t.s2c(1.7, A, "SET_AGENT_STATE_CONF", {"InvokeID": 5})  # answers frame 5
    t.c2s(2.0, A, "HEARTBEAT_REQ", {"InvokeID": 5})  # frame 9: frame 6 is still outstanding
    pairs = pairs_by_frame(t.records)
    assert (pairs[4].status, pairs[4].response_frame, pairs[4].latency_s, pairs[4].duplicate_of_frame) == ("ok", 7, 0.5, None)
    assert (pairs[5].status, pairs[5].response_frame, pairs[5].latency_s, pairs[5].duplicate_of_frame, pairs[5].anomaly) == (
        "duplicate", 8, 0.6, 4, "pair.duplicate")
    assert (pairs[6].status, pairs[6].response, pairs[6].duplicate_of_frame) == ("duplicate", None, 4)
    assert (pairs[9].status, pairs[9].duplicate_of_frame) == ("duplicate", 6)
    # Reuse after the first was answered is not a duplicate.
    t2 = agent_trace()
    t2.c2s(1.0, A, "HEARTBEAT_REQ", {"InvokeID": 5})
    t2.s2c(1.1, A, "HEARTBEAT_CONF", {"InvokeID": 5})
    t2.c2s(2.0, A, "HEARTBEAT_REQ", {"InvokeID": 5})
    t2.s2c(2.2, A, "HEARTBEAT_CONF", {"InvokeID": 5})
    assert [p.status for p in analyze(t2.records).pairs] == ["ok", "ok", "ok"]


def test_same_invoke_id_on_two_connections_is_not_a_duplicate():
    t = agent_trace()
    t.open(0.5, B, client_id="bridge", services=ALL_EVENTS)
    t.c2s(1.0, A, "HEARTBEAT_REQ", {"InvokeID": 9})
    t.c2s(1.0, B, "HEARTBEAT_REQ", {"InvokeID": 9})
    t.s2c(1.3, B, "HEARTBEAT_CONF", {"InvokeID": 9})
    t.s2c(1.4, A, "HEARTBEAT_CONF", {"InvokeID": 9})
    hb = [(p.conn, p.latency_s, p.status) for p in analyze(t.records).pairs if p.request == "HEARTBEAT_REQ"]
    assert sorted(hb) == sorted([(A, 0.4, "ok"), (B, 0.3, "ok")])


def test_orphans_real_versus_before_capture_start():
    t = Trace()
    # Session A: OPEN_REQ captured -> a reply without request is a real orphan.
    t.open(0.0, A, client_id="agent1", services=CLIENT_EVENTS, agent_id="1001")
    t.s2c(1.0, A, "HEARTBEAT_CONF", {"InvokeID": 99})
    # Session B: capture began mid-session (no SYN, no OPEN_REQ).
    t.conn_event(0.2, B, "open", syn_seen=False)
    t.s2c(0.3, B, "AGENT_STATE_EVENT", {"MonitorID": 2, "PeripheralID": 5000})
    t.s2c(5.0, B, "SET_AGENT_STATE_CONF", {"InvokeID": 41})  # 4.8 s after first packet: pre-capture
    t.s2c(40.0, B, "CONTROL_FAILURE_CONF", {"InvokeID": 42, "FailureCode": 24})  # 39.8 s: real orphan
    # Session C: SYN seen but no OPEN_REQ -> the capture saw its start, so a real orphan.
    c = conn(3)
    t.conn_event(0.4, c, "open", syn_seen=True)
    t.s2c(0.5, c, "HEARTBEAT_CONF", {"InvokeID": 1})
    pairs = analyze(t.records).pairs
    orphans = [(p.conn, p.invoke_id, p.response, p.status, p.anomaly, p.failure) for p in pairs if p.status == "orphan"]
    assert orphans == [
        (c, 1, "HEARTBEAT_CONF", "orphan", "pair.orphan", None),
        (A, 99, "HEARTBEAT_CONF", "orphan", "pair.orphan", None),
        (B, 41, "SET_AGENT_STATE_CONF", "orphan", "pair.orphan_precapture", None),
        (B, 42, "CONTROL_FAILURE_CONF", "orphan", "pair.orphan", "CF_NO_ACTIVE_CALL"),
    ]
    for p in pairs:
        if p.status == "orphan":
            assert p.request is None and p.request_frame is None and p.latency_s is None
    assert {"pair.orphan", "pair.orphan_precapture"} <= set(VOCABULARY)


def test_capture_starting_mid_session_without_connection_events():
    # No connection events at all: the first record is a reply, so the session is mid-way.
    t = Trace()
    t.s2c(0.0, A, "CALL_DELIVERED_EVENT", {"MonitorID": 3, "PeripheralID": 5000, "ConnectionCallID": 5})
    t.s2c(0.2, A, "ANSWER_CALL_CONF", {"InvokeID": 1000})
    t.c2s(1.0, A, "HEARTBEAT_REQ", {"InvokeID": 1001})
    t.s2c(1.01, A, "HEARTBEAT_CONF", {"InvokeID": 1001})
    pairs = analyze(t.records).pairs
    assert [(p.status, p.anomaly, p.latency_s) for p in pairs] == [
        ("orphan", "pair.orphan_precapture", None),
        ("ok", None, 0.01),
    ]


def test_reply_of_another_type_does_not_answer():
    t = agent_trace()
    t.c2s(1.0, A, "SET_AGENT_STATE_REQ", {"InvokeID": 3, "PeripheralID": 5000})
    t.s2c(1.1, A, "HEARTBEAT_CONF", {"InvokeID": 3})
    t.s2c(1.2, A, "SET_AGENT_STATE_CONF", {"InvokeID": 3})
    pairs = pairs_by_frame(t.records)
    assert (pairs[4].status, pairs[4].response, pairs[4].latency_s) == ("ok", "SET_AGENT_STATE_CONF", 0.2)
    assert (pairs[5].status, pairs[5].response) == ("orphan", "HEARTBEAT_CONF")


REQUESTS_WITH_CONF = [m.name for m in MESSAGES if m.kind == REQUEST and confirmation_of(m.name) and not m.no_invoke_id]


@pytest.mark.parametrize("request_name", REQUESTS_WITH_CONF)
def test_every_request_type_pairs_with_its_confirmation(request_name):
    from ctidissect.catalogue import MESSAGES_BY_NAME

    conf_name = confirmation_of(request_name)
    t = Trace()
    invoke = 0x01020304

    def send(at, direction, name):
        cat = MESSAGES_BY_NAME[name]
        if cat.fixed is None:  # body not published: InvokeID is still the first UINT (7.1)
            return _raw(t, at, direction, name, invoke)
        return t.msg(at, A, direction, name, {"InvokeID": invoke})

    send(1.0, "c2s", request_name)
    send(1.000321, "s2c", conf_name)
    (p,) = analyze(t.records).pairs
    assert (p.request, p.response, p.invoke_id, p.latency_s, p.status) == (request_name, conf_name, invoke, 0.000321, "ok")


def _raw(t: Trace, at: float, direction: str, name: str, invoke: int):
    from ctidissect.wire import decode_buffer, encode_message

    (msg,) = decode_buffer(encode_message(name, body=invoke.to_bytes(4, "big") + b"\0\0"), 24)
    assert "layout.unknown" in msg.anomaly_codes and invoke_id_of(msg) == invoke
    assert msg.fields == {"InvokeID": invoke}  # decoded by the codec (7.1), not read off the body
    msg.frame, msg.ts, msg.conn, msg.direction = t._next_frame(), T0 + at, A, direction
    t.records.append(msg)
    return msg


def test_layout_unknown_request_pairs_with_its_resp_and_failure_conf():
    t = agent_trace()
    _raw(t, 1.0, "c2s", "MEDIA_LOGIN_REQ", 7)
    _raw(t, 1.25, "s2c", "MEDIA_LOGIN_RESP", 7)
    _raw(t, 2.0, "c2s", "MEDIA_LOGIN_REQ", 8)
    t.s2c(2.5, A, "FAILURE_CONF", {"InvokeID": 8, "Status": 12})
    pairs = pairs_by_frame(t.records)
    p = pairs[4]
    assert (p.request, p.response, p.invoke_id, p.latency_s, p.status) == ("MEDIA_LOGIN_REQ", "MEDIA_LOGIN_RESP", 7, 0.25, "ok")
    p = pairs[6]
    assert (p.request, p.response, p.invoke_id, p.status) == ("MEDIA_LOGIN_REQ", "FAILURE_CONF", 8, "failed")


def test_configuration_exchange_carries_no_invoke_id():
    from ctidissect.wire import decode_buffer, encode_message

    t = agent_trace()
    for at, direction, name in ((1.0, "c2s", "TEAM_CONFIG_REQ"), (1.5, "s2c", "TEAM_CONFIG_CONF")):
        (msg,) = decode_buffer(encode_message(name, body=(9).to_bytes(4, "big") + b"\0\0"), 24)
        assert msg.fields == {} and msg.anomaly_codes == ["layout.unknown"] and invoke_id_of(msg) is None
        msg.frame, msg.ts, msg.conn, msg.direction = t._next_frame(), T0 + at, A, direction
        t.records.append(msg)
    assert [p.request for p in analyze(t.records).pairs] == ["OPEN_REQ"]


def test_streaming_yields_as_resolved_with_bounded_memory():
    t = agent_trace()
    for i in range(200):
        t.c2s(1.0 + i, A, "HEARTBEAT_REQ", {"InvokeID": 100 + i})
        t.s2c(1.0 + i + 0.002, A, "HEARTBEAT_CONF", {"InvokeID": 100 + i})
    pairer = Pairer()
    peak = 0
    emitted = 0
    for r in t.records:
        emitted += len(pairer.feed(r))
        peak = max(peak, pairer.outstanding)
    assert peak == 1 and emitted == 201
    assert pairer.flush() == []
    streamed = list(iter_pairs(t.records))
    assert [p.latency_s for p in streamed[1:]] == [0.002] * 200


def test_eviction_bounds_memory_of_never_answered_requests():
    t = agent_trace()
    for i in range(50):
        t.c2s(1.0 + i, A, "MAKE_CALL_REQ", {"InvokeID": 500 + i, "PeripheralID": 5000})
    t.s2c(60.0, A, "MAKE_CALL_CONF", {"InvokeID": 500})  # 59 s later: after eviction -> orphan
    pairer = Pairer(AnalysisConfig(reply_timeout_s=5.0, evict_after_s=10.0))
    peak = 0
    out = []
    for r in t.records:
        out.extend(pairer.feed(r))
        peak = max(peak, pairer.outstanding)
    out.extend(pairer.flush())
    assert peak <= 12
    statuses = [p.status for p in out if p.request == "MAKE_CALL_REQ"]
    assert statuses == ["unanswered"] * 50
    assert [p.status for p in out if p.request is None] == ["orphan"]


def test_json_keys_exact():
    t = agent_trace()
    (p,) = [p.to_json() for p in analyze(t.records).pairs]
    required = ["conn", "invoke_id", "request", "request_frame", "request_ts", "response", "response_frame", "latency_s", "status"]
    assert list(p)[: len(required)] == required
    assert p["request_ts"] == T0 and p["latency_s"] == 0.012345 and p["status"] == "ok"
