"""Property: however a message stream is cut into segments, reordered within a window,
duplicated or overlapped by retransmissions, and wherever its sequence numbers start, the
reassembled decode is exactly the messages sent, in order."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pcapgen import agent_state_event, call_delivered_event, heartbeat_req, open_req, raw_tcp_frame

from ctidissect.capture import CaptureDecoder

MESSAGES = [open_req(1)] + [
    m for i in range(2, 14) for m in (heartbeat_req(i), agent_state_event(str(1000 + i)), call_delivered_event(i))
]
STREAM = b"".join(MESSAGES)


@st.composite
def segmentations(draw):
    isn = draw(st.integers(0, 0xFFFFFFFF))
    cuts = sorted(set(draw(st.lists(st.integers(1, len(STREAM) - 1), max_size=60))))
    bounds = [0, *cuts, len(STREAM)]
    segs = [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
    # Retransmissions: exact copies and overlapping spans of what was sent.
    extra = draw(st.lists(st.tuples(st.integers(0, len(STREAM) - 1), st.integers(1, 200)), max_size=8))
    for start, size in extra:
        segs.append((start, min(len(STREAM), start + size)))
    order = list(range(len(segs)))
    # Reorder within a small window, keeping the first segment first (the stream start is
    # anchored by the SYN anyway).
    swaps = draw(st.lists(st.integers(1, max(1, len(order) - 2)), max_size=10))
    for i in swaps:
        if i + 1 < len(order):
            order[i], order[i + 1] = order[i + 1], order[i]
    return isn, [segs[i] for i in order]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segmentations())
def test_any_segmentation_decodes_exactly(case):
    isn, segs = case
    dec = CaptureDecoder()
    client, server = ("10.0.0.2", 50000), ("10.0.0.1", 42027)
    frames = [raw_tcp_frame(client[0], server[0], client[1], server[1], isn, 0, 0x02, b"")]
    for start, end in segs:
        # No ACK flag: the peer never acknowledges, so holes wait for their bytes.
        frames.append(raw_tcp_frame(client[0], server[0], client[1], server[1], isn + 1 + start, 0, 0x08, STREAM[start:end]))
    records = []
    for i, frame in enumerate(frames, start=1):
        records += dec.feed(i, 1000.0 + i * 0.001, 1, frame)
    records += dec.finish()
    assert [r.raw for r in records if r.type is not None] == MESSAGES
    assert [r.anomalies[0].code for r in records if r.type is None] == []
    assert all(not r.anomalies for r in records)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=12),
    st.lists(st.integers(0, 30), max_size=4),
    st.booleans(),
)
def test_corrupted_frames_never_raise(flips, cuts, detect):
    """Bit flips anywhere (link, IP, TCP headers, payload) and truncated frames: records,
    never exceptions."""
    client, server = ("10.0.0.2", 50000), ("10.0.0.1", 42027)
    frames = [raw_tcp_frame(client[0], server[0], client[1], server[1], 7, 0, 0x02, b"")]
    pos = 0
    for size in (30, 100, 7, 250, 64, 400):
        frames.append(raw_tcp_frame(client[0], server[0], client[1], server[1], 8 + pos, 0, 0x18, STREAM[pos : pos + size]))
        pos += size
    frames = [bytearray(f) for f in frames]
    for i, (offset, value) in enumerate(flips):
        frame = frames[i % len(frames)]
        frame[offset % len(frame)] = value
    for i, cut in enumerate(cuts):
        frame = frames[(i * 3) % len(frames)]
        del frame[len(frame) - min(cut, len(frame) - 1) :]
    dec = CaptureDecoder(detect=detect)
    records = []
    for i, frame in enumerate(frames, start=1):
        records += dec.feed(i, 1000.0 + i, 1, bytes(frame))
    records += dec.finish()
    for rec in records:
        if getattr(rec, "type", 0) is None:
            assert rec.anomalies and rec.frame is not None


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 105]), st.binary(max_size=120))
def test_garbage_frames_on_every_link_type_never_raise(linktype, data):
    dec = CaptureDecoder(ports=range(0, 65536), detect=True)
    records = dec.feed(1, 1.0, linktype, data) + dec.finish()
    assert all(getattr(r, "type", 0) is None or r.frame == 1 for r in records)
