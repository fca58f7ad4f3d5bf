"""ctidissect: decoder and traffic analyzer for the Cisco CTI Server protocol (GED-188).

Small public API (heavier parts are imported on first use, so that ``import ctidissect``
stays cheap and ``ctidissect.wire`` never pulls in scapy or pandas):

* :func:`decode` - decode bytes holding one or more whole frames;
* :func:`read_capture` - decode every CTI message of a pcap/pcapng file (streaming);
* :func:`encode_message` - build a frame from a message name, fields and floating items.
"""

from __future__ import annotations

from .catalogue.versions import DEFAULT_VERSION
from .wire import Message, decode_buffer, encode_message

__version__ = "0.1.0"


def decode(data: bytes, version: int = DEFAULT_VERSION) -> list[Message]:
    """Decode every frame in ``data`` at protocol ``version`` (never raises on bad bytes)."""
    return decode_buffer(data, version)


def read_capture(*args, **kwargs):
    """Decode every CTI message of a pcap/pcapng file; see
    :func:`ctidissect.capture.read_capture` (imported on first use)."""
    from .capture import read_capture as _read_capture

    return _read_capture(*args, **kwargs)


__all__ = ["DEFAULT_VERSION", "Message", "__version__", "decode", "encode_message", "read_capture"]
