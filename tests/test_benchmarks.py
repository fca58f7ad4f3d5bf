"""The decode benchmark runs from a checkout (small size, comparison tools skipped): every
ctidissect row is printed with the message count it was given."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_decode_runs(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_decode.py"), "--messages", "3000", "--out", str(tmp_path),
         "--skip", "tshark,pyshark,scapy"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    rows = {
        "ctidissect read_capture (full decode)",
        "ctidissect, the same capture as pcapng",
        "ctidissect, the same capture as Linux cooked",
        "ctidissect, pure Python (accelerator off)",
    }
    for row in rows:
        line = next(ln for ln in out.splitlines() if ln.startswith(row))
        assert re.search(r"\s3,00[0-9]\s", line), line  # every path decoded every message
    assert "C accelerator" in out
    assert "anomaly records: 0" in out
    assert re.search(r"^targets: fully decoded msg/s >= 300,000 (met|NOT met)$", out, re.M)
