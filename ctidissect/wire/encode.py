"""Catalogue-driven encoder, the exact inverse of :mod:`ctidissect.wire.decode`.

Encoding is for building valid messages (simulator, tests, crafting): unlike decoding it
raises ``ValueError`` on input that cannot be encoded, with a message naming the field.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from ..catalogue import MESSAGES_BY_NAME, MESSAGES_BY_TYPE, TAGS_BY_NAME, TAGS_BY_NUMBER
from ..catalogue.schema import Field
from ..catalogue.versions import DEFAULT_VERSION, HEADER_SIZE, WIDE_FLOATING_SINCE
from .decode import STRING_CODEC, compile_fixed, plan_for
from .records import FloatItem, Message, NamedArray, NamedVar


def encode_floating_data(wire: str, value: Any, name: str = "") -> bytes:
    """Data bytes of one floating field of catalogue wire type ``wire``.  Strings get their
    terminating NUL; bytes are written as given (raw or pre-encoded data)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if wire == "STRING":
        return str(value).encode(*STRING_CODEC) + b"\0"
    if wire in ("UINT", "TIME"):
        return int(value).to_bytes(4, "big")
    if wire == "INT":
        return int(value).to_bytes(4, "big", signed=True)
    if wire == "USHORT":
        return int(value).to_bytes(2, "big")
    if wire == "SHORT":
        return int(value).to_bytes(2, "big", signed=True)
    if wire == "UCHAR":
        return int(value).to_bytes(1, "big")
    if wire == "USHORT_LIST":
        return b"".join(int(v).to_bytes(2, "big") for v in value)
    if wire == "NAMEDVAR":
        var = NamedVar(*value) if not isinstance(value, NamedVar) else value
        return var.name.encode(*STRING_CODEC) + b"\0" + var.value.encode(*STRING_CODEC) + b"\0"
    if wire == "NAMEDARRAY":
        arr = NamedArray(*value) if not isinstance(value, NamedArray) else value
        return (
            bytes([arr.index])
            + arr.name.encode(*STRING_CODEC)
            + b"\0"
            + arr.value.encode(*STRING_CODEC)
            + b"\0"
        )
    raise ValueError(f"floating field {name}: cannot encode {value!r} as {wire}")


def encode_floating(items: Iterable[Any], version: int) -> bytes:
    """Encode floating items, each a :class:`FloatItem` or a ``(tag number or name, value)``
    pair, with the tag/length width of protocol ``version``."""
    wide = version >= WIDE_FLOATING_SINCE
    out = bytearray()
    for item in items:
        tag_ref, value = (item.tag, item.value) if isinstance(item, FloatItem) else item
        if isinstance(tag_ref, str):
            tag = TAGS_BY_NAME.get(tag_ref)
            if tag is None:
                raise ValueError(f"unknown floating tag name {tag_ref!r}")
            number, wire, name = tag.tag, tag.wire, tag.name
        else:
            number = int(tag_ref)
            tag = TAGS_BY_NUMBER.get(number)
            wire, name = (tag.wire, tag.name) if tag else ("RAW", str(number))
        data = encode_floating_data(wire, value, name)
        if wide:
            if number > 0xFFFF or len(data) > 0xFFFF:
                raise ValueError(f"floating field {name}: tag or length too large for 2+2 format")
            out += struct.pack(">HH", number, len(data))
        else:
            if number > 0xFF or len(data) > 0xFF:
                raise ValueError(
                    f"floating field {name}: tag {number} / length {len(data)} does not fit the "
                    f"1+1-byte format of protocol version {version}"
                )
            out += bytes((number, len(data)))
        out += data
    return bytes(out)


def _layout(mtype: int, version: int, field_names: Iterable[str]) -> tuple[Field, ...] | None:
    cat = MESSAGES_BY_TYPE.get(mtype)
    if cat is None:
        return None
    names = set(field_names)
    main = cat.fields_for(version)
    for alt in cat.alt_layouts:
        alt_names = {f.name for f in alt.fields}
        if names and names <= alt_names and not (main and names <= {f.name for f in main}):
            return alt.fields
    return main


def encode_message(
    message: str | int,
    fields: dict[str, int] | None = None,
    floating: Iterable[Any] = (),
    version: int = DEFAULT_VERSION,
    *,
    body: bytes | None = None,
) -> bytes:
    """Encode a whole frame (8-byte header included).

    ``message`` is a spec name (``"OPEN_REQ"``) or a MessageType number.  Missing fixed
    fields are written as 0.  ``body`` gives the raw body of a message whose layout is not
    published (or of an unknown type) instead of fields/floating.
    """
    if isinstance(message, str):
        cat = MESSAGES_BY_NAME.get(message)
        if cat is None:
            raise ValueError(f"unknown message name {message!r}")
        mtype = cat.type
    else:
        mtype = int(message)
    fields = dict(fields or {})
    if body is None:
        layout = _layout(mtype, version, fields)
        if layout is None:
            if fields:
                raise ValueError(f"message type {mtype} has no known layout; pass body=")
            layout = ()
        unknown = set(fields) - {f.name for f in layout}
        if unknown:
            raise ValueError(f"message type {mtype} at version {version} has no field(s) {sorted(unknown)}")
        fixed = compile_fixed(layout)
        try:
            fixed_bytes = fixed.struct.pack(*(int(fields.get(f.name, 0)) for f in layout))
        except struct.error as exc:
            raise ValueError(f"message type {mtype}: a fixed field is out of range ({exc})") from None
        body = fixed_bytes + encode_floating(floating, version)
    return struct.pack(">II", len(body), mtype) + body


def encode(msg: Message, version: int | None = None) -> bytes:
    """Re-encode a decoded :class:`Message` (at its own version unless ``version`` is given).
    Messages without a decoded layout are written back from their raw body; for those whose
    body starts with an InvokeID (7.1) the ``InvokeID`` field, if present, replaces the
    first four bytes (so an edited InvokeID is written, an untouched one round-trips)."""
    v = msg.version if version is None else version
    if msg.type is None:
        return msg.raw
    plan = plan_for(msg.type, v)
    if plan is None or plan.fixed is None:
        body = msg.raw[HEADER_SIZE:]
        invoke = msg.fields.get("InvokeID") if plan is not None and plan.leading_invoke else None
        if invoke is not None and len(body) >= 4:
            try:
                body = struct.pack(">I", int(invoke)) + body[4:]
            except struct.error as exc:
                raise ValueError(f"message type {msg.type}: InvokeID is out of range ({exc})") from None
        return struct.pack(">II", len(body), msg.type) + body
    return encode_message(msg.type, msg.fields, msg.floating, v)
