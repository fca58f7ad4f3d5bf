"""The protocol version as context of the scapy layer.

GED-188 changes bytes on the wire with the negotiated protocol version (fields gained with
``since=``, floating tag/length 1+1 bytes up to v19 and 2+2 from v20).  The version is not a
wire field, so it is never built into bytes: every CTI packet carries it as an attribute
(``CTI(version=19)``, ``pkt.version``) and, when that is not set, inherits it from the layer
it sits in (body -> CTI header -> CTIStream container), then from the per-session value that
:class:`~ctidissect.scapy_layer.CTIStream` learns from ``OPEN_REQ.VersionNumber`` under
scapy's ``TCPSession``, and last from the module-level default set here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..catalogue.versions import DEFAULT_VERSION, MIN_VERSION

MAX_PLAUSIBLE_VERSION = 255
"""Highest VersionNumber accepted as a version at all (newer than the catalogue knows is fine:
anything from v20 uses the wide floating format)."""

_default = [DEFAULT_VERSION]


def check_version(version: Any) -> int:
    """``version`` as an int, or ValueError when it cannot be a GED-188 protocol version."""
    v = int(version)
    if not MIN_VERSION <= v <= MAX_PLAUSIBLE_VERSION:
        raise ValueError(f"protocol version {version!r} outside {MIN_VERSION}..{MAX_PLAUSIBLE_VERSION}")
    return v


def get_default_version() -> int:
    """The protocol version used when neither a packet nor its session says otherwise."""
    return _default[0]


def set_default_version(version: int) -> int:
    """Set the module-level default protocol version (e.g. ``19`` for a capture of a v19
    session that starts after its OPEN_REQ); returns the previous default."""
    previous = _default[0]
    _default[0] = check_version(version)
    return previous


@contextmanager
def default_version(version: int) -> Iterator[int]:
    """``with default_version(19): ...`` - the default for the duration of the block."""
    previous = set_default_version(version)
    try:
        yield version
    finally:
        _default[0] = previous


def version_of(pkt: Any) -> int:
    """Protocol version in force for ``pkt`` (a CTI packet, or None for the default)."""
    if pkt is not None and hasattr(type(pkt), "cti_version"):
        return pkt.cti_version
    return _default[0]
