"""``ctidissect sessions|pairs|fanout|calls``: the traffic analysis of a capture."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..analysis import Analysis, AnalysisConfig, analyze, format_ladder
from ..analysis.config import DEFAULT_RECORDING_PATTERNS, side_ports_for
from . import EXIT_INPUT, EXIT_USAGE, CliError, add_port_option, checked_ports, checked_seconds, checked_version
from .hex_cmd import add_version_option

COMMANDS = {
    "sessions": (
        "list CTI sessions: identity, role, services, end, heartbeats",
        "One row per CTI session (TCP connection): client identity from OPEN_REQ/OPEN_CONF, role "
        "(agent, supervisor, bridge, recording, monitor, other, unknown), granted services, protocol "
        "version, side A/B, open/close times, how it ended (close, idle_timeout, rst, fin, capture_end), "
        "heartbeat interval and missed heartbeats.",
        """\
examples:
  ctidissect sessions capture.pcap
  ctidissect sessions --json capture.pcap        # JSON Lines: conn, role, client_id, ...
  ctidissect sessions --port 5000 --port 5001 capture.pcapng   # side A on 5000, B on 5001
  ctidissect sessions --recording-pattern 'nice*' capture.pcap
""",
    ),
    "pairs": (
        "pair requests with replies by InvokeID, with latency",
        "Every request paired with its confirmation, FAILURE_CONF or CONTROL_FAILURE_CONF by "
        "(connection, InvokeID); latency in seconds; status ok, failed, late, unanswered, duplicate "
        "(the later of two requests sharing an outstanding InvokeID) or orphan (a reply without "
        "request; anomaly pair.orphan_precapture when the request probably preceded the capture).",
        """\
examples:
  ctidissect pairs capture.pcap
  ctidissect pairs --json --timeout 10 capture.pcap   # late = answered after 10 s
  ctidissect pairs --status failed --status unanswered capture.pcap
""",
    ),
    "fanout": (
        "emergency / supervisor-assist fan-out to bridges, recorders, supervisors",
        "For each EMERGENCY_CALL_REQ and SUPERVISOR_ASSIST_REQ: the reply to the requester and "
        "its latency, and per other session whether the related event arrived (EMERGENCY_CALL_EVENT "
        "to every open bridge/recording session - even after a FAILURE_CONF -, the emergency/assist "
        "call on the supervisor's session) and after how many seconds.",
        """\
examples:
  ctidissect fanout capture.pcap
  ctidissect fanout --json --window 2 capture.pcap
  ctidissect fanout --csv capture.pcap > fanout.csv   # one row per recipient
""",
    ),
    "calls": (
        "call timelines across sessions, and the ladder of one call",
        "Call events of every session grouped by (PeripheralID, ConnectionCallID, "
        "ConnectionDeviceID); --ladder shows one call across sessions in time order.",
        """\
examples:
  ctidissect calls capture.pcap
  ctidissect calls --ladder 16777300 capture.pcap            # every connection of that call id
  ctidissect calls --ladder 5000:16777300:3001 capture.pcap  # PeripheralID:ConnectionCallID:device
  ctidissect calls --ladder 16777300 --plot ladder.png capture.pcap
""",
    ),
}


def register(sub: argparse._SubParsersAction) -> None:
    for name, (help_text, description, examples) in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=help_text,
            description=description,
            epilog=examples,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file")
        add_port_option(p)
        add_version_option(p)
        out = p.add_mutually_exclusive_group()
        out.add_argument("--json", action="store_true", help="JSON Lines, one object per row")
        out.add_argument("--csv", action="store_true", help="CSV of the DataFrame (columns in docs/columns.md)")
        out.add_argument("--parquet", metavar="FILE", help="write the DataFrame as Parquet to FILE")
        p.add_argument(
            "--timeout",
            type=float,
            default=AnalysisConfig.reply_timeout_s,
            metavar="S",
            help="reply timeout in seconds: later replies are 'late' (default %(default)s)",
        )
        p.add_argument(
            "--window",
            type=float,
            default=AnalysisConfig.fanout_window_s,
            metavar="S",
            help="seconds after an emergency/assist request in which its events are looked for (default %(default)s)",
        )
        p.add_argument(
            "--recording-pattern",
            action="append",
            metavar="GLOB",
            help="case-insensitive pattern of recording-server ClientIDs/ClientSignatures "
            f"(repeatable; default {' '.join(DEFAULT_RECORDING_PATTERNS)})",
        )
        if name == "pairs":
            p.add_argument(
                "--status",
                action="append",
                choices=("ok", "failed", "late", "unanswered", "duplicate", "orphan"),
                help="only pairs with this status (repeatable)",
            )
        if name == "calls":
            p.add_argument(
                "--ladder",
                metavar="CALLID",
                help="show the ladder of ConnectionCallID CALLID (or PERIPHERALID:CALLID[:DEVICEID])",
            )
            p.add_argument("--plot", metavar="OUT.png", help="with --ladder: also draw the ladder to this image file")
        p.set_defaults(func=run, analysis_command=name)


# -- running -----------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> AnalysisConfig:
    checked_seconds("--timeout", args.timeout)
    checked_seconds("--window", args.window)
    sides = side_ports_for(checked_ports(args.port))
    patterns = tuple(args.recording_pattern) if args.recording_pattern else DEFAULT_RECORDING_PATTERNS
    return AnalysisConfig(
        reply_timeout_s=args.timeout,
        fanout_window_s=args.window,
        side_ports=sides,
        recording_patterns=patterns,
    )


def _analyse(args: argparse.Namespace, config: AnalysisConfig) -> Analysis:
    version = checked_version(args.protocol_version)
    from ..capture import CaptureFormatError, read_capture

    ports = checked_ports(args.port)
    try:
        records = read_capture(args.capture, ports=ports, version=version, connection_events=True)
        return analyze(records, config)
    except CaptureFormatError as exc:
        raise CliError(str(exc), EXIT_INPUT) from exc


def run(args: argparse.Namespace) -> int:
    config = _config(args)
    command = args.analysis_command
    ladder_key = None
    if command == "calls":
        if args.plot and not args.ladder:
            raise CliError("--plot needs --ladder CALLID", EXIT_USAGE)
        if args.ladder:
            ladder_key = parse_call_key(args.ladder)
    result = _analyse(args, config)
    out = sys.stdout
    if command == "sessions":
        _emit_sessions(result, args, out)
    elif command == "pairs":
        _emit_pairs(result, args, out)
    elif command == "fanout":
        _emit_fanout(result, args, out)
    elif ladder_key is not None:
        _emit_ladder(result, args, ladder_key, out)
    else:
        _emit_calls(result, args, out)
    return 0


def parse_call_key(text: str) -> tuple[int | None, int, str | None]:
    """``CALLID``, ``PERIPHERALID:CALLID`` or ``PERIPHERALID:CALLID:DEVICEID`` ->
    (PeripheralID or None, ConnectionCallID, ConnectionDeviceID or None)."""
    parts = text.split(":", 2)
    try:
        if len(parts) == 1:
            return None, int(parts[0], 0), None
        periph, call = int(parts[0], 0), int(parts[1], 0)
    except ValueError:
        raise CliError(f"--ladder {text!r}: expected CALLID or PERIPHERALID:CALLID[:DEVICEID]", EXIT_USAGE) from None
    return periph, call, (parts[2] if len(parts) == 3 and parts[2] else None)


# -- output ------------------------------------------------------------------------------


def write_frame(frame, args: argparse.Namespace, out) -> None:
    """A DataFrame as CSV on ``out`` (``--csv``) or as Parquet to the ``--parquet`` file."""
    if args.parquet:
        try:
            frame.to_parquet(args.parquet, index=False)
        except OSError as exc:
            raise CliError(f"cannot write {args.parquet}: {exc.strerror or exc}", EXIT_INPUT) from None
        print(f"wrote {len(frame)} row(s) to {args.parquet}", file=sys.stderr)
    else:
        frame.to_csv(out, index=False)


def _json_lines(objects: Sequence[dict[str, Any]], out) -> None:
    for obj in objects:
        out.write(json.dumps(obj) + "\n")


def _time(ts: float | None) -> str:
    """Time of day (UTC) with microseconds, for text tables."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M:%S.%f")


def _num(value: float | None, digits: int = 6) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _str(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def format_table(heads: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned text table with a dashed rule under the headings."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)
    return "\n".join(lines)


def _emit_sessions(result: Analysis, args: argparse.Namespace, out) -> None:
    if args.json:
        _json_lines([s.to_json() for s in result.sessions], out)
        return
    if args.csv or args.parquet:
        from ..report.frames import sessions_frame

        write_frame(sessions_frame(result), args, out)
        return
    heads = ["conn", "side", "role", "client_id", "ver", "services_granted", "opened (UTC)", "closed (UTC)",
             "end", "hb_interval_s", "idle_timeout_s", "missed_hb"]
    rows = [
        [
            s.conn,
            _str(s.side),
            s.role + ("?" if s.role_source == "inferred" else ""),
            _str(s.client_id),
            _str(s.protocol_version),
            "|".join(n.removeprefix("CTI_SERVICE_") for n in s.services_granted_names) or "-",
            _time(s.opened_ts),
            _time(s.closed_ts),
            _str(s.end_reason),
            _num(s.heartbeat_interval_s, 3),
            _num(s.idle_timeout_s, 0),
            str(s.missed_heartbeats),
        ]
        for s in result.sessions
    ]
    out.write(format_table(heads, rows) + "\n")
    note = "; role? = inferred from the traffic (capture began mid-session)" if any(
        s.role_source == "inferred" for s in result.sessions) else ""
    out.write(f"{len(result.sessions)} session(s){note}\n")


def _emit_pairs(result: Analysis, args: argparse.Namespace, out) -> None:
    pairs = [p for p in result.pairs if not args.status or p.status in args.status]
    if args.json:
        _json_lines([p.to_json() for p in pairs], out)
        return
    if args.csv or args.parquet:
        from ..report.frames import pairs_frame

        write_frame(pairs_frame(pairs), args, out)
        return
    heads = ["conn", "invoke_id", "request", "frame", "time (UTC)", "response", "frame", "latency_s", "status", "detail"]
    rows = [
        [
            _str(p.conn),
            _str(p.invoke_id),
            _str(p.request),
            _str(p.request_frame),
            _time(p.ts),
            _str(p.response),
            _str(p.response_frame),
            _num(p.latency_s),
            p.status,
            _str(p.failure or (p.anomaly if p.anomaly == "pair.orphan_precapture" else None)
                 or (f"reuses frame {p.duplicate_of_frame}" if p.duplicate_of_frame else None)),
        ]
        for p in pairs
    ]
    out.write(format_table(heads, rows) + "\n")
    counts: dict[str, int] = {}
    for p in pairs:
        counts[p.status] = counts.get(p.status, 0) + 1
    summary = ", ".join(f"{counts[s]} {s}" for s in ("ok", "failed", "late", "unanswered", "duplicate", "orphan") if s in counts)
    out.write(f"{len(pairs)} pair(s){': ' + summary if summary else ''}\n")


def _emit_fanout(result: Analysis, args: argparse.Namespace, out) -> None:
    if args.json:
        _json_lines([f.to_json() for f in result.fanout], out)
        return
    if args.csv or args.parquet:
        from ..report.frames import fanout_frame, fanout_recipients_frame

        keys = ["request", "request_frame", "requester"]
        recipients = fanout_recipients_frame(result)
        merged = fanout_frame(result).merge(recipients, on=keys, how="left", suffixes=("", "_recipient"))
        write_frame(merged, args, out)
        return
    for i, fo in enumerate(result.fanout):
        if i:
            out.write("\n")
        outcome = _str(fo.outcome) + (f" ({fo.failure})" if fo.failure else "")
        out.write(
            f"{fo.request} frame {_str(fo.request_frame)} at {_time(fo.request_ts)} from {fo.requester}"
            f" ({_str(fo.requester_client_id)}, agent {_str(fo.agent_id)}): {outcome}"
            f" after {_num(fo.outcome_latency_s)} s\n"
        )
        heads = ["recipient", "role", "client_id", "kind", "expected", "delivered", "frame", "delay_s"]
        rows = [
            [r.conn, r.role, _str(r.client_id), r.kind, "yes" if r.expected else "no",
             "yes" if r.delivered else "MISSED" if r.expected else "no", _str(r.frame), _num(r.delay_s)]
            for r in fo.recipients
        ]
        if rows:
            out.write(format_table(heads, rows) + "\n")
        else:
            out.write("(no recipient expected or seen)\n")
    missed = sum(f.missed_count for f in result.fanout)
    out.write(f"{len(result.fanout)} fan-out request(s), {missed} missed delivery(ies)\n")


def _emit_calls(result: Analysis, args: argparse.Namespace, out) -> None:
    if args.json:
        _json_lines([c.to_json() for c in result.calls], out)
        return
    if args.csv or args.parquet:
        from ..report.frames import calls_frame

        write_frame(calls_frame(result), args, out)
        return
    heads = ["peripheral", "call_id", "device", "call_type", "first (UTC)", "duration_s", "events", "sessions", "ended"]
    rows = [
        [_str(c.peripheral_id), str(c.connection_call_id), _str(c.connection_device_id), _str(c.call_type),
         _time(c.first_ts), _num(c.duration_s, 3), str(len(c.events)), str(len(c.sessions)), _str(c.ended)]
        for c in result.calls
    ]
    out.write(format_table(heads, rows) + "\n")
    out.write(f"{len(result.calls)} call connection(s)\n")


def _emit_ladder(result: Analysis, args: argparse.Namespace, key: tuple[int | None, int, str | None], out) -> None:
    periph, call_id, device = key
    ladder = result.ladder(call_id, periph, device)
    if not ladder.calls:
        raise CliError(f"no call with ConnectionCallID {call_id} in {args.capture} (see 'ctidissect calls')", EXIT_INPUT)
    if args.json:
        _json_lines(
            [
                {"frame": r.frame, "ts": r.ts, "rel_s": r.rel_s, "conn": r.conn, "direction": r.direction,
                 "name": r.name, "cause": r.cause}
                for r in ladder.rows
            ],
            out,
        )
    elif args.csv or args.parquet:
        import pandas as pd

        frame = pd.DataFrame(
            {
                "frame": [r.frame for r in ladder.rows],
                "ts": [r.ts for r in ladder.rows],
                "rel_s": [r.rel_s for r in ladder.rows],
                "conn": [r.conn for r in ladder.rows],
                "direction": [r.direction for r in ladder.rows],
                "name": [r.name for r in ladder.rows],
                "cause": [r.cause for r in ladder.rows],
            }
        )
        write_frame(frame, args, out)
    else:
        out.write(format_ladder(ladder) + "\n")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        from ..report.plots import call_ladder_figure

        call_ladder_figure(ladder).savefig(args.plot, dpi=120)
        print(f"ladder written to {args.plot}", file=sys.stderr)
