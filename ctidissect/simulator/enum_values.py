"""Enum values by spec name, read from the catalogue (never hard-coded numbers).

``STATUS["E_CTI_SESSION_NOT_OPEN"]`` is 4, ``SERVICE["CTI_SERVICE_ALL_EVENTS"]`` 0x10, etc.
"""

from __future__ import annotations

from ..catalogue import ENUMS


def by_name(enum: str) -> dict[str, int]:
    """Map value name -> value for catalogue enum ``enum`` (e.g. ``"StatusCode"``)."""
    return {name: value for value, name in ENUMS[enum].values.items()}


def lookup(enum: str, name: str) -> int:
    """Value of ``name`` in catalogue enum ``enum``; ValueError naming the enum when unknown."""
    table = by_name(enum)
    if name not in table:
        raise ValueError(f"{name!r} is not a value of {enum} (known: {', '.join(sorted(table))})")
    return table[name]


STATUS = by_name("StatusCode")
CONTROL_FAILURE = by_name("ControlFailureCode")
SERVICE = by_name("ServiceMask")
AGENT_STATE = by_name("AgentState")
CALL_TYPE = by_name("CallType")
EVENT_CAUSE = by_name("EventCause")
LCS = by_name("LocalConnectionState")
CONNECTION_ID_TYPE = by_name("ConnectionDeviceIDType")
DEVICE_ID_TYPE = by_name("DeviceIDType")
LINE_TYPE = by_name("LineType")
PERIPHERAL_TYPE = by_name("PeripheralType")
SYSTEM_EVENT = by_name("SystemEventID")
SUPERVISORY_ACTION = by_name("SupervisoryAction")
AGENT_FLAGS = by_name("AgentFlags")
CALL_MSG_MASK = by_name("CallMsgMask")
SESSION_TYPE = by_name("SessionType")

NULL_ID = 0xFFFFFFFF
"""NULL_CALL_ID / NULL_PERIPHERAL_ID / NULL_SERVICE / NULL_SKILL_GROUP (UINT)."""
NONE_USHORT = 0xFFFF
"""DEVID_NONE / CONNECTION_ID_NONE / LCS_NONE / CEC_NONE (USHORT)."""

# Every service bit the catalogue defines; any other bit in ServicesRequested is refused
# with E_CTI_INVALID_SERVICE_MASK (6.1).
KNOWN_SERVICE_BITS = 0
for _bit in SERVICE.values():
    KNOWN_SERVICE_BITS |= _bit


def agent_state_mask_bit(state: int) -> int:
    """AgentStateMask bit of AgentState ``state`` (6.3): bit n for n = 0..8; UNKNOWN (9) has
    none; values 10..14 use bits 9..13."""
    if state <= 8:
        return 1 << state
    if state == 9:
        return 0
    return 1 << (state - 1)
