"""``ctidissect hex``: decode messages given as hex on the command line."""

from __future__ import annotations

import argparse
import json
import re
import sys

from ..catalogue.versions import DEFAULT_VERSION
from ..wire import decode_buffer
from ..wire.text import format_tree
from . import EXIT_USAGE, CliError, checked_version

EXAMPLES = """\
examples:
  # a HEARTBEAT_REQ with InvokeID 7
  ctidissect hex 00000004 00000005 00000007
  # colons and spaces are allowed; several frames may follow each other
  ctidissect hex 00:00:00:08:00:00:00:01:01:02:03:04:00:00:00:61
  # a v19 (1-byte tag/length) SUPERVISOR_ASSIST_CONF, as JSON
  ctidissect hex --protocol-version 19 --json 0000001500000077000000070000123400010000000419053130303100
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hex",
        help="decode messages given as hex",
        description="Decode one or more complete GED-188 frames (8-byte header included) "
        "given as hex digits. Whitespace and colons are ignored.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("hex", nargs="+", metavar="HEX", help="hex digits of the frame(s)")
    add_version_option(p)
    p.add_argument("--json", action="store_true", help="one JSON object per message")
    p.set_defaults(func=run)


def add_version_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--protocol-version",
        type=int,
        default=None,
        metavar="N",
        help=f"GED-188 protocol version: floating tag/length are 1+1 bytes up to 19, "
        f"2+2 from 20 (default {DEFAULT_VERSION})",
    )


def parse_hex(parts: list[str]) -> bytes:
    text = re.sub(r"[\s:]", "", "".join(parts))
    if text.lower().startswith("0x"):
        text = text[2:]
    if len(text) % 2:
        raise CliError(f"odd number of hex digits ({len(text)})", EXIT_USAGE)
    try:
        return bytes.fromhex(text)
    except ValueError:
        bad = re.search(r"[^0-9a-fA-F]", text)
        raise CliError(f"not a hex digit: {bad.group(0)!r}" if bad else "invalid hex", EXIT_USAGE) from None


def run(args: argparse.Namespace) -> int:
    version = checked_version(args.protocol_version)
    if version is None:
        version = DEFAULT_VERSION
    data = parse_hex(args.hex)
    if not data:
        raise CliError("no bytes given", EXIT_USAGE)
    messages = decode_buffer(data, version)
    out = sys.stdout
    for i, msg in enumerate(messages):
        if args.json:
            out.write(json.dumps(msg.to_json()) + "\n")
        else:
            if i:
                out.write("\n")
            out.write(format_tree(msg) + "\n")
    return 0
