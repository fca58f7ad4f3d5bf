"""The messages DataFrame: columns declared once in report/columns.py, built column-wise."""

from __future__ import annotations

import pandas as pd
from pcapgen import Conversation, agent_state_event, heartbeat_req, open_conf, open_req, write_capture

import ctidissect
from ctidissect.catalogue.schema import snake_case
from ctidissect.report.columns import MESSAGE_COLUMNS
from ctidissect.report.frames import MESSAGE_KEY_FIXED, MESSAGE_KEY_FLOATING, messages_frame

CONN = "10.0.0.2:50000-10.0.0.1:42027"


def test_columns_are_declared_and_documented():
    names = [c.name for c in MESSAGE_COLUMNS]
    assert len(names) == len(set(names))
    assert names[-len(MESSAGE_KEY_FIXED) - len(MESSAGE_KEY_FLOATING) :] == [
        snake_case(n) for n in (*MESSAGE_KEY_FIXED, *MESSAGE_KEY_FLOATING)
    ]
    assert all(c.doc.strip() for c in MESSAGE_COLUMNS)


def test_messages_frame(tmp_path):
    cv = Conversation()
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1)))  # 4
    p.append(cv.seg("s2c", open_conf(1) + agent_state_event("1007")))  # 5
    cv.skip("c2s", 12)
    p.append(cv.seg("c2s", heartbeat_req(3)))  # 6 (held until the capture ends)
    path = tmp_path / "f.pcap"
    write_capture(path, p)
    df = messages_frame(ctidissect.read_capture(path, connection_events=True))
    assert list(df.columns) == [c.name for c in MESSAGE_COLUMNS]
    for col in MESSAGE_COLUMNS:
        assert str(df[col.name].dtype) == col.dtype or (col.dtype == "string" and isinstance(df[col.name].dtype, pd.StringDtype))
    assert df["frame"].tolist() == [4, 5, 5, 6, 6]
    assert df["name"].tolist()[:3] == ["OPEN_REQ", "OPEN_CONF", "AGENT_STATE_EVENT"]
    assert pd.isna(df["name"][3]) and df["anomalies"][3] == "tcp.gap"
    assert df["invoke_id"].tolist()[:2] == [1, 1] and pd.isna(df["invoke_id"][2])
    assert df["kind"].tolist()[:3] == ["request", "confirmation", "event"]
    assert df["agent_id"][2] == "1007" and df["client_id"][0] == "pytest"
    assert df["peripheral_id"][0] == 5000 and df["peripheral_id"][2] == 5000
    assert df["length"].tolist()[0] == len(open_req(1))
    assert set(df["conn"]) == {CONN} and df["direction"].tolist()[:2] == ["c2s", "s2c"]
    assert df["version_source"].tolist()[0] == "open_req" and df["protocol_version"][0] == 24
    assert round(df["ts"][0], 6) == 1_700_000_000.003


def test_empty_frame():
    df = messages_frame([])
    assert list(df.columns) == [c.name for c in MESSAGE_COLUMNS] and len(df) == 0
