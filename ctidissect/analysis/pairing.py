"""Pairing of requests with their replies by (connection, InvokeID), with latency.

GED-188 section 7.1: every request carries an InvokeID chosen by the client, and the server
copies it into the request's positive confirmation, into FAILURE_CONF (any request may be
refused with it) or into CONTROL_FAILURE_CONF (client-control requests).  Events carry no
InvokeID.  A pair is therefore keyed by the TCP connection and the InvokeID.

Statuses (one :class:`Pair` per request, plus one per orphan reply):

* ``ok`` - answered by the positive confirmation within the timeout;
* ``failed`` - answered by FAILURE_CONF / CONTROL_FAILURE_CONF within the timeout (the
  Status / FailureCode is kept by name in ``failure``);
* ``late`` - answered (positively or not) after ``reply_timeout_s``; ``failure`` is still
  filled when the late reply was a failure;
* ``unanswered`` - no reply by the end of the connection or of the capture (or, with
  ``evict_after_s``, by that age);
* ``duplicate`` - the request reused an InvokeID that an earlier request on the same
  connection still had outstanding.  The **later** request gets this status; the earlier one
  keeps its own outcome.  Replies are matched first-in first-out, so the first reply with
  that InvokeID answers the earlier request and a second one, if any, is attached to the
  duplicate (its response and latency are then filled, its status stays ``duplicate``);
* ``orphan`` - a reply (server to client) whose InvokeID matches no outstanding request.  ``anomaly`` tells the
  two kinds apart: ``pair.orphan_precapture`` when the session was captured mid-way (no
  OPEN_REQ and no SYN seen) and the reply came within ``reply_timeout_s`` of the session's
  first packet - the request was probably sent before the capture began; ``pair.orphan``
  otherwise.

A message the client sends that is not a request but carries an InvokeID (a confirmation
or an event sent the wrong way) is paired like a request: the server refuses it with a
FAILURE_CONF that echoes the InvokeID.

Streaming: :class:`Pairer` keeps only outstanding requests (plus a few facts per
connection) and returns each pair as soon as it is resolved; :meth:`Pairer.flush` resolves
the rest at capture end.  All times are epoch seconds, durations seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..capture.records import CONN_CAPTURE_END, CONN_FIN, CONN_OPEN, CONN_RST, ConnectionEvent
from ..catalogue import CONFIRMATION, ENUMS, MESSAGES_BY_NAME, REQUEST, responses_of
from ..wire.records import Message
from .config import AnalysisConfig

CONN_REPLACED = "replaced"
"""ConnectionEvent kind of the capture reader: a new connection reused the address pair
before any FIN/RST of the old one was seen (the old one is over)."""

OK = "ok"
FAILED = "failed"
LATE = "late"
UNANSWERED = "unanswered"
DUPLICATE = "duplicate"
ORPHAN = "orphan"
STATUSES = (OK, FAILED, LATE, UNANSWERED, DUPLICATE, ORPHAN)

# Anomaly codes (declared in ctidissect/wire/anomalies.py) attached to pairs.
ANOMALY_OF_STATUS = {
    LATE: "pair.late",
    UNANSWERED: "pair.unanswered",
    DUPLICATE: "pair.duplicate",
}
ORPHAN_REAL = "pair.orphan"
ORPHAN_PRECAPTURE = "pair.orphan_precapture"

FAILURE_REPLIES = frozenset(
    m.name for m in MESSAGES_BY_NAME.values() if m.kind == CONFIRMATION and m.answers is None
)
"""Negative replies that may answer several request types (FAILURE_CONF, CONTROL_FAILURE_CONF,
and the ARM FAILURE_RESP)."""

MICROSECOND_DIGITS = 6
"""Latencies are rounded to the microsecond (the resolution of classic pcap timestamps)."""


def latency(start_ts: float | None, end_ts: float | None) -> float | None:
    """``end_ts - start_ts`` in seconds rounded to the microsecond (None if either is None)."""
    if start_ts is None or end_ts is None:
        return None
    return round(end_ts - start_ts, MICROSECOND_DIGITS)


def invoke_id_of(msg: Message) -> int | None:
    """The InvokeID of a request or reply: its decoded ``InvokeID`` field (None if it has none).

    The decoder fills it for every layout that starts with one and, per section 7.1, for the
    request/confirmation types whose body layout no source publishes (decoded raw with
    ``layout.unknown``, e.g. MEDIA_LOGIN_REQ): the first UINT of their body.  The
    configuration exchange (e.g. TEAM_CONFIG_REQ) carries none.
    """
    return msg.fields.get("InvokeID")


def failure_of(msg: Message) -> tuple[str | None, int | None, int | None]:
    """``(name, code, PeripheralErrorCode)`` of a negative reply: the FAILURE_CONF Status
    (StatusCode enum) or the CONTROL_FAILURE_CONF FailureCode (ControlFailureCode enum).
    Unknown values are named by their number.  ``(None, None, None)`` for other messages."""
    if msg.name not in FAILURE_REPLIES:
        return None, None, None
    fields = msg.fields
    if "FailureCode" in fields:  # CONTROL_FAILURE_CONF, or FAILURE_CONF's alternate v24 layout
        code = fields["FailureCode"]
        name = ENUMS["ControlFailureCode"].label(code, msg.version)
        return (name or str(code)), code, fields.get("PeripheralErrorCode")
    if "Status" in fields:
        code = fields["Status"]
        name = ENUMS["StatusCode"].label(code, msg.version)
        return (name or str(code)), code, None
    return None, None, None


# The configuration exchange carries no InvokeID (7.1), even where a type is named _REQ/_CONF
# (TEAM_CONFIG_REQ/CONF): those are not paired.
REQUEST_NAMES = frozenset(m.name for m in MESSAGES_BY_NAME.values() if m.kind == REQUEST and not m.no_invoke_id)
REPLY_NAMES = frozenset(m.name for m in MESSAGES_BY_NAME.values() if m.kind == CONFIRMATION and not m.no_invoke_id)
# request name -> every reply name that may answer it (its confirmation and the failures)
_ANSWERS = {name: frozenset(responses_of(name)) | FAILURE_REPLIES for name in REQUEST_NAMES}


def is_request(msg: Message) -> bool:
    """Whether ``msg`` is a request of the catalogue (kind ``request``) that carries an
    InvokeID (not TEAM_CONFIG_REQ, part of the configuration exchange)."""
    return msg.name in REQUEST_NAMES


def is_reply(msg: Message) -> bool:
    """Whether ``msg`` is a confirmation (positive or negative) of the catalogue that carries
    an InvokeID (not TEAM_CONFIG_CONF)."""
    return msg.name in REPLY_NAMES


def can_answer(reply: str, request: str) -> bool:
    """Whether reply ``reply`` may answer request ``request``: its own confirmation, or a
    failure reply (which answers anything, including a misdirected non-request)."""
    answers = _ANSWERS.get(request)
    return reply in FAILURE_REPLIES if answers is None else reply in answers


@dataclass(slots=True)
class Pair:
    """A request and its reply, an unanswered request, or an orphan reply.

    Times are epoch seconds; ``latency_s`` = response ts - request ts in seconds (rounded to
    the microsecond); ``waited_s`` (unanswered only) = seconds from the request to the end of
    its connection or of the capture.  ``failure`` is the Status (FAILURE_CONF) or FailureCode
    (CONTROL_FAILURE_CONF) by name.  ``duplicate_of_frame`` is the frame of the earlier
    request whose InvokeID a duplicate reused.
    """

    conn: str | None
    invoke_id: int | None
    request: str | None
    request_frame: int | None
    request_ts: float | None
    response: str | None
    response_frame: int | None
    response_ts: float | None
    latency_s: float | None
    status: str
    failure: str | None = None
    failure_code: int | None = None
    peripheral_error_code: int | None = None
    duplicate_of_frame: int | None = None
    anomaly: str | None = None
    waited_s: float | None = None

    @property
    def frame(self) -> int | None:
        """The first frame of the pair (request frame, or the reply's for an orphan)."""
        return self.request_frame if self.request_frame is not None else self.response_frame

    @property
    def ts(self) -> float | None:
        """The first time of the pair (request ts, or the reply's for an orphan)."""
        return self.request_ts if self.request_ts is not None else self.response_ts

    def to_json(self) -> dict[str, Any]:
        """The ``ctidissect pairs --json`` object: the keys of the issue, then ``failure``
        (status/failure code by name) and ``anomaly`` (tells pre-capture orphans apart)."""
        return {
            "conn": self.conn,
            "invoke_id": self.invoke_id,
            "request": self.request,
            "request_frame": self.request_frame,
            "request_ts": self.request_ts,
            "response": self.response,
            "response_frame": self.response_frame,
            "latency_s": self.latency_s,
            "status": self.status,
            "failure": self.failure,
            "anomaly": self.anomaly,
        }


@dataclass(slots=True)
class _Outstanding:
    conn: str
    invoke_id: int
    name: str
    frame: int | None
    ts: float | None
    duplicate_of_frame: int | None


@dataclass(slots=True)
class _ConnFacts:
    """What the pairer remembers per connection (a few scalars)."""

    first_ts: float | None = None
    open_req_seen: bool = False
    syn_seen: bool | None = None
    fin_directions: int = 0  # bit 1 = c2s FIN, bit 2 = s2c FIN


class Pairer:
    """Streaming request/reply pairing.

    Feed records (messages and, optionally, connection events) in capture order with
    :meth:`feed`; each call returns the pairs resolved by that record.  :meth:`flush`
    resolves whatever is still outstanding as ``unanswered`` (duplicates stay
    ``duplicate``).  Memory: the outstanding requests plus a few scalars per connection.
    """

    def __init__(self, config: AnalysisConfig | None = None) -> None:
        self.config = config or AnalysisConfig()
        self._outstanding: dict[tuple[str, int], list[_Outstanding]] = {}
        self._conns: dict[str, _ConnFacts] = {}
        self._last_ts: float | None = None
        self._evict_checked_ts: float | None = None

    @property
    def outstanding(self) -> int:
        """Number of requests waiting for a reply."""
        return sum(len(v) for v in self._outstanding.values())

    def feed(self, record: Message | ConnectionEvent) -> list[Pair]:
        """Consume one record; return the pairs it resolved (often none)."""
        if isinstance(record, ConnectionEvent):
            return self._connection_event(record)
        msg = record
        if msg.ts is not None:
            self._last_ts = msg.ts if self._last_ts is None else max(self._last_ts, msg.ts)
        if msg.conn is None or msg.type is None:
            return []
        facts = self._conns.get(msg.conn)
        if facts is None:
            facts = self._conns[msg.conn] = _ConnFacts()
        if facts.first_ts is None:
            facts.first_ts = msg.ts
        out: list[Pair] = []
        if is_request(msg) and msg.direction != "s2c":
            if msg.name == "OPEN_REQ":
                facts.open_req_seen = True
            self._request(msg, out)
        elif is_reply(msg) and msg.direction != "c2s":
            self._reply(msg, facts, out)
        elif msg.direction == "c2s" and "InvokeID" in msg.fields:
            # A client sending a message the server does not accept as a request (an event
            # or a confirmation): the server refuses it with a FAILURE_CONF echoing its
            # InvokeID, so it is paired like a request.
            self._request(msg, out)
        if self.config.evict_after_s is not None:
            out.extend(self._evict())
        return out

    def flush(self, end_ts: float | None = None) -> list[Pair]:
        """Resolve every outstanding request at capture end (``end_ts`` epoch seconds,
        default the latest time seen) and return those pairs."""
        end = end_ts if end_ts is not None else self._last_ts
        out: list[Pair] = []
        for key in list(self._outstanding):
            out.extend(self._drop(key, end))
        out.sort(key=lambda p: (p.request_ts if p.request_ts is not None else 0.0, p.request_frame or 0))
        return out

    # -- internals ------------------------------------------------------------------------

    def _request(self, msg: Message, out: list[Pair]) -> None:
        invoke_id = invoke_id_of(msg)
        if invoke_id is None:
            # A request cut short before its InvokeID: it cannot be paired, report it at once.
            out.append(
                Pair(msg.conn, None, msg.name, msg.frame, msg.ts, None, None, None, None, UNANSWERED,
                     anomaly=ANOMALY_OF_STATUS[UNANSWERED])
            )
            return
        key = (msg.conn, invoke_id)
        queue = self._outstanding.setdefault(key, [])
        duplicate_of = queue[0].frame if queue else None
        queue.append(_Outstanding(msg.conn, invoke_id, msg.name, msg.frame, msg.ts, duplicate_of))

    def _reply(self, msg: Message, facts: _ConnFacts, out: list[Pair]) -> None:
        invoke_id = invoke_id_of(msg)
        key = (msg.conn, invoke_id)
        queue = self._outstanding.get(key) if invoke_id is not None else None
        match = None
        if queue:
            # First-in first-out among the requests this reply can answer: a positive
            # confirmation only answers its own request type, a failure reply any request.
            for i, pending in enumerate(queue):
                if can_answer(msg.name, pending.name):
                    match = queue.pop(i)
                    break
            if not queue:
                del self._outstanding[key]
        if match is None:
            out.append(self._orphan(msg, invoke_id, facts))
            return
        out.append(self._answered(match, msg))

    def _answered(self, req: _Outstanding, msg: Message) -> Pair:
        lat = latency(req.ts, msg.ts)
        failure, code, perr = failure_of(msg)
        if req.duplicate_of_frame is not None:
            status = DUPLICATE
        elif lat is not None and lat > self.config.reply_timeout_s:
            status = LATE
        elif failure is not None or msg.name in FAILURE_REPLIES:
            status = FAILED
        else:
            status = OK
        return Pair(
            req.conn, req.invoke_id, req.name, req.frame, req.ts, msg.name, msg.frame, msg.ts, lat, status,
            failure=failure, failure_code=code, peripheral_error_code=perr,
            duplicate_of_frame=req.duplicate_of_frame, anomaly=ANOMALY_OF_STATUS.get(status),
        )

    def _orphan(self, msg: Message, invoke_id: int | None, facts: _ConnFacts) -> Pair:
        failure, code, perr = failure_of(msg)
        # Capture began mid-session (no OPEN_REQ, no SYN) and the reply came soon after the
        # session's first packet: its request was most likely sent before the capture began.
        midstream = not facts.open_req_seen and facts.syn_seen is not True
        early = (
            facts.first_ts is not None
            and msg.ts is not None
            and msg.ts - facts.first_ts <= self.config.reply_timeout_s
        )
        anomaly = ORPHAN_PRECAPTURE if midstream and early else ORPHAN_REAL
        return Pair(
            msg.conn, invoke_id, None, None, None, msg.name, msg.frame, msg.ts, None, ORPHAN,
            failure=failure, failure_code=code, peripheral_error_code=perr, anomaly=anomaly,
        )

    def _drop(self, key: tuple[str, int], end_ts: float | None) -> list[Pair]:
        out = []
        for req in self._outstanding.pop(key, ()):
            status = DUPLICATE if req.duplicate_of_frame is not None else UNANSWERED
            out.append(
                Pair(
                    req.conn, req.invoke_id, req.name, req.frame, req.ts, None, None, None, None, status,
                    duplicate_of_frame=req.duplicate_of_frame, anomaly=ANOMALY_OF_STATUS[status],
                    waited_s=latency(req.ts, end_ts),
                )
            )
        return out

    def _drop_conn(self, conn: str, end_ts: float | None) -> list[Pair]:
        out: list[Pair] = []
        for key in [k for k in self._outstanding if k[0] == conn]:
            out.extend(self._drop(key, end_ts))
        return out

    def _evict(self) -> list[Pair]:
        """Report requests older than ``evict_after_s`` as unanswered (bounded memory)."""
        now = self._last_ts
        if now is None:
            return []
        # Scanning every outstanding request on every record would be quadratic; once per
        # second of capture time is enough for a bound expressed in seconds.
        if self._evict_checked_ts is not None and now - self._evict_checked_ts < 1.0:
            return []
        self._evict_checked_ts = now
        limit = self.config.evict_after_s
        out: list[Pair] = []
        for key in list(self._outstanding):
            queue = self._outstanding[key]
            expired = [r for r in queue if r.ts is not None and now - r.ts > limit]
            if not expired:
                continue
            keep = [r for r in queue if r not in expired]
            self._outstanding[key] = expired
            out.extend(self._drop(key, now))
            if keep:
                self._outstanding[key] = keep
        return out

    def _connection_event(self, ev: ConnectionEvent) -> list[Pair]:
        self._last_ts = ev.ts if self._last_ts is None else max(self._last_ts, ev.ts)
        facts = self._conns.get(ev.conn)
        if ev.kind == CONN_OPEN:
            if facts is not None and facts.first_ts is not None and ev.syn_seen:
                # A new connection on the same address pair: the old one is over.
                out = self._drop_conn(ev.conn, ev.ts)
                self._conns[ev.conn] = _ConnFacts(first_ts=ev.ts, syn_seen=True)
                return out
            if facts is None:
                facts = self._conns[ev.conn] = _ConnFacts()
            if facts.first_ts is None:
                facts.first_ts = ev.ts
            facts.syn_seen = ev.syn_seen
            return []
        if facts is None:
            facts = self._conns[ev.conn] = _ConnFacts(first_ts=ev.ts, syn_seen=ev.syn_seen)
        if ev.kind in (CONN_RST, CONN_REPLACED):
            # Nothing can be answered on a reset (or silently replaced) connection.
            return self._drop_conn(ev.conn, ev.ts)
        if ev.kind == CONN_FIN:
            facts.fin_directions |= 2 if ev.direction == "s2c" else 1
            if facts.fin_directions == 3:
                return self._drop_conn(ev.conn, ev.ts)
            return []
        if ev.kind == CONN_CAPTURE_END:
            return []
        return []


def iter_pairs(
    records: Iterable[Message | ConnectionEvent], config: AnalysisConfig | None = None
) -> Iterator[Pair]:
    """Pairs of a record stream, yielded as they resolve (then the outstanding ones at the
    end).  Memory is bounded by the outstanding requests."""
    pairer = Pairer(config)
    for record in records:
        yield from pairer.feed(record)
    yield from pairer.flush()
