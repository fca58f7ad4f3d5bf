"""Every test of ``tests/capture`` and ``tests/analysis`` runs twice: ``[accel]`` as installed
(the C accelerator when it is built) and ``[pure]`` with the accelerator disabled, so the
pure-Python reference path stays covered by the same exact-output tests."""

from __future__ import annotations

import importlib

import pytest

from ctidissect.wire.fastframes import PURE_PYTHON_ENV

BOTH_WAYS = frozenset({"capture", "analysis"})
"""Test folders (under ``tests/``) whose tests run accelerated and pure."""

ACCELERATED: list[tuple[str, str]] = [
    ("ctidissect.capture.stream", "frame_clean"),
    ("ctidissect.capture.engine", "walk_pcap"),
    ("ctidissect.capture.engine", "walk_pcapng"),
]
"""(module, attribute) of every imported accelerator function, set to None in ``[pure]``.
Each is read when a stream/decoder is built or a file is walked, so patching before the test
reads a capture is enough.  Add a line here when another module imports one."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.path.parent.name in BOTH_WAYS and metafunc.definition.path.parent.parent.name == "tests":
        metafunc.parametrize("accel_mode", ["accel", "pure"], indirect=True)


@pytest.fixture(autouse=True)
def accel_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``"accel"`` (as installed; every test outside :data:`BOTH_WAYS`) or ``"pure"``
    (accelerator off, here and in child processes).

    Module-scoped fixtures are set up before this one and only once, so they must not decode
    captures (today they only write pcaps): their results would come from one mode only."""
    mode = getattr(request, "param", "accel")
    if mode == "pure":
        for module, attr in ACCELERATED:
            # raising=True: a renamed attribute fails loudly instead of silently staying accelerated.
            monkeypatch.setattr(importlib.import_module(module), attr, None)
        monkeypatch.setenv(PURE_PYTHON_ENV, "1")  # subprocesses (the CLI) import with it off
    return mode
