"""The reference docs are generated from the catalogue; fail when the committed ones are stale."""

from __future__ import annotations

from pathlib import Path

from ctidissect.catalogue.docs import outputs

ROOT = Path(__file__).resolve().parents[1]


def test_docs_not_stale():
    for path, text in outputs(ROOT).items():
        assert path.read_text() == text, f"{path} is stale: run python -m ctidissect.catalogue.docs"


def test_columns_doc_not_stale():
    from ctidissect.report.columns import render_markdown

    path = ROOT / "docs" / "columns.md"
    assert path.read_text() == render_markdown(), "docs/columns.md is stale: run python -m ctidissect.report.columns"
