"""``ctidissect latency|compliance|report`` end to end (in process, through cli.main)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from report_scenarios import DNIS, PASSWORD, QUERY_LATENCIES, build_compliance_capture

from ctidissect.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_latency_text_json_csv_parquet(capsys, latency_pcap, tmp_path):
    code, out, err = run(capsys, "latency", latency_pcap)
    assert code == 0 and err == ""
    assert "QUERY_AGENT_STATE_REQ" in out and "(all)" in out and "slowest" in out
    code, out, _ = run(capsys, "latency", "--json", latency_pcap)
    rows = [json.loads(line) for line in out.splitlines()]
    query = next(r for r in rows if r["request"] == "QUERY_AGENT_STATE_REQ")
    assert query["count"] == 8 and query["failed"] == 1 and query["unanswered"] == 1
    assert query["max_s"] == pytest.approx(max(QUERY_LATENCIES))
    code, out, _ = run(capsys, "latency", "--by", "client", "--csv", latency_pcap)
    lines = out.splitlines()
    assert lines[0].startswith("client_id,count,answered,failed,unanswered")
    assert any(line.startswith("agent-a,") for line in lines)
    parquet = tmp_path / "lat.parquet"
    png = tmp_path / "lat.png"
    code, out, _ = run(capsys, "latency", "--by", "session", "--parquet", str(parquet), "--plot", str(png), latency_pcap)
    assert code == 0 and out == ""
    table = pd.read_parquet(parquet)
    assert set(table["client_id"]) == {"agent-a", "other"}
    assert png.read_bytes().startswith(b"\x89PNG")


def test_latency_usage_errors(capsys, latency_pcap):
    code, _, err = run(capsys, "latency", "--plot", "x.svg", latency_pcap)
    assert code == 2 and err.count("\n") == 1
    code, _, err = run(capsys, "latency", "--timeout", "0", latency_pcap)
    assert code == 2 and "--timeout" in err
    with pytest.raises(SystemExit) as exc:
        main(["latency", "--by", "nope", latency_pcap])
    assert exc.value.code == 2


def test_compliance_exit_codes(capsys, clean_pcap, tmp_path):
    code, out, _ = run(capsys, "compliance", clean_pcap, "--fail-on", "warn")
    assert code == 0
    assert out.splitlines()[-1] == "overall: pass"
    bad = build_compliance_capture(tmp_path / "bad.pcap", "open.reserved")
    code, out, _ = run(capsys, "compliance", bad)
    assert code == 0, "without --fail-on the verdicts are only reported"
    assert "FAIL" in out and "open.reserved" in out and "Reserved2=0x7" in out
    code, _, _ = run(capsys, "compliance", "--fail-on", "fail", bad)
    assert code == 1
    warn = build_compliance_capture(tmp_path / "warn.pcap", "capture.integrity")
    assert run(capsys, "compliance", "--fail-on", "fail", warn)[0] == 0
    assert run(capsys, "compliance", "--fail-on", "warn", warn)[0] == 1


def test_compliance_json_and_rules(capsys, clean_pcap, tmp_path):
    code, out, _ = run(capsys, "compliance", "--json", clean_pcap)
    doc = json.loads(out)
    assert doc["verdict"] == "pass" and doc["threshold_hit"] is False
    assert doc["captures"][0]["name"] == "clean.pcap" and len(doc["captures"][0]["sha256"]) == 64
    assert {r["id"] for r in doc["rules"]} >= {"request.sla", "emergency.fanout"}
    rules = tmp_path / "tight.toml"
    rules.write_text('[rules."emergency.fanout"]\nwarn_s = 0.01\nfail_s = 0.05\n')
    code, out, _ = run(capsys, "compliance", "--json", "--rules", str(rules), "--fail-on", "fail", clean_pcap)
    doc = json.loads(out)
    fanout = next(r for r in doc["rules"] if r["id"] == "emergency.fanout")
    assert code == 1 and fanout["verdict"] == "fail" and fanout["failed"] == 1 and fanout["warned"] == 1
    code, out, _ = run(capsys, "compliance", "--print-rules")
    assert code == 0 and '[rules."request.sla"]' in out


def test_compliance_bad_rules_file(capsys, clean_pcap, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[rules."request.sla"]\nfail_sec = 3\n')
    code, _, err = run(capsys, "compliance", "--rules", str(bad), clean_pcap)
    assert code == 3 and err.count("\n") == 1 and "unknown setting" in err
    code, _, err = run(capsys, "compliance", "--rules", str(tmp_path / "missing.toml"), clean_pcap)
    assert code == 3 and err.count("\n") == 1 and "rules file not found" in err


def test_report_command(capsys, secret_pcap, tmp_path):
    out_file = tmp_path / "audit.html"
    code, out, err = run(capsys, "report", secret_pcap, "-o", str(out_file), "--quiet")
    assert code == 0 and out == "" and err == ""
    html = out_file.read_text(encoding="utf-8")
    assert PASSWORD not in html and DNIS not in html
    code, _, err = run(capsys, "report", secret_pcap, "-o", str(out_file), "--no-redact", "--fail-on", "fail")
    assert code == 1, "the cleartext password fails a rule"
    assert "wrote" in err and "overall fail" in err
    html = out_file.read_text(encoding="utf-8")
    assert PASSWORD in html and DNIS in html


def test_report_errors(capsys, secret_pcap, tmp_path):
    code, _, err = run(capsys, "report", secret_pcap, "-o", str(tmp_path / "x.txt"))
    assert code == 2 and err.count("\n") == 1 and ".pdf" in err
    code, _, err = run(capsys, "report", str(tmp_path / "none.pcap"), "-o", str(tmp_path / "x.html"))
    assert code == 3 and err.count("\n") == 1 and "not found" in err
    not_pcap = tmp_path / "junk.pcap"
    not_pcap.write_bytes(b"this is not a capture at all")
    code, _, err = run(capsys, "report", str(not_pcap), "-o", str(tmp_path / "x.html"))
    assert code == 3 and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x.html").exists()


def test_progress_bar_only_on_a_tty():
    import io

    from ctidissect.report.audit import Progress

    buf = io.StringIO()
    quiet = Progress(buf)  # StringIO is not a TTY
    quiet.update("reading", 0.5, force=True)
    quiet.done()
    assert buf.getvalue() == ""
    loud = Progress(buf, enabled=True)
    loud.update("reading x.pcap", 0.5, "10 messages", force=True)
    loud.done()
    text = buf.getvalue()
    assert "\r" in text and "50%" in text and "#" * 15 in text and text.endswith("\n")


def test_analysis_options_are_passed_on(capsys, clean_pcap):
    code, _, err = run(capsys, "compliance", "--window", "0", clean_pcap)
    assert code == 2 and err.count("\n") == 1 and "--window" in err
    # no session matches the recording pattern: the recorder counts as a bridge, still judged
    code, out, _ = run(capsys, "compliance", "--json", "--recording-pattern", "nothing-matches*", clean_pcap)
    fanout = next(r for r in json.loads(out)["rules"] if r["id"] == "emergency.fanout")
    assert code == 0 and fanout["verdict"] == "pass" and fanout["checked"] == 2
    code, out, _ = run(capsys, "latency", "--by", "session", "--json", "--recording-pattern", "nothing-matches*", clean_pcap)
    assert {json.loads(line)["role"] for line in out.splitlines()} == {"agent", "bridge", "supervisor"}
