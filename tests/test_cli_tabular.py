"""Tabular commands write CSV and Parquet with the documented columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ctidissect.cli import main
from ctidissect.report.columns import MESSAGE_COLUMNS, PAIR_COLUMNS, SESSION_COLUMNS

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


@pytest.mark.parametrize(
    "command,capture,columns",
    [
        ("decode", "segmentation.pcap", MESSAGE_COLUMNS),
        ("pairs", "slow-control.pcap", PAIR_COLUMNS),
        ("sessions", "busy-hour.pcap", SESSION_COLUMNS),
    ],
)
def test_parquet_has_documented_columns(tmp_path, capsys, command, capture, columns):
    out = tmp_path / "t.parquet"
    assert main([command, "--parquet", str(out), str(CAPTURES / capture)]) == 0
    frame = pd.read_parquet(out)
    assert list(frame.columns) == [c.name for c in columns]
    assert len(frame) > 0


def test_decode_csv_rows_match_json_records(capsys):
    assert main(["decode", "--json", str(CAPTURES / "segmentation.pcap")]) == 0
    n_json = len(capsys.readouterr().out.splitlines())
    assert main(["decode", "--csv", str(CAPTURES / "segmentation.pcap")]) == 0
    csv_lines = capsys.readouterr().out.splitlines()
    assert csv_lines[0].split(",")[: 3] == [c.name for c in MESSAGE_COLUMNS][:3]
    assert len(csv_lines) - 1 == n_json


def test_decode_json_and_csv_conflict(capsys):
    assert main(["decode", "--json", "--csv", str(CAPTURES / "segmentation.pcap")]) == 2
