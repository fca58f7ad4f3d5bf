"""The sans-IO server, message by message (GED-188 5.1, 5.5, 5.6, 7.2-7.5)."""

from __future__ import annotations

import random

import pytest
from simharness import Harness, names

from ctidissect.simulator import SimulatorConfig, config_from_mapping
from ctidissect.simulator.enum_values import CONTROL_FAILURE, STATUS
from ctidissect.wire import decode_buffer, encode_floating

BRIDGE = 0x10
AGENT = 0x7


@pytest.mark.parametrize("version, fixed", [(14, 26), (19, 30), (24, 32)])
def test_open_conf_layout_per_version(version, fixed):
    h = Harness()
    replies = h.open(1, version=version, services=AGENT, peripheral=5000, agent_id="1001")
    conf = replies[0]
    assert conf.name == "OPEN_CONF" and not conf.anomalies
    assert conf.fields["InvokeID"] == h.invoke and conf.fields["MonitorID"] >= 1
    # Fixed part size by version, then the floats in the session's own format.
    floating = encode_floating(conf.floating, version)
    assert len(conf.raw) - 8 == fixed + len(floating)
    assert conf.raw.endswith(floating) and conf.raw[8:12] == h.invoke.to_bytes(4, "big")
    # Floating tag/length: 1+1 bytes up to v19, 2+2 from v20 (first float: NUM_PERIPHERALS 228).
    first = conf.raw[8 + fixed:]
    assert first[:2] == (b"\xe4\x02" if version < 20 else b"\x00\xe4")
    assert conf.get("NUM_PERIPHERALS") == 1 and conf.get("PERIPHERAL_ID") == 5000


def test_bridge_gets_system_event_per_peripheral():
    cfg = config_from_mapping({"peripherals": [{"id": 5000}, {"id": 5001}]})
    h = Harness(cfg)
    replies = h.open(1, services=BRIDGE)
    assert names(replies) == ["OPEN_CONF", "SYSTEM_EVENT", "SYSTEM_EVENT"]
    assert [m.fields["SystemEventArg1"] for m in replies[1:]] == [5000, 5001]
    assert replies[0].fields["MonitorID"] == 0


@pytest.mark.parametrize(
    "kw, status",
    [
        ({"version": 12}, "E_CTI_INVALID_VERSION"),
        ({"version": 26}, "E_CTI_INVALID_VERSION"),
        ({"password": None}, "E_CTI_REQUIRED_DATA_MISSING"),
        ({"idle": 19}, "E_CTI_INVALID_TIMEOUT"),
        ({"extra": {"Reserved1": 1}}, "E_CTI_INVALID_RESERVED_FIELD"),
        ({"extra": {"Reserved3": 7}}, "E_CTI_INVALID_RESERVED_FIELD"),
        ({"services": 0x200}, "E_CTI_INVALID_SERVICE_MASK"),
        ({"services": 0x11}, "E_CTI_INVALID_SERVICE_MASK"),
        ({"services": AGENT, "peripheral": 5000}, "E_CTI_REQUIRED_DATA_MISSING"),
        ({"services": AGENT, "peripheral": 1234, "agent_id": "1001"}, "E_CTI_INVALID_PERIPHERAL_ID"),
        ({"services": AGENT | 0x80, "peripheral": 5000, "agent_id": "1001"}, "E_CTI_FUNCTION_NOT_AVAILABLE"),
        ({"services": 0x80}, "E_CTI_FUNCTION_NOT_AVAILABLE"),
    ],
)
def test_open_failures(kw, status):
    h = Harness()
    replies = h.open(1, **kw)
    assert names(replies) == ["FAILURE_CONF"]
    assert replies[0].fields == {"InvokeID": h.invoke, "Status": STATUS[status]}


def test_idle_timeout_none_and_twenty_are_accepted():
    h = Harness()
    assert names(h.open(1, idle=20)) == ["OPEN_CONF", "SYSTEM_EVENT"]
    assert names(h.open(2, idle=0xFFFFFFFF)) == ["OPEN_CONF", "SYSTEM_EVENT"]


def test_requests_before_open_and_open_twice():
    h = Harness()
    h.connect(1)
    inv = h.send(1, "HEARTBEAT_REQ")
    h.advance()
    assert [(m.name, m.fields["InvokeID"], m.fields["Status"]) for m in h.take(1)] == [
        ("FAILURE_CONF", inv, STATUS["E_CTI_SESSION_NOT_OPEN"])
    ]
    h.open(2)
    inv = h.send(2, "OPEN_REQ", {"VersionNumber": 24, "IdleTimeout": 0xFFFFFFFF, "PeripheralID": 0xFFFFFFFF,
                                 "ServicesRequested": BRIDGE}, [("CLIENT_ID", "x"), ("CLIENT_PASSWORD", b"")])
    h.advance()
    assert h.take(2)[0].fields == {"InvokeID": inv, "Status": STATUS["E_CTI_SESSION_ALREADY_OPEN"]}


def test_heartbeat_and_close():
    h = Harness()
    h.open(1)
    inv = h.send(1, "HEARTBEAT_REQ")
    h.advance()
    assert [(m.name, m.fields["InvokeID"]) for m in h.take(1)] == [("HEARTBEAT_CONF", inv)]
    inv = h.send(1, "CLOSE_REQ", {"Status": 0})
    h.advance()
    assert [(m.name, m.fields["InvokeID"]) for m in h.take(1)] == [("CLOSE_CONF", inv)]
    assert h.closed == {1: False}  # FIN after CLOSE_CONF


def test_idle_timeout_resets_the_connection():
    h = Harness()
    h.open(1, idle=20)
    h.advance(10.0)
    h.send(1, "HEARTBEAT_REQ")  # activity at t=10 moves the deadline to t=30
    h.advance(29.0)
    assert 1 not in h.closed
    h.advance(30.5)
    assert h.closed == {1: True}  # reset (7.2 item 5)
    assert h.server.faults_applied[-1]["kind"] == "idle_timeout_close"


def test_malformed_messages_get_failure_conf_and_the_session_goes_on():
    h = Harness()
    h.open(1)
    h.take(1)
    cases = [
        (bytes.fromhex("00000008 00002710 00000051 0000000a"), 0x51, "E_CTI_INVALID_MESSAGE_LENGTH"),
        (bytes.fromhex("00000008 00000026 00000052 00001388"), 0x52, "E_CTI_INVALID_MESSAGE_LENGTH"),
        (bytes.fromhex("0000000d 00000005 00000053 0001ff41 4243444546"), 0x53, "E_CTI_BAD_MESSAGE_FORMAT"),
        (bytes.fromhex("00000004 00000006 00000054"), 0x54, "E_CTI_INVALID_REQUEST_TYPE"),
    ]
    for data, invoke, status in cases:
        # Byte by byte: the reframer must not care how the bytes arrive.
        for b in data:
            h.send_bytes(1, bytes([b]))
        h.advance()
        assert [(m.name, m.fields) for m in h.take(1)] == [("FAILURE_CONF", {"InvokeID": invoke, "Status": STATUS[status]})]
    inv = h.send(1, "HOLD_CALL_REQ", {"PeripheralID": 5000})
    h.advance()
    assert h.take(1)[0].fields == {"InvokeID": inv, "Status": STATUS["E_CTI_FUNCTION_NOT_AVAILABLE"]}
    inv = h.send(1, "HEARTBEAT_REQ")
    h.advance()
    assert [(m.name, m.fields["InvokeID"]) for m in h.take(1)] == [("HEARTBEAT_CONF", inv)]
    assert 1 not in h.closed


def test_lost_framing_closes_the_connection():
    h = Harness()
    h.open(1)
    h.take(1)
    h.send_bytes(1, bytes.fromhex("00100000 00000005 00000055"))
    h.advance()
    assert [(m.name, m.fields) for m in h.take(1)] == [
        ("FAILURE_CONF", {"InvokeID": 0x55, "Status": STATUS["E_CTI_INVALID_MESSAGE_LENGTH"]})
    ]
    assert h.closed == {1: False}


def test_v14_session_uses_one_byte_floats_and_v24_two():
    h = Harness()
    h.open(1, version=14, services=BRIDGE)
    h.open(2, version=24, services=BRIDGE)
    h.take(1), h.take(2)
    h.agent(3, "1001", version=24)
    for conn, version in ((1, 14), (2, 24)):
        msgs = decode_buffer(bytes(h.raw[conn]), version)
        assert all(not m.anomalies for m in msgs)
        events = [m for m in msgs if m.name == "AGENT_STATE_EVENT"]
        assert [m.fields["AgentState"] for m in events] == [0, 2, 3]
        assert all(m.get("AGENT_ID") == "1001" and m.fields["MonitorID"] == 0 for m in events)
    # The same bytes decoded with the other format do not decode cleanly.
    assert any(m.anomalies for m in decode_buffer(bytes(h.raw[1]), 24))


def test_agent_state_control_and_query():
    h = Harness()
    h.open(1, services=BRIDGE)
    h.agent(2, "1001", ready=False)
    h.take(1)
    inv = h.send(2, "SET_AGENT_STATE_REQ", {"PeripheralID": 5000, "AgentState": 3}, [("AGENT_INSTRUMENT", "1001")])
    h.advance()
    got = h.take(2)
    assert [(m.name, m.fields.get("InvokeID"), m.fields.get("AgentState")) for m in got] == [
        ("SET_AGENT_STATE_CONF", inv, None), ("AGENT_STATE_EVENT", None, 3)]
    assert got[1].fields["MonitorID"] >= 1 and got[1].fields["SessionID"] >= 1
    assert [m.fields["AgentState"] for m in h.take(1)] == [3]
    inv = h.send(2, "QUERY_AGENT_STATE_REQ", {"PeripheralID": 5000}, [("AGENT_ID", "1001")])
    h.advance()
    conf = h.take(2)[0]
    assert conf.name == "QUERY_AGENT_STATE_CONF" and conf.fields["InvokeID"] == inv and conf.fields["AgentState"] == 3
    inv = h.send(2, "SET_AGENT_STATE_REQ", {"PeripheralID": 5000, "AgentState": 4}, [("AGENT_INSTRUMENT", "1001")])
    h.advance()
    assert h.take(2)[0].fields == {"InvokeID": inv, "FailureCode": CONTROL_FAILURE["CF_VALUE_OUT_OF_RANGE"],
                                   "PeripheralErrorCode": 0}
    # A bridge without CLIENT_CONTROL may not change agent states.
    inv = h.send(1, "SET_AGENT_STATE_REQ", {"PeripheralID": 5000, "AgentState": 2}, [("AGENT_ID", "1001")])
    h.advance()
    assert h.take(1)[0].fields == {"InvokeID": inv, "Status": STATUS["E_CTI_FUNCTION_NOT_AVAILABLE"]}


def test_make_answer_clear_and_set_call_data_with_consistent_ids():
    cfg = config_from_mapping({"calls": [{"at": 3, "agent": "1001", "ani": "5550101"}]})
    h = Harness(cfg)
    h.open(1, services=BRIDGE)
    h.agent(2, "1001")
    h.advance(4.0)
    delivered = [m for m in h.take(2) if m.name == "CALL_DELIVERED_EVENT"]
    assert len(delivered) == 1
    call_id = delivered[0].fields["ConnectionCallID"]
    inv = h.send(2, "ANSWER_CALL_REQ", {"PeripheralID": 5000, "ConnectionCallID": call_id}, [("CONNECTION_DEVID", "1001")])
    h.advance()
    assert names(h.take(2)) == ["ANSWER_CALL_CONF", "CALL_ESTABLISHED_EVENT", "AGENT_STATE_EVENT"]
    inv = h.send(2, "SET_CALL_DATA_REQ", {"PeripheralID": 5000, "ConnectionCallID": call_id},
                 [("CALL_VAR_1", "ticket-1")])
    h.advance()
    got = h.take(2)
    assert (got[0].name, got[0].fields["InvokeID"]) == ("SET_CALL_DATA_CONF", inv)
    assert got[1].name == "CALL_DATA_UPDATE_EVENT" and got[1].get("CALL_VAR_1") == "ticket-1"
    inv = h.send(2, "SET_CALL_DATA_REQ", {"PeripheralID": 5000, "ConnectionCallID": 4242}, [("CALL_VAR_1", "x")])
    h.advance()
    assert h.take(2)[0].fields == {"InvokeID": inv, "Status": STATUS["E_CTI_INVALID_CALLID"]}
    inv = h.send(2, "CLEAR_CALL_REQ", {"PeripheralID": 5000, "ConnectionCallID": call_id}, [("CONNECTION_DEVID", "1001")])
    h.advance()
    assert names(h.take(2)) == ["CLEAR_CALL_CONF", "CALL_CONNECTION_CLEARED_EVENT", "CALL_CLEARED_EVENT",
                                "END_CALL_EVENT", "AGENT_STATE_EVENT"]
    bridge = [m for m in h.take(1) if "ConnectionCallID" in m.fields]
    assert names(bridge) == ["BEGIN_CALL_EVENT", "CALL_DELIVERED_EVENT", "CALL_ESTABLISHED_EVENT",
                             "CALL_DATA_UPDATE_EVENT", "CALL_CONNECTION_CLEARED_EVENT", "CALL_CLEARED_EVENT",
                             "END_CALL_EVENT"]
    assert {(m.fields["PeripheralID"], m.fields["ConnectionCallID"], m.fields["ConnectionDeviceIDType"],
             m.get("CONNECTION_DEVID"), m.fields["MonitorID"]) for m in bridge} == {(5000, call_id, 0, "1001", 0)}
    inv = h.send(2, "CLEAR_CALL_REQ", {"PeripheralID": 5000, "ConnectionCallID": call_id})
    h.advance()
    assert h.take(2)[0].fields["FailureCode"] == CONTROL_FAILURE["CF_INVALID_CSTA_CALL_IDENTIFIER"]


def test_make_call_far_end_answers():
    h = Harness()
    h.agent(1, "1001", ready=False)
    inv = h.send(1, "MAKE_CALL_REQ", {"PeripheralID": 5000}, [("DIALED_NUMBER", "5550100")])
    h.advance(10.0)
    got = h.take(1)
    assert (got[0].name, got[0].fields["InvokeID"]) == ("MAKE_CALL_CONF", inv)
    assert names(got[1:]) == ["BEGIN_CALL_EVENT", "CALL_SERVICE_INITIATED_EVENT", "CALL_ORIGINATED_EVENT",
                              "AGENT_STATE_EVENT", "CALL_DELIVERED_EVENT", "CALL_ESTABLISHED_EVENT"]
    assert {m.fields["ConnectionCallID"] for m in got[1:] if "ConnectionCallID" in m.fields} == {
        got[0].fields["NewConnectionCallID"]}
    inv = h.send(1, "MAKE_CALL_REQ", {"PeripheralID": 5000}, [])
    h.advance()
    assert h.take(1)[0].fields["FailureCode"] == CONTROL_FAILURE["CF_INVALID_CALLED_DEVICE"]


def _emergency_setup(supervisor_logged_in: bool):
    cfg = config_from_mapping({"calls": [{"at": 6, "agent": "1001"}]})
    h = Harness(cfg)
    h.open(1, services=BRIDGE, client_id="bridge-1")
    h.open(2, services=BRIDGE, client_id="recorder-1")
    if supervisor_logged_in:
        h.agent(3, "9001", supervisor=True, ready=False)
    h.agent(4, "1001")
    h.advance(7.0)
    call_id = next(m for m in h.take(4) if m.name == "CALL_DELIVERED_EVENT").fields["ConnectionCallID"]
    h.send(4, "ANSWER_CALL_REQ", {"PeripheralID": 5000, "ConnectionCallID": call_id})
    h.advance()
    for conn in (1, 2, 3, 4):
        if conn in h.inbox:
            h.take(conn)
    return h, call_id


def test_emergency_with_supervisor_found():
    h, call_id = _emergency_setup(True)
    inv = h.send(4, "EMERGENCY_CALL_REQ", {"PeripheralID": 5000, "ConnectionCallID": call_id},
                 [("CONNECTION_DEVID", "1001"), ("AGENT_ID", "1001")])
    h.advance()
    agent = h.take(4)
    conf = agent[0]
    assert (conf.name, conf.fields["InvokeID"]) == ("EMERGENCY_CALL_CONF", inv)
    new_call = conf.fields["ConnectionCallID"]
    assert new_call != call_id
    begin = next(m for m in agent if m.name == "BEGIN_CALL_EVENT")
    assert begin.fields["CallType"] == 20 and begin.fields["ConnectionCallID"] == new_call
    sup = h.take(3)
    assert names(sup) == ["BEGIN_CALL_EVENT", "CALL_DELIVERED_EVENT"]
    assert sup[1].fields["EventCause"] == 44 and sup[1].fields["LocalConnectionState"] == 2
    assert sup[1].get("CONNECTION_DEVID") == "9001"
    h.send(3, "ANSWER_CALL_REQ", {"PeripheralID": 5000, "ConnectionCallID": new_call})
    h.advance()
    established = [m for m in h.take(3) if m.name == "CALL_ESTABLISHED_EVENT"]
    assert established and all(m.fields["EventCause"] == 44 for m in established)
    for conn in (1, 2):
        ev = [m for m in h.take(conn) if m.name == "EMERGENCY_CALL_EVENT"]
        assert len(ev) == 1
        assert ev[0].fields == {"PeripheralID": 5000, "ConnectionCallID": call_id, "ConnectionDeviceIDType": 0,
                                "SessionID": h.server.sessions[4].session_id}
        assert [i.name for i in ev[0].floating] == ["CONNECTION_DEVID", "CLIENT_ID", "CLIENT_ADDRESS",
                                                     "AGENT_EXTENSION", "AGENT_ID", "AGENT_INSTRUMENT"]
        assert ev[0].get("CLIENT_ID") == "client-4" and ev[0].get("CLIENT_ADDRESS") == "10.1.0.10"


def test_emergency_without_supervisor_still_fans_out():
    h, call_id = _emergency_setup(False)
    inv = h.send(4, "EMERGENCY_CALL_REQ", {"PeripheralID": 5000, "ConnectionCallID": 0xFFFFFFFF,
                                           "ConnectionDeviceIDType": 0xFFFF})
    h.advance()
    assert [(m.name, m.fields) for m in h.take(4)] == [
        ("FAILURE_CONF", {"InvokeID": inv, "Status": STATUS["E_CTI_SUPERVISOR_NOT_FOUND"]})]
    for conn in (1, 2):
        ev = [m for m in h.take(conn) if m.name == "EMERGENCY_CALL_EVENT"]
        assert len(ev) == 1 and ev[0].fields["ConnectionCallID"] == call_id


def test_supervisor_assist_list_and_monitor_team():
    h = Harness()
    h.agent(3, "9001", supervisor=True, ready=False)
    h.agent(4, "1001", ready=False)
    h.take(3)
    inv = h.send(3, "LIST_AGENT_TEAM_REQ", {"SupervisorID": 0})
    h.advance()
    conf = h.take(3)[0]
    assert conf.name == "LIST_AGENT_TEAM_CONF" and conf.fields == {"InvokeID": inv, "NumberOfAgentTeams": 1,
                                                                   "SegmentNumber": 1, "More": 0}
    assert conf.get_all("LIST_TEAM_ID") == [5001]
    inv = h.send(3, "MONITOR_AGENT_TEAM_START_REQ", {"TeamID": 5001})
    h.advance()
    monitor = h.take(3)[0].fields["MonitorID"]
    h.send(4, "SET_AGENT_STATE_REQ", {"PeripheralID": 5000, "AgentState": 3}, [("AGENT_ID", "1001")])
    h.advance()
    team_events = [m for m in h.take(3) if m.name == "AGENT_STATE_EVENT" and m.fields["MonitorID"] == monitor]
    assert [m.get("AGENT_ID") for m in team_events] == ["1001"]
    h.take(4)
    inv = h.send(4, "SUPERVISOR_ASSIST_REQ", {"PeripheralID": 5000, "ConnectionCallID": 0xFFFFFFFF})
    h.advance()
    got = h.take(4)
    assert (got[0].name, got[0].fields["InvokeID"]) == ("SUPERVISOR_ASSIST_CONF", inv)
    sup = [m for m in h.take(3) if m.name == "CALL_DELIVERED_EVENT"]
    assert sup[0].fields["EventCause"] == 43
    inv = h.send(3, "MONITOR_AGENT_TEAM_STOP_REQ", {"MonitorID": monitor})
    h.advance()
    assert [(m.name, m.fields) for m in h.take(3)] == [("MONITOR_AGENT_TEAM_STOP_CONF", {"InvokeID": inv})]
    # The supervisor is now alerting on the assist call: a second request finds nobody.
    inv = h.send(4, "SUPERVISOR_ASSIST_REQ", {"PeripheralID": 5000, "ConnectionCallID": 0xFFFFFFFF})
    h.advance()
    assert h.take(4)[0].fields == {"InvokeID": inv, "Status": STATUS["E_CTI_SUPERVISOR_NOT_FOUND"]}
    # Supervisor functions need the SUPERVISOR service.
    inv = h.send(4, "LIST_AGENT_TEAM_REQ", {"SupervisorID": 0})
    h.advance()
    assert h.take(4)[0].fields == {"InvokeID": inv, "Status": STATUS["E_CTI_FUNCTION_NOT_AVAILABLE"]}


def test_faults_drop_delay_fail():
    cfg = config_from_mapping({"faults": [
        {"kind": "drop_conf", "on": "HEARTBEAT_REQ", "count": 2},
        {"kind": "delay_conf", "on": "HEARTBEAT_REQ", "count": 3, "delay_ms": 5000},
        {"kind": "fail", "on": "HEARTBEAT_REQ", "count": 4, "code": "E_CTI_TIMEOUT"},
    ]})
    h = Harness(cfg)
    h.open(1)
    h.take(1)
    invs = [h.send(1, "HEARTBEAT_REQ") for _ in range(5)]
    h.advance(1.0)
    assert [(m.name, m.fields["InvokeID"]) for m in h.take(1)] == [
        ("HEARTBEAT_CONF", invs[0]), ("FAILURE_CONF", invs[3]), ("HEARTBEAT_CONF", invs[4])]
    h.advance(6.0)
    assert [(m.name, m.fields["InvokeID"]) for m in h.take(1)] == [("HEARTBEAT_CONF", invs[2])]
    assert [f["kind"] for f in h.server.faults_applied] == ["drop_conf", "delay_conf", "fail"]


def test_side_down_closes_its_connections_only():
    h = Harness()
    h.open(1, side="A")
    h.open(2, side="B")
    h.server.take_side_down("A", h.now, graceful=True)
    h.advance()
    assert [(m.name, m.fields["Status"]) for m in h.take(1)] == [("FAILURE_EVENT", STATUS["E_CTI_CTI_SERVER_OFFLINE"])]
    assert h.closed == {1: False} and not h.server.accepting("A") and h.server.accepting("B")


def test_same_client_reopening_replaces_its_old_session():
    h = Harness()
    h.open(1, services=AGENT, peripheral=5000, agent_id="1001", client_id="desk")
    assert names(h.open(2, services=AGENT, peripheral=5000, agent_id="1001", client_id="other"))[0] == "FAILURE_CONF"
    assert names(h.open(3, services=AGENT, peripheral=5000, agent_id="1001", client_id="desk")) == ["OPEN_CONF"]
    assert [(m.name, m.fields["Status"]) for m in h.take(1)] == [("FAILURE_EVENT", STATUS["E_CTI_NEW_SESSION_OPENED"])]


def test_random_bytes_never_break_the_server():
    rng = random.Random(5)
    h = Harness(SimulatorConfig.default())
    h.open(1)
    for conn in range(2, 40):
        h.connect(conn)
        blob = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 400)))
        if rng.random() < 0.5:  # sometimes a plausible header in front
            blob = rng.choice([3, 5, 7, 36, 38, 121]).to_bytes(4, "big").rjust(8, b"\0")[::-1][::-1] + blob
        pos = 0
        while pos < len(blob):
            step = rng.randrange(1, 50)
            h.send_bytes(conn, blob[pos:pos + step])
            pos += step
        h.advance()
        for m in h.take(conn):
            assert not m.anomalies and m.name in ("FAILURE_CONF", "OPEN_CONF", "SYSTEM_EVENT", "HEARTBEAT_CONF",
                                                  "CLOSE_CONF", "CONTROL_FAILURE_CONF"), m
    inv = h.send(1, "HEARTBEAT_REQ")
    h.advance()
    assert [(m.name, m.fields["InvokeID"]) for m in h.take(1)][-1] == ("HEARTBEAT_CONF", inv)
