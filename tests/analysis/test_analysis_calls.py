"""Call timelines across sessions, the text ladder and the ladder figure."""

from __future__ import annotations

import subprocess
import sys

from analysis_builders import ALL_EVENTS, CLIENT_CONTROL, CLIENT_EVENTS, SUPERVISOR, T0, Trace, conn

from ctidissect.analysis import analyze, build_ladder, format_ladder

AGENT, BRIDGE, SUP = conn(1), conn(2), conn(3)


def call_trace() -> Trace:
    t = Trace()
    t.open(0.0, AGENT, client_id="agent1", services=CLIENT_EVENTS | CLIENT_CONTROL, agent_id="1001", extension="3001")
    t.open(0.1, BRIDGE, client_id="bridge", services=ALL_EVENTS)
    t.open(0.2, SUP, client_id="sup1", services=CLIENT_EVENTS | SUPERVISOR, agent_id="2001")
    dev = [("CONNECTION_DEVID", "3001")]
    for c, mon in ((BRIDGE, 0), (AGENT, 11)):
        t.s2c(1.0, c, "BEGIN_CALL_EVENT", {"MonitorID": mon, "PeripheralID": 5000, "CallType": 1, "ConnectionCallID": 700}, dev)
        t.s2c(1.0, c, "CALL_DELIVERED_EVENT", {"MonitorID": mon, "PeripheralID": 5000, "ConnectionCallID": 700,
                                                "EventCause": 22, "LocalConnectionState": 2}, dev)
    t.c2s(2.0, AGENT, "ANSWER_CALL_REQ", {"InvokeID": 2, "PeripheralID": 5000, "ConnectionCallID": 700}, dev)
    t.s2c(2.1, AGENT, "CALL_ESTABLISHED_EVENT", {"MonitorID": 11, "PeripheralID": 5000, "ConnectionCallID": 700,
                                                  "EventCause": 0xFFFF}, dev)
    t.s2c(2.1, AGENT, "ANSWER_CALL_CONF", {"InvokeID": 2})
    # An emergency call to the supervisor while the customer call goes on.
    t.s2c(3.0, SUP, "CALL_DELIVERED_EVENT", {"MonitorID": 5, "PeripheralID": 5000, "ConnectionCallID": 701,
                                              "EventCause": 44}, [("CONNECTION_DEVID", "4001")])
    t.s2c(3.0, BRIDGE, "CALL_DATA_UPDATE_EVENT", {"MonitorID": 0, "PeripheralID": 5000, "CallType": 20,
                                                   "ConnectionCallID": 701, "NewConnectionCallID": 0xFFFFFFFF},
          [("CONNECTION_DEVID", "4001")])
    # A message naming the call without device joins the only connection of that call id.
    t.s2c(4.0, BRIDGE, "END_CALL_EVENT", {"MonitorID": 0, "PeripheralID": 5000, "ConnectionCallID": 700})
    t.s2c(4.5, AGENT, "CALL_CLEARED_EVENT", {"MonitorID": 11, "PeripheralID": 5000, "ConnectionCallID": 700,
                                              "EventCause": 0xFFFF}, dev)
    return t


def test_call_timelines_across_sessions():
    result = analyze(call_trace().records)
    summary = [
        (c.peripheral_id, c.connection_call_id, c.connection_device_id, c.call_type, c.first_ts - T0, c.duration_s,
         len(c.events), c.sessions, c.ended, c.emergency, c.causes)
        for c in result.calls
    ]
    assert summary == [
        (5000, 700, "3001", "CALLTYPE_ACD_IN", 1.0, 3.5, 8, [BRIDGE, AGENT], "CALL_CLEARED_EVENT", False, ["CEC_NEW_CALL"]),
        (5000, 701, "4001", "CALLTYPE_EMERGENCY", 3.0, 0.0, 2, [SUP, BRIDGE], None, True, ["CEC_EMERGENCY_CALL"]),
    ]
    call = result.calls[0]
    assert [(e.name, e.conn, e.direction) for e in call.events][4:6] == [
        ("ANSWER_CALL_REQ", AGENT, "c2s"), ("CALL_ESTABLISHED_EVENT", AGENT, "s2c")]
    assert (call.events[1].name, call.events[1].state, call.events[1].cause) == ("CALL_DELIVERED_EVENT", "LCS_ALERTING", "CEC_NEW_CALL")
    assert call.to_json()["events"] == 8


def test_conference_event_files_under_both_calls():
    t = call_trace()
    t.s2c(5.0, BRIDGE, "CALL_CONFERENCED_EVENT", {"MonitorID": 0, "PeripheralID": 5000, "PrimaryCallID": 700,
                                                   "SecondaryCallID": 701},
          [("PRIMARY_DEVID", "3001"), ("SECONDARY_DEVID", "4001")])
    result = analyze(t.records)
    assert [c.events[-1].name for c in result.calls] == ["CALL_CONFERENCED_EVENT"] * 2


def test_text_ladder():
    t = call_trace()
    result = analyze(t.records)
    ladder = result.ladder(700)
    assert [c.connection_call_id for c in ladder.calls] == [700]
    assert ladder.columns == [BRIDGE, AGENT]
    assert ladder.labels == {BRIDGE: "bridge bridge", AGENT: "agent agent1"}
    assert [(r.frame, r.rel_s, r.conn, r.name) for r in ladder.rows][:3] == [
        (10, 0.0, BRIDGE, "BEGIN_CALL_EVENT"), (11, 0.0, BRIDGE, "CALL_DELIVERED_EVENT"), (12, 0.0, AGENT, "BEGIN_CALL_EVENT")]
    text = format_ladder(ladder)
    lines = text.splitlines()
    assert lines[0] == "call ladder: PeripheralID 5000 ConnectionCallID 700 device 3001"
    assert f"  agent agent1 = {AGENT}" in lines
    header = next(line for line in lines if line.startswith("frame"))
    assert header.split() == ["frame", "t_s", "bridge", "bridge", "agent", "agent1"]
    row = next(line for line in lines if line.startswith("14 "))
    assert row.split() == ["14", "1.000000", "|", "->", "ANSWER_CALL_REQ"]
    row = next(line for line in lines if line.startswith("19 "))
    assert row.split() == ["19", "3.000000", "<-", "END_CALL_EVENT", "|"]
    row = next(line for line in lines if line.startswith("20 "))
    assert row.split() == ["20", "3.500000", "|", "<-", "CALL_CLEARED_EVENT"]
    assert result.ladder(700, peripheral_id=6000).calls == []
    assert format_ladder(build_ladder([])).startswith("call ladder: (no call)")


def test_ladder_figure_png(tmp_path):
    from ctidissect.report.plots import call_ladder_figure

    result = analyze(call_trace().records)
    fig = call_ladder_figure(result.ladder(700))
    out = tmp_path / "ladder.png"
    fig.savefig(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0].startswith("CTI Server") and len(labels) == 3
    assert any("ANSWER_CALL_REQ" == t.get_text() for t in ax.texts)
    empty = call_ladder_figure(build_ladder([]))
    assert empty.axes[0].get_title() == "Call ladder: no call"


def test_analysis_imports_neither_matplotlib_nor_pandas():
    code = (
        "import sys, ctidissect.analysis\n"
        "bad = [m for m in ('matplotlib', 'pandas', 'scapy') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
