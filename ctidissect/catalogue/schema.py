"""Declaration types of the GED-188 catalogue.

The catalogue is data: every message type, fixed-part layout, floating tag and enum of the
CTI Server protocol is declared once with these types, and the wire codec, the scapy layer,
the Wireshark Lua dissector and the docs are derived from it.  Spelling follows the spec
(``OPEN_REQ``, ``InvokeID``, ``CLIENT_ID``); ``ref`` points at the section of
``shared/protocol/GED-188.md`` a declaration comes from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Wire types of fixed fields (GED-188 section 2) and their struct format codes, big-endian.
# BOOL is two bytes on the wire (a USHORT 0/1), TIME is a UINT of seconds since 1970.
FIXED_WIRE_TYPES: dict[str, str] = {
    "UINT": "I",
    "INT": "i",
    "USHORT": "H",
    "SHORT": "h",
    "UCHAR": "B",
    "CHAR": "b",
    "BOOL": "H",
    "TIME": "I",
}

# Wire types of floating-field data (section 3).  RAW means the spec gives no type: the data
# is kept as bytes.  USHORT_LIST is a packed list of USHORTs (FLT_ENABLED_SERVICES, v24).
FLOAT_WIRE_TYPES = (
    "STRING",
    "UNSPEC",
    "UINT",
    "INT",
    "USHORT",
    "SHORT",
    "UCHAR",
    "TIME",
    "NAMEDVAR",
    "NAMEDARRAY",
    "USHORT_LIST",
    "RAW",
)

# Message kinds.  A REQUEST carries an InvokeID that its CONFIRMATION (or FAILURE_CONF /
# CONTROL_FAILURE_CONF) echoes; EVENTs and one-way INDICATIONs carry none.
REQUEST = "request"
CONFIRMATION = "confirmation"
EVENT = "event"
INDICATION = "indication"
KINDS = (REQUEST, CONFIRMATION, EVENT, INDICATION)

C2S = "C2S"  # client to server
S2C = "S2C"  # server to client
EITHER = "?"  # not stated by the spec


@dataclass(frozen=True)
class Field:
    """One field of a fixed part.

    ``since``/``until`` bound the protocol versions (inclusive) whose wire format carries
    the field; ``enum`` names an entry of the enum table used to label its value.
    """

    name: str
    wire: str
    since: int = 0
    until: int | None = None
    enum: str | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.wire not in FIXED_WIRE_TYPES:
            raise ValueError(f"{self.name}: unknown fixed wire type {self.wire!r}")

    @property
    def size(self) -> int:
        """Size on the wire in bytes."""
        return {"I": 4, "i": 4, "H": 2, "h": 2, "B": 1, "b": 1}[FIXED_WIRE_TYPES[self.wire]]

    def present_in(self, version: int) -> bool:
        """Whether protocol version ``version`` carries this field."""
        return self.since <= version and (self.until is None or version <= self.until)


@dataclass(frozen=True)
class AltLayout:
    """A second fixed layout chosen when the body has exactly ``body_length`` bytes.

    Used where section 10 records a conflict between sources that can be told apart by
    length (e.g. FAILURE_CONF, 10.1).
    """

    body_length: int
    fields: tuple[Field, ...]
    doc: str = ""


@dataclass(frozen=True)
class Message:
    """One message type.

    ``fixed`` is ``None`` when no source publishes the body: such messages decode to their
    raw body plus a ``layout.unknown`` anomaly (requests and confirmations also to their
    leading InvokeID, see :attr:`leading_invoke_id`).  ``answers`` (confirmations only) names the
    request a positive confirmation answers.  ``control`` marks client-control requests,
    which may be refused with CONTROL_FAILURE_CONF instead of FAILURE_CONF.
    ``no_invoke_id`` marks a request or confirmation that carries no InvokeID: the
    configuration exchange (230-245) has none (7.1), even where a type is named _REQ/_CONF.
    """

    type: int
    name: str
    kind: str
    direction: str
    fixed: tuple[Field, ...] | None
    floating: tuple[str, ...] = ()
    answers: str | None = None
    control: bool = False
    since: int = 0
    alt_layouts: tuple[AltLayout, ...] = ()
    doc: str = ""
    ref: str = ""
    conflict: str = ""
    no_invoke_id: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")

    def fields_for(self, version: int) -> tuple[Field, ...] | None:
        """The fixed fields carried by protocol version ``version``, in wire order."""
        if self.fixed is None:
            return None
        return tuple(f for f in self.fixed if f.present_in(version))

    def fixed_size(self, version: int) -> int | None:
        """Fixed-part size in bytes for protocol version ``version`` (None if unknown)."""
        fields = self.fields_for(version)
        return None if fields is None else sum(f.size for f in fields)

    @property
    def has_invoke_id(self) -> bool:
        """Whether the published fixed part starts with InvokeID."""
        return bool(self.fixed) and self.fixed[0].name == "InvokeID"

    @property
    def leading_invoke_id(self) -> bool:
        """Whether the body, though not published, starts with an InvokeID: section 7.1 fixes
        the first UINT of every request and confirmation body as the InvokeID, so a
        layout-less request/confirmation (outside the configuration exchange) decodes it and
        keeps the rest of the body raw."""
        return self.fixed is None and self.kind in (REQUEST, CONFIRMATION) and not self.no_invoke_id


@dataclass(frozen=True)
class Tag:
    """One floating-field tag (section 3.2).  ``max`` is the maximum data size in bytes
    (strings include their NUL); ``sensitive`` marks data that reports redact."""

    tag: int
    name: str
    wire: str
    max: int | None = None
    sensitive: bool = False
    since: int = 0
    enum: str | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.wire not in FLOAT_WIRE_TYPES:
            raise ValueError(f"{self.name}: unknown floating wire type {self.wire!r}")


@dataclass(frozen=True)
class Enum:
    """A value table (``kind='enum'``) or a bit mask (``kind='mask'``) of section 6.

    ``overrides`` maps an inclusive version range ``(first, last)`` to values whose name
    differs in those versions (e.g. CallType 27, 10.3).
    """

    name: str
    kind: str
    values: dict[int, str]
    overrides: dict[tuple[int, int], dict[int, str]] = field(default_factory=dict)
    doc: str = ""
    ref: str = ""

    def value_of(self, name: str) -> int:
        """The value named ``name`` (e.g. ``CALLTYPE_EMERGENCY`` -> 20); ValueError if none."""
        for value, value_name in self.values.items():
            if value_name == name:
                return value
        raise ValueError(f"{name!r} is not a value of {self.name}")

    def label(self, value: int, version: int | None = None) -> str | None:
        """Name of an enum value (None when unknown); masks give ``A|B`` of set bits,
        with unknown bits as ``0x...``."""
        if self.kind == "mask":
            if value == 0:
                return self.values.get(0, "0")
            names = []
            rest = value
            for bit, name in self.values.items():
                if bit and value & bit == bit:
                    names.append(name)
                    rest &= ~bit
            if rest:
                names.append(f"0x{rest:X}")
            return "|".join(names)
        if version is not None:
            for (first, last), table in self.overrides.items():
                if first <= version <= last and value in table:
                    return table[value]
        return self.values.get(value)


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """The one mapping from spec spelling to column/field names: ``ConnectionCallID`` ->
    ``connection_call_id``, ``CLIENT_ID`` -> ``client_id``."""
    if name.isupper() or "_" in name:
        return name.lower()
    return _CAMEL.sub("_", name).lower()
