"""``ctidissect latency|compliance|report``: latency statistics, compliance verdicts and the
self-contained audit report of captures.  Parses arguments and calls
:mod:`ctidissect.report` (latency, compliance, audit)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from . import (
    EXIT_FINDINGS,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    add_port_option,
    checked_ports,
    checked_seconds,
    checked_version,
)
from .hex_cmd import add_version_option

EXIT_CODES = """\
exit codes: 0 success, 1 a verdict reached --fail-on, 2 usage error,
            3 input error (capture or rules file missing, unreadable or invalid), 130 interrupted."""

LATENCY_EXAMPLES = """\
examples:
  ctidissect latency capture.pcap                     # per request type, plus the slowest requests
  ctidissect latency --by client capture.pcap         # per ClientID
  ctidissect latency --by session --csv capture.pcap > latency.csv
  ctidissect latency --json capture.pcap | jq 'select(.p99_s > 1)'
  ctidissect latency --parquet latency.parquet --plot latency.png capture.pcap
  ctidissect latency --plot cdf.png --plot-kind cdf capture.pcap

Latencies are in seconds over answered requests (a FAILURE_CONF is a reply); percentiles
use numpy's 'linear' method. Columns: count answered failed unanswered late duplicate
min_s p50_s p90_s p99_s max_s mean_s (docs/reports.md).
"""

COMPLIANCE_EXAMPLES = """\
examples:
  ctidissect compliance capture.pcap                  # one line per rule, verdict first
  ctidissect compliance --fail-on fail capture.pcap   # exit 1 if any rule fails (CI / cron gate)
  ctidissect compliance --fail-on warn --rules site.toml capture.pcap
  ctidissect compliance --json capture.pcap | jq '.rules[] | select(.verdict=="fail")'
  ctidissect compliance --print-rules > site.toml     # the default rules file, to edit

Verdicts: pass, warn, fail, not-applicable. Rules and thresholds: docs/compliance.md.
"""

REPORT_EXAMPLES = """\
examples:
  ctidissect report capture.pcap -o report.html
  ctidissect report side-a.pcap side-b.pcapng -o audit.pdf
  ctidissect report --rules site.toml --fail-on fail capture.pcap -o report.html
  ctidissect report --no-redact capture.pcap -o report-with-secrets.html

The file is self-contained (inline CSS, plots as embedded PNG) and opens with no network.
Sensitive values (catalogue tags marked sensitive: passwords, ANI, DNIS, CED, call and
named variables, ...) are redacted unless --no-redact. Every text from a capture is escaped.
A progress bar goes to stderr when it is a terminal (--quiet turns it off).
"""


def _common(p: argparse.ArgumentParser, *, many: bool, optional: bool = False) -> None:
    if many:
        p.add_argument("captures", nargs="*" if optional else "+", metavar="CAPTURE",
                       help="pcap or pcapng file(s), each analysed on its own")
    else:
        p.add_argument("captures", nargs=1, metavar="CAPTURE", help="pcap or pcapng file")
    add_port_option(p)
    add_version_option(p)
    p.add_argument("--detect", action="store_true", help="also look for CTI streams on other ports (heuristic)")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="reply timeout in seconds: later replies are 'late' (default 30)",
    )
    p.add_argument(
        "--window",
        type=float,
        default=None,
        metavar="S",
        help="seconds after an emergency/assist request in which its events are looked for (default 5)",
    )
    p.add_argument(
        "--recording-pattern",
        action="append",
        metavar="GLOB",
        help="case-insensitive pattern of recording-server ClientIDs/ClientSignatures (repeatable; "
        "default rec* *record*)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "latency",
        help="request latency statistics (count, min, p50/p90/p99, max, mean, failed, unanswered)",
        description="Latency of every request paired with its reply by InvokeID, summarised per request "
        "type, per session or per client (ClientID): count, answered, failed, unanswered, late, duplicate, "
        "min, p50, p90, p99, max, mean (seconds).",
        epilog=LATENCY_EXAMPLES + "\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p, many=False)
    p.add_argument("--by", choices=("type", "session", "client"), default="type", help="grouping (default type)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="JSON Lines, one object per row (NaN as null)")
    out.add_argument("--csv", action="store_true", help="CSV of the table on stdout")
    out.add_argument("--parquet", metavar="FILE", help="write the table as Parquet to FILE")
    p.add_argument("--plot", metavar="OUT.png", help="also draw a latency plot to this PNG file")
    p.add_argument(
        "--plot-kind",
        choices=("time", "cdf", "hist"),
        default="time",
        help="plot of --plot: latency over time, CDF or histogram (default time)",
    )
    p.add_argument("--slowest", type=int, default=10, metavar="N", help="text output: list the N slowest requests (default 10)")
    p.set_defaults(func=run_latency)

    p = sub.add_parser(
        "compliance",
        help="judge a capture against the compliance rules (exit 1 with --fail-on)",
        description="Judge captured traffic against documented GED-188 rules (request SLA, InvokeIDs, "
        "OPEN_REQ, heartbeats/IdleTimeout, message size and layout, emergency answer and fan-out, "
        "supervisor assist, cleartext passwords). Each rule gives pass, warn, fail or not-applicable with "
        "counts and evidence (frames, sessions). Thresholds come from the default rules file, overridden "
        "by --rules.",
        epilog=COMPLIANCE_EXAMPLES + "\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p, many=True, optional=True)
    p.add_argument("--json", action="store_true", help="one JSON object: verdict, captures, rules with evidence")
    _rules_options(p)
    p.add_argument("--evidence", type=int, default=3, metavar="N", help="text output: evidence lines per rule (default 3)")
    p.add_argument("--print-rules", action="store_true", help="print the default rules file and exit")
    p.set_defaults(func=run_compliance)

    p = sub.add_parser(
        "report",
        help="self-contained HTML or PDF audit report of captures",
        description="Write one self-contained audit report (HTML or PDF, by the suffix of -o): provenance "
        "(file names, SHA-256, time span, packet and message counts, anomalies), sessions, latency tables "
        "and plots, compliance verdicts with evidence, every emergency and supervisor-assist incident with "
        "its fan-out timeline, and the findings.",
        epilog=REPORT_EXAMPLES + "\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p, many=True)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="report file: .html, .htm or .pdf")
    p.add_argument("--no-redact", action="store_true", help="show sensitive values (passwords, ANI, DNIS, ...)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _rules_options(p)
    p.set_defaults(func=run_report)


def _rules_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rules", metavar="FILE", help="TOML rules file overriding the default thresholds")
    p.add_argument(
        "--fail-on",
        choices=("warn", "fail"),
        default=None,
        help="exit 1 when a rule's verdict is at least this (default: never, exit 0)",
    )


# --------------------------------------------------------------------------- helpers


def _check_common(args: argparse.Namespace) -> tuple[tuple[int, ...], int | None, float | None]:
    checked_seconds("--window", args.window)
    ports = checked_ports(args.port)
    version = checked_version(args.protocol_version)
    timeout = checked_seconds("--timeout", args.timeout)
    return ports, version, timeout


def _config(args: argparse.Namespace, ports: tuple[int, ...], timeout: float | None) -> Any:
    from ..analysis import AnalysisConfig
    from ..analysis.config import side_ports_for

    kwargs: dict[str, Any] = {"side_ports": side_ports_for(ports)}
    if timeout is not None:
        kwargs["reply_timeout_s"] = timeout
    if args.window is not None:
        kwargs["fanout_window_s"] = args.window
    if args.recording_pattern:
        kwargs["recording_patterns"] = tuple(args.recording_pattern)
    return AnalysisConfig(**kwargs)


def _load_settings(path: str | None) -> dict[str, Any]:
    from ..report.compliance import RulesError, load_rules

    try:
        return load_rules(path)
    except RulesError as exc:
        raise CliError(f"rules file: {exc}", EXIT_INPUT) from exc
    except FileNotFoundError:
        raise CliError(f"rules file not found: {path}", EXIT_INPUT) from None


def _audit(args: argparse.Namespace, settings: dict[str, Any] | None = None, progress: Any = None) -> Any:
    from ..capture import CaptureFormatError
    from ..report.audit import build_audit

    ports, version, timeout = _check_common(args)
    config = _config(args, ports, timeout)
    for path in args.captures:
        _check_readable(path)
    try:
        return build_audit(
            args.captures,
            ports=ports,
            version=version,
            detect=args.detect,
            config=config,
            settings=settings,
            progress=progress,
        )
    except CaptureFormatError as exc:
        raise CliError(str(exc), EXIT_INPUT) from exc
    finally:
        if progress is not None:
            progress.done()


def _check_readable(path: str) -> None:
    import os

    if not os.path.exists(path):
        raise CliError(f"capture file not found: {path}", EXIT_INPUT)
    if os.path.isdir(path):
        raise CliError(f"capture is a directory, not a file: {path}", EXIT_INPUT)


# --------------------------------------------------------------------------- latency


def run_latency(args: argparse.Namespace) -> int:
    from ..report.latency import latency_table, slowest_requests, table_records

    if args.slowest < 0:
        raise CliError("--slowest must not be negative", EXIT_USAGE)
    if args.plot and not args.plot.lower().endswith(".png"):
        raise CliError(f"--plot writes a PNG file: {args.plot!r} does not end in .png", EXIT_USAGE)
    audit = _audit(args)
    cap = audit.captures[0]
    table = latency_table(cap.pairs, args.by, cap.sessions)
    out = sys.stdout
    if args.plot:
        _write_plot(cap.pairs, args.plot, args.plot_kind)
    if args.json:
        for row in table_records(table):
            out.write(json.dumps(row) + "\n")
    elif args.csv:
        table.to_csv(out, index=False)
    elif args.parquet:
        table.to_parquet(args.parquet, index=False)
    else:
        from .analysis_cmd import format_table

        total = latency_table(cap.pairs, args.by, cap.sessions, total=True)
        out.write(_format_frame(total, format_table) + "\n")
        if args.slowest:
            slow = slowest_requests(cap.pairs, args.slowest)
            if not slow.empty:
                out.write(f"\nslowest {len(slow)} request(s):\n")
                out.write(_format_frame(slow.drop(columns=["request_ts"]), format_table) + "\n")
    return EXIT_OK


def _format_frame(df: Any, format_table: Any) -> str:
    def cell(value: Any) -> str:
        if value is None or value is _NA or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if isinstance(value, float):
            return f"{value:.6f}"
        return str(value)

    rows = [[cell(v) for v in row] for row in df.itertuples(index=False, name=None)]
    return format_table([str(c) for c in df.columns], rows)


try:  # pandas' missing-value singleton, for the text formatter
    from pandas import NA as _NA
except ImportError:  # pragma: no cover - pandas is a dependency
    _NA = None


def _write_plot(pairs: Any, path: str, kind: str) -> None:
    from ..report.audit import figure_png
    from ..report.plots import latency_cdf_figure, latency_histogram_figure, latency_over_time_figure

    figure = {"time": latency_over_time_figure, "cdf": latency_cdf_figure, "hist": latency_histogram_figure}[kind](pairs)
    with open(path, "wb") as fh:
        fh.write(figure_png(figure, dpi=110))


# --------------------------------------------------------------------------- compliance


def run_compliance(args: argparse.Namespace) -> int:
    from ..report.compliance import default_rules_text, threshold_hit

    if args.print_rules:
        sys.stdout.write(default_rules_text())
        return EXIT_OK
    if not args.captures:
        raise CliError("the following arguments are required: CAPTURE", EXIT_USAGE)
    if args.evidence < 0:
        raise CliError("--evidence must not be negative", EXIT_USAGE)
    settings = _load_settings(args.rules)
    audit = _audit(args, settings)
    out = sys.stdout
    if args.json:
        doc = {
            "verdict": audit.verdict,
            "fail_on": args.fail_on,
            "threshold_hit": threshold_hit(audit.compliance, args.fail_on),
            "captures": [c.source.to_json() for c in audit.captures],
            "rules": [r.to_json() for r in audit.compliance],
        }
        out.write(json.dumps(doc, indent=1) + "\n")
    else:
        for r in audit.compliance:
            out.write(f"{r.verdict.upper():<15} {r.id:<28} {r.summary}\n")
            for e in r.evidence[: args.evidence]:
                where = f"frame {e.frame}" if e.frame is not None else "-"
                cap = f"{e.capture} " if len(audit.captures) > 1 else ""
                out.write(f"    {e.verdict:<5} {cap}{where} {e.conn or ''}: {_one_line(e.detail)}\n")
            if r.evidence_total > min(args.evidence, len(r.evidence)):
                out.write(f"    ... {r.evidence_total - min(args.evidence, len(r.evidence))} more\n")
        out.write(f"overall: {audit.verdict}\n")
    return EXIT_FINDINGS if threshold_hit(audit.compliance, args.fail_on) else EXIT_OK


def _one_line(text: str) -> str:
    """Capture-derived text on one terminal line (control characters shown escaped)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


# --------------------------------------------------------------------------- report


def run_report(args: argparse.Namespace) -> int:
    from ..report.audit import Progress, report_format, write_report
    from ..report.compliance import threshold_hit

    try:
        report_format(args.output)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    settings = _load_settings(args.rules)
    progress = Progress(enabled=False if args.quiet else None)
    audit = _audit(args, settings, progress)
    try:
        write_report(audit, args.output, redact=not args.no_redact, progress=progress)
    finally:
        progress.done()
    if not args.quiet:
        counts = {v: sum(1 for r in audit.compliance if r.verdict == v) for v in ("fail", "warn", "pass")}
        print(
            f"wrote {args.output}: {len(audit.captures)} capture(s), overall {audit.verdict} "
            f"({counts['fail']} fail, {counts['warn']} warn, {counts['pass']} pass)",
            file=sys.stderr,
        )
    return EXIT_FINDINGS if threshold_hit(audit.compliance, args.fail_on) else EXIT_OK
