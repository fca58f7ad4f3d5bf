"""End to end: simulator captures -> capture reader -> analysis, checked against the
simulator's expected results (``result_summary``: pairs, unanswered requests,
EMERGENCY_CALL_EVENT fan-out, connections, client roles/versions, injected faults).

Two sources: every built-in scenario run in-process on the virtual clock (fast and
deterministic), and any committed ``captures/*.pcap`` / ``*.pcapng`` that has an expected-
results JSON beside it (``NAME.json``, ``NAME.expected.json`` or ``NAME-expected.json``).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from ctidissect.analysis import Analysis, AnalysisConfig, analyze

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"

simulator = pytest.importorskip("ctidissect.simulator")

ROLE_OF = {"agent": "agent", "supervisor": "supervisor", "bridge": "bridge", "recorder": "recording",
           "monitor": "monitor"}


def _analyse(pcap: Path, config: AnalysisConfig | None = None) -> Analysis:
    from ctidissect.capture import read_capture

    return analyze(read_capture(pcap, connection_events=True), config)


def check_against_expected(result: Analysis, expected: dict) -> None:
    """Assert that the analysis finds what the simulator says is in the capture."""
    client_of = {f"{c['client_address']}-{c['server_address']}": c["client"] for c in expected["connections"]}
    sessions = {s.conn: s for s in result.sessions}

    # Request/reply pairs by name ("REQ -> CONF", "REQ -> None" when unanswered).  Requests
    # the scenario malformed on purpose are listed as "raw ..." and skipped.
    raw = {k.removeprefix("raw ") for k in expected["pairs"] if k.startswith("raw ")}
    want = {k: n for k, n in expected["pairs"].items() if not k.startswith("raw ") and k not in raw}
    got = Counter(f"{p.request} -> {p.response}" for p in result.pairs if p.request is not None)
    assert {k: got.get(k, 0) for k in want} == want

    unanswered = sorted((client_of.get(p.conn), p.request, p.invoke_id) for p in result.pairs
                        if p.request is not None and p.response is None)
    assert unanswered == sorted((u["client"], u["request"], u["invoke_id"]) for u in expected["unanswered"])

    fanout = Counter(client_of.get(r.conn) for f in result.fanout for r in f.recipients
                     if r.delivered and r.kind == "emergency_event")
    assert dict(fanout) == expected["emergency_call_event_fanout"]

    for conn_rec in expected["connections"]:
        conn = f"{conn_rec['client_address']}-{conn_rec['server_address']}"
        ended = conn_rec["ended_by"]
        if ended == "refused":
            continue
        s = sessions[conn]
        client = expected["clients"][conn_rec["client"]]
        assert s.role == ROLE_OF.get(client["role"], s.role), conn_rec
        assert s.protocol_version == client["version"], conn_rec
        assert s.side == conn_rec["side"]
        if ended == "open at end":
            assert s.end_reason == "capture_end", conn_rec
        else:
            kind, _, who = ended.split()
            assert (s.tcp_end_kind, s.tcp_end_direction) == (kind, "s2c" if who == "server" else "c2s"), conn_rec

    by_client_invoke = {(client_of.get(p.conn), p.invoke_id): p for p in result.pairs if p.request is not None}
    for fault in expected["faults_applied"]:
        kind = fault["kind"]
        pair = by_client_invoke.get((fault.get("client"), fault.get("invoke_id")))
        if kind == "skip_fanout":
            (fo,) = [f for f in result.fanout
                     if client_of.get(f.requester) == fault["client"] and f.invoke_id == fault["invoke_id"]]
            missed = [client_of.get(r.conn) for r in fo.recipients if r.expected and not r.delivered]
            assert fault["recipient"] in missed
        elif kind in ("ignore_heartbeats", "drop_conf"):
            assert pair.status == "unanswered"
        elif kind == "fail":
            assert (pair.status, pair.failure) == ("failed", fault["code"])
        elif kind == "delay_conf":
            assert pair.latency_s >= fault["delay_s"]
        elif kind == "idle_timeout_close":
            (s,) = [s for s in result.sessions if client_of.get(s.conn) == fault["client"]]
            assert (s.end_reason, s.end_by) == ("idle_timeout", "server")
        elif kind == "side_down":
            ended = [s for s in result.sessions if s.side == fault["side"] and s.tcp_end_ts is not None
                     and abs(s.tcp_end_ts - result.sessions[0].first_seen_ts - fault["t"]) < 1.0]
            assert ended and all(s.end_reason == "rst" for s in ended)


def _scenarios() -> list[str]:
    return [name for name, _ in simulator.list_scenarios()]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """name -> (pcap path, expected results), each built-in scenario run once."""
    out_dir = tmp_path_factory.mktemp("sim")
    runs = {}
    for name in _scenarios():
        pcap = out_dir / f"{name}.pcap"
        result = simulator.run_scenario(simulator.load_scenario(name), pcap_path=pcap)
        runs[name] = (pcap, json.loads(json.dumps(simulator.result_summary(result))))
    return runs


@pytest.mark.parametrize("name", _scenarios())
def test_simulated_scenario(simulated, name):
    pcap, expected = simulated[name]
    check_against_expected(_analyse(pcap), expected)


def test_emergency_scenarios_in_detail(simulated):
    pcap, _ = simulated["emergency-no-supervisor"]
    result = _analyse(pcap)
    assert [(f.outcome, f.failure, f.missed_count) for f in result.fanout] == [
        ("FAILURE_CONF", "E_CTI_SUPERVISOR_NOT_FOUND", 0),
        ("FAILURE_CONF", "E_CTI_SUPERVISOR_NOT_FOUND", 1),
    ]
    assert all(r.delay_s is None or 0 < r.delay_s < 0.1 for f in result.fanout for r in f.recipients)
    pcap, _ = simulated["emergency-supervisor-found"]
    (fo,) = _analyse(pcap).fanout
    assert fo.outcome == "EMERGENCY_CALL_CONF" and fo.missed_count == 0
    assert sorted((r.role, r.kind) for r in fo.recipients) == [
        ("bridge", "emergency_event"), ("recording", "emergency_event"), ("recording", "emergency_event"),
        ("supervisor", "supervisor_call")]
    pcap, _ = simulated["supervisor-assist"]
    first, second = _analyse(pcap).fanout
    assert (first.outcome, [(r.role, r.delivered) for r in first.recipients]) == (
        "SUPERVISOR_ASSIST_CONF", [("supervisor", True)])
    assert (second.outcome, second.failure, second.recipients) == ("FAILURE_CONF", "E_CTI_SUPERVISOR_NOT_FOUND", [])


def test_heartbeat_loss_scenario(simulated):
    pcap, _ = simulated["heartbeat-loss"]
    result = _analyse(pcap)
    by_side = {(s.client_id, s.side): s for s in result.sessions}
    lost = by_side[("agent-1001", "A")]
    assert (lost.heartbeats_unanswered, lost.end_reason, lost.end_by) == (3, "rst", "client")
    assert lost.missed_heartbeats >= 3
    assert by_side[("agent-1001", "B")].end_reason == "close"
    assert by_side[("agent-1002", "A")].end_reason == "idle_timeout"


def test_slow_control_timeout_makes_the_delayed_conf_late(simulated):
    pcap, _ = simulated["slow-control"]
    late = [p for p in _analyse(pcap, AnalysisConfig(reply_timeout_s=5.0)).pairs if p.status == "late"]
    assert [(p.request, p.response) for p in late] == [("MAKE_CALL_REQ", "MAKE_CALL_CONF")]
    assert late[0].latency_s > 6.0


def _committed() -> list[tuple[Path, Path]]:
    found = []
    if CAPTURES.is_dir():
        for pcap in sorted([*CAPTURES.glob("**/*.pcap"), *CAPTURES.glob("**/*.pcapng")]):
            stem = pcap.with_suffix("")
            for candidate in (stem.with_suffix(".json"), Path(f"{stem}.expected.json"), Path(f"{stem}-expected.json")):
                if candidate.is_file():
                    found.append((pcap, candidate))
                    break
    return found


@pytest.mark.parametrize("pcap,expected_file", _committed() or [pytest.param(None, None, marks=pytest.mark.skip(
    reason="no committed simulator captures with expected results in captures/ yet"))])
def test_committed_capture(pcap, expected_file):
    expected = json.loads(expected_file.read_text())
    if "pairs" not in expected or "connections" not in expected:
        pytest.skip(f"{expected_file.name} is not a simulator result summary")
    check_against_expected(_analyse(pcap), expected)
