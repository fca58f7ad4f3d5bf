"""Every test here runs twice: ``[accel]`` as installed (the C accelerator when it is built)
and ``[pure]`` with the accelerator disabled, so the pure-Python reference path stays covered
by the same exact-output tests.

Keep in step with ``tests/analysis/conftest.py`` (same fixture).
"""

from __future__ import annotations

import importlib

import pytest

from ctidissect.wire.fastframes import PURE_PYTHON_ENV

ACCELERATED: list[tuple[str, str]] = [
    ("ctidissect.capture.stream", "frame_clean"),
    ("ctidissect.capture.engine", "walk_pcap"),
    ("ctidissect.capture.engine", "walk_pcapng"),
]
"""(module, attribute) of every imported accelerator function, set to None in ``[pure]``.
Each is read when a stream/decoder is built, so patching before the test reads a capture is
enough.  Add a line here when another module imports an accelerated function."""


@pytest.fixture(autouse=True, params=["accel", "pure"])
def accel_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``"accel"`` (as installed) or ``"pure"`` (accelerator off, here and in child processes).

    Module-scoped fixtures are set up before this one and only once, so they must not decode
    captures (today they only write pcaps): their results would come from one mode only."""
    if request.param == "pure":
        for module, attr in ACCELERATED:
            # raising=True: a renamed attribute fails loudly instead of silently staying accelerated.
            monkeypatch.setattr(importlib.import_module(module), attr, None)
        monkeypatch.setenv(PURE_PYTHON_ENV, "1")  # subprocesses (the CLI) import with it off
    return request.param
