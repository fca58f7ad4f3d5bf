"""Builds valid example messages of every catalogue type (tests only)."""

from __future__ import annotations

from ctidissect.catalogue import MESSAGES, TAGS_BY_NAME
from ctidissect.catalogue.versions import WIDE_FLOATING_SINCE
from ctidissect.wire import NamedArray, NamedVar

FIELD_VALUE = {"UINT": 0xF1020304, "INT": -5, "USHORT": 0xFFFE, "SHORT": -2, "UCHAR": 2, "BOOL": 1, "TIME": 1_700_000_000}


def field_values(msg, version: int, seed: int = 0) -> dict[str, int]:
    out = {}
    for i, f in enumerate(msg.fields_for(version) or ()):
        base = FIELD_VALUE[f.wire]
        if f.wire in ("UINT", "TIME"):
            out[f.name] = (base + i + seed) & 0xFFFFFFFF
        elif f.wire == "USHORT":
            out[f.name] = (base - i - seed) & 0xFFFF
        elif f.wire == "UCHAR":
            out[f.name] = (base + i + seed) & 0xFF
        else:
            out[f.name] = base
    return out


def tag_value(tag):
    w = tag.wire
    if w == "STRING":
        return "v" * min(5, (tag.max or 6) - 1)
    if w in ("UNSPEC", "RAW"):
        return b"\x00\x01\xff"
    if w in ("UINT", "TIME"):
        return 0xA0B0C0D0
    if w == "INT":
        return -7
    if w == "USHORT":
        return 0xFFFF
    if w == "SHORT":
        return -3
    if w == "UCHAR":
        return 68
    if w == "NAMEDVAR":
        return NamedVar("user.var", "value")
    if w == "NAMEDARRAY":
        return NamedArray(3, "user.arr", "elem")
    if w == "USHORT_LIST":
        return [1, 2, 65535]
    raise AssertionError(w)


def floating_items(msg, version: int):
    items = []
    for name in msg.floating:
        tag = TAGS_BY_NAME[name]
        if version < WIDE_FLOATING_SINCE and tag.tag > 255:
            continue
        items.append((tag.tag, tag_value(tag)))
    return items


def layout_messages():
    return [m for m in MESSAGES if m.fixed is not None]
