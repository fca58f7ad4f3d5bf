"""The README example (docs/scapy_example.py) runs exactly as written; the package imports
quickly; the guide exists and names the public API."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import ctidissect.scapy_layer as layer

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "scapy_example.py"
GUIDE = REPO / "docs" / "scapy.md"


def test_readme_example_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # it writes cti.pcap in the working directory
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "CTI OPEN_REQ InvokeID=1 VersionNumber=24"
    assert "     ServicesRequested= 0x00000001 (CTI_SERVICE_CLIENT_EVENTS)" in out
    assert "me []" in out
    assert "01036d6500" in out
    assert out[-2:] == ["CTI OPEN_REQ InvokeID=1 VersionNumber=24"] * 2
    assert (tmp_path / "cti.pcap").exists()


def test_import_generates_classes_quickly():
    code = (
        "import time, scapy.all\n"
        "t = time.perf_counter()\n"
        "import ctidissect.scapy_layer\n"
        "print(time.perf_counter() - t)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert float(out.stdout.strip()) < 1.0


def test_guide_names_public_api():
    text = GUIDE.read_text()
    for name in layer.__all__:
        if name.isupper() and name in layer.MESSAGE_CLASSES:
            continue  # the generated classes are covered by the table row
        assert name in text, name
