"""Capture text with dollar signs is drawn literally, not parsed as mathtext."""

from __future__ import annotations

import io

from ctidissect.report.plots import fanout_timeline_figure, literal


def test_literal_escapes_dollars():
    assert literal("a$b$c") == r"a\$b\$c"


def test_fanout_timeline_with_dollar_client_id_renders():
    incident = {
        "request": "EMERGENCY_CALL_REQ",
        "request_frame": 3,
        "outcome": "EMERGENCY_CALL_CONF",
        "outcome_latency_s": 0.002,
        "recipients": [{"role": "bridge", "conn": "c", "client_id": "$x^{$", "delivered": True, "delay_s": 0.001}],
    }
    fig = fanout_timeline_figure(incident)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue().startswith(b"\x89PNG")
