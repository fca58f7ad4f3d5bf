"""Fan-out of emergency and supervisor-assist requests to other sessions (GED-188 7.4).

For each EMERGENCY_CALL_REQ and SUPERVISOR_ASSIST_REQ an agent sends:

* the **outcome** to the requester: EMERGENCY_CALL_CONF / SUPERVISOR_ASSIST_CONF, or
  FAILURE_CONF / CONTROL_FAILURE_CONF when no supervisor could be found, with its latency;
* **EMERGENCY_CALL_EVENT to every bridge (ALL_EVENTS) and recording session** - sent for an
  EMERGENCY_CALL_REQ *even when the outcome is a FAILURE_CONF*.  Every ALL_EVENTS session
  that was open when the request was sent (and, by default, connected to the same CTI Server
  address) is expected to get one; a bridge opened after the request or closed before it is
  not expected, one on a standby server (OPEN_CONF SessionType STANDBY) neither;
* **the call on the supervisor's session**: the supervisor the PIM finds gets the new call's
  events with EventCause CEC_EMERGENCY_CALL (44) / CEC_SUPERVISOR_ASSIST (43), or CallType
  EMERGENCY (20) / ASSIST (19) in BEGIN_CALL_EVENT / CALL_DATA_UPDATE_EVENT, and for an assist
  a SUPERVISOR_ASSIST_EVENT (120, body unpublished).  Which supervisor the PIM picks is not
  visible in the request, so the session that got such an event is the recipient; when the
  outcome was positive and no supervisor session got one, every supervisor session open at
  the time (same server, same PeripheralID when known) is listed as expected and missed.

Events are correlated to a request through what they carry: PeripheralID (must not differ),
the requester's ClientID, SessionID and agent identifiers (AgentID, AgentExtension,
AgentInstrument), and the ConnectionCallID / ConnectionDeviceID of the request or of its
confirmation (the new call).  An event is accepted when it falls within ``fanout_window_s``
after the request and contradicts none of these; among several open requests the one with
the most matching identifiers wins, then the earliest.  Each recipient session counts its
first matching event; ``delay_s`` = event ts - request ts (seconds).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..capture.records import ConnectionEvent
from ..catalogue import EVENT, MESSAGES_BY_NAME
from ..wire.records import Message
from .config import AnalysisConfig
from .pairing import FAILURE_REPLIES, Pair, invoke_id_of, latency
from .session import (
    ALL_EVENTS_ROLES,
    BRIDGE,
    MONITOR,
    NULL_PERIPHERAL_ID,
    RECORDING,
    SUPERVISOR_ROLE,
    Session,
    SessionTracker,
)

EMERGENCY_CALL_REQ = "EMERGENCY_CALL_REQ"
SUPERVISOR_ASSIST_REQ = "SUPERVISOR_ASSIST_REQ"
FANOUT_REQUESTS = (EMERGENCY_CALL_REQ, SUPERVISOR_ASSIST_REQ)

# request -> (positive confirmation, EventCause of the resulting call, its CallType) (6.13, 6.15)
_FLOW = {
    EMERGENCY_CALL_REQ: ("EMERGENCY_CALL_CONF", 44, 20),
    SUPERVISOR_ASSIST_REQ: ("SUPERVISOR_ASSIST_CONF", 43, 19),
}
NO_CALL_ID = 0xFFFFFFFF  # ConnectionCallID "no related call"

MISSED = "fanout.missed"  # anomaly code (ctidissect/wire/anomalies.py)

# Recipient kinds.
EMERGENCY_EVENT = "emergency_event"  # EMERGENCY_CALL_EVENT to a bridge / recording session
SUPERVISOR_CALL = "supervisor_call"  # the emergency / assist call on the supervisor's session

# Floating fields of call events that name devices taking part in the call.
_DEVICE_TAGS = (
    "CONNECTION_DEVID",
    "ALERTING_DEVID",
    "CALLING_DEVID",
    "CALLED_DEVID",
    "ANSWERING_DEVID",
    "LAST_REDIRECT_DEVID",
)


@dataclass(slots=True)
class Recipient:
    """One session that received (or should have received) a fan-out event.

    ``expected`` - the session was open at the request and of a kind that must receive it;
    ``delivered`` - a matching event was seen (``frame``, ``ts`` epoch seconds, ``delay_s`` =
    event ts - request ts in seconds, ``message`` its name).
    """

    conn: str
    role: str
    client_id: str | None
    kind: str
    expected: bool
    delivered: bool
    frame: int | None = None
    ts: float | None = None
    delay_s: float | None = None
    message: str | None = None

    @property
    def anomaly(self) -> str | None:
        """``fanout.missed`` for an expected recipient that got nothing, else None."""
        return MISSED if self.expected and not self.delivered else None

    def to_json(self) -> dict[str, Any]:
        return {
            "conn": self.conn,
            "role": self.role,
            "client_id": self.client_id,
            "delivered": self.delivered,
            "frame": self.frame,
            "delay_s": self.delay_s,
            "expected": self.expected,
            "kind": self.kind,
            "message": self.message,
        }


@dataclass(slots=True, eq=False)
class Fanout:
    """An EMERGENCY_CALL_REQ or SUPERVISOR_ASSIST_REQ with its outcome and recipients.

    Times are epoch seconds; ``outcome_latency_s`` = reply ts - request ts (seconds).
    ``new_call_id`` / ``new_call_device_id`` come from the positive confirmation.
    """

    request: str
    request_frame: int | None
    request_ts: float | None
    requester: str
    invoke_id: int | None
    requester_role: str | None = None
    requester_client_id: str | None = None
    requester_session_id: int | None = None
    agent_id: str | None = None
    agent_extension: str | None = None
    agent_instrument: str | None = None
    peripheral_id: int | None = None
    connection_call_id: int | None = None
    connection_device_id: str | None = None
    outcome: str | None = None
    outcome_frame: int | None = None
    outcome_ts: float | None = None
    outcome_latency_s: float | None = None
    outcome_status: str | None = None
    failure: str | None = None
    new_call_id: int | None = None
    new_call_device_id: str | None = None
    recipients: list[Recipient] = field(default_factory=list)
    # Deliveries seen so far, by recipient conn (resolved into ``recipients`` at the end).
    deliveries: dict[str, tuple[str, int | None, float | None, str]] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        """The requester got the positive confirmation."""
        return self.outcome == _FLOW[self.request][0]

    @property
    def expected_count(self) -> int:
        return sum(r.expected for r in self.recipients)

    @property
    def delivered_count(self) -> int:
        return sum(r.delivered for r in self.recipients)

    @property
    def missed_count(self) -> int:
        """Expected recipients that got nothing."""
        return sum(r.expected and not r.delivered for r in self.recipients)

    @property
    def unexpected_count(self) -> int:
        """Deliveries to sessions that were not expected to get one."""
        return sum(r.delivered and not r.expected for r in self.recipients)

    @property
    def max_delay_s(self) -> float | None:
        delays = [r.delay_s for r in self.recipients if r.delay_s is not None]
        return max(delays) if delays else None

    def to_json(self) -> dict[str, Any]:
        """The ``ctidissect fanout --json`` object: the keys of the issue, then ``failure``
        (FAILURE_CONF Status / CONTROL_FAILURE_CONF FailureCode by name)."""
        return {
            "request": self.request,
            "request_frame": self.request_frame,
            "request_ts": self.request_ts,
            "requester": self.requester,
            "outcome": self.outcome,
            "outcome_latency_s": self.outcome_latency_s,
            "recipients": [r.to_json() for r in self.recipients],
            "failure": self.failure,
        }


def _text(value: Any) -> str | None:
    if value is None:
        return None
    value = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return value or None


def _may_be_supervisor(session: Session) -> bool:
    """A session that may be the supervisor's: opened with SUPERVISOR, or captured mid-way
    without evidence to the contrary (an inferred agent may be a supervisor whose team events
    were not seen)."""
    if session.role == SUPERVISOR_ROLE:
        return True
    return session.role_source in (None, "inferred") and session.role not in (BRIDGE, RECORDING, MONITOR)


def _known_periph(value: int | None) -> int | None:
    return None if value in (None, NULL_PERIPHERAL_ID) else value


class FanoutTracker:
    """Streaming fan-out analysis over the same record stream as :class:`SessionTracker`.

    Call :meth:`feed` for each record *after* the session tracker has seen it, and
    :meth:`on_pair` for each resolved pair.  With ``defer=False`` a fan-out is returned by
    :meth:`feed` once its window has passed and its outcome is known (or the reply timeout
    has passed); with ``defer=True`` everything is resolved by :meth:`flush`, when the
    sessions are complete (best for batch analysis of sessions captured mid-way).
    """

    def __init__(self, sessions: SessionTracker, config: AnalysisConfig | None = None, *, defer: bool = False) -> None:
        self.config = config or sessions.config
        self.sessions = sessions
        self.defer = defer
        self._pending: list[Fanout] = []
        # ConnectionCallID -> (fan-out, capture time): the emergency / assist calls already
        # attributed, so that their later events are not taken for another request's.
        self._claimed: dict[int, tuple[Fanout, float]] = {}

    @property
    def pending(self) -> int:
        return len(self._pending)

    def feed(self, record: Message | ConnectionEvent) -> list[Fanout]:
        """Consume one record; return the fan-outs it completed."""
        if isinstance(record, ConnectionEvent):
            return self._expire(record.ts)
        msg = record
        if msg.type is None or msg.conn is None:
            return self._expire(msg.ts)
        name = msg.name
        if name in _FLOW and msg.direction != "s2c":
            self._start(msg)
        elif self._pending and msg.direction == "s2c":
            self._observe(msg)
        return self._expire(msg.ts)

    def on_pair(self, pair: Pair) -> None:
        """Record the outcome of a fan-out request."""
        if pair.request not in _FLOW:
            return
        for fo in self._pending:
            if fo.requester == pair.conn and fo.request_frame == pair.request_frame and fo.invoke_id == pair.invoke_id:
                fo.outcome = pair.response
                fo.outcome_frame = pair.response_frame
                fo.outcome_ts = pair.response_ts
                fo.outcome_latency_s = pair.latency_s
                fo.outcome_status = pair.status
                fo.failure = pair.failure
                return

    def flush(self) -> list[Fanout]:
        """Resolve every pending fan-out (capture end)."""
        out = [self._resolve(fo) for fo in self._pending]
        self._pending = []
        return out

    # -- internals ------------------------------------------------------------------------

    def _start(self, msg: Message) -> None:
        s = self.sessions.current(msg.conn)
        f = msg.fields
        call_id = f.get("ConnectionCallID")
        fo = Fanout(
            request=msg.name,
            request_frame=msg.frame,
            request_ts=msg.ts,
            requester=msg.conn,
            invoke_id=invoke_id_of(msg),
            requester_role=s.role if s else None,
            requester_client_id=s.client_id if s else None,
            requester_session_id=s.session_id if s else None,
            # The request names the agent (ALL_EVENTS / PERIPHERAL_MONITOR clients must);
            # an agent's own request may leave it to its session's identity.
            agent_id=_text(msg.get("AGENT_ID")) or (s.agent_id if s else None),
            agent_extension=_text(msg.get("AGENT_EXTENSION")) or (s.agent_extension if s else None),
            agent_instrument=_text(msg.get("AGENT_INSTRUMENT")) or (s.agent_instrument if s else None),
            peripheral_id=_known_periph(f.get("PeripheralID")) or (s.peripheral_id if s else None),
            connection_call_id=None if call_id in (None, NO_CALL_ID) else call_id,
            connection_device_id=_text(msg.get("CONNECTION_DEVID")),
        )
        self._pending.append(fo)

    def _observe(self, msg: Message) -> None:
        name = msg.name
        # The positive confirmation names the new emergency / assist call.
        for fo in self._pending:
            if msg.conn == fo.requester and name == _FLOW[fo.request][0] and invoke_id_of(msg) == fo.invoke_id:
                if fo.new_call_id is None:
                    call_id = msg.fields.get("ConnectionCallID")
                    fo.new_call_id = None if call_id in (None, NO_CALL_ID) else call_id
                    fo.new_call_device_id = _text(msg.get("CONNECTION_DEVID"))
                    self._claim(fo.new_call_id, fo, msg.ts)
                return
        if name in FAILURE_REPLIES:
            return
        kind, requests = self._candidate_kind(msg)
        if kind is None:
            return
        if kind == SUPERVISOR_CALL:
            session = self.sessions.current(msg.conn)
            if session is not None and not _may_be_supervisor(session):
                return  # bridges and agents see the call too: only the supervisor's session counts
            call_id = msg.fields.get("ConnectionCallID")
            owner = self._claimed.get(call_id) if call_id not in (None, NO_CALL_ID) else None
            if owner is not None:
                # A later event of a call already attributed: it belongs to that request.
                fo = owner[0]
                if fo in self._pending and msg.conn != fo.requester and msg.conn not in fo.deliveries:
                    fo.deliveries[msg.conn] = (kind, msg.frame, msg.ts, name)
                return
        best: tuple[int, float, Fanout] | None = None
        for fo in self._pending:
            if fo.request not in requests or msg.conn == fo.requester or msg.conn in fo.deliveries:
                continue
            if msg.ts is not None and fo.request_ts is not None:
                if not fo.request_ts <= msg.ts <= fo.request_ts + self.config.fanout_window_s:
                    continue
            score = self._score(fo, msg, kind)
            if score is None:
                continue
            key = (score, -(fo.request_ts or 0.0))
            if best is None or key > best[:2]:
                best = (key[0], key[1], fo)
        if best is not None:
            fo = best[2]
            fo.deliveries[msg.conn] = (kind, msg.frame, msg.ts, name)
            if kind == SUPERVISOR_CALL:
                self._claim(msg.fields.get("ConnectionCallID"), fo, msg.ts)

    def _claim(self, call_id: int | None, fo: Fanout, ts: float | None) -> None:
        if call_id is None or call_id == NO_CALL_ID:
            return
        now = ts if ts is not None else (fo.request_ts or 0.0)
        self._claimed[call_id] = (fo, now)
        # Forget claims older than any request could still be waiting for (bounded memory).
        horizon = now - (self.config.fanout_window_s + self.config.reply_timeout_s)
        if len(self._claimed) > 64:
            self._claimed = {k: v for k, v in self._claimed.items() if v[1] >= horizon}

    @staticmethod
    def _candidate_kind(msg: Message) -> tuple[str | None, tuple[str, ...]]:
        name = msg.name
        if name == "EMERGENCY_CALL_EVENT":
            return EMERGENCY_EVENT, (EMERGENCY_CALL_REQ,)
        if name == "SUPERVISOR_ASSIST_EVENT":
            return SUPERVISOR_CALL, (SUPERVISOR_ASSIST_REQ,)
        cat = MESSAGES_BY_NAME.get(name)
        if cat is None or cat.kind != EVENT:
            return None, ()
        f = msg.fields
        cause = f.get("EventCause")
        call_type = f.get("CallType")
        requests = tuple(r for r, (_, c, t) in _FLOW.items() if cause == c or call_type == t)
        return (SUPERVISOR_CALL, requests) if requests else (None, ())

    @staticmethod
    def _score(fo: Fanout, msg: Message, kind: str) -> int | None:
        """Identifiers shared by the request and the event; None when one contradicts."""
        f = msg.fields
        periph = _known_periph(f.get("PeripheralID"))
        if periph is not None and fo.peripheral_id is not None and periph != fo.peripheral_id:
            return None
        score = 0
        call_id = f.get("ConnectionCallID")
        if call_id not in (None, NO_CALL_ID) and call_id in (fo.connection_call_id, fo.new_call_id):
            score += 2
        device = _text(msg.get("CONNECTION_DEVID"))
        if device is not None and device in (fo.connection_device_id, fo.new_call_device_id):
            score += 1
        if kind == EMERGENCY_EVENT:
            # EMERGENCY_CALL_EVENT identifies the client that made the emergency call.
            pairs = (
                (_text(msg.get("CLIENT_ID")), fo.requester_client_id),
                (_text(msg.get("AGENT_ID")), fo.agent_id),
                (_text(msg.get("AGENT_EXTENSION")), fo.agent_extension),
                (_text(msg.get("AGENT_INSTRUMENT")), fo.agent_instrument),
                (f.get("SessionID") or None, fo.requester_session_id),
            )
            for seen, wanted in pairs:
                if seen is None or wanted is None:
                    continue
                if seen != wanted:
                    return None
                score += 1
        else:
            # On the supervisor's side the requesting agent shows up as a party's device.
            devices = {_text(msg.get(tag)) for tag in _DEVICE_TAGS} - {None}
            if devices & {fo.agent_extension, fo.agent_instrument}:
                score += 1
        return score

    def _expire(self, now: float | None) -> list[Fanout]:
        if self.defer or now is None or not self._pending:
            return []
        done: list[Fanout] = []
        keep: list[Fanout] = []
        for fo in self._pending:
            start = fo.request_ts if fo.request_ts is not None else now
            window_over = now > start + self.config.fanout_window_s
            outcome_known = fo.outcome_status is not None or now > start + self.config.reply_timeout_s
            (done if window_over and outcome_known else keep).append(fo)
        self._pending = keep
        return [self._resolve(fo) for fo in done]

    def _resolve(self, fo: Fanout) -> Fanout:
        ts = fo.request_ts
        requester = self.sessions.current(fo.requester)
        server = requester.server if requester is not None else None
        by_conn: dict[str, Session] = {}
        for s in self.sessions.sessions:
            by_conn[s.conn] = s  # the latest session of each connection

        def eligible(s: Session) -> bool:
            if s.conn == fo.requester or s.standby or ts is None or not s.active_at(ts):
                return False
            return not (self.config.fanout_same_server and server is not None and s.server != server)

        recipients: list[Recipient] = []
        seen: set[tuple[str, str]] = set()

        def add(s: Session | None, conn: str, kind: str, expected: bool) -> None:
            delivery = fo.deliveries.get(conn)
            delivered = delivery is not None and delivery[0] == kind
            rec = Recipient(
                conn=conn,
                role=s.role if s else "unknown",
                client_id=s.client_id if s else None,
                kind=kind,
                expected=expected,
                delivered=delivered,
            )
            if delivered:
                _, rec.frame, rec.ts, rec.message = delivery
                rec.delay_s = latency(ts, rec.ts)
            recipients.append(rec)
            seen.add((conn, kind))

        candidates = [s for s in self.sessions.sessions if eligible(s)]
        for s in candidates:
            self.sessions.refresh(s)
        if fo.request == EMERGENCY_CALL_REQ:
            # 7.4: EMERGENCY_CALL_EVENT to every bridge and recording server, whatever the outcome.
            for s in candidates:
                if s.role in ALL_EVENTS_ROLES and (s.conn, EMERGENCY_EVENT) not in seen:
                    add(s, s.conn, EMERGENCY_EVENT, True)
        if fo.outcome in FAILURE_REPLIES:
            # Refused: no emergency / assist call was created, so no supervisor call event
            # can belong to this request.
            fo.deliveries = {c: d for c, d in fo.deliveries.items() if d[0] != SUPERVISOR_CALL}
        supervisor_delivered = any(d[0] == SUPERVISOR_CALL for d in fo.deliveries.values())
        if fo.succeeded and not supervisor_delivered:
            for s in candidates:
                periph_ok = s.peripheral_id is None or fo.peripheral_id is None or s.peripheral_id == fo.peripheral_id
                if s.role == SUPERVISOR_ROLE and periph_ok and (s.conn, SUPERVISOR_CALL) not in seen:
                    add(s, s.conn, SUPERVISOR_CALL, True)
        for conn, (kind, *_rest) in fo.deliveries.items():
            if (conn, kind) in seen:
                continue
            s = by_conn.get(conn)
            if s is not None:
                self.sessions.refresh(s)
            if kind == EMERGENCY_EVENT:
                # A session that was open at the request time (or captured mid-way, hence
                # open before its first packet) was expected.
                expected = s is not None and eligible(s) or (
                    s is not None and s.midstream and not s.standby and s.conn != fo.requester
                )
            else:
                # The supervisor the PIM chose was expected when the request succeeded.
                expected = fo.succeeded
            add(s, conn, kind, expected)
        order = {EMERGENCY_EVENT: 0, SUPERVISOR_CALL: 1}
        recipients.sort(key=lambda r: (order[r.kind], r.conn))
        fo.recipients = recipients
        return fo


def fanout_of(records: Iterable[Message | ConnectionEvent], config: AnalysisConfig | None = None) -> list[Fanout]:
    """Fan-out of a whole record stream (convenience wrapper around
    :func:`ctidissect.analysis.analyze`)."""
    from . import analyze

    return analyze(records, config).fanout
