"""The README's examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_quick_start_main_job():
    line = next(ln for ln in README.splitlines() if ln.startswith("pip install -e '.[test]' && ctidissect "))
    args = line.split("&& ctidissect ", 1)[1].split()
    out = subprocess.run(
        [sys.executable, "-m", "ctidissect.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "2 fan-out request(s), 1 missed delivery(ies)" in out.stdout
    assert "recorder-2" in out.stdout and "MISSED" in out.stdout


def test_readme_test_command_is_the_ci_command():
    assert "python3 -m pytest -q" in README
    assert "python3 -m pytest -q" in (ROOT / ".ci" / "run").read_text()


def test_python_api_example_runs():
    block = next(b for b in python_blocks() if "read_capture" in b)
    out = subprocess.run([sys.executable, "-c", block], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert "HEARTBEAT_REQ" in out.stdout or "QUERY_AGENT_STATE_REQ" in out.stdout


def test_scapy_example_is_the_tested_file():
    block = next(b for b in python_blocks() if "scapy_layer" in b)
    assert block.strip() == (ROOT / "docs" / "scapy_example.py").read_text().strip()
