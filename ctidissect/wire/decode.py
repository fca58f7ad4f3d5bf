"""Catalogue-driven decoder: one precompiled ``struct`` plan per (message type, protocol
version) for the fixed part and a tight loop for the floating part.

Each message decodes inside its own length window, so an overrun in one message cannot
damage the next, and every byte off the wire is bounds-checked: bad input yields anomalies,
never an exception.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from ..catalogue import ENUMS, MESSAGES_BY_TYPE, TAGS
from ..catalogue.schema import FIXED_WIRE_TYPES, Field
from ..catalogue.versions import HEADER_SIZE, WIDE_FLOATING_SINCE, max_body_length
from .records import Anomaly, FloatItem, Message, NamedArray, NamedVar

_HEADER = struct.Struct(">II")
_WIDE_TAG = struct.Struct(">HH")

# Floating data kinds as small ints for the hot loop.
K_STRING, K_RAW, K_UINT, K_INT, K_USHORT, K_SHORT, K_UCHAR, K_NAMEDVAR, K_NAMEDARRAY, K_USHORT_LIST = range(10)
_KIND_OF_WIRE = {
    "STRING": K_STRING,
    "UNSPEC": K_RAW,
    "RAW": K_RAW,
    "UINT": K_UINT,
    "TIME": K_UINT,
    "INT": K_INT,
    "USHORT": K_USHORT,
    "SHORT": K_SHORT,
    "UCHAR": K_UCHAR,
    "NAMEDVAR": K_NAMEDVAR,
    "NAMEDARRAY": K_NAMEDARRAY,
    "USHORT_LIST": K_USHORT_LIST,
}
_NUMERIC_SIZE = {K_UINT: 4, K_INT: 4, K_USHORT: 2, K_SHORT: 2, K_UCHAR: 1}

# tag -> (name, kind, max data bytes or a large number)
TAG_PLAN: dict[int, tuple[str, int, int]] = {
    t.tag: (t.name, _KIND_OF_WIRE[t.wire], t.max if t.max else 1 << 30) for t in TAGS
}

STRING_CODEC = ("utf-8", "surrogateescape")
"""Strings are ASCII in UCCE and UTF-8 in CCX; bytes that are not UTF-8 survive a decode /
encode round trip through surrogate escapes."""


class FixedPlan(NamedTuple):
    struct: struct.Struct
    names: tuple[str, ...]
    fields: tuple[Field, ...]


class Plan(NamedTuple):
    """Compiled decoding plan for one (message type, protocol version)."""

    type: int
    name: str
    fixed: FixedPlan | None  # None: layout unknown
    size: int
    alts: dict[int, FixedPlan]
    leading_invoke: bool = False  # layout unknown but the body starts with an InvokeID (7.1)


def compile_fixed(fields: tuple[Field, ...]) -> FixedPlan:
    """struct plan for a tuple of fixed fields (no alignment padding, big-endian)."""
    fmt = ">" + "".join(FIXED_WIRE_TYPES[f.wire] for f in fields)
    return FixedPlan(struct.Struct(fmt), tuple(f.name for f in fields), fields)


_PLANS_BY_VERSION: dict[int, dict[int, Plan | None]] = {}
"""version -> message type -> compiled plan (filled on first use)."""
_SIMPLE_BY_VERSION: dict[int, dict[int, tuple]] = {}
"""version -> message type -> ``(name, field names, unpack_from, fixed size, struct codes)``
for the plans with a known layout and no alternative one: the hot path of
:func:`decode_message` and the plans of the C accelerator (:func:`simple_plans`)."""


def simple_plans(version: int) -> dict[int, tuple]:
    """The plain plans of protocol ``version`` compiled so far (the dict fills as
    :func:`plan_for` compiles more types)."""
    plans = _SIMPLE_BY_VERSION.get(version)
    if plans is None:
        plans = _SIMPLE_BY_VERSION[version] = {}
    return plans


def plan_for(mtype: int, version: int) -> Plan | None:
    """The compiled plan of ``mtype`` at protocol ``version`` (None for an unknown type)."""
    plans = _PLANS_BY_VERSION.get(version)
    if plans is None:
        plans = _PLANS_BY_VERSION[version] = {}
    try:
        return plans[mtype]
    except KeyError:
        pass
    msg = MESSAGES_BY_TYPE.get(mtype)
    if msg is None:
        plan = None
    else:
        fields = msg.fields_for(version)
        fixed = None if fields is None else compile_fixed(fields)
        alts = {a.body_length: compile_fixed(a.fields) for a in msg.alt_layouts}
        plan = Plan(mtype, msg.name, fixed, fixed.struct.size if fixed else 0, alts, msg.leading_invoke_id)
        if fixed is not None and not alts:
            codes = fixed.struct.format[1:].encode("ascii")
            simple_plans(version)[mtype] = (msg.name, fixed.names, fixed.struct.unpack_from, plan.size, codes)
    plans[mtype] = plan
    return plan


def decode_frame(frame: bytes, version: int) -> Message:
    """Decode one complete frame (8-byte header + exactly MessageLength body bytes) at
    protocol ``version``.  The caller guarantees the length matches; see
    :func:`decode_buffer` for untrusted input."""
    length, mtype = _HEADER.unpack_from(frame, 0)
    return decode_message(mtype, frame, version)


def decode_body(mtype: int, frame: bytes, version: int) -> Message:
    """Decode the body ``frame[8:]`` of a message of type ``mtype``."""
    return decode_message(mtype, frame, version)


def decode_message(
    mtype: int,
    frame: bytes,
    version: int,
    frame_no: int | None = None,
    ts: float | None = None,
    conn: str | None = None,
    direction: str | None = None,
    extra: dict | None = None,
) -> Message:
    """:func:`decode_body` that also fills the capture metadata of the record in the same
    step (``frame`` number, ``ts``, ``conn``, ``direction``, ``extra``) - the capture
    reader's hot path."""
    simple = _SIMPLE_BY_VERSION.get(version)
    entry = simple.get(mtype) if simple is not None else None
    if entry is not None:
        name, names, unpack, size, _codes = entry
        end = len(frame)
        if end - HEADER_SIZE >= size:
            anomalies: list[Anomaly] = []
            fields = dict(zip(names, unpack(frame, HEADER_SIZE)))
            if end - HEADER_SIZE == size:
                floating: list[FloatItem] = []
            elif version >= WIDE_FLOATING_SINCE:
                floating = _floating_wide(frame, HEADER_SIZE + size, end, anomalies)
            else:
                floating = _floating_narrow(frame, HEADER_SIZE + size, end, anomalies)
            return Message(
                mtype, name, fields, floating, anomalies, frame, version, frame_no, ts, conn, direction, {} if extra is None else extra
            )
    plans = _PLANS_BY_VERSION.get(version)
    plan = plans.get(mtype, False) if plans is not None else False
    if plan is False:
        plan = plan_for(mtype, version)
    if extra is None:
        extra = {}
    end = len(frame)
    if plan is None:
        return Message(
            mtype,
            None,
            {},
            [],
            [Anomaly("type.unknown", f"MessageType {mtype}; {end - HEADER_SIZE} body bytes kept raw")],
            frame,
            version,
            frame_no,
            ts,
            conn,
            direction,
            extra,
        )
    fixed = plan.fixed
    if fixed is None:
        body_len = end - HEADER_SIZE
        if plan.leading_invoke and body_len >= 4:
            # 7.1: the first UINT of a request/confirmation body is its InvokeID.
            fields = {"InvokeID": _U32.unpack_from(frame, HEADER_SIZE)[0]}
            detail = f"InvokeID decoded per 7.1; {body_len - 4} body bytes after it kept raw"
        else:
            fields = {}
            detail = f"{body_len} body bytes kept raw"
        return Message(
            mtype,
            plan.name,
            fields,
            [],
            [Anomaly("layout.unknown", detail)],
            frame,
            version,
            frame_no,
            ts,
            conn,
            direction,
            extra,
        )
    body_len = end - HEADER_SIZE
    anomalies = []
    if plan.alts and body_len in plan.alts:
        fixed = plan.alts[body_len]
        anomalies.append(
            Anomaly("fixed.alternate_layout", f"{body_len}-byte body decoded as {', '.join(fixed.names)}")
        )
        size = fixed.struct.size
    else:
        size = plan.size
    if body_len >= size:
        fields = dict(zip(fixed.names, fixed.struct.unpack_from(frame, HEADER_SIZE)))
        if body_len == size:
            return Message(mtype, plan.name, fields, [], anomalies, frame, version, frame_no, ts, conn, direction, extra)
        if version >= WIDE_FLOATING_SINCE:
            floating = _floating_wide(frame, HEADER_SIZE + size, end, anomalies)
        else:
            floating = _floating_narrow(frame, HEADER_SIZE + size, end, anomalies)
        return Message(mtype, plan.name, fields, floating, anomalies, frame, version, frame_no, ts, conn, direction, extra)
    # Fixed part cut short: decode the whole fields that fit, flag the rest.
    fields = {}
    pos = HEADER_SIZE
    for f in fixed.fields:
        n = f.size
        if pos + n > end:
            break
        fields[f.name] = struct.unpack_from(">" + FIXED_WIRE_TYPES[f.wire], frame, pos)[0]
        pos += n
    anomalies.append(
        Anomaly(
            "fixed.short",
            f"body has {body_len} bytes, fixed part needs {size} at protocol version {version}",
            HEADER_SIZE + body_len,
        )
    )
    return Message(mtype, plan.name, fields, [], anomalies, frame, version, frame_no, ts, conn, direction, extra)


def decode_floating(
    buf: bytes, pos: int, end: int, wide: bool, anomalies: list[Anomaly]
) -> list[FloatItem]:
    """Decode floating fields in ``buf[pos:end]``; ``wide`` selects 2+2-byte tag/length
    (v20+) over 1+1 (up to v19).  Offsets in anomalies are from the start of ``buf``."""
    if wide:
        return _floating_wide(buf, pos, end, anomalies)
    return _floating_narrow(buf, pos, end, anomalies)


# The two loops below are the hot path of capture decoding.  Each handles the common items
# inline - a string ending with its only NUL within its maximum size, a 4-byte UINT - and
# hands every other item to _floating_item, which does the full checks.  FloatItem tuples are made
# with tuple.__new__ (the NamedTuple constructor costs twice as much).
_new_tuple = tuple.__new__
_U32 = struct.Struct(">I")
_STRING_TAGS: dict[int, tuple[str, int]] = {t: (p[0], p[2]) for t, p in TAG_PLAN.items() if p[1] == K_STRING}
"""STRING tags: tag -> (name, maximum data bytes)."""
_UINT_TAGS: dict[int, str] = {t: p[0] for t, p in TAG_PLAN.items() if p[1] == K_UINT and p[2] >= 4}
"""4-byte unsigned tags (UINT, TIME) whose maximum size allows 4 bytes: tag -> name."""


def _floating_wide(buf: bytes, pos: int, end: int, anomalies: list[Anomaly]) -> list[FloatItem]:
    items: list[FloatItem] = []
    append = items.append
    plans = TAG_PLAN
    strings = _STRING_TAGS
    uints = _UINT_TAGS
    unpack = _WIDE_TAG.unpack_from
    u32 = _U32.unpack_from
    new = _new_tuple
    item_cls = FloatItem
    while pos < end:
        if end - pos < 4:
            anomalies.append(Anomaly("float.truncated_header", f"{end - pos} trailing byte(s) kept raw", pos))
            break
        tag, ln = unpack(buf, pos)
        data_pos = pos + 4
        nxt = data_pos + ln
        if nxt > end:
            anomalies.append(
                Anomaly("float.overrun", f"tag {tag} length {ln} but only {end - data_pos} byte(s) remain; kept raw", pos)
            )
            break
        string = strings.get(tag)
        if string is not None:
            if ln and ln <= string[1] and buf[nxt - 1] == 0:
                # The usual string: one NUL, at the end ("0 in" is a cheap memchr).
                text = buf[data_pos : nxt - 1]
                if 0 not in text:
                    try:
                        value = text.decode()
                    except UnicodeDecodeError:
                        value = text.decode("utf-8", "surrogateescape")
                    append(new(item_cls, (tag, string[0], value)))
                    pos = nxt
                    continue
        elif ln == 4:
            name = uints.get(tag)
            if name is not None:
                append(new(item_cls, (tag, name, u32(buf, data_pos)[0])))
                pos = nxt
                continue
        _floating_item(buf, pos, data_pos, nxt, tag, ln, plans.get(tag), anomalies, append)
        pos = nxt
    return items


def _floating_narrow(buf: bytes, pos: int, end: int, anomalies: list[Anomaly]) -> list[FloatItem]:
    items: list[FloatItem] = []
    append = items.append
    plans = TAG_PLAN
    strings = _STRING_TAGS
    uints = _UINT_TAGS
    u32 = _U32.unpack_from
    new = _new_tuple
    item_cls = FloatItem
    while pos < end:
        if end - pos < 2:
            anomalies.append(Anomaly("float.truncated_header", f"{end - pos} trailing byte(s) kept raw", pos))
            break
        tag = buf[pos]
        ln = buf[pos + 1]
        data_pos = pos + 2
        nxt = data_pos + ln
        if nxt > end:
            anomalies.append(
                Anomaly("float.overrun", f"tag {tag} length {ln} but only {end - data_pos} byte(s) remain; kept raw", pos)
            )
            break
        string = strings.get(tag)
        if string is not None:
            if ln and ln <= string[1] and buf[nxt - 1] == 0:
                # The usual string: one NUL, at the end ("0 in" is a cheap memchr).
                text = buf[data_pos : nxt - 1]
                if 0 not in text:
                    try:
                        value = text.decode()
                    except UnicodeDecodeError:
                        value = text.decode("utf-8", "surrogateescape")
                    append(new(item_cls, (tag, string[0], value)))
                    pos = nxt
                    continue
        elif ln == 4:
            name = uints.get(tag)
            if name is not None:
                append(new(item_cls, (tag, name, u32(buf, data_pos)[0])))
                pos = nxt
                continue
        _floating_item(buf, pos, data_pos, nxt, tag, ln, plans.get(tag), anomalies, append)
        pos = nxt
    return items


def _floating_item(
    buf: bytes,
    start: int,
    data_pos: int,
    nxt: int,
    tag: int,
    ln: int,
    plan: tuple[str, int, int] | None,
    anomalies: list[Anomaly],
    append,
) -> None:
    """One floating item with every check (the uncommon cases of the loops above)."""
    data = buf[data_pos:nxt]
    if plan is None:
        anomalies.append(Anomaly("float.unknown_tag", f"tag {tag}, {ln} byte(s) kept raw", start))
        append(FloatItem(tag, None, data))
        return
    name, kind, maxlen = plan
    if ln > maxlen:
        anomalies.append(Anomaly("float.too_long", f"{name} has {ln} bytes, max {maxlen}", start))
    if kind == K_STRING:
        nul = data.find(b"\0")
        if nul < 0:
            anomalies.append(Anomaly("float.no_nul", name, start))
            append(FloatItem(tag, name, data.decode(*STRING_CODEC)))
        else:
            append(FloatItem(tag, name, data[:nul].decode(*STRING_CODEC)))
    elif kind == K_RAW:
        append(FloatItem(tag, name, data))
    elif kind <= K_UCHAR:
        if ln != _NUMERIC_SIZE[kind]:
            anomalies.append(
                Anomaly("float.bad_length", f"{name} has {ln} bytes, expected {_NUMERIC_SIZE[kind]}", start)
            )
            append(FloatItem(tag, name, data))
        else:
            append(FloatItem(tag, name, int.from_bytes(data, "big", signed=kind in (K_INT, K_SHORT))))
    else:
        value = _decode_compound(kind, data)
        if value is None:
            anomalies.append(Anomaly("float.bad_value", f"{name}: {ln} byte(s) kept raw", start))
            append(FloatItem(tag, name, data))
        else:
            append(FloatItem(tag, name, value))


def _decode_compound(kind: int, data: bytes):
    if kind == K_USHORT_LIST:
        if len(data) % 2:
            return None
        return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if kind == K_NAMEDARRAY:
        if not data:
            return None
        index, data = data[0], data[1:]
    parts = data.split(b"\0")
    # name\0value\0 -> ["name", "value", ""]; tolerate a missing final NUL.
    if len(parts) == 3 and parts[2] == b"":
        name, value = parts[0], parts[1]
    elif len(parts) == 2:
        name, value = parts
    else:
        return None
    name_s = name.decode(*STRING_CODEC)
    value_s = value.decode(*STRING_CODEC)
    if kind == K_NAMEDVAR:
        return NamedVar(name_s, value_s)
    return NamedArray(index, name_s, value_s)


def decode_buffer(buf: bytes, version: int) -> list[Message]:
    """Decode every message in ``buf`` (one or more whole frames, e.g. from the command
    line).  Bytes that cannot be framed become records with ``type`` None; decoding goes on
    after each message whose length is trustworthy."""
    out: list[Message] = []
    pos = 0
    n = len(buf)
    limit = max_body_length(version)
    while pos < n:
        if n - pos < HEADER_SIZE:
            out.append(
                Message(
                    None,
                    None,
                    {},
                    [],
                    [Anomaly("frame.truncated_header", f"{n - pos} byte(s) after the last frame", 0)],
                    bytes(buf[pos:]),
                    version,
                )
            )
            break
        length, mtype = _HEADER.unpack_from(buf, pos)
        end = pos + HEADER_SIZE + length
        if end > n:
            msg_anoms = [
                Anomaly(
                    "frame.truncated",
                    f"MessageLength {length} but only {n - pos - HEADER_SIZE} body byte(s) present",
                    0,
                )
            ]
            if length > limit:
                msg_anoms.append(
                    Anomaly("frame.too_long", f"MessageLength {length} > {limit} at protocol version {version}", 0)
                )
            name = MESSAGES_BY_TYPE[mtype].name if mtype in MESSAGES_BY_TYPE else None
            out.append(Message(mtype, name, {}, [], msg_anoms, bytes(buf[pos:]), version))
            break
        msg = decode_body(mtype, bytes(buf[pos:end]), version)
        if length > limit:
            msg.anomalies.insert(
                0, Anomaly("frame.too_long", f"MessageLength {length} > {limit} at protocol version {version}", 0)
            )
        out.append(msg)
        pos = end
    return out


def enum_label(enum_name: str | None, value: int, version: int | None = None) -> str | None:
    """Name of ``value`` in enum ``enum_name`` (None when unknown or not an enum)."""
    if enum_name is None:
        return None
    table = ENUMS.get(enum_name)
    return None if table is None else table.label(value, version)


def field_enums(msg: Message) -> dict[str, str]:
    """Map field name -> enum name for the fixed fields of ``msg`` (for labelling)."""
    cat = MESSAGES_BY_TYPE.get(msg.type) if msg.type is not None else None
    if cat is None or cat.fixed is None:
        return {}
    out = {f.name: f.enum for f in cat.fixed if f.enum}
    for alt in cat.alt_layouts:
        out.update({f.name: f.enum for f in alt.fields if f.enum})
    return out
