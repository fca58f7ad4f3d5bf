"""Reading CTI traffic from pcap/pcapng files and live interfaces.

``read_capture(path)`` yields decoded messages (and anomaly records) in capture order; see
:mod:`ctidissect.capture.api`.  ``live_capture(iface)`` does the same on a live interface
through scapy (imported only when used).  ``docs/capture.md`` describes the reassembly,
resynchronisation and version detection.
"""

from __future__ import annotations

from typing import Any

from .api import read_capture
from .engine import DEFAULT_PORTS, CaptureDecoder
from .pcapfile import CaptureFormatError, open_capture
from .records import ConnectionEvent
from .stats import CaptureStats


def live_capture(*args: Any, **kwargs: Any):
    """See :func:`ctidissect.capture.live.live_capture` (imports scapy on first use)."""
    from .live import live_capture as _live

    return _live(*args, **kwargs)


__all__ = [
    "DEFAULT_PORTS",
    "CaptureDecoder",
    "CaptureFormatError",
    "CaptureStats",
    "ConnectionEvent",
    "live_capture",
    "open_capture",
    "read_capture",
]
