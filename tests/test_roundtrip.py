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
