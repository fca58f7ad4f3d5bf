"""Reference docs generated from the catalogue: ``docs/catalogue.md`` (messages, layouts per
version, tags, enums) and ``docs/protocol-choices.md`` (every documented conflict choice).

Regenerate with ``python -m ctidissect.catalogue.docs`` (a test fails when they are stale).
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import ENUMS, MESSAGES, TAGS
from .versions import MAX_MESSAGE_SIZE_NARROW, MAX_MESSAGE_SIZE_WIDE, WIDE_FLOATING_SINCE

# Choices made where GED-188.md section 10 records a conflict, which are not tied to one
# message declaration (those carry their own ``conflict=`` text).
GENERAL_CHOICES = [
    ("10.2", f"Floating tag/length are 1+1 bytes up to v{WIDE_FLOATING_SINCE - 1} and 2+2 from "
     f"v{WIDE_FLOATING_SINCE}, for both directions of a session, chosen by OPEN_REQ.VersionNumber."),
    ("10.3", "CallType 27 is CALLTYPE_RESERVATION_PREVIEW; in v14-v18 sessions it is labelled "
     "CALLTYPE_NON_ACD (enum override)."),
    ("10.4", "Message numbers 230-247 follow the v24 table (CONFIG_* at 230-238, TEAM_CONFIG_* at "
     "242-244); CALL_ATTRIBUTE_CHANGE_EVENT is kept at 240, name-only."),
    ("10.5", "Network recording numbers follow the message-type table (267 START_REQ ... 274)."),
    ("10.6", "APP_PATH_ID is tag 97 with a normal tag/length header (84 is CALL_CONTROL_TABLE)."),
    ("10.8", f"Maximum message size {MAX_MESSAGE_SIZE_NARROW} bytes up to v19 and "
     f"{MAX_MESSAGE_SIZE_WIDE} from v20 (header included); larger frames are flagged "
     "frame.too_long and still decoded when complete."),
    ("10.10", "DepartmentID is present from v19 (OPEN_CONF, AGENT_STATE_EVENT, "
     "AGENT_TEAM_CONFIG_EVENT, QUERY_AGENT_STATE_CONF)."),
    ("10.11", "Status code 2 is named E_CTI_INVALID_MESSAGE_LENGTH (older name in the doc)."),
    ("10.13", "SkillGroupNumber, MRDID, ICMAgentID keep the signedness of their table; every "
     "fixed field re-encodes its 4 raw bytes exactly."),
    ("10.17", "AGENT_STATE_EVENT.NumFltSkillGroups exists from v13: 56 bytes before v13, 58 in "
     "v13-v18, 62 from v19."),
    ("10.18", "NAMED_VARIABLE/NAMED_ARRAY accept up to 251/252 bytes; components are not checked "
     "separately."),
    ("10.19", "No skill-group count limit is enforced when decoding."),
    ("10.22", "Counts in fixed fields (NumberOfAgentTeams, NumberOfAgents, NumParties ...) are not "
     "checked against the number of list items that follow."),
    ("10.23", "Pre-v13 sizes derived by arithmetic: SEND_DTMF_SIGNAL_REQ 18, SET_AGENT_STATE_REQ 16, "
     "SYSTEM_EVENT 24."),
    ("strings", "Strings end at the first NUL; a missing NUL is tolerated (float.no_nul); bytes "
     "are read as UTF-8 with surrogate escapes so that any byte round-trips."),
]


def _size_history(m) -> str:
    out, last = [], None
    for v in range(1, 26):
        s = m.fixed_size(v)
        if s != last:
            out.append(f"{s} (v{v}+)" if v > 1 else str(s))
            last = s
    return ", ".join(out)


def render_catalogue() -> str:
    full = [m for m in MESSAGES if m.fixed is not None]
    lines = [
        "# GED-188 catalogue",
        "",
        "Generated from `ctidissect/catalogue` by `python -m ctidissect.catalogue.docs`; do not edit.",
        "",
        f"{len(MESSAGES)} message types ({len(full)} with a published fixed layout, "
        f"{len(MESSAGES) - len(full)} name-only), {len(TAGS)} floating tags, {len(ENUMS)} enums.",
        "",
        "## Messages",
        "",
        "| type | name | kind | dir | answers | fixed size (bytes) | ref |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in MESSAGES:
        if m.fixed is not None:
            size = _size_history(m)
        else:
            size = "not published; leading InvokeID (7.1)" if m.leading_invoke_id else "not published"
        lines.append(f"| {m.type} | {m.name} | {m.kind} | {m.direction} | {m.answers or ''} | {size} | {m.ref} |")
    lines += ["", "## Layouts", ""]
    for m in full:
        lines.append(f"### {m.name} ({m.type})")
        lines.append("")
        if m.doc:
            lines.append(m.doc)
            lines.append("")
        lines.append("| field | type | versions | enum |")
        lines.append("|---|---|---|---|")
        for f in m.fixed:
            span = f"v{f.since}+" if f.since else "all"
            if f.until is not None:
                span = f"v{f.since}-v{f.until}"
            lines.append(f"| {f.name} | {f.wire} | {span} | {f.enum or ''} |")
        if m.floating:
            lines.append("")
            lines.append("Floating: " + ", ".join(m.floating))
        if m.conflict:
            lines.append("")
            lines.append(f"Choice: {m.conflict}")
        lines.append("")
    lines += ["## Floating tags", "", "| tag | name | type | max | sensitive | since |", "|---|---|---|---|---|---|"]
    for t in TAGS:
        lines.append(
            f"| {t.tag} | {t.name} | {t.wire} | {t.max if t.max is not None else ''} | "
            f"{'yes' if t.sensitive else ''} | {t.since or ''} |"
        )
    lines += ["", "## Enums and masks", ""]
    for name, e in ENUMS.items():
        lines.append(f"### {name} ({e.kind})")
        lines.append("")
        lines.append(", ".join(f"{k:#x}={v}" if e.kind == "mask" else f"{k}={v}" for k, v in e.values.items()))
        lines.append("")
    return "\n".join(lines)


def render_choices() -> str:
    lines = [
        "# Protocol choices",
        "",
        "Generated from `ctidissect/catalogue` by `python -m ctidissect.catalogue.docs`; do not edit.",
        "",
        "Where GED-188.md section 10 records a conflict or an uncertainty, ctidissect picks one",
        "reading, documents it next to the declaration, and decodes defensively.",
        "",
        "## General",
        "",
    ]
    for ref, text in GENERAL_CHOICES:
        lines.append(f"- **{ref}**: {text}")
    lines += ["", "## Per message", ""]
    for m in MESSAGES:
        if m.conflict:
            lines.append(f"- **{m.name} ({m.type})**: {m.conflict}")
    lines.append("")
    return "\n".join(lines)


def outputs(root: Path) -> dict[Path, str]:
    return {root / "docs" / "catalogue.md": render_catalogue(), root / "docs" / "protocol-choices.md": render_choices()}


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
    for path, text in outputs(root).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
