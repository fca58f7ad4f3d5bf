"""The hand-written scapy classes of the CTI layer: the 8-byte header (:class:`CTI`), one
floating TLV item (:class:`CTIFloat`), the base of the generated message classes
(:class:`CTIMessage`), raw bodies (:class:`CTI_Raw`, :class:`CTI_RawInvoke`,
:class:`CTI_Unknown`) and the stream
container handed to scapy's ``TCPSession`` (:class:`CTIStream`).

The per-message classes themselves are generated from the catalogue in :mod:`.build`.

Dissection never raises on bad bytes: each message dissects inside its own MessageLength
window (``extract_padding``), and what is off is recorded in ``pkt.anomalies`` with the
stable codes of ``ctidissect.wire.VOCABULARY`` (``float.overrun``, ``type.unknown``, ...).
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar

from scapy.config import conf
from scapy.fields import ConditionalField, IntEnumField, IntField, MultipleTypeField, PacketListField, StrField
from scapy.packet import Packet

from ..catalogue import MESSAGES_BY_NAME, MESSAGES_BY_TYPE, TAGS_BY_NAME, TAGS_BY_NUMBER
from ..catalogue.schema import Message as CatalogueMessage
from ..catalogue.versions import HEADER_SIZE, MIN_VERSION, max_body_length
from ..wire.framing import DESYNC, NEED_DATA, find_resync, next_frame
from ..wire.records import Anomaly, FloatItem
from ..wire.records import Message as WireMessage
from .context import MAX_PLAUSIBLE_VERSION, check_version, get_default_version, version_of
from .fields import FloatLenField, FloatTagField, FloatValueField, float_width

_HEADER = struct.Struct(">II")

MAX_FLOATING_ITEMS = 6250
"""``max_count`` of the floating list: 12500 bytes (the largest legal message) / 2 (the
smallest item).  A message holding more items is over the maximum size anyway; the rest of
its bytes stay in ``trailing`` with a ``frame.too_long`` anomaly."""

MAX_STREAM_MESSAGES = 1 << 20
"""``max_count`` of :class:`CTIStream`'s message list (at least 8 bytes each, so an 8 MiB
buffer); bytes beyond it stay as a Raw payload."""

SESSION_VERSION_KEY = "cti_version"
"""Key of the protocol version learnt from OPEN_REQ in scapy's per-connection session dict."""

MESSAGE_CLASSES: dict[str, type[Packet]] = {}
"""Spec name -> generated class (filled by :mod:`.build`)."""
CLASS_BY_TYPE: dict[int, type[Packet]] = {}
"""MessageType -> generated class (filled by :mod:`.build`)."""

_ALT_UNSET = -1  # CTIMessage._alt before dissection: choose the layout from the fields set


class _CTIPacket(Packet):
    """Machinery shared by every CTI class: the protocol version (context, never on the
    wire) and the anomalies found while dissecting."""

    __slots__ = ["_cti_version", "_anoms"]

    def __init__(self, _pkt: bytes = b"", *args: Any, version: int | None = None, **kwargs: Any) -> None:
        # Slots are set before Packet.__init__ because it dissects _pkt right away, and the
        # version decides the layout.
        object.__setattr__(self, "_cti_version", None if version is None else check_version(version))
        object.__setattr__(self, "_anoms", [])
        super().__init__(_pkt, *args, **kwargs)

    # --- protocol version -------------------------------------------------------------
    @property
    def cti_version(self) -> int:
        """Protocol version in force: this packet's own, else the enclosing CTI packet's
        (underlayer, then the container holding it), else the module default."""
        if self._cti_version is not None:
            return self._cti_version
        for up in (self.underlayer, self.parent):
            if up is not None and hasattr(type(up), "cti_version"):
                return up.cti_version
        return get_default_version()

    @property
    def version(self) -> int:
        """Protocol version of this packet (see :attr:`cti_version`).  Assigning it sets the
        packet's own version and drops cached bytes so that it is built in that format."""
        return self.cti_version

    @version.setter
    def version(self, value: int | None) -> None:
        object.__setattr__(self, "_cti_version", None if value is None else check_version(value))
        self.clear_cache()

    def __setattr__(self, attr: str, val: Any) -> None:
        if attr == "version":  # not a field: never let scapy look for it in the payloads
            object.__setattr__(self, attr, val)
            return
        super().__setattr__(attr, val)

    # --- anomalies --------------------------------------------------------------------
    def add_anomaly(self, code: str, detail: str = "", offset: int | None = None) -> None:
        """Record an anomaly found while dissecting this packet."""
        self._anoms.append(Anomaly(code, detail, offset))

    @property
    def anomalies(self) -> list[Anomaly]:
        """Anomalies found while dissecting (empty for crafted packets)."""
        return list(self._anoms)

    # --- copies keep the non-field state ----------------------------------------------
    def _copy_state(self, other: _CTIPacket) -> None:
        object.__setattr__(other, "_cti_version", self._cti_version)
        object.__setattr__(other, "_anoms", list(self._anoms))

    def copy(self) -> Any:
        clone = super().copy()
        self._copy_state(clone)
        return clone

    def clone_with(self, payload: Any = None, **kargs: Any) -> Any:
        pkt = super().clone_with(payload, **kargs)
        self._copy_state(pkt)
        return pkt

    def __reduce__(self) -> Any:
        _fn, args, state = super().__reduce__()
        return (_rebuild, (type(self), args[0], self._cti_version), state)


def _rebuild(cls: type[_CTIPacket], raw: bytes, version: int | None) -> _CTIPacket:
    """Unpickle: dissect again at the version the packet had."""
    return cls(raw, version=version)


def _build_at(child: Any, version: int) -> bytes:
    """Bytes of ``child`` (a CTIFloat or CTI held in a list field) built at ``version``."""
    if isinstance(child, (bytes, bytearray, memoryview)):
        return bytes(child)
    if child.cti_version == version:
        return bytes(child)
    clone = child.copy()
    object.__setattr__(clone, "_cti_version", version)
    clone.clear_cache()
    return bytes(clone)


# ---------------------------------------------------------------------------------------
# Floating part


class CTIFloat(_CTIPacket):
    """One floating field (section 3): Tag, FieldLength and typed data.

    ``CTIFloat(tag="CLIENT_ID", value="agent1")``; the length is computed when building and
    the tag/length width follows the message's protocol version.  ``value`` is ``str`` for
    STRING tags, ``int`` for numeric ones, ``bytes`` otherwise (and for anything malformed).
    """

    name = "CTIFloat"
    fields_desc = [
        FloatTagField("tag", 0),
        FloatLenField("length", None, length_of="value"),
        FloatValueField("value", b"", length_from=lambda p: p.length),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s

    @property
    def tag_name(self) -> str | None:
        """Catalogue name of the tag (None when unknown)."""
        tag = TAGS_BY_NUMBER.get(self.tag)
        return tag.name if tag else None

    def to_item(self) -> FloatItem:
        """This field as the codec's :class:`~ctidissect.wire.FloatItem`."""
        return FloatItem(self.tag, self.tag_name, self.value)

    def mysummary(self) -> str:
        return f"{self.get_field('tag').i2repr(self, self.tag)}={self.get_field('value').i2repr(self, self.value)}"


def _to_float(item: Any) -> Any:
    """Friendly floating forms -> CTIFloat: ``("CLIENT_ID", "x")``, ``(1, "x")``, a codec
    FloatItem; CTIFloat and pre-encoded bytes pass through."""
    if isinstance(item, (CTIFloat, bytes, bytearray)):
        return item
    if isinstance(item, FloatItem):
        return CTIFloat(tag=item.tag, value=item.value)
    if isinstance(item, tuple) and len(item) == 2:
        return CTIFloat(tag=item[0], value=item[1])
    raise TypeError(f"not a floating field: {item!r} (use CTIFloat(tag=..., value=...) or (tag, value))")


class FloatingListField(PacketListField):
    """The floating part of a message: every whole TLV item up to the end of the message's
    MessageLength window.  An item whose FieldLength runs past the window (``float.overrun``)
    or a tag/length cut short (``float.truncated_header``) ends the list; those bytes stay
    in the message's ``trailing`` field."""

    def any2i(self, pkt: Any, x: Any) -> Any:
        if x is None:
            x = []
        elif isinstance(x, dict):
            x = list(x.items())
        elif not isinstance(x, list):
            x = [x]
        return super().any2i(pkt, [_to_float(i) for i in x])

    def getfield(self, pkt: Any, s: bytes) -> tuple[bytes, list[Any]]:
        version = version_of(pkt)
        width = float_width(pkt)
        hdr = 2 * width
        # Offsets in anomalies count from the start of the message, 8-byte header included.
        original = getattr(pkt, "original", None) or b""
        base = HEADER_SIZE + max(0, len(original) - len(s))
        items: list[Any] = []
        pos, n = 0, len(s)
        while pos < n:
            if len(items) >= self.max_count:
                pkt.add_anomaly(
                    "frame.too_long", f"more than {self.max_count} floating fields; rest kept in 'trailing'", base + pos
                )
                break
            if n - pos < hdr:
                pkt.add_anomaly("float.truncated_header", f"{n - pos} trailing byte(s) kept raw", base + pos)
                break
            tag = int.from_bytes(s[pos : pos + width], "big")
            ln = int.from_bytes(s[pos + width : pos + hdr], "big")
            if pos + hdr + ln > n:
                pkt.add_anomaly(
                    "float.overrun",
                    f"tag {tag} length {ln} but only {n - pos - hdr} byte(s) remain; kept raw",
                    base + pos,
                )
                break
            item = self.cls(s[pos : pos + hdr + ln], version=version, _parent=pkt)
            for a in item.anomalies:
                pkt.add_anomaly(a.code, a.detail, base + pos)
            items.append(item)
            pos += hdr + ln
        return s[pos:], items

    def addfield(self, pkt: Any, s: bytes, val: Any) -> bytes:
        version = version_of(pkt)
        return s + b"".join(_build_at(item, version) for item in val)

    def i2len(self, pkt: Any, val: Any) -> int:
        return len(self.addfield(pkt, b"", val))


# ---------------------------------------------------------------------------------------
# Message bodies


class CTIMessage(_CTIPacket):
    """Base of the generated classes of messages with a published layout.

    Fields are the catalogue's fixed fields for the packet's protocol version (those with
    ``since``/``until`` are ConditionalFields on the version), then ``floating`` (a list of
    :class:`CTIFloat`) and ``trailing`` (bytes of the window left after the last whole
    floating field: empty unless something was off).  Floating fields can also be given as
    keyword arguments named by tag: ``OPEN_REQ(InvokeID=1, CLIENT_ID="me")``.
    """

    __slots__ = ["_alt", "_nfixed"]
    cti_message: ClassVar[CatalogueMessage]
    _n_fixed_desc: ClassVar[int] = 0
    _has_invoke: ClassVar[bool] = False
    _answers_to: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, _pkt: bytes = b"", *args: Any, **kwargs: Any) -> None:
        object.__setattr__(self, "_alt", _ALT_UNSET)
        object.__setattr__(self, "_nfixed", None)
        extra = [(k, kwargs.pop(k)) for k in list(kwargs) if k in TAGS_BY_NAME]
        super().__init__(_pkt, *args, **kwargs)
        if extra:
            current = list(self.fields.get("floating", []))
            self.floating = current + [CTIFloat(tag=k, value=v) for k, v in extra]

    def _copy_state(self, other: _CTIPacket) -> None:
        super()._copy_state(other)
        object.__setattr__(other, "_alt", self._alt)
        object.__setattr__(other, "_nfixed", self._nfixed)
        for item in other.fields.get("floating", ()):
            if isinstance(item, Packet):
                item.add_parent(other)

    # --- layout -----------------------------------------------------------------------
    def alt_index(self) -> int | None:
        """Index of the alternative layout in use (``cti_message.alt_layouts``), or None.

        Dissection picks it by body length, like the codec (e.g. the 10-byte FAILURE_CONF of
        10.1); a crafted packet uses it when the fields set all belong to it and not all to
        the main layout, like ``encode_message``."""
        if self._alt != _ALT_UNSET:
            return self._alt
        alts = self.cti_message.alt_layouts
        if not alts:
            return None
        names = {k for k in self.fields if k not in ("floating", "trailing")}
        if not names:
            return None
        main = {f.name for f in self.cti_message.fields_for(self.cti_version) or ()}
        for i, alt in enumerate(alts):
            if names <= {f.name for f in alt.fields} and not names <= main:
                return i
        return None

    def active_fixed_fields(self) -> list[Any]:
        """The scapy fields of the fixed part present at this packet's version/layout, in
        wire order (ConditionalField/MultipleTypeField resolved)."""
        out = []
        for f in self.fields_desc[: self._n_fixed_desc]:
            if isinstance(f, ConditionalField):
                if not f._evalcond(self):
                    continue
                f = f.fld
            if isinstance(f, MultipleTypeField):
                f = f._find_fld_pkt(self)
            out.append(f)
        return out

    def do_dissect(self, s: bytes) -> bytes:
        self._anoms = []
        body_len = len(s)
        alt = None
        for i, layout in enumerate(self.cti_message.alt_layouts):
            if layout.body_length == body_len:
                alt = i
                break
        self._alt = alt
        if alt is not None:
            names = ", ".join(f.name for f in self.cti_message.alt_layouts[alt].fields)
            self.add_anomaly("fixed.alternate_layout", f"{body_len}-byte body decoded as {names}")
        fixed = self.active_fixed_fields()
        need = sum(f.sz for f in fixed)
        if body_len >= need:
            self._nfixed = len(fixed)
            return super().do_dissect(s)
        # Fixed part cut short: keep the whole fields that fit, the rest goes to trailing.
        raw = s
        self.raw_packet_cache_fields = {}
        count = 0
        for f in fixed:
            if len(s) < f.sz:
                break
            s, value = f.getfield(self, s)
            self.fields[f.name] = value
            count += 1
        self._nfixed = count
        self.fields["trailing"] = s
        self.add_anomaly(
            "fixed.short",
            f"body has {body_len} bytes, fixed part needs {need} at protocol version {self.cti_version}",
            HEADER_SIZE + body_len,
        )
        self.raw_packet_cache = raw
        self.explicit = 1
        return b""

    # --- values -----------------------------------------------------------------------
    def wire_fields(self) -> dict[str, int]:
        """Fixed fields as ``{spec name: int}`` (only those dissected when the body was cut
        short; all of the layout, defaults included, for a crafted packet)."""
        fixed = self.active_fixed_fields()
        if self._nfixed is not None:
            fixed = fixed[: self._nfixed]
        return {f.name: self.getfieldval(f.name) for f in fixed}

    def float_items(self) -> list[FloatItem]:
        """Floating fields as codec :class:`~ctidissect.wire.FloatItem` records."""
        return [i.to_item() for i in self.floating if isinstance(i, CTIFloat)]

    def get(self, tag_name: str, default: Any = None) -> Any:
        """Value of the first floating field named ``tag_name`` (e.g. ``"CLIENT_ID"``)."""
        for item in self.floating:
            if isinstance(item, CTIFloat) and item.tag_name == tag_name:
                return item.value
        return default

    def get_all(self, tag_name: str) -> list[Any]:
        """Values of every floating field named ``tag_name``, in wire order."""
        return [i.value for i in self.floating if isinstance(i, CTIFloat) and i.tag_name == tag_name]

    # --- scapy hooks --------------------------------------------------------------------
    def mysummary(self) -> str:
        parts = [f"CTI {self.name}"]
        for f in self.active_fixed_fields()[:2]:
            parts.append(f"{f.name}={f.i2repr(self, self.getfieldval(f.name))}")
        return " ".join(parts)

    def hashret(self) -> bytes:
        return _invoke_hash(self)

    def answers(self, other: Any) -> int:
        """True when this message is a CONF / FAILURE_CONF / CONTROL_FAILURE_CONF that may
        answer request ``other`` (``catalogue.responses_of``) with the same InvokeID."""
        return _invoke_answers(self, other)


def _invoke_hash(pkt: Any) -> bytes:
    # A request and every message that may answer it hash alike: by InvokeID.
    if pkt._has_invoke:
        return b"CTI" + struct.pack("!I", int(pkt.getfieldval("InvokeID") or 0) & 0xFFFFFFFF)
    return b""


def _invoke_answers(pkt: Any, other: Any) -> int:
    """Whether ``pkt`` may answer request ``other`` with the same InvokeID (both messages
    with a layout starting with InvokeID or layout-less ones carrying it per 7.1)."""
    if not (pkt._has_invoke and getattr(type(other), "_has_invoke", False)):
        return 0
    if pkt.name not in other._answers_to:
        return 0
    invoke = pkt.getfieldval("InvokeID")
    return int(invoke is not None and invoke == other.getfieldval("InvokeID"))


class CTI_Raw(_CTIPacket):
    """Body of a message whose layout no source publishes: the bytes are kept in ``body``
    (anomaly ``layout.unknown``).  The generated classes of such messages derive from it."""

    name = "CTI_Raw"
    fields_desc = [StrField("body", b"")]
    _anomaly_code: ClassVar[str] = "layout.unknown"

    def do_dissect(self, s: bytes) -> bytes:
        out = super().do_dissect(s)
        self._anoms = [Anomaly(self._anomaly_code, self._anomaly_detail(len(s)))]
        return out

    def _anomaly_detail(self, n: int) -> str:
        return f"{n} body bytes kept raw"

    def wire_fields(self) -> dict[str, int]:
        """Decoded fields (none: the body is kept raw)."""
        return {}

    def mysummary(self) -> str:
        return f"CTI {self.name} body={len(self.body)} bytes"


class OptionalUIntField(IntField):
    """A UINT that may be absent (None): building writes nothing, and a body of fewer than
    four bytes dissects it as None."""

    def addfield(self, pkt: Any, s: bytes, val: Any) -> bytes:
        if val is None:
            return s
        return super().addfield(pkt, s, val)

    def getfield(self, pkt: Any, s: bytes) -> tuple[bytes, Any]:
        if len(s) < 4:
            return s, None
        return super().getfield(pkt, s)


class CTI_RawInvoke(CTI_Raw):
    """Body of a request/confirmation whose layout no source publishes: section 7.1 still
    fixes its first UINT as the InvokeID, so it is dissected into ``InvokeID`` and the rest
    of the body is kept in ``body`` (anomaly ``layout.unknown``), like the codec.  A body
    shorter than four bytes has no InvokeID (None); a crafted packet without one is built
    from ``body`` alone, so ``X(InvokeID=7, body=b"...")`` and ``X(body=b"\\0\\0\\0\\x07...")``
    build the same bytes.  ``hashret()``/``answers()`` pair these by InvokeID."""

    name = "CTI_RawInvoke"
    fields_desc = [OptionalUIntField("InvokeID", None), StrField("body", b"")]
    _has_invoke: ClassVar[bool] = True
    _answers_to: ClassVar[frozenset[str]] = frozenset()

    def _anomaly_detail(self, n: int) -> str:
        if n >= 4:
            return f"InvokeID decoded per 7.1; {n - 4} body bytes after it kept raw"
        return f"{n} body bytes kept raw"

    def wire_fields(self) -> dict[str, int]:
        """``{"InvokeID": value}``, or nothing when the body is shorter than four bytes."""
        invoke = self.getfieldval("InvokeID")
        return {} if invoke is None else {"InvokeID": invoke}

    def mysummary(self) -> str:
        invoke = self.getfieldval("InvokeID")
        head = "" if invoke is None else f" InvokeID={invoke}"
        return f"CTI {self.name}{head} body={len(self.body)} bytes"

    def hashret(self) -> bytes:
        return _invoke_hash(self)

    def answers(self, other: Any) -> int:
        """True when this reply may answer request ``other`` with the same InvokeID."""
        return _invoke_answers(self, other)


class CTI_Unknown(CTI_Raw):
    """Body of a MessageType the catalogue does not know (anomaly ``type.unknown``)."""

    name = "CTI_Unknown"
    _anomaly_code = "type.unknown"

    def _message_type(self) -> Any:
        up = self.underlayer
        return up.getfieldval("MessageType") if isinstance(up, CTI) else None

    def _anomaly_detail(self, n: int) -> str:
        return f"MessageType {self._message_type()}; {n} body bytes kept raw"

    def mysummary(self) -> str:
        return f"CTI type={self._message_type()} body={len(self.body)} bytes"


# ---------------------------------------------------------------------------------------
# Header


class CTI(_CTIPacket):
    """The 8-byte GED-188 message header (MHDR); its payload is the class of MessageType.

    MessageLength (body bytes, header excluded) is filled in when building; MessageType is
    filled from the body's class (``CTI()/OPEN_REQ(...)``).  Dissection cuts the body to
    MessageLength bytes; anything after it becomes Padding (use :class:`CTIStream` for
    buffers holding several messages).
    """

    name = "CTI"
    show_summary = False  # the body's summary line starts with "CTI <NAME>"
    fields_desc = [
        IntField("MessageLength", None),
        IntEnumField("MessageType", 0, {m.type: m.name for m in MESSAGES_BY_TYPE.values()}),
    ]

    def do_dissect(self, s: bytes) -> bytes:
        self._anoms = []
        if len(s) < HEADER_SIZE:
            self.add_anomaly("frame.truncated_header", f"{len(s)} byte(s), fewer than the 8-byte header", 0)
            self.raw_packet_cache_fields = {}
            self.raw_packet_cache = b""
            self.explicit = 1
            return s
        return super().do_dissect(s)

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes | None]:
        n = self.fields.get("MessageLength")
        if n is None:
            return s, None
        if len(s) < n:
            self.add_anomaly("frame.truncated", f"MessageLength {n} but only {len(s)} body byte(s) present", 0)
        limit = max_body_length(self.cti_version)
        if n > limit:
            self.add_anomaly("frame.too_long", f"MessageLength {n} > {limit} at protocol version {self.cti_version}", 0)
        return s[:n], s[n:]

    def guess_payload_class(self, payload: bytes) -> Any:
        if "MessageLength" not in self.fields:  # header cut short
            return conf.raw_layer
        return CLASS_BY_TYPE.get(self.fields["MessageType"], CTI_Unknown)

    def do_dissect_payload(self, s: bytes) -> None:
        if s or "MessageLength" not in self.fields:
            super().do_dissect_payload(s)
            return
        # Empty body: still give it its class, so that e.g. a zero-length OPEN_REQ reports
        # fixed.short and a layout-less message its raw (empty) body, like the codec.
        cls = self.guess_payload_class(s)
        body = cls(_internal=1, _underlayer=self)
        body.dissect(b"")
        self.add_payload(body)

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        if self.MessageLength is None:
            pkt = struct.pack("!I", len(pay) & 0xFFFFFFFF) + pkt[4:]
        return pkt + pay

    def mysummary(self) -> str:
        if "MessageLength" not in self.fields and self.raw_packet_cache is not None:
            return "CTI (truncated header)"
        return f"CTI {self.get_field('MessageType').i2repr(self, self.MessageType)}"

    @property
    def anomalies(self) -> list[Anomaly]:
        """Header anomalies (``frame.*``) followed by the body's."""
        body = self.payload
        return list(self._anoms) + (body.anomalies if isinstance(body, _CTIPacket) else [])

    def frame_size(self) -> int | None:
        """8 + MessageLength for a dissected header (None if the header was cut short)."""
        n = self.fields.get("MessageLength")
        return None if n is None else HEADER_SIZE + n

    def to_message(self) -> WireMessage:
        """This message as the codec's :class:`~ctidissect.wire.Message` record, with the same
        conventions as ``decode_buffer``: a frame cut short keeps no fields, only
        ``frame.*`` anomalies and its raw bytes."""
        raw = self._raw_frame()
        version = self.cti_version
        if "MessageLength" not in self.fields and self.raw_packet_cache is not None:
            return WireMessage(None, None, {}, [], list(self._anoms), raw, version)
        mtype = self.MessageType
        cat = MESSAGES_BY_TYPE.get(mtype)
        name = cat.name if cat else None
        if any(a.code == "frame.truncated" for a in self._anoms):
            return WireMessage(mtype, name, {}, [], list(self._anoms), raw, version)
        body = self.payload
        if isinstance(body, CTIMessage):
            return WireMessage(mtype, name, body.wire_fields(), body.float_items(), self.anomalies, raw, version)
        if isinstance(body, CTI_Raw):
            return WireMessage(mtype, name, body.wire_fields(), [], self.anomalies, raw, version)
        return WireMessage(mtype, name, {}, [], self.anomalies, raw, version)

    def _raw_frame(self) -> bytes:
        pad = self.getlayer(conf.padding_layer)
        data = bytes(self)
        return data[: len(data) - len(pad.load)] if pad is not None else data

    @classmethod
    def tcp_reassemble(cls, data: bytes, metadata: dict[str, Any], session: dict[str, Any]) -> Packet | None:
        """One message at a time, for ``StreamSocket(sock, CTI)`` (and ``sr1`` over it):
        None until a whole frame is there, then ``CTI/body/Padding(rest)``."""
        version = _learn_version(data, 0, session)
        if len(data) < HEADER_SIZE:
            return None
        size = next_frame(data, 0, version)
        if size == NEED_DATA:
            metadata["tcp_min_len"] = HEADER_SIZE + _HEADER.unpack_from(data)[0]
            return None
        # A whole frame, or an implausible header (DESYNC): the latter is dissected as is,
        # flagged frame.too_long/frame.truncated, and consumes the buffer.
        return cls(data, version=version)


# ---------------------------------------------------------------------------------------
# Stream container

_OPEN_REQ = MESSAGES_BY_NAME["OPEN_REQ"]
_VN_OFFSET = HEADER_SIZE + sum(
    f.size for f in _OPEN_REQ.fixed[: [f.name for f in _OPEN_REQ.fixed].index("VersionNumber")]
)


def _learn_version(data: bytes, off: int, session: dict[str, Any]) -> int:
    """Protocol version for the frame at ``data[off:]``: learnt from it when it is a whole
    OPEN_REQ (its VersionNumber fixes the session's format), else the session's, else the
    module default."""
    if len(data) - off >= _VN_OFFSET + 4:
        length, mtype = _HEADER.unpack_from(data, off)
        if (
            mtype == _OPEN_REQ.type
            and HEADER_SIZE + length >= _VN_OFFSET + 4
            and len(data) - off >= HEADER_SIZE + length
        ):
            v = struct.unpack_from(">I", data, off + _VN_OFFSET)[0]
            # An implausible VersionNumber teaches nothing (the message still shows it).
            if MIN_VERSION <= v <= MAX_PLAUSIBLE_VERSION:
                session[SESSION_VERSION_KEY] = v
    return session.get(SESSION_VERSION_KEY) or get_default_version()


class MessageListField(PacketListField):
    """Every CTI message of a buffer, each cut to its own MessageLength window."""

    def getfield(self, pkt: Any, s: bytes) -> tuple[bytes, list[Any]]:
        version = version_of(pkt)
        out: list[Any] = []
        remain = s
        while remain and len(out) < self.max_count:
            msg = self.cls(remain, version=version, _parent=pkt)
            size = msg.frame_size()
            pad = msg.getlayer(conf.padding_layer)
            if pad is not None and pad.underlayer is not None:
                del pad.underlayer.payload
            out.append(msg)
            remain = remain[size:] if size is not None else b""
        return remain, out

    def addfield(self, pkt: Any, s: bytes, val: Any) -> bytes:
        version = version_of(pkt)
        out = bytearray(s)
        for msg in val:
            # A message keeps its own version when it has one (e.g. dissected), else it is
            # built in the container's.
            own = getattr(msg, "_cti_version", None)
            out += _build_at(msg, own if own is not None else version)
        return bytes(out)


class CTIStream(_CTIPacket):
    """A run of CTI messages: what scapy's ``TCPSession`` (and ``PcapReader``, per segment)
    hands over for the bound ports.

    ``messages`` holds every message (a ``PacketListField`` with ``max_count`` set
    explicitly).  ``tcp_reassemble`` follows the postgres/mysql container pattern: one
    container with every *complete* message, only the unfinished tail left as Padding
    (returning one message at a time triggers a TCPSession bug, see ECOSYSTEM.md 1.3).
    Under TCPSession the protocol version is learnt from OPEN_REQ.VersionNumber per
    connection; otherwise ``version=`` or the module default applies.
    """

    name = "CTIStream"
    fields_desc = [MessageListField("messages", [], CTI, max_count=MAX_STREAM_MESSAGES)]

    def _copy_state(self, other: _CTIPacket) -> None:
        super()._copy_state(other)
        for msg in other.fields.get("messages", ()):
            if isinstance(msg, Packet):
                msg.add_parent(other)

    def mysummary(self) -> str:
        shown = [m.summary() for m in self.messages[:4]]
        more = len(self.messages) - len(shown)
        if more > 0:
            shown.append(f"+{more} more")
        return f"CTIStream [{'; '.join(shown)}]"

    @property
    def anomalies(self) -> list[Anomaly]:
        """The container's own anomalies (``stream.resync``), then every message's."""
        out = list(self._anoms)
        for msg in self.messages:
            if isinstance(msg, _CTIPacket):
                out.extend(msg.anomalies)
        return out

    def to_messages(self) -> list[WireMessage]:
        """Every message as a codec :class:`~ctidissect.wire.Message` record."""
        return [m.to_message() for m in self.messages if isinstance(m, CTI)]

    @classmethod
    def tcp_reassemble(cls, data: bytes, metadata: dict[str, Any], session: dict[str, Any]) -> Packet | None:
        """TCPSession hook: a container with every complete message of ``data`` and the tail
        as Padding; None (with ``tcp_min_len`` set) until one message is complete."""
        n = len(data)
        off = 0
        version = _learn_version(data, 0, session)
        while n - off >= HEADER_SIZE:
            version = _learn_version(data, off, session)
            size = next_frame(data, off, version)
            if size == NEED_DATA:
                if off == 0:
                    metadata["tcp_min_len"] = HEADER_SIZE + _HEADER.unpack_from(data)[0]
                break
            if size == DESYNC:
                if off == 0:
                    return cls._resync(data, version)
                break  # return what is complete; the next call starts at the bad header
            off += size
        if off == 0:
            return None
        pkt = cls(data[:off], version=version)
        if off < n:
            pkt.add_payload(conf.padding_layer(data[off:]))
        return pkt

    @classmethod
    def _resync(cls, data: bytes, version: int) -> Packet:
        # MessageLength above the version's maximum: the header cannot be trusted, so skip
        # to the next plausible header (or keep the last 7 bytes, which might start one).
        skip = find_resync(data, 1, version)
        if skip >= len(data):
            skip = max(1, len(data) - (HEADER_SIZE - 1))
        pkt = cls(version=version)
        pkt.add_anomaly("stream.resync", f"{skip} byte(s) skipped: no plausible message header", 0)
        pkt.add_payload(conf.raw_layer(data[:skip]))
        if skip < len(data):
            pkt.add_payload(conf.padding_layer(data[skip:]))
        return pkt
