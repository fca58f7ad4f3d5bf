"""Compliance rules engine: documented GED-188 rules judged on a decoded capture.

Each rule has a stable id (``request.sla``, ``open.idle_timeout`` ...), a title, a
description and a reference to the spec section (``shared/protocol/GED-188.md``).  Its
thresholds live in the packaged ``default_rules.toml``; a TOML rules file overrides any of
them (:func:`load_rules`).  Judging a capture gives, per rule, a verdict - ``pass``,
``warn``, ``fail`` or ``not-applicable`` (nothing to check) - with counts and evidence
(capture frames and sessions).  Evidence never quotes a sensitive value (catalogue tags
marked ``sensitive``): it names the field instead.

The rules read decoded records and analysis tables only (this module never decodes):
:class:`ComplianceInput` holds the messages of one capture, its sessions, pairs and fan-out
tables.  Every time is in seconds.
"""

from __future__ import annotations

import math
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from ..catalogue import MESSAGES_BY_NAME
from ..catalogue.versions import max_message_size
from ..wire.anomalies import ERROR, INFO, WARNING, severity

PASS = "pass"
WARN = "warn"
FAIL = "fail"
NOT_APPLICABLE = "not-applicable"
VERDICTS = (PASS, WARN, FAIL, NOT_APPLICABLE)
"""Possible verdicts, in the order of the report's summary."""

_RANK = {NOT_APPLICABLE: 0, PASS: 1, WARN: 2, FAIL: 3}
NO_HEARTBEAT = 0xFFFFFFFF
"""OPEN_REQ.IdleTimeout meaning "the client sends no heartbeats"."""

DECODE_ANOMALY_PREFIXES = ("frame.", "type.", "layout.", "fixed.", "float.")
"""Anomaly families judged by ``message.size_layout`` (the bytes of a message)."""
CAPTURE_ANOMALY_PREFIXES = ("capture.", "link.", "ip.", "tcp.", "stream.", "version.")
"""Anomaly families judged by ``capture.integrity`` (the capture and TCP streams)."""


class RulesError(ValueError):
    """A rules file that cannot be used (bad TOML, unknown rule or key, wrong type)."""


# --------------------------------------------------------------------------- data types


FACT_MESSAGES = frozenset({"OPEN_REQ"})
"""Messages whose fixed fields and floating items :class:`MessageFacts` always keeps."""


@dataclass(slots=True)
class MessageFacts:
    """The part of a decoded message the rules read, small enough to keep for every message
    of a large capture: ``size`` is the frame size in bytes (header included); ``fields``
    and ``floating`` are kept only for OPEN_REQ, for messages with anomalies and for
    messages carrying one of the ``keep_tags`` (e.g. the password tags), else empty."""

    type: int | None
    name: str | None
    conn: str | None
    direction: str | None
    frame: int | None
    ts: float | None
    version: int
    size: int
    anomalies: list
    fields: dict
    floating: list

    @classmethod
    def from_message(cls, msg: Any, keep_tags: frozenset[str] | set[str] = frozenset()) -> MessageFacts:
        keep = msg.name in FACT_MESSAGES or bool(msg.anomalies) or (
            bool(keep_tags) and any(item.name in keep_tags for item in msg.floating)
        )
        return cls(
            msg.type,
            msg.name,
            msg.conn,
            msg.direction,
            msg.frame,
            msg.ts,
            msg.version,
            len(msg.raw) if msg.raw is not None else 0,
            msg.anomalies,
            msg.fields if keep else {},
            msg.floating if keep else [],
        )

    def get(self, tag_name: str, default: Any = None) -> Any:
        """Value of the first kept floating field named ``tag_name``."""
        for item in self.floating:
            if item.name == tag_name:
                return item.value
        return default


def _size(msg: Any) -> int:
    size = getattr(msg, "size", None)
    if size is not None:
        return int(size)
    return len(msg.raw) if getattr(msg, "raw", None) is not None else 0


@dataclass
class ComplianceInput:
    """What the rules read for one capture.

    ``messages`` are the decoded records in capture order (anomaly-only records included),
    with ``conn``, ``direction``, ``frame`` and ``ts`` filled by the capture reader - whole
    :class:`~ctidissect.wire.Message` objects or their :class:`MessageFacts`;
    ``sessions``, ``pairs`` and ``fanout`` are the analysis DataFrames
    (:mod:`ctidissect.report.frames`); ``recipients`` the fan-out recipients table
    (``fanout_recipients_frame``, joined on ``request_frame``; without it a ``recipients``
    list column of ``fanout`` is read).  ``start_ts``/``end_ts`` bound the capture (epoch
    seconds); ``capture`` names the file in evidence; ``connection_events`` (optional)
    tell which connections were captured from their SYN.
    """

    messages: Sequence[Any]
    sessions: pd.DataFrame
    pairs: pd.DataFrame
    fanout: pd.DataFrame
    capture: str = ""
    start_ts: float | None = None
    end_ts: float | None = None
    connection_events: Sequence[Any] = ()
    recipients: pd.DataFrame | None = None


@dataclass
class Evidence:
    """One finding of a rule: where (capture, session, frame, time) and what, in words."""

    verdict: str
    detail: str
    conn: str | None = None
    frame: int | None = None
    ts: float | None = None
    capture: str = ""
    client_id: str | None = None
    related_frames: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["related_frames"] = list(self.related_frames)
        return out


@dataclass
class RuleResult:
    """Verdict of one rule with its counts: ``checked`` items (requests, sessions,
    messages ... as the rule says), of which ``passed``, ``warned``, ``failed``, and
    ``pending`` (not judged, e.g. a request whose reply could still come after the capture
    ended).  ``evidence`` keeps at most ``max_evidence`` items, failures first;
    ``evidence_total`` counts them all."""

    id: str
    title: str
    description: str
    ref: str
    verdict: str
    checked: int = 0
    passed: int = 0
    warned: int = 0
    failed: int = 0
    pending: int = 0
    summary: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    evidence_total: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    captures: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "ref": self.ref,
            "verdict": self.verdict,
            "checked": self.checked,
            "passed": self.passed,
            "warned": self.warned,
            "failed": self.failed,
            "pending": self.pending,
            "summary": self.summary,
            "evidence_total": self.evidence_total,
            "evidence": [e.to_json() for e in self.evidence],
            "params": self.params,
            "captures": list(self.captures),
        }


class _Tally:
    """Counts and evidence of one rule while it runs."""

    def __init__(self, ctx: ComplianceInput, sessions: _SessionInfo) -> None:
        self.ctx = ctx
        self.sessions = sessions
        self.checked = self.passed = self.warned = self.failed = self.pending = 0
        self.evidence: list[Evidence] = []
        self.notes: list[str] = []

    def ok(self, n: int = 1) -> None:
        self.checked += n
        self.passed += n

    def wait(self) -> None:
        self.checked += 1
        self.pending += 1

    def judge(
        self,
        verdict: str,
        detail: str,
        *,
        conn: str | None = None,
        frame: int | None = None,
        ts: float | None = None,
        related: Iterable[int | None] = (),
    ) -> None:
        """Count one checked item with ``verdict`` (pass/warn/fail); warn and fail keep
        evidence."""
        self.checked += 1
        if verdict == PASS:
            self.passed += 1
            return
        if verdict == WARN:
            self.warned += 1
        elif verdict == FAIL:
            self.failed += 1
        else:
            raise ValueError(f"verdict must be pass, warn or fail, not {verdict!r}")
        self.evidence.append(
            Evidence(
                verdict=verdict,
                detail=detail,
                conn=conn,
                frame=_int_or_none(frame),
                ts=_float_or_none(ts),
                capture=self.ctx.capture,
                client_id=self.sessions.client_id(conn) if conn else None,
                related_frames=tuple(int(f) for f in related if _int_or_none(f) is not None),
            )
        )


@dataclass(frozen=True)
class Rule:
    """A documented rule: ``check(ctx, params, tally)`` judges items into the tally and may
    return a one-line summary."""

    id: str
    title: str
    description: str
    ref: str
    check: Callable[[ComplianceInput, dict[str, Any], _Tally], str | None]


# --------------------------------------------------------------------------- helpers


def _int_or_none(value: Any) -> int | None:
    if value is None or value is pd.NA:
        return None
    try:
        if isinstance(value, float) and math.isnan(value):
            return None
        return int(value)
    except (TypeError, ValueError):
        return None


def _float_or_none(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def _str_or_none(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.3f} s"


def _rows(df: pd.DataFrame | None) -> list[dict[str, Any]]:
    if df is None or df.empty:
        return []
    return df.to_dict(orient="records")


class _SessionInfo:
    """Per-connection facts gathered once: OPEN_REQ, messages, role, ClientID, close time."""

    def __init__(self, ctx: ComplianceInput) -> None:
        self.by_conn: dict[str, list[Any]] = defaultdict(list)
        self.open_req: dict[str, Any] = {}
        for msg in ctx.messages:
            conn = getattr(msg, "conn", None)
            if conn is None or msg.type is None:
                continue
            self.by_conn[conn].append(msg)
            if msg.name == "OPEN_REQ" and msg.direction == "c2s" and conn not in self.open_req:
                self.open_req[conn] = msg
        self.rows: dict[str, dict[str, Any]] = {}
        for row in _rows(ctx.sessions):
            conn = _str_or_none(row.get("conn"))
            if conn is not None:
                self.rows[conn] = row
        self.syn_seen: dict[str, bool] = {}
        self.closed_at: dict[str, float] = {}
        for ev in ctx.connection_events:
            if ev.kind == "open":
                self.syn_seen[ev.conn] = bool(ev.syn_seen)
            elif ev.kind in ("fin", "rst") and ev.conn not in self.closed_at:
                self.closed_at[ev.conn] = float(ev.ts)

    def client_id(self, conn: str | None) -> str | None:
        if conn is None:
            return None
        row = self.rows.get(conn)
        if row is not None and _str_or_none(row.get("client_id")):
            return _str_or_none(row.get("client_id"))
        req = self.open_req.get(conn)
        if req is not None:
            value = req.get("CLIENT_ID")
            return None if value is None else str(value)
        return None

    def role(self, conn: str) -> str:
        row = self.rows.get(conn)
        return (_str_or_none(row.get("role")) if row else None) or "unknown"

    def end_ts(self, conn: str, capture_end: float | None) -> float | None:
        """When the session ended: its close (FIN/RST) or, if still open, capture end."""
        row = self.rows.get(conn)
        closed = _float_or_none(row.get("closed_ts")) if row else None
        if closed is None:
            closed = self.closed_at.get(conn)
        return closed if closed is not None else capture_end


# --------------------------------------------------------------------------- the rules


def _threshold_verdict(latency: float, warn_s: float, fail_s: float) -> str:
    if latency > fail_s:
        return FAIL
    if latency > warn_s:
        return WARN
    return PASS


def _check_request_sla(ctx: ComplianceInput, p: dict[str, Any], t: _Tally) -> str | None:
    exclude = set(p["exclude"])
    per_type = p["types"]
    for row in _rows(ctx.pairs):
        name = _str_or_none(row.get("request"))
        if name is None or row.get("status") == "orphan" or name in exclude:
            continue
        cat = MESSAGES_BY_NAME.get(name)
        control = bool(cat and cat.control)
        limits = per_type.get(name, {})
        warn_s = float(limits.get("warn_s", p["control_warn_s"] if control else p["warn_s"]))
        fail_s = float(limits.get("fail_s", p["control_fail_s"] if control else p["fail_s"]))
        conn = _str_or_none(row.get("conn"))
        frame = row.get("request_frame")
        req_ts = _float_or_none(row.get("request_ts"))
        latency = _float_or_none(row.get("latency_s"))
        invoke = _int_or_none(row.get("invoke_id"))
        if latency is None:
            if req_ts is not None and ctx.end_ts is not None and ctx.end_ts - req_ts < fail_s:
                t.wait()
                continue
            t.judge(
                p["unanswered"],
                f"{name} InvokeID {invoke} unanswered (SLA {_fmt_s(fail_s)})",
                conn=conn,
                frame=frame,
                ts=req_ts,
            )
            continue
        verdict = _threshold_verdict(latency, warn_s, fail_s)
        t.judge(
            verdict,
            f"{name} InvokeID {invoke} answered by {row.get('response')} after {_fmt_s(latency)} "
            f"(warn > {_fmt_s(warn_s)}, fail > {_fmt_s(fail_s)})",
            conn=conn,
            frame=frame,
            ts=req_ts,
            related=[row.get("response_frame")],
        )
    return None


def _check_duplicate(ctx: ComplianceInput, p: dict[str, Any], t: _Tally) -> str | None:
    for row in _rows(ctx.pairs):
        if _str_or_none(row.get("request")) is None:
            continue
        if row.get("status") == "duplicate":
            t.judge(
                p["verdict"],
                f"InvokeID {_int_or_none(row.get('invoke_id'))} of {row.get('request')} reused while a request "
                "with the same InvokeID was outstanding",
                conn=_str_or_none(row.get("conn")),
                frame=row.get("request_frame"),
                ts=row.get("request_ts"),
            )
        else:
            t.ok()
    return None


def _check_orphan(ctx: ComplianceInput, p: dict[str, Any], t: _Tally) -> str | None:
    for row in _rows(ctx.pairs):
        conn = _str_or_none(row.get("conn"))
        if row.get("status") != "orphan":
            t.ok()
            continue
        if "anomaly" in row and _str_or_none(row.get("anomaly")) is not None:
            precapture = row.get("anomaly") == "pair.orphan_precapture"
        else:
            precapture = conn not in t.sessions.open_req
        verdict = p["precapture_verdict"] if precapture else p["verdict"]
        why = " (session opened before the capture: the request may predate it)" if precapture else ""
        t.judge(
            verdict,
            f"{row.get('response')} with InvokeID {_int_or_none(row.get('invoke_id'))} matches no request{why}",
            conn=conn,
            frame=row.get("response_frame"),
            ts=_float_or_none(row.get("request_ts")),
        )
    return None


def _check_open_first(ctx: ComplianceInput, p: dict[str, Any], t: _Tally) -> str | None:
    for conn, msgs in t.sessions.by_conn.items():
        first = next((m for m in msgs if m.direction == "c2s"), None)
        if first is None:
            continue
        if first.name == "OPEN_REQ":
            t.ok()
            continue
        syn = t.sessions.syn_seen.get(conn)
        if syn is False or (syn is None and not ctx.connection_events and conn not in t.sessions.open_req):
            # The capture began inside this connection: its first message was not seen.
            continue
        t.judge(
            FAIL,
            f"first client message is {first.name or 'undecodable'}, not OPEN_REQ",
            conn=conn,
            frame=first.frame,
            ts=first.ts,
        )
    return None


def _check_open_required(ctx: ComplianceInput, p: dict[str, Any], t: _Tally) -> str | None:
    required = list(p["required"])
    for conn, req in t.sessions.open_req.items():
        names = {item.name for item in req.floating}
        missing = [r for r in required if r not in names]
        if missing:
            t.judge(FAIL, f"OPEN_REQ lacks required floating field(s) {', '.join(missing)}", conn=conn, frame=req.frame, ts=req.ts)
        elif "CLIENT_ID" in required and str(req.get("CLIENT_ID", "")).strip("\0 ") == "":
            t.judge(p["empty_client_id"], "OPEN_REQ has an empty CLIENT_ID", conn=conn, frame=req.frame, ts=req.ts)
        else:
            t.ok()
    return None


def _check_idle_timeout(ctx: ComplianceInput, p: dict[str, Any], t: _Tally) -> str | None:
    minimum = int(p["min_s"])
    for conn, req in t.sessions.open_req.items():
        value = req.fields.get("IdleTimeout")
        if value is None:
            continue
        if value == NO_HEARTBEAT or value >= minimum:
            t.ok()
        else:
            t.judge(
                FAIL,
                f"OPEN_REQ IdleTimeout {value} s is below {minimum} s and not 0xFFFFFFFF (E_CTI_INVALID_TIMEOUT)",
                conn=conn,
                frame=req.frame,
                ts=req.ts,
            )
    return None


def _check_reserved(ctx: ComplianceInput, p: dict[str, Any], t: _Tally) -> str | None:
    for conn, req in t.sessions.open_req.items():
        bad = [f"{name}=0x{req.fields[name]:X}" for name in p["fields"] if req.fields.get(name)]
        if bad:
            t.judge(FAIL, f"OPEN_REQ reserved field(s) not zero: {', '.join(bad)}", conn=conn, frame=req.frame, ts=req.ts)
        else:
            t.ok()
    return None


def _check_idle_gaps(ctx: ComplianceInput, p: dict[str, Any], t: _Tally) -> str | None:
    ratio = float(p["warn_ratio"])
    for conn, req in t.sessions.open_req.items():
        idle = req.fields.get("IdleTimeout")
        if idle is None or idle == NO_HEARTBEAT or idle <= 0 or req.ts is None:
            continue
        sent = [m for m in t.sessions.by_conn[conn] if m.direction == "c2s" and m.ts is not None and m.ts >= req.ts]
        end = t.sessions.end_ts(conn, ctx.end_ts)
        worst_gap, worst_after = 0.0, req
        for before, after in zip(sent, sent[1:]):
            gap = after.ts - before.ts
            if gap > worst_gap:
                worst_gap, worst_after = gap, before
        trailing = False
        if end is not None and sent and end - sent[-1].ts > worst_gap:
            worst_gap, worst_after, trailing = end - sent[-1].ts, sent[-1], True
        verdict = FAIL if worst_gap > idle else WARN if worst_gap > ratio * idle else PASS
        where = "until the session ended" if trailing else "before the next client message"
        t.judge(
            verdict,
            f"client silent for {_fmt_s(worst_gap)} after frame {worst_after.frame} {where} "
            f"(IdleTimeout {idle} s, warn above {ratio:g} x)",
            conn=conn,
            frame=worst_after.frame,
            ts=worst_after.ts,
        )
    return None


def _check_heartbeat_misses(ctx: ComplianceInput, p: dict[str, Any], t: _Tally) -> str | None:
    limit = int(p["max_consecutive"])
    pairs = ctx.pairs
    if pairs.empty:
        return None
    beats = pairs.loc[pairs["request"] == "HEARTBEAT_REQ"]
    if beats.empty:
        return None
    sort_cols = [c for c in ("request_ts", "request_frame") if c in beats.columns]
    for conn, group in beats.groupby("conn", sort=True):
        run: list[dict[str, Any]] = []
        runs: list[list[dict[str, Any]]] = []
        for row in _rows(group.sort_values(sort_cols, kind="stable")):
            if row.get("status") in ("unanswered", "late"):
                run.append(row)
            else:
                if run:
                    runs.append(run)
                run = []
        if run:
            runs.append(run)
        longest = max((len(r) for r in runs), default=0)
        if not runs:
            t.ok()
            continue
        worst = max(runs, key=len)
        verdict = FAIL if longest >= limit else p["isolated_verdict"]
        t.judge(
            verdict,
            f"{longest} consecutive HEARTBEAT_REQ unanswered ({sum(len(r) for r in runs)} missed in all; "
            f"{limit} consecutive mean the client must reset)",
            conn=str(conn),
            frame=worst[0].get("request_frame"),
            ts=worst[0].get("request_ts"),
            related=[r.get("request_frame") for r in worst[1:]],
        )
    return None


def _check_size_layout(ctx: ComplianceInput, p: dict[str, Any], t: _Tally) -> str | None:
    ignore = set(p["ignore"])
    for msg in ctx.messages:
        if msg.type is None and not any(a.code.startswith(DECODE_ANOMALY_PREFIXES) for a in msg.anomalies):
            continue  # an anomaly-only record of the capture layer (capture.integrity)
        problems: list[tuple[str, str]] = []
        limit = max_message_size(msg.version)
        size = _size(msg)
        if size > limit and "frame.too_long" not in ignore:
            problems.append((p["error_verdict"], f"{size} bytes, above the v{msg.version} maximum of {limit}"))
        for anomaly in msg.anomalies:
            if not anomaly.code.startswith(DECODE_ANOMALY_PREFIXES) or anomaly.code in ignore:
                continue
            if anomaly.code == "frame.too_long" and problems:
                continue
            sev = severity(anomaly.code)
            if sev == INFO:
                continue
            verdict = p["error_verdict"] if sev == ERROR or anomaly.code == "frame.too_long" else p["warning_verdict"]
            problems.append((verdict, anomaly.code + (f" ({anomaly.detail})" if anomaly.detail else "")))
        if not problems:
            t.ok()
            continue
        verdict = max((v for v, _ in problems), key=lambda v: _RANK[v])
        label = msg.name or (f"type {msg.type}" if msg.type is not None else "unframed bytes")
        t.judge(verdict, f"{label}: " + "; ".join(d for _, d in problems), conn=msg.conn, frame=msg.frame, ts=msg.ts)
    return None


def _check_capture_integrity(ctx: ComplianceInput, p: dict[str, Any], t: _Tally) -> str | None:
    ignore = set(p["ignore"])
    bad_conns: dict[str | None, list[tuple[Any, Any]]] = defaultdict(list)
    for msg in ctx.messages:
        for anomaly in msg.anomalies:
            if anomaly.code.startswith(CAPTURE_ANOMALY_PREFIXES) and anomaly.code not in ignore:
                if severity(anomaly.code) in (ERROR, WARNING):
                    bad_conns[msg.conn].append((msg, anomaly))
    conns = set(t.sessions.by_conn) | set(bad_conns)
    for conn in sorted(conns, key=lambda c: c or ""):
        found = bad_conns.get(conn)
        if not found:
            t.ok()
            continue
        codes = sorted({a.code for _, a in found})
        first_msg, first_anomaly = found[0]
        t.judge(
            p["verdict"],
            f"{len(found)} capture anomal{'y' if len(found) == 1 else 'ies'} ({', '.join(codes)}): "
            "messages may be missing from this session",
            conn=conn,
            frame=first_anomaly.frame or first_msg.frame,
            ts=first_msg.ts,
        )
    return None


def _answered_rule(request: str) -> Callable[[ComplianceInput, dict[str, Any], _Tally], str | None]:
    def check(ctx: ComplianceInput, p: dict[str, Any], t: _Tally) -> str | None:
        pairs = ctx.pairs
        if pairs.empty:
            return None
        for row in _rows(pairs.loc[pairs["request"] == request]):
            conn = _str_or_none(row.get("conn"))
            invoke = _int_or_none(row.get("invoke_id"))
            latency = _float_or_none(row.get("latency_s"))
            frame, ts = row.get("request_frame"), row.get("request_ts")
            if latency is None:
                t.judge(FAIL, f"{request} InvokeID {invoke} never answered", conn=conn, frame=frame, ts=ts)
                continue
            verdict = _threshold_verdict(latency, float(p["warn_s"]), float(p["fail_s"]))
            response = _str_or_none(row.get("response"))
            detail = f"{request} InvokeID {invoke} answered by {response} after {_fmt_s(latency)}"
            if row.get("status") == "failed" and _RANK[p["failure_verdict"]] > _RANK[verdict]:
                verdict = p["failure_verdict"]
                detail += " (refused: no supervisor found?)"
            t.judge(verdict, detail, conn=conn, frame=frame, ts=ts, related=[row.get("response_frame")])
        return None

    return check


def _recipients_of(ctx: ComplianceInput, request_frame: Any, row: dict[str, Any]) -> list[dict[str, Any]]:
    if ctx.recipients is not None:
        if ctx.recipients.empty:
            return []
        table = ctx.recipients
        return _rows(table.loc[table["request_frame"] == request_frame])
    recipients = row.get("recipients")
    if recipients is None or (isinstance(recipients, float) and math.isnan(recipients)):
        return []
    return list(recipients)


def _check_emergency_fanout(ctx: ComplianceInput, p: dict[str, Any], t: _Tally) -> str | None:
    roles = set(p["roles"])
    fanout = ctx.fanout
    if fanout is None or fanout.empty:
        return None
    incidents = 0
    for row in _rows(fanout.loc[fanout["request"] == "EMERGENCY_CALL_REQ"]):
        incidents += 1
        frame = row.get("request_frame")
        for rec in _recipients_of(ctx, frame, row):
            if rec.get("role") not in roles or rec.get("kind", "emergency_event") != "emergency_event":
                continue
            if rec.get("expected") is False or rec.get("expected") is pd.NA:
                continue  # opened after the request, closed before it, or on another server
            conn = _str_or_none(rec.get("conn"))
            delay = _float_or_none(rec.get("delay_s"))
            if not rec.get("delivered") or delay is None:
                t.judge(
                    FAIL,
                    f"EMERGENCY_CALL_EVENT for the emergency of frame {_int_or_none(frame)} never reached this "
                    f"{rec.get('role')} session",
                    conn=conn,
                    frame=frame,
                    ts=row.get("request_ts"),
                )
                continue
            verdict = _threshold_verdict(delay, float(p["warn_s"]), float(p["fail_s"]))
            t.judge(
                verdict,
                f"EMERGENCY_CALL_EVENT reached this {rec.get('role')} session {_fmt_s(delay)} after the "
                f"EMERGENCY_CALL_REQ of frame {_int_or_none(frame)}",
                conn=conn,
                frame=rec.get("frame"),
                ts=_float_or_none(row.get("request_ts")),
                related=[frame],
            )
    if incidents and not t.checked:
        return f"{incidents} emergency request(s), but no {'/'.join(sorted(roles))} session was open"
    return None


def _check_cleartext_password(ctx: ComplianceInput, p: dict[str, Any], t: _Tally) -> str | None:
    tags = set(p["tags"])
    for msg in ctx.messages:
        if msg.type is None or msg.direction != "c2s":
            continue
        found = [item for item in msg.floating if item.name in tags]
        if not found:
            continue
        non_empty = []
        for item in found:
            value = item.value
            raw = value if isinstance(value, (bytes, bytearray)) else str(value).encode("utf-8", "surrogateescape")
            if raw.strip(b"\0"):
                non_empty.append(item.name)
        if non_empty:
            t.judge(
                p["verdict"],
                f"{msg.name} carries a non-empty {', '.join(sorted(set(non_empty)))} in cleartext (value redacted)",
                conn=msg.conn,
                frame=msg.frame,
                ts=msg.ts,
            )
        else:
            t.ok()
    return None


RULES: tuple[Rule, ...] = (
    Rule(
        "request.sla",
        "Every request answered within its SLA",
        "Each request gets its confirmation, FAILURE_CONF or CONTROL_FAILURE_CONF within fail_s (warning above "
        "warn_s); client-control requests have their own limits, and per-type limits override both. A request "
        "never answered fails, unless the capture ended before its SLA ran out (pending).",
        "7.1, 7.2, 7.5",
        _check_request_sla,
    ),
    Rule(
        "invoke_id.duplicate",
        "No duplicate InvokeIDs",
        "A client must not reuse an InvokeID while a request carrying it is still outstanding.",
        "7.1",
        _check_duplicate,
    ),
    Rule(
        "invoke_id.orphan",
        "No orphan replies",
        "Every confirmation echoes the InvokeID of a request of its session. Replies in sessions whose "
        "OPEN_REQ was not captured get the milder precapture verdict.",
        "7.1",
        _check_orphan,
    ),
    Rule(
        "open.first",
        "OPEN_REQ is the first client message",
        "On every connection captured from its start, the client's first message is OPEN_REQ.",
        "7.2",
        _check_open_first,
    ),
    Rule(
        "open.required_fields",
        "OPEN_REQ carries its required floating fields",
        "CLIENT_ID and CLIENT_PASSWORD (which may be zero length) are required in OPEN_REQ "
        "(else E_CTI_REQUIRED_DATA_MISSING).",
        "5.1, 7.2",
        _check_open_required,
    ),
    Rule(
        "open.idle_timeout",
        "OPEN_REQ IdleTimeout is valid",
        "IdleTimeout must be at least 20 s, or 0xFFFFFFFF for a client that sends no heartbeats "
        "(else E_CTI_INVALID_TIMEOUT).",
        "5.1, 7.2",
        _check_idle_timeout,
    ),
    Rule(
        "open.reserved",
        "OPEN_REQ reserved fields are zero",
        "Reserved1-3 of OPEN_REQ must be 0 (else E_CTI_INVALID_RESERVED_FIELD).",
        "5.1",
        _check_reserved,
    ),
    Rule(
        "heartbeat.idle_timeout",
        "Client traffic keeps inside IdleTimeout",
        "After OPEN_REQ the client sends something (a heartbeat when idle) at least every IdleTimeout seconds, "
        "until the session ends; the server resets a connection silent for longer. Longest silence per "
        "session; warning above warn_ratio x IdleTimeout.",
        "7.2 (5)",
        _check_idle_gaps,
    ),
    Rule(
        "heartbeat.unanswered",
        "No run of unanswered heartbeats",
        "Three consecutive unanswered HEARTBEAT_REQs mean the client must declare failure and reset; a "
        "HEARTBEAT_CONF after the pairing timeout counts as missed.",
        "7.2 (5)",
        _check_heartbeat_misses,
    ),
    Rule(
        "message.size_layout",
        "Messages within size and layout",
        "Every message fits the maximum size of its protocol version (4329 bytes up to v19, 12500 from v20) "
        "and decodes without error or warning anomalies (truncated fields, overruns, unknown types or tags).",
        "1, 3, 5",
        _check_size_layout,
    ),
    Rule(
        "capture.integrity",
        "Capture complete",
        "No TCP gaps, resynchronisations or truncated records: otherwise messages may be missing and the other "
        "verdicts rest on incomplete evidence.",
        "-",
        _check_capture_integrity,
    ),
    Rule(
        "emergency.answered",
        "Every EMERGENCY_CALL_REQ answered within its SLA",
        "EMERGENCY_CALL_CONF (or FAILURE_CONF when no supervisor is found) must reach the agent within fail_s.",
        "7.4",
        _answered_rule("EMERGENCY_CALL_REQ"),
    ),
    Rule(
        "emergency.fanout",
        "EMERGENCY_CALL_EVENT reaches every bridge and recording session",
        "Even when no supervisor is found, the server sends EMERGENCY_CALL_EVENT to every ALL_EVENTS (bridge) "
        "client and recording server open at the time, within fail_s of the request.",
        "7.4",
        _check_emergency_fanout,
    ),
    Rule(
        "supervisor_assist.answered",
        "Every SUPERVISOR_ASSIST_REQ answered",
        "SUPERVISOR_ASSIST_CONF (or FAILURE_CONF when no supervisor is found) must reach the agent within fail_s.",
        "7.4",
        _answered_rule("SUPERVISOR_ASSIST_REQ"),
    ),
    Rule(
        "security.cleartext_password",
        "No password in cleartext",
        "CTI traffic is not encrypted: a non-empty CLIENT_PASSWORD (OPEN_REQ) or AGENT_PASSWORD on the wire is "
        "exposed to anyone who can capture it. The value itself is never shown.",
        "5.1",
        _check_cleartext_password,
    ),
)
RULES_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}


# --------------------------------------------------------------------------- rules files


def default_rules_text() -> str:
    """The packaged ``default_rules.toml`` (documented defaults)."""
    return resources.files("ctidissect.report").joinpath("default_rules.toml").read_text(encoding="utf-8")


def _check_type(where: str, default: Any, value: Any) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise RulesError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RulesError(f"{where}: expected a number, got {value!r}")
        if value < 0:
            raise RulesError(f"{where}: must not be negative, got {value!r}")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise RulesError(f"{where}: expected a string, got {value!r}")
        if where.endswith(("verdict", ".unanswered")) and value not in (PASS, WARN, FAIL):
            raise RulesError(f"{where}: expected \"pass\", \"warn\" or \"fail\", got {value!r}")
        return value
    if isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RulesError(f"{where}: expected a list of strings, got {value!r}")
        return list(value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise RulesError(f"{where}: expected a table, got {value!r}")
        return value
    raise RulesError(f"{where}: unsupported setting")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for section, table in override.items():
        if section not in ("defaults", "rules"):
            raise RulesError(f"unknown section [{section}] (expected [defaults] or [rules.\"ID\"])")
        if not isinstance(table, dict):
            raise RulesError(f"[{section}] must be a table")
        if section == "defaults":
            for key, value in table.items():
                if key not in base["defaults"]:
                    raise RulesError(f"unknown setting defaults.{key}")
                merged["defaults"][key] = _check_type(f"defaults.{key}", base["defaults"][key], value)
            continue
        rules = {rid: dict(params) for rid, params in merged["rules"].items()}
        for rid, params in table.items():
            if rid not in base["rules"]:
                raise RulesError(f"unknown rule {rid!r} (known: {', '.join(RULES_BY_ID)})")
            if not isinstance(params, dict):
                raise RulesError(f"rules.{rid} must be a table")
            for key, value in params.items():
                if key not in base["rules"][rid]:
                    raise RulesError(f"unknown setting {key!r} of rule {rid}")
                where = f"rules.{rid}.{key}"
                value = _check_type(where, base["rules"][rid][key], value)
                if key == "types":
                    types = dict(rules[rid]["types"])
                    for name, limits in value.items():
                        if name not in MESSAGES_BY_NAME:
                            raise RulesError(f"{where}: {name!r} is not a message name")
                        if not isinstance(limits, dict) or not set(limits) <= {"warn_s", "fail_s"}:
                            raise RulesError(f"{where}.{name}: expected {{ warn_s = S, fail_s = S }}")
                        for lk, lv in limits.items():
                            _check_type(f"{where}.{name}.{lk}", 0.0, lv)
                        types[name] = {**types.get(name, {}), **limits}
                    value = types
                rules[rid][key] = value
        merged["rules"] = rules
    return merged


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: not valid TOML ({exc})") from exc


def load_rules(path: str | Path | None = None) -> dict[str, Any]:
    """The rule settings: the packaged defaults, overridden by the TOML file at ``path``.

    Returns ``{"defaults": {...}, "rules": {rule_id: {setting: value}}}``.  Raises
    :class:`RulesError` for unreadable TOML, an unknown rule or setting, or a value of the
    wrong type, and ``OSError`` when the file cannot be read.
    """
    base = _parse(default_rules_text(), "default_rules.toml")
    missing = set(RULES_BY_ID) - set(base.get("rules", {}))
    if missing:  # a packaging mistake, not a user error
        raise RuntimeError(f"default_rules.toml lacks rule(s) {sorted(missing)}")
    if path is None:
        return base
    text = Path(path).read_text(encoding="utf-8")
    return _merge(base, _parse(text, str(path)))


# --------------------------------------------------------------------------- running


def run_rules(ctx: ComplianceInput, settings: dict[str, Any] | None = None) -> list[RuleResult]:
    """Judge every rule on one capture; ``settings`` from :func:`load_rules` (defaults
    when None).  Returns one :class:`RuleResult` per rule, in :data:`RULES` order."""
    settings = settings or load_rules()
    max_evidence = int(settings["defaults"]["max_evidence"])
    sessions = _SessionInfo(ctx)
    results = []
    for rule in RULES:
        params = settings["rules"][rule.id]
        tally = _Tally(ctx, sessions)
        summary = None
        if params.get("enabled", True):
            summary = rule.check(ctx, params, tally)
        results.append(_result(rule, params, tally, summary, max_evidence, enabled=params.get("enabled", True)))
    return results


def _verdict(checked: int, warned: int, failed: int) -> str:
    if failed:
        return FAIL
    if warned:
        return WARN
    return PASS if checked else NOT_APPLICABLE


def _summary(r: RuleResult) -> str:
    if r.verdict == NOT_APPLICABLE:
        return "nothing to check in this capture"
    parts = [f"{r.checked} checked", f"{r.passed} passed"]
    if r.warned:
        parts.append(f"{r.warned} warning{'s' if r.warned != 1 else ''}")
    if r.failed:
        parts.append(f"{r.failed} failed")
    if r.pending:
        parts.append(f"{r.pending} pending at capture end")
    return ", ".join(parts)


def _sorted_evidence(items: list[Evidence], limit: int) -> list[Evidence]:
    ordered = sorted(items, key=lambda e: (-_RANK[e.verdict], e.capture, e.ts if e.ts is not None else math.inf))
    return ordered[:limit]


def _result(rule: Rule, params: dict[str, Any], t: _Tally, summary: str | None, limit: int, enabled: bool) -> RuleResult:
    verdict = _verdict(t.checked, t.warned, t.failed)
    result = RuleResult(
        id=rule.id,
        title=rule.title,
        description=rule.description,
        ref=rule.ref,
        verdict=verdict,
        checked=t.checked,
        passed=t.passed,
        warned=t.warned,
        failed=t.failed,
        pending=t.pending,
        evidence=_sorted_evidence(t.evidence, limit),
        evidence_total=len(t.evidence),
        params=dict(params),
        captures=(t.ctx.capture,) if t.ctx.capture else (),
    )
    result.summary = "disabled by the rules file" if not enabled else (summary or _summary(result))
    if summary and verdict != NOT_APPLICABLE:
        result.summary = f"{_summary(result)}; {summary}"
    return result


def merge_results(per_capture: Sequence[Sequence[RuleResult]], max_evidence: int = 50) -> list[RuleResult]:
    """Combine the results of several captures rule by rule: counts add up, the verdict is
    the worst, evidence is pooled (failures first, at most ``max_evidence``)."""
    if not per_capture:
        return []
    if len(per_capture) == 1:
        return list(per_capture[0])
    merged = []
    for results in zip(*per_capture):
        first = results[0]
        evidence = [e for r in results for e in r.evidence]
        out = RuleResult(
            id=first.id,
            title=first.title,
            description=first.description,
            ref=first.ref,
            verdict=_verdict(sum(r.checked for r in results), sum(r.warned for r in results), sum(r.failed for r in results)),
            checked=sum(r.checked for r in results),
            passed=sum(r.passed for r in results),
            warned=sum(r.warned for r in results),
            failed=sum(r.failed for r in results),
            pending=sum(r.pending for r in results),
            evidence=_sorted_evidence(evidence, max_evidence),
            evidence_total=sum(r.evidence_total for r in results),
            params=first.params,
            captures=tuple(c for r in results for c in r.captures),
        )
        extra = "; ".join(sorted({r.summary.split("; ", 1)[1] for r in results if "; " in r.summary}))
        out.summary = _summary(out) + (f"; {extra}" if extra else "")
        if all(r.summary == "disabled by the rules file" for r in results):
            out.summary = "disabled by the rules file"
        merged.append(out)
    return merged


def overall_verdict(results: Iterable[RuleResult]) -> str:
    """The worst verdict of ``results`` (``not-applicable`` when every rule is)."""
    worst = NOT_APPLICABLE
    for r in results:
        if _RANK[r.verdict] > _RANK[worst]:
            worst = r.verdict
    return worst


def threshold_hit(results: Iterable[RuleResult], fail_on: str | None) -> bool:
    """Whether any verdict reaches ``fail_on`` (``warn`` or ``fail``; None never hits)."""
    if fail_on is None:
        return False
    if fail_on not in (WARN, FAIL):
        raise ValueError(f"fail_on must be 'warn' or 'fail', not {fail_on!r}")
    return any(_RANK[r.verdict] >= _RANK[fail_on] for r in results)


def results_frame(results: Sequence[RuleResult]) -> pd.DataFrame:
    """One row per rule: id, title, verdict, checked, passed, warned, failed, pending,
    summary (for tables and notebooks)."""
    cols = ["id", "title", "verdict", "checked", "passed", "warned", "failed", "pending", "summary"]
    return pd.DataFrame([{c: getattr(r, c) for c in cols} for r in results], columns=cols)


def evidence_frame(results: Sequence[RuleResult]) -> pd.DataFrame:
    """Every kept evidence item of ``results`` with its rule id (the findings list)."""
    cols = ["rule", "verdict", "capture", "conn", "client_id", "frame", "ts", "detail", "related_frames"]
    rows = [{"rule": r.id, **e.to_json()} for r in results for e in r.evidence]
    return pd.DataFrame(rows, columns=cols)
