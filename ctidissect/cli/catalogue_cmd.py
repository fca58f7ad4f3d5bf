"""``ctidissect catalogue``: print the catalogue (messages, layouts, tags, enums)."""

from __future__ import annotations

import argparse
import json
import sys

from ..catalogue import ENUMS, MESSAGES, TAGS
from ..catalogue.export import catalogue_dict


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "catalogue",
        help="print the GED-188 catalogue",
        description="Print every message type with its fixed layout per protocol version, "
        "every floating tag and every enum. --json gives the neutral form the Lua "
        "generator and the docs read.",
        epilog="examples:\n  ctidissect catalogue | less\n  ctidissect catalogue --json | jq '.messages[] | select(.name==\"OPEN_CONF\")'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="machine-readable JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    if args.json:
        json.dump(catalogue_dict(), out, indent=1)
        out.write("\n")
        return 0
    known = sum(1 for m in MESSAGES if m.fixed is not None)
    out.write(f"{len(MESSAGES)} message types ({known} with layouts), {len(TAGS)} tags, {len(ENUMS)} enums\n\n")
    for m in MESSAGES:
        sizes = ""
        if m.fixed is not None:
            sizes = " fixed " + "/".join(f"{s}(v{v}+)" for s, v in _first_versions(m))
        out.write(f"{m.type:4d} {m.name} [{m.kind}, {m.direction}]{sizes}")
        if m.answers:
            out.write(f" answers {m.answers}")
        out.write("\n" if m.fixed is not None else " (layout not published)\n")
        for f in m.fixed or ():
            span = f" v{f.since}+" if f.since else ""
            if f.until is not None:
                span = f" v{f.since}-v{f.until}"
            enum = f" enum {f.enum}" if f.enum else ""
            out.write(f"       {f.name} {f.wire}{span}{enum}\n")
        if m.floating:
            out.write(f"       floating: {', '.join(m.floating)}\n")
    out.write("\nfloating tags:\n")
    for t in TAGS:
        flags = " sensitive" if t.sensitive else ""
        out.write(f"{t.tag:4d} {t.name} {t.wire} max {t.max}{flags}\n")
    out.write("\nenums:\n")
    for name, e in ENUMS.items():
        values = ", ".join(f"{k}={v}" for k, v in e.values.items())
        out.write(f"  {name} ({e.kind}): {values}\n")
    return 0


def _first_versions(m) -> list[tuple[int, int]]:
    """(fixed size, first version with that size) for each distinct size over versions 1-25."""
    out: list[tuple[int, int]] = []
    last = None
    for v in range(1, 26):
        s = m.fixed_size(v)
        if s != last:
            out.append((s, v))
            last = s
    return out
