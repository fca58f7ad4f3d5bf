"""The declared vocabulary of anomaly codes.

Decoding never raises on bad bytes: it returns records carrying anomalies with these stable
dotted codes (like Wireshark expert info).  Every code used anywhere in ctidissect is
declared here, with a severity and one line of meaning; a test checks that nothing emits an
undeclared code.
"""

from __future__ import annotations

from dataclasses import dataclass

INFO = "info"
WARNING = "warning"
ERROR = "error"


@dataclass(frozen=True)
class AnomalyCode:
    code: str
    severity: str
    doc: str


_DECLARED = [
    # Framing (8-byte MHDR + MessageLength body bytes).
    AnomalyCode("frame.truncated_header", ERROR, "fewer than 8 bytes left where a message header should start"),
    AnomalyCode("frame.truncated", ERROR, "MessageLength claims more bytes than the input holds"),
    AnomalyCode("frame.too_long", WARNING, "MessageLength above the protocol version's maximum message size"),
    # Message body.
    AnomalyCode("type.unknown", WARNING, "MessageType not in the catalogue; body kept raw"),
    AnomalyCode("layout.unknown", INFO, "message type known but its body layout is not published; body kept raw"),
    AnomalyCode("fixed.short", ERROR, "body shorter than the fixed part for this protocol version"),
    AnomalyCode("fixed.alternate_layout", INFO, "body length selected the alternative layout of a documented conflict"),
    # Floating part.
    AnomalyCode("float.truncated_header", ERROR, "trailing bytes too few for a floating-field tag and length"),
    AnomalyCode("float.overrun", ERROR, "floating FieldLength runs past the end of the message"),
    AnomalyCode("float.unknown_tag", WARNING, "floating tag not in the catalogue; data kept raw"),
    AnomalyCode("float.no_nul", INFO, "string field without terminating NUL (tolerated)"),
    AnomalyCode("float.too_long", WARNING, "floating data longer than the tag's maximum size"),
    AnomalyCode("float.bad_length", WARNING, "numeric floating field with a length that does not fit its type; data kept raw"),
    AnomalyCode("float.bad_value", WARNING, "named variable/array data not in name\\0value\\0 form; data kept raw"),
    # Capture and TCP reassembly.
    AnomalyCode("capture.truncated", WARNING, "capture file ends inside a record"),
    AnomalyCode("capture.bad_record", ERROR, "capture record header is malformed; reading stopped"),
    AnomalyCode("link.unsupported", WARNING, "frame of a link type or ethertype that cannot carry CTI; skipped"),
    AnomalyCode("ip.truncated", WARNING, "IP or TCP header cut short by the capture snap length"),
    AnomalyCode("ip.fragments_incomplete", WARNING, "IP fragments of a datagram that never completed; its bytes are missing"),
    AnomalyCode("tcp.bad_header", WARNING, "TCP header with an impossible data offset; segment skipped"),
    AnomalyCode("tcp.gap", ERROR, "bytes missing from a TCP stream (segments not captured)"),
    AnomalyCode("tcp.overlap_mismatch", WARNING, "retransmitted bytes differ from those first seen; first copy kept"),
    AnomalyCode("tcp.midstream", INFO, "stream starts without its beginning (capture began mid-connection)"),
    AnomalyCode("tcp.unfinished", WARNING, "bytes left unframed in a stream at capture end or close"),
    AnomalyCode("stream.resync", WARNING, "bytes skipped while searching for the next plausible message header"),
    AnomalyCode("version.inferred", INFO, "protocol version inferred from the bytes (no OPEN_REQ seen)"),
    AnomalyCode("version.assumed", INFO, "protocol version taken from the default or --protocol-version"),
    # Analysis.
    AnomalyCode("pair.unanswered", WARNING, "request without a reply by capture end or timeout"),
    AnomalyCode("pair.late", WARNING, "reply arrived after the timeout"),
    AnomalyCode("pair.duplicate", WARNING, "InvokeID reused while the first request was outstanding"),
    AnomalyCode("pair.orphan", WARNING, "reply without a request"),
    AnomalyCode("pair.orphan_precapture", INFO, "reply whose request probably preceded the capture start"),
    AnomalyCode("fanout.missed", WARNING, "a session that should have received an emergency/assist fan-out event got none in the window"),
]

VOCABULARY: dict[str, AnomalyCode] = {a.code: a for a in _DECLARED}


def severity(code: str) -> str:
    """Severity of a declared code (``error`` for anything undeclared)."""
    entry = VOCABULARY.get(code)
    return entry.severity if entry else ERROR
