"""CTI sessions: one per TCP connection carrying GED-188 (section 7.2).

A session learns who the client is from OPEN_REQ (ClientID, ClientSignature, the agent
identifiers, PeripheralID, requested services, VersionNumber, IdleTimeout) and OPEN_CONF
(granted services, agent identifiers, SessionType).  Its **role** follows from the services
(section 6.1 / 7.3 / 7.4):

* ``bridge`` - CTI_SERVICE_ALL_EVENTS ("bridge mode": every call/agent event of the PG);
* ``recording`` - an ALL_EVENTS session whose ClientID or ClientSignature matches one of
  the configured patterns (default ``rec*``, ``*record*``, case-insensitive);
* ``supervisor`` - CTI_SERVICE_SUPERVISOR (always together with CLIENT_EVENTS);
* ``agent`` - CTI_SERVICE_CLIENT_EVENTS ("agent mode": one device);
* ``monitor`` - only CLIENT_MONITOR and/or PERIPHERAL_MONITOR;
* ``other`` - an OPEN_REQ none of the above applies to (e.g. a pure server application);
* ``unknown`` - the capture began after the open and nothing seen tells the role.

For a session captured mid-way the role is inferred where the traffic allows it
(``role_source`` = ``inferred``): EMERGENCY_CALL_EVENT or events with MonitorID 0 are only
delivered because of ALL_EVENTS (7.3, 7.4) -> bridge; AGENT_TEAM_CONFIG_EVENT or team
requests -> supervisor; MONITOR_START_REQ / CLIENT_SESSION_* events -> monitor; events under
a non-zero MonitorID or client-control requests -> agent.  A CLIENT_SESSION_OPENED_EVENT seen
by a client-monitor session describes another session (ClientAddress:ClientPort) and fills
in its identity and granted services (``role_source`` = ``client_monitor``).

How a session ended (``end_reason``): ``close`` (CLOSE_REQ sent), ``idle_timeout`` (the
server closed or reset the connection after the client had been silent for IdleTimeout
seconds - the server's idle timer of 7.2.5), ``rst``, ``fin``, ``capture_end`` (still
open when the capture ended), or ``replaced`` (the capture reader saw a new connection on
the same address pair without a FIN/RST of this one).

Heartbeats (7.2.5): the client sends HEARTBEAT_REQ when it sent nothing else for one
heartbeat interval.  ``heartbeat_interval_s`` is the median gap between HEARTBEAT_REQs;
``idle_timeout_ratio`` is IdleTimeout / interval (the guide recommends 4).  Missed heartbeats
are HEARTBEAT_REQs not answered by HEARTBEAT_CONF, plus heartbeats missing from client
silences: a gap ``g`` between client messages (from the first heartbeat on) accounts for
``round(g / interval) - 1`` missing heartbeats, and the silence before a server-side close
(idle timeout, server FIN/RST) for ``floor(g / interval)``.

Times are epoch seconds, durations seconds.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from ..capture.records import CONN_CAPTURE_END, CONN_FIN, CONN_OPEN, CONN_RST, ConnectionEvent
from ..catalogue import ENUMS, EVENT, MESSAGES_BY_NAME
from ..wire.records import Message
from .config import AnalysisConfig
from .pairing import CONN_REPLACED, MICROSECOND_DIGITS, UNANSWERED, Pair, latency

# CTI service mask bits (GED-188 6.1).
CLIENT_EVENTS = 0x00000001
ALL_EVENTS = 0x00000010
PERIPHERAL_MONITOR = 0x00000020
CLIENT_MONITOR = 0x00000040
SUPERVISOR = 0x00000080

NO_IDLE_TIMEOUT = 0xFFFFFFFF  # OPEN_REQ.IdleTimeout: the client sends no heartbeats
NULL_PERIPHERAL_ID = 0xFFFFFFFF

# Roles.
AGENT = "agent"
SUPERVISOR_ROLE = "supervisor"
BRIDGE = "bridge"
RECORDING = "recording"
MONITOR = "monitor"
OTHER = "other"
UNKNOWN = "unknown"
ROLES = (AGENT, SUPERVISOR_ROLE, BRIDGE, RECORDING, MONITOR, OTHER, UNKNOWN)
ALL_EVENTS_ROLES = (BRIDGE, RECORDING)

# End reasons.
END_CLOSE = "close"
END_IDLE_TIMEOUT = "idle_timeout"
END_RST = "rst"
END_FIN = "fin"
END_CAPTURE = "capture_end"
END_REPLACED = "replaced"  # a new connection reused the address pair, no FIN/RST seen
END_REASONS = (END_CLOSE, END_IDLE_TIMEOUT, END_RST, END_FIN, END_CAPTURE, END_REPLACED)

# Inference of the role of a session captured mid-way, strongest evidence first.
_INFERENCE_ORDER = (BRIDGE, SUPERVISOR_ROLE, MONITOR, AGENT)
_SUPERVISOR_REQUESTS = frozenset(
    {"SUPERVISE_CALL_REQ", "LIST_AGENT_TEAM_REQ", "MONITOR_AGENT_TEAM_START_REQ", "MONITOR_AGENT_TEAM_STOP_REQ"}
)
_MONITOR_REQUESTS = frozenset({"MONITOR_START_REQ", "SESSION_MONITOR_START_REQ", "CHANGE_MONITOR_MASK_REQ"})
_MONITOR_EVENTS = frozenset({"CLIENT_SESSION_OPENED_EVENT", "CLIENT_SESSION_CLOSED_EVENT"})


def split_conn(conn: str) -> tuple[str | None, int | None, str | None, int | None]:
    """``client_ip:port-server_ip:port`` -> ``(client_ip, client_port, server_ip, server_port)``
    (None parts when the string does not have that form; IPv6 brackets are removed)."""
    client, sep, server = conn.partition("-")
    if not sep:
        return None, None, None, None

    def endpoint(text: str) -> tuple[str | None, int | None]:
        host, colon, port = text.rpartition(":")
        if not colon or not port.isdigit():
            return None, None
        return host.strip("[]"), int(port)

    c_ip, c_port = endpoint(client)
    s_ip, s_port = endpoint(server)
    return c_ip, c_port, s_ip, s_port


def service_names(mask: int | None) -> list[str]:
    """Names of the CTI service bits set in ``mask`` (section 6.1; unknown bits as ``0x..``)."""
    if mask is None:
        return []
    if mask == 0:
        return []
    label = ENUMS["ServiceMask"].label(mask)
    return label.split("|") if label else []


def role_from_services(mask: int, client_id: str | None, signature: str | None, config: AnalysisConfig) -> str:
    """The role a service mask gives (see the module docstring)."""
    if mask & ALL_EVENTS:
        return RECORDING if config.is_recording_client(client_id, signature) else BRIDGE
    if mask & SUPERVISOR:
        return SUPERVISOR_ROLE
    if mask & CLIENT_EVENTS:
        return AGENT
    if mask & (CLIENT_MONITOR | PERIPHERAL_MONITOR):
        return MONITOR
    return OTHER


@dataclass(slots=True)
class Session:
    """One CTI session (TCP connection).  Times are epoch seconds, durations seconds."""

    conn: str
    client: str | None = None
    server: str | None = None
    server_port: int | None = None
    side: str | None = None
    client_id: str | None = None
    client_signature: str | None = None
    agent_id: str | None = None
    agent_extension: str | None = None
    agent_instrument: str | None = None
    peripheral_id: int | None = None
    session_id: int | None = None
    protocol_version: int | None = None
    version_source: str | None = None
    services_requested: int | None = None
    services_granted: int | None = None
    role: str = UNKNOWN
    role_source: str | None = None
    open_status: str | None = None
    open_failure: str | None = None
    session_type: str | None = None
    idle_timeout_s: float | None = None
    no_heartbeats: bool = False
    open_req_frame: int | None = None
    open_req_ts: float | None = None
    open_conf_ts: float | None = None
    first_seen_ts: float | None = None
    last_seen_ts: float | None = None
    first_frame: int | None = None
    last_frame: int | None = None
    syn_seen: bool | None = None
    close_req_ts: float | None = None
    close_conf_ts: float | None = None
    tcp_end_kind: str | None = None
    tcp_end_ts: float | None = None
    tcp_end_direction: str | None = None
    opened_ts: float | None = None
    closed_ts: float | None = None
    end_reason: str | None = None
    end_by: str | None = None
    messages_c2s: int = 0
    messages_s2c: int = 0
    anomaly_records: int = 0
    heartbeats: int = 0
    heartbeat_interval_s: float | None = None
    idle_timeout_ratio: float | None = None
    heartbeats_unanswered: int = 0
    heartbeat_gaps_missed: int = 0
    missed_heartbeats: int = 0
    last_c2s_ts: float | None = None
    heartbeat_ts: list[float] = field(default_factory=list)
    c2s_gaps: list[float] = field(default_factory=list)
    evidence: set[str] = field(default_factory=set)

    # -- derived -------------------------------------------------------------------------

    @property
    def services_requested_names(self) -> list[str]:
        return service_names(self.services_requested)

    @property
    def services_granted_names(self) -> list[str]:
        return service_names(self.services_granted)

    @property
    def midstream(self) -> bool:
        """Captured without its start: no OPEN_REQ and no SYN seen."""
        return self.open_req_ts is None and self.syn_seen is not True

    @property
    def duration_s(self) -> float | None:
        end = self.closed_ts if self.closed_ts is not None else self.last_seen_ts
        return latency(self.opened_ts, end)

    @property
    def active_from_ts(self) -> float | None:
        """From when the server delivers events to the session: OPEN_CONF (or the OPEN_REQ
        when no reply was captured), or the first packet of a session captured mid-way.
        None when the open failed."""
        if self.open_status == "failed":
            return None
        if self.open_conf_ts is not None:
            return self.open_conf_ts
        if self.open_req_ts is not None:
            return self.open_req_ts
        return self.first_seen_ts

    @property
    def active_until_ts(self) -> float | None:
        """Until when the session could receive events: its CLOSE_REQ or the end of the
        TCP connection, whichever came first (None = until the capture ended)."""
        ends = [t for t in (self.close_req_ts, self.tcp_end_ts) if t is not None]
        return min(ends) if ends else None

    def active_at(self, ts: float) -> bool:
        """Whether the session was open (able to receive events) at ``ts``."""
        start = self.active_from_ts
        if start is None or ts < start:
            return False
        end = self.active_until_ts
        return end is None or ts <= end

    @property
    def standby(self) -> bool:
        """Opened on a standby CTI Server (OPEN_CONF SessionType STANDBY, v24+)."""
        return self.session_type == "STANDBY"

    def to_json(self) -> dict[str, Any]:
        """The ``ctidissect sessions --json`` object (the keys of the issue, then ``side``,
        ``role_source`` and ``agent_id``)."""
        return {
            "conn": self.conn,
            "role": self.role,
            "client_id": self.client_id,
            "protocol_version": self.protocol_version,
            "services_granted": self.services_granted_names if self.services_granted is not None else None,
            "opened_ts": self.opened_ts,
            "closed_ts": self.closed_ts,
            "end_reason": self.end_reason,
            "heartbeat_interval_s": self.heartbeat_interval_s,
            "missed_heartbeats": self.missed_heartbeats,
            "side": self.side,
            "role_source": self.role_source,
            "agent_id": self.agent_id,
        }


def _first_known(*values: float | None) -> float | None:
    """The first value that is not None."""
    return next((v for v in values if v is not None), None)


def _text(value: Any) -> str | None:
    """A floating string value, None when absent or empty."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = str(value)
    return value or None


class SessionTracker:
    """Builds :class:`Session` objects from a record stream.

    Call :meth:`feed` for every record in capture order, :meth:`on_pair` for every resolved
    pair (open status, heartbeats), then :meth:`finish` once at capture end.  Memory: one
    Session per connection plus its heartbeat gaps.
    """

    def __init__(self, config: AnalysisConfig | None = None) -> None:
        self.config = config or AnalysisConfig()
        self.sessions: list[Session] = []
        self._current: dict[str, Session] = {}
        # (ClientAddress, ClientPort) -> CLIENT_SESSION_OPENED_EVENT data (client monitor).
        self._announced: dict[tuple[str, int], dict[str, Any]] = {}
        self.capture_end_ts: float | None = None
        self._finished = False

    # -- lookups -----------------------------------------------------------------------

    def current(self, conn: str) -> Session | None:
        """The latest session on ``conn`` (None if none was seen)."""
        return self._current.get(conn)

    def refresh(self, session: Session) -> None:
        """Recompute a session's role from what is known now (used before fan-out checks)."""
        self._apply_announcement(session)
        self._derive_role(session)

    # -- feeding -------------------------------------------------------------------------

    def _new(self, conn: str) -> Session:
        c_ip, c_port, s_ip, s_port = split_conn(conn)
        s = Session(
            conn=conn,
            client=f"{c_ip}:{c_port}" if c_ip is not None else None,
            server=f"{s_ip}:{s_port}" if s_ip is not None else None,
            server_port=s_port,
            side=self.config.side_of(s_port),
        )
        self.sessions.append(s)
        self._current[conn] = s
        return s

    def _session_for(self, conn: str) -> Session:
        s = self._current.get(conn)
        return s if s is not None else self._new(conn)

    @staticmethod
    def _touch(s: Session, ts: float | None, frame: int | None) -> None:
        if ts is not None:
            if s.first_seen_ts is None or ts < s.first_seen_ts:
                s.first_seen_ts = ts
            if s.last_seen_ts is None or ts > s.last_seen_ts:
                s.last_seen_ts = ts
        if frame is not None:
            if s.first_frame is None:
                s.first_frame = frame
            s.last_frame = frame

    def feed(self, record: Message | ConnectionEvent) -> Session | None:
        """Consume one record; return the session it belongs to (None if it has no conn)."""
        if isinstance(record, ConnectionEvent):
            return self._connection_event(record)
        msg = record
        if msg.ts is not None and (self.capture_end_ts is None or msg.ts > self.capture_end_ts):
            self.capture_end_ts = msg.ts
        if msg.conn is None:
            return None
        s = self._current.get(msg.conn)
        if s is None or (msg.name == "OPEN_REQ" and self._reopened(s)):
            s = self._new(msg.conn)
        self._touch(s, msg.ts, msg.frame)
        if msg.type is None:
            s.anomaly_records += 1
            return s
        if s.protocol_version is None:
            s.protocol_version = msg.version
            # The capture reader says how it chose the version (inferred / assumed).
            s.version_source = msg.extra.get("version_source") or "decoder"
        if msg.direction == "c2s":
            self._client_message(s, msg)
        elif msg.direction == "s2c":
            self._server_message(s, msg)
        return s

    @staticmethod
    def _reopened(s: Session) -> bool:
        """Whether an OPEN_REQ on this connection starts a new session (the previous one
        was closed, its open failed, or its TCP connection ended)."""
        if s.open_req_ts is None:
            return False
        return s.close_req_ts is not None or s.open_status == "failed" or s.tcp_end_ts is not None

    def _client_message(self, s: Session, msg: Message) -> None:
        s.messages_c2s += 1
        ts = msg.ts
        if ts is not None:
            # Client silences count from the first heartbeat on (before it the client may
            # not have started its heartbeat timer).
            if s.heartbeat_ts and s.last_c2s_ts is not None:
                s.c2s_gaps.append(ts - s.last_c2s_ts)
            s.last_c2s_ts = ts
        name = msg.name
        if name == "HEARTBEAT_REQ":
            s.heartbeats += 1
            if ts is not None:
                s.heartbeat_ts.append(ts)
        elif name == "OPEN_REQ":
            self._open_req(s, msg)
        elif name == "CLOSE_REQ":
            if s.close_req_ts is None:
                s.close_req_ts = ts
        elif name in _SUPERVISOR_REQUESTS:
            s.evidence.add(SUPERVISOR_ROLE)
        elif name in _MONITOR_REQUESTS:
            s.evidence.add(MONITOR)
        else:
            cat = MESSAGES_BY_NAME.get(name)
            if cat is not None and cat.control:
                s.evidence.add(AGENT)

    def _open_req(self, s: Session, msg: Message) -> None:
        f = msg.fields
        s.open_req_frame = msg.frame
        s.open_req_ts = msg.ts
        if "VersionNumber" in f:
            s.protocol_version = f["VersionNumber"]
            s.version_source = "open_req"
        if "IdleTimeout" in f:
            if f["IdleTimeout"] == NO_IDLE_TIMEOUT:
                s.no_heartbeats = True
                s.idle_timeout_s = None
            else:
                s.idle_timeout_s = float(f["IdleTimeout"])
        periph = f.get("PeripheralID")
        s.peripheral_id = None if periph in (None, NULL_PERIPHERAL_ID) else periph
        s.services_requested = f.get("ServicesRequested")
        s.client_id = _text(msg.get("CLIENT_ID"))
        # ClientSignature defaults to ClientID (5.1).
        s.client_signature = _text(msg.get("CLIENT_SIGNATURE")) or s.client_id
        s.agent_extension = _text(msg.get("AGENT_EXTENSION"))
        s.agent_id = _text(msg.get("AGENT_ID"))
        s.agent_instrument = _text(msg.get("AGENT_INSTRUMENT"))
        if s.open_status is None:
            s.open_status = UNANSWERED
        self._derive_role(s)

    def _server_message(self, s: Session, msg: Message) -> None:
        s.messages_s2c += 1
        name = msg.name
        if name == "OPEN_CONF":
            f = msg.fields
            s.open_conf_ts = msg.ts
            s.services_granted = f.get("ServicesGranted")
            if "SessionType" in f:
                s.session_type = ENUMS["SessionType"].label(f["SessionType"]) or str(f["SessionType"])
            # OPEN_CONF repeats the agent identifiers of a signed-in CLIENT_EVENTS agent.
            s.agent_extension = _text(msg.get("AGENT_EXTENSION")) or s.agent_extension
            s.agent_id = _text(msg.get("AGENT_ID")) or s.agent_id
            s.agent_instrument = _text(msg.get("AGENT_INSTRUMENT")) or s.agent_instrument
            s.open_status = "ok"
            self._derive_role(s)
            return
        if name == "CLOSE_CONF":
            s.close_conf_ts = msg.ts
            return
        if name == "CLIENT_SESSION_OPENED_EVENT":
            self._announce(msg)
        if name == "AGENT_STATE_EVENT":
            sid = msg.fields.get("SessionID")
            agent = _text(msg.get("AGENT_ID"))
            if sid and s.session_id is None and agent is not None and agent == s.agent_id:
                s.session_id = sid
        # Role evidence for sessions captured mid-way (section 7.3 / 7.4).
        if name == "EMERGENCY_CALL_EVENT":
            s.evidence.add(BRIDGE)
        elif name == "AGENT_TEAM_CONFIG_EVENT":
            s.evidence.add(SUPERVISOR_ROLE)
        elif name in _MONITOR_EVENTS:
            s.evidence.add(MONITOR)
        else:
            cat = MESSAGES_BY_NAME.get(name)
            if cat is not None and cat.kind == EVENT and "MonitorID" in msg.fields:
                s.evidence.add(BRIDGE if msg.fields["MonitorID"] == 0 else AGENT)
        if s.role_source is None:
            self._derive_role(s)

    def _announce(self, msg: Message) -> None:
        """Remember a CLIENT_SESSION_OPENED_EVENT: it describes the session of
        ClientAddress:ClientPort (identity, SessionID, granted services)."""
        addr = _text(msg.get("CLIENT_ADDRESS"))
        port = msg.fields.get("ClientPort")
        if addr is None or port is None:
            return
        periph = msg.fields.get("PeripheralID")
        self._announced[(addr, port)] = {
            "session_id": msg.fields.get("SessionID"),
            "peripheral_id": None if periph in (None, NULL_PERIPHERAL_ID) else periph,
            "services_granted": msg.fields.get("ServicesGranted"),
            "client_id": _text(msg.get("CLIENT_ID")),
            "client_signature": _text(msg.get("CLIENT_SIGNATURE")),
            "agent_extension": _text(msg.get("AGENT_EXTENSION")),
            "agent_id": _text(msg.get("AGENT_ID")),
            "agent_instrument": _text(msg.get("AGENT_INSTRUMENT")),
        }
        c_ip_port = f"{addr}:{port}"
        for s in self.sessions:
            if s.client == c_ip_port:
                self._apply_announcement(s)

    def _apply_announcement(self, s: Session) -> None:
        c_ip, c_port, _, _ = split_conn(s.conn)
        if c_ip is None:
            return
        info = self._announced.get((c_ip, c_port))
        if info is None:
            return
        if s.session_id is None:
            s.session_id = info["session_id"]
        if s.open_req_ts is not None:
            return  # the session's own OPEN_REQ/OPEN_CONF are authoritative
        for key in ("client_id", "client_signature", "agent_extension", "agent_id", "agent_instrument", "peripheral_id"):
            if getattr(s, key) is None and info[key] is not None:
                setattr(s, key, info[key])
        if s.services_granted is None and info["services_granted"] is not None:
            s.services_granted = info["services_granted"]
        self._derive_role(s)

    def _derive_role(self, s: Session) -> None:
        if s.open_conf_ts is not None and s.services_granted is not None:
            s.role = role_from_services(s.services_granted, s.client_id, s.client_signature, self.config)
            s.role_source = "open_conf"
        elif s.open_req_ts is not None and s.services_requested is not None:
            s.role = role_from_services(s.services_requested, s.client_id, s.client_signature, self.config)
            s.role_source = "open_req"
        elif s.services_granted is not None:
            s.role = role_from_services(s.services_granted, s.client_id, s.client_signature, self.config)
            s.role_source = "client_monitor"
        else:
            for role in _INFERENCE_ORDER:
                if role in s.evidence:
                    if role == BRIDGE and self.config.is_recording_client(s.client_id, s.client_signature):
                        role = RECORDING
                    s.role = role
                    s.role_source = "inferred"
                    break
            else:
                s.role = UNKNOWN
                s.role_source = None

    def _connection_event(self, ev: ConnectionEvent) -> Session | None:
        if self.capture_end_ts is None or ev.ts > self.capture_end_ts:
            self.capture_end_ts = ev.ts
        s = self._current.get(ev.conn)
        if ev.kind == CONN_OPEN:
            if s is None or (ev.syn_seen and (s.tcp_end_ts is not None or s.messages_c2s or s.messages_s2c)):
                s = self._new(ev.conn)
            s.syn_seen = ev.syn_seen
            self._touch(s, ev.ts, ev.frame)
            return s
        if s is None:
            s = self._new(ev.conn)
            s.syn_seen = ev.syn_seen
        if ev.kind in (CONN_FIN, CONN_RST, CONN_REPLACED):
            self._touch(s, ev.ts, ev.frame)
            if s.tcp_end_ts is None:
                s.tcp_end_kind = ev.kind
                s.tcp_end_ts = ev.ts
                s.tcp_end_direction = ev.direction
        elif ev.kind == CONN_CAPTURE_END:
            pass  # still open at capture end: nothing to record beyond the time
        return s

    def on_pair(self, pair: Pair) -> None:
        """Take note of a resolved pair (open outcome, unanswered heartbeats)."""
        if pair.conn is None or pair.request is None:
            return
        s = self._current.get(pair.conn)
        if s is None:
            return
        if pair.request == "OPEN_REQ" and pair.request_frame == s.open_req_frame:
            if pair.response == "OPEN_CONF":
                s.open_status = "ok"
            elif pair.response is not None:
                s.open_status = "failed"
                s.open_failure = pair.failure
            else:
                s.open_status = UNANSWERED
        elif pair.request == "HEARTBEAT_REQ" and pair.response != "HEARTBEAT_CONF":
            s.heartbeats_unanswered += 1

    # -- end -------------------------------------------------------------------------------

    def finish(self, end_ts: float | None = None) -> list[Session]:
        """Finish every session at capture end (``end_ts``, default the latest time seen)
        and return them in order of first appearance."""
        end = end_ts if end_ts is not None else self.capture_end_ts
        for s in self.sessions:
            self._apply_announcement(s)
            self._derive_role(s)
            self._finish_one(s, end)
        self._finished = True
        return list(self.sessions)

    def _finish_one(self, s: Session, capture_end: float | None) -> None:
        s.opened_ts = s.open_req_ts if s.open_req_ts is not None else s.first_seen_ts
        if s.close_req_ts is not None:
            s.end_reason = END_CLOSE
            s.end_by = "client"
            s.closed_ts = _first_known(s.tcp_end_ts, s.close_conf_ts, s.close_req_ts)
        elif s.tcp_end_kind is not None:
            s.closed_ts = s.tcp_end_ts
            by_server = s.tcp_end_direction == "s2c"
            s.end_by = {"s2c": "server", "c2s": "client"}.get(s.tcp_end_direction or "")
            s.end_reason = s.tcp_end_kind
            if s.tcp_end_kind != END_REPLACED and (by_server or s.tcp_end_direction is None):
                silent_since = s.last_c2s_ts if s.last_c2s_ts is not None else s.active_from_ts
                if (
                    s.idle_timeout_s is not None
                    and silent_since is not None
                    and s.tcp_end_ts - silent_since >= s.idle_timeout_s - self.config.idle_tolerance_s
                ):
                    s.end_reason = END_IDLE_TIMEOUT
                    s.end_by = "server"
        else:
            s.end_reason = END_CAPTURE
            s.closed_ts = None
        self._heartbeats(s)

    def _heartbeats(self, s: Session) -> None:
        hb = s.heartbeat_ts
        if len(hb) >= 2:
            gaps = [b - a for a, b in zip(hb, hb[1:])]
            s.heartbeat_interval_s = round(statistics.median(gaps), MICROSECOND_DIGITS)
        interval = s.heartbeat_interval_s
        missed = 0
        if interval:
            # Between two client messages the later one is itself the (late) heartbeat:
            # a gap of n intervals lacks n - 1 heartbeats (rounded, to absorb jitter).
            for gap in s.c2s_gaps:
                missed += max(0, int(gap / interval + 0.5) - 1)
            # Up to a server-side close (idle timeout, server FIN/RST) every heartbeat that
            # fell due is missing; a close the client started is not a missed heartbeat.
            if s.end_by == "server" and s.closed_ts is not None and s.last_c2s_ts is not None:
                missed += int((s.closed_ts - s.last_c2s_ts) / interval)
            if s.idle_timeout_s is not None:
                s.idle_timeout_ratio = round(s.idle_timeout_s / interval, 3)
        s.heartbeat_gaps_missed = missed
        s.missed_heartbeats = missed + s.heartbeats_unanswered
