"""The C accelerator (ctidissect/wire/_fastframes.c) against the Python decoder, the
reference: every message it decodes must be the record decode_message builds, and it must
stop (leaving the message to Python) at everything that is not clean."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgfactory import field_values, floating_items, layout_messages
from test_malformed import CASES as MALFORMED

from ctidissect import read_capture
from ctidissect.capture import stream as stream_module
from ctidissect.catalogue.versions import max_body_length
from ctidissect.wire import FloatItem, Message, encode_message, fastframes
from ctidissect.wire.decode import decode_message, plan_for, simple_plans

CAPTURES = sorted((Path(__file__).parent.parent / "captures").glob("*.pcap"))
VERSIONS = [14, 19, 20, 24]

pytestmark = pytest.mark.skipif(
    fastframes.frame_clean is None and fastframes.UNAVAILABLE_REASON.startswith("disabled"),
    reason="accelerator disabled on purpose (CTIDISSECT_PURE_PYTHON)",
)


def fast(data: bytes, version: int, pos: int = 0, stop_at_open_req: bool = True, frame=7, ts=1.5):
    """Run frame_clean over ``data``; returns (new pos, records)."""
    out: list = []
    for mtype in range(0, 300):
        plan_for(mtype, version)  # every plain plan compiled, as a long capture would have
    context = (version, max_body_length(version), simple_plans(version), "c:1-s:2", "c2s", "open_req", stop_at_open_req)
    new_pos, count, need_more = fastframes.frame_clean(data, pos, context, frame, ts, out)
    assert count == len(out)
    # need_more: stopped for want of bytes (a partial header or frame), not at a message.
    rest = data[new_pos:]
    expected_more = len(rest) < 8 or struct.unpack_from(">I", rest)[0] + 8 > len(rest) and (
        struct.unpack_from(">I", rest)[0] <= max_body_length(version)
    )
    assert need_more is expected_more
    return new_pos, out


def python_record(raw: bytes, version: int, frame=7, ts=1.5) -> Message:
    mtype = struct.unpack_from(">I", raw, 4)[0]
    return decode_message(mtype, raw, version, frame, ts, "c:1-s:2", "c2s", {"version_source": "open_req"})


def taken_like_python(data: bytes, version: int, stop_at_open_req: bool = True) -> Message | None:
    """Run the one message ``data`` through frame_clean: when it takes it, check the record
    equals Python's and return None; when it leaves it, check it did not move and return
    Python's record (for the caller to check why)."""
    pos, out = fast(data, version, stop_at_open_req=stop_at_open_req)
    py = python_record(data, version)
    if out:
        assert pos == len(data)
        assert_same(out[0], py)
        return None
    assert pos == 0
    return py


def assert_same(c_msg: Message, py_msg: Message) -> None:
    assert c_msg == py_msg
    assert type(c_msg) is Message
    assert [type(i) for i in c_msg.floating] == [FloatItem] * len(py_msg.floating)
    assert [type(i.value) for i in c_msg.floating] == [type(i.value) for i in py_msg.floating]
    assert [type(v) for v in c_msg.fields.values()] == [int] * len(py_msg.fields)
    assert list(c_msg.fields) == list(py_msg.fields)


def test_the_accelerator_is_built():
    # CI installs with a compiler: a silent fall-back to pure Python would hide a broken build.
    assert fastframes.frame_clean is not None, fastframes.UNAVAILABLE_REASON
    assert fastframes.UNAVAILABLE_REASON is None


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("msg", layout_messages(), ids=lambda m: m.name)
def test_every_layout_decodes_like_python_or_is_left_to_it(msg, version):
    data = encode_message(msg.name, field_values(msg, version), floating_items(msg, version), version)
    left = taken_like_python(data, version, stop_at_open_req=False)
    if left is not None:
        # Left to Python: an alternative layout, or a compound floating kind.
        assert left.anomalies or plan_for(msg.type, version).alts or any(
            not isinstance(i.value, (str, int, bytes)) for i in left.floating
        )


def test_string_and_numeric_floating_kinds_are_all_taken():
    items = [
        (8, "ANI-12"),  # ANI: STRING
        (1, "agent-7"),  # CLIENT_ID: STRING
        (2, b"\x00pw"),  # CLIENT_PASSWORD: RAW
        (24, 0xA0B0C0D0),  # CTI_CLIENT_TIMESTAMP: UINT
        (40, 0xFFFE),  # PARTY_DEVID_TYPE: USHORT
        (62, -5),  # SKILL_GROUP_NUMBER: INT
        (232, 7),  # CALL_ORIGINATED_FROM: UCHAR
    ]
    data = encode_message("HEARTBEAT_REQ", {"InvokeID": 9}, items, 24)
    pos, out = fast(data, 24)
    assert pos == len(data) and len(out) == 1
    assert [(i.tag, i.value) for i in out[0].floating] == items
    assert_same(out[0], python_record(data, 24))


def test_need_more_tells_a_partial_frame_from_a_message_left_to_python():
    one = encode_message("HEARTBEAT_REQ", {"InvokeID": 1}, [], 24)
    context = (24, max_body_length(24), simple_plans(24), "c", "c2s", None, True)
    assert fastframes.frame_clean(one + one[:5], 0, context, 1, 0.0, []) == (len(one), 1, True)
    assert fastframes.frame_clean(one + one[:-1], 0, context, 1, 0.0, []) == (len(one), 1, True)
    assert fastframes.frame_clean(one + one, 0, context, 1, 0.0, []) == (2 * len(one), 2, True)
    too_long = struct.pack(">II", max_body_length(24) + 1, 5)
    assert fastframes.frame_clean(one + too_long, 0, context, 1, 0.0, []) == (len(one), 1, False)


def test_several_messages_in_one_buffer_and_a_partial_one_after():
    one = encode_message("HEARTBEAT_REQ", {"InvokeID": 1}, [], 24)
    two = encode_message("HEARTBEAT_CONF", {"InvokeID": 1}, [], 24)
    data = one + two + one[:11]
    pos, out = fast(data, 24)
    assert pos == len(one) + len(two)
    assert [m.name for m in out] == ["HEARTBEAT_REQ", "HEARTBEAT_CONF"]
    assert [m.raw for m in out] == [one, two]
    assert all(m.frame == 7 and m.ts == 1.5 and m.conn == "c:1-s:2" and m.direction == "c2s" for m in out)
    assert [m.extra for m in out] == [{"version_source": "open_req"}] * 2
    assert out[0].extra is not out[1].extra


def test_starts_at_the_given_offset():
    one = encode_message("HEARTBEAT_REQ", {"InvokeID": 1}, [], 24)
    pos, out = fast(b"junk" + one, 24, pos=4)
    assert pos == 4 + len(one) and [m.fields for m in out] == [{"InvokeID": 1}]


HB = encode_message("HEARTBEAT_REQ", {"InvokeID": 7}, [], 24)


def body(fixed_hex: str, floating: bytes, mtype: int = 5) -> bytes:
    b = bytes.fromhex(fixed_hex) + floating
    return struct.pack(">II", len(b), mtype) + b


@pytest.mark.parametrize(
    "case, data, version",
    [
        ("open_req", encode_message("OPEN_REQ", {"InvokeID": 1, "VersionNumber": 24}, [], 24), 24),
        ("too_long", struct.pack(">II", max_body_length(19) + 1, 5) + b"\0" * (max_body_length(19) + 1), 19),
        ("incomplete", HB[:-1], 24),
        ("unknown_type", struct.pack(">II", 4, 9999) + b"\0\0\0\1", 24),
        ("layout_unknown", struct.pack(">II", 4, 151) + b"\0\0\0\1", 24),
        ("fixed_short", body("0001", b""), 24),
        ("string_without_nul", body("00000001", bytes.fromhex("0008 0002 4142")), 24),
        ("empty_string", body("00000001", bytes.fromhex("0008 0000")), 24),
        ("string_with_inner_nul", body("00000001", bytes.fromhex("0008 0003 410042")), 24),
        ("string_too_long", body("00000001", struct.pack(">HH", 27, 70) + b"a" * 69 + b"\0"), 24),
        ("raw_too_long", body("00000001", struct.pack(">HH", 2, 65) + b"a" * 65), 24),
        ("ushort_bad_length", body("00000001", bytes.fromhex("0028 0004 00000001")), 24),
        ("uint_bad_length", body("00000001", bytes.fromhex("0018 0002 0102")), 24),
        ("unknown_tag", body("00000001", bytes.fromhex("03e7 0001 00")), 24),
        ("overrun", body("00000001", bytes.fromhex("0008 0010 4142")), 24),
        ("truncated_tag_header", body("00000001", bytes.fromhex("0008 00")), 24),
        ("narrow_truncated_tag_header", body("00000001", bytes.fromhex("08")), 19),
        ("namedvar", encode_message("HEARTBEAT_REQ", {"InvokeID": 1}, [(82, ("a", "b"))], 24), 24),
        ("failure_conf_alternate_layout", struct.pack(">II", 10, 1) + bytes(10), 24),
    ],
)
def test_stops_at_what_it_does_not_handle_and_python_does(case, data, version):
    pos, out = fast(HB + data, version)
    assert (pos, [m.name for m in out]) == (len(HB), ["HEARTBEAT_REQ"])


def test_open_req_is_decoded_when_the_caller_does_not_stop_at_it():
    data = encode_message("OPEN_REQ", {"InvokeID": 1, "VersionNumber": 24}, [(1, "client")], 24)
    pos, out = fast(data, 24, stop_at_open_req=False)
    assert pos == len(data)
    assert_same(out[0], python_record(data, 24))


def test_non_utf8_string_survives_like_python():
    data = body("00000001", struct.pack(">HH", 8, 4) + b"\xff\xfeA\0")
    pos, out = fast(data, 24)
    assert pos == len(data)
    assert out[0].floating[0].value == "\udcff\udcfeA"
    assert_same(out[0], python_record(data, 24))


def test_signed_and_narrow_values():
    # v19: 1+1-byte tag/length; AGENT_STATE_EVENT carries signed and unsigned shorts.
    msg = next(m for m in layout_messages() if m.name == "AGENT_STATE_EVENT")
    fields = field_values(msg, 19)
    data = encode_message(msg.name, fields, [(1, "x")], 19)
    pos, out = fast(data, 19)
    assert pos == len(data)
    assert out[0].fields == fields
    assert_same(out[0], python_record(data, 19))


@pytest.mark.parametrize("case", MALFORMED, ids=lambda c: c[0])
def test_malformed_corpus_same_as_python(case):
    _id, data, version, _expected = case
    pos, out = fast(data, version)
    p = 0
    for m in out:
        assert_same(m, python_record(m.raw, version))
        assert data[p : p + len(m.raw)] == m.raw
        p += len(m.raw)
    assert pos == p


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([14, 19, 20, 24]))
def test_random_bytes_never_break_it(data, version):
    pos, out = fast(data, version)
    assert 0 <= pos <= len(data)
    p = 0
    for m in out:
        assert_same(m, python_record(m.raw, version))
        p += len(m.raw)
    assert p == pos


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([1, 2, 8, 24, 27, 40, 62, 82, 83, 232, 999 % 256]), st.binary(max_size=12)),
        max_size=6,
    ),
    st.sampled_from([19, 24]),
)
def test_random_floating_parts_agree_with_python(raw_items, version):
    wide = version >= 20
    floating = b"".join(
        (struct.pack(">HH", t, len(v)) if wide else bytes((t, len(v)))) + v for t, v in raw_items
    )
    taken_like_python(body("00000001", floating), version)


def test_bad_arguments_raise_type_errors():
    good = (24, 100, {}, "c", "c2s", None, True)
    with pytest.raises(TypeError):
        fastframes.frame_clean(bytearray(HB), 0, good, 1, 1.0, [])
    with pytest.raises(TypeError):
        fastframes.frame_clean(HB, 0, good[:6], 1, 1.0, [])
    with pytest.raises(TypeError):
        fastframes.frame_clean(HB, 0, (24, 100, {5: ("x",)}, "c", "c2s", None, True), 1, 1.0, [])
    with pytest.raises(TypeError):
        fastframes.frame_clean(HB, 0, good, 1, 1.0, ())
    with pytest.raises(TypeError):
        fastframes.frame_clean(HB, 0, good)
    from ctidissect.wire import _fastframes

    class NotSlots:
        pass

    constants = fastframes._constants()
    with pytest.raises(TypeError, match="slots class without __dict__"):
        _fastframes.configure(NotSlots, FloatItem, {}, constants)
    with pytest.raises(TypeError, match="tuple subclass"):
        _fastframes.configure(Message, list, {}, constants)
    with pytest.raises(KeyError, match="OPEN_REQ"):
        _fastframes.configure(Message, FloatItem, {}, {k: v for k, v in constants.items() if k != "OPEN_REQ"})


def _records(paths, monkeypatch, accelerated: bool):
    monkeypatch.setattr(stream_module, "frame_clean", fastframes.frame_clean if accelerated else None)
    return [repr(r) for p in paths for r in read_capture(p, connection_events=True)]


def test_sample_captures_decode_identically_with_and_without_it(monkeypatch):
    assert CAPTURES
    fast_records = _records(CAPTURES, monkeypatch, True)
    slow_records = _records(CAPTURES, monkeypatch, False)
    assert len(fast_records) > 500
    assert fast_records == slow_records


@pytest.mark.parametrize(
    "attribute, value, reason",
    [
        ("INTERFACE", 999, "run `pip install -e .` again"),
        ("MESSAGE_FIELDS", ("type", "name"), "C extension fills Message fields"),
    ],
)
def test_a_mismatched_build_is_refused_not_used(monkeypatch, attribute, value, reason):
    # An in-place build left from another checkout, or a Message with a field the C code
    # does not fill: the accelerator must stand aside (pure Python), saying why.
    import importlib

    from ctidissect.wire import _fastframes

    monkeypatch.setattr(_fastframes, attribute, value)
    try:
        reloaded = importlib.reload(fastframes)
        assert reloaded.frame_clean is None and reloaded.walk_pcap is None and reloaded.walk_pcapng is None
        assert reason in reloaded.UNAVAILABLE_REASON
    finally:
        monkeypatch.undo()
        importlib.reload(fastframes)
    assert fastframes.frame_clean is not None
