"""The C packet loop (walk_pcap in ctidissect/wire/_fastframes.c) against the Python
engine, the reference: over any classic pcap file, read_capture must give the same
records, in the same order, with the same counters, whether the loop is used or not."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pcapgen import agent_state_event, call_delivered_event, heartbeat_conf, heartbeat_req, open_req, raw_tcp_frame

from ctidissect.capture import CaptureStats, engine, read_capture
from ctidissect.capture import stream as stream_module
from ctidissect.wire import fastframes

CAPTURES = sorted((Path(__file__).parents[2] / "captures").glob("*.pcap"))
SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10

pytestmark = pytest.mark.skipif(fastframes.walk_pcap is None, reason=f"accelerator not in use: {fastframes.UNAVAILABLE_REASON}")


def decode(path, monkeypatch, accelerated: bool, **kw):
    """(records as repr strings, stats as JSON, packets handled by the C loop)."""
    handled = [0]

    def counting(real):
        def walk(*args):
            result = real(*args)
            handled[0] += result[1] - args[6]  # frames done by this walk
            return result

        return walk

    counting_walk = counting(fastframes.walk_pcap)
    counting_walk_ng = counting(fastframes.walk_pcapng)

    monkeypatch.setattr(engine, "walk_pcap", counting_walk if accelerated else None)
    monkeypatch.setattr(engine, "walk_pcapng", counting_walk_ng if accelerated else None)
    monkeypatch.setattr(stream_module, "frame_clean", fastframes.frame_clean if accelerated else None)
    stats = CaptureStats()
    records = [repr(r) for r in read_capture(path, connection_events=True, stats=stats, **kw)]
    return records, stats.to_json(), handled[0]


def assert_same_both_ways(path, monkeypatch, **kw) -> tuple[list[str], dict, int]:
    fast = decode(path, monkeypatch, True, **kw)
    slow = decode(path, monkeypatch, False, **kw)
    assert slow[2] == 0
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]
    return fast


LINKS = {"ether": 1, "vlan": 1, "qinq": 1, "sll": 113, "sll2": 276, "raw": 101, "ipv4": 228}


def relink(frame: bytes, link: str) -> bytes:
    """An Ethernet frame of raw_tcp_frame re-framed for ``link`` (its ethertype kept)."""
    etype, ip = frame[12:14], frame[14:]
    if link == "ether":
        return frame
    if link == "vlan":
        return frame[:12] + b"\x81\x00\x00\x0a" + etype + ip
    if link == "qinq":
        return frame[:12] + b"\x88\xa8\x00\x64\x81\x00\x00\x0a" + etype + ip
    if link == "sll":
        return struct.pack(">HHH8s", 0, 1, 6, frame[6:12]) + etype + ip
    if link == "sll2":
        return etype + struct.pack(">HIHBB8s", 0, 1, 1, 0, 6, frame[6:12]) + ip
    return ip  # raw, ipv4


def write_pcap(
    path, frames: list[bytes], order: str = "<", nano: bool = False, t0: float = 1_700_000_000.0, dt: float = 0.001, link: str = "ether"
):
    frames = [relink(f, link) for f in frames]
    with open(path, "wb") as f:
        f.write(struct.pack(order + "IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, 262144, LINKS[link]))
        for i, data in enumerate(frames):
            t = t0 + i * dt
            frac = round((t - int(t)) * (1e9 if nano else 1e6))
            f.write(struct.pack(order + "IIII", int(t), frac, len(data), len(data)) + data)


def write_pcapng(
    path,
    frames: list[bytes],
    order: str = "<",
    tsresol: int = 6,
    t0: float = 1_700_000_000.0,
    dt: float = 0.001,
    sections: int = 1,
    offset: int = 0,
    link: str = "ether",
):
    """pcapng by hand: ``sections`` sections (the frames split between them), each with a
    raw-IP interface 0 that carries nothing and interface 1 of ``link`` (``if_tsresol``
    10**-tsresol, ``if_tsoffset`` ``offset`` seconds), a statistics block in between."""
    frames = [relink(f, link) for f in frames]

    def block(btype: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack(order + "II", btype, 12 + len(body)) + body + struct.pack(order + "I", 12 + len(body))

    def idb(linktype: int, options: bytes) -> bytes:
        return block(1, struct.pack(order + "HHI", linktype, 0, 262144) + options)

    opts = struct.pack(order + "HH", 9, 1) + bytes([tsresol]) + b"\0\0\0"
    if offset:
        opts += struct.pack(order + "HHq", 14, 8, offset)
    opts += struct.pack(order + "HH", 0, 0)
    per_section = -(-len(frames) // sections) if frames else 0
    out = bytearray()
    for sec in range(sections):
        out += block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
        out += idb(101, b"") + idb(LINKS[link], opts)
        for i, data in enumerate(frames[sec * per_section : (sec + 1) * per_section], start=sec * per_section):
            units = round((t0 + i * dt - offset) * 10**tsresol)
            body = struct.pack(order + "IIIII", 1, units >> 32, units & 0xFFFFFFFF, len(data), len(data)) + data
            out += block(6, body)
            if i % 50 == 0:
                out += block(5, struct.pack(order + "III", 1, 0, 0))  # interface statistics: skipped
    path.write_bytes(bytes(out))


C, S = ("10.0.0.2", 50000), ("10.0.0.1", 42027)


def c2s(seq, payload=b"", flags=PSH | ACK, ack=0, client=C):
    return raw_tcp_frame(client[0], S[0], client[1], S[1], seq, ack, flags, payload)


def s2c(seq, payload=b"", flags=PSH | ACK, ack=0, client=C):
    return raw_tcp_frame(S[0], client[0], S[1], client[1], seq, ack, flags, payload)


def simple_conversation() -> list[bytes]:
    frames = [c2s(100, flags=SYN), s2c(900, flags=SYN | ACK, ack=101), c2s(101, flags=ACK, ack=901)]
    frames.append(c2s(101, open_req(1), ack=901))
    seq_c = 101 + len(open_req(1))
    seq_s = 901
    for i in range(2, 40):
        frames.append(c2s(seq_c, heartbeat_req(i), ack=seq_s))
        seq_c += len(heartbeat_req(i))
        frames.append(s2c(seq_s, heartbeat_conf(i) + agent_state_event(str(i)), ack=seq_c))
        seq_s += len(heartbeat_conf(i) + agent_state_event(str(i)))
    return frames


def test_sample_captures(monkeypatch):
    assert CAPTURES
    for path in CAPTURES:
        records, _stats, handled = assert_same_both_ways(path, monkeypatch)
        assert records and handled > 0, path


def test_most_packets_of_a_clean_conversation_go_through_the_c_loop(tmp_path, monkeypatch):
    path = tmp_path / "c.pcap"
    frames = simple_conversation()
    write_pcap(path, frames)
    records, stats, handled = assert_same_both_ways(path, monkeypatch)
    # The SYN (a new flow), the SYN-ACK and the OPEN_REQ (version not decided yet) go to
    # Python; the bare ACK of the handshake and everything after the OPEN_REQ do not.
    assert handled == len(frames) - 3
    assert stats["messages"] == 1 + 38 * 3 and stats["packets"] == len(frames)


@pytest.mark.parametrize("order, nano", [("<", False), (">", False), ("<", True), (">", True)])
def test_byte_order_and_nanosecond_timestamps(tmp_path, monkeypatch, order, nano):
    path = tmp_path / "c.pcap"
    write_pcap(path, simple_conversation(), order=order, nano=nano, t0=1_700_000_000.123456, dt=0.000001)
    records, stats, handled = assert_same_both_ways(path, monkeypatch)
    assert handled > 70
    assert stats["first_ts"] == pytest.approx(1_700_000_000.123456, abs=1e-6)


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("link", sorted(LINKS))
def test_link_types(tmp_path, monkeypatch, fmt, link):
    path = tmp_path / f"c.{fmt}"
    frames = simple_conversation()
    (write_pcap if fmt == "pcap" else write_pcapng)(path, frames, link=link)
    records, stats, handled = assert_same_both_ways(path, monkeypatch)
    assert stats["messages"] == 1 + 38 * 3 and stats["packets"] == len(frames) and stats["anomaly_records"] == 0
    # Plain IPv4 on Ethernet (VLAN tags too), SLL, SLL2 and raw-IP links goes through the C loop.
    assert handled == len(frames) - 3


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("tsresol, offset, sections", [(6, 0, 1), (9, 0, 3), (6, 1_000_000, 2)])
def test_pcapng(tmp_path, monkeypatch, order, tsresol, offset, sections):
    path = tmp_path / "c.pcapng"
    frames = simple_conversation()
    write_pcapng(path, frames, order=order, tsresol=tsresol, offset=offset, sections=sections)
    records, stats, handled = assert_same_both_ways(path, monkeypatch)
    assert stats["messages"] == 1 + 38 * 3 and stats["packets"] == len(frames)
    assert handled > 70
    assert stats["first_ts"] == pytest.approx(1_700_000_000.0, abs=1e-6)


def test_pcapng_corrupt_block(tmp_path, monkeypatch):
    path = tmp_path / "c.pcapng"
    frames = simple_conversation()
    write_pcapng(path, frames)
    data = bytearray(path.read_bytes())
    at = data.index(frames[30])  # the EPB of frame 31 claims an interface that does not exist
    struct.pack_into("<I", data, at - 20, 7)
    path.write_bytes(bytes(data))
    records, stats, _handled = assert_same_both_ways(path, monkeypatch)
    assert stats["packets"] == 30 and stats["anomalies"].get("capture.bad_record") == 1


def test_sample_captures_as_pcapng(tmp_path, monkeypatch):
    from ctidissect.capture.pcapfile import open_capture

    for source in CAPTURES:
        capture = open_capture(source)
        frames = [data for _ts, _lt, data in capture.frames()]
        capture.close()
        path = tmp_path / (source.stem + ".pcapng")
        write_pcapng(path, frames, sections=2)
        records, _stats, handled = assert_same_both_ways(path, monkeypatch)
        assert handled > 0


@pytest.mark.parametrize(
    "fmt, cut", [("pcap", c) for c in (1, 15, 16, 17, 60)] + [("pcapng", c) for c in (1, 11, 12, 13, 40, 100)]
)
def test_file_cut_short(tmp_path, monkeypatch, fmt, cut):
    path = tmp_path / f"c.{fmt}"
    (write_pcap if fmt == "pcap" else write_pcapng)(path, simple_conversation())
    path.write_bytes(path.read_bytes()[:-cut])
    records, stats, _handled = assert_same_both_ways(path, monkeypatch)
    assert stats["anomalies"].get("capture.truncated") == 1


def test_corrupt_record_length(tmp_path, monkeypatch):
    path = tmp_path / "c.pcap"
    frames = simple_conversation()
    write_pcap(path, frames)
    data = bytearray(path.read_bytes())
    # Frame 21's record header claims more bytes than the file has.
    pos = 24
    for frame in frames[:20]:
        pos += 16 + len(frame)
    struct.pack_into("<I", data, pos + 8, 0x7FFFFFFF)
    path.write_bytes(bytes(data))
    records, stats, _handled = assert_same_both_ways(path, monkeypatch)
    assert stats["packets"] == 20


def test_more_than_8192_frames_cross_the_sweep_frames(tmp_path, monkeypatch):
    path = tmp_path / "c.pcap"
    frames = [c2s(100, flags=SYN), c2s(101, open_req(1))]
    seq = 101 + len(open_req(1))
    for i in range(2, 8400):
        hb = heartbeat_req(i)
        frames.append(c2s(seq, hb))
        seq += len(hb)
    write_pcap(path, frames, dt=0.01)
    records, stats, handled = assert_same_both_ways(path, monkeypatch)
    assert stats["messages"] == 8399
    assert handled == len(frames) - 3  # SYN, OPEN_REQ and frame 8192 go to Python


def test_non_cti_traffic_and_detect(tmp_path, monkeypatch):
    path = tmp_path / "c.pcap"
    other = ("10.0.0.9", 40000)
    frames = []
    for i, frame in enumerate(simple_conversation()):
        frames.append(frame)
        if i % 3 == 0:
            frames.append(raw_tcp_frame(other[0], "10.0.0.1", other[1], 8080, 7 + i, 0, PSH | ACK, b"GET / HTTP/1.1\r\n"))
    write_pcap(path, frames)
    assert_same_both_ways(path, monkeypatch)
    assert_same_both_ways(path, monkeypatch, detect=True)
    assert_same_both_ways(path, monkeypatch, ports=[8080])


def test_undecided_version_midstream_and_gaps(tmp_path, monkeypatch):
    # No handshake, no OPEN_REQ: the version waits for evidence; then a lost segment.
    path = tmp_path / "c.pcap"
    frames, seq = [], 5000
    for i in range(2, 60):
        hb = heartbeat_req(i) + call_delivered_event(i)
        if i != 30:
            frames.append(c2s(seq, hb))
        seq += len(hb)
    frames.append(s2c(77, b"", flags=ACK, ack=seq))
    write_pcap(path, frames)
    records, stats, handled = assert_same_both_ways(path, monkeypatch)
    assert stats["anomalies"].get("tcp.gap") == 1 and handled > 0


MESSAGES = [open_req(1)] + [
    m for i in range(2, 10) for m in (heartbeat_req(i), agent_state_event(str(1000 + i)), call_delivered_event(i))
]
STREAM = b"".join(MESSAGES)


@st.composite
def captures(draw):
    """Two connections' worth of segments with random cuts, reordering, retransmissions,
    losses, acknowledgements, foreign traffic, byte flips, cut frames and endings."""
    frames: list[bytes] = []
    for conn in range(2):
        client = ("10.0.0.2", 50000 + conn)
        isn = draw(st.integers(0, 0xFFFFFFFF))
        if draw(st.booleans()):
            frames.append(c2s(isn, flags=SYN, client=client))
        cuts = sorted(set(draw(st.lists(st.integers(1, len(STREAM) - 1), max_size=25))))
        bounds = [0, *cuts, len(STREAM)]
        segs = [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
        for start, size in draw(st.lists(st.tuples(st.integers(0, len(STREAM) - 1), st.integers(1, 120)), max_size=4)):
            segs.insert(draw(st.integers(0, len(segs))), (start, min(len(STREAM), start + size)))
        for i in draw(st.lists(st.integers(0, len(segs) - 1), max_size=5)):
            if i + 1 < len(segs):
                segs[i], segs[i + 1] = segs[i + 1], segs[i]
        drop = set(draw(st.lists(st.integers(0, len(segs) - 1), max_size=2)))
        for i, (start, end) in enumerate(segs):
            if i in drop:
                continue
            flags = draw(st.sampled_from([PSH | ACK, ACK, PSH]))
            frames.append(c2s(isn + 1 + start, STREAM[start:end], flags=flags, client=client))
            if draw(st.integers(0, 5)) == 0:
                frames.append(s2c(9, flags=ACK, ack=isn + 1 + end, client=client))
        ending = draw(st.sampled_from(["none", "fin", "rst"]))
        if ending != "none":
            frames.append(c2s(isn + 1 + len(STREAM), flags=FIN | ACK if ending == "fin" else RST, client=client))
    for _ in range(draw(st.integers(0, 3))):
        frames.insert(draw(st.integers(0, len(frames))), raw_tcp_frame("10.0.0.7", "10.0.0.8", 1234, 80, 1, 0, PSH, b"xyz"))
    if not frames:
        frames.append(c2s(1, flags=SYN))
    flips = draw(st.lists(st.tuples(st.integers(0, len(frames) - 1), st.integers(0, 200), st.integers(0, 255)), max_size=3))
    frames = [bytearray(f) for f in frames]
    for index, offset, value in flips:
        frames[index][offset % len(frames[index])] = value
    for index, keep in draw(st.lists(st.tuples(st.integers(0, len(frames) - 1), st.integers(0, 80)), max_size=2)):
        del frames[index][keep:]  # a runt or a frame cut inside its headers or payload
    return (
        [bytes(f) for f in frames],
        draw(st.sampled_from(["<", ">"])),
        draw(st.sampled_from(["pcap", "pcapng"])),
        draw(st.sampled_from(sorted(LINKS))),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(captures())
def test_any_capture_decodes_the_same_with_and_without_the_c_loop(tmp_path, monkeypatch, case):
    frames, order, fmt, link = case
    path = tmp_path / f"random.{fmt}"
    if fmt == "pcap":
        write_pcap(path, frames, order=order, link=link)
    else:
        write_pcapng(path, frames, order=order, sections=2, link=link)
    assert_same_both_ways(path, monkeypatch)


def test_runt_frames_are_records_or_ignored_never_a_crash(tmp_path, monkeypatch):
    # Regression: the engine's inline path indexed byte 23 of a frame before checking its
    # length, so a frame shorter than 24 bytes raised IndexError.
    frames = simple_conversation()[:6]
    for n in (1, 5, 13, 14, 20, 23, 24, 30, 53):
        frames.append(bytes(range(n)))
        frames.append((b"\x02" * 12 + b"\x08\x00\x45" + b"\x00" * 60)[:n])
    for n in (13, 14, 15, 16, 17, 19, 21, 22, 40, 57):  # two VLAN tags, then IPv4 at 22
        frames.append((b"\x02" * 12 + b"\x81\x00\x00\x0a" * 2 + b"\x08\x00\x45" + b"\x00" * 60)[:n])
    frames += simple_conversation()[6:12]
    path = tmp_path / "runts.pcap"
    write_pcap(path, frames)
    records, stats, _handled = assert_same_both_ways(path, monkeypatch)
    assert stats["packets"] == len(frames)
    # The IPv4 ethertype followed by fewer than 20 bytes is a cut IPv4 header: the frames of
    # 14, 20, 23, 24 and 30 bytes, and of 22 and 40 bytes behind two VLAN tags.  53 bytes hold
    # a whole header of protocol 0 (not TCP, not CTI); the others stop before the ethertype.
    assert stats["anomalies"] == {"ip.truncated": 7}
