"""The GED-188 catalogue: the single source of truth for message types, fixed-part layouts,
floating tags, enums and version rules.  Everything else (codec, scapy layer, Lua dissector,
docs) is derived from the objects exported here.

Lookups: ``MESSAGES_BY_TYPE[3]``, ``MESSAGES_BY_NAME["OPEN_REQ"]``, ``TAGS_BY_NUMBER[1]``,
``TAGS_BY_NAME["CLIENT_ID"]``, ``ENUMS["AgentState"]``.
"""

from __future__ import annotations

from .enums import ENUMS
from .messages import arm, call_events, client_control, config, misc, session, supervisor
from .schema import CONFIRMATION, EVENT, INDICATION, REQUEST, Enum, Field, Message, Tag, snake_case
from .tags import TAGS
from .versions import DEFAULT_VERSION, floating_header_size, max_body_length, max_message_size

MESSAGES: tuple[Message, ...] = tuple(
    sorted(
        [
            *session.MESSAGES,
            *call_events.MESSAGES,
            *misc.MESSAGES,
            *client_control.MESSAGES,
            *supervisor.MESSAGES,
            *arm.MESSAGES,
            *config.MESSAGES,
        ],
        key=lambda m: m.type,
    )
)
MESSAGES_BY_TYPE: dict[int, Message] = {m.type: m for m in MESSAGES}
MESSAGES_BY_NAME: dict[str, Message] = {m.name: m for m in MESSAGES}
TAGS_BY_NUMBER: dict[int, Tag] = {t.tag: t for t in TAGS}
TAGS_BY_NAME: dict[str, Tag] = {t.name: t for t in TAGS}

GENERIC_FAILURES = ("FAILURE_CONF",)
"""Negative confirmations any request may receive instead of its positive one."""
CONTROL_FAILURES = ("CONTROL_FAILURE_CONF",)
"""Negative confirmations only client-control requests may receive."""


def confirmation_of(request: str) -> str | None:
    """Name of the positive confirmation of ``request`` (None if it has none)."""
    return _CONF_OF.get(request)


def responses_of(request: str) -> tuple[str, ...]:
    """Every message name that may answer ``request``: its confirmation, FAILURE_CONF, and
    CONTROL_FAILURE_CONF for client-control requests."""
    msg = MESSAGES_BY_NAME[request]
    out = []
    if request in _CONF_OF:
        out.append(_CONF_OF[request])
    out.extend(GENERIC_FAILURES)
    if msg.control:
        out.extend(CONTROL_FAILURES)
    return tuple(out)


_CONF_OF: dict[str, str] = {m.answers: m.name for m in MESSAGES if m.answers}

__all__ = [
    "CONFIRMATION",
    "CONTROL_FAILURES",
    "DEFAULT_VERSION",
    "ENUMS",
    "EVENT",
    "Enum",
    "Field",
    "GENERIC_FAILURES",
    "INDICATION",
    "MESSAGES",
    "MESSAGES_BY_NAME",
    "MESSAGES_BY_TYPE",
    "Message",
    "REQUEST",
    "TAGS",
    "TAGS_BY_NAME",
    "TAGS_BY_NUMBER",
    "Tag",
    "confirmation_of",
    "floating_header_size",
    "max_body_length",
    "max_message_size",
    "responses_of",
    "snake_case",
]
