"""Short constructors so that message declarations read like the spec's tables.

``U4("InvokeID")`` is a UINT field, ``U2("AgentState", enum="AgentState")`` a USHORT with an
enum, ``I4("DepartmentID", since=19)`` an INT added in protocol version 19.
"""

from __future__ import annotations

from .schema import (
    C2S,
    CONFIRMATION,
    EVENT,
    INDICATION,
    REQUEST,
    S2C,
    AltLayout,
    Field,
    Message,
)


def U4(name: str, **kw) -> Field:
    return Field(name, "UINT", **kw)


def I4(name: str, **kw) -> Field:
    return Field(name, "INT", **kw)


def U2(name: str, **kw) -> Field:
    return Field(name, "USHORT", **kw)


def I2(name: str, **kw) -> Field:
    return Field(name, "SHORT", **kw)


def U1(name: str, **kw) -> Field:
    return Field(name, "UCHAR", **kw)


def B2(name: str, **kw) -> Field:
    return Field(name, "BOOL", **kw)


def T4(name: str, **kw) -> Field:
    return Field(name, "TIME", **kw)


INVOKE_ID = U4("InvokeID", doc="Request identifier chosen by the client, echoed by the reply")


def req(
    type: int,
    name: str,
    fixed: list[Field] | None,
    floating: tuple[str, ...] | list[str] = (),
    *,
    control: bool = False,
    direction: str = C2S,
    **kw,
) -> Message:
    """A request (carries an InvokeID)."""
    return Message(
        type,
        name,
        REQUEST,
        direction,
        None if fixed is None else tuple(fixed),
        tuple(floating),
        control=control,
        **kw,
    )


def conf(
    type: int,
    name: str,
    answers: str | None,
    fixed: list[Field] | None,
    floating: tuple[str, ...] | list[str] = (),
    *,
    direction: str = S2C,
    **kw,
) -> Message:
    """A confirmation answering request ``answers``."""
    return Message(
        type,
        name,
        CONFIRMATION,
        direction,
        None if fixed is None else tuple(fixed),
        tuple(floating),
        answers=answers,
        **kw,
    )


def event(
    type: int,
    name: str,
    fixed: list[Field] | None,
    floating: tuple[str, ...] | list[str] = (),
    *,
    direction: str = S2C,
    **kw,
) -> Message:
    """An unsolicited event (no InvokeID)."""
    return Message(
        type, name, EVENT, direction, None if fixed is None else tuple(fixed), tuple(floating), **kw
    )


def ind(
    type: int,
    name: str,
    fixed: list[Field] | None,
    floating: tuple[str, ...] | list[str] = (),
    *,
    direction: str = C2S,
    **kw,
) -> Message:
    """A one-way indication (ARM ``…_IND``; no InvokeID, no reply)."""
    return Message(
        type,
        name,
        INDICATION,
        direction,
        None if fixed is None else tuple(fixed),
        tuple(floating),
        **kw,
    )


def alt(body_length: int, fields: list[Field], doc: str = "") -> AltLayout:
    return AltLayout(body_length, tuple(fields), doc)


CALL_VARS = tuple(f"CALL_VAR_{i}" for i in range(1, 11))
AGENT_IDS = ("AGENT_EXTENSION", "AGENT_ID", "AGENT_INSTRUMENT")
