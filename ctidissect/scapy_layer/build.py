"""Generation of one scapy class per catalogue message, at import, and the layer bindings.

No message class is written by hand: each is derived from its catalogue declaration.

* A message with a layout becomes a :class:`~.packets.CTIMessage` subclass whose
  ``fields_desc`` is its fixed fields in wire order, then ``floating`` and ``trailing``.
  A field carried only by some protocol versions (``since``/``until``) is a
  ``ConditionalField`` on the packet's version; a name declared twice with different wire
  types in different versions (SEND_DTMF_SIGNAL_REQ.PauseDuration: USHORT up to v12, UINT
  from v13) is one ``MultipleTypeField``; fields of an alternative layout chosen by body
  length (FAILURE_CONF, 10.1) are ConditionalFields on the layout in use.
* A message without a published layout becomes a :class:`~.packets.CTI_Raw` subclass
  keeping its body bytes; a request/confirmation among them (outside the configuration
  exchange) a :class:`~.packets.CTI_RawInvoke` one, whose first UINT is the InvokeID (7.1).
* ``bind_top_down(CTI, cls, MessageType=n)`` makes ``CTI()/OPEN_REQ()`` fill MessageType;
  dissection dispatches through a dict (``CTI.guess_payload_class``), not scapy's linear
  ``payload_guess`` list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from scapy.fields import ConditionalField, Field, MultipleTypeField, StrField
from scapy.layers.inet import TCP
from scapy.packet import Packet, bind_layers, bind_top_down, split_layers, split_top_down

from ..catalogue import MESSAGES, REQUEST, responses_of
from ..catalogue.schema import Field as CatalogueField
from ..catalogue.schema import Message as CatalogueMessage
from ..catalogue.versions import DEFAULT_SERVER_PORTS
from .context import version_of
from .fields import fixed_field
from .packets import (
    CLASS_BY_TYPE,
    CTI,
    MAX_FLOATING_ITEMS,
    MESSAGE_CLASSES,
    CTI_Raw,
    CTI_RawInvoke,
    CTIFloat,
    CTIMessage,
    CTIStream,
    FloatingListField,
)

DEFAULT_PORTS: tuple[int, ...] = DEFAULT_SERVER_PORTS
"""TCP ports bound to the CTI layer at import (CTI Server side A and side B)."""

_Cond = Callable[[Any], bool]


def _present(f: CatalogueField) -> _Cond:
    return lambda pkt: f.present_in(version_of(pkt))


def _and(a: _Cond, b: _Cond | None) -> _Cond:
    return a if b is None else (lambda pkt: a(pkt) and b(pkt))


def _alt_is(index: int | None) -> _Cond:
    return lambda pkt: pkt is not None and pkt.alt_index() == index


def _always_present(f: CatalogueField) -> bool:
    return f.since == 0 and f.until is None


def _scapy_fields(entries: list[tuple[CatalogueField, _Cond | None]]) -> list[Field]:
    """Scapy fields for catalogue fields, each with an extra condition (alternative layout)
    or None.  Entries sharing a name become one MultipleTypeField at the first position."""
    groups: dict[str, list[tuple[CatalogueField, _Cond | None]]] = {}
    for f, extra in entries:
        groups.setdefault(f.name, []).append((f, extra))
    out: list[Field] = []
    for group in groups.values():
        if len(group) == 1:
            f, extra = group[0]
            fld = fixed_field(f)
            if _always_present(f) and extra is None:
                out.append(fld)
            else:
                out.append(ConditionalField(fld, _and(_present(f), extra)))
            continue
        conds = [_and(_present(f), extra) for f, extra in group]
        flds = [fixed_field(f) for f, _ in group]
        multi = MultipleTypeField(list(zip(flds[:-1], conds[:-1])), flds[-1])
        out.append(ConditionalField(multi, lambda pkt, conds=conds: any(c(pkt) for c in conds)))
    return out


def _fixed_desc(msg: CatalogueMessage) -> list[Field]:
    assert msg.fixed is not None
    main = list(msg.fixed)
    if not msg.alt_layouts:
        return _scapy_fields([(f, None) for f in main])

    # Alternative layouts share a prefix with the main one (InvokeID); the rest of each
    # layout is conditioned on the layout in use.
    def same(a: CatalogueField, b: CatalogueField) -> bool:
        return (a.name, a.wire, a.since, a.until) == (b.name, b.wire, b.since, b.until)

    prefix = 0
    while prefix < len(main) and all(
        prefix < len(a.fields) and same(a.fields[prefix], main[prefix]) for a in msg.alt_layouts
    ):
        prefix += 1
    entries: list[tuple[CatalogueField, _Cond | None]] = [(f, None) for f in main[:prefix]]
    entries += [(f, _alt_is(None)) for f in main[prefix:]]
    for i, alt in enumerate(msg.alt_layouts):
        entries += [(f, _alt_is(i)) for f in alt.fields[prefix:]]
    return _scapy_fields(entries)


def _class_doc(msg: CatalogueMessage) -> str:
    ref = f" (GED-188 {msg.ref})" if msg.ref else ""
    return f"{msg.name}, MessageType {msg.type}, {msg.kind}: {msg.doc}{ref}"


def make_message_class(msg: CatalogueMessage) -> type[Packet]:
    """The scapy class of one catalogue message (not registered or bound)."""
    attrs: dict[str, Any] = {
        "__doc__": _class_doc(msg),
        "__module__": "ctidissect.scapy_layer",
        "__qualname__": msg.name,
        "name": msg.name,
        "cti_message": msg,
    }
    if msg.fixed is None:
        if msg.leading_invoke_id:
            attrs["_answers_to"] = frozenset(responses_of(msg.name)) if msg.kind == REQUEST else frozenset()
            return type(msg.name, (CTI_RawInvoke,), attrs)
        return type(msg.name, (CTI_Raw,), attrs)
    fixed = _fixed_desc(msg)
    attrs.update(
        fields_desc=[
            *fixed,
            FloatingListField("floating", [], CTIFloat, max_count=MAX_FLOATING_ITEMS),
            StrField("trailing", b""),
        ],
        _n_fixed_desc=len(fixed),
        _has_invoke=msg.has_invoke_id,
        _answers_to=frozenset(responses_of(msg.name)) if msg.kind == REQUEST else frozenset(),
    )
    return type(msg.name, (CTIMessage,), attrs)


def _generate() -> None:
    for msg in MESSAGES:
        cls = make_message_class(msg)
        MESSAGE_CLASSES[msg.name] = cls
        CLASS_BY_TYPE[msg.type] = cls
        bind_top_down(CTI, cls, MessageType=msg.type)


_bound_ports: list[int] = []


def bound_ports() -> tuple[int, ...]:
    """TCP ports currently bound to the CTI layer."""
    return tuple(_bound_ports)


def bind_cti_ports(ports: Iterable[int]) -> tuple[int, ...]:
    """Bind the CTI layer to exactly ``ports`` (replacing the previous binding): TCP
    segments from or to them dissect as :class:`CTIStream`, and ``TCP()/CTI()`` gets
    ``dport=ports[0]``.  Returns the ports previously bound."""
    new = [int(p) for p in ports]
    for p in new:
        if not 0 < p < 65536:
            raise ValueError(f"not a TCP port: {p}")
    previous = tuple(_bound_ports)
    for p in previous:
        split_layers(TCP, CTIStream, sport=p)
        split_layers(TCP, CTIStream, dport=p)
    if previous:
        split_top_down(TCP, CTI, dport=previous[0])
    _bound_ports[:] = []
    # Two bindings per port (one on sport, one on dport: a single call with both keys would
    # need both to match).  Bound in reverse so that the last top-down binding, which wins
    # when building TCP()/CTIStream(), is dport=ports[0].
    for p in reversed(new):
        bind_layers(TCP, CTIStream, sport=p)
        bind_layers(TCP, CTIStream, dport=p)
    if new:
        bind_top_down(TCP, CTI, dport=new[0])
    _bound_ports.extend(new)
    return previous


_generate()
bind_cti_ports(DEFAULT_PORTS)
