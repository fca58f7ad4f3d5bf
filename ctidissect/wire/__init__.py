"""The wire codec: framing, decoding and encoding of GED-188 messages, derived from the
catalogue.  Never imports scapy or pandas."""

from __future__ import annotations

from .anomalies import VOCABULARY, AnomalyCode
from .decode import decode_body, decode_buffer, decode_floating, decode_frame, enum_label, field_enums, plan_for
from .encode import encode, encode_floating, encode_message
from .framing import DESYNC, NEED_DATA, find_resync, next_frame, plausible_header
from .records import Anomaly, FloatItem, Message, NamedArray, NamedVar

__all__ = [
    "DESYNC",
    "NEED_DATA",
    "VOCABULARY",
    "Anomaly",
    "AnomalyCode",
    "FloatItem",
    "Message",
    "NamedArray",
    "NamedVar",
    "decode_body",
    "decode_buffer",
    "decode_floating",
    "decode_frame",
    "encode",
    "encode_floating",
    "encode_message",
    "enum_label",
    "field_enums",
    "find_resync",
    "next_frame",
    "plan_for",
    "plausible_header",
]
