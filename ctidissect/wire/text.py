"""Human-readable rendering of decoded messages (the text view of ``ctidissect hex``)."""

from __future__ import annotations

from ..catalogue import ENUMS, TAGS_BY_NUMBER
from .decode import field_enums
from .records import Message, json_value


def format_value(enum_name: str | None, value: int, version: int | None = None) -> str:
    """``3 (AVAILABLE)`` for enums, ``0x00000011 (A|B)`` for masks, the number otherwise;
    unknown enum numbers are kept and marked."""
    table = ENUMS.get(enum_name) if enum_name else None
    if table is None:
        return str(value)
    label = table.label(value, version)
    if table.kind == "mask":
        return f"0x{value:08X} ({label})"
    return f"{value} ({label})" if label is not None else f"{value} (unknown)"


def format_tree(msg: Message) -> str:
    """A readable tree of one message: header, fixed fields with enum names and numbers,
    floating fields in wire order, anomalies with severity and offset."""
    lines = []
    if msg.type is None:
        lines.append(f"(undecodable bytes) {len(msg.raw)} byte(s)")
    else:
        name = msg.name or "UNKNOWN"
        lines.append(
            f"{name} (type {msg.type}) length={len(msg.raw) - 8} protocol_version={msg.version}"
        )
    enums = field_enums(msg)
    for fname, value in msg.fields.items():
        lines.append(f"  {fname}: {format_value(enums.get(fname), value, msg.version)}")
    if msg.floating:
        lines.append("  floating:")
        for item in msg.floating:
            tag = TAGS_BY_NUMBER.get(item.tag)
            value = item.value
            if isinstance(value, int) and tag is not None and tag.enum:
                shown = format_value(tag.enum, value, msg.version)
            else:
                shown = repr(json_value(value)) if not isinstance(value, int) else str(value)
            lines.append(f"    {item.name or 'UNKNOWN_TAG'} ({item.tag}): {shown}")
    if msg.anomalies:
        lines.append("  anomalies:")
        for a in msg.anomalies:
            where = f" at offset {a.offset}" if a.offset is not None else ""
            frame = f" frame {a.frame}" if a.frame is not None else ""
            lines.append(f"    {a.code} [{a.severity}]{frame}{where}: {a.detail}")
        lines.append(f"  raw: {msg.raw.hex()}")
    return "\n".join(lines)
