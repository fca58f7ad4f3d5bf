"""Session management messages (GED-188 sections 4.1 and 5.1): open, heartbeat, close,
failure replies, and the v24 active/standby exchange."""

from __future__ import annotations

from ..declare import AGENT_IDS, B2, I4, INVOKE_ID, T4, U2, U4, alt, conf, event, ind, req
from ..schema import C2S

MESSAGES = [
    conf(
        1,
        "FAILURE_CONF",
        None,
        [INVOKE_ID, U4("Status", enum="StatusCode", doc="Failure indication status code")],
        ("TEXT",),
        alt_layouts=(
            alt(
                10,
                [
                    INVOKE_ID,
                    U2("FailureCode", enum="ControlFailureCode"),
                    U4("PeripheralErrorCode"),
                ],
                "v24 'Messaging Conventions' table (10.1)",
            ),
        ),
        doc="Negative reply to any request; echoes the request's InvokeID",
        ref="5.1",
        # 10.1: the v24 guide prints InvokeID+FailureCode U2+PeripheralErrorCode U4 (the
        # CONTROL_FAILURE_CONF layout); CCX, HS, SC, the C++ and Go clients all have
        # InvokeID+Status U4.  Choice: 8-byte layout; a body of exactly 10 bytes is decoded
        # with the v24-table layout and flagged ``fixed.alternate_layout``.
        conflict="10.1: decoded by body length (8 -> Status UINT, exactly 10 -> FailureCode "
        "USHORT + PeripheralErrorCode UINT)",
    ),
    event(
        2,
        "FAILURE_EVENT",
        [U4("Status", enum="StatusCode")],
        ("TEXT",),
        doc="Unsolicited failure indication",
        ref="5.1",
    ),
    req(
        3,
        "OPEN_REQ",
        [
            INVOKE_ID,
            U4("VersionNumber", doc="Requested protocol version"),
            U4("IdleTimeout", doc="Seconds; 0xFFFFFFFF = no heartbeats; must be >= 20"),
            U4("PeripheralID"),
            U4("ServicesRequested", enum="ServiceMask"),
            U4("CallMsgMask", enum="CallMsgMask"),
            U4("AgentStateMask", enum="AgentStateMask"),
            U4("ConfigMsgMask", enum="ConfigMask"),
            U4("Reserved1", doc="Must be 0"),
            U4("Reserved2", doc="Must be 0"),
            U4("Reserved3", doc="Must be 0"),
        ],
        ("CLIENT_ID", "CLIENT_PASSWORD", "CLIENT_SIGNATURE", *AGENT_IDS, "APP_PATH_ID"),
        doc="Opens a CTI session; its VersionNumber fixes the wire format of the session",
        ref="5.1",
    ),
    conf(
        4,
        "OPEN_CONF",
        "OPEN_REQ",
        [
            INVOKE_ID,
            U4("ServicesGranted", enum="ServiceMask"),
            U4("MonitorID"),
            U4("PGStatus", enum="PGStatus"),
            T4("ICMCentralControllerTime"),
            B2("PeripheralOnline"),
            U2("PeripheralType", enum="PeripheralType"),
            U2("AgentState", enum="AgentState"),
            I4("DepartmentID", since=19),
            U2("SessionType", since=24, enum="SessionType"),
        ],
        (*AGENT_IDS, "NUM_PERIPHERALS", "PERIPHERAL_ID", "MULTI_LINE_AGENT_CONTROL"),
        doc="Positive reply to OPEN_REQ: 26 bytes before v19, 30 in v19-v23, 32 from v24",
        ref="5.1",
    ),
    req(5, "HEARTBEAT_REQ", [INVOKE_ID], doc="Client keep-alive", ref="5.1"),
    conf(6, "HEARTBEAT_CONF", "HEARTBEAT_REQ", [INVOKE_ID], ref="5.1"),
    req(
        7,
        "CLOSE_REQ",
        [INVOKE_ID, U4("Status", enum="StatusCode")],
        doc="Client closes the session (Status E_CTI_NO_ERROR normally)",
        ref="5.1",
    ),
    conf(8, "CLOSE_CONF", "CLOSE_REQ", [INVOKE_ID], ref="5.1"),
    conf(
        35,
        "CONTROL_FAILURE_CONF",
        None,
        [
            INVOKE_ID,
            U2("FailureCode", enum="ControlFailureCode"),
            U4("PeripheralErrorCode"),
        ],
        ("TEXT",),
        doc="Negative reply to a client-control request",
        ref="5.1",
    ),
    # Active/standby (v24+, C25-SM).  The guide's tables omit field names for 278-280; the
    # order used here (ID then flag) is the one 5.1 gives, flagged [UNCERTAIN] there.
    event(277, "STANDBY_ACTIVE_EVENT_MSG", None, since=24, doc="Standby side became active"),
    event(
        278,
        "ACTIVE_MAINTENANCE_REQ_MSG",
        [U4("ID")],
        since=24,
        doc="Server asks an ACTIVE_STANDBY client to accept maintenance mode",
        ref="5.1",
    ),
    ind(
        279,
        "ACTIVE_MAINTENANCE_RESP_MSG",
        [U4("ID"), B2("MaintenanceModeAccepted")],
        since=24,
        doc="Client's answer to ACTIVE_MAINTENANCE_REQ_MSG (within 5 s)",
        ref="5.1",
    ),
    event(
        280,
        "ACTIVE_MAINTENANCE_EVENT_MSG",
        [B2("Continue")],
        since=24,
        doc="Final maintenance decision (1 continue, 0 cancel)",
        ref="5.1",
    ),
    ind(
        281,
        "STOPPING_REQUESTS_TO_THIS_SIDE_IND",
        None,
        direction=C2S,
        since=24,
        doc="Client stops sending requests to the side going down",
    ),
]
