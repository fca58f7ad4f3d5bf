"""Bad bytes never raise out of dissection: unknown types keep their raw body, overruns are
flagged and the next message still decodes (each message dissects inside its own
MessageLength window).  Scapy's own safety net (turning a failing layer into Raw) is
switched off here so that any exception would surface."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.config import conf

from ctidissect.scapy_layer import CTI, MESSAGE_CLASSES, CTI_Unknown, CTIFloat, CTIStream
from ctidissect.wire import VOCABULARY, encode_message

HB = encode_message("HEARTBEAT_REQ", {"InvokeID": 7})


@pytest.fixture(autouse=True)
def _strict_dissector():
    old = conf.debug_dissector
    conf.debug_dissector = True
    yield
    conf.debug_dissector = old


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.sampled_from([14, 19, 20, 24]))
def test_random_bytes_never_raise(data, version):
    stream = CTIStream(data, version=version)
    assert bytes(stream) == data
    pkt = CTI(data, version=version)
    assert bytes(pkt) == data
    for msg in stream.messages:
        msg.summary()
        msg.to_message()
        for a in msg.anomalies:
            assert a.code in VOCABULARY


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 300),
    st.sampled_from(sorted({1, 3, 4, 5, 30, 35, 91, 120, 0xFFFF})),
    st.binary(max_size=80),
    st.sampled_from([19, 24]),
)
def test_plausible_headers_with_random_bodies_never_raise(length, mtype, body, version):
    data = length.to_bytes(4, "big") + mtype.to_bytes(4, "big") + body
    stream = CTIStream(data + HB, version=version)
    assert bytes(stream) == data + HB
    stream.show(dump=True)


def test_overrun_flagged_and_next_message_decodes():
    data = h("0000000a 00000005 00000001 0001 0010 4142") + HB
    stream = CTIStream(data)
    first, second = stream.messages
    assert [(a.code, a.offset) for a in first.anomalies] == [("float.overrun", 12)]
    assert first.payload.trailing == h("0001 0010 4142")
    assert first.payload.floating == []
    assert second.summary() == "CTI HEARTBEAT_REQ InvokeID=7" and second.anomalies == []
    assert [a.code for a in stream.anomalies] == ["float.overrun"]
    # With CTI alone, the next message is Padding after the first one's window.
    single = CTI(data)
    assert single.getlayer("Padding").load == HB


def test_unknown_type_keeps_raw_body_and_next_decodes():
    stream = CTIStream(h("00000003 0000ffff 010203") + HB)
    unknown, hb = stream.messages
    assert isinstance(unknown.payload, CTI_Unknown) and unknown.payload.body == h("010203")
    assert [a.code for a in unknown.anomalies] == ["type.unknown"]
    assert hb.payload.InvokeID == 7


@pytest.mark.parametrize(
    ("data", "codes"),
    [
        (h("0000"), ["frame.truncated_header"]),
        # Cut short: the scapy view still dissects what is there (to_message keeps only
        # the frame.* codes, like the codec).
        (h("00000008 00000001 0102"), ["frame.truncated", "fixed.short"]),
        (h("00000002 00000005 0001"), ["fixed.short"]),
        (h("00000000 00000003"), ["fixed.short"]),
        (h("00000007 00000005 00000001 000100"), ["float.truncated_header"]),
        (h("7fffffff 00000005 00000001"), ["frame.truncated", "frame.too_long"]),
        (h("0000000d 00000005 00000001 0052 0005 6162636465"), ["float.bad_value"]),
        (h("0000000a 00000005 00000001 0061 0002 0102"), ["float.bad_length"]),
    ],
)
def test_flagged_cases(data, codes):
    pkt = CTI(data)
    assert [a.code for a in pkt.anomalies] == codes
    assert bytes(pkt) == data


def test_huge_floating_list_is_bounded():
    # 7000 empty floating fields: more than any legal message can hold.
    body = h("00000001") + h("00010000") * 7000
    data = len(body).to_bytes(4, "big") + (5).to_bytes(4, "big") + body
    pkt = CTI(data)
    assert len(pkt.payload.floating) == 6250
    assert "frame.too_long" in [a.code for a in pkt.anomalies]
    assert bytes(pkt) == data


def test_crafted_packets_report_no_anomalies():
    pkt = CTI() / MESSAGE_CLASSES["OPEN_REQ"](floating=[CTIFloat(tag="CLIENT_ID", value="x")])
    assert pkt.anomalies == []


def test_fuzzed_messages_build_and_dissect():
    from scapy.packet import fuzz

    for version in (19, 24):
        for _ in range(100):
            data = bytes(fuzz(CTI(version=version) / MESSAGE_CLASSES["OPEN_REQ"](floating=[CTIFloat(), CTIFloat()])))
            assert bytes(CTIStream(data, version=version)) == data


def test_pickle_keeps_version():
    import pickle

    data = encode_message("OPEN_REQ", {"InvokeID": 3}, [("CLIENT_ID", "x")], 19)
    back = pickle.loads(pickle.dumps(CTI(data, version=19)))
    assert back.version == 19 and back.anomalies == [] and back.payload.get("CLIENT_ID") == "x"
    assert bytes(back) == data
