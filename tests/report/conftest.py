"""Fixtures of the report tests: the captures of :mod:`report_scenarios`, built once."""

from __future__ import annotations

import pytest
from report_scenarios import PASSWORD, build_compliance_capture, build_latency_capture


@pytest.fixture(scope="session")
def capture_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("report_captures")


@pytest.fixture(scope="session")
def latency_pcap(capture_dir) -> str:
    return build_latency_capture(capture_dir / "latency.pcap")


@pytest.fixture(scope="session")
def clean_pcap(capture_dir) -> str:
    return build_compliance_capture(capture_dir / "clean.pcap")


@pytest.fixture(scope="session")
def secret_pcap(capture_dir) -> str:
    """The clean capture, except that the agent's OPEN_REQ carries PASSWORD."""
    return build_compliance_capture(capture_dir / "secret.pcap", password=PASSWORD)


@pytest.fixture(scope="session")
def clean_audit(clean_pcap):
    from ctidissect.report.audit import build_audit

    return build_audit([clean_pcap])


@pytest.fixture(scope="session")
def secret_audit(secret_pcap):
    from ctidissect.report.audit import build_audit

    return build_audit([secret_pcap])
