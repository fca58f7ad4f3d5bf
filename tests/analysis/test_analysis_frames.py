"""DataFrames of the analysis tables follow the documented column tables exactly."""

from __future__ import annotations

import pandas as pd
import pytest
from analysis_builders import ALL_EVENTS, CLIENT_EVENTS, NO_CALL, SUPERVISOR, T0, Trace, conn

from ctidissect.analysis import Analysis, analyze
from ctidissect.report import columns as cols
from ctidissect.report.frames import calls_frame, fanout_frame, fanout_recipients_frame, pairs_frame, sessions_frame

AGENT, BRIDGE, BRIDGE2, SUP = conn(1), conn(2), conn(3), conn(4)

FRAMES = {
    "sessions": (sessions_frame, cols.SESSION_COLUMNS),
    "pairs": (pairs_frame, cols.PAIR_COLUMNS),
    "fanout": (fanout_frame, cols.FANOUT_COLUMNS),
    "fanout_recipients": (fanout_recipients_frame, cols.FANOUT_RECIPIENT_COLUMNS),
    "calls": (calls_frame, cols.CALL_COLUMNS),
}


def scenario() -> Analysis:
    t = Trace()
    t.open(0.0, AGENT, client_id="agent1", services=CLIENT_EVENTS, agent_id="1001", extension="3001")
    t.open(0.1, BRIDGE, client_id="bridge", services=ALL_EVENTS)
    t.open(0.2, BRIDGE2, client_id="RecServer", services=ALL_EVENTS)
    t.open(0.3, SUP, client_id="sup", services=CLIENT_EVENTS | SUPERVISOR)
    t.c2s(1.0, AGENT, "EMERGENCY_CALL_REQ", {"InvokeID": 2, "PeripheralID": 5000, "ConnectionCallID": NO_CALL})
    t.emergency_event(1.000250, BRIDGE, client_id="agent1")
    t.s2c(1.5, AGENT, "CONTROL_FAILURE_CONF", {"InvokeID": 2, "FailureCode": 33, "PeripheralErrorCode": 7})
    t.s2c(2.0, SUP, "BEGIN_CALL_EVENT", {"MonitorID": 3, "PeripheralID": 5000, "CallType": 1, "ConnectionCallID": 9},
          [("CONNECTION_DEVID", "4001")])
    t.c2s(3.0, AGENT, "HEARTBEAT_REQ", {"InvokeID": 3})
    t.conn_event(4.0, AGENT, "rst", "s2c")
    return analyze(t.records)


@pytest.mark.parametrize("table", FRAMES)
def test_frame_columns_and_dtypes_follow_the_declaration(table):
    build, declared = FRAMES[table]
    assert cols.ALL_TABLES[table] is declared
    for source in (scenario(), Analysis()):
        df = build(source)
        assert list(df.columns) == [c.name for c in declared]
        assert [str(df[c.name].dtype) for c in declared] == [c.dtype for c in declared]


@pytest.mark.parametrize("table", FRAMES)
def test_every_column_is_documented_with_units(table):
    _, declared = FRAMES[table]
    assert len({c.name for c in declared}) == len(declared)
    for c in declared:
        assert c.doc, c.name
        if c.name.endswith("_s") or c.name.endswith("_ts") or c.name == "ts":
            assert "seconds" in c.doc, c.name


def test_frame_values():
    result = scenario()
    pairs = pairs_frame(result)
    row = pairs[pairs["request"] == "EMERGENCY_CALL_REQ"].iloc[0]
    assert (row["status"], row["response"], row["latency_s"], row["failure"], row["failure_code"],
            row["peripheral_error_code"]) == ("failed", "CONTROL_FAILURE_CONF", 0.5, "CF_RESOURCE_BUSY", 33, 7)
    hb = pairs[pairs["request"] == "HEARTBEAT_REQ"].iloc[0]
    assert hb["status"] == "unanswered" and hb["waited_s"] == 1.0 and pd.isna(hb["latency_s"])
    assert pd.isna(hb["response_frame"]) and pd.isna(hb["response"])

    sessions = sessions_frame(result).set_index("conn")
    assert sessions.loc[AGENT, "services_granted"] == "CTI_SERVICE_CLIENT_EVENTS"
    assert sessions.loc[AGENT, "end_reason"] == "rst"
    assert sessions.loc[BRIDGE2, "role"] == "recording"
    assert sessions.loc[SUP, "closed_ts"] != sessions.loc[SUP, "closed_ts"]  # NaN: open at capture end

    fo = fanout_frame(result).iloc[0]
    assert (fo["request"], fo["outcome"], fo["failure"], fo["expected"], fo["delivered"], fo["missed"]) == (
        "EMERGENCY_CALL_REQ", "CONTROL_FAILURE_CONF", "CF_RESOURCE_BUSY", 2, 1, 1)
    rec = fanout_recipients_frame(result)
    assert rec[["conn", "role", "expected", "delivered"]].values.tolist() == [
        [BRIDGE, "bridge", True, True], [BRIDGE2, "recording", True, False]]
    assert rec["delay_s"].iloc[0] == 0.00025 and pd.isna(rec["delay_s"].iloc[1])
    assert rec["anomaly"].iloc[1] == "fanout.missed" and pd.isna(rec["anomaly"].iloc[0])

    calls = calls_frame(result)
    assert calls[["connection_call_id", "connection_device_id", "call_type", "events", "session_count"]].values.tolist() == [
        [9, "4001", "CALLTYPE_ACD_IN", 1, 1]]
    assert calls["first_ts"].iloc[0] == T0 + 2.0


def test_frames_accept_plain_lists():
    result = scenario()
    assert len(pairs_frame(result.pairs)) == len(result.pairs)
    assert len(sessions_frame(result.sessions)) == 4
