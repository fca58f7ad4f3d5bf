"""Scripted CTI clients (sans-IO): agent desktop, supervisor desktop, bridge (ALL_EVENTS)
and recording server (ALL_EVENTS).

A client is driven like the server: the driver reports ``connected`` / ``connect_failed`` /
``data_received`` / ``connection_lost`` at protocol time *t* (seconds), and collects
:class:`~.agenda.Connect`, :class:`~.agenda.Send` and :class:`~.agenda.Close` actions with
:meth:`ScriptedClient.collect`.  Every message sent and received is kept in
:attr:`ScriptedClient.transcript`, decoded at the client's protocol version.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ..catalogue import MESSAGES_BY_NAME, MESSAGES_BY_TYPE
from ..wire import Message, decode_buffer
from .agenda import Action, Agenda, Close, Connect, Send
from .config import Distribution
from .enum_values import AGENT_STATE, LCS, NULL_ID, SERVICE, STATUS, SUPERVISORY_ACTION
from .versioned import FrameReader, encode_for

ROLES = ("agent", "supervisor", "bridge", "recorder")

ROLE_SERVICES = {
    "agent": SERVICE["CTI_SERVICE_CLIENT_EVENTS"] | SERVICE["CTI_SERVICE_CLIENT_CONTROL"]
    | SERVICE["CTI_SERVICE_CALL_DATA_UPDATE"],
    "supervisor": SERVICE["CTI_SERVICE_CLIENT_EVENTS"] | SERVICE["CTI_SERVICE_CLIENT_CONTROL"]
    | SERVICE["CTI_SERVICE_CALL_DATA_UPDATE"] | SERVICE["CTI_SERVICE_SUPERVISOR"],
    "bridge": SERVICE["CTI_SERVICE_ALL_EVENTS"],
    "recorder": SERVICE["CTI_SERVICE_ALL_EVENTS"],
}
"""CTI services each role asks for in OPEN_REQ (6.1)."""

ALL_CALL_EVENTS_MASK = 0x0000FFFF | 0x00010000 | 0x00020000
"""CallMsgMask of the scripted clients: every call event they understand."""
ALL_AGENT_STATES_MASK = 0x3FFF
"""AgentStateMask of the scripted clients (as the public v24 Rust client sends)."""

STEP_ACTIONS = (
    "login", "ready", "not_ready", "work_ready", "logout", "query_state", "make_call", "answer", "clear",
    "set_call_data", "emergency", "assist", "supervise", "list_teams", "monitor_team", "stop_team_monitor",
    "heartbeat", "silence", "close", "drop", "send", "send_raw",
)


@dataclass
class Step:
    """One scripted action at ``at`` seconds (scenario time); ``args`` are its options."""

    at: float
    do: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClientSpec:
    """What a scripted client is.  Durations in seconds; ``heartbeat`` 0 = none;
    ``idle_timeout`` None = 0xFFFFFFFF (no heartbeats expected)."""

    id: str
    role: str
    version: int = 24
    side: str = "A"
    start: float = 0.0
    peripheral: int = 5000
    agent_id: str | None = None
    extension: str | None = None
    instrument: str | None = None
    password: str = ""
    heartbeat: float = 0.0
    idle_timeout: int | None = None
    services: int | None = None
    open_fields: dict[str, int] = field(default_factory=dict)
    omit: list[str] = field(default_factory=list)
    auto_answer: Distribution | None = None
    talk_time: Distribution | None = None
    reconnect: bool = True
    retry_delay: float = 1.0
    ip: str = "10.1.0.10"
    steps: list[Step] = field(default_factory=list)


@dataclass
class Exchange:
    """A request sent and the reply received for it (``reply`` None while unanswered)."""

    request: str
    invoke_id: int
    sent_at: float
    reply: str | None = None
    replied_at: float | None = None
    status: int | None = None


@dataclass
class TranscriptEntry:
    t: float
    direction: str  # "out" (client -> server) or "in"
    message: Message
    connection: int


class ScriptedClient:
    """One scripted CTI client.  ``rng`` makes its random choices (answer delays, talk
    times) reproducible.  ``connection`` counts the TCP connections it made."""

    def __init__(self, spec: ClientSpec, rng: random.Random | None = None) -> None:
        if spec.role not in ROLES:
            raise ValueError(f"client {spec.id}: role must be one of {', '.join(ROLES)}")
        self.spec = spec
        self.rng = rng or random.Random(0)
        self.agenda = Agenda()
        self.reader = FrameReader(spec.version)
        self.transcript: list[TranscriptEntry] = []
        self.exchanges: dict[int, Exchange] = {}
        self.history: list[Exchange] = []
        self.events: list[str] = []
        """Lifecycle notes: ``connect A``, ``open``, ``open_failed``, ``lost``, ``hb_failure`` ..."""
        self.connection = 0
        self.local_addresses: dict[int, tuple[str, int]] = {}
        """Connection number -> the client's own (IP, TCP port) on it, as its socket saw it:
        what names the connection in a capture (``client_ip:port-server_ip:port``)."""
        self.side = spec.side
        self.connected = False
        self.opened = False
        self.done = False
        self.silent = False
        self.monitor_id = 0
        self.calls: dict[int, dict[str, Any]] = {}
        self.team_monitor: int | None = None
        self._invoke = 0
        self._last_send = 0.0
        self._deferred: list[Step] = []
        self._closing = False
        self._hb_generation = 0

    # ------------------------------------------------------------------ driver interface

    def start(self, now: float = 0.0) -> None:
        """Schedule the client's connection and steps (times in scenario seconds)."""
        self.agenda.call_at(max(now, self.spec.start), self._connect)
        for step in self.spec.steps:
            self.agenda.call_at(step.at, lambda t, s=step: self._run_step(s, t))

    def collect(self, now: float) -> list[Action]:
        return self.agenda.collect(now)

    def next_wakeup(self) -> float | None:
        return self.agenda.next_time()

    def connected_ok(self, now: float, local_address: tuple[str, int] | None = None) -> None:
        """The TCP connection is up (from ``local_address``, when the driver knows it): send
        OPEN_REQ at once."""
        if local_address is not None:
            self.local_addresses[self.connection] = (local_address[0], local_address[1])
        self.connected = True
        self._closing = False
        self.reader = FrameReader(self.spec.version)
        self.events.append(f"connected {self.side}")
        self._send_open(now)

    def connect_failed(self, now: float) -> None:
        self.events.append(f"connect_failed {self.side}")
        self.connected = False
        self._retry(now)

    def data_received(self, data: bytes, now: float) -> None:
        for msg in self.reader.feed(data):
            self.transcript.append(TranscriptEntry(now, "in", msg, self.connection))
            self._on_message(msg, now)

    def connection_lost(self, now: float) -> None:
        """The connection closed (by the server, a reset, or our own close)."""
        if not self.connected:
            return
        self.connected = False
        self.opened = False
        self._hb_generation += 1
        self.events.append("lost" if not self._closing else "closed")
        if not self._closing and not self.done and not self.silent:
            self._retry(now)

    # ------------------------------------------------------------------ helpers

    def _connect(self, now: float) -> None:
        if self.done or self.connected:
            return
        self.connection += 1
        self.events.append(f"connect {self.side}")
        self.agenda.emit_at(now, Connect(self.side))

    def _retry(self, now: float) -> None:
        if not self.spec.reconnect or self.done:
            return
        # 1: alternate between side A and side B after any failure.
        self.side = "B" if self.side == "A" else "A"
        self.agenda.call_at(now + self.spec.retry_delay, self._connect)

    def _next_invoke(self) -> int:
        self._invoke += 1
        return self._invoke

    def send(self, name: str, fields: dict[str, int] | None = None, floats: list[tuple[str, Any]] | None = None,
             now: float = 0.0) -> int | None:
        """Send request ``name`` (InvokeID filled in) now; returns its InvokeID."""
        if not self.connected or self.silent:
            return None
        cat = MESSAGES_BY_NAME[name]
        fields = dict(fields or {})
        invoke = None
        if cat.has_invoke_id:
            invoke = fields.setdefault("InvokeID", self._next_invoke())
            ex = Exchange(name, invoke, now)
            self.exchanges[invoke] = ex
            self.history.append(ex)
        data = encode_for(name, fields, floats or [], self.spec.version)
        self._emit(data, now)
        msg_fields = dict(fields)
        self.transcript.append(TranscriptEntry(now, "out", Message(cat.type, name, msg_fields, [], [], data,
                                                                   self.spec.version), self.connection))
        return invoke

    def _emit(self, data: bytes, now: float) -> None:
        self._last_send = now
        self.agenda.emit_at(now, Send(0, data))

    def _send_open(self, now: float) -> None:
        spec = self.spec
        services = spec.services if spec.services is not None else ROLE_SERVICES[spec.role]
        agent_role = spec.role in ("agent", "supervisor")
        fields = {
            "VersionNumber": spec.version,
            "IdleTimeout": 0xFFFFFFFF if spec.idle_timeout is None else spec.idle_timeout,
            "PeripheralID": spec.peripheral if agent_role else NULL_ID,
            "ServicesRequested": services,
            "CallMsgMask": ALL_CALL_EVENTS_MASK,
            "AgentStateMask": ALL_AGENT_STATES_MASK,
            "ConfigMsgMask": 0,
            "Reserved1": 0,
            "Reserved2": 0,
            "Reserved3": 0,
            **spec.open_fields,
        }
        floats: list[tuple[str, Any]] = [("CLIENT_ID", spec.id), ("CLIENT_PASSWORD", spec.password.encode())]
        if agent_role:
            floats += [("AGENT_EXTENSION", spec.extension), ("AGENT_ID", spec.agent_id),
                       ("AGENT_INSTRUMENT", spec.instrument)]
        floats = [(n, v) for n, v in floats if n not in spec.omit]
        self.send("OPEN_REQ", fields, floats, now)

    def _schedule_heartbeat(self, now: float) -> None:
        interval = self.spec.heartbeat
        if interval <= 0:
            return
        generation = self._hb_generation

        def tick(t: float) -> None:
            if generation != self._hb_generation or not self.opened or self.silent:
                return
            due = self._last_send + interval
            if t + 1e-9 < due:
                self.agenda.call_at(due, tick)
                return
            unanswered = sum(1 for ex in self.exchanges.values() if ex.request == "HEARTBEAT_REQ")
            if unanswered >= 3:
                # 7.2 item 5: three unanswered heartbeats -> the client resets TCP and
                # reconnects (to the other side).
                self.events.append("hb_failure")
                self._abort(t, reconnect=True)
                return
            self.send("HEARTBEAT_REQ", {}, [], t)
            self.agenda.call_at(t + interval, tick)

        self.agenda.call_at(now + interval, tick)

    def _abort(self, now: float, reconnect: bool) -> None:
        if not self.connected:
            return
        self.agenda.emit_at(now, Close(0, abort=True))
        self.connected = False
        self.opened = False
        self._hb_generation += 1
        self.exchanges.clear()
        if reconnect:
            self._retry(now)

    # ------------------------------------------------------------------ incoming

    def _on_message(self, msg: Message, now: float) -> None:
        name = msg.name or ""
        invoke = msg.fields.get("InvokeID")
        if invoke is not None and name.endswith("_CONF"):
            ex = self.exchanges.get(invoke)
            if ex is not None:
                ex.reply, ex.replied_at, ex.status = name, now, msg.fields.get("Status", msg.fields.get("FailureCode"))
                # LIST_AGENT_TEAM_CONF comes in segments: wait for More = 0.
                if not (name == "LIST_AGENT_TEAM_CONF" and msg.fields.get("More")):
                    del self.exchanges[invoke]
                if ex.request == "OPEN_REQ":
                    self._on_open_reply(msg, now)
                elif name == "MAKE_CALL_CONF":
                    # The call this agent made is its own to clear after talk_time.
                    call_id = msg.fields["NewConnectionCallID"]
                    call = self.calls.setdefault(call_id, {"type": None, "lcs": None, "owned": True,
                                                           "clear_pending": False})
                    call["owned"] = True
                    if call["lcs"] == LCS["LCS_CONNECT"]:
                        # A late (delayed) CONF: the far end already answered.
                        self._schedule_clear(call_id, call, now)
                elif name == "MONITOR_AGENT_TEAM_START_CONF":
                    self.team_monitor = msg.fields["MonitorID"]
                elif name == "MONITOR_AGENT_TEAM_STOP_CONF":
                    self.team_monitor = None
                elif name == "CLOSE_CONF":
                    # 7.2 item 6: after CLOSE_CONF the client closes its side.
                    self._closing = True
                    self.done = True
                    self.connected = self.opened = False
                    self._hb_generation += 1
                    self.events.append("closed")
                    self.agenda.emit_at(now, Close(0))
        if name == "FAILURE_EVENT":
            self.events.append(f"failure_event {msg.fields.get('Status')}")
        self._track_calls(msg, now)

    def _on_open_reply(self, msg: Message, now: float) -> None:
        if msg.name == "OPEN_CONF":
            self.opened = True
            self.monitor_id = msg.fields["MonitorID"]
            self.events.append("open")
            self._schedule_heartbeat(now)
            deferred, self._deferred = self._deferred, []
            for step in deferred:
                self._run_step(step, now)
        else:
            # 7.2: after a failed open the client resets the connection; a scripted client
            # with a bad OPEN_REQ stops there.
            self.events.append(f"open_failed {msg.fields.get('Status')}")
            self.done = True
            self._closing = True
            self._abort(now, reconnect=False)

    def _track_calls(self, msg: Message, now: float) -> None:
        name = msg.name
        if name is None or "ConnectionCallID" not in msg.fields or msg.fields.get("MonitorID", -1) != self.monitor_id:
            return
        if self.spec.role not in ("agent", "supervisor"):
            return
        call_id = msg.fields["ConnectionCallID"]
        device = msg.get("CONNECTION_DEVID")
        mine = device == self.spec.extension
        call = self.calls.setdefault(call_id, {"type": None, "lcs": None, "owned": False, "clear_pending": False})
        if name == "BEGIN_CALL_EVENT":
            call["type"] = msg.fields["CallType"]
        elif name == "CALL_DELIVERED_EVENT" and mine:
            call["lcs"] = msg.fields["LocalConnectionState"]
            if call["lcs"] == LCS["LCS_ALERTING"] and self.spec.auto_answer is not None:
                delay = self.spec.auto_answer.sample(self.rng)
                self.agenda.call_at(now + delay, lambda t, c=call_id: self._auto_answer(c, t))
        elif name == "CALL_ESTABLISHED_EVENT" and mine:
            call["lcs"] = LCS["LCS_CONNECT"]
            if call["owned"]:
                self._schedule_clear(call_id, call, now)
        elif name == "END_CALL_EVENT":
            self.calls.pop(call_id, None)

    def _schedule_clear(self, call_id: int, call: dict[str, Any], now: float) -> None:
        if self.spec.talk_time is None or call["clear_pending"]:
            return
        call["clear_pending"] = True
        delay = self.spec.talk_time.sample(self.rng)
        self.agenda.call_at(now + delay, lambda t, c=call_id: self._auto_clear(c, t))

    def _auto_answer(self, call_id: int, now: float) -> None:
        call = self.calls.get(call_id)
        if call is None or call["lcs"] != LCS["LCS_ALERTING"] or not self.opened:
            return
        call["owned"] = True
        self.send("ANSWER_CALL_REQ", {"PeripheralID": self.spec.peripheral, "ConnectionCallID": call_id,
                                      "ConnectionDeviceIDType": 0},
                  [("CONNECTION_DEVID", self.spec.extension), ("AGENT_INSTRUMENT", self.spec.instrument)], now)

    def _auto_clear(self, call_id: int, now: float) -> None:
        if call_id not in self.calls or not self.opened:
            return
        self.send("CLEAR_CALL_REQ", {"PeripheralID": self.spec.peripheral, "ConnectionCallID": call_id,
                                     "ConnectionDeviceIDType": 0},
                  [("CONNECTION_DEVID", self.spec.extension), ("AGENT_INSTRUMENT", self.spec.instrument)], now)

    def _current_call(self, lcs: int | None = None) -> int | None:
        for call_id, call in self.calls.items():
            if lcs is None or call["lcs"] == lcs:
                return call_id
        return None

    # ------------------------------------------------------------------ steps

    def _run_step(self, step: Step, now: float) -> None:
        if self.done:
            return
        if step.do in ("silence", "drop"):
            self._do_step(step, now)
            return
        if not self.opened:
            # Not connected (yet, or during a failover): run it once the session is open.
            self._deferred.append(step)
            return
        self._do_step(step, now)

    def _agent_floats(self) -> list[tuple[str, Any]]:
        s = self.spec
        return [("AGENT_INSTRUMENT", s.instrument), ("AGENT_ID", s.agent_id)]

    def _do_step(self, step: Step, now: float) -> None:
        s, a, p = self.spec, step.args, self.spec.peripheral
        do = step.do
        state_of = {"ready": "AVAILABLE", "not_ready": "NOT_READY", "work_ready": "WORK_READY",
                    "logout": "LOGOUT", "login": "LOGIN"}
        if do in state_of:
            self.send("SET_AGENT_STATE_REQ",
                      {"PeripheralID": p, "AgentState": AGENT_STATE[state_of[do]], "AgentWorkMode": 0,
                       "NumSkillGroups": 0, "EventReasonCode": int(a.get("reason", 0)), "ForcedFlag": 0,
                       "AgentServiceReq": 0},
                      self._agent_floats(), now)
        elif do == "query_state":
            self.send("QUERY_AGENT_STATE_REQ", {"PeripheralID": p, "MRDID": 1, "ICMAgentID": 0},
                      [("AGENT_ID", a.get("agent", s.agent_id))], now)
        elif do == "make_call":
            self.send("MAKE_CALL_REQ", {"PeripheralID": p, "SkillGroupNumber": NULL_ID},
                      [("AGENT_INSTRUMENT", s.instrument), ("DIALED_NUMBER", a.get("dialed", "5550199"))], now)
        elif do in ("answer", "clear"):
            lcs = LCS["LCS_ALERTING"] if do == "answer" else None
            call_id = a.get("call", self._current_call(lcs))
            self.send("ANSWER_CALL_REQ" if do == "answer" else "CLEAR_CALL_REQ",
                      {"PeripheralID": p, "ConnectionCallID": NULL_ID if call_id is None else int(call_id),
                       "ConnectionDeviceIDType": 0},
                      [("CONNECTION_DEVID", s.extension), ("AGENT_INSTRUMENT", s.instrument)], now)
        elif do == "set_call_data":
            call_id = a.get("call", self._current_call())
            floats = [("CONNECTION_DEVID", s.extension)]
            floats += [(f"CALL_VAR_{int(k)}", str(v)) for k, v in sorted((a.get("vars") or {}).items())]
            self.send("SET_CALL_DATA_REQ",
                      {"PeripheralID": p, "ConnectionDeviceIDType": 0,
                       "ConnectionCallID": NULL_ID if call_id is None else int(call_id)}, floats, now)
        elif do in ("emergency", "assist"):
            call_id = self._current_call(LCS["LCS_CONNECT"]) if a.get("on_call", True) else None
            self.send("EMERGENCY_CALL_REQ" if do == "emergency" else "SUPERVISOR_ASSIST_REQ",
                      {"PeripheralID": p, "ConnectionCallID": NULL_ID if call_id is None else call_id,
                       "ConnectionDeviceIDType": 0 if call_id is not None else 0xFFFF},
                      ([("CONNECTION_DEVID", s.extension)] if call_id is not None else [])
                      + [("AGENT_EXTENSION", s.extension), ("AGENT_ID", s.agent_id),
                         ("AGENT_INSTRUMENT", s.instrument)], now)
        elif do == "supervise":
            action = SUPERVISORY_ACTION[f"SUPERVISOR_{str(a.get('action', 'monitor')).upper()}"]
            self.send("SUPERVISE_CALL_REQ",
                      {"PeripheralID": p, "AgentConnectionCallID": NULL_ID, "SupervisorConnectionCallID": NULL_ID,
                       "AgentConnectionDeviceIDType": 0xFFFF, "SupervisorConnectionDeviceIDType": 0xFFFF,
                       "SupervisoryAction": action},
                      [("AGENT_ID", a.get("agent")), ("SUPERVISOR_INSTRUMENT", s.instrument)], now)
        elif do == "list_teams":
            self.send("LIST_AGENT_TEAM_REQ", {"SupervisorID": int(a.get("supervisor", 0))}, [], now)
        elif do == "monitor_team":
            self.send("MONITOR_AGENT_TEAM_START_REQ", {"TeamID": int(a.get("team", 5001))}, [], now)
        elif do == "stop_team_monitor":
            self.send("MONITOR_AGENT_TEAM_STOP_REQ",
                      {"MonitorID": self.team_monitor if self.team_monitor is not None else 0}, [], now)
        elif do == "heartbeat":
            self.send("HEARTBEAT_REQ", {}, [], now)
        elif do == "silence":
            # The client hangs: it sends nothing more, not even heartbeats (idle timeout).
            self.silent = True
            self.events.append("silence")
        elif do == "close":
            self.send("CLOSE_REQ", {"Status": STATUS["E_CTI_NO_ERROR"]}, [], now)
            self._closing = True
            self.done = True
            self.opened = False  # nothing more is sent on a closing session
        elif do == "drop":
            self.events.append("drop")
            self.done = True
            self._closing = True
            self._abort(now, reconnect=False)
        elif do == "send":
            floats = [(k, v) for k, v in (a.get("floating") or {}).items()]
            self.send(str(a["message"]), dict(a.get("fields") or {}), floats, now)
        elif do == "send_raw":
            data = bytes.fromhex(str(a["hex"]).replace(" ", ""))
            if a.get("expect_reply", True) and len(data) >= 12:
                invoke = int.from_bytes(data[8:12], "big")
                mtype = int.from_bytes(data[4:8], "big")
                cat = MESSAGES_BY_TYPE.get(mtype)
                ex = Exchange(f"raw {cat.name if cat else f'type {mtype}'}", invoke, now)
                self.exchanges[invoke] = ex
                self.history.append(ex)
            self._emit(data, now)
            # Kept in the transcript as decoded (malformed bytes carry their anomalies).
            for msg in decode_buffer(data, s.version):
                self.transcript.append(TranscriptEntry(now, "out", msg, self.connection))
        else:
            raise ValueError(f"client {s.id}: unknown step {do!r}")

    # ------------------------------------------------------------------ results

    def received(self) -> list[Message]:
        """Messages received from the server, in order."""
        return [e.message for e in self.transcript if e.direction == "in"]

    def received_names(self) -> list[str]:
        return [m.name or f"type {m.type}" for m in self.received()]

    def unanswered(self) -> list[Exchange]:
        """Requests still waiting for a reply."""
        return [ex for ex in self.history if ex.reply is None]
