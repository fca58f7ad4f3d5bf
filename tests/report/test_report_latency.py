"""Exact latency statistics on a capture with known latencies, and on hand-made tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from report_scenarios import HEARTBEAT_LATENCIES, QUERY_FAILED_LATENCY, QUERY_LATENCIES

from ctidissect.report.audit import build_audit
from ctidissect.report.latency import (
    ALL_ROW,
    LATENCY_STAT_COLUMNS,
    latency_table,
    slowest_requests,
    table_records,
)


def linear_percentile(values: list[float], q: float) -> float:
    """The documented definition, written out: x[i] + (x[i+1] - x[i]) * f, i + f = (n-1) q/100."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    i = int(pos)
    f = pos - i
    return xs[i] if i + 1 >= len(xs) else xs[i] + (xs[i + 1] - xs[i]) * f


@pytest.fixture(scope="module")
def latency_audit(latency_pcap):
    return build_audit([latency_pcap])


def test_by_type_exact(latency_audit):
    cap = latency_audit.captures[0]
    table = latency_table(cap.pairs, "type", cap.sessions).set_index("request")
    answered = [*QUERY_LATENCIES, QUERY_FAILED_LATENCY, 0.007]  # agent-a and "other"
    q = table.loc["QUERY_AGENT_STATE_REQ"]
    assert q["count"] == 8
    assert q["answered"] == 7
    assert q["failed"] == 1
    assert q["unanswered"] == 1
    assert q["late"] == 0
    assert q["min_s"] == pytest.approx(0.007, abs=1e-9)
    assert q["max_s"] == pytest.approx(0.100, abs=1e-9)
    assert q["mean_s"] == pytest.approx(sum(answered) / 7, abs=1e-9)
    for pct in (50, 90, 99):
        assert q[f"p{pct}_s"] == pytest.approx(linear_percentile(answered, pct), abs=1e-9)
    # hand-computed values of the same definition, as a second check
    assert q["p50_s"] == pytest.approx(0.030, abs=1e-9)  # 7 values: x[3]
    assert q["p90_s"] == pytest.approx(0.050 + 0.4 * 0.050, abs=1e-9)  # pos 5.4
    assert q["p99_s"] == pytest.approx(0.050 + 0.94 * 0.050, abs=1e-9)  # pos 5.94
    hb = table.loc["HEARTBEAT_REQ"]
    assert (hb["count"], hb["answered"], hb["failed"], hb["unanswered"]) == (3, 3, 0, 0)
    assert hb["p50_s"] == pytest.approx(0.002, abs=1e-9)
    assert hb["min_s"] == pytest.approx(0.001, abs=1e-9)
    assert hb["max_s"] == pytest.approx(0.003, abs=1e-9)
    op = table.loc["OPEN_REQ"]
    assert op["count"] == 2
    assert op["min_s"] == pytest.approx(0.004, abs=1e-9)
    assert op["max_s"] == pytest.approx(0.006, abs=1e-9)
    assert list(table.columns) == [c.name for c in LATENCY_STAT_COLUMNS]


def test_by_client_and_session(latency_audit):
    cap = latency_audit.captures[0]
    by_client = latency_table(cap.pairs, "client", cap.sessions).set_index("client_id")
    agent = by_client.loc["agent-a"]
    agent_latencies = [*QUERY_LATENCIES, QUERY_FAILED_LATENCY, *HEARTBEAT_LATENCIES, 0.004]
    assert agent["count"] == len(agent_latencies) + 1  # + the unanswered request
    assert agent["answered"] == len(agent_latencies)
    assert agent["p90_s"] == pytest.approx(linear_percentile(agent_latencies, 90), abs=1e-9)
    other = by_client.loc["other"]
    assert (other["count"], other["min_s"], other["max_s"]) == (2, pytest.approx(0.006), pytest.approx(0.007))
    by_session = latency_table(cap.pairs, "session", cap.sessions)
    assert set(by_session["client_id"]) == {"agent-a", "other"}
    assert set(by_session["role"]) == {"agent"}
    assert by_session["count"].sum() == by_client["count"].sum()


def test_total_row_and_slowest(latency_audit):
    cap = latency_audit.captures[0]
    table = latency_table(cap.pairs, "type", total=True)
    total = table.iloc[-1]
    assert total["request"] == ALL_ROW
    assert total["count"] == table.iloc[:-1]["count"].sum()
    slow = slowest_requests(cap.pairs, 3)
    assert slow["latency_s"].tolist() == pytest.approx([0.100, QUERY_FAILED_LATENCY, 0.040])
    assert slow.loc[1, "status"] == "failed"
    assert slow.loc[1, "response"] == "FAILURE_CONF"
    assert slow["request_frame"].notna().all() and slow["response_frame"].notna().all()


def test_pure_dataframe_semantics():
    pairs = pd.DataFrame(
        {
            "conn": ["c1"] * 6,
            "invoke_id": [1, 2, 3, 4, 5, 6],
            "request": ["A", "A", "A", "A", "B", None],
            "request_frame": [1, 3, 5, 7, 9, None],
            "request_ts": [0.0, 1.0, 2.0, 3.0, 4.0, None],
            "response": ["A_CONF", "FAILURE_CONF", None, "A_CONF", "B_CONF", "B_CONF"],
            "response_frame": [2, 4, None, 8, 10, 11],
            "latency_s": [0.5, 1.5, np.nan, 40.0, 0.25, np.nan],
            "status": ["ok", "failed", "unanswered", "late", "ok", "orphan"],
        }
    )
    table = latency_table(pairs, "type").set_index("request")
    a = table.loc["A"]
    assert (a["count"], a["answered"], a["failed"], a["unanswered"], a["late"]) == (4, 3, 1, 1, 1)
    assert a["p50_s"] == pytest.approx(1.5)
    assert a["p90_s"] == pytest.approx(1.5 + 0.8 * 38.5)
    assert "None" not in table.index and len(table) == 2  # the orphan is not a request
    records = table_records(latency_table(pairs.iloc[[2]], "type"))
    assert records[0]["p50_s"] is None and records[0]["unanswered"] == 1
    json.dumps(records)  # NaN became null
    with pytest.raises(ValueError):
        latency_table(pairs, "bogus")
    empty = latency_table(pairs.iloc[0:0], "client", total=True)
    assert empty.iloc[-1]["count"] == 0


def test_latency_plots_render(latency_audit):
    from ctidissect.report.audit import figure_png
    from ctidissect.report.plots import latency_cdf_figure, latency_histogram_figure, latency_over_time_figure

    pairs = latency_audit.captures[0].pairs
    for make in (latency_over_time_figure, latency_cdf_figure, latency_histogram_figure):
        png = figure_png(make(pairs))
        assert png.startswith(b"\x89PNG") and len(png) > 2000
        empty = figure_png(make(pairs.iloc[0:0]))
        assert empty.startswith(b"\x89PNG")
