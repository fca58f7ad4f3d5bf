"""Each compliance rule passes on a clean capture and fails on one that violates it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_scenarios import FAULTS, SCRIPT_CLIENT_ID, build_compliance_capture

from ctidissect.report import compliance as cmp
from ctidissect.report.audit import build_audit

# The verdict a violation gets with the default rules (capture problems only warn: they
# weaken the evidence rather than break the protocol).
DEFAULT_VERDICT = {rule: "fail" for rule in FAULTS} | {"capture.integrity": "warn"}


def test_every_rule_is_exercised():
    assert set(FAULTS) == set(cmp.RULES_BY_ID), "one fault capture per rule"


def test_clean_capture_passes_every_rule(clean_audit):
    verdicts = {r.id: r.verdict for r in clean_audit.compliance}
    assert verdicts == {rule: "pass" for rule in cmp.RULES_BY_ID}, verdicts
    assert all(r.checked > 0 and r.evidence == [] for r in clean_audit.compliance)
    assert clean_audit.verdict == "pass"


@pytest.fixture(scope="module")
def fault_audits(capture_dir):
    out = {}
    for fault in FAULTS:
        path = build_compliance_capture(capture_dir / f"fault-{fault}.pcap", fault)
        out[fault] = build_audit([path])
    return out


@pytest.mark.parametrize("rule", FAULTS)
def test_rule_flags_its_violation(rule, fault_audits):
    audit = fault_audits[rule]
    result = next(r for r in audit.compliance if r.id == rule)
    assert result.verdict == DEFAULT_VERDICT[rule], (result.summary, [e.detail for e in result.evidence])
    assert result.evidence, "a violation comes with evidence"
    ev = result.evidence[0]
    assert ev.frame is not None and ev.frame > 0
    assert ev.conn and ev.conn.endswith(":42027")
    assert ev.capture == f"fault-{rule}.pcap"
    assert result.failed + result.warned == result.evidence_total


def test_evidence_names_the_session_and_client(fault_audits):
    result = next(r for r in fault_audits["open.reserved"].compliance if r.id == "open.reserved")
    ev = result.evidence[0]
    assert ev.client_id == SCRIPT_CLIENT_ID
    assert "Reserved2=0x7" in ev.detail
    dup = next(r for r in fault_audits["invoke_id.duplicate"].compliance if r.id == "invoke_id.duplicate")
    assert "InvokeID 2" in dup.evidence[0].detail


def test_password_evidence_never_holds_the_value(fault_audits):
    from report_scenarios import PASSWORD

    audit = fault_audits["security.cleartext_password"]
    blob = repr([r.to_json() for r in audit.compliance])
    assert PASSWORD not in blob
    assert "CLIENT_PASSWORD" in blob


def test_rules_file_overrides_thresholds(tmp_path, clean_pcap):
    rules = tmp_path / "strict.toml"
    rules.write_text(
        '[defaults]\nmax_evidence = 2\n'
        '[rules."request.sla"]\nwarn_s = 0.0005\nfail_s = 0.001\ncontrol_fail_s = 0.001\ncontrol_warn_s = 0.0005\n'
        '[rules."request.sla".types]\nOPEN_REQ = { fail_s = 0.001 }\n'
        '[rules."security.cleartext_password"]\nenabled = false\n'
    )
    settings = cmp.load_rules(rules)
    assert settings["rules"]["request.sla"]["types"]["OPEN_REQ"] == {"warn_s": 5.0, "fail_s": 0.001}
    assert settings["rules"]["request.sla"]["types"]["CLOSE_REQ"]["fail_s"] == 5.0  # untouched default
    audit = build_audit([clean_pcap], rules_path=rules)
    by_id = {r.id: r for r in audit.compliance}
    sla = by_id["request.sla"]
    assert sla.verdict == "fail"
    assert len(sla.evidence) == 2 and sla.evidence_total == sla.failed + sla.warned > 2
    assert by_id["security.cleartext_password"].verdict == "not-applicable"
    assert by_id["security.cleartext_password"].summary == "disabled by the rules file"


@pytest.mark.parametrize(
    "text, message",
    [
        ('[rules."no.such.rule"]\nenabled = true\n', "unknown rule"),
        ('[rules."request.sla"]\nfail_sec = 3\n', "unknown setting"),
        ('[rules."request.sla"]\nfail_s = "slow"\n', "expected a number"),
        ('[rules."request.sla"]\nfail_s = -1\n', "must not be negative"),
        ('[rules."request.sla".types]\nNOT_A_MESSAGE = { fail_s = 1 }\n', "not a message name"),
        ('[rules."invoke_id.orphan"]\nverdict = "maybe"\n', "expected \"pass\""),
        ("[rules\n", "not valid TOML"),
        ("[other]\nx = 1\n", "unknown section"),
    ],
)
def test_bad_rules_files(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(cmp.RulesError, match=message):
        cmp.load_rules(path)


def test_threshold_and_merge(clean_audit, fault_audits):
    fail = fault_audits["open.reserved"].compliance
    assert cmp.threshold_hit(fail, "fail") and cmp.threshold_hit(fail, "warn")
    assert not cmp.threshold_hit(fail, None)
    warn_only = fault_audits["capture.integrity"].compliance
    assert cmp.overall_verdict(warn_only) == "warn"
    assert cmp.threshold_hit(warn_only, "warn") and not cmp.threshold_hit(warn_only, "fail")
    merged = cmp.merge_results([clean_audit.compliance, fail])
    reserved = next(r for r in merged if r.id == "open.reserved")
    assert reserved.verdict == "fail" and reserved.checked == 8 and reserved.failed == 1
    assert set(reserved.captures) == {"clean.pcap", "fault-open.reserved.pcap"}
    frame = cmp.results_frame(merged)
    assert list(frame["id"]) == [r.id for r in cmp.RULES]
    assert len(cmp.evidence_frame(merged)) >= 1


def test_default_rules_file_documents_every_rule():
    text = cmp.default_rules_text()
    for rule in cmp.RULES:
        assert f'[rules."{rule.id}"]' in text
    doc = (Path(__file__).resolve().parents[2] / "docs" / "compliance.md").read_text()
    for rule in cmp.RULES:
        assert f"`{rule.id}`" in doc, f"docs/compliance.md lacks {rule.id}"


# --------------------------------------------------------------------------- sample captures

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
SAMPLE_EXPECTATIONS = {
    # capture: {rule: verdict} for the rules its injected faults concern; all others pass or n/a
    "emergency-supervisor-found.pcap": {},
    "busy-hour.pcap": {},
    "emergency-no-supervisor.pcap": {"emergency.answered": "warn", "emergency.fanout": "fail"},
    "heartbeat-loss.pcap": {"request.sla": "fail", "heartbeat.unanswered": "fail", "heartbeat.idle_timeout": "fail"},
    "supervisor-assist.pcap": {"supervisor_assist.answered": "warn"},
}


@pytest.mark.parametrize("name", sorted(SAMPLE_EXPECTATIONS))
def test_simulator_sample_captures(name):
    """The simulator's captures/ with their injected faults (see *.expected.json)."""
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"{name} not in captures/")
    audit = build_audit([path])
    verdicts = {r.id: r.verdict for r in audit.compliance}
    expected = SAMPLE_EXPECTATIONS[name]
    for rule, verdict in verdicts.items():
        assert verdict == expected.get(rule, verdict if verdict in ("pass", "not-applicable") else "pass"), (rule, verdicts)
    if name == "emergency-no-supervisor.pcap":
        # the second emergency skipped recorder-2 (faults_applied: skip_fanout)
        fanout = next(r for r in audit.compliance if r.id == "emergency.fanout")
        expected_json = json.loads((CAPTURES / "emergency-no-supervisor.expected.json").read_text())
        recorder2 = next(c for c in expected_json["connections"] if c["client"] == "recorder-2")["client_address"]
        assert [e.conn.split("-")[0] for e in fanout.evidence] == [recorder2]
        assert fanout.evidence[0].client_id == "recorder-2"
