"""Crafting and round trips: every message type with a known layout builds from keyword
arguments byte-identically to ``encode_message`` and dissects back field for field, in both
floating formats; version-dependent fields follow the catalogue for every version."""

from __future__ import annotations

import pytest
from scapy_testlib import field_values, floating_items, layout_messages

from ctidissect.catalogue import MESSAGES, MESSAGES_BY_NAME
from ctidissect.catalogue.versions import MAX_VERSION, MIN_VERSION
from ctidissect.scapy_layer import (
    CTI,
    MESSAGE_CLASSES,
    CTI_Raw,
    CTI_RawInvoke,
    CTI_Unknown,
    CTIFloat,
    CTIMessage,
    default_version,
    get_default_version,
    message,
    set_default_version,
)
from ctidissect.wire import FloatItem, NamedArray, NamedVar, decode_buffer, encode_message

VERSIONS = [14, 19, 20, 24]  # 19 = last 1+1-byte floating format, 20+ = 2+2


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("msg", layout_messages(), ids=lambda m: m.name)
def test_roundtrip_every_layout(msg, version):
    fields = field_values(msg, version)
    items = floating_items(msg, version)
    expected = encode_message(msg.name, fields, items, version)
    cls = MESSAGE_CLASSES[msg.name]
    pkt = CTI(version=version) / cls(**fields, floating=items)
    data = bytes(pkt)
    assert data == expected
    # The same with explicit CTIFloat items.
    pkt2 = CTI(version=version) / cls(**fields, floating=[CTIFloat(tag=t, value=v) for t, v in items])
    assert bytes(pkt2) == expected

    back = CTI(data, version=version)
    body = back[cls]
    assert back.MessageType == msg.type and back.MessageLength == len(data) - 8
    assert back.anomalies == []
    assert body.wire_fields() == fields
    for name, value in fields.items():
        assert getattr(body, name) == value
    assert [(i.tag, i.value) for i in body.floating] == items
    assert body.trailing == b""
    assert bytes(back) == data  # from the raw cache
    back.clear_cache()
    assert bytes(back) == data  # rebuilt from the dissected values


@pytest.mark.parametrize("version", [19, 24])
@pytest.mark.parametrize("msg", [m for m in MESSAGES if m.fixed is None], ids=lambda m: m.name)
def test_layoutless_messages_keep_raw_body(msg, version):
    cls = MESSAGE_CLASSES[msg.name]
    assert issubclass(cls, CTI_Raw)
    body = bytes(range(7))
    data = bytes(CTI(version=version) / cls(body=body))
    assert data == encode_message(msg.name, body=body, version=version)
    back = CTI(data, version=version)
    assert isinstance(back.payload, cls)
    assert [a.code for a in back.anomalies] == ["layout.unknown"]
    if msg.leading_invoke_id:
        # 7.1: the first UINT is the InvokeID, the rest of the body stays raw.
        assert issubclass(cls, CTI_RawInvoke)
        assert back.payload.InvokeID == 0x00010203 and back.payload.body == body[4:]
        assert back.to_message().fields == {"InvokeID": 0x00010203}
        assert bytes(CTI(version=version) / cls(InvokeID=0x00010203, body=body[4:])) == data
    else:
        assert not issubclass(cls, CTI_RawInvoke)
        assert back.payload.body == body
        assert back.to_message().fields == {}
    back.clear_cache()
    assert bytes(back) == data


def test_layoutless_request_and_reply_pair_by_invoke_id():
    req = MESSAGE_CLASSES["MEDIA_LOGIN_REQ"](InvokeID=7, body=b"\xaa\xbb")
    assert bytes(CTI() / req) == encode_message("MEDIA_LOGIN_REQ", body=bytes.fromhex("00000007aabb"))
    resp = CTI(bytes(CTI() / MESSAGE_CLASSES["MEDIA_LOGIN_RESP"](InvokeID=7))).payload
    assert resp.InvokeID == 7 and resp.body == b""
    assert resp.hashret() == req.hashret()
    assert resp.answers(req) and not req.answers(resp)
    assert not MESSAGE_CLASSES["MEDIA_LOGIN_RESP"](InvokeID=8).answers(req)
    failure = MESSAGE_CLASSES["FAILURE_CONF"](InvokeID=7)
    assert failure.hashret() == req.hashret() and failure.answers(req)
    # A body shorter than an InvokeID keeps no InvokeID.
    short = CTI(encode_message("MEDIA_LOGIN_REQ", body=b"\x01\x02"))
    assert short.payload.InvokeID is None and short.payload.body == b"\x01\x02"
    assert short.to_message().fields == {}
    # The configuration exchange carries no InvokeID (7.1).
    team = CTI(encode_message("TEAM_CONFIG_REQ", body=bytes(6)))
    assert not isinstance(team.payload, CTI_RawInvoke) and team.payload.body == bytes(6)


def test_one_class_per_catalogue_message():
    assert set(MESSAGE_CLASSES) == {m.name for m in MESSAGES}
    for m in MESSAGES:
        cls = MESSAGE_CLASSES[m.name]
        assert cls.__name__ == m.name and cls().name == m.name
        assert cls.cti_message is m
        assert (CTI() / cls()).MessageType == m.type  # bound for building
    import ctidissect.scapy_layer as layer

    assert layer.OPEN_REQ is MESSAGE_CLASSES["OPEN_REQ"]
    assert layer.EMERGENCY_CALL_EVENT is MESSAGE_CLASSES["EMERGENCY_CALL_EVENT"]


@pytest.mark.parametrize("msg", layout_messages(), ids=lambda m: m.name)
def test_fields_follow_catalogue_for_every_version(msg):
    cls = MESSAGE_CLASSES[msg.name]
    for version in range(MIN_VERSION, MAX_VERSION + 1):
        pkt = CTI(version=version) / cls()
        body = pkt[cls]
        active = [(f.name, f.sz) for f in body.active_fixed_fields()]
        assert active == [(f.name, f.size) for f in msg.fields_for(version)], version
        assert len(bytes(pkt)) == 8 + msg.fixed_size(version)


def test_version_is_not_a_wire_field():
    assert "version" not in [f.name for f in CTI.fields_desc]
    for version in (19, 24):
        pkt = CTI(version=version) / MESSAGE_CLASSES["HEARTBEAT_REQ"](InvokeID=5)
        assert bytes(pkt) == bytes.fromhex("00000004 00000005 00000005")
        assert pkt.version == version and pkt.payload.version == version


def test_floating_width_by_version():
    open_req = MESSAGE_CLASSES["OPEN_REQ"]
    narrow = bytes(CTI(version=19) / open_req(InvokeID=1, floating=[("CLIENT_ID", "ab")]))
    wide = bytes(CTI(version=20) / open_req(InvokeID=1, floating=[("CLIENT_ID", "ab")]))
    assert narrow[8 + 44 :] == bytes([1, 3]) + b"ab\0"
    assert wide[8 + 44 :] == bytes.fromhex("00010003") + b"ab\0"
    # The same narrow bytes dissected at the wrong version give a different (flagged) view.
    assert CTI(narrow, version=19).anomalies == []
    assert CTI(narrow, version=24).anomalies != []


def test_default_version_setting_and_context():
    before = get_default_version()
    hb = MESSAGE_CLASSES["HEARTBEAT_REQ"]
    with default_version(19):
        assert get_default_version() == 19
        pkt = CTI() / hb(InvokeID=1, floating=[("CLIENT_ID", "a")])
        assert bytes(pkt)[12:] == bytes([1, 2]) + b"a\0"
        assert CTI(bytes(pkt)).payload.get("CLIENT_ID") == "a"
    assert get_default_version() == before
    previous = set_default_version(21)
    try:
        assert CTI().version == 21
    finally:
        set_default_version(previous)
    with pytest.raises(ValueError):
        set_default_version(0)


def test_setting_version_reencodes_in_other_format():
    pkt = CTI(bytes(message("OPEN_REQ", version=19, InvokeID=2, CLIENT_ID="me")), version=19)
    pkt.version = 24
    del pkt.MessageLength
    for item in pkt.payload.floating:
        del item.length
    assert bytes(pkt) == encode_message("OPEN_REQ", {"InvokeID": 2}, [("CLIENT_ID", "me")], 24)


def test_failure_conf_alternate_layout_both_ways():
    data = bytes.fromhex("0000000a 00000001 00000009 0018 00000063")
    pkt = CTI(data)
    body = pkt.payload
    assert body.wire_fields() == {"InvokeID": 9, "FailureCode": 0x18, "PeripheralErrorCode": 0x63}
    assert [a.code for a in pkt.anomalies] == ["fixed.alternate_layout"]
    assert bytes(pkt) == data
    crafted = CTI() / MESSAGE_CLASSES["FAILURE_CONF"](InvokeID=9, FailureCode=0x18, PeripheralErrorCode=0x63)
    assert bytes(crafted) == data
    main = CTI() / MESSAGE_CLASSES["FAILURE_CONF"](InvokeID=9, Status=97)
    assert bytes(main) == encode_message("FAILURE_CONF", {"InvokeID": 9, "Status": 97})


def test_friendly_forms():
    expected = encode_message(
        "OPEN_REQ",
        {"InvokeID": 1, "VersionNumber": 24, "ServicesRequested": 0x5},
        [("CLIENT_ID", "x"), ("CLIENT_PASSWORD", b"")],
        24,
    )
    open_req = MESSAGE_CLASSES["OPEN_REQ"]
    forms = [
        CTI()
        / open_req(
            InvokeID=1,
            VersionNumber=24,
            ServicesRequested=5,
            floating=[CTIFloat(tag="CLIENT_ID", value="x"), CTIFloat(tag=2, value=b"")],
        ),
        CTI()
        / open_req(
            InvokeID=1, VersionNumber=24, ServicesRequested=5, floating={"CLIENT_ID": "x", "CLIENT_PASSWORD": b""}
        ),
        CTI()
        / open_req(
            InvokeID=1,
            VersionNumber=24,
            ServicesRequested="CTI_SERVICE_CLIENT_EVENTS|CTI_SERVICE_CLIENT_CONTROL",
            floating=[FloatItem(1, "CLIENT_ID", "x"), ("CLIENT_PASSWORD", b"")],
        ),
        message("OPEN_REQ", InvokeID=1, VersionNumber=24, ServicesRequested=5, CLIENT_ID="x", CLIENT_PASSWORD=b""),
    ]
    for pkt in forms:
        assert bytes(pkt) == expected


def test_enum_names_and_typed_floating_values():
    ase = MESSAGE_CLASSES["AGENT_STATE_EVENT"]
    pkt = CTI() / ase(AgentState="AVAILABLE", floating=[("AGENT_ID", "1001")])
    assert bytes(pkt) == encode_message("AGENT_STATE_EVENT", {"AgentState": 3}, [("AGENT_ID", "1001")])
    ev = MESSAGE_CLASSES["CALL_CONFERENCED_EVENT"]
    items = [
        ("PARTY_CALLID", 1),
        ("PARTY_DEVID_TYPE", 0),
        ("PARTY_DEVID", "1001"),
        ("NAMED_VARIABLE", NamedVar("user.a", "1")),
        ("NAMED_ARRAY", NamedArray(2, "user.b", "x")),
    ]
    data = bytes(CTI() / ev(floating=items))
    assert data == encode_message("CALL_CONFERENCED_EVENT", {}, items)
    body = CTI(data).payload
    assert [(i.tag_name, i.value) for i in body.floating] == items
    assert isinstance(body.get("NAMED_VARIABLE"), NamedVar)
    assert body.get_all("PARTY_DEVID") == ["1001"]


def test_unknown_type_and_unknown_tag():
    data = bytes.fromhex("00000003 0000ffff 010203")
    pkt = CTI(data)
    assert isinstance(pkt.payload, CTI_Unknown) and pkt.payload.body == b"\x01\x02\x03"
    assert [a.code for a in pkt.anomalies] == ["type.unknown"]
    assert bytes(pkt) == data
    crafted = CTI(MessageType=0xFFFF) / CTI_Unknown(body=b"\x01\x02\x03")
    assert bytes(crafted) == data
    hb = MESSAGE_CLASSES["HEARTBEAT_REQ"]
    raw_item = bytes(CTI() / hb(InvokeID=1, floating=[CTIFloat(tag=0xFFF0, value=b"AB")]))
    assert raw_item == encode_message("HEARTBEAT_REQ", {"InvokeID": 1}, [(0xFFF0, b"AB")])
    assert [a.code for a in CTI(raw_item).anomalies] == ["float.unknown_tag"]


def test_build_errors_are_clear():
    open_req = MESSAGE_CLASSES["OPEN_REQ"]
    with pytest.raises(ValueError, match="does not fit"):
        bytes(CTI(version=19) / open_req(floating=[CTIFloat(tag=300, value=b"")]))
    with pytest.raises(ValueError, match="does not fit"):
        bytes(CTI(version=19) / open_req(floating=[("CLIENT_ID", "x" * 300)]))
    with pytest.raises(ValueError, match="unknown floating tag"):
        CTIFloat(tag="NO_SUCH_TAG")
    with pytest.raises(ValueError, match="not in the catalogue"):
        bytes(CTI() / open_req(floating=[(0xFFF0, "text")]))
    with pytest.raises(TypeError):
        open_req(floating=[42])
    with pytest.raises(ValueError, match="unknown message name"):
        message("NO_SUCH_REQ")


def test_explicit_lengths_allow_malformed_crafting():
    hb = MESSAGE_CLASSES["HEARTBEAT_REQ"]
    # A wrong explicit FieldLength crafts an overrun, as a fuzzer would.
    bad = CTI() / hb(InvokeID=1, floating=[CTIFloat(tag="CLIENT_ID", length=200, value="x")])
    data = bytes(bad) + encode_message("HEARTBEAT_REQ", {"InvokeID": 2})
    fast = decode_buffer(data, 24)
    assert [m.anomaly_codes for m in fast] == [["float.overrun"], []]


def test_message_classes_are_ctimessages_or_raw():
    for name, cls in MESSAGE_CLASSES.items():
        assert issubclass(cls, CTIMessage) == (MESSAGES_BY_NAME[name].fixed is not None)
