"""Property tests: arbitrary bytes never raise, and decode(encode(m)) == m for generated
valid messages."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from msgfactory import layout_messages

from ctidissect.catalogue import TAGS
from ctidissect.wire import decode_buffer, encode, encode_message, find_resync, next_frame

LAYOUTS = layout_messages()
NUMERIC = {"UINT": (0, 2**32 - 1), "INT": (-(2**31), 2**31 - 1), "USHORT": (0, 65535), "SHORT": (-32768, 32767),
           "UCHAR": (0, 255), "BOOL": (0, 1), "TIME": (0, 2**32 - 1)}
TEXT = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=126), max_size=30)


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=300), version=st.sampled_from([14, 19, 20, 24]))
def test_arbitrary_bytes_never_raise(data, version):
    msgs = decode_buffer(data, version)
    assert b"".join(m.raw for m in msgs) == data
    next_frame(data, 0, version)
    find_resync(data, 0, version)


@st.composite
def valid_messages(draw):
    version = draw(st.sampled_from([14, 19, 20, 24]))
    msg = draw(st.sampled_from(LAYOUTS))
    fields = {f.name: draw(st.integers(*NUMERIC[f.wire])) for f in msg.fields_for(version)}
    wide = version >= 20
    tags = [t for t in TAGS if (wide or t.tag <= 255) and t.wire in ("STRING", "UINT", "USHORT", "INT", "UNSPEC")]
    items = []
    for tag in draw(st.lists(st.sampled_from(tags), max_size=6)):
        if tag.wire == "STRING":
            items.append((tag.tag, draw(TEXT)))
        elif tag.wire == "UNSPEC":
            items.append((tag.tag, draw(st.binary(max_size=20))))
        else:
            items.append((tag.tag, draw(st.integers(*NUMERIC[tag.wire]))))
    return version, msg, fields, items


@settings(max_examples=400, deadline=None)
@given(valid_messages())
def test_decode_encode_roundtrip(case):
    version, msg, fields, items = case
    data = encode_message(msg.name, fields, items, version)
    (m,) = decode_buffer(data, version)
    assert m.name == msg.name
    assert m.fields == fields
    assert [(i.tag, i.value) for i in m.floating] == items
    assert [a.code for a in m.anomalies if a.code != "float.too_long"] == []
    assert encode(m) == data
