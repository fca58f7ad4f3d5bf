"""Stream framing: cut a byte stream into GED-188 frames by MessageLength.

Keeps "need more data" apart from "malformed": :func:`next_frame` answers with the length
of a whole frame, :data:`NEED_DATA`, or :data:`DESYNC` (a header that cannot be trusted, so
the stream must be resynchronised with :func:`find_resync`).
"""

from __future__ import annotations

import struct

from ..catalogue import MESSAGES_BY_TYPE
from ..catalogue.versions import HEADER_SIZE, max_body_length
from .decode import plan_for

NEED_DATA = -1
DESYNC = -2

_HEADER = struct.Struct(">II")


def plausible_header(length: int, mtype: int, version: int) -> bool:
    """Whether an 8-byte header could start a real message at protocol ``version``: a
    known MessageType, a MessageLength within the version's maximum, and at least the
    fixed part of the type's layout."""
    if mtype not in MESSAGES_BY_TYPE or length > max_body_length(version):
        return False
    plan = plan_for(mtype, version)
    return plan is None or plan.fixed is None or length >= plan.size


def next_frame(buf: bytes | bytearray | memoryview, pos: int, version: int) -> int:
    """Total size (header included) of the frame starting at ``buf[pos]`` if it is complete,
    :data:`NEED_DATA` if more bytes are needed, :data:`DESYNC` if the header is implausible
    (MessageLength above the version's maximum)."""
    avail = len(buf) - pos
    if avail < HEADER_SIZE:
        return NEED_DATA
    length, _mtype = _HEADER.unpack_from(buf, pos)
    if length > max_body_length(version):
        return DESYNC
    total = HEADER_SIZE + length
    return total if avail >= total else NEED_DATA


def find_resync(buf: bytes | bytearray | memoryview, start: int, version: int) -> int:
    """Offset of the first plausible message header at or after ``start`` whose frame, when
    complete in ``buf``, is followed by another plausible header or the end of ``buf``.
    Returns ``len(buf)`` when none is found (keep the last 7 bytes for the next try)."""
    n = len(buf)
    pos = start
    while pos + HEADER_SIZE <= n:
        length, mtype = _HEADER.unpack_from(buf, pos)
        if plausible_header(length, mtype, version):
            nxt = pos + HEADER_SIZE + length
            if nxt >= n or nxt + HEADER_SIZE > n:
                return pos
            l2, t2 = _HEADER.unpack_from(buf, nxt)
            if plausible_header(l2, t2, version):
                return pos
        pos += 1
    return n
