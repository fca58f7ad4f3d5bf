"""Configuration, agent greeting, agent tasks, network recording and agent service data
(GED-188 sections 4.5 and 5.6, types 230-284; 248 and 277-281 are declared elsewhere).

The configuration exchange (230-245) carries no InvokeID (7.1): the client's
CONFIG_REQUEST_KEY_EVENT / CONFIG_REQUEST_EVENT and the server's answers are all events, with
one request outstanding at a time."""

from __future__ import annotations

from ..declare import INVOKE_ID, U2, U4, conf, event, ind, req
from ..schema import C2S, EITHER

# 10.4: older tables (SC v19, Java stdtypes, v14 guide) number 236/237/238 TEAM_CONFIG_REQ/
# EVENT/CONF; the v24 table gives 230-238 to CONFIG_* and 242-244 to TEAM_CONFIG_*.
_V24_NUMBERING = "10.4: v24 numbering used; older lists have 236/237/238 = TEAM_CONFIG_REQ/EVENT/CONF"

# 10.5: the table numbers 267-274; the v25 message bodies say START_REQ 268, START_CONF 269,
# STOP_REQ 270, STOP_CONF 271 (which would collide with NETWORK_RECORDING_STARTED_EVENT).
_TABLE_NUMBERING = (
    "10.5: table numbering 267-270 used; v25 bodies give START_REQ 268, START_CONF 269, STOP_REQ 270, STOP_CONF 271"
)

MESSAGES = [
    event(
        230,
        "CONFIG_REQUEST_KEY_EVENT",
        [U4("PeripheralID")],
        ("CUSTOMER_ID",),
        direction=C2S,
        doc="Client asks the configuration keys (answered by CONFIG_KEY_EVENT); no InvokeID",
        ref="5.6",
    ),
    event(
        231,
        "CONFIG_KEY_EVENT",
        [U4("ConfigkeyStatus", enum="ConfigKeyStatus")],
        (
            "SERVICE_CONFIG_KEY",
            "SKILL_GROUP_CONFIG_KEY",
            "AGENT_CONFIG_KEY",
            "DEVICE_CONFIG_KEY",
            "CALL_TYPE_KEY_CONFIG",
            "PERIPHERAL_CONFIG_KEY",
            "AGENT_DESK_SETTINGS_CONFIG_KEY",
        ),
        doc="The current configuration keys (answer to CONFIG_REQUEST_KEY_EVENT)",
        ref="5.6",
    ),
    event(
        232,
        "CONFIG_REQUEST_EVENT",
        [U4("ConfigInformation", enum="ConfigMask", doc="0 = no initial upload, only enable updates")],
        direction=C2S,
        doc="Client asks a configuration upload (answered by CONFIG_BEGIN_EVENT ... CONFIG_END_EVENT)",
        ref="5.6",
    ),
    event(233, "CONFIG_BEGIN_EVENT", None, doc="Start of a configuration upload", ref="4.5"),
    event(234, "CONFIG_END_EVENT", None, doc="End of a configuration upload", ref="4.5"),
    event(235, "CONFIG_SERVICE_EVENT", None, doc="Service configuration record", ref="4.5"),
    # 10.4: v24 numbering; older lists: 236 = TEAM_CONFIG_REQ.
    event(
        236,
        "CONFIG_SKILL_GROUP_EVENT",
        None,
        doc="Skill group configuration record",
        ref="4.5",
        conflict=_V24_NUMBERING,
    ),
    # 10.4: v24 numbering; older lists: 237 = TEAM_CONFIG_EVENT.
    event(
        237,
        "CONFIG_AGENT_EVENT",
        None,
        doc="Agent configuration record",
        ref="4.5",
        conflict=_V24_NUMBERING,
    ),
    # 10.4: v24 numbering; older lists: 238 = TEAM_CONFIG_CONF.
    event(
        238,
        "CONFIG_DEVICE_EVENT",
        None,
        doc="Device configuration record",
        ref="4.5",
        conflict=_V24_NUMBERING,
    ),
    # 10.4: v24 numbering (older lists: 236).  Named _REQ and paired with 244 by the table, but
    # inside the configuration exchange, which has no InvokeID (7.1); no body published.
    req(
        242,
        "TEAM_CONFIG_REQ",
        None,
        doc="Asks the agent team configuration (answered by TEAM_CONFIG_EVENTs, then TEAM_CONFIG_CONF)",
        ref="4.5",
        conflict=_V24_NUMBERING,
        no_invoke_id=True,
    ),
    # 10.4: v24 numbering (older lists: 237).
    event(
        243,
        "TEAM_CONFIG_EVENT",
        None,
        doc="Agent team configuration record",
        ref="4.5",
        conflict=_V24_NUMBERING,
    ),
    # 10.4: v24 numbering (older lists: 238).  Inside the configuration exchange: no InvokeID.
    conf(
        244,
        "TEAM_CONFIG_CONF",
        "TEAM_CONFIG_REQ",
        None,
        doc="Marks the end of the team data",
        ref="4.5",
        conflict=_V24_NUMBERING,
        no_invoke_id=True,
    ),
    event(245, "CONFIG_CALL_TYPE_EVENT", None, doc="Call type configuration record", ref="4.5"),
    # CF_AGENT_GREETING_CONTROL_OPERATION_FAILURE (6.11) shows this request can be refused with
    # CONTROL_FAILURE_CONF; 5.6 lists it among the client-control requests.
    req(
        249,
        "AGENT_GREETING_CONTROL_REQ",
        [INVOKE_ID, U4("PeripheralID"), U2("AgentAction", enum="AgentAction")],
        ("AGENT_ID",),
        control=True,
        since=15,
        doc="Stops the current agent greeting or disables/enables greetings for the session",
        ref="5.6",
    ),
    conf(
        250,
        "AGENT_GREETING_CONTROL_CONF",
        "AGENT_GREETING_CONTROL_REQ",
        [INVOKE_ID],
        since=15,
        doc="Positive reply to AGENT_GREETING_CONTROL_REQ; body not published: InvokeID per 7.1, any further bytes decode as floating fields",
        ref="4.5",
    ),
    event(254, "CONFIG_MRD_EVENT", None, since=20, doc="Media routing domain configuration record", ref="4.5"),
    req(255, "GET_AGENT_TASKS_REQ", None, doc="Asks the tasks of an agent; body not published", ref="4.5"),
    conf(
        256,
        "AGENT_TASKS_RESP",
        "GET_AGENT_TASKS_REQ",
        None,
        doc="Positive reply to GET_AGENT_TASKS_REQ; body not published",
        ref="4.5",
    ),
    req(257, "SNAPSHOT_TASK_REQ", None, doc="Asks a snapshot of a task; body not published", ref="4.5"),
    conf(
        258,
        "SNAPSHOT_TASK_RESP",
        "SNAPSHOT_TASK_REQ",
        None,
        doc="Positive reply to SNAPSHOT_TASK_REQ; body not published",
        ref="4.5",
    ),
    event(260, "CONFIG_PERIPHERAL_EVENT", None, since=22, doc="Peripheral configuration record", ref="4.5"),
    event(
        261,
        "CONFIG_AGENT_DESK_SETTINGS_EVENT",
        None,
        since=22,
        doc="Agent desk settings configuration record (floats 273-287; fixed part not published)",
        ref="4.5",
    ),
    event(262, "AGENT_TASKS_EVENT", None, doc="Tasks of an agent", ref="4.5"),
    event(263, "SNAPSHOT_TASK_EVENT", None, doc="Snapshot of a task", ref="4.5"),
    # 264 and 266: the table gives no direction.
    event(264, "AGENT_TASKS_REQUEST_EVENT", None, direction=EITHER, doc="Agent tasks request", ref="4.5"),
    event(265, "AGENT_TASKS_END_EVENT", None, doc="End of the agent tasks data", ref="4.5"),
    ind(266, "DESKTOP_CONNECTED_IND", None, direction=EITHER, doc="Desktop connected indication", ref="4.5"),
    # 10.5: table numbering; the v25 bodies say 268.  5.6 lists it among the client-control
    # requests and it acts on a call, so CONTROL_FAILURE_CONF is accepted.
    req(
        267,
        "START_NETWORK_RECORDING_REQ",
        [
            INVOKE_ID,
            U4("PeripheralID"),
            U4("ConnectionCallID"),
            U2("ConnectionDeviceIDType", enum="ConnectionDeviceIDType"),
        ],
        ("PLAY_TONE_DIRECTION", "INVOCATION_TYPE", "CONNECTION_DEVID", "AGENT_INSTRUMENT"),
        control=True,
        since=23,
        doc="Starts network recording of a call",
        ref="5.6",
        conflict=_TABLE_NUMBERING,
    ),
    # 10.5: table numbering; the v25 bodies say 269.
    conf(
        268,
        "START_NETWORK_RECORDING_CONF",
        "START_NETWORK_RECORDING_REQ",
        [INVOKE_ID],
        since=23,
        doc="Positive reply to START_NETWORK_RECORDING_REQ; body not published: InvokeID per 7.1, any further bytes decode as floating fields",
        ref="4.5",
        conflict=_TABLE_NUMBERING,
    ),
    # 10.5: table numbering; the v25 bodies say 270.
    req(
        269,
        "STOP_NETWORK_RECORDING_REQ",
        [
            INVOKE_ID,
            U4("PeripheralID"),
            U4("ConnectionCallID"),
            U2("ConnectionDeviceIDType", enum="ConnectionDeviceIDType"),
        ],
        ("INVOCATION_TYPE", "CONNECTION_DEVID", "AGENT_INSTRUMENT"),
        control=True,
        since=23,
        doc="Stops network recording of a call",
        ref="5.6",
        conflict=_TABLE_NUMBERING,
    ),
    # 10.5: table numbering; the v25 bodies say 271.
    conf(
        270,
        "STOP_NETWORK_RECORDING_CONF",
        "STOP_NETWORK_RECORDING_REQ",
        [INVOKE_ID],
        since=23,
        doc="Positive reply to STOP_NETWORK_RECORDING_REQ; body not published: InvokeID per 7.1, any further bytes decode as floating fields",
        ref="4.5",
        conflict=_TABLE_NUMBERING,
    ),
    # 10.5: table numbering; the v25 bodies would put STOP_NETWORK_RECORDING_CONF here.
    event(
        271,
        "NETWORK_RECORDING_STARTED_EVENT",
        None,
        since=23,
        doc="Network recording of a call started",
        ref="4.5",
        conflict=_TABLE_NUMBERING,
    ),
    event(272, "NETWORK_RECORDING_ENDED_EVENT", None, since=23, doc="Network recording of a call ended", ref="4.5"),
    event(273, "NETWORK_RECORDING_FAILED_EVENT", None, since=23, doc="Network recording of a call failed", ref="4.5"),
    event(
        274,
        "NETWORK_RECORDING_TARGET_INFO_EVENT",
        None,
        since=23,
        doc="Recording target information",
        ref="4.5",
    ),
    event(282, "CONFIG_AGENT_SERVICE_EVENT", None, since=24, doc="Agent service configuration record", ref="4.5"),
    # Number taken from the v25 message body (not in the v24 table).  The answer-suggestion
    # counter floats have no known tag number (10.7) and are not listed.
    req(
        283,
        "SET_AGENT_SERVICE_DATA_REQ",
        [
            INVOKE_ID,
            U4("RouterCallKeyDay"),
            U4("RouterCallKeyCallID"),
            U4("RouterCallKeySequenceNumber"),
            U4("AgentSkillTargetID"),
        ],
        ("NUM_OF_ENABLED_SERVICES", "FLT_ENABLED_SERVICES"),
        since=24,
        doc="Sets the services enabled for an agent on a call",
        ref="5.6",
    ),
    conf(
        284,
        "SET_AGENT_SERVICE_DATA_CONF",
        "SET_AGENT_SERVICE_DATA_REQ",
        [INVOKE_ID, U4("Status", enum="StatusCode")],
        since=24,
        doc="Reply to SET_AGENT_SERVICE_DATA_REQ with a status code",
        ref="5.6",
    ),
]
