"""GED-188 (Cisco CTI Server protocol) as a scapy layer, generated from the catalogue.

    >>> from ctidissect.scapy_layer import CTI, OPEN_REQ, CTIFloat
    >>> pkt = CTI() / OPEN_REQ(InvokeID=1, VersionNumber=24, floating=[CTIFloat(tag="CLIENT_ID", value="me")])
    >>> CTI(bytes(pkt)).summary()
    'CTI OPEN_REQ InvokeID=1 VersionNumber=24'

Importing this package binds the layer to TCP ports 42027 and 43027
(:func:`bind_cti_ports` changes that).  Every catalogue message is a class named by its spec
name (``OPEN_REQ``, ``AGENT_STATE_EVENT``, ...), importable from here; :data:`MESSAGE_CLASSES`
maps names to classes.  The protocol version (which changes the wire format) is context, not
a wire field: see :mod:`ctidissect.scapy_layer.context`.  Guide: ``docs/scapy.md``.
"""

from __future__ import annotations

from typing import Any

from scapy.packet import Packet

from .build import DEFAULT_PORTS, bind_cti_ports, bound_ports, make_message_class
from .context import default_version, get_default_version, set_default_version
from .packets import (
    CLASS_BY_TYPE,
    CTI,
    MESSAGE_CLASSES,
    SESSION_VERSION_KEY,
    CTI_Raw,
    CTI_RawInvoke,
    CTI_Unknown,
    CTIFloat,
    CTIMessage,
    CTIStream,
)

globals().update(MESSAGE_CLASSES)  # OPEN_REQ, OPEN_CONF, ... one class per catalogue message


def message(name: str, version: int | None = None, **fields: Any) -> Packet:
    """``CTI(version=...)/<name>(**fields)`` in one call, e.g.
    ``message("OPEN_REQ", InvokeID=1, VersionNumber=24, CLIENT_ID="me")`` (floating fields
    may be given by tag name)."""
    try:
        cls = MESSAGE_CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown message name {name!r}") from None
    return CTI(version=version) / cls(**fields)


def cti_messages(packets: Any) -> list[CTI]:
    """Every CTI message in ``packets`` (a PacketList, e.g. from ``sniff``/``rdpcap``, or a
    single packet), in order, looking inside :class:`CTIStream` containers."""
    if isinstance(packets, Packet):
        packets = [packets]
    out: list[CTI] = []
    for pkt in packets:
        layer = pkt
        while layer:
            if isinstance(layer, CTIStream):
                out.extend(m for m in layer.messages if isinstance(m, CTI))
            elif isinstance(layer, CTI):
                out.append(layer)
                break  # its payload is the message body
            layer = layer.payload
    return out


__all__ = [
    "CLASS_BY_TYPE",
    "CTI",
    "CTIFloat",
    "CTIMessage",
    "CTIStream",
    "CTI_Raw",
    "CTI_RawInvoke",
    "CTI_Unknown",
    "DEFAULT_PORTS",
    "MESSAGE_CLASSES",
    "SESSION_VERSION_KEY",
    "bind_cti_ports",
    "bound_ports",
    "cti_messages",
    "default_version",
    "get_default_version",
    "make_message_class",
    "message",
    "set_default_version",
    *sorted(MESSAGE_CLASSES),
]
