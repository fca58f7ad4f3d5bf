"""Encoding and decoding at a session's protocol version, shared by the simulated server
and the scripted clients."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from ..catalogue import MESSAGES_BY_NAME, TAGS_BY_NAME
from ..catalogue.versions import HEADER_SIZE, WIDE_FLOATING_SINCE
from ..wire import Message, decode_body, encode_message

_HEADER = struct.Struct(">II")
_LAYOUT_NAMES: dict[tuple[str, int], frozenset[str]] = {}


def layout_names(name: str, version: int) -> frozenset[str]:
    """Names of the fixed fields message ``name`` carries at protocol ``version``."""
    key = (name, version)
    names = _LAYOUT_NAMES.get(key)
    if names is None:
        fields = MESSAGES_BY_NAME[name].fields_for(version) or ()
        names = frozenset(f.name for f in fields)
        _LAYOUT_NAMES[key] = names
    return names


def encode_for(name: str, fields: dict[str, int], floats: Iterable[tuple[str, Any]], version: int) -> bytes:
    """A whole frame of message ``name`` at protocol ``version``.  Fixed fields the version
    does not carry (e.g. DepartmentID before v19) are dropped, and so are floating fields
    newer than the version, with a tag above 255 in the 1+1-byte format (v19 and older), or
    whose value is None."""
    names = layout_names(name, version)
    fixed = {k: v for k, v in fields.items() if k in names}
    items = []
    for tag_name, value in floats:
        if value is None:
            continue
        tag = TAGS_BY_NAME[tag_name]
        if tag.since > version or (version < WIDE_FLOATING_SINCE and tag.tag > 0xFF):
            continue
        items.append((tag.tag, value))
    return encode_message(name, fixed, items, version)


class FrameReader:
    """Cuts a byte stream into frames and decodes them at a protocol version (bytes).
    ``version`` may change between feeds (a client learns nothing new after its open)."""

    def __init__(self, version: int) -> None:
        self.version = version
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out = []
        buf = self._buf
        while len(buf) >= HEADER_SIZE:
            length, mtype = _HEADER.unpack_from(buf, 0)
            end = HEADER_SIZE + length
            if len(buf) < end:
                break
            frame = bytes(buf[:end])
            del buf[:end]
            out.append(decode_body(mtype, frame, self.version))
        return out

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)
