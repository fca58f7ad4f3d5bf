"""Call timelines across sessions, and the ladder of one call.

GED-188 7.3: a call connection is identified by (ConnectionCallID, ConnectionDeviceIDType,
ConnectionDeviceID), within a peripheral.  Every call event of every session (an agent's
CLIENT_EVENTS session, the bridges' ALL_EVENTS sessions, a supervisor's) is filed under
``(PeripheralID, ConnectionCallID, ConnectionDeviceID)``; so are the requests that name a
call (ANSWER_CALL_REQ, EMERGENCY_CALL_REQ, ...).  CALL_CONFERENCED_EVENT and
CALL_TRANSFERRED_EVENT are filed under both their primary and secondary call, and
CALL_DATA_UPDATE_EVENT under the old and the new call when the id changes.  A message that
names a call but no ConnectionDeviceID (or no PeripheralID, as confirmations) joins the only
known call with that ConnectionCallID, if there is exactly one.

A :class:`Call` keeps its events in order (frame, time, session, direction, name, cause),
the sessions that saw it, its CallType (BEGIN_CALL_EVENT / CALL_DATA_UPDATE_EVENT) and how
it ended (CALL_CLEARED_EVENT, else END_CALL_EVENT which only ends a client's association).
Times are epoch seconds, durations seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..capture.records import ConnectionEvent
from ..catalogue import ENUMS, EVENT, MESSAGES_BY_NAME, REQUEST
from ..wire.records import Message
from .pairing import latency

NO_CALL_ID = 0xFFFFFFFF
NULL_PERIPHERAL_ID = 0xFFFFFFFF
NULL_CALLTYPE = ENUMS["CallType"].value_of("NULL_CALLTYPE")
EMERGENCY_CALLTYPE = ENUMS["CallType"].value_of("CALLTYPE_EMERGENCY")
ASSIST_CALLTYPE = ENUMS["CallType"].value_of("CALLTYPE_ASSIST")
EMERGENCY_CAUSE = ENUMS["EventCause"].value_of("CEC_EMERGENCY_CALL")
ASSIST_CAUSE = ENUMS["EventCause"].value_of("CEC_SUPERVISOR_ASSIST")

CallKey = tuple[int | None, int, str]
"""(PeripheralID or None, ConnectionCallID, ConnectionDeviceID or "")."""

# (call id field, device id floating tag) pairs naming the calls a message belongs to.
_CALL_REFS = (
    ("ConnectionCallID", "CONNECTION_DEVID"),
    ("PrimaryCallID", "PRIMARY_DEVID"),
    ("SecondaryCallID", "SECONDARY_DEVID"),
    ("NewConnectionCallID", "NEW_CONNECTION_DEVID"),
)
_ENDING = ("CALL_CLEARED_EVENT", "END_CALL_EVENT")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    value = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return value or None


@dataclass(slots=True, frozen=True)
class CallEvent:
    """One message of a call: ``ts`` epoch seconds; ``direction`` c2s/s2c; ``cause`` the
    EventCause by name (None when the message has none or CEC_NONE)."""

    frame: int | None
    ts: float | None
    conn: str | None
    direction: str | None
    name: str
    cause: str | None = None
    call_type: str | None = None
    state: str | None = None


@dataclass(slots=True)
class Call:
    """A call connection's timeline (times epoch seconds)."""

    peripheral_id: int | None
    connection_call_id: int
    connection_device_id: str
    call_type: str | None = None
    first_ts: float | None = None
    last_ts: float | None = None
    first_frame: int | None = None
    last_frame: int | None = None
    ended: str | None = None
    ended_ts: float | None = None
    emergency: bool = False
    assist: bool = False
    sessions: list[str] = field(default_factory=list)
    events: list[CallEvent] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)

    @property
    def key(self) -> CallKey:
        return (self.peripheral_id, self.connection_call_id, self.connection_device_id)

    @property
    def duration_s(self) -> float | None:
        """Seconds from the first to the last message of the call."""
        return latency(self.first_ts, self.last_ts)

    def to_json(self) -> dict[str, Any]:
        return {
            "peripheral_id": self.peripheral_id,
            "connection_call_id": self.connection_call_id,
            "connection_device_id": self.connection_device_id,
            "call_type": self.call_type,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "duration_s": self.duration_s,
            "events": len(self.events),
            "sessions": list(self.sessions),
            "ended": self.ended,
            "ended_ts": self.ended_ts,
            "emergency": self.emergency,
            "assist": self.assist,
        }


def _refs(msg: Message) -> list[tuple[int | None, int, str | None]]:
    """(PeripheralID, call id, device id) of every call ``msg`` names."""
    f = msg.fields
    periph = f.get("PeripheralID")
    periph = None if periph == NULL_PERIPHERAL_ID else periph
    out = []
    for call_field, device_tag in _CALL_REFS:
        call_id = f.get(call_field)
        if call_id is None or call_id == NO_CALL_ID:
            continue
        out.append((periph, call_id, _text(msg.get(device_tag))))
    return out


class CallTracker:
    """Builds :class:`Call` timelines from a record stream (:meth:`feed`, then
    :meth:`finish`).  Memory: every call with its events (one small record per message)."""

    def __init__(self) -> None:
        self.calls: dict[CallKey, Call] = {}
        self._by_call_id: dict[int, list[CallKey]] = {}

    def feed(self, record: Message | ConnectionEvent) -> None:
        """Consume one record."""
        if isinstance(record, ConnectionEvent) or record.type is None or record.name is None:
            return
        msg = record
        cat = MESSAGES_BY_NAME.get(msg.name)
        if cat is None:
            return
        refs = _refs(msg)
        if not refs:
            return
        is_named_kind = cat.kind in (EVENT, REQUEST)
        keys: list[CallKey] = []
        for periph, call_id, device in refs:
            key = self._key(periph, call_id, device, create=is_named_kind)
            if key is not None and key not in keys:
                keys.append(key)
        if not keys:
            return
        f = msg.fields
        cause_value = f.get("EventCause")
        cause = None
        if cause_value is not None and cause_value != 0xFFFF:
            cause = ENUMS["EventCause"].label(cause_value, msg.version) or str(cause_value)
        call_type_value = f.get("CallType")
        call_type = None
        if call_type_value is not None and call_type_value != NULL_CALLTYPE:
            call_type = ENUMS["CallType"].label(call_type_value, msg.version) or str(call_type_value)
        state_value = f.get("LocalConnectionState")
        state = None
        if state_value is not None:
            state = ENUMS["LocalConnectionState"].label(state_value) or str(state_value)
        event = CallEvent(msg.frame, msg.ts, msg.conn, msg.direction, msg.name, cause, call_type, state)
        for key in keys:
            call = self.calls[key]
            call.events.append(event)
            if msg.ts is not None:
                if call.first_ts is None or msg.ts < call.first_ts:
                    call.first_ts = msg.ts
                if call.last_ts is None or msg.ts > call.last_ts:
                    call.last_ts = msg.ts
            if msg.frame is not None:
                if call.first_frame is None:
                    call.first_frame = msg.frame
                call.last_frame = msg.frame
            if msg.conn is not None and msg.conn not in call.sessions:
                call.sessions.append(msg.conn)
            if call_type is not None:
                call.call_type = call_type
            if cause is not None and cause not in call.causes:
                call.causes.append(cause)
            if call_type_value == EMERGENCY_CALLTYPE or cause_value == EMERGENCY_CAUSE:
                call.emergency = True
            if call_type_value == ASSIST_CALLTYPE or cause_value == ASSIST_CAUSE:
                call.assist = True
            if msg.name in _ENDING:
                # CALL_CLEARED_EVENT ends the call; END_CALL_EVENT only a client's view of it.
                if call.ended != _ENDING[0]:
                    call.ended = msg.name
                    call.ended_ts = msg.ts

    def _key(self, periph: int | None, call_id: int, device: str | None, *, create: bool) -> CallKey | None:
        known = self._by_call_id.get(call_id, [])
        if device is None or periph is None:
            # Join the only known call that fits what the message does say.
            fits = [k for k in known if (periph is None or k[0] == periph) and (device is None or k[2] == device)]
            if len(fits) == 1:
                return fits[0]
            if not create:
                return None
        key: CallKey = (periph, call_id, device or "")
        if key not in self.calls:
            if not create:
                return None
            self.calls[key] = Call(periph, call_id, device or "")
            self._by_call_id.setdefault(call_id, []).append(key)
        return key

    def finish(self) -> list[Call]:
        """Every call, ordered by first appearance time."""
        return sorted(self.calls.values(), key=lambda c: (c.first_ts if c.first_ts is not None else 0.0, c.first_frame or 0))


# --- ladder -----------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class LadderRow:
    """One message of a ladder: ``rel_s`` seconds since the ladder's first message."""

    frame: int | None
    ts: float | None
    rel_s: float | None
    conn: str | None
    direction: str | None
    name: str
    cause: str | None


@dataclass(slots=True)
class Ladder:
    """The messages of one or more call connections, by session: ``columns`` are the
    sessions (conns) in order of first appearance with a ``labels`` entry each; ``rows`` are
    the messages in time order."""

    calls: list[Call]
    columns: list[str]
    labels: dict[str, str]
    rows: list[LadderRow]
    servers: dict[str, str] = field(default_factory=dict)


def select_calls(
    calls: Iterable[Call], call_id: int, peripheral_id: int | None = None, device_id: str | None = None
) -> list[Call]:
    """The calls with ConnectionCallID ``call_id`` (and PeripheralID / ConnectionDeviceID
    when given)."""
    return [
        c
        for c in calls
        if c.connection_call_id == call_id
        and (peripheral_id is None or c.peripheral_id == peripheral_id)
        and (device_id is None or c.connection_device_id == device_id)
    ]


def session_label(session: Any, with_endpoint: bool = False) -> str:
    """Column heading of a session: role and ClientID (or AgentID), plus the client endpoint
    when asked (to tell apart sessions of the same client)."""
    who = session.client_id or session.agent_id or ""
    parts = [session.role, who, (session.client or session.conn) if with_endpoint or not who else ""]
    return " ".join(p for p in parts if p)


def build_ladder(calls: Iterable[Call], sessions: Mapping[str, Any] | None = None) -> Ladder:
    """The ladder of ``calls`` (usually the connections of one ConnectionCallID).
    ``sessions`` maps conn -> Session for the column labels."""
    calls = list(calls)
    seen: set[tuple[Any, ...]] = set()
    events: list[CallEvent] = []
    for call in calls:
        for ev in call.events:
            ident = (ev.frame, ev.ts, ev.conn, ev.direction, ev.name)
            if ident not in seen:
                seen.add(ident)
                events.append(ev)
    events.sort(key=lambda e: (e.ts if e.ts is not None else 0.0, e.frame or 0))
    start = events[0].ts if events else None
    columns: list[str] = []
    for ev in events:
        if ev.conn is not None and ev.conn not in columns:
            columns.append(ev.conn)
    sessions = sessions or {}
    labels = {conn: session_label(sessions[conn]) if conn in sessions else conn for conn in columns}
    repeated = {label for label in labels.values() if list(labels.values()).count(label) > 1}
    for conn, label in labels.items():
        if label in repeated and conn in sessions:
            labels[conn] = session_label(sessions[conn], with_endpoint=True)
    servers = {conn: conn.partition("-")[2] for conn in columns}
    rows = [LadderRow(e.frame, e.ts, latency(start, e.ts), e.conn, e.direction, e.name, e.cause) for e in events]
    return Ladder(calls, columns, labels, rows, servers)


def format_ladder(ladder: Ladder) -> str:
    """Text ladder: one column per session, one row per message in time order, with the
    frame and the time in seconds since the first message.  ``-> NAME`` is a message the
    session's client sent, ``<- NAME`` one the CTI Server sent it."""
    heads = ["frame", "t_s"] + [ladder.labels.get(c, c) for c in ladder.columns]
    cells: list[list[str]] = []
    for row in ladder.rows:
        line = [str(row.frame) if row.frame is not None else "", f"{row.rel_s:.6f}" if row.rel_s is not None else ""]
        for conn in ladder.columns:
            if conn != row.conn:
                line.append("|")
                continue
            arrow = "->" if row.direction == "c2s" else "<-"
            text = f"{arrow} {row.name}"
            if row.cause:
                text += f" ({row.cause})"
            line.append(text)
        cells.append(line)
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(heads)]
    title = ", ".join(
        f"PeripheralID {c.peripheral_id} ConnectionCallID {c.connection_call_id} device {c.connection_device_id or '-'}"
        for c in ladder.calls
    )
    out = [f"call ladder: {title}" if title else "call ladder: (no call)"]
    for conn in ladder.columns:
        out.append(f"  {ladder.labels.get(conn, conn)} = {conn}")
    out.append("  ".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip())
    out.append("  ".join("-" * w for w in widths))
    for line in cells:
        out.append("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
    return "\n".join(out)
