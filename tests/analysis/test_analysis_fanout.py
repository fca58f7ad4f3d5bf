"""Emergency / supervisor-assist fan-out: outcome, recipients, delays, misses (GED-188 7.4)."""

from __future__ import annotations

from analysis_builders import ALL_EVENTS, CLIENT_CONTROL, CLIENT_EVENTS, NO_CALL, SERVER_B, SUPERVISOR, T0, Trace, conn

from ctidissect.analysis import AnalysisConfig, analyze, iter_fanout

AGENT, BRIDGE1, BRIDGE2, RECORDER, SUP = conn(1), conn(2), conn(3), conn(4), conn(5)
LATE_BRIDGE, GONE_BRIDGE, OTHER_SIDE_BRIDGE, AGENT2 = conn(6), conn(7), conn(8, SERVER_B), conn(9)


def base_trace() -> Trace:
    t = Trace()
    t.open(0.0, AGENT, client_id="agent1", services=CLIENT_EVENTS | CLIENT_CONTROL, agent_id="1001", extension="3001",
           instrument="3001")
    t.open(0.1, BRIDGE1, client_id="CTIBridge", services=ALL_EVENTS)
    t.open(0.2, BRIDGE2, client_id="OtherBridge", services=ALL_EVENTS)
    t.open(0.3, RECORDER, client_id="acme", signature="ACME Recorder", services=ALL_EVENTS)
    t.open(0.4, SUP, client_id="sup1", services=CLIENT_EVENTS | SUPERVISOR | CLIENT_CONTROL, agent_id="2001",
           extension="4001")
    t.open(0.5, GONE_BRIDGE, client_id="GoneBridge", services=ALL_EVENTS)
    t.open(0.6, OTHER_SIDE_BRIDGE, client_id="SideBBridge", services=ALL_EVENTS)
    t.c2s(5.0, GONE_BRIDGE, "CLOSE_REQ", {"InvokeID": 2})
    t.s2c(5.01, GONE_BRIDGE, "CLOSE_CONF", {"InvokeID": 2})
    t.conn_event(5.02, GONE_BRIDGE, "fin", "c2s")
    return t


def emergency_req(t: Trace, at: float, conn_: str = AGENT, invoke: int = 5, **floats):
    return t.c2s(at, conn_, "EMERGENCY_CALL_REQ", {"InvokeID": invoke, "PeripheralID": 5000, "ConnectionCallID": NO_CALL},
                 list(floats.items()))


def recipients(fo):
    return [(r.conn, r.role, r.client_id, r.kind, r.expected, r.delivered, r.delay_s, r.message) for r in fo.recipients]


def test_emergency_success_with_a_bridge_that_missed_the_event():
    t = base_trace()
    emergency_req(t, 10.0)
    t.emergency_event(10.05, BRIDGE1, client_id="agent1", agent_id="1001", extension="3001")
    t.s2c(10.2, AGENT, "EMERGENCY_CALL_CONF", {"InvokeID": 5, "ConnectionCallID": 900}, [("CONNECTION_DEVID", "900")])
    t.emergency_event(10.123456, RECORDER, client_id="agent1", agent_id="1001")
    # The supervisor's session gets the emergency call; the bridge sees its events too.
    t.s2c(10.3, SUP, "CALL_DELIVERED_EVENT", {"MonitorID": 7, "PeripheralID": 5000, "ConnectionCallID": 900,
                                               "EventCause": 44}, [("CONNECTION_DEVID", "900"), ("CALLING_DEVID", "3001")])
    t.s2c(10.31, BRIDGE1, "CALL_DELIVERED_EVENT", {"MonitorID": 0, "PeripheralID": 5000, "ConnectionCallID": 900,
                                                    "EventCause": 44}, [("CONNECTION_DEVID", "900")])
    t.open(12.0, LATE_BRIDGE, client_id="LateBridge", services=ALL_EVENTS)
    t.conn_event(20.0, AGENT, "capture_end")
    (fo,) = analyze(t.records).fanout
    assert (fo.request, fo.request_frame, fo.request_ts, fo.requester, fo.invoke_id) == (
        "EMERGENCY_CALL_REQ", 25, T0 + 10.0, AGENT, 5)
    assert (fo.outcome, fo.outcome_latency_s, fo.outcome_status, fo.failure, fo.new_call_id) == (
        "EMERGENCY_CALL_CONF", 0.2, "ok", None, 900)
    assert recipients(fo) == [
        (BRIDGE1, "bridge", "CTIBridge", "emergency_event", True, True, 0.05, "EMERGENCY_CALL_EVENT"),
        (BRIDGE2, "bridge", "OtherBridge", "emergency_event", True, False, None, None),
        (RECORDER, "recording", "acme", "emergency_event", True, True, 0.123456, "EMERGENCY_CALL_EVENT"),
        (SUP, "supervisor", "sup1", "supervisor_call", True, True, 0.3, "CALL_DELIVERED_EVENT"),
    ]
    # The closed bridge, the one opened after the request and the side-B one are not expected.
    assert (fo.expected_count, fo.delivered_count, fo.missed_count, fo.unexpected_count, fo.max_delay_s) == (4, 3, 1, 0, 0.3)
    missed = [r for r in fo.recipients if not r.delivered]
    assert [r.anomaly for r in missed] == ["fanout.missed"]
    assert [r.frame for r in fo.recipients if r.delivered] == [26, 28, 29]


def test_failure_conf_outcome_still_fans_out_to_bridges():
    t = base_trace()
    emergency_req(t, 10.0)
    t.s2c(10.1, AGENT, "FAILURE_CONF", {"InvokeID": 5, "Status": 64})
    t.emergency_event(10.15, BRIDGE1, client_id="agent1")
    t.emergency_event(10.25, BRIDGE2, client_id="agent1")
    t.emergency_event(10.35, RECORDER, agent_id="1001")
    (fo,) = analyze(t.records).fanout
    assert (fo.outcome, fo.outcome_latency_s, fo.outcome_status, fo.failure) == (
        "FAILURE_CONF", 0.1, "failed", "E_CTI_SUPERVISOR_NOT_FOUND")
    # No supervisor is expected when no supervisor was found.
    assert recipients(fo) == [
        (BRIDGE1, "bridge", "CTIBridge", "emergency_event", True, True, 0.15, "EMERGENCY_CALL_EVENT"),
        (BRIDGE2, "bridge", "OtherBridge", "emergency_event", True, True, 0.25, "EMERGENCY_CALL_EVENT"),
        (RECORDER, "recording", "acme", "emergency_event", True, True, 0.35, "EMERGENCY_CALL_EVENT"),
    ]
    j = fo.to_json()
    assert list(j)[:7] == ["request", "request_frame", "request_ts", "requester", "outcome", "outcome_latency_s", "recipients"]
    assert j["outcome"] == "FAILURE_CONF" and j["failure"] == "E_CTI_SUPERVISOR_NOT_FOUND"
    assert list(j["recipients"][0])[:6] == ["conn", "role", "client_id", "delivered", "frame", "delay_s"]
    assert j["recipients"][1] | {} == {
        "conn": BRIDGE2, "role": "bridge", "client_id": "OtherBridge", "delivered": True, "frame": 28,
        "delay_s": 0.25, "expected": True, "kind": "emergency_event", "message": "EMERGENCY_CALL_EVENT",
    }


def test_bridge_opened_after_the_request_is_not_expected_but_counts_if_delivered():
    t = Trace()
    t.open(0.0, AGENT, client_id="agent1", services=CLIENT_EVENTS, agent_id="1001")
    emergency_req(t, 1.0)
    t.open(1.5, LATE_BRIDGE, client_id="LateBridge", services=ALL_EVENTS)
    t.open(1.6, BRIDGE1, client_id="LateBridge2", services=ALL_EVENTS)
    t.emergency_event(1.7, BRIDGE1, client_id="agent1")
    t.s2c(2.0, AGENT, "FAILURE_CONF", {"InvokeID": 5, "Status": 65})
    (fo,) = analyze(t.records).fanout
    assert recipients(fo) == [(BRIDGE1, "bridge", "LateBridge2", "emergency_event", False, True, 0.7, "EMERGENCY_CALL_EVENT")]
    assert (fo.expected_count, fo.missed_count, fo.unexpected_count) == (0, 0, 1)


def test_event_outside_the_window_is_a_miss():
    t = Trace()
    t.open(0.0, AGENT, client_id="agent1", services=CLIENT_EVENTS, agent_id="1001")
    t.open(0.1, BRIDGE1, client_id="b", services=ALL_EVENTS)
    emergency_req(t, 1.0)
    t.s2c(1.1, AGENT, "EMERGENCY_CALL_CONF", {"InvokeID": 5, "ConnectionCallID": 1})
    t.emergency_event(6.5, BRIDGE1, client_id="agent1")  # 5.5 s > 5 s window
    (fo,) = analyze(t.records).fanout
    assert [(r.conn, r.delivered) for r in fo.recipients] == [(BRIDGE1, False)]
    (fo,) = analyze(t.records, AnalysisConfig(fanout_window_s=6.0)).fanout
    assert [(r.conn, r.delivered, r.delay_s) for r in fo.recipients] == [(BRIDGE1, True, 5.5)]


def test_concurrent_emergencies_are_told_apart_by_what_the_events_carry():
    t = Trace()
    t.open(0.0, AGENT, client_id="agent1", services=CLIENT_EVENTS, agent_id="1001")
    t.open(0.0, AGENT2, client_id="agent2", services=CLIENT_EVENTS, agent_id="1002")
    t.open(0.1, BRIDGE1, client_id="bridge", services=ALL_EVENTS)
    emergency_req(t, 1.0, AGENT, invoke=5)
    emergency_req(t, 1.1, AGENT2, invoke=5)
    t.emergency_event(1.15, BRIDGE1, client_id="agent2", agent_id="1002")
    t.emergency_event(1.2, BRIDGE1, client_id="agent1", agent_id="1001")
    fo1, fo2 = analyze(t.records).fanout
    assert (fo1.requester, [(r.conn, r.delivered, r.delay_s) for r in fo1.recipients]) == (AGENT, [(BRIDGE1, True, 0.2)])
    assert (fo2.requester, [(r.conn, r.delivered, r.delay_s) for r in fo2.recipients]) == (AGENT2, [(BRIDGE1, True, 0.05)])
    assert fo1.outcome is None and fo1.outcome_status == "unanswered"


def test_event_naming_another_agent_is_not_a_delivery():
    t = Trace()
    t.open(0.0, AGENT, client_id="agent1", services=CLIENT_EVENTS, agent_id="1001")
    t.open(0.1, BRIDGE1, client_id="bridge", services=ALL_EVENTS)
    emergency_req(t, 1.0)
    t.emergency_event(1.1, BRIDGE1, client_id="agent7", agent_id="1007")
    t.emergency_event(1.2, BRIDGE1, peripheral_id=6000, client_id="agent1")
    (fo,) = analyze(t.records).fanout
    assert [(r.conn, r.expected, r.delivered) for r in fo.recipients] == [(BRIDGE1, True, False)]


def test_supervisor_assist_delivered_and_missed():
    t = base_trace()
    t.c2s(10.0, AGENT, "SUPERVISOR_ASSIST_REQ", {"InvokeID": 8, "PeripheralID": 5000, "ConnectionCallID": 77},
          [("CONNECTION_DEVID", "77")])
    t.s2c(10.4, AGENT, "SUPERVISOR_ASSIST_CONF", {"InvokeID": 8, "ConnectionCallID": 901}, [("CONNECTION_DEVID", "901")])
    t.s2c(10.45, BRIDGE1, "BEGIN_CALL_EVENT", {"MonitorID": 0, "PeripheralID": 5000, "CallType": 19, "ConnectionCallID": 901})
    t.s2c(10.5, SUP, "BEGIN_CALL_EVENT", {"MonitorID": 7, "PeripheralID": 5000, "CallType": 19, "ConnectionCallID": 901},
          [("CONNECTION_DEVID", "901")])
    t.s2c(10.6, SUP, "CALL_DELIVERED_EVENT", {"MonitorID": 7, "PeripheralID": 5000, "ConnectionCallID": 901, "EventCause": 43})
    # A second assist whose supervisor never sees the call.
    t.c2s(20.0, AGENT, "SUPERVISOR_ASSIST_REQ", {"InvokeID": 9, "PeripheralID": 5000, "ConnectionCallID": NO_CALL})
    t.s2c(20.2, AGENT, "SUPERVISOR_ASSIST_CONF", {"InvokeID": 9, "ConnectionCallID": 902})
    t.conn_event(40.0, AGENT, "capture_end")
    fo1, fo2 = analyze(t.records).fanout
    assert (fo1.request, fo1.outcome, fo1.outcome_latency_s, fo1.connection_call_id, fo1.new_call_id) == (
        "SUPERVISOR_ASSIST_REQ", "SUPERVISOR_ASSIST_CONF", 0.4, 77, 901)
    assert recipients(fo1) == [(SUP, "supervisor", "sup1", "supervisor_call", True, True, 0.5, "BEGIN_CALL_EVENT")]
    assert recipients(fo2) == [(SUP, "supervisor", "sup1", "supervisor_call", True, False, None, None)]
    assert fo2.missed_count == 1


def test_supervisor_assist_event_counts_as_delivery():
    t = Trace()
    t.open(0.0, AGENT, client_id="agent1", services=CLIENT_EVENTS, agent_id="1001")
    t.open(0.1, SUP, client_id="sup1", services=CLIENT_EVENTS | SUPERVISOR, agent_id="2001")
    t.c2s(1.0, AGENT, "SUPERVISOR_ASSIST_REQ", {"InvokeID": 3, "PeripheralID": 5000, "ConnectionCallID": NO_CALL})
    from ctidissect.wire import decode_buffer, encode_message

    (ev,) = decode_buffer(encode_message("SUPERVISOR_ASSIST_EVENT", body=b"\x00\x01"), 24)
    ev.frame, ev.ts, ev.conn, ev.direction = t._next_frame(), T0 + 1.25, SUP, "s2c"
    t.records.append(ev)
    t.s2c(1.5, AGENT, "SUPERVISOR_ASSIST_CONF", {"InvokeID": 3, "ConnectionCallID": 5})
    (fo,) = analyze(t.records).fanout
    assert recipients(fo) == [(SUP, "supervisor", "sup1", "supervisor_call", True, True, 0.25, "SUPERVISOR_ASSIST_EVENT")]


def test_midstream_bridge_that_received_the_event_was_expected():
    t = Trace()
    t.open(0.0, AGENT, client_id="agent1", services=CLIENT_EVENTS, agent_id="1001")
    emergency_req(t, 1.0)
    t.conn_event(1.2, BRIDGE1, "open", syn_seen=False)  # capture missed its start
    t.emergency_event(1.2, BRIDGE1, client_id="agent1")
    (fo,) = analyze(t.records).fanout
    assert recipients(fo) == [(BRIDGE1, "bridge", None, "emergency_event", True, True, 0.2, "EMERGENCY_CALL_EVENT")]


def test_streaming_fanout_matches_batch():
    t = base_trace()
    emergency_req(t, 10.0)
    t.s2c(10.1, AGENT, "FAILURE_CONF", {"InvokeID": 5, "Status": 64})
    t.emergency_event(10.15, BRIDGE1, client_id="agent1")
    emergency_req(t, 30.0, invoke=6)
    t.emergency_event(30.2, RECORDER, client_id="agent1")
    t.s2c(30.3, AGENT, "EMERGENCY_CALL_CONF", {"InvokeID": 6, "ConnectionCallID": 1})
    t.c2s(40.0, AGENT, "HEARTBEAT_REQ", {"InvokeID": 7})
    batch = analyze(t.records).fanout
    streamed = list(iter_fanout(t.records))
    assert [f.to_json() for f in streamed] == [f.to_json() for f in batch]
    # second: both bridges missed, and the supervisor of a successful emergency call too
    assert [(f.request_frame, f.missed_count) for f in batch] == [(25, 2), (28, 3)]
