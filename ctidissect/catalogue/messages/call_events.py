"""Call and agent events (GED-188 sections 4.1, 4.3, 4.5, 5.2, 5.3 and 5.4): the CSTA-style
call events 9-25/34/86, AGENT_STATE_EVENT, SYSTEM_EVENT, the pre-call and RTP events and the
agent greeting event.

Layouts are those of v9 and later (the oldest guide the reference uses); additions made before
v9 (section 8 rows 5-9, e.g. MonitorID in v5) are not version-bounded.
"""

from __future__ import annotations

from ..declare import AGENT_IDS, B2, CALL_VARS, I4, T4, U2, U4, event
from ..schema import Field

# Common leading fields of the CSTA-style call events 9-25, 34 and 86 (5.3).  10.21: the
# pre-call, RTP and greeting events do not start this way, so they spell out their own.
_HEAD = [
    U4("MonitorID", doc="Monitor that caused delivery; 0 for ALL_EVENTS delivery"),
    U4("PeripheralID"),
    U2("PeripheralType", enum="PeripheralType"),
]
_CONNECTION = [
    U2("ConnectionDeviceIDType", enum="ConnectionDeviceIDType"),
    U4("ConnectionCallID"),
]
_LINE = [
    U2("LineHandle", doc="0xFFFF = unknown"),
    U2("LineType", enum="LineType", doc="0xFFFF = unknown"),
]
_SERVICE = [
    U4("ServiceNumber", doc="NULL_SERVICE (0xFFFFFFFF) allowed"),
    U4("ServiceID"),
]
_SKILL_GROUP = [
    U4("SkillGroupNumber", doc="NULL_SKILL_GROUP (0xFFFFFFFF) allowed"),
    U4("SkillGroupID"),
    U2("SkillGroupPriority", doc="0 = not applicable"),
]
_TAIL = [
    U2("LocalConnectionState", enum="LocalConnectionState"),
    U2("EventCause", enum="EventCause"),
]


def _dev(name: str) -> Field:
    """A ``...DeviceType`` field (USHORT DeviceIDType)."""
    return U2(name, enum="DeviceIDType")


_CALL_DATA = ("ANI", "UUI", "DNIS", "DIALED_NUMBER", "CED")
_ROUTER_CALL_KEY = ("ROUTER_CALL_KEY_DAY", "ROUTER_CALL_KEY_CALLID", "ROUTER_CALL_KEY_SEQUENCE_NUM")
_SKILL_GROUP_FLOATS = (
    "SKILL_GROUP_NUMBER",
    "SKILL_GROUP_ID",
    "SKILL_GROUP_PRIORITY",
    "SKILL_GROUP_STATE",
)
_PARTIES = ("PARTY_CALLID", "PARTY_DEVID_TYPE", "PARTY_DEVID")

MESSAGES = [
    event(
        9,
        "CALL_DELIVERED_EVENT",
        [
            *_HEAD,
            *_CONNECTION,
            *_LINE,
            *_SERVICE,
            *_SKILL_GROUP,
            _dev("AlertingDeviceType"),
            _dev("CallingDeviceType"),
            _dev("CalledDeviceType"),
            _dev("LastRedirectDeviceType"),
            *_TAIL,
            U2("NumNamedVariables"),
            U2("NumNamedArrays"),
        ],
        (
            "CONNECTION_DEVID",
            "ALERTING_DEVID",
            "CALLING_DEVID",
            "CALLED_DEVID",
            "LAST_REDIRECT_DEVID",
            "TRUNK_NUMBER",
            "TRUNK_GROUP_NUMBER",
            "SECONDARY_CONNECTION_CALL_ID",
            "ANI",
            "ANI_II",
            "UUI",
            "DNIS",
            "DIALED_NUMBER",
            "CED",
            *CALL_VARS,
            "CALL_WRAPUP_DATA",
            "NAMED_VARIABLE",
            "NAMED_ARRAY",
        ),
        doc="A call is alerting a device (fixed 54 bytes)",
        ref="5.3",
    ),
    event(
        10,
        "CALL_ESTABLISHED_EVENT",
        [
            *_HEAD,
            *_CONNECTION,
            *_LINE,
            *_SERVICE,
            *_SKILL_GROUP,
            _dev("AnsweringDeviceType"),
            _dev("CallingDeviceType"),
            _dev("CalledDeviceType"),
            _dev("LastRedirectDeviceType"),
            *_TAIL,
        ],
        (
            "CONNECTION_DEVID",
            "ANSWERING_DEVID",
            "CALLING_DEVID",
            "CALLED_DEVID",
            "LAST_REDIRECT_DEVID",
            "TRUNK_NUMBER",
            "TRUNK_GROUP_NUMBER",
        ),
        doc="A call was answered (fixed 50 bytes)",
        ref="5.3",
    ),
    event(
        11,
        "CALL_HELD_EVENT",
        [*_HEAD, *_CONNECTION, _dev("HoldingDeviceType"), *_TAIL],
        ("CONNECTION_DEVID", "HOLDING_DEVID"),
        doc="A call was put on hold (fixed 22 bytes)",
        ref="5.3",
    ),
    event(
        12,
        "CALL_RETRIEVED_EVENT",
        [*_HEAD, *_CONNECTION, _dev("RetrievingDeviceType"), *_TAIL],
        ("CONNECTION_DEVID", "RETRIEVING_DEVID"),
        doc="A held call was retrieved (fixed 22 bytes)",
        ref="5.3",
    ),
    event(
        13,
        "CALL_CLEARED_EVENT",
        [*_HEAD, *_CONNECTION, *_TAIL],
        ("CONNECTION_DEVID",),
        doc="The call ended for all parties (fixed 20 bytes)",
        ref="5.3",
    ),
    event(
        14,
        "CALL_CONNECTION_CLEARED_EVENT",
        [*_HEAD, *_CONNECTION, _dev("ReleasingDeviceType"), *_TAIL],
        ("CONNECTION_DEVID", "RELEASING_DEVID"),
        doc="One party left the call (fixed 22 bytes); ReleasingDeviceID does not reliably say who hung up first",
        ref="5.3",
    ),
    event(
        15,
        "CALL_ORIGINATED_EVENT",
        [
            *_HEAD,
            *_CONNECTION,
            *_LINE,
            *_SERVICE,
            *_SKILL_GROUP,
            _dev("CallingDeviceType"),
            _dev("CalledDeviceType"),
            *_TAIL,
        ],
        ("CONNECTION_DEVID", "CALLING_DEVID", "CALLED_DEVID"),
        doc="An outgoing call was originated (fixed 46 bytes)",
        ref="5.3",
    ),
    event(
        16,
        "CALL_FAILED_EVENT",
        [
            *_HEAD,
            *_CONNECTION,
            _dev("FailingDeviceType"),
            _dev("CalledDeviceType"),
            *_TAIL,
        ],
        ("CONNECTION_DEVID", "FAILING_DEVID", "CALLED_DEVID"),
        doc="A call could not be completed (fixed 24 bytes)",
        ref="5.3",
    ),
    event(
        17,
        "CALL_CONFERENCED_EVENT",
        [
            *_HEAD,
            U2("PrimaryDeviceIDType", enum="ConnectionDeviceIDType"),
            U4("PrimaryCallID"),
            *_LINE,
            *_SKILL_GROUP,
            U2("NumParties", doc="Number of party triples in the floating part (<= 16)"),
            U2("SecondaryDeviceIDType", enum="ConnectionDeviceIDType"),
            U4("SecondaryCallID"),
            _dev("ControllerDeviceType"),
            _dev("AddedPartyDeviceType"),
            *_TAIL,
        ],
        (
            "PRIMARY_DEVID",
            "SECONDARY_DEVID",
            "CONTROLLER_DEVID",
            "ADDED_PARTY_DEVID",
            *_PARTIES,
        ),
        doc="Two calls were joined into a conference (fixed 46 bytes)",
        ref="5.3",
    ),
    event(
        18,
        "CALL_TRANSFERRED_EVENT",
        [
            *_HEAD,
            U2("PrimaryDeviceIDType", enum="ConnectionDeviceIDType"),
            U4("PrimaryCallID"),
            *_LINE,
            *_SKILL_GROUP,
            U2("NumParties", doc="Number of party triples in the floating part (<= 16)"),
            U2("SecondaryDeviceIDType", enum="ConnectionDeviceIDType"),
            U4("SecondaryCallID"),
            _dev("TransferringDeviceType"),
            _dev("TransferredDeviceType"),
            *_TAIL,
        ],
        (
            "PRIMARY_DEVID",
            "SECONDARY_DEVID",
            "TRANSFERRING_DEVID",
            "TRANSFERRED_DEVID",
            *_PARTIES,
        ),
        doc="A call was transferred (fixed 46 bytes)",
        ref="5.3",
    ),
    event(
        19,
        "CALL_DIVERTED_EVENT",
        [
            *_HEAD,
            *_CONNECTION,
            *_SERVICE,
            _dev("DivertingDeviceType"),
            _dev("CalledDeviceType"),
            *_TAIL,
        ],
        ("CONNECTION_DEVID", "DIVERTING_DEVID", "CALLED_DEVID"),
        doc="A call was diverted away from a device (fixed 32 bytes)",
        ref="5.3",
    ),
    event(
        20,
        "CALL_SERVICE_INITIATED_EVENT",
        [
            *_HEAD,
            *_CONNECTION,
            *_LINE,
            *_SERVICE,
            *_SKILL_GROUP,
            _dev("CallingDeviceType"),
            *_TAIL,
        ],
        (
            "CONNECTION_DEVID",
            "CALLING_DEVID",
            "CALL_REFERENCE_ID",
            "COC_CONNECTION_CALL_ID",
            "COC_CONNECTION_DEVICE_ID_TYPE",
            "COC_CONNECTION_DEVICE_ID",
        ),
        doc="A device went off-hook / dial tone (fixed 44 bytes); COC_* floats since v14",
        ref="5.3",
    ),
    # [IMPL SC] layout from the SC driver only (40 bytes).  The reference says "floats incl.";
    # the DEVID floats matching the fixed *DeviceType fields are added here.
    event(
        21,
        "CALL_QUEUED_EVENT",
        [
            *_HEAD,
            *_CONNECTION,
            *_SERVICE,
            _dev("QueueDeviceType"),
            _dev("CallingDeviceType"),
            _dev("CalledDeviceType"),
            _dev("LastRedirectDeviceType"),
            U2("NumQueued"),
            U2("NumSkillGroups", doc="Number of skill-group quads in the floating part"),
            *_TAIL,
        ],
        (
            "CONNECTION_DEVID",
            "QUEUE_DEVID",
            "CALLING_DEVID",
            "CALLED_DEVID",
            "LAST_REDIRECT_DEVID",
            *_SKILL_GROUP_FLOATS,
            "PRIORITY_QUEUE_NUMBER",
        ),
        doc="A call was queued (fixed 40 bytes)",
        ref="5.3",
    ),
    # 5.3 gives only "NumNamedVariables U2, NumNamedArrays U2" [IMPL SC] without the leading
    # fields, so the fixed size is unknown: name-only.
    event(
        22,
        "CALL_TRANSLATION_ROUTE_EVENT",
        None,
        doc="Call translation route; layout incomplete in the reference (SC names only "
        "NumNamedVariables/NumNamedArrays and call-context floats)",
        ref="5.3",
    ),
    event(
        23,
        "BEGIN_CALL_EVENT",
        [
            *_HEAD,
            U2("NumCTIClients", doc="Number of signature/timestamp pairs in the floating part"),
            U2("NumNamedVariables"),
            U2("NumNamedArrays"),
            U2("CallType", enum="CallType"),
            *_CONNECTION,
            U2("CalledPartyDisposition", enum="Disposition"),
        ],
        (
            "CONNECTION_DEVID",
            *_CALL_DATA,
            *_ROUTER_CALL_KEY,
            *CALL_VARS,
            "CALL_WRAPUP_DATA",
            "NAMED_VARIABLE",
            "NAMED_ARRAY",
            "CTI_CLIENT_SIGNATURE",
            "CTI_CLIENT_TIMESTAMP",
            "CALL_REFERENCE_ID",
        ),
        doc="First event of a call for this client (fixed 26 bytes)",
        ref="5.3",
    ),
    event(
        24,
        "END_CALL_EVENT",
        [*_HEAD, *_CONNECTION],
        ("CONNECTION_DEVID",),
        doc="Ends the client's association with the call (fixed 16 bytes)",
        ref="5.3",
    ),
    event(
        25,
        "CALL_DATA_UPDATE_EVENT",
        [
            *_HEAD,
            U2("NumCTIClients"),
            U2("NumNamedVariables"),
            U2("NumNamedArrays"),
            U2("CallType", enum="CallType"),
            *_CONNECTION,
            U2("NewConnectionDeviceIDType", enum="ConnectionDeviceIDType"),
            U4("NewConnectionCallID"),
            U2("CalledPartyDisposition", enum="Disposition"),
            U4("CampaignID"),
            U4("QueryRuleID"),
        ],
        (
            "CONNECTION_DEVID",
            "NEW_CONNECTION_DEVID",
            *_CALL_DATA,
            *_ROUTER_CALL_KEY,
            *CALL_VARS,
            "CALL_WRAPUP_DATA",
            "NAMED_VARIABLE",
            "NAMED_ARRAY",
            "CUSTOMER_PHONE_NUMBER",
            "CUSTOMER_ACCOUNT_NUMBER",
            "CTI_CLIENT_SIGNATURE",
            "CTI_CLIENT_TIMESTAMP",
            "CALL_REFERENCE_ID",
        ),
        doc="Call context changed (fixed 40 bytes); since v22 it carries all ECC variables "
        "of the call (replace, don't merge)",
        ref="5.3",
    ),
    event(
        30,
        "AGENT_STATE_EVENT",
        [
            U4("MonitorID"),
            U4("PeripheralID"),
            U4("SessionID", doc="CTI session of the agent's CLIENT_EVENTS client, 0 if none"),
            U2("PeripheralType", enum="PeripheralType"),
            U2("SkillGroupState", enum="AgentState", doc="Agent state in this skill group"),
            U4("StateDuration", doc="Seconds in state (usually 0)"),
            U4("SkillGroupNumber", doc="Guide prints 'USINT'; read as UINT"),
            U4("SkillGroupID"),
            U2("SkillGroupPriority"),
            U2("AgentState", enum="AgentState", doc="Overall agent state"),
            U2("EventReasonCode", doc="Only for Not Ready / Logged Off"),
            I4("MRDID"),
            U4("NumTasks"),
            U2("AgentMode", enum="AgentMode"),
            U4("MaxTaskLimit"),
            I4("ICMAgentID", doc="Agent skill target id"),
            U4("AgentAvailabilityStatus", enum="AgentAvailabilityStatus"),
            # 10.17: 5.4 says 58 bytes for v9-v18 (which includes this field), section 8 puts
            # NumFltSkillGroups in the v10-13 release (VersionNumber 13).  Choice: follow section
            # 8, since=13, so a v9-v12 body is 56 bytes (unverified; no capture / pre-v13 guide).
            U2(
                "NumFltSkillGroups",
                since=13,
                doc="0 = the single group in the fixed part; else count of floating quads",
            ),
            # 10.10: the change log adds DepartmentID in v19; SC (which sends v19) omits it, HS
            # (v20) and the v24 clients carry it.  Choice: the change log (62 bytes from v19).
            I4("DepartmentID", since=19),
        ],
        (
            "CTI_CLIENT_SIGNATURE",
            *AGENT_IDS,
            "FLT_TERM_DEVICE_NAME",
            "DURATION",
            "EXT_AGENT_STATE",
            "DIRECTION",
            *_SKILL_GROUP_FLOATS,
            "MAX_BEYOND_TASK_LIMIT",
        ),
        doc="Agent state change: 58 bytes in v13-v18, 62 from v19 (56 in v9-v12, see 10.17)",
        ref="5.4",
        conflict="10.17: NumFltSkillGroups taken as added in v13 (v9-v12 = 56 bytes, "
        "unverified); 10.10: DepartmentID from v19 although SC (v19) omits it",
    ),
    event(
        31,
        "SYSTEM_EVENT",
        [
            U4("PGStatus", enum="PGStatus"),
            T4("ICMCentralControllerTime"),
            U4("SystemEventID", enum="SystemEventID"),
            U4("SystemEventArg1", doc="e.g. PeripheralID for SYS_PERIPHERAL_ONLINE/OFFLINE"),
            U4("SystemEventArg2"),
            U4("SystemEventArg3"),
            # 10.23: added in the v10-13 release; the pre-v13 size (24) is arithmetic only.
            U2(
                "EventDeviceType",
                since=13,
                enum="DeviceIDType",
                doc="DEVID_NONE if no EventDeviceID",
            ),
        ],
        ("TEXT", "EVENT_DEVICE_ID"),
        doc="PG / central controller / peripheral status change (fixed 26 bytes, 24 before v13)",
        ref="5.2",
        # The Go "ctiservice" adds a Reserved U2 + 4 bytes after EventDeviceType: not copied
        # (10.14).
        conflict="10.23: EventDeviceType taken as added in v13 (pre-v13 size 24 derived by arithmetic only)",
    ),
    # [IMPL SC] layout from the SC driver only (28 bytes).
    event(
        34,
        "CALL_REACHED_NETWORK_EVENT",
        [
            *_HEAD,
            *_CONNECTION,
            *_LINE,
            _dev("TrunkUsedDeviceType"),
            _dev("CalledDeviceType"),
            *_TAIL,
        ],
        (
            "CONNECTION_DEVID",
            "TRUNK_USED_DEVID",
            "CALLED_DEVID",
            "TRUNK_NUMBER",
            "TRUNK_GROUP_NUMBER",
        ),
        doc="An outbound call reached the network (fixed 28 bytes)",
        ref="5.3",
    ),
    # [IMPL SC] layout from the SC driver only (34 bytes).  The reference says "floats incl.
    # DequeueType"; the ConnectionDeviceID, QueueDeviceID and skill-group floats implied by the
    # fixed fields are added here.
    event(
        86,
        "CALL_DEQUEUED_EVENT",
        [
            *_HEAD,
            *_CONNECTION,
            _dev("QueueDeviceType"),
            *_SERVICE,
            U2("NumQueued"),
            U2("NumSkillGroups", doc="Number of skill-group entries in the floating part"),
            *_TAIL,
        ],
        ("CONNECTION_DEVID", "QUEUE_DEVID", *_SKILL_GROUP_FLOATS, "DEQUEUE_TYPE"),
        doc="A call left a queue (fixed 34 bytes)",
        ref="5.3",
    ),
    # [IMPL SC] pre-v20 layout (30 bytes).  v20 adds a fixed AgentSkillTargetID at an
    # unverified position (5.3, section 8): not declared, so a v20+ body carries 4 fixed bytes
    # more than declared.  Floats: 5.3 gives none; CALL_TYPE_ID and CCAI_CONFIG_ID are the ones
    # section 3.2 attributes to this event, AGENT_ID is the v20 addition, the named-variable
    # floats follow from NumNamedVariables/NumNamedArrays.
    event(
        105,
        "AGENT_PRE_CALL_EVENT",
        [
            U4("MonitorID"),
            U2("NumNamedVariables"),
            U2("NumNamedArrays"),
            *_SERVICE,
            *_SKILL_GROUP,
            I4("MRDID"),
            # v20 adds AgentSkillTargetID at a position the reference does not verify;
            # appended here (how later fields were added elsewhere) so that the fixed size
            # (34 bytes from v20) is right even if the position is not.
            U4("AgentSkillTargetID", since=20),
        ],
        ("NAMED_VARIABLE", "NAMED_ARRAY", "CALL_TYPE_ID", "CCAI_CONFIG_ID", "AGENT_ID"),
        doc="Call context sent to the agent's desktop before the call arrives (fixed 30 bytes before v20)",
        ref="5.3",
        conflict="[UNCERTAIN] v20+: fixed AgentSkillTargetID added at an unverified position; "
        "declared appended at the end (5.3, section 8); layout [IMPL SC]",
    ),
    # [IMPL SC] layout (8 bytes); floats not given by the reference.
    event(
        106,
        "AGENT_PRE_CALL_ABORT_EVENT",
        [U4("MonitorID"), I4("MRDID")],
        doc="The call announced by AGENT_PRE_CALL_EVENT will not arrive (fixed 8 bytes)",
        ref="5.3",
    ),
    # [IMPL SC] layout (34 bytes).  Floats: SENDING_ADDRESS/PORT are the ones section 3.2
    # attributes to RTP_*, SENDING_ADDRESS_IPV6 (v14-v18) is their IPv6 twin, CONNECTION_DEVID
    # follows from the fixed ConnectionDeviceIDType.
    event(
        116,
        "RTP_STARTED_EVENT",
        [
            U4("MonitorID"),
            U4("PeripheralID"),
            U4("ClientPort"),
            U2("Direction", enum="RTPDirection"),
            U2("RTPType", enum="RTPType"),
            U4("BitRate"),
            B2("EchoCancellation"),
            U4("PacketSize"),
            U2("PayloadType"),
            *_CONNECTION,
        ],
        ("CONNECTION_DEVID", "SENDING_ADDRESS", "SENDING_PORT", "SENDING_ADDRESS_IPV6"),
        doc="An RTP media stream started (fixed 34 bytes)",
        ref="5.3",
    ),
    # [IMPL SC] layout (20 bytes).
    event(
        117,
        "RTP_STOPPED_EVENT",
        [
            U4("MonitorID"),
            U4("PeripheralID"),
            U4("ClientPort"),
            U2("Direction", enum="RTPDirection"),
            *_CONNECTION,
        ],
        ("CONNECTION_DEVID", "SENDING_ADDRESS", "SENDING_PORT", "SENDING_ADDRESS_IPV6"),
        doc="An RTP media stream stopped (fixed 20 bytes)",
        ref="5.3",
    ),
    # 10.4: listed as 240 only by older tables (SC v19, Java stdtypes); the v24 table marks
    # 239-241 reserved.  10.21: its SC row has ConnDevIDType but no ConnectionCallID, so the
    # layout is not trusted: name-only.
    event(
        240,
        "CALL_ATTRIBUTE_CHANGE_EVENT",
        None,
        doc="Call attributes (call type, service) changed; old numbering, layout not trusted",
        ref="5.3",
        conflict="10.4: number 240 only from older tables (v24 lists 239-241 reserved), "
        "unconfirmed; 10.21: SC layout lacks ConnectionCallID (possibly a dropped field)",
    ),
    # 10.21: no PeripheralType after PeripheralID; the row has no source mark.  The GreetingType
    # float (S32) has no tag number in section 3.2, so it decodes as an unknown tag.
    event(
        248,
        "CALL_AGENT_GREETING_EVENT",
        [
            U4("MonitorID"),
            U4("PeripheralID"),
            *_CONNECTION,
            U2("EventCode", enum="AgentGreetingEventCode"),
            U4("PeripheralErrorCode", doc="Only meaningful when EventCode = 2 (failed)"),
        ],
        ("CONNECTION_DEVID", "AGENT_ID"),
        since=15,
        doc="Agent greeting started / ended / failed (fixed 20 bytes)",
        ref="5.3",
        conflict="10.21: layout starts without PeripheralType and has no source mark; "
        "GreetingType float has no known tag number",
    ),
]
