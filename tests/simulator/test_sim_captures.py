"""Golden baselines: each sample capture in captures/ is regenerated from its scenario and
seed and must be byte-identical to the committed file, and so must its expected-results
file.  Regenerate deliberately with ``CTIDISSECT_REGEN=1 python -m pytest
tests/simulator/test_sim_captures.py``.

The captures must also decode without anomalies, except those a scenario injects on purpose
(``decoder_anomalies`` in the expected-results file), to the message counts recorded there.
"""

from __future__ import annotations

import json
import os
import struct
from collections import Counter
from pathlib import Path

import pytest

from ctidissect.simulator import load_scenario, result_summary, run_scenario
from ctidissect.wire import decode_buffer

CAPTURES_DIR = Path(__file__).resolve().parents[2] / "captures"
CAPTURES = {
    # capture name: (scenario, seed)
    "emergency-supervisor-found": ("emergency-supervisor-found", 11),
    "emergency-no-supervisor": ("emergency-no-supervisor", 12),
    "supervisor-assist": ("supervisor-assist", 13),
    "heartbeat-loss": ("heartbeat-loss", 14),
    "failover": ("failover", 15),
    "slow-control": ("slow-control", 16),
    "mixed-versions": ("mixed-versions", 17),
    "segmentation": ("segmentation", 18),
    "busy-hour": ("busy-hour", 19),
    "protocol-errors": ("protocol-errors", 20),
}
REGEN = os.environ.get("CTIDISSECT_REGEN") == "1"


def _expected_json(summary: dict) -> str:
    return json.dumps(summary, indent=2) + "\n"


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_capture_is_reproducible(name, tmp_path):
    scenario_name, seed = CAPTURES[name]
    pcap = tmp_path / f"{name}.pcap"
    summary = result_summary(run_scenario(load_scenario(scenario_name), seed=seed, pcap_path=pcap))
    committed_pcap = CAPTURES_DIR / f"{name}.pcap"
    committed_json = CAPTURES_DIR / f"{name}.expected.json"
    if REGEN:
        committed_pcap.write_bytes(pcap.read_bytes())
        committed_json.write_text(_expected_json(summary))
    assert pcap.stat().st_size < 300_000
    assert pcap.read_bytes() == committed_pcap.read_bytes(), f"{name}.pcap differs (CTIDISSECT_REGEN=1 to update)"
    assert _expected_json(summary) == committed_json.read_text(), f"{name}.expected.json differs"


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    scenario = load_scenario("segmentation")
    paths = [tmp_path / f"{i}.pcap" for i in range(3)]
    run_scenario(scenario, seed=18, pcap_path=paths[0])
    run_scenario(scenario, seed=18, pcap_path=paths[1])
    run_scenario(scenario, seed=99, pcap_path=paths[2])
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()


def _read_messages(path: Path):
    """(direction, Message) of every CTI message in one of our pcaps.  Uses the project's
    capture reader when present; otherwise a minimal reader good for these files (Ethernet /
    IPv4 / TCP, in-order streams, version from each OPEN_REQ)."""
    try:
        from ctidissect.capture import read_capture
    except ImportError:
        read_capture = None
    if read_capture is not None:
        return [(m.direction, m) for m in read_capture(path)]
    data = path.read_bytes()
    pos = 24
    streams: dict[tuple, bytearray] = {}
    while pos < len(data):
        _s, _u, incl, _orig = struct.unpack_from("<IIII", data, pos)
        frame = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        ihl = (frame[14] & 0x0F) * 4
        ip = frame[14:]
        tcp = ip[ihl:]
        payload = tcp[(tcp[12] >> 4) * 4:]
        if payload:
            src = (ip[12:16], struct.unpack(">H", tcp[0:2])[0])
            dst = (ip[16:20], struct.unpack(">H", tcp[2:4])[0])
            streams.setdefault((src, dst), bytearray()).extend(payload)
    out = []
    for (src, dst), payload in streams.items():
        c2s = dst[1] in (42027, 43027)
        version = 24
        if c2s and payload[4:8] == b"\0\0\0\3":
            version = int.from_bytes(payload[12:16], "big")
        else:
            back = streams.get((dst, src), b"")
            if back[4:8] == b"\0\0\0\3":
                version = int.from_bytes(back[12:16], "big")
        out += [("c2s" if c2s else "s2c", m) for m in decode_buffer(bytes(payload), version)]
    return out


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_capture_decodes_as_expected(name):
    expected = json.loads((CAPTURES_DIR / f"{name}.expected.json").read_text())
    counts = {"c2s": Counter(), "s2c": Counter()}
    anomalies: Counter = Counter()
    for direction, msg in _read_messages(CAPTURES_DIR / f"{name}.pcap"):
        if msg.anomalies:
            anomalies.update(a.code for a in msg.anomalies)
            continue
        counts[direction][msg.name or f"type {msg.type}"] += 1
    assert dict(counts["c2s"]) == expected["messages"]["c2s"]
    assert dict(counts["s2c"]) == expected["messages"]["s2c"]
    allowed = set(expected["decoder_anomalies"]["allowed"])
    assert set(anomalies) <= allowed, anomalies
    assert set(expected["decoder_anomalies"]["required"]) <= set(anomalies)


def _segments(path: Path) -> dict[tuple, list[bytes]]:
    """TCP payloads per direction of one of our pcaps, in capture order."""
    data = path.read_bytes()
    pos = 24
    out: dict[tuple, list[bytes]] = {}
    while pos < len(data):
        incl = struct.unpack_from("<IIII", data, pos)[2]
        frame = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        ip = frame[14:]
        tcp = ip[(ip[0] & 0x0F) * 4:]
        payload = tcp[(tcp[12] >> 4) * 4:]
        if payload:
            out.setdefault((ip[12:16], tcp[0:2], ip[16:20], tcp[2:4]), []).append(payload)
    return out


def test_segmentation_capture_splits_and_coalesces_messages():
    several_in_one = split_over_two = 0
    for payloads in _segments(CAPTURES_DIR / "segmentation.pcap").values():
        boundaries, pos, stream = set(), 0, b"".join(payloads)
        while pos + 8 <= len(stream):
            boundaries.add(pos)
            pos += 8 + int.from_bytes(stream[pos:pos + 4], "big")
        start = 0
        for p in payloads:
            inside = [b for b in boundaries if start <= b < start + len(p)]
            several_in_one += len(inside) >= 2
            split_over_two += start not in boundaries
            start += len(p)
    assert several_in_one > 0 and split_over_two > 0
