"""The byte-level test vectors of GED-188.md section 9, decoded field for field and encoded
back byte for byte."""

from __future__ import annotations

import pytest

from ctidissect.wire import decode_buffer, encode


def frame(type_and_body_hex: str) -> bytes:
    """Section 9 prints messages without the 4-byte MessageLength word; prepend it."""
    data = bytes.fromhex(type_and_body_hex.replace(" ", ""))
    return (len(data) - 4).to_bytes(4, "big") + data


def s(text: str) -> str:
    """hex of an ASCII string with its NUL."""
    return (text.encode() + b"\0").hex()


FAILURE_CONF = frame("00000001 01020304 00000061")
FAILURE_EVENT = frame("00000002 00000011")
OPEN_REQ_V20 = frame(
    "00000003 04030201 00000014 FFFFFFFF 02030405 00000010 00006000 00000208 00000000 00000000 "
    f"00000000 00000000 0001 0009 {s('ClientID')} 0002 0000 0003 0010 {s('ClientSignature')} "
    f"0004 0005 {s('3001')} 0005 0005 {s('1001')} 0006 0005 {s('3001')} 0061 0004 03040506"
)
SUPERVISOR_ASSIST_CONF_V19 = frame(f"00000077 02030405 01020304 0001 0304 0008 19 13 {s('ConnectionDeviceID')}")
EMERGENCY_CALL_EVENT_V19 = frame(
    f"0000007B 01020304 03040506 0001 02030405 19 13 {s('ConnectionDeviceID')} 01 09 {s('ClientID')}"
)
MONITOR_AGENT_TEAM_START_CONF = frame("00000088 01020304 05060708")
LIST_AGENT_TEAM_CONF_V19 = frame("00000086 02030405 0040 0002 0001 5C 04 03040506")
AGENT_TEAM_CONFIG_EVENT = frame(f"00000080 01020304 02030405 0304 0002 F3 0E {s('AgentTeamName')}")


def one(data: bytes, version: int):
    msgs = decode_buffer(data, version)
    assert len(msgs) == 1
    return msgs[0]


@pytest.mark.parametrize("version", [14, 19, 20, 24])
def test_failure_conf_any_version(version):
    m = one(FAILURE_CONF, version)
    assert (m.type, m.name) == (1, "FAILURE_CONF")
    assert m.fields == {"InvokeID": 0x01020304, "Status": 97}
    assert m.floating == [] and m.anomalies == []
    assert encode(m) == FAILURE_CONF


@pytest.mark.parametrize("version", [14, 24])
def test_failure_event(version):
    m = one(FAILURE_EVENT, version)
    assert (m.name, m.fields, m.anomalies) == ("FAILURE_EVENT", {"Status": 17}, [])
    assert encode(m) == FAILURE_EVENT


def test_open_req_v20_hs_vector():
    m = one(OPEN_REQ_V20, 20)
    assert m.name == "OPEN_REQ"
    assert m.fields == {
        "InvokeID": 0x04030201,
        "VersionNumber": 20,
        "IdleTimeout": 0xFFFFFFFF,
        "PeripheralID": 0x02030405,
        "ServicesRequested": 0x10,
        "CallMsgMask": 0x6000,
        "AgentStateMask": 0x208,
        "ConfigMsgMask": 0,
        "Reserved1": 0,
        "Reserved2": 0,
        "Reserved3": 0,
    }
    assert [(i.tag, i.name, i.value) for i in m.floating] == [
        (1, "CLIENT_ID", "ClientID"),
        (2, "CLIENT_PASSWORD", b""),
        (3, "CLIENT_SIGNATURE", "ClientSignature"),
        (4, "AGENT_EXTENSION", "3001"),
        (5, "AGENT_ID", "1001"),
        (6, "AGENT_INSTRUMENT", "3001"),
        (97, "APP_PATH_ID", 0x03040506),
    ]
    assert m.anomalies == []
    assert encode(m) == OPEN_REQ_V20


def test_supervisor_assist_conf_v19_sc_vector():
    m = one(SUPERVISOR_ASSIST_CONF_V19, 19)
    assert m.name == "SUPERVISOR_ASSIST_CONF"
    assert m.fields == {
        "InvokeID": 0x02030405,
        "ConnectionCallID": 0x01020304,
        "ConnectionDeviceIDType": 1,
        "LineHandle": 0x0304,
        "LineType": 8,
    }
    assert [(i.tag, i.name, i.value) for i in m.floating] == [(25, "CONNECTION_DEVID", "ConnectionDeviceID")]
    assert m.anomalies == []
    assert encode(m) == SUPERVISOR_ASSIST_CONF_V19
    # The v9 guide's maximum size: 8 + 14 + (1+1+64) = 88 bytes with 1-byte tag/length.
    assert len(SUPERVISOR_ASSIST_CONF_V19) == 8 + 14 + 2 + 19


def test_emergency_call_event_v19_sc_vector():
    m = one(EMERGENCY_CALL_EVENT_V19, 19)
    assert m.name == "EMERGENCY_CALL_EVENT"
    assert m.fields == {
        "PeripheralID": 0x01020304,
        "ConnectionCallID": 0x03040506,
        "ConnectionDeviceIDType": 1,
        "SessionID": 0x02030405,
    }
    assert [(i.tag, i.name, i.value) for i in m.floating] == [
        (25, "CONNECTION_DEVID", "ConnectionDeviceID"),
        (1, "CLIENT_ID", "ClientID"),
    ]
    assert m.anomalies == []
    assert encode(m) == EMERGENCY_CALL_EVENT_V19


def test_monitor_agent_team_start_conf():
    m = one(MONITOR_AGENT_TEAM_START_CONF, 19)
    assert (m.name, m.fields) == ("MONITOR_AGENT_TEAM_START_CONF", {"InvokeID": 0x01020304, "MonitorID": 0x05060708})
    assert encode(m) == MONITOR_AGENT_TEAM_START_CONF


def test_list_agent_team_conf_v19_count_differs_from_items():
    # 10.22: NumberOfAgentTeams says 64 but one LIST_TEAM_ID follows; no hard failure.
    m = one(LIST_AGENT_TEAM_CONF_V19, 19)
    assert m.name == "LIST_AGENT_TEAM_CONF"
    assert m.fields == {"InvokeID": 0x02030405, "NumberOfAgentTeams": 64, "SegmentNumber": 2, "More": 1}
    assert [(i.tag, i.name, i.value) for i in m.floating] == [(92, "LIST_TEAM_ID", 0x03040506)]
    assert m.anomalies == []
    assert encode(m) == LIST_AGENT_TEAM_CONF_V19


def test_agent_team_config_event_pre_v19_layout():
    m = one(AGENT_TEAM_CONFIG_EVENT, 18)
    assert m.name == "AGENT_TEAM_CONFIG_EVENT"
    assert m.fields == {
        "PeripheralID": 0x01020304,
        "TeamID": 0x02030405,
        "NumberOfAgents": 0x0304,
        "ConfigOperation": 2,
    }
    assert [(i.tag, i.name, i.value) for i in m.floating] == [(243, "AGENT_TEAM_NAME", "AgentTeamName")]
    assert m.anomalies == []
    assert encode(m) == AGENT_TEAM_CONFIG_EVENT


def test_agent_team_config_event_read_as_v19_overruns():
    # Read with the v19+ 16-byte layout, F3 0E 41 67 becomes DepartmentID and the floats overrun.
    m = one(AGENT_TEAM_CONFIG_EVENT, 19)
    assert m.fields["DepartmentID"] == int.from_bytes(bytes.fromhex("F30E4167"), "big", signed=True)
    assert "float.overrun" in m.anomaly_codes
    assert m.raw == AGENT_TEAM_CONFIG_EVENT
