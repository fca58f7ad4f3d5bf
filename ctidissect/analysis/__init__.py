"""Traffic analysis over decoded records: sessions, request/reply pairs, emergency and
supervisor-assist fan-out, call timelines.

The analysis never sees bytes: it consumes the records of
:func:`ctidissect.capture.read_capture` (``Message`` and, with ``connection_events=True``,
``ConnectionEvent``) in capture order.  Every time is epoch seconds and every duration
seconds.

Batch::

    from ctidissect.capture import read_capture
    from ctidissect.analysis import analyze
    result = analyze(read_capture("x.pcap", connection_events=True))
    result.sessions, result.pairs, result.fanout, result.calls

Streaming (memory bounded by what is outstanding)::

    for pair in iter_pairs(records): ...
    for fo in iter_fanout(records): ...
    analyzer = Analyzer(config, keep=False); for r in records: analyzer.feed(r) ...

DataFrames: :mod:`ctidissect.report.frames` (``sessions_frame(result)`` ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..capture.records import ConnectionEvent
from ..wire.records import Message
from .calls import Call, CallEvent, CallTracker, Ladder, LadderRow, build_ladder, format_ladder, select_calls
from .config import DEFAULT_RECORDING_PATTERNS, DEFAULT_SIDE_PORTS, AnalysisConfig
from .fanout import (
    EMERGENCY_EVENT,
    FANOUT_REQUESTS,
    SUPERVISOR_CALL,
    Fanout,
    FanoutTracker,
    Recipient,
)
from .pairing import STATUSES, Pair, Pairer, failure_of, invoke_id_of, iter_pairs
from .session import END_REASONS, ROLES, Session, SessionTracker, service_names, split_conn

Record = Message | ConnectionEvent


@dataclass
class Analysis:
    """The result of :func:`analyze`: sessions in order of first appearance, pairs in order
    of their first frame, fan-outs in request order, calls in order of first appearance.
    ``capture_end_ts`` is the time of the last record (epoch seconds)."""

    sessions: list[Session] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    fanout: list[Fanout] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    config: AnalysisConfig = field(default_factory=AnalysisConfig)
    capture_end_ts: float | None = None

    def session(self, conn: str) -> Session | None:
        """The latest session on connection ``conn``."""
        found = None
        for s in self.sessions:
            if s.conn == conn:
                found = s
        return found

    def sessions_by_conn(self) -> dict[str, Session]:
        """conn -> latest session on it."""
        return {s.conn: s for s in self.sessions}

    def find_calls(self, call_id: int, peripheral_id: int | None = None, device_id: str | None = None) -> list[Call]:
        """Calls with ConnectionCallID ``call_id`` (narrowed by PeripheralID/device)."""
        return select_calls(self.calls, call_id, peripheral_id, device_id)

    def ladder(self, call_id: int, peripheral_id: int | None = None, device_id: str | None = None) -> Ladder:
        """Ladder of every call connection with ConnectionCallID ``call_id`` (narrowed by
        PeripheralID / ConnectionDeviceID when given)."""
        return build_ladder(self.find_calls(call_id, peripheral_id, device_id), self.sessions_by_conn())


class Analyzer:
    """One pass over a record stream feeding sessions, pairing, fan-out and calls.

    :meth:`feed` returns what each record resolved (pairs, and fan-outs when
    ``stream_fanout``); :meth:`flush` resolves the rest at capture end; :meth:`result`
    gives the :class:`Analysis`.  With ``keep=False`` resolved pairs/fan-outs are not kept
    (only returned) and calls are not tracked, so memory stays bounded by the outstanding
    requests, the pending fan-outs and one small record per session.
    """

    def __init__(self, config: AnalysisConfig | None = None, *, keep: bool = True, stream_fanout: bool = False) -> None:
        self.config = config or AnalysisConfig()
        self.keep = keep
        self.pairer = Pairer(self.config)
        self.sessions = SessionTracker(self.config)
        self.fanout = FanoutTracker(self.sessions, self.config, defer=not stream_fanout)
        self.calls = CallTracker() if keep else None
        self._pairs: list[Pair] = []
        self._fanouts: list[Fanout] = []
        self._end_ts: float | None = None
        self._flushed = False

    def feed(self, record: Record) -> list[Pair | Fanout]:
        """Consume one record (in capture order); return the pairs and fan-outs it resolved."""
        ts = record.ts  # the capture end is the latest time seen (capture_end events included)
        if ts is not None and (self._end_ts is None or ts > self._end_ts):
            self._end_ts = ts
        pairs = self.pairer.feed(record)
        # Pairs first: a pair resolved by a connection event belongs to the session that
        # was current before the event (which may start a new session on the same conn).
        for pair in pairs:
            self.sessions.on_pair(pair)
            self.fanout.on_pair(pair)
        self.sessions.feed(record)
        fanouts = self.fanout.feed(record)
        if self.calls is not None:
            self.calls.feed(record)
        if self.keep:
            self._pairs.extend(pairs)
            self._fanouts.extend(fanouts)
        return [*pairs, *fanouts]

    def flush(self) -> list[Pair | Fanout]:
        """Resolve everything still open at capture end; return those pairs and fan-outs."""
        if self._flushed:
            return []
        self._flushed = True
        pairs = self.pairer.flush(self._end_ts)
        for pair in pairs:
            self.sessions.on_pair(pair)
            self.fanout.on_pair(pair)
        self.sessions.finish(self._end_ts)
        fanouts = self.fanout.flush()
        if self.keep:
            self._pairs.extend(pairs)
            self._fanouts.extend(fanouts)
        return [*pairs, *fanouts]

    def result(self) -> Analysis:
        """The analysis (flushes first if needed)."""
        self.flush()
        pairs = sorted(self._pairs, key=lambda p: (p.ts if p.ts is not None else 0.0, p.frame or 0))
        fanouts = sorted(self._fanouts, key=lambda f: (f.request_ts if f.request_ts is not None else 0.0, f.request_frame or 0))
        return Analysis(
            sessions=list(self.sessions.sessions),
            pairs=pairs,
            fanout=fanouts,
            calls=self.calls.finish() if self.calls is not None else [],
            config=self.config,
            capture_end_ts=self._end_ts,
        )


def analyze(records: Iterable[Record], config: AnalysisConfig | None = None) -> Analysis:
    """Analyse a whole record stream (messages and, ideally, connection events) in capture
    order: sessions, pairs, fan-out and calls."""
    analyzer = Analyzer(config)
    for record in records:
        analyzer.feed(record)
    return analyzer.result()


def iter_fanout(records: Iterable[Record], config: AnalysisConfig | None = None) -> Iterator[Fanout]:
    """Fan-outs of a record stream, yielded once each window has passed and its outcome is
    known (then the rest at the end).  Roles of sessions captured mid-way are those known at
    that moment; :func:`analyze` resolves fan-outs with complete sessions instead."""
    analyzer = Analyzer(config, keep=False, stream_fanout=True)
    for record in records:
        for item in analyzer.feed(record):
            if isinstance(item, Fanout):
                yield item
    for item in analyzer.flush():
        if isinstance(item, Fanout):
            yield item


def sessions_of(records: Iterable[Record], config: AnalysisConfig | None = None) -> list[Session]:
    """Sessions of a record stream (needs the whole stream: a session ends with it)."""
    analyzer = Analyzer(config, keep=False)
    for record in records:
        analyzer.feed(record)
    analyzer.flush()
    return list(analyzer.sessions.sessions)


__all__ = [
    "DEFAULT_RECORDING_PATTERNS",
    "DEFAULT_SIDE_PORTS",
    "EMERGENCY_EVENT",
    "END_REASONS",
    "FANOUT_REQUESTS",
    "ROLES",
    "STATUSES",
    "SUPERVISOR_CALL",
    "Analysis",
    "AnalysisConfig",
    "Analyzer",
    "Call",
    "CallEvent",
    "CallTracker",
    "Fanout",
    "FanoutTracker",
    "Ladder",
    "LadderRow",
    "Pair",
    "Pairer",
    "Recipient",
    "Session",
    "SessionTracker",
    "analyze",
    "build_ladder",
    "failure_of",
    "format_ladder",
    "invoke_id_of",
    "iter_fanout",
    "iter_pairs",
    "sessions_of",
    "select_calls",
    "service_names",
    "split_conn",
]
