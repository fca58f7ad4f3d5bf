"""Every DataFrame column ctidissect produces, declared once with a doc line each.

The tables here are the documentation of the pandas API (``docs/columns.md`` is generated
from them) and the schema the DataFrame builders follow.  Units are in the doc lines.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # pandas dtype name: "int64", "Int64" (nullable), "float64", "string", "category", "object", "bool"
    doc: str


# --- messages (one row per decoded message or anomaly record) -------------------------------
MESSAGE_COLUMNS: tuple[Column, ...] = (
    Column("frame", "Int64", "Capture frame (1-based packet number) in which the message became complete in order"),
    Column("ts", "float64", "Time of that frame, epoch seconds (µs precision)"),
    Column("conn", "string", "Connection: client_ip:port-server_ip:port (IPv6 in brackets); null for capture-level anomalies"),
    Column("direction", "category", "c2s (client to CTI Server) or s2c; null for connection-level notes"),
    Column("protocol_version", "Int64", "GED-188 protocol version the message was decoded with"),
    Column("version_source", "category", "How that version was chosen: open_req, inferred or assumed"),
    Column("type", "Int64", "MessageType number; null for an anomaly record (bytes that are not a message)"),
    Column("name", "category", "Message name as in the spec (e.g. AGENT_STATE_EVENT); null for an anomaly record"),
    Column("kind", "category", "request, confirmation, event or indication (catalogue); null if unknown"),
    Column("invoke_id", "Int64", "InvokeID (requests and their replies); null for messages without one"),
    Column("length", "int64", "Bytes on the wire, 8-byte header included (anomaly records: bytes they carry)"),
    Column("anomalies", "string", "Anomaly codes of the record, comma-joined (e.g. float.unknown_tag); null if none"),
    Column("peripheral_id", "Int64", "PeripheralID fixed field, when the message has one"),
    Column("connection_call_id", "Int64", "ConnectionCallID fixed field, when the message has one"),
    Column("connection_devid", "string", "CONNECTION_DEVID floating field (device of the call connection)"),
    Column("agent_id", "string", "AGENT_ID floating field"),
    Column("agent_extension", "string", "AGENT_EXTENSION floating field"),
    Column("agent_instrument", "string", "AGENT_INSTRUMENT floating field"),
    Column("client_id", "string", "CLIENT_ID floating field (OPEN_REQ, client session events)"),
)

# --- sessions, pairs, fan-out, calls (analysis) ---------------------------------------------
SESSION_COLUMNS: tuple[Column, ...] = (
    Column("conn", "string", "Connection: client_ip:port-server_ip:port"),
    Column("client", "string", "Client endpoint ip:port"),
    Column("server", "string", "CTI Server endpoint ip:port"),
    Column("server_port", "Int64", "CTI Server TCP port"),
    Column("side", "string", "CTI Server side from the server port (A = 42027, B = 43027 by default; null if neither)"),
    Column("role", "string", "agent, supervisor, bridge (ALL_EVENTS), recording, monitor, other or unknown"),
    Column("role_source", "string", "Where the role comes from: open_conf, open_req, client_monitor, inferred; null if unknown"),
    Column("client_id", "string", "ClientID of OPEN_REQ (or of a CLIENT_SESSION_OPENED_EVENT for a session captured mid-way)"),
    Column("client_signature", "string", "ClientSignature of OPEN_REQ (defaults to the ClientID)"),
    Column("agent_id", "string", "AgentID (OPEN_REQ / OPEN_CONF)"),
    Column("agent_extension", "string", "AgentExtension (OPEN_REQ / OPEN_CONF)"),
    Column("agent_instrument", "string", "AgentInstrument (OPEN_REQ / OPEN_CONF)"),
    Column("peripheral_id", "Int64", "PeripheralID of OPEN_REQ (null if none / 0xFFFFFFFF)"),
    Column("session_id", "Int64", "CTI SessionID, when a CLIENT_SESSION_OPENED_EVENT or AGENT_STATE_EVENT tells it"),
    Column("protocol_version", "Int64", "Protocol version: OPEN_REQ VersionNumber, else the version the messages were decoded with"),
    Column("version_source", "string", "open_req, or how the capture reader chose the version (inferred, assumed; decoder if unsaid)"),
    Column("services_requested", "string", "OPEN_REQ ServicesRequested as service names joined by '|'"),
    Column("services_requested_mask", "Int64", "OPEN_REQ ServicesRequested mask"),
    Column("services_granted", "string", "OPEN_CONF ServicesGranted as service names joined by '|'"),
    Column("services_granted_mask", "Int64", "OPEN_CONF ServicesGranted mask"),
    Column("open_status", "string", "Outcome of OPEN_REQ: ok, failed, unanswered; null when the open was not captured"),
    Column("open_failure", "string", "FAILURE_CONF Status of a failed open, by name"),
    Column("session_type", "string", "OPEN_CONF SessionType (v24+): UNKNOWN, ACTIVE, STANDBY"),
    Column("idle_timeout_s", "float64", "OPEN_REQ IdleTimeout, seconds (null when 0xFFFFFFFF = no heartbeats, or not captured)"),
    Column("midstream", "bool", "Session captured without its start (no OPEN_REQ and no SYN)"),
    Column("opened_ts", "float64", "OPEN_REQ time, else the session's first packet, epoch seconds"),
    Column("closed_ts", "float64", "End of the connection (first FIN/RST, else CLOSE_CONF/CLOSE_REQ), epoch seconds; null if open at capture end"),
    Column("duration_s", "float64", "closed_ts (or last packet) minus opened_ts, seconds"),
    Column("first_seen_ts", "float64", "First packet of the session, epoch seconds"),
    Column("last_seen_ts", "float64", "Last packet of the session, epoch seconds"),
    Column("first_frame", "Int64", "First frame of the session (1-based)"),
    Column("last_frame", "Int64", "Last frame of the session (1-based)"),
    Column("end_reason", "string", "close, idle_timeout, rst, fin, capture_end, or replaced (address pair reused without FIN/RST)"),
    Column("end_by", "string", "Who ended it: client or server (null if unknown or capture end)"),
    Column("messages_c2s", "int64", "Messages sent by the client"),
    Column("messages_s2c", "int64", "Messages sent by the server"),
    Column("heartbeats", "int64", "HEARTBEAT_REQ messages sent"),
    Column("heartbeat_interval_s", "float64", "Median gap between HEARTBEAT_REQs, seconds (null with fewer than two)"),
    Column("idle_timeout_ratio", "float64", "IdleTimeout / heartbeat interval (GED-188 7.2 recommends 4)"),
    Column("heartbeats_unanswered", "int64", "HEARTBEAT_REQs without a HEARTBEAT_CONF"),
    Column("heartbeat_gaps_missed", "int64", "Heartbeats missing from client silences: round(gap / interval) - 1 per gap, floor(gap / interval) before a server-side close"),
    Column("missed_heartbeats", "int64", "heartbeats_unanswered + heartbeat_gaps_missed"),
)
PAIR_COLUMNS: tuple[Column, ...] = (
    Column("conn", "string", "Connection: client_ip:port-server_ip:port"),
    Column("invoke_id", "Int64", "InvokeID shared by request and reply"),
    Column("request", "string", "Request name (null for an orphan reply)"),
    Column("request_frame", "Int64", "Frame of the request (1-based)"),
    Column("request_ts", "float64", "Time of the request, epoch seconds"),
    Column("response", "string", "Reply name (confirmation, FAILURE_CONF or CONTROL_FAILURE_CONF); null if none"),
    Column("response_frame", "Int64", "Frame of the reply (1-based)"),
    Column("response_ts", "float64", "Time of the reply, epoch seconds"),
    Column("latency_s", "float64", "Reply time minus request time, seconds (rounded to the microsecond)"),
    Column("status", "string", "ok, failed, late, unanswered, duplicate or orphan"),
    Column("failure", "string", "FAILURE_CONF Status or CONTROL_FAILURE_CONF FailureCode, by name"),
    Column("failure_code", "Int64", "The numeric Status / FailureCode"),
    Column("peripheral_error_code", "Int64", "CONTROL_FAILURE_CONF PeripheralErrorCode"),
    Column("duplicate_of_frame", "Int64", "For a duplicate: frame of the earlier outstanding request with the same InvokeID"),
    Column("anomaly", "string", "pair.unanswered, pair.late, pair.duplicate, pair.orphan or pair.orphan_precapture"),
    Column("waited_s", "float64", "Unanswered: seconds from the request to the end of its connection or of the capture"),
)
FANOUT_COLUMNS: tuple[Column, ...] = (
    Column("request", "string", "EMERGENCY_CALL_REQ or SUPERVISOR_ASSIST_REQ"),
    Column("request_frame", "Int64", "Frame of the request (1-based)"),
    Column("request_ts", "float64", "Time of the request, epoch seconds"),
    Column("requester", "string", "Requesting session (conn)"),
    Column("requester_client_id", "string", "ClientID of the requesting session"),
    Column("invoke_id", "Int64", "InvokeID of the request"),
    Column("agent_id", "string", "AgentID named by the request (or of the requesting session)"),
    Column("peripheral_id", "Int64", "PeripheralID of the request"),
    Column("connection_call_id", "Int64", "ConnectionCallID of the request (null for 0xFFFFFFFF = no related call)"),
    Column("outcome", "string", "Reply to the requester (EMERGENCY_CALL_CONF, SUPERVISOR_ASSIST_CONF, FAILURE_CONF, ...); null if none"),
    Column("outcome_frame", "Int64", "Frame of the reply (1-based)"),
    Column("outcome_latency_s", "float64", "Reply time minus request time, seconds"),
    Column("outcome_status", "string", "Pair status of the request (ok, failed, late, unanswered, duplicate)"),
    Column("failure", "string", "FAILURE_CONF Status / CONTROL_FAILURE_CONF FailureCode, by name"),
    Column("new_call_id", "Int64", "ConnectionCallID given by the positive confirmation (the emergency / assist call)"),
    Column("expected", "int64", "Recipients that should have received the fan-out"),
    Column("delivered", "int64", "Recipients that received it"),
    Column("missed", "int64", "Expected recipients that received nothing"),
    Column("unexpected", "int64", "Deliveries to sessions that were not expected (e.g. opened after the request)"),
    Column("max_delay_s", "float64", "Largest delivery delay, seconds"),
)
FANOUT_RECIPIENT_COLUMNS: tuple[Column, ...] = (
    Column("request", "string", "EMERGENCY_CALL_REQ or SUPERVISOR_ASSIST_REQ"),
    Column("request_frame", "Int64", "Frame of the request (joins the fan-out table)"),
    Column("requester", "string", "Requesting session (conn)"),
    Column("conn", "string", "Recipient session (conn)"),
    Column("role", "string", "Recipient role (bridge, recording, supervisor, ...)"),
    Column("client_id", "string", "Recipient ClientID"),
    Column("kind", "string", "emergency_event (EMERGENCY_CALL_EVENT to a bridge / recorder) or supervisor_call"),
    Column("expected", "bool", "The session was open at the request and should have received it"),
    Column("delivered", "bool", "A matching event was seen on the session within the window"),
    Column("frame", "Int64", "Frame of the delivering event (1-based)"),
    Column("ts", "float64", "Time of the delivering event, epoch seconds"),
    Column("delay_s", "float64", "Event time minus request time, seconds"),
    Column("message", "string", "Name of the delivering event"),
    Column("anomaly", "string", "fanout.missed for an expected recipient that received nothing"),
)
CALL_COLUMNS: tuple[Column, ...] = (
    Column("peripheral_id", "Int64", "PeripheralID of the call"),
    Column("connection_call_id", "Int64", "ConnectionCallID"),
    Column("connection_device_id", "string", "ConnectionDeviceID (empty when no message named it)"),
    Column("call_type", "string", "CallType by name (BEGIN_CALL_EVENT / CALL_DATA_UPDATE_EVENT)"),
    Column("first_ts", "float64", "First message of the call, epoch seconds"),
    Column("last_ts", "float64", "Last message of the call, epoch seconds"),
    Column("duration_s", "float64", "last_ts minus first_ts, seconds"),
    Column("first_frame", "Int64", "First frame of the call (1-based)"),
    Column("last_frame", "Int64", "Last frame of the call (1-based)"),
    Column("events", "int64", "Messages of the call, all sessions together"),
    Column("sessions", "string", "Sessions (conns) that saw the call, space-separated, in order of first appearance"),
    Column("session_count", "int64", "Number of sessions that saw the call"),
    Column("ended", "string", "CALL_CLEARED_EVENT or END_CALL_EVENT; null if the call did not end in the capture"),
    Column("ended_ts", "float64", "Time of the ending event, epoch seconds"),
    Column("emergency", "bool", "CallType EMERGENCY (20) or EventCause CEC_EMERGENCY_CALL (44) seen"),
    Column("assist", "bool", "CallType ASSIST (19) or EventCause CEC_SUPERVISOR_ASSIST (43) seen"),
    Column("event_causes", "string", "Distinct EventCauses by name, joined by '|'"),
)

# --- latency statistics (ctidissect.report.latency.latency_table) ---------------------------
LATENCY_STAT_COLUMNS: tuple[Column, ...] = (
    Column("count", "int64", "Requests in the group (orphan replies excluded)"),
    Column("answered", "int64", "Requests that got a reply (ok, failed or late)"),
    Column("failed", "int64", "Requests answered by FAILURE_CONF or CONTROL_FAILURE_CONF"),
    Column("unanswered", "int64", "Requests without a reply by capture end or timeout"),
    Column("late", "int64", "Requests answered after the pairing timeout"),
    Column("duplicate", "int64", "Requests whose InvokeID was reused while outstanding"),
    Column("min_s", "float64", "Smallest latency, seconds"),
    Column("p50_s", "float64", "Median latency (linear interpolation), seconds"),
    Column("p90_s", "float64", "90th percentile latency (linear interpolation), seconds"),
    Column("p99_s", "float64", "99th percentile latency (linear interpolation), seconds"),
    Column("max_s", "float64", "Largest latency, seconds"),
    Column("mean_s", "float64", "Mean latency, seconds"),
)
"""Statistic columns of :func:`latency_table`, after the key column(s)."""

LATENCY_KEY_COLUMNS: dict[str, tuple[Column, ...]] = {
    "type": (Column("request", "string", "Request message name (e.g. QUERY_AGENT_STATE_REQ)"),),
    "session": (
        Column("conn", "string", "Session: client_ip:port-server_ip:port"),
        Column("client_id", "string", "ClientID of the session's OPEN_REQ ('(unknown)' if not captured)"),
        Column("role", "string", "Session role (agent, supervisor, bridge, recording, monitor, unknown)"),
    ),
    "client": (Column("client_id", "string", "ClientID of the sessions ('(unknown)' if not captured)"),),
}
"""Leading columns of :func:`latency_table` for each ``by``."""

ALL_TABLES: dict[str, tuple[Column, ...]] = {}
"""Filled at the bottom of this module: table name -> columns (for docs and tests)."""


def _register() -> None:
    ALL_TABLES.update(
        {
            "messages": MESSAGE_COLUMNS,
            "sessions": SESSION_COLUMNS,
            "pairs": PAIR_COLUMNS,
            "fanout": FANOUT_COLUMNS,
            "fanout_recipients": FANOUT_RECIPIENT_COLUMNS,
            "calls": CALL_COLUMNS,
            "latency": (
                *{c.name: c for cols in LATENCY_KEY_COLUMNS.values() for c in cols}.values(),
                *LATENCY_STAT_COLUMNS,
            ),
        }
    )


_register()


def render_markdown() -> str:
    """``docs/columns.md``: every table and column with its type and meaning."""
    lines = [
        "# DataFrame columns",
        "",
        "Generated from `ctidissect/report/columns.py` by `python -m ctidissect.report.columns`; do not edit.",
        "",
    ]
    for table, columns in ALL_TABLES.items():
        lines += [f"## {table}", "", "| column | dtype | meaning |", "|---|---|---|"]
        lines += [f"| {c.name} | {c.dtype} | {c.doc.replace('|', '/')} |" for c in columns]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    from pathlib import Path

    target = Path("docs/columns.md")
    target.write_text(render_markdown())
    print(f"wrote {target}")
