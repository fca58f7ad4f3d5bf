"""Custom scapy fields for GED-188, each driven by the catalogue.

* fixed-part fields: :func:`fixed_field` maps a catalogue :class:`~ctidissect.catalogue.Field`
  to a scapy field (enum fields show names, masks show ``0x... (A|B)``, TIME shows UTC);
* floating fields: :class:`FloatTagField`, :class:`FloatLenField` and :class:`FloatValueField`
  make up one TLV item (:class:`~ctidissect.scapy_layer.CTIFloat`); their tag/length width
  follows the packet's protocol version (1+1 bytes up to v19, 2+2 from v20).

Decoding of floating values is written here independently of ``ctidissect.wire.decode`` (the
differential tests compare the two); encoding reuses the codec's
:func:`~ctidissect.wire.encode.encode_floating_data` so that crafted bytes are identical to
:func:`~ctidissect.wire.encode_message` by construction.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from scapy.config import conf
from scapy.fields import (
    ByteField,
    EnumField,
    Field,
    IntField,
    ShortField,
    SignedByteField,
    SignedIntField,
    SignedShortField,
)
from scapy.volatile import RandBin, RandByte, RandChoice, RandNum

from ..catalogue import ENUMS, TAGS_BY_NAME, TAGS_BY_NUMBER
from ..catalogue.schema import FIXED_WIRE_TYPES
from ..catalogue.schema import Enum as CatalogueEnum
from ..catalogue.schema import Field as CatalogueField
from ..catalogue.versions import WIDE_FLOATING_SINCE
from ..wire.decode import STRING_CODEC
from ..wire.encode import encode_floating_data
from ..wire.records import NamedArray, NamedVar
from .context import version_of

BOOL_TABLE = CatalogueEnum("BOOL", "enum", {0: "False", 1: "True"}, doc="GED-188 BOOL: a USHORT 0/1")

# Fixed-part wire types without an enum: the plain scapy field of the same struct code.
_PLAIN_FIELDS = {
    "I": IntField,
    "i": SignedIntField,
    "H": ShortField,
    "h": SignedShortField,
    "B": ByteField,
    "b": SignedByteField,
}


class CTIEnumField(EnumField):
    """A fixed field labelled by a catalogue enum: ``show()`` prints the name (names that
    changed between versions, e.g. CallType 27 in v14-v18, follow the packet's version);
    building accepts the number or the name."""

    __slots__ = ["table"]

    def __init__(self, name: str, default: int, table: CatalogueEnum, fmt: str) -> None:
        self.table = table
        super().__init__(name, default, dict(table.values), fmt)

    def i2repr_one(self, pkt: Any, x: Any) -> str:
        if isinstance(x, int) and self not in conf.noenum:
            label = self.table.label(x, version_of(pkt) if pkt is not None else None)
            if label is not None:
                return label
        return repr(x)


class CTIMaskField(Field):
    """A bit mask labelled by a catalogue mask table, shown as ``0x00000011 (A|B)``.  Building
    accepts an int or a ``"A|B|0x100"`` string."""

    __slots__ = ["table"]

    def __init__(self, name: str, default: int, table: CatalogueEnum, fmt: str) -> None:
        self.table = table
        super().__init__(name, default, fmt)

    def any2i(self, pkt: Any, x: Any) -> Any:
        if isinstance(x, str):
            by_name = {label: bit for bit, label in self.table.values.items()}
            value = 0
            for part in x.split("|"):
                part = part.strip()
                if not part:
                    continue
                if part in by_name:
                    value |= by_name[part]
                else:
                    try:
                        value |= int(part, 0)
                    except ValueError:
                        raise ValueError(f"{self.name}: {part!r} is not a bit of {self.table.name}") from None
            return value
        return x

    def i2repr(self, pkt: Any, x: Any) -> str:
        if not isinstance(x, int):
            return repr(x)
        return f"0x{x:0{self.sz * 2}X} ({self.table.label(x)})"


class CTITimeField(IntField):
    """GED-188 TIME: a UINT of seconds since 1970, shown with its UTC date."""

    def i2repr(self, pkt: Any, x: Any) -> str:
        if not isinstance(x, int):
            return repr(x)
        when = _dt.datetime.fromtimestamp(x, _dt.UTC)
        return f"{x} ({when:%Y-%m-%d %H:%M:%S} UTC)"


def fixed_field(f: CatalogueField) -> Field:
    """The scapy field for one catalogue fixed field (default 0, as in ``encode_message``)."""
    code = FIXED_WIRE_TYPES[f.wire]
    fmt = "!" + code
    if f.enum:
        table = ENUMS[f.enum]
        if table.kind == "mask":
            return CTIMaskField(f.name, 0, table, fmt)
        return CTIEnumField(f.name, 0, table, fmt)
    if f.wire == "BOOL":
        return CTIEnumField(f.name, 0, BOOL_TABLE, fmt)
    if f.wire == "TIME":
        return CTITimeField(f.name, 0)
    return _PLAIN_FIELDS[code](f.name, 0)


# ---------------------------------------------------------------------------------------
# Floating fields (section 3): Tag, FieldLength, data.  Tag and FieldLength are UCHAR up to
# v19 and USHORT from v20, so their width is read from the packet's protocol version.


def float_width(pkt: Any) -> int:
    """Bytes of the floating Tag (and of FieldLength) at ``pkt``'s protocol version."""
    return 2 if version_of(pkt) >= WIDE_FLOATING_SINCE else 1


class _VersionWidthField(Field):
    """An unsigned int one byte wide up to v19 and two bytes wide from v20."""

    def __init__(self, name: str, default: Any) -> None:
        super().__init__(name, default, "!H")

    def addfield(self, pkt: Any, s: bytes, val: Any) -> bytes:
        width = float_width(pkt)
        v = self.i2m(pkt, val)
        if not 0 <= v < 1 << (8 * width):
            raise ValueError(
                f"floating {self.name} {v} does not fit the {width}-byte {self.name} of protocol "
                f"version {version_of(pkt)}"
            )
        return s + v.to_bytes(width, "big")

    def getfield(self, pkt: Any, s: bytes) -> tuple[bytes, int]:
        # The floating list only hands whole items to CTIFloat; a short input (a CTIFloat
        # dissected by hand) reads what is there instead of raising.
        width = float_width(pkt)
        return s[width:], int.from_bytes(s[:width], "big")


class FloatTagField(_VersionWidthField):
    """Floating Tag, shown by its catalogue name; building accepts a number or a name."""

    def any2i(self, pkt: Any, x: Any) -> Any:
        if isinstance(x, str):
            tag = TAGS_BY_NAME.get(x)
            if tag is None:
                raise ValueError(f"unknown floating tag name {x!r}")
            return tag.tag
        return x

    def i2m(self, pkt: Any, x: Any) -> int:
        return 0 if x is None else int(x)

    def i2repr(self, pkt: Any, x: Any) -> str:
        tag = TAGS_BY_NUMBER.get(x) if isinstance(x, int) else None
        return tag.name if tag is not None else repr(x)

    def randval(self) -> Any:
        # fuzz(): a tag that fits the 1-byte format too, mostly known ones.
        return RandChoice(*[t for t in TAGS_BY_NUMBER if t <= 0xFF], 0xFE)


class FloatLenField(_VersionWidthField):
    """Floating FieldLength: computed from the value when left as None."""

    __slots__ = ["length_of"]

    def __init__(self, name: str, default: Any, length_of: str) -> None:
        super().__init__(name, default)
        self.length_of = length_of

    def i2m(self, pkt: Any, x: Any) -> int:
        if x is None:
            if pkt is None:
                return 0
            fld, val = pkt.getfield_and_val(self.length_of)
            return fld.i2len(pkt, val)
        return int(x)

    def randval(self) -> Any:
        return RandByte()  # fits both formats; a random length crafts overruns


_NUMERIC = {
    "UINT": (4, False),
    "TIME": (4, False),
    "INT": (4, True),
    "USHORT": (2, False),
    "SHORT": (2, True),
    "UCHAR": (1, False),
}


def _split_named(data: bytes) -> tuple[bytes, bytes] | None:
    """``name\\0value\\0`` (final NUL optional) -> (name, value); None when not in that form."""
    parts = data.split(b"\0")
    if len(parts) == 3 and parts[2] == b"":
        return parts[0], parts[1]
    if len(parts) == 2:
        return parts[0], parts[1]
    return None


def _text(b: bytes) -> str:
    return b.decode(*STRING_CODEC)


class FloatValueField(Field):
    """Floating data, typed by the catalogue wire type of the item's tag: STRING -> ``str``
    (up to its NUL), UINT/INT/USHORT/SHORT/UCHAR/TIME -> ``int``, NAMEDVAR / NAMEDARRAY ->
    :class:`~ctidissect.wire.NamedVar` / :class:`~ctidissect.wire.NamedArray`, USHORT_LIST ->
    list of ints, anything else (RAW, UNSPEC, unknown tags, data that does not fit its type)
    -> ``bytes``.  What is off is recorded as anomalies on the item, never raised."""

    __slots__ = ["length_from"]
    # USHORT_LIST values are lists: islist stops scapy from reading a list value as "one
    # packet per element" when building, ismutable keeps edits visible to the raw cache.
    islist = 1
    ismutable = True

    def __init__(self, name: str, default: Any, length_from: Any) -> None:
        super().__init__(name, default)
        self.length_from = length_from

    def getfield(self, pkt: Any, s: bytes) -> tuple[bytes, Any]:
        n = self.length_from(pkt)
        return s[n:], self.decode(pkt, s[:n])

    def decode(self, pkt: Any, data: bytes) -> Any:
        """Typed value of ``data`` for the tag of ``pkt``; anomalies go to ``pkt``."""
        number = pkt.tag
        n = len(data)
        tag = TAGS_BY_NUMBER.get(number)
        if tag is None:
            pkt.add_anomaly("float.unknown_tag", f"tag {number}, {n} byte(s) kept raw")
            return data
        if tag.max and n > tag.max:
            pkt.add_anomaly("float.too_long", f"{tag.name} has {n} bytes, max {tag.max}")
        wire = tag.wire
        if wire == "STRING":
            nul = data.find(b"\0")
            if nul < 0:
                pkt.add_anomaly("float.no_nul", tag.name)
                return _text(data)
            return _text(data[:nul])
        if wire in _NUMERIC:
            size, signed = _NUMERIC[wire]
            if n != size:
                pkt.add_anomaly("float.bad_length", f"{tag.name} has {n} bytes, expected {size}")
                return data
            return int.from_bytes(data, "big", signed=signed)
        if wire == "USHORT_LIST":
            if n % 2:
                pkt.add_anomaly("float.bad_value", f"{tag.name}: {n} byte(s) kept raw")
                return data
            return [int.from_bytes(data[i : i + 2], "big") for i in range(0, n, 2)]
        if wire in ("NAMEDVAR", "NAMEDARRAY"):
            body = data if wire == "NAMEDVAR" else data[1:]
            named = _split_named(body) if (wire == "NAMEDVAR" or data) else None
            if named is None:
                pkt.add_anomaly("float.bad_value", f"{tag.name}: {n} byte(s) kept raw")
                return data
            if wire == "NAMEDVAR":
                return NamedVar(_text(named[0]), _text(named[1]))
            return NamedArray(data[0], _text(named[0]), _text(named[1]))
        return data  # RAW / UNSPEC

    def any2i(self, pkt: Any, x: Any) -> Any:
        # An enum-valued numeric tag (e.g. PARTY_DEVID_TYPE) also accepts the value's name.
        if isinstance(x, str) and pkt is not None:
            tag = TAGS_BY_NUMBER.get(pkt.getfieldval("tag"))
            if tag is not None and tag.enum and tag.wire in _NUMERIC:
                for value, label in ENUMS[tag.enum].values.items():
                    if label == x:
                        return value
        return x

    def i2m(self, pkt: Any, x: Any) -> bytes:
        if x is None:
            return b""
        if isinstance(x, (bytes, bytearray, memoryview)):
            return bytes(x)
        number = pkt.getfieldval("tag") if pkt is not None else None
        tag = TAGS_BY_NUMBER.get(number)
        if tag is None:
            raise ValueError(f"floating tag {number!r} is not in the catalogue: give its value as bytes")
        return encode_floating_data(tag.wire, x, tag.name)

    def i2len(self, pkt: Any, x: Any) -> int:
        return len(self.i2m(pkt, x))

    def addfield(self, pkt: Any, s: bytes, val: Any) -> bytes:
        return s + self.i2m(pkt, val)

    def randval(self) -> Any:
        return RandBin(RandNum(0, 24))  # raw data is accepted for any tag

    def i2repr(self, pkt: Any, x: Any) -> str:
        tag = TAGS_BY_NUMBER.get(pkt.getfieldval("tag")) if pkt is not None else None
        if isinstance(x, int) and tag is not None and tag.enum:
            label = ENUMS[tag.enum].label(x, version_of(pkt))
            return label if label is not None else repr(x)
        if isinstance(x, NamedArray):
            return f"[{x.index}] {x.name}={x.value!r}"
        if isinstance(x, NamedVar):
            return f"{x.name}={x.value!r}"
        return repr(x)
