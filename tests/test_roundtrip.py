"""Round trip build -> bytes -> decode -> bytes for every message type with a known layout,
in both floating formats."""

from __future__ import annotations

import struct

import pytest
from msgfactory import field_values, floating_items, layout_messages

from ctidissect.catalogue import MESSAGES_BY_NAME
from ctidissect.wire import decode_buffer, encode, encode_message

VERSIONS = [14, 19, 20, 24]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("msg", layout_messages(), ids=lambda m: m.name)
def test_roundtrip_every_layout(msg, version):
    fields = field_values(msg, version)
    items = floating_items(msg, version)
    data = encode_message(msg.name, fields, items, version)
    length, mtype = struct.unpack_from(">II", data)
    assert mtype == msg.type and length == len(data) - 8
    decoded = decode_buffer(data, version)
    assert len(decoded) == 1
    m = decoded[0]
    assert m.name == msg.name
    assert m.anomalies == []
    assert m.fields == fields
    assert [(i.tag, i.value) for i in m.floating] == [(t, v if not isinstance(v, bytes) else v) for t, v in items]
    assert encode(m) == data


def test_floating_width_by_version():
    items = [("CLIENT_ID", "ab")]
    narrow = encode_message("OPEN_REQ", {"InvokeID": 1}, items, 19)
    wide = encode_message("OPEN_REQ", {"InvokeID": 1}, items, 20)
    assert narrow[8 + 44 :] == bytes([1, 3]) + b"ab\0"
    assert wide[8 + 44 :] == bytes.fromhex("00010003") + b"ab\0"


def test_repeated_floating_fields_keep_wire_order():
    items = [
        ("PARTY_CALLID", 1), ("PARTY_DEVID_TYPE", 0), ("PARTY_DEVID", "1001"),
        ("PARTY_CALLID", 2), ("PARTY_DEVID_TYPE", 0), ("PARTY_DEVID", "1002"),
    ]
    data = encode_message("CALL_CONFERENCED_EVENT", {}, items, 24)
    m = decode_buffer(data, 24)[0]
    assert [(i.name, i.value) for i in m.floating] == list(items)
    assert m.get_all("PARTY_DEVID") == ["1001", "1002"]


def test_enum_unknown_number_kept():
    data = encode_message("AGENT_STATE_EVENT", {"AgentState": 77}, [], 24)
    m = decode_buffer(data, 24)[0]
    assert m.fields["AgentState"] == 77
    from ctidissect.wire.text import format_tree

    assert "AgentState: 77 (unknown)" in format_tree(m)


def test_failure_conf_ten_byte_alternate_layout():
    data = bytes.fromhex("0000000a 00000001 00000009 0018 00000063")
    m = decode_buffer(data, 24)[0]
    assert m.fields == {"InvokeID": 9, "FailureCode": 0x18, "PeripheralErrorCode": 0x63}
    assert m.anomaly_codes == ["fixed.alternate_layout"]
    assert encode(m) == data


def test_string_max_and_nul():
    m = MESSAGES_BY_NAME["OPEN_REQ"]
    data = encode_message(m.name, {}, [("CLIENT_ID", "x" * 10)], 24)
    assert data.endswith(b"x" * 10 + b"\0")


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@pytest.mark.parametrize(
    "name, body, fields, detail",
    [
        ("MEDIA_LOGIN_REQ", "00000007 aabb", {"InvokeID": 7}, "InvokeID decoded per 7.1; 2 body bytes after it kept raw"),
        ("MEDIA_LOGIN_RESP", "00000007", {"InvokeID": 7}, "InvokeID decoded per 7.1; 0 body bytes after it kept raw"),
        ("SNAPSHOT_CALL_CONF", "01020304 00", {"InvokeID": 0x01020304}, "InvokeID decoded per 7.1; 1 body bytes after it kept raw"),
        ("MEDIA_LOGIN_REQ", "000007", {}, "3 body bytes kept raw"),  # too short for an InvokeID
        ("MEDIA_LOGIN_REQ", "", {}, "0 body bytes kept raw"),
        ("TEAM_CONFIG_REQ", "00000007 aabb", {}, "6 body bytes kept raw"),  # config exchange: none (7.1)
        ("TEAM_CONFIG_CONF", "00000007", {}, "4 body bytes kept raw"),
        ("SUPERVISOR_ASSIST_EVENT", "00000007", {}, "4 body bytes kept raw"),  # events carry none
    ],
)
@pytest.mark.parametrize("version", [19, 24])
def test_layout_unknown_request_or_confirmation_decodes_leading_invoke_id(name, body, fields, detail, version):
    data = encode_message(name, body=h(body), version=version)
    (m,) = decode_buffer(data, version)
    assert m.name == name and m.fields == fields and m.floating == []
    assert [(a.code, a.detail) for a in m.anomalies] == [("layout.unknown", detail)]
    assert m.body == h(body)
    assert encode(m) == data


def test_layout_unknown_invoke_id_edit_is_encoded():
    (m,) = decode_buffer(encode_message("MEDIA_LOGIN_REQ", body=h("00000007 aabb")), 24)
    m.fields["InvokeID"] = 9
    assert encode(m) == encode_message("MEDIA_LOGIN_REQ", body=h("00000009 aabb"))


def test_leading_invoke_id_catalogue_flags():
    assert MESSAGES_BY_NAME["MEDIA_LOGIN_REQ"].leading_invoke_id
    assert MESSAGES_BY_NAME["MEDIA_LOGIN_RESP"].leading_invoke_id
    assert MESSAGES_BY_NAME["TEAM_CONFIG_REQ"].no_invoke_id and not MESSAGES_BY_NAME["TEAM_CONFIG_REQ"].leading_invoke_id
    assert MESSAGES_BY_NAME["TEAM_CONFIG_CONF"].no_invoke_id and not MESSAGES_BY_NAME["TEAM_CONFIG_CONF"].leading_invoke_id
    assert not MESSAGES_BY_NAME["SUPERVISOR_ASSIST_EVENT"].leading_invoke_id  # an event
    assert not MESSAGES_BY_NAME["OPEN_REQ"].leading_invoke_id  # published layout
