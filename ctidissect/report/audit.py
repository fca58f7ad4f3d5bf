"""The audit report: one self-contained HTML or PDF file per set of captures.

:func:`build_audit` reads each capture once (streaming), runs the analysis (sessions, pairs,
fan-out) and the compliance rules on it, and keeps the provenance of the file (name,
SHA-256, time span, packet/message counts, anomalies).  :func:`write_report` renders the
result as

* **HTML** - one file with inline CSS and every plot embedded as a base64 PNG
  (``data:image/png;base64,...``): it opens with no network access and no other file;
* **PDF** - pages of text tables and plots written with matplotlib's ``PdfPages``.

Both formats are rendered from the same section model (:func:`report_sections`), so they
hold the same content.  **Sensitive values** - every floating field whose catalogue tag is
marked ``sensitive`` (passwords, ANI, DNIS, CED, call and ECC variables, ...) - are
replaced by ``[redacted]`` unless ``redact=False``.  **Every text that comes from a capture**
(ClientIDs, device ids, strings of any kind) is HTML-escaped: a capture is untrusted input.

A capture is analysed on its own: frame numbers, connections and sessions are per file
(the ``capture`` column names the file).  Rotated files of one recording should be merged
first (e.g. ``mergecap``) when sessions span them.  Times are epoch seconds in the data and
UTC in the rendered report; durations are seconds.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import pandas as pd
from matplotlib.figure import Figure

from .. import __version__
from ..catalogue import TAGS
from ..catalogue.versions import DEFAULT_SERVER_PORTS
from ..wire.records import NamedArray, NamedVar
from . import compliance as cmp
from .latency import PERCENTILE_METHOD, latency_table, slowest_requests
from .plots import fanout_timeline_figure, latency_cdf_figure, latency_histogram_figure, latency_over_time_figure

DEFAULT_PORTS: tuple[int, ...] = DEFAULT_SERVER_PORTS
"""CTI Server ports read by default (side A and side B)."""

REDACTED = "[redacted]"
SENSITIVE_TAGS: frozenset[str] = frozenset(t.name for t in TAGS if t.sensitive)
"""Catalogue tags whose values the report redacts (the ``sensitive`` flag of the catalogue)."""

MAX_SENSITIVE_RECORDS = 500
"""Messages carrying sensitive fields kept per capture for the "call data" section."""
MAX_TABLE_ROWS = 500
"""Rows shown per table in the report (the counts above each table cover everything)."""
MAX_INCIDENT_PLOTS = 40
"""Emergency / supervisor-assist incidents drawn with a timeline (all are listed)."""
MAX_SCATTER_POINTS = 100_000
"""Latency-over-time scatter: larger inputs are thinned (slowest and failed kept)."""

REPORT_FORMATS = {".html": "html", ".htm": "html", ".pdf": "pdf"}


# --------------------------------------------------------------------------- progress


class Progress:
    """A one-line progress bar on a stream (stderr by default), redrawn at most 10 times a
    second.  Disabled when ``enabled`` is False or the stream is not a TTY (``enabled=None``).
    The fraction is an estimate when the total is not known exactly."""

    WIDTH = 30

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self._last = 0.0
        self._shown = False

    def update(self, label: str, fraction: float | None, detail: str = "", *, force: bool = False) -> None:
        """Redraw with ``fraction`` in [0, 1] (None: no bar) and a short detail text."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        if fraction is None:
            bar = ""
        else:
            fraction = min(max(fraction, 0.0), 1.0)
            filled = int(round(fraction * self.WIDTH))
            bar = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction * 100:3.0f}% "
        line = f"{label} {bar}{detail}"
        self.stream.write("\r" + line[:118].ljust(118))
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        """End the line (call once at the end)."""
        if self.enabled and self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False


def _estimated_offset(stats: Any, frame: int | None) -> int:
    """Rough position in a capture file after packet ``frame``: per packet a record header
    and Ethernet/IP/TCP headers (~70 bytes), plus the CTI payload bytes decoded so far."""
    payload = stats.bytes_decoded + stats.bytes_in_anomalies + stats.retransmitted_bytes
    return 24 + 70 * (frame or 0) + payload


# --------------------------------------------------------------------------- data


@dataclass
class CaptureSource:
    """Provenance of one capture file: ``size_bytes`` in bytes, ``sha256`` hex digest,
    ``stats`` the reader's :class:`~ctidissect.capture.stats.CaptureStats` (packets,
    messages, bytes, anomaly counts, first/last epoch seconds)."""

    path: str
    name: str
    size_bytes: int
    sha256: str
    stats: Any

    @property
    def first_ts(self) -> float | None:
        return self.stats.first_ts

    @property
    def last_ts(self) -> float | None:
        return self.stats.last_ts

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            **self.stats.to_json(),
        }


@dataclass
class SensitiveRecord:
    """A message carrying sensitive floating fields (values kept in memory only; the
    report redacts them unless asked not to)."""

    frame: int | None
    ts: float | None
    conn: str | None
    message: str | None
    items: list[tuple[str, Any]]


@dataclass
class CaptureAudit:
    """Everything the report holds about one capture (DataFrames per
    :mod:`ctidissect.report.columns`; ``compliance`` is this capture's rule results)."""

    source: CaptureSource
    analysis: Any
    sessions: pd.DataFrame
    pairs: pd.DataFrame
    fanout: pd.DataFrame
    recipients: pd.DataFrame
    open_requests: list[SensitiveRecord]
    sensitive: list[SensitiveRecord]
    sensitive_total: int
    compliance: list[cmp.RuleResult]


@dataclass
class Audit:
    """An audit of one or more captures: per-capture data, merged compliance results, the
    rule settings used, and when (epoch seconds) it was built."""

    captures: list[CaptureAudit]
    compliance: list[cmp.RuleResult]
    settings: dict[str, Any]
    rules_source: str
    generated_ts: float = field(default_factory=time.time)
    reply_timeout_s: float | None = None

    def _concat(self, attribute: str) -> pd.DataFrame:
        frames = []
        for cap in self.captures:
            df = getattr(cap, attribute).copy()
            df.insert(0, "capture", pd.Series([cap.source.name] * len(df), dtype="string"))
            frames.append(df)
        if not frames:
            return pd.DataFrame()
        non_empty = [f for f in frames if not f.empty]
        return pd.concat(non_empty, ignore_index=True) if non_empty else frames[0]

    @property
    def sessions(self) -> pd.DataFrame:
        """Sessions of every capture, ``capture`` column first."""
        return self._concat("sessions")

    @property
    def pairs(self) -> pd.DataFrame:
        """Pairs of every capture, ``capture`` column first."""
        return self._concat("pairs")

    @property
    def fanout(self) -> pd.DataFrame:
        """Fan-out requests of every capture, ``capture`` column first."""
        return self._concat("fanout")

    @property
    def recipients(self) -> pd.DataFrame:
        """Fan-out recipients of every capture, ``capture`` column first."""
        return self._concat("recipients")

    @property
    def verdict(self) -> str:
        """Worst compliance verdict."""
        return cmp.overall_verdict(self.compliance)


def sha256_of(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in ``chunk``-byte pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _sensitive_items(msg: Any) -> list[tuple[str, Any]]:
    return [(item.name, item.value) for item in msg.floating if item.name in SENSITIVE_TAGS]


def audit_capture(
    path: str | os.PathLike[str],
    *,
    ports: Sequence[int] = DEFAULT_PORTS,
    version: int | None = None,
    detect: bool = False,
    config: Any = None,
    settings: dict[str, Any] | None = None,
    name: str | None = None,
    progress: Progress | None = None,
    progress_label: str = "reading",
) -> CaptureAudit:
    """Read, analyse and judge one capture in a single streaming pass.

    ``ports`` are the CTI Server ports; ``version`` the protocol version for connections
    whose OPEN_REQ was not captured (default: inferred, else 24); ``detect`` looks for CTI
    on other ports too; ``config`` an
    :class:`~ctidissect.analysis.AnalysisConfig` (reply timeout etc.); ``settings`` the
    compliance rules from :func:`~ctidissect.report.compliance.load_rules`.  Raises
    ``OSError`` for an unreadable file and the capture reader's format error for a file that
    is not a pcap/pcapng.
    """
    from ..analysis import Analyzer
    from ..capture import read_capture
    from ..capture.records import ConnectionEvent
    from ..capture.stats import CaptureStats
    from .frames import fanout_frame, fanout_recipients_frame, pairs_frame, sessions_frame

    path = os.fspath(path)
    settings = settings or cmp.load_rules()
    size = os.path.getsize(path)
    digest = sha256_of(path)
    stats = CaptureStats()
    analyzer = Analyzer(config)
    keep_tags = frozenset(settings["rules"]["security.cleartext_password"]["tags"])
    facts: list[cmp.MessageFacts] = []
    events: list[Any] = []
    open_requests: list[SensitiveRecord] = []
    sensitive: list[SensitiveRecord] = []
    sensitive_total = 0
    label = f"{progress_label} {name or Path(path).name}"
    for count, record in enumerate(
        read_capture(path, ports=tuple(ports), version=version, detect=detect, connection_events=True, stats=stats)
    ):
        analyzer.feed(record)
        if isinstance(record, ConnectionEvent):
            events.append(record)
        else:
            facts.append(cmp.MessageFacts.from_message(record, keep_tags))
            if record.type is not None and record.floating:
                if record.name == "OPEN_REQ" and record.direction == "c2s":
                    open_requests.append(
                        SensitiveRecord(record.frame, record.ts, record.conn, record.name,
                                        [(i.name or str(i.tag), i.value) for i in record.floating])
                    )
                items = _sensitive_items(record)
                if items:
                    sensitive_total += 1
                    if len(sensitive) < MAX_SENSITIVE_RECORDS:
                        sensitive.append(SensitiveRecord(record.frame, record.ts, record.conn, record.name, items))
        if progress is not None and count % 2000 == 0:
            fraction = min(_estimated_offset(stats, record.frame) / max(size, 1), 0.99)
            progress.update(label, fraction, f"~{stats.messages:,} messages")
    if progress is not None:
        progress.update(label, 1.0, f"{stats.messages:,} messages", force=True)
    analysis = analyzer.result()
    sessions = sessions_frame(analysis)
    pairs = pairs_frame(analysis)
    fanout = fanout_frame(analysis)
    recipients = fanout_recipients_frame(analysis)
    source = CaptureSource(path, name or Path(path).name, size, digest, stats)
    ctx = cmp.ComplianceInput(
        messages=facts,
        sessions=sessions,
        pairs=pairs,
        fanout=fanout,
        recipients=recipients,
        capture=source.name,
        start_ts=stats.first_ts,
        end_ts=stats.last_ts,
        connection_events=events,
    )
    results = cmp.run_rules(ctx, settings)
    return CaptureAudit(source, analysis, sessions, pairs, fanout, recipients, open_requests, sensitive,
                        sensitive_total, results)


def _unique_names(paths: Sequence[str]) -> list[str]:
    names = [Path(p).name for p in paths]
    counts = Counter(names)
    if all(c == 1 for c in counts.values()):
        return names
    return [os.fspath(p) if counts[n] > 1 else n for p, n in zip(paths, names)]


def build_audit(
    paths: Sequence[str | os.PathLike[str]],
    *,
    ports: Sequence[int] = DEFAULT_PORTS,
    version: int | None = None,
    detect: bool = False,
    reply_timeout_s: float | None = None,
    config: Any = None,
    rules_path: str | os.PathLike[str] | None = None,
    settings: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> Audit:
    """Audit every capture of ``paths`` (each analysed on its own) and merge the
    compliance results.  ``config`` is an :class:`~ctidissect.analysis.AnalysisConfig`
    (default settings when None; ``reply_timeout_s``, seconds, overrides its pairing
    timeout); ``rules_path`` a TOML rules file, or ``settings`` already loaded rules."""
    import dataclasses

    from ..analysis import AnalysisConfig

    if settings is None:
        settings = cmp.load_rules(rules_path)
    config = config or AnalysisConfig()
    if reply_timeout_s:
        config = dataclasses.replace(config, reply_timeout_s=reply_timeout_s)
    str_paths = [os.fspath(p) for p in paths]
    names = _unique_names(str_paths)
    captures = []
    for i, (path, name) in enumerate(zip(str_paths, names)):
        captures.append(
            audit_capture(
                path,
                ports=ports,
                version=version,
                detect=detect,
                config=config,
                settings=settings,
                name=name,
                progress=progress,
                progress_label=f"[{i + 1}/{len(str_paths)}] reading",
            )
        )
    merged = cmp.merge_results([c.compliance for c in captures], int(settings["defaults"]["max_evidence"]))
    return Audit(
        captures=captures,
        compliance=merged,
        settings=settings,
        rules_source=os.fspath(rules_path) if rules_path else "default rules (ctidissect/report/default_rules.toml)",
        reply_timeout_s=config.reply_timeout_s,
    )


# --------------------------------------------------------------------------- section model


@dataclass
class Badge:
    """A verdict rendered as a coloured label (``label`` replaces the verdict's text)."""

    verdict: str
    label: str | None = None

    @property
    def text(self) -> str:
        return self.label or self.verdict


@dataclass
class Para:
    text: str
    note: bool = False


@dataclass
class KeyValues:
    items: list[tuple[str, Any]]


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""
    total: int | None = None


@dataclass
class Plot:
    figure: Figure
    alt: str


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Any] = field(default_factory=list)
    level: int = 2


def fmt_ts(ts: Any) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SS.ffffff UTC`` ('' when missing)."""
    value = _num(ts)
    if value is None:
        return ""
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + " UTC"


def fmt_s(value: Any, digits: int = 6) -> str:
    """Seconds with up to ``digits`` decimals ('' when missing)."""
    v = _num(value)
    if v is None:
        return ""
    return f"{v:.{digits}f}".rstrip("0").rstrip(".") if v != int(v) else f"{int(v)}"


def _num(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _text(value: Any) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def display_value(tag: str, value: Any, redact: bool) -> str:
    """A floating value for the report: ``[redacted]`` for a sensitive tag when
    ``redact``; printable bytes as text, other bytes as hex; named variables as
    ``name=value``."""
    if redact and tag in SENSITIVE_TAGS:
        return REDACTED
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
        stripped = raw.rstrip(b"\0")
        if stripped and all(32 <= b < 127 for b in stripped):
            return stripped.decode("ascii")
        return raw.hex() if raw else "(empty)"
    if isinstance(value, NamedArray):
        return f"{value.name}[{value.index}]={value.value}"
    if isinstance(value, NamedVar):
        return f"{value.name}={value.value}"
    return _text(value)


def _limit(rows: list[list[Any]], limit: int = MAX_TABLE_ROWS) -> tuple[list[list[Any]], int]:
    return rows[:limit], len(rows)


def _provenance_section(audit: Audit) -> Section:
    sec = Section("provenance", "Provenance")
    fields: list[tuple[str, Callable[[CaptureAudit], str]]] = [
        ("path", lambda c: c.source.path),
        ("size (bytes)", lambda c: f"{c.source.size_bytes:,}"),
        ("SHA-256", lambda c: c.source.sha256),
        ("first packet", lambda c: fmt_ts(c.source.stats.first_ts)),
        ("last packet", lambda c: fmt_ts(c.source.stats.last_ts)),
        ("span (s)", lambda c: fmt_s(_span(c.source.stats), 3)),
        ("packets", lambda c: f"{c.source.stats.packets:,}"),
        ("CTI connections", lambda c: f"{c.source.stats.cti_connections:,}"),
        ("sessions", lambda c: f"{len(c.sessions):,}"),
        ("messages", lambda c: f"{c.source.stats.messages:,}"),
        ("anomaly records", lambda c: f"{c.source.stats.anomaly_records:,}"),
        ("bytes decoded", lambda c: f"{c.source.stats.bytes_decoded:,}"),
        ("bytes in anomalies", lambda c: f"{c.source.stats.bytes_in_anomalies:,}"),
        ("bytes lost (TCP gaps)", lambda c: f"{c.source.stats.bytes_lost:,}"),
        ("compliance", lambda c: cmp.overall_verdict(c.compliance)),
    ]
    rows = [[label, *(get(c) for c in audit.captures)] for label, get in fields]
    sec.blocks.append(Table(["capture", *(c.source.name for c in audit.captures)], rows))
    anomalies: Counter = Counter()
    for cap in audit.captures:
        anomalies.update(cap.source.stats.anomalies)
    if anomalies:
        from ..wire.anomalies import VOCABULARY

        arows = [
            [code, n, VOCABULARY[code].severity if code in VOCABULARY else "?", VOCABULARY[code].doc if code in VOCABULARY else ""]
            for code, n in sorted(anomalies.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        sec.blocks.append(Table(["anomaly", "count", "severity", "meaning"], arows, caption="Anomalies in the captures"))
    else:
        sec.blocks.append(Para("No anomalies: every byte of every CTI stream was framed and decoded."))
    sec.blocks.append(
        KeyValues(
            [
                ("generated", fmt_ts(audit.generated_ts)),
                ("tool", f"ctidissect {__version__}"),
                ("rules", audit.rules_source),
                ("pairing timeout (s)", fmt_s(audit.reply_timeout_s)),
            ]
        )
    )
    return sec


def _span(stats: Any) -> float | None:
    if stats.first_ts is None or stats.last_ts is None:
        return None
    return stats.last_ts - stats.first_ts


def _sessions_section(audit: Audit, redact: bool) -> Section:
    sec = Section("sessions", "Sessions")
    sessions = audit.sessions
    if sessions.empty:
        sec.blocks.append(Para("No CTI session in the captures."))
        return sec
    counts = sessions["role"].value_counts()
    sec.blocks.append(Para(f"{len(sessions)} session(s): " + ", ".join(f"{n} {r}" for r, n in counts.items()) + "."))
    cols = ["capture", "conn", "role", "client_id", "agent_id", "protocol_version", "services_granted", "opened_ts",
            "closed_ts", "end_reason", "idle_timeout_s", "heartbeat_interval_s", "missed_heartbeats"]
    rows = []
    for r in sessions.to_dict(orient="records"):
        rows.append(
            [
                _text(r.get("capture")),
                _text(r.get("conn")),
                _text(r.get("role")),
                _text(r.get("client_id")),
                _text(r.get("agent_id")),
                _text(r.get("protocol_version")),
                _text(r.get("services_granted")).replace("CTI_SERVICE_", "").replace("|", " "),
                fmt_ts(r.get("opened_ts")),
                fmt_ts(r.get("closed_ts")),
                _text(r.get("end_reason")),
                fmt_s(r.get("idle_timeout_s")),
                fmt_s(r.get("heartbeat_interval_s"), 3),
                _text(r.get("missed_heartbeats")),
            ]
        )
    shown, total = _limit(rows)
    sec.blocks.append(Table(cols, shown, total=total))
    opens = [(cap.source.name, rec) for cap in audit.captures for rec in cap.open_requests]
    if opens:
        orows = []
        for capname, rec in opens:
            fields = "; ".join(f"{tag}={display_value(tag, value, redact)}" for tag, value in rec.items)
            orows.append([capname, _text(rec.frame), fmt_ts(rec.ts), _text(rec.conn), fields])
        shown, total = _limit(orows)
        caption = "OPEN_REQ floating fields" + (" (sensitive values redacted)" if redact else " (NOT redacted)")
        sec.blocks.append(Table(["capture", "frame", "time", "conn", "floating fields"], shown, caption=caption, total=total))
    return sec


def _latency_section(audit: Audit) -> Section:
    sec = Section("latency", "Request latency")
    pairs = audit.pairs
    sessions = audit.sessions
    if pairs.empty or pairs["request"].notna().sum() == 0:
        sec.blocks.append(Para("No request in the captures."))
        return sec
    sec.blocks.append(
        Para(
            "Latency = reply time minus request time, in seconds, over answered requests (a FAILURE_CONF is a "
            f"reply). Percentiles use numpy's '{PERCENTILE_METHOD}' method (linear interpolation between closest "
            "ranks).",
            note=True,
        )
    )
    stat_cols = ["count", "answered", "failed", "unanswered", "late", "min_s", "p50_s", "p90_s", "p99_s", "max_s", "mean_s"]

    def table(df: pd.DataFrame, keys: list[str], caption: str) -> Table:
        rows = []
        for r in df.to_dict(orient="records"):
            rows.append([_text(r.get(k)) for k in keys] + [
                _text(r[c]) if c in ("count", "answered", "failed", "unanswered", "late") else fmt_s(r[c]) for c in stat_cols
            ])
        shown, total = _limit(rows)
        return Table(keys + stat_cols, shown, caption=caption, total=total)

    by_type = latency_table(pairs, "type", sessions, total=True)
    sec.blocks.append(table(by_type, ["request"], "By request type"))
    by_client = latency_table(pairs, "client", sessions)
    sec.blocks.append(table(by_client, ["client_id"], "By client (ClientID)"))
    by_session = latency_table(pairs, "session", sessions)
    sec.blocks.append(table(by_session, ["capture", "conn", "client_id", "role"], "By session"))
    slow = slowest_requests(pairs, 15)
    srows = [
        [_text(r.get("capture")), _text(r.get("conn")), _text(r.get("request")), _text(r.get("invoke_id")),
         _text(r.get("request_frame")), _text(r.get("response")), _text(r.get("response_frame")),
         fmt_s(r.get("latency_s")), _text(r.get("status"))]
        for r in slow.to_dict(orient="records")
    ]
    sec.blocks.append(
        Table(["capture", "conn", "request", "InvokeID", "request frame", "response", "response frame", "latency (s)",
               "status"], srows, caption="Slowest requests")
    )
    plot_pairs = _thin(pairs)
    title = "Request latency over time" + (" (thinned sample)" if len(plot_pairs) < len(pairs) else "")
    sec.blocks.append(Plot(latency_over_time_figure(plot_pairs, title=title), "latency over time"))
    sec.blocks.append(Plot(latency_cdf_figure(pairs), "latency CDF"))
    sec.blocks.append(Plot(latency_histogram_figure(pairs), "latency histogram"))
    return sec


def _thin(pairs: pd.DataFrame, limit: int = MAX_SCATTER_POINTS) -> pd.DataFrame:
    """At most ``limit`` rows for a scatter: a regular stride, plus the slowest 1 % and
    every failed/late request."""
    if len(pairs) <= limit:
        return pairs
    step = math.ceil(len(pairs) / limit)
    keep = pd.Series(False, index=pairs.index)
    keep.iloc[::step] = True
    keep |= pairs["status"].isin(["failed", "late"]).fillna(False)
    keep |= pairs["latency_s"] >= pairs["latency_s"].quantile(0.99)
    return pairs.loc[keep]


def _compliance_sections(audit: Audit) -> list[Section]:
    summary = Section("compliance", "Compliance verdicts")
    counts = Counter(r.verdict for r in audit.compliance)
    summary.blocks.append(
        Para(
            f"Overall: {audit.verdict}. "
            + ", ".join(f"{counts.get(v, 0)} {v}" for v in cmp.VERDICTS)
            + f". Rules: {audit.rules_source}."
        )
    )
    rows = [
        [r.id, r.title, Badge(r.verdict), r.checked, r.passed, r.warned, r.failed, r.pending, r.summary]
        for r in audit.compliance
    ]
    summary.blocks.append(Table(["rule", "title", "verdict", "checked", "passed", "warned", "failed", "pending", "summary"], rows))
    out = [summary]
    for r in audit.compliance:
        sec = Section(f"rule-{r.id}", f"{r.id}: {r.title}", level=3)
        sec.blocks.append(KeyValues([("verdict", Badge(r.verdict)), ("spec", f"GED-188 {r.ref}"), ("summary", r.summary)]))
        sec.blocks.append(Para(r.description, note=True))
        shown_params = {k: v for k, v in r.params.items() if k != "enabled"}
        if shown_params:
            sec.blocks.append(Para("Thresholds: " + ", ".join(f"{k} = {v}" for k, v in shown_params.items()), note=True))
        if r.evidence:
            erows = [
                [Badge(e.verdict), e.capture, _text(e.frame), fmt_ts(e.ts), _text(e.conn), _text(e.client_id), e.detail,
                 " ".join(str(f) for f in e.related_frames)]
                for e in r.evidence
            ]
            sec.blocks.append(
                Table(["verdict", "capture", "frame", "time", "session", "client_id", "evidence", "related frames"], erows,
                      caption="Evidence", total=r.evidence_total)
            )
        out.append(sec)
    return out


def _incidents_section(audit: Audit) -> Section:
    sec = Section("incidents", "Emergency and supervisor-assist incidents")
    fanout = audit.fanout
    if fanout.empty:
        sec.blocks.append(Para("No EMERGENCY_CALL_REQ or SUPERVISOR_ASSIST_REQ in the captures."))
        return sec
    recipients = audit.recipients
    sla = audit.settings["rules"]["emergency.fanout"]["fail_s"]
    plotted = 0
    for f in fanout.to_dict(orient="records"):
        title = f"{f['request']} - {f['capture']} frame {_text(f.get('request_frame'))}"
        sub = Section(f"incident-{_text(f['capture'])}-{_text(f.get('request_frame'))}", title, level=3)
        sub.blocks.append(
            KeyValues(
                [
                    ("time", fmt_ts(f.get("request_ts"))),
                    ("requester", f"{_text(f.get('requester'))} (ClientID {_text(f.get('requester_client_id'))})"),
                    ("agent", _text(f.get("agent_id"))),
                    ("outcome", f"{_text(f.get('outcome')) or 'no reply'} after {fmt_s(f.get('outcome_latency_s'))} s "
                                f"({_text(f.get('outcome_status'))}{', ' + _text(f.get('failure')) if _text(f.get('failure')) else ''})"),
                    ("fan-out", f"{_text(f.get('delivered'))} of {_text(f.get('expected'))} expected recipient(s) reached, "
                                f"{_text(f.get('missed'))} missed, max delay {fmt_s(f.get('max_delay_s'))} s"),
                ]
            )
        )
        recs = pd.DataFrame()
        if not recipients.empty:
            recs = recipients.loc[(recipients["capture"] == f["capture"]) & (recipients["request_frame"] == f["request_frame"])]
        rec_rows = [
            [_text(r.get("conn")), _text(r.get("role")), _text(r.get("client_id")), _text(r.get("kind")),
             _text(r.get("expected")),
             Badge("pass", "yes") if r.get("delivered") else Badge("fail" if r.get("expected") else "not-applicable", "missed"),
             _text(r.get("frame")), fmt_s(r.get("delay_s")), _text(r.get("message"))]
            for r in recs.to_dict(orient="records")
        ]
        if rec_rows:
            sub.blocks.append(
                Table(["session", "role", "client_id", "kind", "expected", "delivered", "frame", "delay (s)", "message"], rec_rows)
            )
        if plotted < MAX_INCIDENT_PLOTS:
            incident = {**f, "recipients": recs.to_dict(orient="records")}
            sub.blocks.append(Plot(fanout_timeline_figure(incident, sla_s=sla if f["request"] == "EMERGENCY_CALL_REQ" else None),
                                   f"timeline of {f['request']} frame {_text(f.get('request_frame'))}"))
            plotted += 1
        sec.blocks.append(sub)
    if len(fanout) > plotted:
        sec.blocks.append(Para(f"{len(fanout) - plotted} incident(s) listed without a timeline plot.", note=True))
    return sec


def _call_data_section(audit: Audit, redact: bool) -> Section:
    sec = Section("call-data", "Sensitive data seen")
    total = sum(c.sensitive_total for c in audit.captures)
    if not total:
        sec.blocks.append(Para("No message carried a field marked sensitive in the catalogue."))
        return sec
    sec.blocks.append(
        Para(
            f"{total} message(s) carried fields the catalogue marks sensitive (passwords, ANI, DNIS, CED, call and "
            "ECC variables, ...). "
            + ("Their values are redacted; rerun with --no-redact to show them." if redact else
               "Values are shown because the report was built with --no-redact: handle this file accordingly."),
            note=True,
        )
    )
    rows = []
    for cap in audit.captures:
        for rec in cap.sensitive:
            fields = "; ".join(f"{tag}={display_value(tag, value, redact)}" for tag, value in rec.items)
            rows.append([cap.source.name, _text(rec.frame), fmt_ts(rec.ts), _text(rec.conn), _text(rec.message), fields])
    shown, _ = _limit(rows)
    sec.blocks.append(Table(["capture", "frame", "time", "conn", "message", "sensitive fields"], shown, total=total))
    return sec


def _findings_section(audit: Audit) -> Section:
    sec = Section("findings", "Findings")
    items = []
    for r in audit.compliance:
        for e in r.evidence:
            items.append((cmp._RANK[e.verdict], r.id, e))
    if not items:
        sec.blocks.append(Para("No finding: every applicable rule passed."))
        return sec
    items.sort(key=lambda t: (-t[0], t[2].capture, t[2].ts if t[2].ts is not None else math.inf))
    rows = [
        [Badge(e.verdict), rule, e.capture, _text(e.frame), fmt_ts(e.ts), _text(e.conn), _text(e.client_id), e.detail]
        for _, rule, e in items
    ]
    total = sum(r.evidence_total for r in audit.compliance)
    shown, _ = _limit(rows)
    sec.blocks.append(Table(["verdict", "rule", "capture", "frame", "time", "session", "client_id", "finding"], shown, total=total))
    return sec


def report_sections(audit: Audit, *, redact: bool = True) -> list[Section]:
    """The report's content, in order, shared by the HTML and PDF renderers.  With a
    single capture the tables leave out their ``capture`` column."""
    sections = [
        _provenance_section(audit),
        _sessions_section(audit, redact),
        _latency_section(audit),
        *_compliance_sections(audit),
        _incidents_section(audit),
        _findings_section(audit),
        _call_data_section(audit, redact),
    ]
    if len(audit.captures) == 1:
        for sec in sections:
            _drop_capture_column(sec)
    return sections


def _drop_capture_column(sec: Section) -> None:
    for block in sec.blocks:
        if isinstance(block, Section):
            _drop_capture_column(block)
        elif isinstance(block, Table) and "capture" in block.columns[1:]:
            i = block.columns.index("capture")
            block.columns = block.columns[:i] + block.columns[i + 1 :]
            block.rows = [row[:i] + row[i + 1 :] for row in block.rows]
        elif isinstance(block, Table) and block.columns and block.columns[0] == "capture" and block.rows and len(block.columns) > 2:
            block.columns = block.columns[1:]
            block.rows = [row[1:] for row in block.rows]


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2d44;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px 0;font-size:22px}
header p{margin:2px 0;color:#c9d3e3;font-size:13px}
nav{background:#fff;border-bottom:1px solid #dde1e7;padding:8px 28px;font-size:13px}
nav a{margin-right:14px;color:#1d4f91;text-decoration:none}
main{padding:10px 28px 40px 28px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 18px;margin:16px 0}
section section{border:none;border-top:1px solid #eceef2;border-radius:0;padding:6px 0;margin:10px 0}
h2{font-size:18px;margin:8px 0}
h3{font-size:15px;margin:8px 0}
table{border-collapse:collapse;font-size:12px;margin:8px 0;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid #dde1e7;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eef1f5;position:sticky;top:0}
tr:nth-child(even) td{background:#fafbfc}
td{font-variant-numeric:tabular-nums;word-break:break-word;max-width:520px}
caption{text-align:left;font-weight:600;padding:4px 0}
.note{color:#555e6d;font-size:12px}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:11px;font-weight:700;color:#fff}
.pass{background:#2e8540}.warn{background:#c77c02}.fail{background:#c0392b}.not-applicable{background:#8a93a0}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:13px;margin:6px 0}
dt{font-weight:600;color:#444}dd{margin:0}
img{max-width:100%;height:auto;border:1px solid #eceef2;margin:6px 0}
.more{color:#555e6d;font-size:12px;font-style:italic}
"""


def _esc(value: Any) -> str:
    return html.escape(_text(value), quote=True)


def _html_cell(value: Any) -> str:
    if isinstance(value, Badge):
        return f'<span class="badge {_esc(value.verdict)}">{_esc(value.text)}</span>'
    return _esc(value)


def figure_png(fig: Figure, dpi: int = 96) -> bytes:
    """PNG bytes of a matplotlib figure (Agg renderer)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _html_block(block: Any, out: list[str]) -> None:
    if isinstance(block, Para):
        out.append(f'<p class="{"note" if block.note else ""}">{_esc(block.text)}</p>')
    elif isinstance(block, KeyValues):
        out.append("<dl>")
        for key, value in block.items:
            out.append(f"<dt>{_esc(key)}</dt><dd>{_html_cell(value)}</dd>")
        out.append("</dl>")
    elif isinstance(block, Table):
        out.append("<table>")
        if block.caption:
            out.append(f"<caption>{_esc(block.caption)}</caption>")
        out.append("<thead><tr>" + "".join(f"<th>{_esc(c)}</th>" for c in block.columns) + "</tr></thead><tbody>")
        for row in block.rows:
            out.append("<tr>" + "".join(f"<td>{_html_cell(v)}</td>" for v in row) + "</tr>")
        out.append("</tbody></table>")
        if block.total is not None and block.total > len(block.rows):
            out.append(f'<p class="more">{len(block.rows)} of {block.total} rows shown.</p>')
    elif isinstance(block, Plot):
        data = base64.b64encode(figure_png(block.figure)).decode("ascii")
        out.append(f'<img alt="{_esc(block.alt)}" src="data:image/png;base64,{data}">')
    elif isinstance(block, Section):
        _html_section(block, out)
    else:
        raise TypeError(f"unknown report block {type(block).__name__}")


def _html_section(sec: Section, out: list[str]) -> None:
    tag = f"h{sec.level}"
    out.append(f'<section id="{_esc(sec.id)}"><{tag}>{_esc(sec.title)}</{tag}>')
    for block in sec.blocks:
        _html_block(block, out)
    out.append("</section>")


def render_html(audit: Audit, *, redact: bool = True, progress: Progress | None = None) -> str:
    """The report as one self-contained HTML document (inline CSS, plots as base64 PNG)."""
    sections = report_sections(audit, redact=redact)
    names = ", ".join(c.source.name for c in audit.captures)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>CTI audit report - {_esc(names)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header>",
        "<h1>CTI Server (GED-188) audit report</h1>",
        f"<p>Captures: {_esc(names)}</p>",
        f'<p>Overall compliance: <span class="badge {_esc(audit.verdict)}">{_esc(audit.verdict)}</span> - generated '
        f"{_esc(fmt_ts(audit.generated_ts))} by ctidissect {_esc(__version__)} - sensitive values "
        f"{'redacted' if redact else 'NOT redacted'}</p>",
        "</header>",
        "<nav>" + "".join(f'<a href="#{_esc(s.id)}">{_esc(s.title)}</a>' for s in sections if s.level == 2) + "</nav>",
        "<main>",
    ]
    top_level = [s for s in sections if s.level == 2]
    for i, sec in enumerate(sections):
        if sec.level == 2:
            if progress is not None:
                progress.update("rendering", (top_level.index(sec) + 1) / len(top_level), sec.title, force=True)
            _html_section(sec, out)
        else:
            # rule detail sections follow the compliance summary: nest them in a wrapper
            if i == 0 or sections[i - 1].level == 2:
                out.append('<section id="compliance-details"><h2>Compliance details</h2>')
            _html_section(sec, out)
            if i + 1 == len(sections) or sections[i + 1].level == 2:
                out.append("</section>")
    out.append("</main></body></html>")
    return "\n".join(out)


# --------------------------------------------------------------------------- PDF

_PAGE = (11.69, 8.27)  # A4 landscape, inches: room for wide tables
_LINES_PER_PAGE = 76
_CHARS_PER_LINE = 215


def _text_lines(block: Any) -> list[str]:
    if isinstance(block, Para):
        return _wrap(block.text) + [""]
    if isinstance(block, KeyValues):
        return [f"{k}: {_badge_text(v)}" for k, v in block.items] + [""]
    if isinstance(block, Table):
        return _table_lines(block) + [""]
    return []


def _badge_text(value: Any) -> str:
    return value.text.upper() if isinstance(value, Badge) else _text(value)


def _wrap(text: str, width: int = _CHARS_PER_LINE) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def _table_lines(table: Table) -> list[str]:
    cells = [[_badge_text(v).replace("\n", " ") for v in row] for row in table.rows]
    # headings may be cut (to 12 characters); values keep up to 72 (a SHA-256 is 64)
    widths = [min(len(c), 12) for c in table.columns]
    for row in cells:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], min(len(v), 72))
    # shrink the widest columns until the line fits the page
    while sum(widths) + 2 * len(widths) > _CHARS_PER_LINE and max(widths) > 8:
        widths[widths.index(max(widths))] -= 1

    def line(values: Sequence[str]) -> str:
        parts = []
        for v, w in zip(values, widths):
            parts.append(v[: w - 1] + "~" if len(v) > w else v.ljust(w))
        return "  ".join(parts).rstrip()

    lines = []
    if table.caption:
        lines.append(table.caption)
    lines.append(line(table.columns))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(line(row) for row in cells)
    if table.total is not None and table.total > len(table.rows):
        lines.append(f"({len(table.rows)} of {table.total} rows shown)")
    return lines


def _text_page(pdf: Any, title: str, lines: list[str]) -> None:
    fig = Figure(figsize=_PAGE)
    fig.text(0.03, 0.97, title, fontsize=12, fontweight="bold", va="top", parse_math=False)
    fig.text(0.03, 0.935, "\n".join(lines), fontsize=5.6, family="monospace", va="top", parse_math=False)
    pdf.savefig(fig)


def write_pdf(audit: Audit, path: str | os.PathLike[str], *, redact: bool = True, progress: Progress | None = None) -> None:
    """Write the report as a PDF (matplotlib ``PdfPages``): text pages for the tables,
    one page per plot.  Capture text is drawn as plain text (no math parsing)."""
    from matplotlib.backends.backend_pdf import PdfPages

    sections = report_sections(audit, redact=redact)
    names = ", ".join(c.source.name for c in audit.captures)
    metadata = {"Title": f"CTI audit report - {names}", "Creator": f"ctidissect {__version__}"}
    with PdfPages(os.fspath(path), metadata=metadata) as pdf:
        header = [
            f"Captures: {names}",
            f"Overall compliance: {audit.verdict.upper()}",
            f"Generated {fmt_ts(audit.generated_ts)} by ctidissect {__version__}",
            f"Sensitive values {'redacted' if redact else 'NOT redacted'}",
            "",
        ]
        pending: list[str] = list(header)
        page_title = "CTI Server (GED-188) audit report"

        def flush() -> None:
            nonlocal pending, page_title
            while pending:
                chunk, pending = pending[:_LINES_PER_PAGE], pending[_LINES_PER_PAGE:]
                _text_page(pdf, page_title, chunk)
                page_title = page_title if page_title.endswith("(continued)") else page_title + " (continued)"
            pending = []

        def walk(sec: Section) -> None:
            nonlocal pending
            pending.append(("== " if sec.level == 2 else "-- ") + sec.title)
            pending.append("")
            for block in sec.blocks:
                if isinstance(block, Plot):
                    flush()
                    pdf.savefig(block.figure)
                elif isinstance(block, Section):
                    walk(block)
                else:
                    pending.extend(_text_lines(block))

        for i, sec in enumerate(sections):
            if progress is not None:
                progress.update("rendering PDF", (i + 1) / len(sections), sec.title, force=True)
            walk(sec)
        flush()


# --------------------------------------------------------------------------- entry points


def report_format(path: str | os.PathLike[str]) -> str:
    """``html`` or ``pdf`` from the output file's suffix; ValueError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in REPORT_FORMATS:
        raise ValueError(f"report file must end in .html, .htm or .pdf, not {suffix or 'nothing'!r}")
    return REPORT_FORMATS[suffix]


def write_report(
    audit: Audit,
    path: str | os.PathLike[str],
    *,
    redact: bool = True,
    progress: Progress | None = None,
) -> str:
    """Write ``audit`` to ``path`` as HTML or PDF (by suffix); returns the format.  The
    file is written to a temporary name beside ``path`` and renamed, so a failed render
    leaves no partial report."""
    fmt = report_format(path)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        if fmt == "html":
            tmp.write_text(render_html(audit, redact=redact, progress=progress), encoding="utf-8")
        else:
            write_pdf(audit, tmp, redact=redact, progress=progress)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return fmt


def rules_table(results: Iterable[cmp.RuleResult]) -> list[dict[str, Any]]:
    """JSON-ready rule results (for ``--json`` outputs and notebooks)."""
    return [r.to_json() for r in results]


ProgressFactory = Callable[[], Progress]
