"""Interactive display: show() prints enum names, masks, times and tag names; summary()
lines read ``CTI OPEN_REQ InvokeID=1 VersionNumber=24``."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import ls

from ctidissect.catalogue import MESSAGES
from ctidissect.scapy_layer import CTI, MESSAGE_CLASSES, CTIFloat, CTIStream, message
from ctidissect.wire import encode_message


def test_show_enum_field_by_name(capsys):
    data = encode_message("AGENT_STATE_EVENT", {"AgentState": 3, "SkillGroupState": 4}, [("AGENT_ID", "1001")])
    CTI(data).show()
    out = capsys.readouterr().out
    assert "AgentState= AVAILABLE" in out
    assert "SkillGroupState= TALKING" in out
    assert "MessageType= AGENT_STATE_EVENT" in out
    assert "tag       = AGENT_ID" in out
    assert "value     = '1001'" in out


def test_show_unknown_enum_value_keeps_number(capsys):
    CTI(encode_message("AGENT_STATE_EVENT", {"AgentState": 77})).show()
    assert "AgentState= 77" in capsys.readouterr().out


def test_mask_and_time_and_bool_reprs(capsys):
    pkt = CTI() / MESSAGE_CLASSES["OPEN_CONF"](
        InvokeID=1,
        ServicesGranted="CTI_SERVICE_CLIENT_EVENTS|CTI_SERVICE_CLIENT_CONTROL",
        ICMCentralControllerTime=1_700_000_000,
        PeripheralOnline=1,
    )
    pkt.show()
    out = capsys.readouterr().out
    assert "ServicesGranted= 0x00000005 (CTI_SERVICE_CLIENT_EVENTS|CTI_SERVICE_CLIENT_CONTROL)" in out
    assert "ICMCentralControllerTime= 1700000000 (2023-11-14 22:13:20 UTC)" in out
    assert "PeripheralOnline= True" in out


def test_enum_label_follows_version():
    # CallType 27 is named differently in v14-v18 (catalogue override, 10.3).
    name = next(m.name for m in MESSAGES for f in (m.fixed or ()) if f.enum == "CallType" and f.name == "CallType")
    cls = MESSAGE_CLASSES[name]
    old = CTI(version=15) / cls(CallType=27)
    new = CTI(version=24) / cls(CallType=27)
    f = old.payload.get_field("CallType")
    assert f.i2repr(old.payload, 27) == "CALLTYPE_NON_ACD"
    assert f.i2repr(new.payload, 27) != "CALLTYPE_NON_ACD"


def test_summary_lines():
    pkt = CTI(bytes(CTI() / MESSAGE_CLASSES["OPEN_REQ"](InvokeID=1, VersionNumber=24)))
    assert pkt.summary() == "CTI OPEN_REQ InvokeID=1 VersionNumber=24"
    fail = CTI(encode_message("FAILURE_CONF", {"InvokeID": 4, "Status": 1}))
    assert fail.summary().startswith("CTI FAILURE_CONF InvokeID=4 Status=")
    unknown = CTI(bytes.fromhex("00000003 0000ffff 010203"))
    assert unknown.summary() == "CTI type=65535 body=3 bytes"
    stream = CTIStream(
        encode_message("HEARTBEAT_REQ", {"InvokeID": 1}) + encode_message("HEARTBEAT_CONF", {"InvokeID": 1})
    )
    assert stream.summary() == "CTIStream [CTI HEARTBEAT_REQ InvokeID=1; CTI HEARTBEAT_CONF InvokeID=1]"
    full = Ether() / IP() / TCP(sport=50000, dport=42027) / stream
    assert full.summary().endswith("/ CTIStream [CTI HEARTBEAT_REQ InvokeID=1; CTI HEARTBEAT_CONF InvokeID=1]")
    assert CTIFloat(tag="CLIENT_ID", value="me").summary() == "CLIENT_ID='me'"


def test_ls_and_repr_work(capsys):
    ls(MESSAGE_CLASSES["OPEN_REQ"])
    out = capsys.readouterr().out
    assert "VersionNumber" in out and "floating" in out
    assert "OPEN_REQ" in repr(message("OPEN_REQ", InvokeID=3))
