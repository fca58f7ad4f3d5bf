"""Wireshark, tshark and pyshark integration.

* :mod:`ctidissect.wireshark.luagen` generates the Lua dissector ``ctidissect.lua`` from the
  catalogue (data tables plus one generic walker); the generated file is committed beside
  this module and :func:`lua_path` points at it.
* :mod:`ctidissect.wireshark.engine` decodes captures through tshark with that dissector
  (via pyshark, PDML mode) and yields the same :class:`ctidissect.wire.Message` records as
  the native decoder: ``read_capture_tshark(path)``.

Nothing here is imported by ``ctidissect.wire``; pyshark is only imported when the tshark
engine is used.
"""

from __future__ import annotations

from pathlib import Path

LUA_FILENAME = "ctidissect.lua"


def lua_path() -> Path:
    """Path of the committed, generated ``ctidissect.lua`` shipped with the package."""
    return Path(__file__).with_name(LUA_FILENAME)


def read_capture_tshark(*args, **kwargs):
    """Shortcut for :func:`ctidissect.wireshark.engine.read_capture_tshark` (imported on
    first use so that ``import ctidissect.wireshark`` does not need pyshark)."""
    from .engine import read_capture_tshark as _read

    return _read(*args, **kwargs)


__all__ = ["LUA_FILENAME", "lua_path", "read_capture_tshark"]
