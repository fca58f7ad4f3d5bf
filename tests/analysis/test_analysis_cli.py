"""``ctidissect sessions|pairs|fanout|calls`` over a pcap written from a hand-built trace, and
the same analysis through the capture reader as over the hand-built records."""

from __future__ import annotations

import json

import pytest
from analysis_builders import (
    ALL_EVENTS,
    CLIENT_CONTROL,
    CLIENT_EVENTS,
    SUPERVISOR,
    Trace,
    conn,
    write_pcap,
)

from ctidissect.analysis import analyze
from ctidissect.cli import main
from ctidissect.report import columns as cols

AGENT, BRIDGE, RECORDER, SUP, LATE = conn(1), conn(2), conn(3), conn(4), conn(5)


def scenario() -> Trace:
    t = Trace()
    t.open(0.0, AGENT, client_id="agent1", services=CLIENT_EVENTS | CLIENT_CONTROL, agent_id="1001", extension="3001",
           idle_timeout=20)
    t.open(0.1, BRIDGE, client_id="CTIBridge", services=ALL_EVENTS, idle_timeout=20)
    t.open(0.2, RECORDER, client_id="RecServer", services=ALL_EVENTS, idle_timeout=20)
    t.open(0.3, SUP, client_id="sup1", services=CLIENT_EVENTS | SUPERVISOR, agent_id="2001")
    for i, at in enumerate((5.0, 10.0, 15.0)):
        t.c2s(at, BRIDGE, "HEARTBEAT_REQ", {"InvokeID": 10 + i})
        t.s2c(at + 0.000731, BRIDGE, "HEARTBEAT_CONF", {"InvokeID": 10 + i})
    t.s2c(6.0, AGENT, "BEGIN_CALL_EVENT", {"MonitorID": 4, "PeripheralID": 5000, "CallType": 1, "ConnectionCallID": 700},
          [("CONNECTION_DEVID", "3001")])
    t.s2c(6.0, BRIDGE, "BEGIN_CALL_EVENT", {"MonitorID": 0, "PeripheralID": 5000, "CallType": 1, "ConnectionCallID": 700},
          [("CONNECTION_DEVID", "3001")])
    t.c2s(7.0, AGENT, "EMERGENCY_CALL_REQ", {"InvokeID": 2, "PeripheralID": 5000, "ConnectionCallID": 700},
          [("CONNECTION_DEVID", "3001")])
    t.emergency_event(7.001234, BRIDGE, call_id=700, client_id="agent1", agent_id="1001")
    t.s2c(7.25, AGENT, "FAILURE_CONF", {"InvokeID": 2, "Status": 64})
    t.c2s(8.0, AGENT, "SET_AGENT_STATE_REQ", {"InvokeID": 3, "PeripheralID": 5000})
    t.c2s(8.1, AGENT, "SET_AGENT_STATE_REQ", {"InvokeID": 3, "PeripheralID": 5000})
    t.s2c(8.5, AGENT, "CONTROL_FAILURE_CONF", {"InvokeID": 3, "FailureCode": 259})
    t.open(9.0, LATE, client_id="LateBridge", services=ALL_EVENTS)
    t.c2s(12.0, AGENT, "CLOSE_REQ", {"InvokeID": 4})
    t.s2c(12.1, AGENT, "CLOSE_CONF", {"InvokeID": 4})
    t.conn_event(12.2, AGENT, "fin", "c2s")
    t.conn_event(12.3, AGENT, "fin", "s2c")
    t.conn_event(40.0, RECORDER, "rst", "s2c")  # idle timeout: silent since 0.2 s
    return t


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "trace.pcap"
    write_pcap(scenario(), path)
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_pcap_analysis_equals_hand_built_analysis(capture):
    from ctidissect.capture import read_capture

    direct = analyze(scenario().records)
    via_pcap = analyze(read_capture(capture, connection_events=True))

    def pairs(a):
        return [(p.conn, p.invoke_id, p.request, p.response, p.latency_s, p.status, p.failure) for p in a.pairs]

    def sessions(a):
        return [(s.conn, s.role, s.client_id, s.end_reason, s.end_by, s.heartbeat_interval_s, s.missed_heartbeats,
                 s.opened_ts, s.closed_ts) for s in a.sessions]

    def fanout(a):
        return [(f.request, f.outcome, f.outcome_latency_s,
                 [(r.conn, r.expected, r.delivered, r.delay_s) for r in f.recipients]) for f in a.fanout]

    assert pairs(via_pcap) == pairs(direct)
    assert sessions(via_pcap) == sessions(direct)
    assert fanout(via_pcap) == fanout(direct)
    assert [(c.key, len(c.events)) for c in via_pcap.calls] == [(c.key, len(c.events)) for c in direct.calls]


def test_pairs_json(capsys, capture):
    code, out, _ = run(capsys, "pairs", "--json", capture)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    keys = ["conn", "invoke_id", "request", "request_frame", "request_ts", "response", "response_frame", "latency_s", "status"]
    assert all(list(r)[:9] == keys for r in rows)
    got = [(r["request"], r["response"], r["latency_s"], r["status"], r["failure"]) for r in rows if r["conn"] == AGENT]
    assert got == [
        ("OPEN_REQ", "OPEN_CONF", 0.01, "ok", None),
        ("EMERGENCY_CALL_REQ", "FAILURE_CONF", 0.25, "failed", "E_CTI_SUPERVISOR_NOT_FOUND"),
        ("SET_AGENT_STATE_REQ", "CONTROL_FAILURE_CONF", 0.5, "failed", "CF_SPECIFIED_AGENT_ALREADY_SIGNED_ON"),
        ("SET_AGENT_STATE_REQ", None, None, "duplicate", None),
        ("CLOSE_REQ", "CLOSE_CONF", 0.1, "ok", None),
    ]
    hb = [r["latency_s"] for r in rows if r["request"] == "HEARTBEAT_REQ"]
    assert hb == [0.000731] * 3
    code, out, _ = run(capsys, "pairs", "--json", "--status", "duplicate", capture)
    assert [json.loads(line)["status"] for line in out.splitlines()] == ["duplicate"]


def test_fanout_json(capsys, capture):
    code, out, _ = run(capsys, "fanout", "--json", capture)
    assert code == 0
    (fo,) = [json.loads(line) for line in out.splitlines()]
    assert list(fo)[:7] == ["request", "request_frame", "request_ts", "requester", "outcome", "outcome_latency_s", "recipients"]
    assert (fo["request"], fo["requester"], fo["outcome"], fo["outcome_latency_s"]) == (
        "EMERGENCY_CALL_REQ", AGENT, "FAILURE_CONF", 0.25)
    recipients = [(r["conn"], r["role"], r["client_id"], r["delivered"], r["delay_s"]) for r in fo["recipients"]]
    assert recipients == [(BRIDGE, "bridge", "CTIBridge", True, 0.001234), (RECORDER, "recording", "RecServer", False, None)]
    assert all(list(r)[:6] == ["conn", "role", "client_id", "delivered", "frame", "delay_s"] for r in fo["recipients"])


def test_sessions_json_and_text(capsys, capture):
    code, out, _ = run(capsys, "sessions", "--json", capture)
    rows = {r["conn"]: r for r in map(json.loads, out.splitlines())}
    keys = ["conn", "role", "client_id", "protocol_version", "services_granted", "opened_ts", "closed_ts", "end_reason",
            "heartbeat_interval_s", "missed_heartbeats"]
    assert all(list(r)[:10] == keys for r in rows.values())
    assert (rows[AGENT]["end_reason"], rows[AGENT]["services_granted"]) == (
        "close", ["CTI_SERVICE_CLIENT_EVENTS", "CTI_SERVICE_CLIENT_CONTROL"])
    assert (rows[BRIDGE]["heartbeat_interval_s"], rows[BRIDGE]["end_reason"]) == (5.0, "capture_end")
    assert (rows[RECORDER]["role"], rows[RECORDER]["end_reason"]) == ("recording", "idle_timeout")
    code, out, _ = run(capsys, "sessions", capture)
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["conn", "side", "role", "client_id"]
    assert set(lines[1]) == {"-", " "}
    # aligned: every column starts at the same offset on every row
    start = lines[0].index("role")
    assert all(line[start:].split()[0] in {"agent", "bridge", "recording", "supervisor"} for line in lines[2:7])
    assert lines[-1] == "5 session(s)"


def test_csv_headers_are_the_documented_columns(capsys, capture):
    for command, table in (("sessions", cols.SESSION_COLUMNS), ("pairs", cols.PAIR_COLUMNS), ("calls", cols.CALL_COLUMNS)):
        code, out, _ = run(capsys, command, "--csv", capture)
        assert code == 0
        assert out.splitlines()[0].split(",") == [c.name for c in table]
    code, out, _ = run(capsys, "fanout", "--csv", capture)
    header = out.splitlines()[0].split(",")
    assert header[:3] == ["request", "request_frame", "request_ts"] and "delay_s" in header
    assert len(out.splitlines()) == 3  # one row per recipient


def test_pairs_and_fanout_text(capsys, capture):
    code, out, _ = run(capsys, "pairs", capture)
    assert code == 0 and "CF_SPECIFIED_AGENT_ALREADY_SIGNED_ON" in out
    assert out.splitlines()[-1] == "12 pair(s): 9 ok, 2 failed, 1 duplicate"
    code, out, _ = run(capsys, "fanout", capture)
    assert "MISSED" in out and out.splitlines()[-1] == "1 fan-out request(s), 1 missed delivery(ies)"


def test_calls_and_ladder(capsys, capture, tmp_path):
    code, out, _ = run(capsys, "calls", "--json", capture)
    (call,) = [json.loads(line) for line in out.splitlines()]
    assert (call["connection_call_id"], call["connection_device_id"], call["call_type"], call["events"]) == (
        700, "3001", "CALLTYPE_ACD_IN", 4)
    png = tmp_path / "ladder.png"
    code, out, err = run(capsys, "calls", "--ladder", "5000:700", "--plot", str(png), capture)
    assert code == 0 and png.read_bytes()[:4] == b"\x89PNG"
    assert out.splitlines()[0] == "call ladder: PeripheralID 5000 ConnectionCallID 700 device 3001"
    assert "EMERGENCY_CALL_REQ" in out and "EMERGENCY_CALL_EVENT" in out
    code, out, _ = run(capsys, "calls", "--ladder", "700", "--json", capture)
    assert [json.loads(line)["name"] for line in out.splitlines()][:2] == ["BEGIN_CALL_EVENT", "BEGIN_CALL_EVENT"]


def test_errors_and_exit_codes(capsys, capture, tmp_path):
    code, _, err = run(capsys, "calls", "--plot", "x.png", capture)
    assert code == 2 and "--plot needs --ladder" in err
    code, _, err = run(capsys, "calls", "--ladder", "abc:1", capture)
    assert code == 2
    code, _, err = run(capsys, "calls", "--ladder", "12345", capture)
    assert code == 3 and "no call with ConnectionCallID 12345" in err
    code, _, err = run(capsys, "pairs", "--timeout", "0", capture)
    assert code == 2
    code, _, err = run(capsys, "pairs", str(tmp_path / "missing.pcap"))
    assert code == 3
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    code, _, err = run(capsys, "sessions", str(bad))
    assert code == 3 and err.startswith("ctidissect: error:")
    with pytest.raises(SystemExit) as exc:
        main(["pairs", "--json", "--csv", capture])
    assert exc.value.code == 2


def test_timeout_option_makes_replies_late(capsys, capture):
    code, out, _ = run(capsys, "pairs", "--json", "--timeout", "0.2", capture)
    statuses = {(r["request"], r["status"]) for r in map(json.loads, out.splitlines()) if r["conn"] == AGENT}
    assert ("EMERGENCY_CALL_REQ", "late") in statuses and ("CLOSE_REQ", "ok") in statuses


def test_ports_option(capsys, capture):
    code, out, _ = run(capsys, "sessions", "--json", "--port", "43027", capture)
    assert code == 0 and out == ""  # nothing on that port
    code, out, _ = run(capsys, "sessions", "--json", "--port", "42027", capture)
    assert {json.loads(line)["side"] for line in out.splitlines()} == {"A"}

