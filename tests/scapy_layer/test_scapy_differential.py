"""Two decoders, one truth: on every codec fixture (section 9 vectors, the malformed corpus,
an example of every message type in both floating formats, generated and random bytes) and
on every test capture, the scapy layer and ``ctidissect.wire.decode_buffer`` agree field
for field: type, name, fixed fields, floating tag/value lists, anomaly codes and offsets,
raw bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.config import conf
from scapy.layers.inet import TCP
from scapy.sendrecv import sniff
from scapy.sessions import TCPSession
from scapy_testlib import MALFORMED_CASES, VECTORS, assert_agree, field_values, floating_items, layout_messages

from ctidissect.catalogue import TAGS
from ctidissect.scapy_layer import CTI, DEFAULT_PORTS, CTIStream, cti_messages
from ctidissect.wire import decode_buffer, encode_message

REPO = Path(__file__).resolve().parents[2]
VERSIONS = [14, 19, 20, 24]


@pytest.fixture(autouse=True)
def _strict_dissector():
    # Make scapy re-raise dissector errors instead of silently turning a layer into Raw.
    old = conf.debug_dissector
    conf.debug_dissector = True
    yield
    conf.debug_dissector = old


def check(data: bytes, version: int) -> None:
    fast = decode_buffer(data, version)
    stream = CTIStream(data, version=version)
    assert_agree(fast, stream.messages)
    assert bytes(stream) == data


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(VECTORS))
def test_section9_vectors(name, version):
    check(VECTORS[name], version)


@pytest.mark.parametrize("case", MALFORMED_CASES, ids=[c[0] for c in MALFORMED_CASES])
def test_malformed_corpus(case):
    _id, data, version, _expected = case
    check(data, version)
    for other in VERSIONS:
        check(data, other)


@pytest.mark.parametrize("version", [19, 24])
@pytest.mark.parametrize("msg", layout_messages(), ids=lambda m: m.name)
def test_every_layout_example(msg, version):
    data = encode_message(msg.name, field_values(msg, version, seed=3), floating_items(msg, version), version)
    check(data, version)
    # A single message also agrees when dissected on its own, with CTI.
    assert_agree(decode_buffer(data, version), [CTI(data, version=version)])


@pytest.mark.parametrize("version", VERSIONS)
def test_all_examples_in_one_buffer(version):
    data = b"".join(
        encode_message(m.name, field_values(m, version), floating_items(m, version), version) for m in layout_messages()
    )
    check(data, version)
    # Read at the other floating format, the same bytes must still agree (mostly anomalies).
    check(data, 24 if version < 20 else 19)


NUMERIC = {
    "UINT": (0, 2**32 - 1),
    "INT": (-(2**31), 2**31 - 1),
    "USHORT": (0, 65535),
    "SHORT": (-32768, 32767),
    "UCHAR": (0, 255),
    "BOOL": (0, 1),
    "TIME": (0, 2**32 - 1),
}
TEXT = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x2FF), max_size=20)
LAYOUTS = layout_messages()


@st.composite
def valid_frames(draw):
    version = draw(st.sampled_from(VERSIONS))
    msg = draw(st.sampled_from(LAYOUTS))
    fields = {f.name: draw(st.integers(*NUMERIC[f.wire])) for f in msg.fields_for(version)}
    tags = [t for t in TAGS if version >= 20 or t.tag <= 255]
    items = []
    for tag in draw(st.lists(st.sampled_from(tags), max_size=6)):
        if tag.wire == "STRING":
            items.append((tag.tag, draw(TEXT)))
        elif tag.wire in NUMERIC:
            items.append((tag.tag, draw(st.integers(*NUMERIC[tag.wire]))))
        else:
            items.append((tag.tag, draw(st.binary(max_size=12))))
    return version, encode_message(msg.name, fields, items, version)


@settings(max_examples=300, deadline=None)
@given(st.lists(valid_frames(), min_size=1, max_size=4), st.binary(max_size=16), st.sampled_from(VERSIONS))
def test_generated_frames_and_garbage_agree(frames, garbage, read_version):
    data = b"".join(f for _v, f in frames)
    check(data, frames[0][0])
    check(data + garbage, read_version)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=120), st.sampled_from(VERSIONS))
def test_random_bytes_agree(data, version):
    check(data, version)


# ---------------------------------------------------------------------------------------
# Test captures: every message read by ctidissect.capture agrees with the scapy layer.

CAPTURES = sorted(
    [
        *REPO.glob("captures/*.pcap"),
        *REPO.glob("captures/*.pcapng"),
        *REPO.glob("tests/capture/**/*.pcap"),
        *REPO.glob("tests/capture/**/*.pcapng"),
    ]
)
MESSAGE_CODES = ("frame.", "type.", "layout.", "fixed.", "float.")


def _capture_messages(path: Path):
    from ctidissect.capture import read_capture
    from ctidissect.wire import Message

    return [m for m in read_capture(path) if isinstance(m, Message) and m.type is not None]


@pytest.mark.skipif(not CAPTURES, reason="no pcaps in captures/ or tests/capture/ yet (own pcaps: test_scapy_session)")
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(REPO)))
def test_capture_messages_agree(path):
    msgs = _capture_messages(path)
    for m in msgs:
        pkt = CTI(m.raw, version=m.version)
        own = pkt.to_message()
        assert own.raw == m.raw
        assert (own.type, own.name, own.fields) == (m.type, m.name, m.fields)
        assert [(i.tag, i.value) for i in own.floating] == [(i.tag, i.value) for i in m.floating]
        codes = [a.code for a in m.anomalies if a.code.startswith(MESSAGE_CODES)]
        assert [a.code for a in own.anomalies] == codes


def _endpoint(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@pytest.mark.skipif(not CAPTURES, reason="no pcaps in captures/ or tests/capture/ yet (own pcaps: test_scapy_session)")
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(REPO)))
def test_capture_streams_agree_through_tcpsession(path):
    """Whole connections: scapy's TCPSession (version learnt per connection from OPEN_REQ)
    yields the same messages as read_capture, per connection and direction."""
    fast: dict[tuple[str, str], list] = {}
    for m in _capture_messages(path):
        fast.setdefault((m.conn, m.direction), []).append(m)
    got: dict[tuple[str, str], list] = {}
    for pkt in sniff(offline=str(path), session=TCPSession):
        if TCP not in pkt or pkt[TCP].underlayer is None:
            continue
        tcp, ip = pkt[TCP], pkt[TCP].underlayer
        src, dst = _endpoint(ip.src, tcp.sport), _endpoint(ip.dst, tcp.dport)
        key = (f"{src}-{dst}", "c2s") if tcp.dport in DEFAULT_PORTS else (f"{dst}-{src}", "s2c")
        msgs = cti_messages(pkt)
        if msgs:
            got.setdefault(key, []).extend(msgs)
    assert set(got) == set(fast)
    for key, msgs in fast.items():
        assert_agree(msgs, got[key])
