"""Counters of one capture read (the summary printed by ``ctidissect decode``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CaptureStats:
    """What a capture held and what became of it.  Pass one to
    :func:`ctidissect.capture.read_capture` and read it after the iteration ends.

    Byte counts are in bytes; ``first_ts`` / ``last_ts`` in epoch seconds.
    """

    packets: int = 0
    """Frames read from the capture (or the interface)."""
    cti_packets: int = 0
    """Frames that belonged to a CTI connection (payload or not)."""
    cti_connections: int = 0
    """CTI connections seen (a reused 4-tuple counts again)."""
    messages: int = 0
    """Message records (``type`` not None), including those with anomalies inside."""
    anomaly_records: int = 0
    """Anomaly records (``type`` None)."""
    bytes_decoded: int = 0
    """Bytes framed as messages (8-byte headers included)."""
    bytes_in_anomalies: int = 0
    """Bytes carried by anomaly records (their ``raw``): unframed, skipped or cut bytes."""
    bytes_lost: int = 0
    """Stream bytes missing from the capture (sum of ``tcp.gap`` sizes)."""
    retransmitted_bytes: int = 0
    """Payload bytes seen again after their first copy (dropped)."""
    anomalies: Counter = field(default_factory=Counter)
    """Anomaly code -> occurrences, inside messages and in anomaly records."""
    first_ts: float | None = None
    last_ts: float | None = None

    def summary(self) -> str:
        """One line for humans (stderr of ``ctidissect decode``)."""
        text = (
            f"{self.packets} packets, {self.cti_connections} CTI connection(s), {self.messages} messages, "
            f"{self.bytes_decoded} bytes decoded, {self.bytes_in_anomalies} bytes in anomalies"
        )
        if self.bytes_lost:
            text += f", {self.bytes_lost} bytes lost"
        if self.anomalies:
            text += "; anomalies: " + ", ".join(f"{code} {n}" for code, n in sorted(self.anomalies.items()))
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "packets": self.packets,
            "cti_packets": self.cti_packets,
            "cti_connections": self.cti_connections,
            "messages": self.messages,
            "anomaly_records": self.anomaly_records,
            "bytes_decoded": self.bytes_decoded,
            "bytes_in_anomalies": self.bytes_in_anomalies,
            "bytes_lost": self.bytes_lost,
            "retransmitted_bytes": self.retransmitted_bytes,
            "anomalies": dict(sorted(self.anomalies.items())),
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
        }
