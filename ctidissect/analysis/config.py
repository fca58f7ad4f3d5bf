"""Settings of the traffic analysis (timeouts, windows, side ports, recording patterns).

Every duration is in **seconds**.  The defaults follow GED-188 section 7: a reply normally
comes within 5 s but the guide tells clients to wait at least 30 s before giving up on an
open (7.2.4) and says client-control replies may take 10-15 s (7.5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from types import MappingProxyType

from ..catalogue.versions import SIDE_OF_DEFAULT_PORT

DEFAULT_SIDE_PORTS: Mapping[int, str] = MappingProxyType(SIDE_OF_DEFAULT_PORT)
"""Server port -> CTI Server side (the usual UCCE ports of side A and side B)."""

def side_ports_for(ports: tuple[int, ...]) -> dict[int, str]:
    """Server port -> side: the default sides when only default ports are used, else the
    first port given is side A and the second side B."""
    if set(ports) <= set(DEFAULT_SIDE_PORTS):
        return dict(DEFAULT_SIDE_PORTS)
    return dict(zip(ports, ("A", "B")))


DEFAULT_RECORDING_PATTERNS: tuple[str, ...] = ("rec*", "*record*")
"""fnmatch patterns (case-insensitive) marking an ALL_EVENTS client as a recording server."""


@dataclass(frozen=True)
class AnalysisConfig:
    """Knobs of :func:`ctidissect.analysis.analyze`.

    * ``reply_timeout_s`` - a request answered later than this is ``late``; a reply arriving
      within this time of the first packet of a session captured mid-way is an orphan whose
      request probably preceded the capture (``pair.orphan_precapture``).
    * ``evict_after_s`` - when set, a request still unanswered this long after it was sent
      (in capture time) is reported ``unanswered`` at once and forgotten, so that memory stays
      bounded even when a client never gets replies; a reply arriving afterwards becomes an
      orphan.  ``None`` (default) keeps outstanding requests until the session or the capture
      ends, which is exact.
    * ``fanout_window_s`` - how long after an EMERGENCY_CALL_REQ / SUPERVISOR_ASSIST_REQ the
      related events on other sessions are looked for.
    * ``fanout_same_server`` - only sessions connected to the same server address and port as
      the requester are expected to receive the fan-out (the other side of a duplex pair, or
      another PG's CTI Server, does not deliver this PG's events).
    * ``idle_tolerance_s`` - a server-side FIN/RST counts as an IdleTimeout close when the
      client was silent for at least ``IdleTimeout - idle_tolerance_s``.
    * ``side_ports`` - server port -> side name (``A``/``B``).
    * ``recording_patterns`` - case-insensitive fnmatch patterns; an ALL_EVENTS session whose
      ClientID or ClientSignature matches one is a ``recording`` session, else a ``bridge``.
    """

    reply_timeout_s: float = 30.0
    evict_after_s: float | None = None
    fanout_window_s: float = 5.0
    fanout_same_server: bool = True
    idle_tolerance_s: float = 1.0
    side_ports: Mapping[int, str] = field(default_factory=lambda: DEFAULT_SIDE_PORTS)
    recording_patterns: tuple[str, ...] = DEFAULT_RECORDING_PATTERNS

    def __post_init__(self) -> None:
        if self.reply_timeout_s <= 0:
            raise ValueError(f"reply_timeout_s must be positive, got {self.reply_timeout_s}")
        if self.fanout_window_s <= 0:
            raise ValueError(f"fanout_window_s must be positive, got {self.fanout_window_s}")
        if self.evict_after_s is not None and self.evict_after_s < self.reply_timeout_s:
            raise ValueError("evict_after_s must be at least reply_timeout_s")

    def is_recording_client(self, *names: str | None) -> bool:
        """Whether any of ``names`` (ClientID, ClientSignature) matches a recording pattern."""
        for name in names:
            if not name:
                continue
            low = name.lower()
            if any(fnmatchcase(low, pattern.lower()) for pattern in self.recording_patterns):
                return True
        return False

    def side_of(self, server_port: int | None) -> str | None:
        """Side (``A``/``B``) of a server port, None when the port is not a known side."""
        if server_port is None:
            return None
        return self.side_ports.get(server_port)
