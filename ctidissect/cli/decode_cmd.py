"""``ctidissect decode``: decode the CTI messages of a pcap/pcapng capture."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from ..catalogue import MESSAGES_BY_NAME
from . import EXIT_USAGE, CliError, add_port_option, checked_ports, checked_version
from .hex_cmd import add_version_option

EXAMPLES = """\
examples:
  # every CTI message on the default ports 42027/43027, one line each
  ctidissect decode trace.pcapng
  # a PG whose CTI server listens on 42067, captured mid-session with protocol version 19
  ctidissect decode --port 42067 --protocol-version 19 trace.pcap
  # only agent state and call delivered events, as JSON lines
  ctidissect decode --json --filter AGENT_STATE_EVENT --filter 9 trace.pcap
  # gaps and resynchronisations only
  ctidissect decode --filter tcp.gap --filter stream.resync trace.pcap
  # find CTI on unusual ports as well
  ctidissect decode --detect trace.pcap
  # through tshark and the generated Wireshark dissector (files only Wireshark reads; cross-check)
  ctidissect decode --engine tshark ring_00042_20240101120000.pcapng

output (text): frame, seconds since the first packet, connection, direction, message name,
InvokeID, key fields; anomaly records start with '!'.  The summary goes to stderr.
exit codes: 0 decoded (anomalies are data, not errors), 2 usage error,
            3 not a readable pcap/pcapng file, 130 interrupted.
"""

KEY_FIXED = ("VersionNumber", "PeripheralID", "ConnectionCallID", "AgentState", "Status", "SessionID")
"""Fixed fields shown on a text line when a message has them."""
KEY_FLOATING = ("CLIENT_ID", "AGENT_ID", "AGENT_EXTENSION", "AGENT_INSTRUMENT", "CONNECTION_DEVID")
"""Floating fields shown on a text line (never a sensitive one: no ANI, DNIS, call data)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "decode",
        help="decode the CTI messages of a pcap/pcapng capture",
        description="Decode every CTI message of a pcap or pcapng capture, with TCP reassembly "
        "(retransmissions, reordering, gaps, captures starting mid-connection) and the protocol "
        "version of each connection taken from its OPEN_REQ or inferred from the bytes.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file")
    add_capture_options(p)
    p.add_argument(
        "--engine",
        choices=("native", "tshark"),
        default="native",
        help="native (default, fast) or tshark: the generated Wireshark dissector run by tshark via "
        "pyshark, for files only Wireshark reads or to cross-check (slow; see docs/wireshark.md)",
    )
    table = p.add_mutually_exclusive_group()
    table.add_argument("--csv", action="store_true", help="the messages DataFrame as CSV (columns in docs/columns.md)")
    table.add_argument("--parquet", metavar="FILE", help="write the messages DataFrame as Parquet to FILE")
    p.set_defaults(func=run)


def add_capture_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``decode`` and ``live``."""
    add_port_option(p)
    add_version_option(p)
    p.add_argument("--detect", action="store_true", help="also look for CTI streams on other ports (heuristic)")
    p.add_argument("--json", action="store_true", help="one JSON object per record (same keys as 'hex --json' plus "
                   "frame, ts, conn, direction, protocol_version)")
    p.add_argument(
        "--filter",
        action="append",
        metavar="NAME|TYPE",
        help="show only these message names or type numbers, or anomaly codes such as tcp.gap (repeatable)",
    )


def capture_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Validated ``read_capture`` keyword arguments from the shared options."""
    return {"ports": checked_ports(args.port), "version": checked_version(args.protocol_version), "detect": args.detect}


class RecordFilter:
    """Matches records against ``--filter`` values: message names, type numbers, anomaly codes."""

    def __init__(self, values: list[str] | None) -> None:
        self.types: set[int] = set()
        self.codes: set[str] = set()
        self.active = bool(values)
        from ..wire.anomalies import VOCABULARY

        for value in values or ():
            text = value.strip()
            if text.isdigit():
                self.types.add(int(text))
            elif text.upper() in MESSAGES_BY_NAME:
                self.types.add(MESSAGES_BY_NAME[text.upper()].type)
            elif text.lower() in VOCABULARY:
                self.codes.add(text.lower())
            else:
                raise CliError(f"--filter {value!r} is not a message name, type number or anomaly code", EXIT_USAGE)

    def __call__(self, rec: Any) -> bool:
        if not self.active:
            return True
        if rec.type is not None:
            return rec.type in self.types or any(a.code in self.codes for a in rec.anomalies)
        return any(a.code in self.codes for a in rec.anomalies)


class RecordPrinter:
    """Writes message and anomaly records as text lines or JSON objects."""

    def __init__(self, out: TextIO, as_json: bool, stats: Any) -> None:
        self.out = out
        self.as_json = as_json
        self.stats = stats

    def write(self, rec: Any) -> None:
        if self.as_json:
            obj = rec.to_json()
            obj["frame"] = rec.frame
            obj["ts"] = None if rec.ts is None else round(rec.ts, 6)
            obj["conn"] = rec.conn
            obj["direction"] = rec.direction
            obj["protocol_version"] = rec.version
            self.out.write(json.dumps(obj) + "\n")
        else:
            self.out.write(self.line(rec) + "\n")

    def line(self, rec: Any) -> str:
        first = self.stats.first_ts
        rel = "" if rec.ts is None or first is None else f"{rec.ts - first:.6f}"
        head = f"{rec.frame if rec.frame is not None else '-':>7} {rel:>12}  {rec.conn or '-'}  {rec.direction or '-':3}"
        if rec.type is None:
            a = rec.anomalies[0]
            raw = f" [{len(rec.raw)} bytes]" if rec.raw else ""
            return f"{head}  !{a.code}{raw}  {a.detail}"
        name = rec.name or f"type {rec.type}"
        inv = rec.fields.get("InvokeID")
        parts = [f"{head}  {name}", f"inv={inv}" if inv is not None else "-"]
        for key in KEY_FIXED:
            if key in rec.fields:
                parts.append(f"{key}={rec.fields[key]}")
        for item in rec.floating:
            if item.name in KEY_FLOATING:
                parts.append(f"{item.name}={item.value}")
        if rec.anomalies:
            parts.append("!" + ",".join(rec.anomaly_codes))
        return "  ".join(parts)


def run(args: argparse.Namespace) -> int:
    from ..capture import CaptureFormatError, CaptureStats, read_capture
    from ..wireshark.engine import TsharkError, read_capture_tshark

    settings = capture_settings(args)
    keep = RecordFilter(args.filter)
    stats = CaptureStats()
    reader = read_capture_tshark if getattr(args, "engine", "native") == "tshark" else read_capture
    try:
        records = reader(args.capture, stats=stats, **settings)
    except CaptureFormatError as exc:
        raise CliError(str(exc)) from None
    except TsharkError as exc:  # tshark/pyshark missing, or the dissector does not load
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot read {args.capture}: {exc.strerror or exc}") from None
    tabular = getattr(args, "csv", False) or getattr(args, "parquet", None)
    if tabular and args.json:
        raise CliError("--json cannot be combined with --csv/--parquet", EXIT_USAGE)
    try:
        if tabular:
            from ..report.frames import messages_frame

            frame = messages_frame(rec for rec in records if keep(rec))
            if args.parquet:
                frame.to_parquet(args.parquet, index=False)
            else:
                frame.to_csv(sys.stdout, index=False)
        else:
            printer = RecordPrinter(sys.stdout, args.json, stats)
            for rec in records:
                if keep(rec):
                    printer.write(rec)
    except TsharkError as exc:  # not a capture tshark reads, or a Lua error while decoding
        raise CliError(str(exc)) from None
    sys.stdout.flush()
    print(f"ctidissect: {stats.summary()}", file=sys.stderr)
    return 0
