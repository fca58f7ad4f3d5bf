"""A sans-IO CTI Server (GED-188 server side) for one simulated peripheral gateway with a
side A and a side B.

The server never touches a socket or a clock.  A driver feeds it bytes received on a
connection at protocol time *t* (seconds) with :meth:`CtiServer.data_received`, then calls
:meth:`CtiServer.collect` to get the :class:`~.agenda.Send` / :class:`~.agenda.Close` /
:class:`SideState` actions due by *t*, and asks :meth:`CtiServer.next_wakeup` when to call
``collect`` again (idle timeouts, latencies, far-end answers, traffic, faults).  Two drivers
exist: real asyncio sockets (:mod:`.sockets`) and the discrete-event engine with a virtual
clock (:mod:`.engine`).

Every message is encoded with the catalogue codec in the floating format the client chose
with OPEN_REQ.VersionNumber: 1+1-byte tag/length up to v19, 2+2 from v20 (GED-188 3.1).
Choices where GED-188 is silent are marked "Choice:" in comments and listed in
docs/simulator.md.
"""

from __future__ import annotations

import random
import struct
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..catalogue import MESSAGES_BY_TYPE, REQUEST
from ..catalogue.schema import INDICATION
from ..catalogue.versions import HEADER_SIZE, WIDE_FLOATING_SINCE, max_body_length
from ..wire import decode_body
from .agenda import Action, Agenda, Close, Send
from .callmodel import Agent, Call, Party, Session, Team
from .config import AgentConfig, FaultSpec, ScheduledCall, SimulatorConfig
from .enum_values import (
    AGENT_FLAGS,
    AGENT_STATE,
    CALL_MSG_MASK,
    CALL_TYPE,
    CONNECTION_ID_TYPE,
    CONTROL_FAILURE,
    DEVICE_ID_TYPE,
    EVENT_CAUSE,
    KNOWN_SERVICE_BITS,
    LCS,
    LINE_TYPE,
    NULL_ID,
    SERVICE,
    SESSION_TYPE,
    STATUS,
    SUPERVISORY_ACTION,
    SYSTEM_EVENT,
    agent_state_mask_bit,
)
from .versioned import encode_for

_HEADER = struct.Struct(">II")
_UINT = struct.Struct(">I")

CLIENT_EVENTS = SERVICE["CTI_SERVICE_CLIENT_EVENTS"]
ALL_EVENTS = SERVICE["CTI_SERVICE_ALL_EVENTS"]
CLIENT_CONTROL = SERVICE["CTI_SERVICE_CLIENT_CONTROL"]
CALL_DATA_UPDATE = SERVICE["CTI_SERVICE_CALL_DATA_UPDATE"]
SUPERVISOR = SERVICE["CTI_SERVICE_SUPERVISOR"]
STATE_CONTROL_ONLY = SERVICE["CTI_AGENT_STATE_CONTROL_ONLY"]
NO_IDLE_TIMEOUT = 0xFFFFFFFF
MIN_IDLE_TIMEOUT = 20  # seconds (5.1: < 20 -> E_CTI_INVALID_TIMEOUT)

STATIC = CONNECTION_ID_TYPE["CONNECTION_ID_STATIC"]
DEVID = DEVICE_ID_TYPE["DEVID_DEVICE_IDENTIFIER"]
DEVID_EXTERNAL = DEVICE_ID_TYPE["DEVID_EXTERNAL"]
DEVID_NONE = DEVICE_ID_TYPE["DEVID_NONE"]
CEC_NONE = EVENT_CAUSE["CEC_NONE"]

# Anomalies of the request decoder that make a request unusable, and the status sent back.
_DECODE_FAILURES = {
    "fixed.short": "E_CTI_INVALID_MESSAGE_LENGTH",
    "float.overrun": "E_CTI_BAD_MESSAGE_FORMAT",
    "float.truncated_header": "E_CTI_BAD_MESSAGE_FORMAT",
    "float.bad_length": "E_CTI_INVALID_FIELD_LENGTH",
    "float.too_long": "E_CTI_INVALID_FIELD_LENGTH",
    "float.bad_value": "E_CTI_BAD_MESSAGE_FORMAT",
    "float.unknown_tag": "E_CTI_INVALID_FIELD_TAG",
}


@dataclass(slots=True)
class SideState:
    """Action: start (``up``) or stop accepting connections on ``side`` ("A"/"B")."""

    side: str
    up: bool


@dataclass
class _Reply:
    """Where the outputs of the request being handled go, and the faults that touch them."""

    session: Session
    request: str
    invoke_id: int
    at: float
    conf_delay: float = 0.0
    drop_conf: bool = False
    fail_code: str | None = None
    skip_recipients: set[str] = field(default_factory=set)
    close_after: bool = False
    close_abort: bool = False


@dataclass
class _FaultState:
    spec: FaultSpec
    matches: int = 0

    def hit(self) -> bool:
        """Count one matching request; True when this occurrence is faulted."""
        self.matches += 1
        first = self.spec.count
        return self.matches >= first and (self.spec.times == 0 or self.matches < first + self.spec.times)


class CtiServer:
    """The simulated CTI Server of one peripheral gateway (both sides share its state).

    ``log`` records every message in and out as ``(time s, conn, "in"/"out", name,
    InvokeID or None)`` when ``keep_log`` is true; ``stats`` counts messages by name and the
    faults applied (see :meth:`summary`)."""

    def __init__(self, config: SimulatorConfig | None = None, *, keep_log: bool = False) -> None:
        self.config = config or SimulatorConfig.default()
        self.rng = random.Random(self.config.seed)
        self.agenda = Agenda()
        self.sessions: dict[int, Session] = {}
        self.side_up = {"A": True, "B": True}
        self.peripherals = {p.id: p for p in self.config.peripherals}
        self.agents: dict[tuple[int, str], Agent] = {}
        self.teams: dict[int, Team] = {}
        self.calls: dict[int, Call] = {}
        self.queue: list[Call] = []
        self.started_at: float | None = None
        self.failover_happened = False
        self.received: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.faults_applied: list[dict[str, Any]] = []
        self.keep_log = keep_log
        self.log: list[tuple[float, int, str, str, int | None]] = []
        self._faults = [_FaultState(f) for f in self.config.faults]
        self._next_session_id = 1
        self._next_monitor_id = 1
        self._next_call_id = 1_000_001
        self._reply: _Reply | None = None
        self._out_at = 0.0
        for a in self.config.agents:
            self.agents[(a.peripheral, a.agent_id)] = Agent(a)
        for t in self.config.teams:
            team = Team(t.id, t.name, t.peripheral)
            for sup in t.supervisors:
                agent = self.agents[(t.peripheral, sup)]
                team.supervisors.append(agent)
                if agent.team is None:
                    agent.team = team
            for member in t.members:
                agent = self._agent_for_config(t.peripheral, member)
                team.members.append(agent)
                agent.team = team
            self.teams[t.id] = team
        for a in self.agents.values():
            if a.team is None and not a.config.supervisor:
                self._join_default_team(a, notify=False)

    # ------------------------------------------------------------------ driver interface

    def accepting(self, side: str) -> bool:
        """Whether side ``side`` accepts new connections (False while it is down)."""
        return self.side_up.get(side, False)

    def connection_made(self, conn: int, side: str, peer: tuple[str, int], now: float) -> None:
        """A client connected to ``side`` from ``peer`` (ip, port) at ``now`` seconds."""
        sess = Session(conn, side, peer[0], int(peer[1]), now, last_rx=now)
        self.sessions[conn] = sess
        # Before OPEN_REQ the open timeout applies (choice: config.open_timeout seconds).
        sess.idle_timeout = self.config.open_timeout
        self._schedule_idle_check(sess, now + self.config.open_timeout)

    def data_received(self, conn: int, data: bytes, now: float) -> None:
        """Bytes from the client on ``conn`` at ``now`` seconds (any split of frames)."""
        sess = self.sessions.get(conn)
        if sess is None or sess.closing:
            return
        sess.last_rx = now
        sess.buf += data
        buf = sess.buf
        while len(buf) >= HEADER_SIZE and not sess.closing:
            # Before the open the v20+ limit applies; after it, the session version's.
            limit = max_body_length(sess.version if sess.opened and sess.version else WIDE_FLOATING_SINCE)
            length, mtype = _HEADER.unpack_from(buf, 0)
            if length > limit:
                # Framing is lost: nothing after this header can be trusted.  Answer once and
                # close the connection (7.2: the client resets and reopens).
                invoke = _UINT.unpack_from(buf, HEADER_SIZE)[0] if len(buf) >= HEADER_SIZE + 4 else 0
                self._out_at = now
                self._failure(sess, invoke, "E_CTI_INVALID_MESSAGE_LENGTH")
                self._close(sess, abort=False, at=now)
                buf.clear()
                return
            end = HEADER_SIZE + length
            if len(buf) < end:
                break
            frame = bytes(buf[:end])
            del buf[:end]
            self._handle_frame(sess, mtype, frame, now)

    def connection_lost(self, conn: int, now: float) -> None:
        """The client closed or reset ``conn`` (or the driver closed it) at ``now`` seconds."""
        sess = self.sessions.pop(conn, None)
        if sess is not None:
            sess.closing = True

    def collect(self, now: float) -> list[Action | SideState]:
        """Run what is due by ``now`` seconds; returns the actions for the driver, in order."""
        actions = self.agenda.collect(now)
        out: list[Action | SideState] = []
        for act in actions:
            if isinstance(act, Send):
                sess = self.sessions.get(act.conn)
                if sess is None:
                    continue
            out.append(act)
        return out

    def next_wakeup(self) -> float | None:
        """Protocol time (seconds) at which :meth:`collect` has something to do."""
        return self.agenda.next_time()

    def summary(self) -> dict[str, Any]:
        """Counts of messages received and sent by name, and the faults applied."""
        return {
            "received": dict(sorted(self.received.items())),
            "sent": dict(sorted(self.sent.items())),
            "faults_applied": list(self.faults_applied),
        }

    def take_side_down(self, side: str, now: float, graceful: bool = True) -> None:
        """Side ``side`` fails at ``now``: every connection on it is closed (after a
        FAILURE_EVENT E_CTI_CTI_SERVER_OFFLINE when ``graceful``, else reset) and it stops
        accepting connections; clients reconnect to the other side."""
        self.side_up[side] = False
        self.failover_happened = True
        self.agenda.emit_at(now, SideState(side, False))
        self._out_at = now
        for sess in sorted(self.sessions.values(), key=lambda s: s.conn):
            if sess.side != side or sess.closing:
                continue
            if graceful:
                self._send(sess, "FAILURE_EVENT", {"Status": STATUS["E_CTI_CTI_SERVER_OFFLINE"]})
            self._close(sess, abort=not graceful, at=now)
        self.faults_applied.append({"t": round(now, 6), "kind": "side_down", "side": side})

    def bring_side_up(self, side: str, now: float) -> None:
        """Side ``side`` accepts connections again from ``now``."""
        self.side_up[side] = True
        self.agenda.emit_at(now, SideState(side, True))
        self.faults_applied.append({"t": round(now, 6), "kind": "side_up", "side": side})

    # ------------------------------------------------------------------ encoding

    def encode(self, name: str, fields: dict[str, int], floats: Iterable[tuple[str, Any]], version: int) -> bytes:
        """Frame ``name`` for a session of protocol ``version`` (see :func:`encode_for`)."""
        return encode_for(name, fields, floats, version)

    def _send(self, sess: Session, name: str, fields: dict[str, int], floats: Iterable[tuple[str, Any]] = (),
              *, at: float | None = None) -> None:
        if sess.closing:
            return
        data = self.encode(name, fields, floats, sess.version or 24)
        when = self._out_at if at is None else at
        self.agenda.emit_at(when, Send(sess.conn, data))
        self.sent[name] += 1
        if self.keep_log:
            self.log.append((when, sess.conn, "out", name, fields.get("InvokeID")))

    def _close(self, sess: Session, *, abort: bool, at: float) -> None:
        if sess.closing:
            return
        sess.closing = True
        self.agenda.emit_at(at, Close(sess.conn, abort))

    def _failure(self, sess: Session, invoke: int, status: str) -> None:
        """FAILURE_CONF with Status ``status`` (a StatusCode name) to ``sess``."""
        self._send(sess, "FAILURE_CONF", {"InvokeID": invoke, "Status": STATUS[status]})

    def _control_failure(self, sess: Session, invoke: int, code: str, peripheral_error: int = 0) -> None:
        """CONTROL_FAILURE_CONF with FailureCode ``code`` (a ControlFailureCode name)."""
        self._send(
            sess,
            "CONTROL_FAILURE_CONF",
            {"InvokeID": invoke, "FailureCode": CONTROL_FAILURE[code], "PeripheralErrorCode": peripheral_error},
        )

    def _conf(self, name: str, fields: dict[str, int], floats: Iterable[tuple[str, Any]] = ()) -> None:
        """The positive confirmation of the request being handled, with its faults applied."""
        r = self._reply
        assert r is not None
        if r.drop_conf:
            return
        self._send(r.session, name, {"InvokeID": r.invoke_id, **fields}, floats, at=r.at + r.conf_delay)

    def _reject(self, status: str) -> None:
        """FAILURE_CONF for the request being handled (session-level problem, 7.5)."""
        r = self._reply
        assert r is not None
        if not r.drop_conf:
            self._send(r.session, "FAILURE_CONF", {"InvokeID": r.invoke_id, "Status": STATUS[status]},
                       at=r.at + r.conf_delay)

    def _control_reject(self, code: str) -> None:
        """CONTROL_FAILURE_CONF for the client-control request being handled."""
        r = self._reply
        assert r is not None
        if not r.drop_conf:
            self._send(
                r.session,
                "CONTROL_FAILURE_CONF",
                {"InvokeID": r.invoke_id, "FailureCode": CONTROL_FAILURE[code], "PeripheralErrorCode": 0},
                at=r.at + r.conf_delay,
            )

    # ------------------------------------------------------------------ timers

    def _schedule_idle_check(self, sess: Session, at: float) -> None:
        if sess.idle_check_at is not None and sess.idle_check_at <= at:
            return
        sess.idle_check_at = at
        conn = sess.conn

        def check(now: float) -> None:
            s = self.sessions.get(conn)
            if s is None or s.closing or s.idle_check_at != at:
                return
            s.idle_check_at = None
            if s.idle_timeout is None:
                return
            deadline = s.last_rx + s.idle_timeout
            if now >= deadline - 1e-9:
                # 7.2: nothing (not even a heartbeat) for IdleTimeout seconds -> the server
                # resets the connection.
                self._out_at = now
                self._close(s, abort=True, at=now)
                self.faults_applied.append(
                    {"t": round(now, 6), "kind": "idle_timeout_close", "client": s.client_id or None}
                )
            else:
                self._schedule_idle_check(s, deadline)

        self.agenda.call_at(at, check)

    def _start_clock(self, now: float) -> None:
        """The first OPEN_CONF starts the scenario clock: scheduled calls, time-triggered
        faults and synthetic traffic count from here."""
        if self.started_at is not None:
            return
        self.started_at = now
        for call in self.config.calls:
            self.agenda.call_at(now + call.at, lambda t, c=call: self._scheduled_call(c, t))
        for fs in self._faults:
            spec = fs.spec
            if spec.at is None or spec.on is not None:
                continue
            self.agenda.call_at(now + spec.at, lambda t, s=spec: self._timed_fault(s, t))
        if self.config.traffic.calls_per_minute > 0:
            self._schedule_arrival(now)

    def _timed_fault(self, spec: FaultSpec, now: float) -> None:
        self._out_at = now
        if spec.kind == "side_down":
            self.take_side_down(spec.side, now, spec.graceful)
        elif spec.kind == "side_up":
            self.bring_side_up(spec.side, now)
        elif spec.kind == "close":
            for sess in sorted(self.sessions.values(), key=lambda s: s.conn):
                if sess.opened and (spec.client is None or sess.client_id == spec.client):
                    self._close(sess, abort=spec.abort, at=now)
                    self.faults_applied.append({"t": round(now, 6), "kind": "close", "client": sess.client_id})

    # ------------------------------------------------------------------ request dispatch

    def _handle_frame(self, sess: Session, mtype: int, frame: bytes, now: float) -> None:
        body_len = len(frame) - HEADER_SIZE
        invoke = _UINT.unpack_from(frame, HEADER_SIZE)[0] if body_len >= 4 else 0
        self._out_at = now
        cat = MESSAGES_BY_TYPE.get(mtype)
        if cat is None:
            # Choice: an unknown MessageType gets status 2, E_CTI_INVALID_MESSAGE_LENGTH,
            # whose pre-v25 name is E_CTI_INVALID_MESSAGE_TYPE (6.10, 10.11); the session
            # goes on because the length was trustworthy.
            self.received[f"type {mtype}"] += 1
            self._failure(sess, invoke, "E_CTI_INVALID_MESSAGE_LENGTH")
            return
        self.received[cat.name] += 1
        if self.keep_log:
            self.log.append((now, sess.conn, "in", cat.name, invoke if cat.has_invoke_id else None))
        if cat.kind == INDICATION:
            return  # one-way (ARM ..._IND, 281): no reply by definition
        if cat.kind != REQUEST:
            self._failure(sess, invoke, "E_CTI_INVALID_REQUEST_TYPE")
            return
        if cat.name == "OPEN_REQ":
            version = _UINT.unpack_from(frame, HEADER_SIZE + 4)[0] if body_len >= 8 else 0
            decode_version = min(max(version, 1), 255)
        else:
            if not sess.opened:
                self._failure(sess, invoke, "E_CTI_SESSION_NOT_OPEN")
                return
            decode_version = version = sess.version or 24
            if cat.since > version:
                self._failure(sess, invoke, "E_CTI_INVALID_MSG_TYPE_FOR_VERSION")
                return
        msg = decode_body(mtype, frame, decode_version)
        for anomaly in msg.anomalies:
            status = _DECODE_FAILURES.get(anomaly.code)
            if status:
                self._failure(sess, invoke, status)
                return
            if anomaly.code == "layout.unknown":
                self._failure(sess, invoke, "E_CTI_FUNCTION_NOT_AVAILABLE")
                return
        handler = getattr(self, f"_on_{cat.name}", None)
        latency = self.config.latency_for(cat.name).sample(self.rng)
        reply = _Reply(sess, cat.name, invoke, now + latency)
        client_id = sess.client_id or (msg.get("CLIENT_ID") or "" if cat.name == "OPEN_REQ" else "")
        after: list[FaultSpec] = []
        for fs in self._faults:
            spec = fs.spec
            if spec.on != cat.name or (spec.client is not None and spec.client != client_id):
                continue
            if not fs.hit():
                continue
            self.faults_applied.append(
                {"t": round(now, 6), "kind": spec.kind, "on": cat.name, "client": client_id or None,
                 "invoke_id": invoke, **({"recipient": spec.recipient} if spec.recipient else {}),
                 **({"code": spec.code} if spec.code else {}),
                 **({"delay_s": spec.delay} if spec.kind == "delay_conf" else {})}
            )
            if spec.kind in ("drop_conf", "ignore_heartbeats"):
                reply.drop_conf = True
            elif spec.kind == "delay_conf":
                reply.conf_delay += spec.delay
            elif spec.kind == "fail":
                reply.fail_code = spec.code
            elif spec.kind == "skip_fanout" and spec.recipient:
                reply.skip_recipients.add(spec.recipient)
            elif spec.kind == "close":
                reply.close_after = True
                reply.close_abort = spec.abort
            else:
                after.append(spec)
        self._reply = reply
        self._out_at = reply.at
        try:
            if reply.close_after:
                self._close(sess, abort=reply.close_abort, at=reply.at)
            elif reply.fail_code:
                if reply.fail_code in CONTROL_FAILURE:
                    self._control_reject(reply.fail_code)
                else:
                    self._reject(reply.fail_code)
            elif handler is None:
                # A request the simulator does not implement (e.g. CONFERENCE_CALL_REQ).
                self._reject("E_CTI_FUNCTION_NOT_AVAILABLE")
            else:
                handler(sess, msg, now)
        finally:
            self._reply = None
        for spec in after:
            if spec.kind == "side_down":
                self.take_side_down(spec.side, reply.at, spec.graceful)
            elif spec.kind == "side_up":
                self.bring_side_up(spec.side, reply.at)

    # ------------------------------------------------------------------ session management

    def _on_OPEN_REQ(self, sess: Session, msg: Any, now: float) -> None:
        f = msg.fields
        version = f["VersionNumber"]
        if sess.opened:
            self._reject("E_CTI_SESSION_ALREADY_OPEN")
            return
        # The reply to a failed open uses the requested version's format; FAILURE_CONF has
        # no floating part so the bytes are the same either way.
        sess.version = min(max(version, 1), 255)
        if not self.config.min_version <= version <= self.config.max_version:
            self._reject("E_CTI_INVALID_VERSION")
            return
        client_id = msg.get("CLIENT_ID")
        password = msg.get("CLIENT_PASSWORD")
        if not client_id or password is None:
            # 5.1: ClientID and ClientPassword are required; the password may be empty.
            self._reject("E_CTI_REQUIRED_DATA_MISSING")
            return
        idle = f["IdleTimeout"]
        if idle != NO_IDLE_TIMEOUT and idle < MIN_IDLE_TIMEOUT:
            self._reject("E_CTI_INVALID_TIMEOUT")
            return
        if f["Reserved1"] or f["Reserved2"] or f["Reserved3"]:
            self._reject("E_CTI_INVALID_RESERVED_FIELD")
            return
        services = f["ServicesRequested"]
        if services & ~KNOWN_SERVICE_BITS or (services & CLIENT_EVENTS and services & ALL_EVENTS):
            # Unused bits, or CLIENT_EVENTS with ALL_EVENTS (mutually exclusive, 7.3).
            self._reject("E_CTI_INVALID_SERVICE_MASK")
            return
        agent: Agent | None = None
        peripheral = f["PeripheralID"]
        if services & CLIENT_EVENTS:
            if peripheral not in self.peripherals:
                self._reject("E_CTI_INVALID_PERIPHERAL_ID")
                return
            ext, aid, instr = msg.get("AGENT_EXTENSION"), msg.get("AGENT_ID"), msg.get("AGENT_INSTRUMENT")
            if not (ext or aid or instr):
                self._reject("E_CTI_REQUIRED_DATA_MISSING")
                return
            agent = self._find_agent(peripheral, aid, ext, instr)
            if agent is None:
                if not self.config.create_agents:
                    self._reject("E_CTI_INVALID_AGENT_DATA")
                    return
                agent = self._create_agent(peripheral, aid, ext, instr)
            if services & SUPERVISOR and not self._supervised_teams(agent):
                # 7.4: SUPERVISOR needs an agent configured as supervisor of a team.
                self._reject("E_CTI_FUNCTION_NOT_AVAILABLE")
                return
            for other in list(self.sessions.values()):
                if other is sess or not other.opened or other.closing or other.agent is not agent:
                    continue
                if other.client_id != client_id:
                    self._reject("E_CTI_DEVICE_IN_USE")
                    return
                # 7.2: the same client opening again: the old session is told and closed.
                self._send(other, "FAILURE_EVENT", {"Status": STATUS["E_CTI_NEW_SESSION_OPENED"]})
                self._close(other, abort=False, at=self._out_at)
        elif services & SUPERVISOR:
            self._reject("E_CTI_FUNCTION_NOT_AVAILABLE")
            return
        sess.opened = True
        sess.session_id = self._next_session_id
        self._next_session_id += 1
        sess.client_id = client_id
        sess.client_signature = msg.get("CLIENT_SIGNATURE") or client_id
        sess.services = services
        sess.call_mask = f["CallMsgMask"]
        sess.agent_mask = f["AgentStateMask"]
        sess.peripheral_id = peripheral
        sess.agent = agent
        sess.idle_timeout = None if idle == NO_IDLE_TIMEOUT else float(idle)
        sess.idle_check_at = None
        if sess.idle_timeout is not None:
            self._schedule_idle_check(sess, now + sess.idle_timeout)
        if agent is not None:
            sess.monitor_id = self._new_monitor_id()
        pinfo = self.peripherals.get(peripheral) or next(iter(self.peripherals.values()))
        floats: list[tuple[str, Any]] = []
        if agent is not None and agent.logged_in:
            floats += [("AGENT_EXTENSION", agent.extension), ("AGENT_ID", agent.agent_id),
                       ("AGENT_INSTRUMENT", agent.instrument)]
        if sess.version >= 14:
            # v14+: NumPeripherals then one (PeripheralID, MultilineAgentControl) pair each.
            floats.append(("NUM_PERIPHERALS", len(self.peripherals)))
            for p in self.peripherals.values():
                floats += [("PERIPHERAL_ID", p.id), ("MULTI_LINE_AGENT_CONTROL", int(p.multiline))]
        self._conf(
            "OPEN_CONF",
            {
                "ServicesGranted": services,
                "MonitorID": sess.monitor_id,
                "PGStatus": 0,
                "ICMCentralControllerTime": self._ctime(),
                "PeripheralOnline": 1,
                "PeripheralType": pinfo.type,
                # Choice: sessions without CLIENT_EVENTS get AgentState 0 (the field is
                # documented for CLIENT_EVENTS only).
                "AgentState": agent.state if agent is not None else 0,
                "DepartmentID": 0,
                "SessionType": SESSION_TYPE["ACTIVE"],
            },
            floats,
        )
        self._start_clock(now)
        at = self._reply.at + self._reply.conf_delay if self._reply else now
        if services & ALL_EVENTS:
            # 7.2 item 3: one SYSTEM_EVENT per peripheral follows OPEN_CONF.
            for p in self.peripherals.values():
                self._send(
                    sess,
                    "SYSTEM_EVENT",
                    {
                        "PGStatus": 0,
                        "ICMCentralControllerTime": self._ctime(),
                        "SystemEventID": SYSTEM_EVENT["SYS_PERIPHERAL_ONLINE"],
                        "SystemEventArg1": p.id,
                        "SystemEventArg2": 0,
                        "SystemEventArg3": 0,
                        "EventDeviceType": DEVID_NONE,
                    },
                    at=at,
                )
            if self.failover_happened:
                self._replay_calls(sess, at)
        if services & SUPERVISOR and agent is not None:
            for team in self._supervised_teams(agent):
                # ConfigOperation 0 = restore permanent config: the whole team.
                self._team_config_event(sess, team, 0, team_members(team), at=at)

    def _on_HEARTBEAT_REQ(self, sess: Session, msg: Any, now: float) -> None:
        self._conf("HEARTBEAT_CONF", {})

    def _on_CLOSE_REQ(self, sess: Session, msg: Any, now: float) -> None:
        self._conf("CLOSE_CONF", {})
        # 7.2 item 6: after CLOSE_CONF the connection is finished; the server closes its
        # side right after the reply.
        self._close(sess, abort=False, at=self._reply.at + self._reply.conf_delay if self._reply else now)

    def _on_CLIENT_EVENT_REPORT_REQ(self, sess: Session, msg: Any, now: float) -> None:
        self._conf("CLIENT_EVENT_REPORT_CONF", {})

    # ------------------------------------------------------------------ agents

    def _agent_for_config(self, peripheral: int, agent_id: str) -> Agent:
        agent = self.agents.get((peripheral, agent_id))
        if agent is None:
            agent = Agent(AgentConfig(agent_id, agent_id, agent_id, peripheral, int(agent_id) if agent_id.isdigit() else 0))
            self.agents[(peripheral, agent_id)] = agent
        return agent

    def _find_agent(self, peripheral: int, agent_id: str | None, extension: str | None,
                    instrument: str | None) -> Agent | None:
        if agent_id:
            return self.agents.get((peripheral, agent_id))
        for agent in self.agents.values():
            if agent.peripheral != peripheral:
                continue
            if (extension and agent.extension == extension) or (instrument and agent.instrument == instrument):
                return agent
        return None

    def _create_agent(self, peripheral: int, agent_id: str | None, extension: str | None,
                      instrument: str | None) -> Agent:
        """Zero-config: an agent unknown to the configuration is created on the fly."""
        aid = agent_id or extension or instrument or "0"
        ext = extension or instrument or aid
        stid = int(aid) if aid.isdigit() else 5100 + len(self.agents)
        agent = Agent(AgentConfig(aid, ext, instrument or ext, peripheral, stid))
        self.agents[(peripheral, aid)] = agent
        self._join_default_team(agent, notify=True)
        return agent

    def _join_default_team(self, agent: Agent, *, notify: bool) -> None:
        team = next((t for t in self.teams.values() if t.peripheral == agent.peripheral), None)
        if team is None:
            return
        team.members.append(agent)
        agent.team = team
        if notify:
            for sess in self._supervisor_sessions(team):
                self._team_config_event(sess, team, 1, [agent])

    def _agent_from_request(self, sess: Session, msg: Any) -> Agent | None:
        """The agent a request is about: the session's own agent (CLIENT_EVENTS), else the
        agent named by AGENT_ID / AGENT_EXTENSION / AGENT_INSTRUMENT."""
        if sess.agent is not None:
            return sess.agent
        peripheral = msg.fields.get("PeripheralID", sess.peripheral_id)
        return self._find_agent(peripheral, msg.get("AGENT_ID"), msg.get("AGENT_EXTENSION"), msg.get("AGENT_INSTRUMENT"))

    def _supervised_teams(self, agent: Agent) -> list[Team]:
        return [t for t in self.teams.values() if agent in t.supervisors]

    def _supervisor_sessions(self, team: Team) -> list[Session]:
        return [s for s in self._open_sessions() if s.services & SUPERVISOR and s.agent in team.supervisors]

    def _open_sessions(self) -> list[Session]:
        return [s for s in self.sessions.values() if s.opened and not s.closing]

    def _agent_sessions(self, agent: Agent) -> list[Session]:
        return [s for s in self._open_sessions() if s.agent is agent]

    def _set_agent_state(self, agent: Agent, state: int, now: float, reason: int = 0) -> None:
        agent.state = state
        agent.reason_code = reason
        agent.state_since = now
        if state == AGENT_STATE["AVAILABLE"]:
            agent.available_since = now
        self._agent_state_event(agent)
        if state == AGENT_STATE["AVAILABLE"] and self.queue:
            self.agenda.call_at(self._out_at + self.config.traffic.route_delay.sample(self.rng), self._route_queue)

    def _agent_state_event(self, agent: Agent) -> None:
        """AGENT_STATE_EVENT to the agent's sessions (their MonitorID), every ALL_EVENTS
        session (MonitorID 0) and every team monitor covering the agent (its MonitorID)."""
        own = self._agent_sessions(agent)
        session_id = own[0].session_id if own else 0
        signature = own[0].client_signature if own else None
        bit = agent_state_mask_bit(agent.state)
        ncalls = len(agent.state_calls())
        fields = {
            "PeripheralID": agent.peripheral,
            "SessionID": session_id,
            "PeripheralType": self._ptype(agent.peripheral),
            "SkillGroupState": agent.state,
            "StateDuration": 0,
            "SkillGroupNumber": agent.config.skill_group,
            "SkillGroupID": agent.config.skill_group,
            "SkillGroupPriority": 0,
            "AgentState": agent.state,
            "EventReasonCode": agent.reason_code,
            "MRDID": 1,
            "NumTasks": ncalls,
            "AgentMode": 1,
            "MaxTaskLimit": 1,
            "ICMAgentID": agent.config.skill_target_id,
            "AgentAvailabilityStatus": 1 if agent.state == AGENT_STATE["AVAILABLE"] else 0,
            "NumFltSkillGroups": 0,
            "DepartmentID": 0,
        }
        floats = [("CTI_CLIENT_SIGNATURE", signature), ("AGENT_ID", agent.agent_id),
                  ("AGENT_EXTENSION", agent.extension), ("AGENT_INSTRUMENT", agent.instrument)]
        for sess in self._open_sessions():
            if not sess.agent_mask & bit:
                continue
            monitors: list[int] = []
            if sess.agent is agent:
                monitors.append(sess.monitor_id)
            elif sess.services & ALL_EVENTS:
                monitors.append(0)
            if agent.team is not None:
                monitors += [m for m, team_id in sess.team_monitors.items() if team_id == agent.team.id]
            for monitor in monitors:
                self._send(sess, "AGENT_STATE_EVENT", {"MonitorID": monitor, **fields}, floats)

    def _team_config_event(self, sess: Session, team: Team, operation: int, agents: list[Agent],
                           at: float | None = None) -> None:
        floats: list[tuple[str, Any]] = [("AGENT_TEAM_NAME", team.name)]
        for a in agents:
            flags = 0
            if team.supervisors and a is team.supervisors[0]:
                flags |= AGENT_FLAGS["PRIMARY_SUPERVISOR"]
            if a in team.supervisors:
                flags |= AGENT_FLAGS["SUPERVISOR"]
            floats += [("ATC_AGENT_ID", a.agent_id), ("AGENT_FLAGS", flags), ("ATC_AGENT_STATE", a.state),
                       ("ATC_STATE_DURATION", 0)]
        self._send(
            sess,
            "AGENT_TEAM_CONFIG_EVENT",
            {"PeripheralID": team.peripheral, "TeamID": team.id, "NumberOfAgents": len(agents),
             "ConfigOperation": operation, "DepartmentID": 0},
            floats,
            at=at,
        )

    def _on_SET_AGENT_STATE_REQ(self, sess: Session, msg: Any, now: float) -> None:
        if not self._service_and_peripheral(sess, msg, CLIENT_CONTROL | STATE_CONTROL_ONLY):
            return
        f = msg.fields
        agent = self._agent_from_request(sess, msg)
        state = f["AgentState"]
        if agent is None and state == AGENT_STATE["LOGIN"] and msg.get("AGENT_ID") and self.config.create_agents:
            agent = self._create_agent(f["PeripheralID"], msg.get("AGENT_ID"), msg.get("AGENT_EXTENSION"),
                                       msg.get("AGENT_INSTRUMENT"))
        if agent is None:
            self._control_reject("CF_INVALID_AGENT_ID_SPECIFIED")
            return
        if state == AGENT_STATE["LOGIN"]:
            login_id = msg.get("AGENT_ID")
            if not login_id or login_id != agent.agent_id:
                # 5.6: AgentID is required for login and must be the session's agent.
                self._control_reject("CF_INVALID_AGENT_ID_SPECIFIED")
                return
            if agent.logged_in:
                self._control_reject("CF_SPECIFIED_AGENT_ALREADY_SIGNED_ON")
                return
            self._conf("SET_AGENT_STATE_CONF", {})
            # Choice: login shows as LOGIN then NOT_READY (the state UCCE puts a new login in).
            self._set_agent_state(agent, AGENT_STATE["LOGIN"], now)
            agent.ready_state = AGENT_STATE["NOT_READY"]
            self._set_agent_state(agent, AGENT_STATE["NOT_READY"], now)
            return
        if not agent.logged_in:
            self._reject("E_CTI_AGENT_NOT_LOGGED_ON")
            return
        if state == AGENT_STATE["LOGOUT"]:
            if agent.state_calls():
                self._control_reject("CF_INVALID_OBJECT_STATE")
                return
            self._conf("SET_AGENT_STATE_CONF", {})
            self._set_agent_state(agent, state, now, f["EventReasonCode"])
            return
        if state not in (AGENT_STATE["NOT_READY"], AGENT_STATE["AVAILABLE"], AGENT_STATE["WORK_NOT_READY"],
                         AGENT_STATE["WORK_READY"]):
            self._control_reject("CF_VALUE_OUT_OF_RANGE")
            return
        self._conf("SET_AGENT_STATE_CONF", {})
        agent.ready_state = state
        if agent.state_calls():
            return  # takes effect when the call ends (pending state)
        self._set_agent_state(agent, state, now, f["EventReasonCode"] if state == AGENT_STATE["NOT_READY"] else 0)

    def _on_QUERY_AGENT_STATE_REQ(self, sess: Session, msg: Any, now: float) -> None:
        if not self._service_and_peripheral(sess, msg, CLIENT_CONTROL | STATE_CONTROL_ONLY):
            return
        f = msg.fields
        agent = None
        icm = f["ICMAgentID"]
        if icm not in (0, -1):
            agent = next((a for a in self.agents.values()
                          if a.peripheral == f["PeripheralID"] and a.config.skill_target_id == icm), None)
        if agent is None:
            named = self._find_agent(f["PeripheralID"], msg.get("AGENT_ID"), msg.get("AGENT_EXTENSION"),
                                     msg.get("AGENT_INSTRUMENT"))
            agent = named or sess.agent
        if agent is None:
            self._control_reject("CF_INVALID_AGENT_ID_SPECIFIED")
            return
        self._conf(
            "QUERY_AGENT_STATE_CONF",
            {
                "AgentState": agent.state,
                "NumSkillGroups": 1,
                "MRDID": 1,
                "NumTasks": len(agent.state_calls()),
                "AgentMode": 1,
                "MaxTaskLimit": 1,
                "ICMAgentID": agent.config.skill_target_id,
                "AgentAvailabilityStatus": 1 if agent.state == AGENT_STATE["AVAILABLE"] else 0,
                "DepartmentID": 0,
            },
            [("AGENT_ID", agent.agent_id), ("AGENT_EXTENSION", agent.extension),
             ("AGENT_INSTRUMENT", agent.instrument), ("SKILL_GROUP_NUMBER", agent.config.skill_group),
             ("SKILL_GROUP_ID", agent.config.skill_group), ("SKILL_GROUP_PRIORITY", 0),
             ("SKILL_GROUP_STATE", agent.state)],
        )

    # ------------------------------------------------------------------ calls: events

    def _ptype(self, peripheral: int) -> int:
        p = self.peripherals.get(peripheral)
        return p.type if p else next(iter(self.peripherals.values())).type

    def _ctime(self) -> int:
        return self.config.epoch + int(self._out_at)

    def _recipients(self, party: Party) -> list[tuple[Session, int]]:
        """(session, MonitorID) pairs that receive events about ``party``'s connection."""
        out = []
        for sess in self._open_sessions():
            if party.agent is not None and sess.agent is party.agent and sess.services & CLIENT_EVENTS:
                out.append((sess, sess.monitor_id))
            elif sess.services & ALL_EVENTS:
                out.append((sess, 0))
        return out

    def _masked(self, sess: Session, name: str) -> bool:
        bit = CALL_MSG_MASK.get(name.removesuffix("_EVENT"), 0)
        return bool(bit) and not sess.call_mask & bit

    def _begin_call(self, call: Call, sess: Session, monitor: int, party: Party) -> None:
        """7.3: BEGIN_CALL_EVENT precedes every other event of a call for a client."""
        call.begun.add(sess.conn)
        if self._masked(sess, "BEGIN_CALL_EVENT"):
            return
        floats: list[tuple[str, Any]] = [("CONNECTION_DEVID", party.device)]
        if call.ani:
            floats.append(("ANI", call.ani))
        if call.dnis:
            floats.append(("DNIS", call.dnis))
        if call.dialed:
            floats.append(("DIALED_NUMBER", call.dialed))
        if call.router_key:
            floats += [("ROUTER_CALL_KEY_DAY", call.router_key[0]), ("ROUTER_CALL_KEY_CALLID", call.router_key[1])]
        floats += [(f"CALL_VAR_{i}", v) for i, v in sorted(call.call_vars.items())]
        self._send(
            sess,
            "BEGIN_CALL_EVENT",
            {"MonitorID": monitor, "PeripheralID": call.peripheral, "PeripheralType": self._ptype(call.peripheral),
             "NumCTIClients": 0, "NumNamedVariables": 0, "NumNamedArrays": 0, "CallType": call.call_type,
             "ConnectionDeviceIDType": STATIC, "ConnectionCallID": call.call_id, "CalledPartyDisposition": 0},
            floats,
        )

    def _call_event(self, call: Call, party: Party, name: str, fields: dict[str, int],
                    floats: list[tuple[str, Any]]) -> None:
        """Event ``name`` about ``party``'s connection of ``call`` to its recipients, each
        preceded by BEGIN_CALL_EVENT the first time that client hears of the call."""
        base = {"PeripheralID": call.peripheral, "PeripheralType": self._ptype(call.peripheral),
                "ConnectionDeviceIDType": STATIC, "ConnectionCallID": call.call_id, **fields}
        all_floats = [("CONNECTION_DEVID", party.device), *floats]
        for sess, monitor in self._recipients(party):
            if sess.conn not in call.begun:
                self._begin_call(call, sess, monitor, party)
            if self._masked(sess, name):
                continue
            self._send(sess, name, {"MonitorID": monitor, **base}, all_floats)

    def _new_call(self, peripheral: int, call_type: int, cause: int = CEC_NONE, **kw: Any) -> Call:
        call = Call(self._next_call_id, peripheral, call_type, cause, **kw)
        self._next_call_id += 1
        self.calls[call.call_id] = call
        return call

    def _delivered(self, call: Call, party: Party, calling: str, calling_type: int) -> None:
        self._call_event(
            call, party, "CALL_DELIVERED_EVENT",
            {"LineHandle": 0, "LineType": LINE_TYPE["INBOUND_ACD"] if call.call_type == CALL_TYPE["CALLTYPE_ACD_IN"]
             else LINE_TYPE["INSIDE"], "ServiceNumber": NULL_ID, "ServiceID": NULL_ID,
             "SkillGroupNumber": party.agent.config.skill_group if party.agent else NULL_ID,
             "SkillGroupID": party.agent.config.skill_group if party.agent else NULL_ID, "SkillGroupPriority": 0,
             "AlertingDeviceType": DEVID, "CallingDeviceType": calling_type, "CalledDeviceType": DEVID,
             "LastRedirectDeviceType": DEVID_NONE, "LocalConnectionState": party.lcs,
             "EventCause": call.cause if call.cause != CEC_NONE else EVENT_CAUSE["CEC_NEW_CALL"],
             "NumNamedVariables": 0, "NumNamedArrays": 0},
            [("ALERTING_DEVID", party.device), ("CALLING_DEVID", calling), ("CALLED_DEVID", party.device),
             ("ANI", call.ani or None), ("DNIS", call.dnis or None), ("DIALED_NUMBER", call.dialed or None),
             *[(f"CALL_VAR_{i}", v) for i, v in sorted(call.call_vars.items())]],
        )

    def _established(self, call: Call, party: Party, answering: str, calling: str, calling_type: int,
                     answering_type: int = DEVID) -> None:
        self._call_event(
            call, party, "CALL_ESTABLISHED_EVENT",
            {"LineHandle": 0, "LineType": LINE_TYPE["INBOUND_ACD"] if call.call_type == CALL_TYPE["CALLTYPE_ACD_IN"]
             else LINE_TYPE["INSIDE"], "ServiceNumber": NULL_ID, "ServiceID": NULL_ID,
             "SkillGroupNumber": party.agent.config.skill_group if party.agent else NULL_ID,
             "SkillGroupID": party.agent.config.skill_group if party.agent else NULL_ID, "SkillGroupPriority": 0,
             "AnsweringDeviceType": answering_type, "CallingDeviceType": calling_type, "CalledDeviceType": answering_type,
             "LastRedirectDeviceType": DEVID_NONE, "LocalConnectionState": party.lcs, "EventCause": call.cause},
            [("ANSWERING_DEVID", answering), ("CALLING_DEVID", calling), ("CALLED_DEVID", answering)],
        )

    def _originated(self, call: Call, party: Party, called: str, called_type: int) -> None:
        common = {"LineHandle": 0, "LineType": LINE_TYPE["OUTBOUND"] if call.call_type == CALL_TYPE["CALLTYPE_AGENT_OUT"]
                  else LINE_TYPE["INSIDE"], "ServiceNumber": NULL_ID, "ServiceID": NULL_ID,
                  "SkillGroupNumber": party.agent.config.skill_group if party.agent else NULL_ID,
                  "SkillGroupID": party.agent.config.skill_group if party.agent else NULL_ID,
                  "SkillGroupPriority": 0, "CallingDeviceType": DEVID, "LocalConnectionState": party.lcs,
                  "EventCause": call.cause}
        self._call_event(call, party, "CALL_SERVICE_INITIATED_EVENT", common, [("CALLING_DEVID", party.device)])
        self._call_event(call, party, "CALL_ORIGINATED_EVENT", {**common, "CalledDeviceType": called_type},
                         [("CALLING_DEVID", party.device), ("CALLED_DEVID", called)])

    def _end_call(self, call: Call, releasing: Party | None, now: float) -> None:
        """Clear every connection of ``call``: CALL_CONNECTION_CLEARED per connection, then
        CALL_CLEARED and END_CALL to every client that heard of the call; agents go back to
        their ready state."""
        if call.ended:
            return
        call.ended = True
        for linked in list(call.linked):
            self._end_call(linked, None, now)
        releasing_device = releasing.device if releasing else (call.parties[0].device if call.parties else "")
        for party in call.parties:
            party.lcs = LCS["LCS_NULL"]
            self._call_event(
                call, party, "CALL_CONNECTION_CLEARED_EVENT",
                {"ReleasingDeviceType": DEVID, "LocalConnectionState": LCS["LCS_NULL"], "EventCause": call.cause},
                [("RELEASING_DEVID", releasing_device)],
            )
        by_conn = {s.conn: s for s in self._open_sessions()}
        for conn in sorted(call.begun):
            sess = by_conn.get(conn)
            if sess is None or not call.parties:
                continue
            party = next((p for p in call.parties if p.agent is not None and p.agent is sess.agent), call.parties[0])
            monitor = sess.monitor_id if sess.agent is not None and party.agent is sess.agent else 0
            base = {"MonitorID": monitor, "PeripheralID": call.peripheral, "PeripheralType": self._ptype(call.peripheral),
                    "ConnectionDeviceIDType": STATIC, "ConnectionCallID": call.call_id}
            if not self._masked(sess, "CALL_CLEARED_EVENT"):
                self._send(sess, "CALL_CLEARED_EVENT",
                           {**base, "LocalConnectionState": LCS["LCS_NULL"], "EventCause": call.cause},
                           [("CONNECTION_DEVID", party.device)])
            if not self._masked(sess, "END_CALL_EVENT"):
                self._send(sess, "END_CALL_EVENT", base, [("CONNECTION_DEVID", party.device)])
        self.calls.pop(call.call_id, None)
        for party in call.parties:
            agent = party.agent
            if agent is None or call not in agent.calls:
                continue
            agent.calls.remove(call)
            if (call.affects_state and not agent.state_calls() and agent.logged_in
                    and agent.state != agent.ready_state):
                self._set_agent_state(agent, agent.ready_state, now)

    def _replay_calls(self, sess: Session, at: float) -> None:
        """7.6: after a failover, an ALL_EVENTS client opening on the surviving side gets
        CALL_DELIVERED / CALL_ESTABLISHED with CEC_CALL_PARTY_UPDATE_IND for live calls."""
        saved = self._out_at
        self._out_at = at
        for call in list(self.calls.values()):
            cause, call.cause = call.cause, EVENT_CAUSE["CEC_CALL_PARTY_UPDATE_IND"]
            for party in call.parties:
                if party.lcs == LCS["LCS_ALERTING"]:
                    self._delivered(call, party, call.ani or party.device, DEVID_EXTERNAL)
                else:
                    self._established(call, party, party.device, call.ani or party.device, DEVID_EXTERNAL)
            call.cause = cause
        self._out_at = saved

    def _attach(self, call: Call, agent: Agent, lcs: int, now: float) -> Party:
        party = Party(agent.extension, agent, lcs)
        call.parties.append(party)
        agent.calls.append(call)
        return party

    # ------------------------------------------------------------------ calls: inbound routing

    def _scheduled_call(self, spec: ScheduledCall, now: float) -> None:
        self._out_at = now
        call = self._inbound_call(spec.peripheral, spec.ani, spec.dnis, dict(spec.call_vars))
        agent = self.agents.get((spec.peripheral, spec.agent)) if spec.agent else None
        if agent is not None and agent.logged_in and not agent.state_calls():
            self._offer(call, agent, now)
        else:
            self._enqueue(call, now)

    def _inbound_call(self, peripheral: int, ani: str, dnis: str, call_vars: dict[int, str]) -> Call:
        call = self._new_call(peripheral, CALL_TYPE["CALLTYPE_ACD_IN"], ani=ani, dnis=dnis, dialed=dnis,
                              call_vars=call_vars)
        call.router_key = (150_000 + int(self._out_at // 86400), call.call_id - 1_000_000)
        return call

    def _schedule_arrival(self, now: float) -> None:
        rate = self.config.traffic.calls_per_minute / 60.0
        at = now + self.rng.expovariate(rate)

        def arrive(t: float) -> None:
            self._out_at = t
            n = self._next_call_id
            ani = f"555{(n % 10000):04d}"
            pid = next(iter(self.peripherals))
            call = self._inbound_call(pid, ani, self.config.traffic.dnis, {1: f"order-{n % 100000:05d}"})
            self._enqueue(call, t)
            self._schedule_arrival(t)

        self.agenda.call_at(at, arrive)

    def _enqueue(self, call: Call, now: float) -> None:
        if len(self.queue) >= self.config.traffic.queue_limit:
            self.calls.pop(call.call_id, None)
            return
        self.queue.append(call)
        self._route_queue(now)

    def _route_queue(self, now: float) -> None:
        self._out_at = now
        while self.queue:
            call = self.queue[0]
            candidates = [a for a in self.agents.values()
                          if a.peripheral == call.peripheral and a.state == AGENT_STATE["AVAILABLE"]
                          and not a.state_calls() and not a.config.supervisor]
            if not candidates:
                return
            agent = min(candidates, key=lambda a: (a.available_since, a.agent_id))
            self.queue.pop(0)
            self._offer(call, agent, now)

    def _offer(self, call: Call, agent: Agent, now: float) -> None:
        """Deliver an inbound ACD call to ``agent`` (agent RESERVED, connection ALERTING)."""
        if agent.state == AGENT_STATE["AVAILABLE"]:
            agent.ready_state = AGENT_STATE["AVAILABLE"]
        party = self._attach(call, agent, LCS["LCS_ALERTING"], now)
        self._delivered(call, party, call.ani, DEVID_EXTERNAL)
        self._set_agent_state(agent, AGENT_STATE["RESERVED"], now)

    # ------------------------------------------------------------------ calls: client control

    def _service_and_peripheral(self, sess: Session, msg: Any, services: int) -> bool:
        """The session has one of ``services`` and the request names a known peripheral;
        otherwise FAILURE_CONF is sent and False returned."""
        if not sess.services & services:
            self._reject("E_CTI_FUNCTION_NOT_AVAILABLE")
            return False
        if msg.fields.get("PeripheralID") not in self.peripherals:
            self._reject("E_CTI_INVALID_PERIPHERAL_ID")
            return False
        return True

    def _control_agent(self, sess: Session, msg: Any) -> Agent | None:
        """Common checks of a client-control request; None when a reply was already sent."""
        if not self._service_and_peripheral(sess, msg, CLIENT_CONTROL):
            return None
        agent = self._agent_from_request(sess, msg)
        if agent is None:
            if sess.agent is None and not (msg.get("AGENT_ID") or msg.get("AGENT_EXTENSION") or msg.get("AGENT_INSTRUMENT")):
                # 5.5: ALL_EVENTS / PERIPHERAL_MONITOR clients must name the agent.
                self._reject("E_CTI_REQUIRED_DATA_MISSING")
            else:
                self._control_reject("CF_INVALID_AGENT_ID_SPECIFIED")
            return None
        if not agent.logged_in:
            self._reject("E_CTI_AGENT_NOT_LOGGED_ON")
            return None
        return agent

    def _on_MAKE_CALL_REQ(self, sess: Session, msg: Any, now: float) -> None:
        agent = self._control_agent(sess, msg)
        if agent is None:
            return
        dialed = msg.get("DIALED_NUMBER")
        if not dialed:
            self._control_reject("CF_INVALID_CALLED_DEVICE")
            return
        if agent.state_calls():
            self._control_reject("CF_INVALID_OBJECT_STATE")
            return
        call = self._new_call(agent.peripheral, CALL_TYPE["CALLTYPE_AGENT_OUT"], dialed=dialed, dnis=dialed)
        call.call_vars = {i: v for i in range(1, 11) if (v := msg.get(f"CALL_VAR_{i}"))}
        agent.ready_state = agent.state
        party = self._attach(call, agent, LCS["LCS_INITIATE"], now)
        self._conf("MAKE_CALL_CONF", {"NewConnectionCallID": call.call_id, "NewConnectionDeviceIDType": STATIC,
                                      "LineHandle": 0, "LineType": LINE_TYPE["OUTBOUND"]},
                   [("NEW_CONNECTION_DEVID", party.device)])
        self._originated(call, party, dialed, DEVID_EXTERNAL)
        self._set_agent_state(agent, AGENT_STATE["TALKING"], now)
        ring = self._out_at + 0.3
        answer = ring + self.config.traffic.answer_time.sample(self.rng)

        def far_end_rings(t: float) -> None:
            if call.ended:
                return
            self._out_at = t
            party.lcs = LCS["LCS_CONNECT"]
            self._delivered(call, party, party.device, DEVID)

        def far_end_answers(t: float) -> None:
            if call.ended:
                return
            self._out_at = t
            self._established(call, party, dialed, party.device, DEVID, DEVID_EXTERNAL)

        self.agenda.call_at(ring, far_end_rings)
        self.agenda.call_at(answer, far_end_answers)

    def _find_agent_call(self, agent: Agent, call_id: int, lcs: int | None = None) -> tuple[Call, Party] | None:
        for call in agent.calls:
            if call_id != NULL_ID and call.call_id != call_id:
                continue
            party = call.party_of(agent)
            if party is not None and (lcs is None or party.lcs == lcs):
                return call, party
        return None

    def _on_ANSWER_CALL_REQ(self, sess: Session, msg: Any, now: float) -> None:
        agent = self._control_agent(sess, msg)
        if agent is None:
            return
        call_id = msg.fields["ConnectionCallID"]
        found = self._find_agent_call(agent, call_id, LCS["LCS_ALERTING"])
        if found is None:
            self._control_reject("CF_NO_CALL_TO_ANSWER" if call_id == NULL_ID or call_id not in self.calls
                                 else "CF_INVALID_CSTA_CALL_IDENTIFIER")
            return
        call, party = found
        self._conf("ANSWER_CALL_CONF", {})
        party.lcs = LCS["LCS_CONNECT"]
        calling = call.ani or (call.parties[0].device if call.parties else "")
        if call.call_type == CALL_TYPE["CALLTYPE_ACD_IN"]:
            self._established(call, party, party.device, calling, DEVID_EXTERNAL)
        else:
            # Emergency / assist: both agent connections become connected.
            originator = call.parties[0]
            for p in call.parties:
                p.lcs = LCS["LCS_CONNECT"]
                self._established(call, p, party.device, originator.device, DEVID)
        if call.affects_state:
            if agent.state not in (AGENT_STATE["TALKING"],):
                if agent.state not in (AGENT_STATE["RESERVED"],):
                    agent.ready_state = agent.state
                self._set_agent_state(agent, AGENT_STATE["TALKING"], now)

    def _on_CLEAR_CALL_REQ(self, sess: Session, msg: Any, now: float) -> None:
        agent = self._control_agent(sess, msg)
        if agent is None:
            return
        call_id = msg.fields["ConnectionCallID"]
        found = self._find_agent_call(agent, call_id)
        if found is None:
            self._control_reject("CF_NO_CALL_TO_CLEAR" if call_id == NULL_ID else "CF_INVALID_CSTA_CALL_IDENTIFIER")
            return
        call, party = found
        self._conf("CLEAR_CALL_CONF", {})
        self._end_call(call, party, now)

    def _on_SET_CALL_DATA_REQ(self, sess: Session, msg: Any, now: float) -> None:
        if not sess.services & CALL_DATA_UPDATE:
            self._reject("E_CTI_FUNCTION_NOT_AVAILABLE")
            return
        f = msg.fields
        call = self.calls.get(f["ConnectionCallID"])
        if call is None or call.peripheral != f["PeripheralID"]:
            # SET_CALL_DATA_REQ belongs to the Call Data Update service, not client control:
            # the catalogue pairs it with SET_CALL_DATA_CONF or FAILURE_CONF only, so an
            # unknown call is refused with FAILURE_CONF E_CTI_INVALID_CALLID.
            self._reject("E_CTI_INVALID_CALLID")
            return
        for i in range(1, 11):
            value = msg.get(f"CALL_VAR_{i}")
            if value is not None:
                call.call_vars[i] = value
        if msg.get("ANI") is not None:
            call.ani = msg.get("ANI")
        self._conf("SET_CALL_DATA_CONF", {})
        by_conn = {s.conn: s for s in self._open_sessions()}
        for party in call.parties:
            for rsess, monitor in self._recipients(party):
                if rsess.conn not in call.begun:
                    self._begin_call(call, rsess, monitor, party)
        for conn in sorted(call.begun):
            rsess = by_conn.get(conn)
            if rsess is None or self._masked(rsess, "CALL_DATA_UPDATE_EVENT"):
                continue
            party = next((p for p in call.parties if p.agent is not None and p.agent is rsess.agent), call.parties[0])
            monitor = rsess.monitor_id if party.agent is not None and party.agent is rsess.agent else 0
            # Since v22 CALL_DATA_UPDATE carries every call variable of the call (5.3).
            self._send(
                rsess,
                "CALL_DATA_UPDATE_EVENT",
                {"MonitorID": monitor, "PeripheralID": call.peripheral, "PeripheralType": self._ptype(call.peripheral),
                 "NumCTIClients": 0, "NumNamedVariables": 0, "NumNamedArrays": 0, "CallType": call.call_type,
                 "ConnectionDeviceIDType": STATIC, "ConnectionCallID": call.call_id,
                 "NewConnectionDeviceIDType": STATIC, "NewConnectionCallID": call.call_id,
                 "CalledPartyDisposition": 0, "CampaignID": 0, "QueryRuleID": 0},
                [("CONNECTION_DEVID", party.device), ("NEW_CONNECTION_DEVID", party.device),
                 ("ANI", call.ani or None), ("DNIS", call.dnis or None),
                 *[(f"CALL_VAR_{i}", v) for i, v in sorted(call.call_vars.items())]],
            )

    def _on_RELEASE_CALL_REQ(self, sess: Session, msg: Any, now: float) -> None:
        self._conf("RELEASE_CALL_CONF", {})

    def _on_BAD_CALL_REQ(self, sess: Session, msg: Any, now: float) -> None:
        if not sess.services & CLIENT_CONTROL:
            self._reject("E_CTI_FUNCTION_NOT_AVAILABLE")
            return
        self._conf("BAD_CALL_CONF", {})

    # ------------------------------------------------------------------ supervisor / emergency (7.4)

    def _find_supervisor(self, agent: Agent) -> Agent | None:
        """The team's primary supervisor if free, else the first free supervisor of the team
        (7.4; the post-route to a supervisor group is modelled as 'the team's other
        supervisors').  Free = logged in, with an open session, and not on a call."""
        team = agent.team
        if team is None:
            return None
        for sup in team.supervisors:
            if sup is agent or not sup.logged_in or sup.state_calls():
                continue
            if any(s.services & CLIENT_EVENTS for s in self._agent_sessions(sup)):
                return sup
        return None

    def _assist_request(self, sess: Session, msg: Any, now: float, emergency: bool) -> None:
        agent = self._control_agent(sess, msg)
        if agent is None:
            return
        call_id = msg.fields["ConnectionCallID"]
        related: tuple[Call, Party] | None = None
        if call_id != NULL_ID:
            related = self._find_agent_call(agent, call_id)
            if related is None:
                self._control_reject("CF_INVALID_CSTA_CALL_IDENTIFIER")
                return
        supervisor = self._find_supervisor(agent)
        new_call: Call | None = None
        if supervisor is None:
            self._reject("E_CTI_TEAM_NOT_FOUND" if agent.team is None else "E_CTI_SUPERVISOR_NOT_FOUND")
        else:
            call_type = CALL_TYPE["CALLTYPE_EMERGENCY"] if emergency else CALL_TYPE["CALLTYPE_ASSIST"]
            cause = EVENT_CAUSE["CEC_EMERGENCY_CALL"] if emergency else EVENT_CAUSE["CEC_SUPERVISOR_ASSIST"]
            new_call = self._new_call(agent.peripheral, call_type, cause, dialed=supervisor.extension)
            # Assist/emergency calls do not change the requesting agent's state (it is
            # usually talking to the customer); the supervisor's state follows the call.
            agent_party = Party(agent.extension, agent, LCS["LCS_INITIATE"])
            new_call.parties.append(agent_party)
            agent.calls.append(new_call)
            new_call.affects_state = True
            sup_party = self._attach(new_call, supervisor, LCS["LCS_ALERTING"], now)
            self._conf(
                "EMERGENCY_CALL_CONF" if emergency else "SUPERVISOR_ASSIST_CONF",
                {"ConnectionCallID": new_call.call_id, "ConnectionDeviceIDType": STATIC, "LineHandle": 1,
                 "LineType": LINE_TYPE["HELP"] if emergency else LINE_TYPE["SUPERVISOR"]},
                [("CONNECTION_DEVID", agent_party.device)],
            )
            self._originated(new_call, agent_party, supervisor.extension, DEVID)
            self._delivered(new_call, sup_party, agent_party.device, DEVID)
        if emergency:
            # 7.4: EMERGENCY_CALL_EVENT goes to every bridge (ALL_EVENTS) client and recording
            # server, whether or not a supervisor was found.  Choice (10.12): it names the
            # call the agent needs help with, else the new emergency call, else none.
            if related is None and agent.state_calls():
                first = next((c for c in agent.calls if c is not new_call and c.affects_state), None)
                if first is not None:
                    related = (first, first.party_of(agent))
            if related is not None:
                ev_call, ev_party = related
                ids: tuple[int, int, str | None] = (ev_call.call_id, STATIC, ev_party.device)
            elif new_call is not None:
                ids = (new_call.call_id, STATIC, new_call.parties[0].device)
            else:
                ids = (NULL_ID, CONNECTION_ID_TYPE["CONNECTION_ID_NONE"], None)
            skip = self._reply.skip_recipients if self._reply else set()
            for rsess in self._open_sessions():
                if not rsess.services & ALL_EVENTS or rsess.client_id in skip:
                    continue
                self._send(
                    rsess,
                    "EMERGENCY_CALL_EVENT",
                    {"PeripheralID": agent.peripheral, "ConnectionCallID": ids[0], "ConnectionDeviceIDType": ids[1],
                     "SessionID": sess.session_id},
                    [("CONNECTION_DEVID", ids[2]), ("CLIENT_ID", sess.client_id), ("CLIENT_ADDRESS", sess.peer_ip),
                     ("AGENT_EXTENSION", agent.extension), ("AGENT_ID", agent.agent_id),
                     ("AGENT_INSTRUMENT", agent.instrument)],
                )

    def _on_EMERGENCY_CALL_REQ(self, sess: Session, msg: Any, now: float) -> None:
        self._assist_request(sess, msg, now, emergency=True)

    def _on_SUPERVISOR_ASSIST_REQ(self, sess: Session, msg: Any, now: float) -> None:
        # SUPERVISOR_ASSIST_EVENT (120) is not sent: its body is not published (10.7); the
        # supervisor learns of the call from its call events (CEC_SUPERVISOR_ASSIST).
        self._assist_request(sess, msg, now, emergency=False)

    def _require_supervisor(self, sess: Session) -> bool:
        if not sess.services & SUPERVISOR or sess.agent is None:
            self._reject("E_CTI_FUNCTION_NOT_AVAILABLE")
            return False
        return True

    def _on_SUPERVISE_CALL_REQ(self, sess: Session, msg: Any, now: float) -> None:
        if not self._require_supervisor(sess):
            return
        f = msg.fields
        if f["PeripheralID"] not in self.peripherals:
            self._reject("E_CTI_INVALID_PERIPHERAL_ID")
            return
        sup = sess.agent
        action = f["SupervisoryAction"]
        if action not in SUPERVISORY_ACTION.values():
            self._reject("E_CTI_INVALID_SUPERVISORY_ACTION")
            return
        if action == SUPERVISORY_ACTION["SUPERVISOR_CLEAR"]:
            sup_call_id = f["SupervisorConnectionCallID"]
            target = next((c for c in sup.calls if not c.affects_state
                           and (sup_call_id == NULL_ID or c.call_id == sup_call_id)), None)
            if target is None:
                self._control_reject("CF_NO_ACTIVE_CALL")
                return
            monitored = next((c for c in self.calls.values() if target in c.linked), None)
            agent_party = monitored.parties[0] if monitored and monitored.parties else target.parties[0]
            self._conf("SUPERVISE_CALL_CONF", {"ConnectionCallID": monitored.call_id if monitored else target.call_id,
                                               "ConnectionDeviceIDType": STATIC},
                       [("CONNECTION_DEVID", agent_party.device)])
            target.cause = EVENT_CAUSE["CEC_SUPERVISOR_CLEAR"]
            if monitored is not None:
                monitored.linked.remove(target)
            self._end_call(target, target.parties[0], now)
            return
        agent = self._find_agent(f["PeripheralID"], msg.get("AGENT_ID"), msg.get("AGENT_EXTENSION"),
                                 msg.get("AGENT_INSTRUMENT"))
        agent_call: tuple[Call, Party] | None = None
        call_id = f["AgentConnectionCallID"]
        if agent is not None:
            agent_call = self._find_agent_call(agent, call_id, LCS["LCS_CONNECT"])
        elif call_id != NULL_ID and call_id in self.calls:
            call = self.calls[call_id]
            device = msg.get("AGENT_CONNECTION_DEVID")
            party = next((p for p in call.parties if p.agent is not None and (device is None or p.device == device)), None)
            if party is not None:
                agent_call = (call, party)
        if agent_call is None:
            self._control_reject("CF_NO_ACTIVE_CALL")
            return
        call, party = agent_call
        names = {1: ("CALLTYPE_SUPERVISOR_MONITOR", "CEC_SUPERVISOR_MONITOR"),
                 2: ("CALLTYPE_SUPERVISOR_WHISPER", "CEC_SUPERVISOR_WHISPER"),
                 3: ("CALLTYPE_SUPERVISOR_BARGEIN", "CEC_SUPERVISOR_BARGE_IN"),
                 4: ("CALLTYPE_SUPERVISOR_INTERCEPT", "CEC_SUPERVISOR_INTERCEPT")}
        call_type, cause = names[action]
        sup_call = self._new_call(call.peripheral, CALL_TYPE[call_type], EVENT_CAUSE[cause], ani=call.ani, dnis=call.dnis)
        sup_call.affects_state = False
        sup_party = self._attach(sup_call, sup, LCS["LCS_CONNECT"], now)
        call.linked.append(sup_call)
        self._conf("SUPERVISE_CALL_CONF", {"ConnectionCallID": call.call_id, "ConnectionDeviceIDType": STATIC},
                   [("CONNECTION_DEVID", party.device)])
        self._established(sup_call, sup_party, sup_party.device, party.device, DEVID)

    def _on_LIST_AGENT_TEAM_REQ(self, sess: Session, msg: Any, now: float) -> None:
        if not self._require_supervisor(sess):
            return
        sup_id = msg.fields["SupervisorID"]
        if sup_id in (0, NULL_ID):
            sup: Agent | None = sess.agent
        else:
            sup = next((a for a in self.agents.values() if a.config.skill_target_id == sup_id), None)
        if sup is None:
            self._reject("E_CTI_SUPERVISOR_NOT_FOUND")
            return
        team_ids = [t.id for t in self._supervised_teams(sup)]
        # 7.4: segmented, at most 64 teams per message, More = 1 until the last segment.
        segments = [team_ids[i:i + 64] for i in range(0, len(team_ids), 64)] or [[]]
        for n, seg in enumerate(segments, 1):
            self._conf("LIST_AGENT_TEAM_CONF",
                       {"NumberOfAgentTeams": len(seg), "SegmentNumber": n, "More": int(n < len(segments))},
                       [("LIST_TEAM_ID", t) for t in seg])

    def _on_MONITOR_AGENT_TEAM_START_REQ(self, sess: Session, msg: Any, now: float) -> None:
        if not self._require_supervisor(sess):
            return
        team_id = msg.fields["TeamID"]
        if team_id not in self.teams:
            self._reject("E_CTI_TEAM_NOT_FOUND")
            return
        if team_id in sess.team_monitors.values():
            self._reject("E_CTI_AGENT_TEAM_MONITOR_ALREADY_EXISTS")
            return
        monitor = self._new_monitor_id()
        sess.team_monitors[monitor] = team_id
        self._conf("MONITOR_AGENT_TEAM_START_CONF", {"MonitorID": monitor})

    def _on_MONITOR_AGENT_TEAM_STOP_REQ(self, sess: Session, msg: Any, now: float) -> None:
        if not self._require_supervisor(sess):
            return
        monitor = msg.fields["MonitorID"]
        if monitor not in sess.team_monitors:
            self._reject("E_CTI_INVALID_MONITORID")
            return
        del sess.team_monitors[monitor]
        self._conf("MONITOR_AGENT_TEAM_STOP_CONF", {})

    def _new_monitor_id(self) -> int:
        monitor = self._next_monitor_id
        self._next_monitor_id += 1
        return monitor


def team_members(team: Team) -> list[Agent]:
    """Supervisors then members of ``team``, each once (AGENT_TEAM_CONFIG_EVENT order)."""
    out: list[Agent] = []
    for a in [*team.supervisors, *team.members]:
        if a not in out:
            out.append(a)
    return out
