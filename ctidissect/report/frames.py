"""pandas DataFrames of the decoded messages and of the analysis tables.

Every frame follows a column table of :mod:`ctidissect.report.columns` (names, dtypes, and
the doc lines that document them, units included).  Frames are built once, column by
column, from plain lists (never row dicts).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from .columns import (
    CALL_COLUMNS,
    FANOUT_COLUMNS,
    FANOUT_RECIPIENT_COLUMNS,
    MESSAGE_COLUMNS,
    PAIR_COLUMNS,
    SESSION_COLUMNS,
    Column,
)

# --------------------------------------------------------------------------- analysis tables


def _analysis_table(columns: Sequence[Column], data: dict[str, list[Any]]) -> pd.DataFrame:
    """A DataFrame with exactly ``columns`` (in order, with their dtypes) from per-column lists."""
    out: dict[str, Any] = {}
    for col in columns:
        values = data[col.name]
        if col.dtype == "float64":
            out[col.name] = pd.Series([float("nan") if v is None else v for v in values], dtype="float64")
        elif col.dtype == "bool":
            out[col.name] = pd.Series([bool(v) for v in values], dtype="bool")
        else:
            out[col.name] = pd.Series(pd.array(values, dtype=col.dtype))
    return pd.DataFrame(out, columns=[c.name for c in columns])


def _items(source: Any, attribute: str) -> list[Any]:
    """The ``attribute`` list of an :class:`~ctidissect.analysis.Analysis`, or ``source``
    itself when it is already an iterable of records."""
    if hasattr(source, attribute):
        return list(getattr(source, attribute))
    return list(source)


def _columns_of(items: Iterable[Any], columns: Sequence[Column]) -> dict[str, list[Any]]:
    items = list(items)
    return {c.name: [getattr(i, c.name) for i in items] for c in columns}


def sessions_frame(analysis: Any) -> pd.DataFrame:
    """One row per CTI session (:data:`~ctidissect.report.columns.SESSION_COLUMNS`) from an
    ``Analysis`` or an iterable of ``Session``; times in epoch seconds, durations seconds."""
    sessions = _items(analysis, "sessions")
    names = [c.name for c in SESSION_COLUMNS]
    derived = {
        "services_requested": lambda s: "|".join(s.services_requested_names) if s.services_requested is not None else None,
        "services_requested_mask": lambda s: s.services_requested,
        "services_granted": lambda s: "|".join(s.services_granted_names) if s.services_granted is not None else None,
        "services_granted_mask": lambda s: s.services_granted,
    }
    data = {
        name: [derived[name](s) if name in derived else getattr(s, name) for s in sessions] for name in names
    }
    return _analysis_table(SESSION_COLUMNS, data)


def pairs_frame(analysis: Any) -> pd.DataFrame:
    """One row per request, or per orphan reply (:data:`~ctidissect.report.columns.PAIR_COLUMNS`),
    from an ``Analysis`` or an iterable of ``Pair``; latencies in seconds."""
    return _analysis_table(PAIR_COLUMNS, _columns_of(_items(analysis, "pairs"), PAIR_COLUMNS))


def fanout_frame(analysis: Any) -> pd.DataFrame:
    """One row per EMERGENCY_CALL_REQ / SUPERVISOR_ASSIST_REQ
    (:data:`~ctidissect.report.columns.FANOUT_COLUMNS`) from an ``Analysis`` or an iterable
    of ``Fanout``; the recipients are in :func:`fanout_recipients_frame`."""
    fanouts = _items(analysis, "fanout")
    derived = {
        "expected": lambda f: f.expected_count,
        "delivered": lambda f: f.delivered_count,
        "missed": lambda f: f.missed_count,
        "unexpected": lambda f: f.unexpected_count,
        "max_delay_s": lambda f: f.max_delay_s,
    }
    data = {
        c.name: [derived[c.name](f) if c.name in derived else getattr(f, c.name) for f in fanouts]
        for c in FANOUT_COLUMNS
    }
    return _analysis_table(FANOUT_COLUMNS, data)


def fanout_recipients_frame(analysis: Any) -> pd.DataFrame:
    """One row per (fan-out request, recipient session)
    (:data:`~ctidissect.report.columns.FANOUT_RECIPIENT_COLUMNS`); join with
    :func:`fanout_frame` on ``request_frame``.  Delays in seconds."""
    rows: list[tuple[Any, Any]] = [(f, r) for f in _items(analysis, "fanout") for r in f.recipients]
    from_request = {"request", "request_frame", "requester"}
    data = {
        c.name: [getattr(f if c.name in from_request else r, c.name) for f, r in rows]
        for c in FANOUT_RECIPIENT_COLUMNS
    }
    return _analysis_table(FANOUT_RECIPIENT_COLUMNS, data)


def calls_frame(analysis: Any) -> pd.DataFrame:
    """One row per call connection (:data:`~ctidissect.report.columns.CALL_COLUMNS`) from an
    ``Analysis`` or an iterable of ``Call``; times in epoch seconds, durations seconds."""
    calls = _items(analysis, "calls")
    derived = {
        "events": lambda c: len(c.events),
        "sessions": lambda c: " ".join(c.sessions),
        "session_count": lambda c: len(c.sessions),
        "event_causes": lambda c: "|".join(c.causes) or None,
    }
    data = {
        col.name: [derived[col.name](c) if col.name in derived else getattr(c, col.name) for c in calls]
        for col in CALL_COLUMNS
    }
    return _analysis_table(CALL_COLUMNS, data)


# --------------------------------------------------------------------------- messages

MESSAGE_KEY_FIXED = ("PeripheralID", "ConnectionCallID")
"""Fixed fields with a column of their own in :func:`messages_frame` (named by snake_case)."""
MESSAGE_KEY_FLOATING = ("CONNECTION_DEVID", "AGENT_ID", "AGENT_EXTENSION", "AGENT_INSTRUMENT", "CLIENT_ID")
"""Floating fields with a column of their own (the first occurrence in the message)."""


def messages_frame(records: Iterable[Any]) -> pd.DataFrame:
    """One row per message or anomaly record (:data:`~ctidissect.report.columns.MESSAGE_COLUMNS`)
    from the records of :func:`ctidissect.capture.read_capture` (or :func:`ctidissect.decode`);
    connection events are skipped.  Times in epoch seconds, lengths in bytes.  Built column
    by column: about a second per million records."""
    from ..catalogue import MESSAGES_BY_TYPE
    from ..catalogue.schema import snake_case
    from ..wire.records import Message

    msgs = [r for r in records if isinstance(r, Message)]
    kinds = {t: m.kind for t, m in MESSAGES_BY_TYPE.items()}
    data: dict[str, list[Any]] = {
        "frame": [r.frame for r in msgs],
        "ts": [r.ts for r in msgs],
        "conn": [r.conn for r in msgs],
        "direction": [r.direction for r in msgs],
        "protocol_version": [r.version for r in msgs],
        "version_source": [r.extra.get("version_source") for r in msgs],
        "type": [r.type for r in msgs],
        "name": [r.name for r in msgs],
        "kind": [kinds.get(r.type) for r in msgs],
        "invoke_id": [r.fields.get("InvokeID") for r in msgs],
        "length": [len(r.raw) for r in msgs],
        "anomalies": [",".join([a.code for a in r.anomalies]) if r.anomalies else None for r in msgs],
    }
    for name in MESSAGE_KEY_FIXED:
        data[snake_case(name)] = [r.fields.get(name) for r in msgs]
    floating: dict[str, list[Any]] = {tag: [None] * len(msgs) for tag in MESSAGE_KEY_FLOATING}
    for i, r in enumerate(msgs):
        for item in r.floating:
            column = floating.get(item.name)
            if column is not None and column[i] is None:
                column[i] = item.value
    for tag, values in floating.items():
        data[snake_case(tag)] = values
    return _analysis_table(MESSAGE_COLUMNS, data)
