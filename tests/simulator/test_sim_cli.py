"""``ctidissect simulate`` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from simharness import fresh_event_loop_policy  # noqa: F401 - autouse fixture

from ctidissect.cli import main

CAPTURES_DIR = Path(__file__).resolve().parents[2] / "captures"


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_and_help(capsys):
    code, out, _ = run(capsys, "simulate", "scenario", "--list")
    assert code == 0 and "emergency-supervisor-found" in out and "failover" in out
    proc = subprocess.run([sys.executable, "-m", "ctidissect.cli", "simulate", "server", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "examples:" in proc.stdout and "--listen" in proc.stdout


def test_scenario_pcap_matches_committed_capture(capsys, tmp_path):
    pcap, expected = tmp_path / "em.pcap", tmp_path / "em.json"
    code, out, _ = run(capsys, "simulate", "scenario", "emergency-supervisor-found", "--pcap", str(pcap),
                       "--expected", str(expected), "--seed", "11")
    assert code == 0 and "packets" in out
    assert pcap.read_bytes() == (CAPTURES_DIR / "emergency-supervisor-found.pcap").read_bytes()
    assert expected.read_text() == (CAPTURES_DIR / "emergency-supervisor-found.expected.json").read_text()


def test_usage_and_input_errors(capsys):
    assert run(capsys, "simulate", "scenario", "no-such-scenario")[0] == 3
    code, _, err = run(capsys, "simulate", "scenario", "failover", "--server", "localhost")
    assert code == 2 and "HOST:PORT" in err
    assert run(capsys, "simulate", "scenario")[0] == 2
    assert run(capsys, "simulate", "server", "--time-scale", "0")[0] == 2
    code, _, err = run(capsys, "simulate", "server", "--config", "/nonexistent.toml")
    assert code == 3


def test_server_and_scenario_over_sockets(capsys, tmp_path):
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, "-m", "ctidissect.cli", "simulate", "server", "--listen", f"127.0.0.1:{ports[0]}",
         "--listen", f"127.0.0.1:{ports[1]}", "--scenario", "protocol-errors", "--time-scale", "0.05",
         "--duration", "4", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", ports[0]), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        code, out, _ = run(capsys, "simulate", "scenario", "protocol-errors", "--server", f"127.0.0.1:{ports[0]}",
                           "--server", f"127.0.0.1:{ports[1]}", "--time-scale", "0.05", "--json")
        assert code == 0
        report = json.loads(out)
        assert report["bridge-1"]["unanswered"] == [] and report["bridge-1"]["received"] >= 10
        assert report["old-version"]["events"][-1] == "open_failed 1"
    finally:
        stdout, _ = server.communicate(timeout=30)
    summary = json.loads(stdout)
    assert summary["received"]["OPEN_REQ"] == 7
