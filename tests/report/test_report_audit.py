"""The audit report: structure, embedded plots, redaction, escaping, PDF that renders."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import pytest
from report_scenarios import ANI, CALL_VAR, CED, DNIS, PASSWORD, SCRIPT_CLIENT_ID

from ctidissect.report.audit import REDACTED, build_audit, render_html, write_report

SECTIONS = ("provenance", "sessions", "latency", "compliance", "compliance-details", "incidents", "findings", "call-data")
SECRETS = (PASSWORD, ANI, DNIS, CED, CALL_VAR)


@pytest.fixture(scope="module")
def html_redacted(secret_audit) -> str:
    return render_html(secret_audit)


@pytest.fixture(scope="module")
def html_clear(secret_audit) -> str:
    return render_html(secret_audit, redact=False)


def test_structure(html_redacted, secret_audit, secret_pcap):
    html = html_redacted
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    for section in SECTIONS:
        assert f'<section id="{section}">' in html, section
    for rule in secret_audit.compliance:
        assert f'id="rule-{rule.id}"' in html
    # provenance: name, SHA-256, packet and message counts
    import hashlib

    digest = hashlib.sha256(open(secret_pcap, "rb").read()).hexdigest()
    assert digest in html
    stats = secret_audit.captures[0].source.stats
    assert f"{stats.packets:,}" in html and f"{stats.messages:,}" in html
    assert "secret.pcap" in html
    # the emergency and the supervisor assist each have an incident section with a timeline
    assert html.count('id="incident-secret.pcap-') == 2
    assert "EMERGENCY_CALL_EVENT" in html
    # the failing rule shows up in the findings with its frame
    assert "security.cleartext_password" in html


def test_self_contained_with_embedded_plots(html_redacted):
    html = html_redacted
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', html)
    assert len(images) >= 5  # 3 latency plots + 2 incident timelines
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG")
    # nothing to fetch: no external resources, no scripts
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html and "<script" not in html.lower().replace("&lt;script", "")
    assert "<style>" in html


def test_sensitive_values_redacted_by_default(html_redacted):
    for secret in SECRETS:
        assert secret not in html_redacted, secret
    assert REDACTED in html_redacted
    assert "CLIENT_PASSWORD=[redacted]" in html_redacted
    assert "DNIS=[redacted]" in html_redacted


def test_no_redact_shows_them(html_clear):
    for secret in SECRETS:
        assert secret in html_clear, secret
    assert "NOT redacted" in html_clear


def test_capture_text_is_escaped(html_redacted, html_clear):
    for html in (html_redacted, html_clear):
        assert SCRIPT_CLIENT_ID not in html
        assert "<script" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_write_html_and_pdf(tmp_path, secret_audit):
    out = tmp_path / "r.html"
    assert write_report(secret_audit, out) == "html"
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not list(tmp_path.glob(".*tmp*"))
    with pytest.raises(ValueError, match="must end in"):
        write_report(secret_audit, tmp_path / "r.docx")


def test_pdf_opens(tmp_path, secret_audit):
    out = tmp_path / "r.pdf"
    assert write_report(secret_audit, out) == "pdf"
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-64:]
    assert PASSWORD.encode() not in data
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "40", "-png", str(out), str(tmp_path / "page")], check=True,
                   timeout=60)
    pages = list(tmp_path.glob("page*.png"))
    assert len(pages) == 1 and pages[0].read_bytes().startswith(b"\x89PNG") and pages[0].stat().st_size > 1000


def test_several_captures(clean_pcap, latency_pcap):
    audit = build_audit([clean_pcap, latency_pcap])
    assert [c.source.name for c in audit.captures] == ["clean.pcap", "latency.pcap"]
    assert set(audit.pairs["capture"]) == {"clean.pcap", "latency.pcap"}
    sla = next(r for r in audit.compliance if r.id == "request.sla")
    assert sla.checked == sum(next(r for r in c.compliance if r.id == "request.sla").checked for c in audit.captures)
    html = render_html(audit)
    assert "clean.pcap" in html and "latency.pcap" in html
