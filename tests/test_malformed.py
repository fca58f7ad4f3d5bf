"""Malformed-input corpus: each case decodes without raising, keeps its raw bytes, carries
the expected stable anomaly codes, and decoding goes on with the next message wherever the
framing allows."""

from __future__ import annotations

import pytest

from ctidissect.wire import VOCABULARY, decode_buffer, encode_message

HB = encode_message("HEARTBEAT_REQ", {"InvokeID": 7}, [], 24)  # a good message to follow


def h(x: str) -> bytes:
    return bytes.fromhex(x.replace(" ", ""))


CASES = [
    # (id, bytes, version, [(name, [codes]) per record])
    ("truncated_header", h("00000004 0000"), 24, [(None, ["frame.truncated_header"])]),
    ("good_then_truncated_header", HB + h("000000"), 24, [("HEARTBEAT_REQ", []), (None, ["frame.truncated_header"])]),
    ("truncated_body", h("00000008 00000001 0102"), 24, [("FAILURE_CONF", ["frame.truncated"])]),
    (
        "too_long_v19",
        encode_message("HEARTBEAT_REQ", {"InvokeID": 7}, [("UUI", b"x" * 128)] * 34, 19) + HB,
        19,
        [("HEARTBEAT_REQ", ["frame.too_long"]), ("HEARTBEAT_REQ", [])],
    ),
    ("too_long_and_truncated", h("7fffffff 00000005 00000001"), 24, [("HEARTBEAT_REQ", ["frame.truncated", "frame.too_long"])]),
    ("fixed_short", h("00000002 00000005 0001") + HB, 24, [("HEARTBEAT_REQ", ["fixed.short"]), ("HEARTBEAT_REQ", [])]),
    ("zero_length_body", h("00000000 00000003") + HB, 24, [("OPEN_REQ", ["fixed.short"]), ("HEARTBEAT_REQ", [])]),
    (
        "float_overrun",
        h("0000000a 00000005 00000001 0001 0010 4142") + HB,
        24,
        [("HEARTBEAT_REQ", ["float.overrun"]), ("HEARTBEAT_REQ", [])],
    ),
    (
        "float_truncated_header",
        h("00000007 00000005 00000001 000100") + HB,
        24,
        [("HEARTBEAT_REQ", ["float.truncated_header"]), ("HEARTBEAT_REQ", [])],
    ),
    (
        "unknown_tag",
        h("0000000a 00000005 00000001 fff0 0002 4142") + HB,
        24,
        [("HEARTBEAT_REQ", ["float.unknown_tag"]), ("HEARTBEAT_REQ", [])],
    ),
    ("unknown_type", h("00000003 0000ffff 010203") + HB, 24, [(None, ["type.unknown"]), ("HEARTBEAT_REQ", [])]),
    ("layout_unknown", h("00000002 00000078 0102") + HB, 24, [("SUPERVISOR_ASSIST_EVENT", ["layout.unknown"]), ("HEARTBEAT_REQ", [])]),
    ("string_without_nul", h("00000009 00000005 00000001 01 03 414243") + HB, 19, [("HEARTBEAT_REQ", ["float.no_nul"]), ("HEARTBEAT_REQ", [])]),
    ("string_too_long", h("0000000b 00000005 00000001 05 05 4141414141") + HB, 19, [("HEARTBEAT_REQ", ["float.no_nul"]), ("HEARTBEAT_REQ", [])]),
    (
        "numeric_bad_length",
        h("0000000a 00000005 00000001 0061 0002 0102") + HB,
        24,
        [("HEARTBEAT_REQ", ["float.bad_length"]), ("HEARTBEAT_REQ", [])],
    ),
    (
        "namedvar_bad_value",
        h("0000000d 00000005 00000001 0052 0005 6162636465") + HB,
        24,
        [("HEARTBEAT_REQ", ["float.bad_value"]), ("HEARTBEAT_REQ", [])],
    ),
    ("trailing_bytes", HB + h("01"), 24, [("HEARTBEAT_REQ", []), (None, ["frame.truncated_header"])]),
    ("empty_input", b"", 24, []),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_corpus(case):
    _id, data, version, expected = case
    msgs = decode_buffer(data, version)
    assert [(m.name, m.anomaly_codes) for m in msgs] == expected
    # Every byte is accounted for: the records' raw bytes concatenate back to the input.
    assert b"".join(m.raw for m in msgs) == data
    for m in msgs:
        for a in m.anomalies:
            assert a.code in VOCABULARY
            assert a.detail


def test_overrun_does_not_damage_next_message():
    bad = h("0000000a 00000005 00000001 0001 ffff 4142")
    msgs = decode_buffer(bad + HB, 24)
    assert msgs[1].fields == {"InvokeID": 7}


def test_string_too_long_flagged():
    data = encode_message("HEARTBEAT_REQ", {"InvokeID": 1}, [("AGENT_ID", "x" * 20)], 24)
    m = decode_buffer(data, 24)[0]
    assert m.anomaly_codes == ["float.too_long"]
    assert m.get("AGENT_ID") == "x" * 20
