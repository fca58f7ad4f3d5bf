"""Sessions: identity, role, services, side, version, end reasons, heartbeats."""

from __future__ import annotations

import pytest
from analysis_builders import (
    ALL_EVENTS,
    CLIENT_CONTROL,
    CLIENT_EVENTS,
    CLIENT_MONITOR,
    PERIPHERAL_MONITOR,
    SERVER_B,
    SUPERVISOR,
    T0,
    Trace,
    conn,
)

from ctidissect.analysis import AnalysisConfig, analyze

A, B, C = conn(1), conn(2), conn(3)


def session(records, c, config=None):
    result = analyze(records, config)
    return result.session(c)


def test_identity_services_version_side_from_open():
    t = Trace()
    t.open(0.0, A, client_id="desk-1001", signature="Finesse", services=CLIENT_EVENTS | CLIENT_CONTROL | 0x200,
           granted=CLIENT_EVENTS | CLIENT_CONTROL, agent_id="1001", extension="3001", instrument="3001",
           peripheral_id=5000, idle_timeout=120, version=20)
    s = session(t.records, A)
    assert (s.client_id, s.client_signature, s.agent_id, s.agent_extension, s.agent_instrument, s.peripheral_id) == (
        "desk-1001", "Finesse", "1001", "3001", "3001", 5000)
    assert s.services_requested_names == ["CTI_SERVICE_CLIENT_EVENTS", "CTI_SERVICE_CLIENT_CONTROL", "0x200"]
    assert s.services_granted_names == ["CTI_SERVICE_CLIENT_EVENTS", "CTI_SERVICE_CLIENT_CONTROL"]
    assert (s.role, s.role_source, s.protocol_version, s.version_source) == ("agent", "open_conf", 20, "open_req")
    assert (s.side, s.server_port, s.client, s.server) == ("A", 42027, "10.1.0.1:50001", "10.0.0.1:42027")
    assert (s.idle_timeout_s, s.open_status, s.opened_ts, s.midstream) == (120.0, "ok", T0, False)
    j = s.to_json()
    assert list(j)[:10] == ["conn", "role", "client_id", "protocol_version", "services_granted", "opened_ts",
                            "closed_ts", "end_reason", "heartbeat_interval_s", "missed_heartbeats"]
    assert j["services_granted"] == ["CTI_SERVICE_CLIENT_EVENTS", "CTI_SERVICE_CLIENT_CONTROL"]


def test_signature_defaults_to_client_id_and_side_b():
    t = Trace()
    t.open(0.0, conn(1, SERVER_B), client_id="bridge-x", services=ALL_EVENTS)
    s = analyze(t.records).sessions[0]
    assert (s.client_signature, s.side, s.server_port, s.role) == ("bridge-x", "B", 43027, "bridge")


def test_custom_side_ports():
    t = Trace()
    c = "10.1.0.9:50009-10.0.0.1:5000"
    t.open(0.0, c, client_id="x", services=CLIENT_EVENTS)
    s = analyze(t.records, AnalysisConfig(side_ports={5000: "A", 5001: "B"})).sessions[0]
    assert s.side == "A"
    assert analyze(t.records).sessions[0].side is None


@pytest.mark.parametrize(
    ("services", "client_id", "signature", "role"),
    [
        (CLIENT_EVENTS | CLIENT_CONTROL, "desk", None, "agent"),
        (CLIENT_EVENTS | SUPERVISOR | CLIENT_CONTROL, "supdesk", None, "supervisor"),
        (ALL_EVENTS, "CTIBridge", None, "bridge"),
        (ALL_EVENTS | CLIENT_CONTROL, "RecServer1", None, "recording"),
        (ALL_EVENTS, "acme", "ACME_CallRecorder", "recording"),
        (ALL_EVENTS, "wfo-RECORD-2", None, "recording"),
        (CLIENT_MONITOR, "mon", None, "monitor"),
        (PERIPHERAL_MONITOR | CLIENT_CONTROL, "pm", None, "monitor"),
        (0x100, "server-app", None, "other"),
    ],
)
def test_roles_from_services(services, client_id, signature, role):
    t = Trace()
    t.open(0.0, A, client_id=client_id, signature=signature, services=services)
    assert session(t.records, A).role == role


def test_recording_patterns_are_configurable():
    t = Trace()
    t.open(0.0, A, client_id="NICE-01", services=ALL_EVENTS)
    assert session(t.records, A).role == "bridge"
    assert session(t.records, A, AnalysisConfig(recording_patterns=("nice*",))).role == "recording"


def test_role_from_requested_services_when_open_fails():
    t = Trace()
    t.conn_event(0.0, A, "open")
    t.c2s(0.0, A, "OPEN_REQ", {"InvokeID": 1, "VersionNumber": 24, "IdleTimeout": 60, "PeripheralID": 5000,
                               "ServicesRequested": CLIENT_EVENTS | SUPERVISOR}, [("CLIENT_ID", "sup"), ("CLIENT_PASSWORD", b"")])
    t.s2c(0.2, A, "FAILURE_CONF", {"InvokeID": 1, "Status": 12})
    t.conn_event(0.3, A, "rst", "c2s")
    s = session(t.records, A)
    assert (s.role, s.role_source, s.open_status, s.open_failure) == ("supervisor", "open_req", "failed", "E_CTI_FUNCTION_NOT_AVAILABLE")
    assert (s.end_reason, s.end_by, s.closed_ts, s.active_from_ts) == ("rst", "client", T0 + 0.3, None)


def test_midstream_role_inference():
    t = Trace()
    bridge, agent, sup, mon, quiet = conn(1), conn(2), conn(3), conn(4), conn(5)
    for c in (bridge, agent, sup, mon, quiet):
        t.conn_event(0.0, c, "open", syn_seen=False)
    t.s2c(0.1, bridge, "AGENT_STATE_EVENT", {"MonitorID": 0, "PeripheralID": 5000})  # ALL_EVENTS delivery
    t.s2c(0.2, agent, "CALL_DELIVERED_EVENT", {"MonitorID": 17, "PeripheralID": 5000, "ConnectionCallID": 3})
    t.s2c(0.3, sup, "AGENT_TEAM_CONFIG_EVENT", {"PeripheralID": 5000, "TeamID": 4})
    t.s2c(0.31, sup, "AGENT_STATE_EVENT", {"MonitorID": 9, "PeripheralID": 5000})
    t.c2s(0.4, mon, "MONITOR_START_REQ", {"InvokeID": 5, "PeripheralID": 5000})
    t.c2s(0.5, quiet, "HEARTBEAT_REQ", {"InvokeID": 5})
    result = analyze(t.records)
    got = {s.conn: (s.role, s.role_source, s.midstream, s.client_id) for s in result.sessions}
    assert got == {
        bridge: ("bridge", "inferred", True, None),
        agent: ("agent", "inferred", True, None),
        sup: ("supervisor", "inferred", True, None),
        mon: ("monitor", "inferred", True, None),
        quiet: ("unknown", None, True, None),
    }
    assert result.session(bridge).protocol_version == 24
    assert result.session(bridge).version_source == "decoder"
    assert result.session(bridge).opened_ts == T0


def test_client_monitor_announcement_fills_midstream_identity():
    t = Trace()
    t.open(0.0, A, client_id="monitor", services=CLIENT_MONITOR)
    t.conn_event(0.5, B, "open", syn_seen=False)
    t.s2c(0.6, B, "CALL_DELIVERED_EVENT", {"MonitorID": 0, "PeripheralID": 5000, "ConnectionCallID": 3})
    # The monitor learns about session B (its client endpoint is 10.1.0.2:50002).
    t.s2c(1.0, A, "CLIENT_SESSION_OPENED_EVENT", {"SessionID": 77, "PeripheralID": 0xFFFFFFFF,
                                                   "ServicesGranted": ALL_EVENTS, "ClientPort": 50002},
          [("CLIENT_ADDRESS", "10.1.0.2"), ("CLIENT_ID", "RecordingServer"), ("CLIENT_SIGNATURE", "rec")])
    s = session(t.records, B)
    assert (s.client_id, s.session_id, s.role, s.role_source, s.services_granted) == (
        "RecordingServer", 77, "recording", "client_monitor", ALL_EVENTS)


def test_end_reasons():
    t = Trace()
    closer, finner, rster, idler, still = conn(1), conn(2), conn(3), conn(4), conn(5)
    for i, c in enumerate((closer, finner, rster, idler, still)):
        t.open(0.1 * i, c, client_id=f"c{i}", services=CLIENT_EVENTS, idle_timeout=20)
    t.c2s(1.0, closer, "CLOSE_REQ", {"InvokeID": 2, "Status": 0})
    t.s2c(1.1, closer, "CLOSE_CONF", {"InvokeID": 2})
    t.conn_event(1.2, closer, "fin", "c2s")
    t.conn_event(1.25, closer, "fin", "s2c")
    t.conn_event(2.0, finner, "fin", "c2s")
    t.c2s(2.5, rster, "HEARTBEAT_REQ", {"InvokeID": 2})
    t.conn_event(3.0, rster, "rst", "s2c")  # server reset 0.5 s after client traffic: not idle
    # idler: last client message at 0.3 (OPEN_REQ); server resets at 20.3 -> IdleTimeout 20 s
    t.conn_event(20.3, idler, "rst", "s2c")
    t.conn_event(25.0, still, "capture_end")
    result = analyze(t.records)
    got = {s.conn: (s.end_reason, s.end_by, s.closed_ts) for s in result.sessions}
    assert got == {
        closer: ("close", "client", T0 + 1.2),
        finner: ("fin", "client", T0 + 2.0),
        rster: ("rst", "server", T0 + 3.0),
        idler: ("idle_timeout", "server", T0 + 20.3),
        still: ("capture_end", None, None),
    }
    assert result.session(closer).duration_s == 1.2
    assert result.capture_end_ts == T0 + 25.0


def test_close_without_tcp_events():
    t = Trace()
    t.open(0.0, A, client_id="x", services=CLIENT_EVENTS)
    t.c2s(1.0, A, "CLOSE_REQ", {"InvokeID": 2})
    t.s2c(1.5, A, "CLOSE_CONF", {"InvokeID": 2})
    s = session(t.records, A)
    assert (s.end_reason, s.closed_ts) == ("close", T0 + 1.5)


def test_heartbeat_interval_and_missed_heartbeats():
    t = Trace()
    t.open(0.0, A, client_id="bridge", services=ALL_EVENTS, idle_timeout=20)
    hb_times = [5, 10, 15, 20, 35, 40, 45]  # 20 -> 35: two heartbeats (25, 30) missing
    for i, at in enumerate(hb_times):
        t.c2s(at, A, "HEARTBEAT_REQ", {"InvokeID": 10 + i})
        if at != 40:  # this one is never answered
            t.s2c(at + 0.004, A, "HEARTBEAT_CONF", {"InvokeID": 10 + i})
    t.conn_event(50.0, A, "capture_end")
    s = session(t.records, A)
    assert (s.heartbeats, s.heartbeat_interval_s, s.idle_timeout_ratio) == (7, 5.0, 4.0)
    assert (s.heartbeats_unanswered, s.heartbeat_gaps_missed, s.missed_heartbeats) == (1, 2, 3)
    assert s.end_reason == "capture_end"


def test_heartbeat_loss_then_idle_timeout():
    t = Trace()
    t.open(0.0, A, client_id="desk", services=CLIENT_EVENTS, idle_timeout=20)
    for i, at in enumerate((5.0, 10.0, 15.0)):
        t.c2s(at, A, "HEARTBEAT_REQ", {"InvokeID": 2 + i})
        t.s2c(at + 0.001, A, "HEARTBEAT_CONF", {"InvokeID": 2 + i})
    # The client goes silent; the server resets the connection 20 s after its last message.
    t.conn_event(35.2, A, "rst", "s2c")
    s = session(t.records, A)
    assert (s.end_reason, s.end_by, s.heartbeat_interval_s) == ("idle_timeout", "server", 5.0)
    # silence 15.0 -> 35.2 before the server's reset: heartbeats due at 20, 25, 30, 35 never came
    assert (s.heartbeat_gaps_missed, s.missed_heartbeats) == (4, 4)


def test_no_heartbeats_idle_timeout():
    t = Trace()
    t.open(0.0, A, client_id="x", services=CLIENT_EVENTS, idle_timeout=0xFFFFFFFF)
    t.conn_event(100.0, A, "rst", "s2c")
    s = session(t.records, A)
    assert (s.idle_timeout_s, s.no_heartbeats, s.end_reason, s.heartbeat_interval_s, s.missed_heartbeats) == (
        None, True, "rst", None, 0)


def test_connection_reuse_starts_a_new_session():
    t = Trace()
    t.open(0.0, A, client_id="first", services=CLIENT_EVENTS)
    t.conn_event(1.0, A, "rst", "c2s")
    t.open(2.0, A, client_id="second", services=ALL_EVENTS)
    result = analyze(t.records)
    assert [(s.client_id, s.role, s.end_reason) for s in result.sessions] == [
        ("first", "agent", "rst"), ("second", "bridge", "capture_end")]
    assert result.session(A).client_id == "second"


def test_anomaly_records_are_counted_not_fatal():
    from ctidissect.wire import Anomaly, Message, decode_buffer

    t = Trace()
    t.open(0.0, A, client_id="x", services=CLIENT_EVENTS)
    gap = Message(None, None, {}, [], [Anomaly("tcp.gap")], b"\x01\x02", 24, frame=50, ts=T0 + 0.5, conn=A, direction="s2c")
    t.records.append(gap)
    # A request cut short before its InvokeID cannot be paired: reported unanswered at once.
    (cut,) = decode_buffer(b"\x00\x00\x00\x10\x00\x00\x00\x05\x00\x00", 24)
    cut.frame, cut.ts, cut.conn, cut.direction = 51, T0 + 1, A, "c2s"
    t.records.append(cut)
    result = analyze(t.records)
    s = result.session(A)
    assert (s.anomaly_records, s.last_seen_ts, s.last_frame) == (1, T0 + 1, 51)
    assert [(p.request, p.invoke_id, p.status) for p in result.pairs][-1] == ("HEARTBEAT_REQ", None, "unanswered")
