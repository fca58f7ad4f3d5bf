"""The catalogue in a neutral JSON-able form (``ctidissect catalogue --json``), read by the
Lua generator and the docs generator."""

from __future__ import annotations

from typing import Any

from . import ENUMS, MESSAGES, TAGS
from .schema import Field
from .versions import (
    DEFAULT_SERVER_PORTS,
    DEFAULT_VERSION,
    MAX_MESSAGE_SIZE_NARROW,
    MAX_MESSAGE_SIZE_WIDE,
    WIDE_FLOATING_SINCE,
)


def _field(f: Field) -> dict[str, Any]:
    return {
        "name": f.name,
        "wire": f.wire,
        "size": f.size,
        "since": f.since,
        "until": f.until,
        "enum": f.enum,
        "doc": f.doc,
    }


def catalogue_dict() -> dict[str, Any]:
    """Messages (with layouts and their sizes per version), tags, enums and version rules."""
    messages = []
    for m in MESSAGES:
        messages.append(
            {
                "type": m.type,
                "name": m.name,
                "kind": m.kind,
                "direction": m.direction,
                "answers": m.answers,
                "control": m.control,
                "since": m.since,
                "layout_known": m.fixed is not None,
                "no_invoke_id": m.no_invoke_id,
                "leading_invoke_id": m.leading_invoke_id,
                "fixed": None if m.fixed is None else [_field(f) for f in m.fixed],
                "alt_layouts": [
                    {"body_length": a.body_length, "fields": [_field(f) for f in a.fields], "doc": a.doc}
                    for a in m.alt_layouts
                ],
                "floating": list(m.floating),
                "doc": m.doc,
                "ref": m.ref,
                "conflict": m.conflict,
            }
        )
    return {
        "versions": {
            "default": DEFAULT_VERSION,
            "default_server_ports": list(DEFAULT_SERVER_PORTS),
            "wide_floating_since": WIDE_FLOATING_SINCE,
            "floating_header": {"narrow": 2, "wide": 4},
            "max_message_size": {"narrow": MAX_MESSAGE_SIZE_NARROW, "wide": MAX_MESSAGE_SIZE_WIDE},
        },
        "messages": messages,
        "tags": [
            {
                "tag": t.tag,
                "name": t.name,
                "wire": t.wire,
                "max": t.max,
                "sensitive": t.sensitive,
                "since": t.since,
                "enum": t.enum,
                "doc": t.doc,
            }
            for t in TAGS
        ],
        "enums": {
            name: {
                "kind": e.kind,
                "values": {str(k): v for k, v in e.values.items()},
                "overrides": [
                    {"first": a, "last": b, "values": {str(k): v for k, v in t.items()}}
                    for (a, b), t in e.overrides.items()
                ],
                "doc": e.doc,
                "ref": e.ref,
            }
            for name, e in ENUMS.items()
        },
    }
