"""Captures with known latencies and with one injected violation per compliance rule
(tests of the report package; the fixtures are in conftest.py)."""

from __future__ import annotations

import struct

from report_pcap import ALL_EVENTS, CLIENT_CONTROL, CLIENT_EVENTS, SUPERVISOR, PcapBuilder

from ctidissect.catalogue import MESSAGES_BY_NAME
from ctidissect.wire import encode_message

SCRIPT_CLIENT_ID = "<script>alert(1)</script>"
PASSWORD = "s3cretPW-7731"
ANI = "5550001111"
DNIS = "8005559876"
CED = "424242"
CALL_VAR = "acct-998877"

# Known latencies (seconds, exact in microseconds) of the latency capture.
QUERY_LATENCIES = [0.010, 0.020, 0.030, 0.040, 0.100]  # ok
QUERY_FAILED_LATENCY = 0.050  # answered by FAILURE_CONF
HEARTBEAT_LATENCIES = [0.001, 0.003, 0.002]


def build_latency_capture(path) -> str:
    """Agent session: 5 QUERY_AGENT_STATE_REQ answered after QUERY_LATENCIES, one refused
    by FAILURE_CONF after 50 ms, one never answered (the session closes 20 s later),
    three heartbeats; a second session (ClientID "other") with one 7 ms request."""
    b = PcapBuilder()
    agent = b.connection("10.1.0.10").open_session(0.0, client_id="agent-a", conf_delay=0.004,
                                                   services=CLIENT_EVENTS | CLIENT_CONTROL, agent="1001")
    t = 1.0
    invoke = 10
    for lat in QUERY_LATENCIES:
        agent.request(t, "QUERY_AGENT_STATE_REQ", invoke, lat, fields={"PeripheralID": 5000})
        t += 1.0
        invoke += 1
    agent.request(t, "QUERY_AGENT_STATE_REQ", invoke, QUERY_FAILED_LATENCY, answer="FAILURE_CONF",
                  fields={"PeripheralID": 5000}, answer_fields={"Status": 3})
    t += 1.0
    invoke += 1
    agent.request(t, "QUERY_AGENT_STATE_REQ", invoke, None, fields={"PeripheralID": 5000})
    t += 1.0
    invoke += 1
    for lat in HEARTBEAT_LATENCIES:
        agent.request(t, "HEARTBEAT_REQ", invoke, lat)
        t += 5.0
        invoke += 1
    agent.close(t + 10.0)
    other = b.connection("10.1.0.11").open_session(0.5, client_id="other", conf_delay=0.006)
    other.request(2.5, "QUERY_AGENT_STATE_REQ", 2, 0.007, fields={"PeripheralID": 5000})
    other.close(t + 10.0)
    return b.write(path)


# --------------------------------------------------------------------------- compliance


FAULTS = (
    "request.sla",
    "invoke_id.duplicate",
    "invoke_id.orphan",
    "open.first",
    "open.required_fields",
    "open.idle_timeout",
    "open.reserved",
    "heartbeat.idle_timeout",
    "heartbeat.unanswered",
    "message.size_layout",
    "capture.integrity",
    "emergency.answered",
    "emergency.fanout",
    "supervisor_assist.answered",
    "security.cleartext_password",
)
"""Each rule id doubles as the name of the fault that violates it."""


def build_compliance_capture(path, fault: str | None = None, *, password: str = "", version: int = 24) -> str:
    """A 60 s capture in which every compliance rule applies and passes, or - with
    ``fault`` - the same capture with one violation of that rule injected.

    Sessions: a bridge, a recording server, a supervisor and an agent, each opened with
    OPEN_REQ/OPEN_CONF and sending a heartbeat every 10 s (IdleTimeout 80 s) answered in
    2 ms.  The agent queries its state, raises an EMERGENCY_CALL_REQ (confirmed after
    300 ms; EMERGENCY_CALL_EVENT to the bridge after 40 ms and the recorder after 60 ms)
    and a SUPERVISOR_ASSIST_REQ (confirmed after 400 ms).  The bridge also sees a call with
    ANI/DNIS/CED/call variable (sensitive data)."""
    if fault is not None and fault not in FAULTS:
        raise ValueError(fault)
    if fault == "security.cleartext_password":
        password = PASSWORD
    b = PcapBuilder(version=version)
    end = 60.0
    bridge = b.connection("10.2.0.5").open_session(0.0, client_id="bridge-1", services=ALL_EVENTS)
    recorder = b.connection("10.3.0.6").open_session(0.1, client_id="recorder-1", services=ALL_EVENTS)
    supervisor = b.connection("10.1.1.7").open_session(
        0.2, client_id="sup-1", services=CLIENT_EVENTS | SUPERVISOR, agent="9001"
    )
    open_kw = {}
    if fault == "open.required_fields":
        open_kw["floats"] = [("CLIENT_ID", SCRIPT_CLIENT_ID)]
    if fault == "open.idle_timeout":
        open_kw["idle_timeout"] = 10
    if fault == "open.reserved":
        open_kw["reserved"] = (0, 7, 0)
    if fault == "heartbeat.idle_timeout":
        open_kw["idle_timeout"] = 30
    agent = b.connection("10.1.0.8")
    if fault == "open.first":  # a heartbeat before OPEN_REQ
        agent.handshake(0.29)
        agent.request(0.295, "HEARTBEAT_REQ", 99, 0.002)
        open_kw["handshake"] = False
    agent.open_session(0.3, client_id=SCRIPT_CLIENT_ID, password=password,
                       services=CLIENT_EVENTS | CLIENT_CONTROL, agent="1001", **open_kw)

    # Heartbeats every 10 s on every session (the agent's are interleaved with its requests).
    silent_until = 0.0
    if fault == "heartbeat.idle_timeout":
        # IdleTimeout 30 s, but the agent sends nothing after 2.5 s until the close at 60 s.
        silent_until = 60.0
    for conn, base_invoke in ((bridge, 100), (recorder, 200), (supervisor, 300), (agent, 400)):
        for k in range(1, 6):
            ts = 10.0 * k + 0.5
            if conn is agent and ts < silent_until:
                continue
            latency = 0.002
            if fault == "heartbeat.unanswered" and conn is agent and k in (2, 3, 4):
                latency = None
            conn.request(ts, "HEARTBEAT_REQ", base_invoke + k, latency)

    # Agent requests.
    query_latency = 20.0 if fault == "request.sla" else 0.015  # control request: fail above 15 s
    agent.request(1.0, "QUERY_AGENT_STATE_REQ", 2, query_latency, fields={"PeripheralID": 5000})
    if fault == "invoke_id.duplicate":
        agent.request(1.001, "QUERY_AGENT_STATE_REQ", 2, 0.02, fields={"PeripheralID": 5000})
    if fault == "invoke_id.orphan":
        agent.s2c(1.5, "QUERY_AGENT_STATE_CONF", {"InvokeID": 77})
    if fault == "message.size_layout":
        frame = bytearray(encode_message("QUERY_AGENT_STATE_REQ", {"InvokeID": 3, "PeripheralID": 5000},
                                         [("AGENT_ID", "1001")], version))
        # Claim 200 data bytes for AGENT_ID: the floating field overruns the message.
        floating_at = 8 + MESSAGES_BY_NAME["QUERY_AGENT_STATE_REQ"].fixed_size(version)
        struct.pack_into(">H", frame, floating_at + 2, 200)
        agent.raw_c2s(1.6, bytes(frame))
    if fault == "capture.integrity":
        agent.skip(1.65, 40)  # 40 bytes of the client stream never captured
        agent.c2s(1.7, "HEARTBEAT_REQ", {"InvokeID": 4})
        agent.s2c(1.702, "HEARTBEAT_CONF", {"InvokeID": 4})

    # Emergency: answered, and the event fanned out to the bridge and the recorder.
    emergency_latency = {"emergency.answered": 12.0}.get(fault, 0.3)
    agent.request(2.0, "EMERGENCY_CALL_REQ", 5, emergency_latency,
                  fields={"PeripheralID": 5000, "ConnectionCallID": 0xFFFFFFFF},
                  floating=[("AGENT_ID", "1001")], answer_fields={"ConnectionCallID": 4711})
    event_fields = {"PeripheralID": 5000, "ConnectionCallID": 4711}
    event_floats = [("CLIENT_ID", SCRIPT_CLIENT_ID), ("AGENT_ID", "1001")]
    bridge.s2c(2.04, "EMERGENCY_CALL_EVENT", event_fields, event_floats)
    if fault != "emergency.fanout":
        recorder.s2c(2.06, "EMERGENCY_CALL_EVENT", event_fields, event_floats)

    # Supervisor assist.
    assist_latency = None if fault == "supervisor_assist.answered" else 0.4
    agent.request(2.5, "SUPERVISOR_ASSIST_REQ", 6, assist_latency,
                  fields={"PeripheralID": 5000, "ConnectionCallID": 0xFFFFFFFF},
                  floating=[("AGENT_ID", "1001")], answer_fields={"ConnectionCallID": 4712})

    # Sensitive call data on the bridge.
    bridge.s2c(3.0, "BEGIN_CALL_EVENT", {"PeripheralID": 5000, "ConnectionCallID": 4800},
               [("ANI", ANI), ("DNIS", DNIS), ("CED", CED), ("CALL_VAR_1", CALL_VAR), ("CONNECTION_DEVID", "3001")])

    for conn in (bridge, recorder, supervisor, agent):
        conn.close(end)
    return b.write(path)
