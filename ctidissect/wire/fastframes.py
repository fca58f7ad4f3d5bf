"""The optional C accelerator of capture decoding (``_fastframes.c``), loaded when built.

:func:`frame_clean` decodes the *clean* complete messages of a reassembled byte stream -
known plain layout, whole fixed part, only well-formed strings, numbers and raw floating
fields - straight into :class:`~ctidissect.wire.Message` records identical to those of
:func:`~ctidissect.wire.decode.decode_message`, and stops at the first message that is not
clean so that the Python decoder (the reference) handles it.  It is None when the
extension is not built (an install without a C compiler) or when the environment variable
``CTIDISSECT_PURE_PYTHON`` is set to a non-empty value; everything then runs in Python with
the same results, only slower.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from ..catalogue import MESSAGES_BY_NAME
from ..catalogue.versions import HEADER_SIZE, WIDE_FLOATING_SINCE
from . import decode
from .decode import TAG_PLAN
from .records import FloatItem, Message

PURE_PYTHON_ENV = "CTIDISSECT_PURE_PYTHON"
INTERFACE = 4
"""The ``INTERFACE`` number of the ``_fastframes.c`` this module drives."""

frame_clean: Callable[..., tuple[int, int]] | None = None
"""``frame_clean(data, pos, version, max_body, plans, conn, direction, source, frame, ts,
out, stop_at_open_req) -> (pos, count)``, or None (see the module docstring)."""

walk_pcap: Callable[..., tuple] | None = None
"""The C packet loop over a classic pcap file (see ``_fastframes.c``), or None; the
capture engine configures it (``configure_packets``) and drives it."""

walk_pcapng: Callable[..., tuple] | None = None
"""The same over a pcapng file (enhanced packet blocks of Ethernet interfaces)."""

configure_packets: Callable[..., None] | None = None

UNAVAILABLE_REASON: str | None = None
"""Why :data:`frame_clean` is None (None when the accelerator is in use)."""



def _constants() -> dict[str, int]:
    """The protocol facts the C code needs, from where they are declared (the catalogue and
    the Python decoder), so that none is written twice."""
    kinds = ("K_STRING", "K_RAW", "K_UINT", "K_INT", "K_USHORT", "K_SHORT", "K_UCHAR")
    return {
        "HEADER_SIZE": HEADER_SIZE,
        "WIDE_FLOATING_SINCE": WIDE_FLOATING_SINCE,
        "OPEN_REQ": MESSAGES_BY_NAME["OPEN_REQ"].type,
        **{kind: getattr(decode, kind) for kind in kinds},
    }


if os.environ.get(PURE_PYTHON_ENV):
    UNAVAILABLE_REASON = f"disabled by {PURE_PYTHON_ENV}"
else:
    try:
        from . import _fastframes
    except ImportError as exc:
        UNAVAILABLE_REASON = f"C extension not built ({exc})"
    else:
        _fields = tuple(f.name for f in dataclasses.fields(Message))
        if getattr(_fastframes, "INTERFACE", None) != INTERFACE:
            UNAVAILABLE_REASON = (
                f"C extension built from another version of _fastframes.c (interface "
                f"{getattr(_fastframes, 'INTERFACE', None)}, expected {INTERFACE}): run `pip install -e .` again"
            )
        elif _fields != _fastframes.MESSAGE_FIELDS:
            # The C code fills exactly these record fields; a new one would be left unset.
            UNAVAILABLE_REASON = f"C extension fills Message fields {_fastframes.MESSAGE_FIELDS}, not {_fields}"
        else:
            _fastframes.configure(Message, FloatItem, TAG_PLAN, _constants())
            frame_clean = _fastframes.frame_clean
            walk_pcap = _fastframes.walk_pcap
            walk_pcapng = _fastframes.walk_pcapng
            configure_packets = _fastframes.configure_packets
