"""Protocol-version rules that change bytes on the wire (GED-188 sections 1, 3.1 and 8).

The version is a property of a session, learnt from OPEN_REQ.VersionNumber; nothing here is
global state.
"""

from __future__ import annotations

DEFAULT_VERSION = 24
"""Protocol version assumed when nothing says otherwise (UCCE 12.6)."""

MIN_VERSION = 1
MAX_VERSION = 25
"""Highest protocol version described by the reference (UCCE 15.0)."""

KNOWN_VERSIONS = (9, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25)
"""Versions public clients are seen to request; used by heuristics and tests."""

WIDE_FLOATING_SINCE = 20
"""From v20 the floating Tag and FieldLength are USHORT (2+2 bytes); up to v19 UCHAR (1+1)."""

DEFAULT_SERVER_PORTS = (42027, 43027)
"""CTI Server TCP ports (side A, side B).  Not fixed by the guides (set at PG setup): these are
the defaults of the public clients (section 1, 10.9).  Every ctidissect default reads them here."""

SIDE_OF_DEFAULT_PORT = dict(zip(DEFAULT_SERVER_PORTS, ("A", "B")))
"""Side of a duplexed PG served on each default port (derived from DEFAULT_SERVER_PORTS)."""

HEADER_SIZE = 8
"""MHDR: MessageLength UINT (body bytes, header excluded) + MessageType UINT."""

MAX_MESSAGE_SIZE_WIDE = 12500
"""Maximum message size in bytes, header included, from v20 (v24 guide, C24-MC)."""

MAX_MESSAGE_SIZE_NARROW = 4329
"""Maximum message size in bytes, header included, up to v19.  From the SC v19 driver
(``MaxMessageLen = 4329 - 8``); no pre-v20 Cisco text seen (10.8).  Choice: frames above it
are flagged ``frame.too_long`` but still decoded when complete."""


def floating_header_size(version: int) -> int:
    """Bytes of tag + length in front of each floating field: 2 up to v19, 4 from v20."""
    return 4 if version >= WIDE_FLOATING_SINCE else 2


def max_message_size(version: int) -> int:
    """Largest legal message for ``version`` in bytes, 8-byte header included."""
    return MAX_MESSAGE_SIZE_WIDE if version >= WIDE_FLOATING_SINCE else MAX_MESSAGE_SIZE_NARROW


def max_body_length(version: int) -> int:
    """Largest legal MessageLength (body bytes) for ``version``."""
    return max_message_size(version) - HEADER_SIZE
