"""Generate the Wireshark Lua dissector ``ctidissect.lua`` from the catalogue.

The output is data tables (enums, fixed fields, floating tags, message types with their
per-version layouts, request/response pairs, the anomaly vocabulary) followed by ONE generic
walker (:data:`WALKER`) that interprets them, so the dissector has no function per message
and cannot drift from the Python decoder.  The walker mirrors
:func:`ctidissect.wire.decode_body` / :func:`ctidissect.wire.decode_floating` step by step,
including the anomaly codes and their detail texts (Wireshark expert info reads
``[float.overrun] tag 5 length 200 but only 10 byte(s) remain; kept raw``).

The generated file is committed as ``ctidissect/wireshark/ctidissect.lua``; regenerate it
with ``ctidissect wireshark lua -o ctidissect/wireshark/ctidissect.lua`` (a test fails when
the committed copy is stale).  Output is deterministic: no timestamps, sorted tables.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from ..catalogue import responses_of
from ..catalogue.export import catalogue_dict
from ..catalogue.schema import snake_case
from ..wire.anomalies import ERROR, INFO, VOCABULARY, AnomalyCode

# Anomaly codes the dissector can raise: everything the body/frame decoder emits.  Capture,
# TCP and pairing codes belong to layers Wireshark implements itself (TCP analysis) or to
# ctidissect's analysis package.
DECODER_CODE_PREFIXES = ("frame.", "type.", "layout.", "fixed.", "float.")

TRUST_LIMIT = 65536
"""Largest MessageLength the dissector waits for during TCP reassembly.  A larger one is not
believed: the rest of the segment becomes one message flagged ``frame.truncated`` and
``frame.too_long`` and dissection starts afresh at the next segment (a legal message is at
most 12,500 bytes; lengths between that and this limit are decoded and flagged
``frame.too_long`` like the Python decoder does)."""

# Structural fields under cti.float.*; no tag may take these snake_case names.
RESERVED_FLOAT_NAMES = frozenset({"item", "tag", "length", "data"})

_FIXED_SHAPE = {  # wire -> (signed, size in bytes)
    "UINT": (False, 4),
    "INT": (True, 4),
    "USHORT": (False, 2),
    "SHORT": (True, 2),
    "UCHAR": (False, 1),
    "CHAR": (True, 1),
    "BOOL": (False, 2),
    "TIME": (False, 4),
}

_EXPERT_SEVERITY = {ERROR: "expert.severity.ERROR", "warning": "expert.severity.WARN", INFO: "expert.severity.NOTE"}


def lua_str(text: str | None) -> str:
    """A Lua string literal for ``text`` (ASCII only: other bytes as decimal escapes)."""
    if text is None:
        return "nil"
    out = ['"']
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append(f"\\{byte:03d}")
    out.append('"')
    return "".join(out)


def _lua_key(value: int) -> str:
    return f"[{value}]"


def _int_protofield(signed: bool, size: int) -> str:
    return f"ProtoField.{'int' if signed else 'uint'}{size * 8}"


class _Catalogue:
    """The parts of :func:`catalogue_dict` the generator needs, with derived lookups."""

    def __init__(self, cat: dict[str, Any]) -> None:
        self.cat = cat
        self.versions = cat["versions"]
        self.messages = sorted(cat["messages"], key=lambda m: m["type"])
        self.tags = sorted(cat["tags"], key=lambda t: t["tag"])
        self.enums = cat["enums"]

    def enum_mode(self, enum_name: str | None) -> str | None:
        """``valuestring`` (a plain enum Wireshark labels itself), ``label`` (a mask, or an
        enum whose names change with the version: labelled by the walker) or None."""
        if enum_name is None:
            return None
        enum = self.enums[enum_name]
        if enum["kind"] == "enum" and not enum["overrides"]:
            return "valuestring"
        return "label"


def decoder_codes() -> list[AnomalyCode]:
    """The declared anomaly codes the dissector reports as expert info (declaration order)."""
    return [a for a in VOCABULARY.values() if a.code.startswith(DECODER_CODE_PREFIXES)]


def fingerprint() -> str:
    """Short hash of everything the generated file is derived from (catalogue, anomaly
    vocabulary, walker); written into the file and used to detect a second, different copy
    loaded into the same Wireshark."""
    h = hashlib.sha256()
    h.update(json.dumps(catalogue_dict(), sort_keys=True).encode())
    h.update(json.dumps(sorted((a.code, a.severity, a.doc) for a in decoder_codes())).encode())
    h.update(WALKER.encode())
    return h.hexdigest()[:16]


def generate_lua() -> str:
    """The complete text of ``ctidissect.lua``."""
    cat = _Catalogue(catalogue_dict())
    parts = [
        _header(cat),
        _constants(cat),
        _enums(cat),
        _proto_and_fields(cat),
        _tags(cat),
        _messages(cat),
        _pairs(cat),
        _experts(),
        WALKER,
    ]
    return "\n".join(p.rstrip("\n") + "\n" for p in parts)


# --------------------------------------------------------------------------- sections


def _header(cat: _Catalogue) -> str:
    return f"""\
-- ===========================================================================================
-- ctidissect.lua - Wireshark dissector for the Cisco CTI Server protocol (GED-188)
--
-- GENERATED FILE - DO NOT EDIT.  Generated by `ctidissect wireshark lua` from the ctidissect
-- catalogue (ctidissect/catalogue/, the single source of truth).  After a catalogue change run
--     ctidissect wireshark lua -o ctidissect/wireshark/ctidissect.lua
-- (a test fails while the committed copy is stale).
--
-- Catalogue fingerprint: {fingerprint()}
-- {len(cat.messages)} message types, {len(cat.tags)} floating tags, {len(cat.enums)} enums.
--
-- Install:  ctidissect wireshark install      (copies this file into the personal Lua plugin folder)
-- One-off:  tshark -X lua_script:/absolute/path/ctidissect.lua -r capture.pcapng
-- Docs:     docs/wireshark.md (preferences, filter fields, expert info, tshark/pyshark)
--
-- Layout: data tables (enums, fixed fields, floating tags, message layouts per protocol
-- version, request/response pairs, anomaly codes) followed by ONE generic walker that
-- interprets them; it mirrors ctidissect.wire.decode (same anomaly codes and texts).
-- ===========================================================================================

local FINGERPRINT = "{fingerprint()}"

-- Wireshark loads every Lua plugin into one Lua state (each with its own environment; _G is
-- shared).  When the plugin is installed AND passed with -X lua_script:, keep the first copy
-- instead of failing on a duplicate protocol, and complain only if the copies differ.
local loaded = rawget(_G, "CTIDISSECT_LOADED")
if loaded then
  if loaded ~= FINGERPRINT then
    report_failure("ctidissect.lua: another copy, generated from a different catalogue (fingerprint " .. tostring(loaded)
      .. "), is already loaded, probably an installed plugin; this copy (" .. FINGERPRINT .. ") is ignored. "
      .. "Refresh the installed copy with: ctidissect wireshark install")
  end
  return
end
_G.CTIDISSECT_LOADED = FINGERPRINT
"""


def _constants(cat: _Catalogue) -> str:
    v = cat.versions
    return f"""\
-- Protocol-version rules (ctidissect/catalogue/versions.py)
local DEFAULT_VERSION = {v["default"]}
local DEFAULT_PORTS = "{",".join(str(p) for p in v["default_server_ports"])}"  -- side A, side B
local WIDE_FLOATING_SINCE = {v["wide_floating_since"]}  -- floating Tag/FieldLength: 1+1 bytes before, 2+2 from here
local MAX_MESSAGE_SIZE_NARROW = {v["max_message_size"]["narrow"]}  -- header included, up to v{v["wide_floating_since"] - 1}
local MAX_MESSAGE_SIZE_WIDE = {v["max_message_size"]["wide"]}
local HEADER_SIZE = 8
local OPEN_REQ_TYPE = {next(m["type"] for m in cat.messages if m["name"] == "OPEN_REQ")}
-- A MessageLength above this is not believed for reassembly: the rest of the segment is
-- shown as one message flagged [frame.truncated] and [frame.too_long].
local TRUST_LIMIT = {TRUST_LIMIT}

local WIRE_SIZE = {{ UINT = 4, INT = 4, USHORT = 2, SHORT = 2, UCHAR = 1, CHAR = 1, BOOL = 2, TIME = 4 }}
local SIGNED = {{ INT = true, SHORT = true, CHAR = true }}
"""


def _enums(cat: _Catalogue) -> str:
    out = ["-- Enums and masks (GED-188 section 6).  Masks list their bits in declaration order.", "local ENUM = {}"]
    for name, enum in cat.enums.items():
        values = {int(k): v for k, v in enum["values"].items()}
        out.append(f"ENUM[{lua_str(name)}] = {{")
        out.append(f'  kind = "{enum["kind"]}",')
        if enum["kind"] == "mask":
            if 0 in values:
                out.append(f"  zero = {lua_str(values[0])},")
            out.append("  bits = {")
            for bit, label in values.items():
                if bit:
                    out.append(f"    {{ 0x{bit:08X}, {lua_str(label)} }},")
            out.append("  },")
        else:
            out.append("  values = {")
            for value, label in values.items():
                out.append(f"    {_lua_key(value)} = {lua_str(label)},")
            out.append("  },")
        if enum["overrides"]:
            out.append("  overrides = {  -- { first version, last version, { value = name } }")
            for o in enum["overrides"]:
                inner = ", ".join(f"{_lua_key(int(k))} = {lua_str(v)}" for k, v in o["values"].items())
                out.append(f"    {{ {o['first']}, {o['last']}, {{ {inner} }} }},")
            out.append("  },")
        out.append("}")
    return "\n".join(out) + "\n"


def _fixed_field_specs(cat: _Catalogue) -> dict[str, dict[str, Any]]:
    """Spec field name -> merged facts over every layout using it."""
    specs: dict[str, dict[str, Any]] = {}
    for m in cat.messages:
        layouts = ([m["fixed"]] if m["fixed"] else []) + [a["fields"] for a in m["alt_layouts"]]
        for fields in layouts:
            for f in fields:
                spec = specs.setdefault(f["name"], {"wires": set(), "enums": set(), "doc": ""})
                spec["wires"].add(f["wire"])
                if f["enum"]:
                    spec["enums"].add(f["enum"])
                if f["doc"] and not spec["doc"]:
                    spec["doc"] = f["doc"]
    return specs


def _names(cat: _Catalogue) -> str:
    """Value strings of cti.type and cti.float.tag (Wireshark copies a value-string table
    when the field is created, so these come before the fields)."""
    out = ["-- MessageType -> spec name, floating tag -> spec name (value strings of cti.type, cti.float.tag)"]
    out.append("local TYPE_NAMES = {")
    out.extend(f"  [{m['type']}] = {lua_str(m['name'])}," for m in cat.messages)
    out.append("}")
    out.append("local TAG_NAMES = {")
    out.extend(f"  [{t['tag']}] = {lua_str(t['name'])}," for t in cat.tags)
    out.append("}")
    return "\n".join(out)


def _proto_and_fields(cat: _Catalogue) -> str:
    out = [
        """\
-- Protocol, header and structural fields
local cti = Proto("cti", "Cisco CTI Server Protocol (GED-188)")

@@NAMES@@

local hf = {
  length = ProtoField.uint32("cti.length", "MessageLength", base.DEC, nil, nil, "Body length in bytes (8-byte header excluded)"),
  type = ProtoField.uint32("cti.type", "MessageType", base.DEC, TYPE_NAMES),
  name = ProtoField.string("cti.name", "Message name", base.ASCII, "Spec name of the MessageType; UNKNOWN when not in the catalogue"),
  kind = ProtoField.string("cti.kind", "Kind", base.ASCII, "request, confirmation, event or indication; unknown for an unknown MessageType"),
  version = ProtoField.uint32("cti.version", "Protocol version", base.DEC, nil, nil, "GED-188 protocol version this message was decoded with"),
  raw = ProtoField.bytes("cti.raw", "Message bytes", base.NONE, "The whole message, 8-byte header included (hidden field)"),
  body = ProtoField.bytes("cti.body", "Body (not decoded)", base.NONE, "Body of a message whose type or layout is unknown"),
  undecoded = ProtoField.bytes("cti.undecoded", "Undecoded bytes", base.NONE, "Bytes kept raw after an anomaly"),
  floating = ProtoField.none("cti.floating", "Floating part"),
  fitem = ProtoField.none("cti.float.item", "Floating field"),
  ftag = ProtoField.uint16("cti.float.tag", "Tag", base.DEC, TAG_NAMES),
  flen = ProtoField.uint16("cti.float.length", "FieldLength"),
  fdata = ProtoField.bytes("cti.float.data", "Data (kept raw)", base.NONE, "Data of an unknown tag, or of a tag whose data does not fit its type"),
  var_index = ProtoField.uint8("cti.var.index", "VariableIndex"),
  var_name = ProtoField.string("cti.var.name", "VariableName"),
  var_value = ProtoField.string("cti.var.value", "VariableValue"),
  response_in = ProtoField.framenum("cti.response_in", "Response in", base.NONE, frametype.RESPONSE, nil, "Frame of the confirmation answering this request"),
  response_to = ProtoField.framenum("cti.response_to", "Request in", base.NONE, frametype.REQUEST, nil, "Frame of the request this confirmation answers"),
  time = ProtoField.relative_time("cti.time", "Response time", "Seconds between the request and this confirmation"),
}
local HF_ORDER = { "length", "type", "name", "kind", "version", "raw", "body", "undecoded", "floating", "fitem", "ftag",
  "flen", "fdata", "var_index", "var_name", "var_value", "response_in", "response_to", "time" }

-- Fixed-part fields, by spec name: cti.invoke_id and cti.field.<snake_case name>.
-- label = enum walked at run time (masks, version-dependent names); time = seconds since 1970.
local FIELD = {}
local FIELD_ORDER = {}
local function field(name, pf, extra)
  local f = extra or {}
  f.pf = pf
  FIELD[name] = f
  FIELD_ORDER[#FIELD_ORDER + 1] = name
end"""
    ]
    out[0] = out[0].replace("@@NAMES@@", _names(cat))
    specs = _fixed_field_specs(cat)
    seen_abbr: dict[str, str] = {}
    for name in sorted(specs, key=lambda n: (n != "InvokeID", n)):
        spec = specs[name]
        shapes = {_FIXED_SHAPE[w] for w in spec["wires"]}
        signed = {s for s, _ in shapes}
        if len(signed) != 1:
            raise ValueError(f"fixed field {name} is signed in one layout and unsigned in another: {spec['wires']}")
        size = max(sz for _, sz in shapes)
        if len(spec["enums"]) > 1:
            raise ValueError(f"fixed field {name} uses several enums: {sorted(spec['enums'])}")
        enum = next(iter(spec["enums"]), None)
        mode = cat.enum_mode(enum)
        abbr = "cti.invoke_id" if name == "InvokeID" else f"cti.field.{snake_case(name)}"
        if abbr in seen_abbr:
            raise ValueError(f"fixed fields {seen_abbr[abbr]} and {name} map to the same filter name {abbr}")
        seen_abbr[abbr] = name
        is_mask = enum is not None and cat.enums[enum]["kind"] == "mask"
        base = "base.HEX" if is_mask else "base.DEC"
        vs = f"ENUM[{lua_str(enum)}].values" if mode == "valuestring" else "nil"
        extra = []
        if mode == "label":
            extra.append(f"label = {lua_str(enum)}")
        if spec["wires"] == {"TIME"}:
            extra.append("time = true")
        extra_s = f", {{ {', '.join(extra)} }}" if extra else ""
        out.append(
            f"field({lua_str(name)}, {_int_protofield(signed.pop(), size)}({lua_str(abbr)}, {lua_str(name)}, {base}, {vs}, nil, "
            f"{lua_str(spec['doc'] or None)}){extra_s})"
        )
    return "\n".join(out) + "\n"


def _tags(cat: _Catalogue) -> str:
    out = [
        "-- Floating tags (GED-188 section 3.2): cti.float.<snake_case tag name>, typed by wire type.",
        "-- max = largest data size in bytes (strings include their NUL).",
        "local TAG = {}",
    ]
    for t in cat.tags:
        snake = snake_case(t["name"])
        if snake in RESERVED_FLOAT_NAMES:
            raise ValueError(f"tag {t['name']} would shadow the structural field cti.float.{snake}")
        abbr = lua_str(f"cti.float.{snake}")
        label = lua_str(t["name"])
        doc = lua_str(t["doc"] or None)
        wire = t["wire"]
        extra = []
        if wire in ("STRING", "NAMEDVAR", "NAMEDARRAY"):
            pf = f"ProtoField.string({abbr}, {label}, base.UNICODE, {doc})"
        elif wire in ("UNSPEC", "RAW", "USHORT_LIST"):
            pf = f"ProtoField.bytes({abbr}, {label}, base.NONE, {doc})"
        else:
            signed, size = _FIXED_SHAPE[wire]
            mode = cat.enum_mode(t["enum"])
            is_mask = t["enum"] is not None and cat.enums[t["enum"]]["kind"] == "mask"
            vs = f"ENUM[{lua_str(t['enum'])}].values" if mode == "valuestring" else "nil"
            pf = f"{_int_protofield(signed, size)}({abbr}, {label}, {'base.HEX' if is_mask else 'base.DEC'}, {vs}, nil, {doc})"
        if t["enum"]:
            extra.append(f"enum = {lua_str(t['enum'])}")
        if t["max"] is not None:
            extra.append(f"max = {t['max']}")
        fields = [f"name = {label}", f'wire = "{wire}"', *extra, f"pf = {pf}"]
        out.append(f"TAG[{t['tag']}] = {{ {', '.join(fields)} }}")
    return "\n".join(out) + "\n"


def _layout(fields: Iterable[dict[str, Any]], indent: str = "  ") -> str:
    """A layout table; one field per line when it would not fit on one short line."""
    entries = []
    for f in fields:
        item = [lua_str(f["name"]), f'"{f["wire"]}"']
        if f["since"] or f["until"] is not None:
            item.append(str(f["since"]))
        if f["until"] is not None:
            item.append(str(f["until"]))
        entries.append("{ " + ", ".join(item) + " }")
    one_line = "{ " + ", ".join(entries) + " }"
    if len(entries) <= 3 and len(one_line) <= 90:
        return one_line
    return "{\n" + "".join(f"{indent}  {e},\n" for e in entries) + indent + "}"


def _messages(cat: _Catalogue) -> str:
    out = [
        "-- Message types.  fixed = fixed-part layout in wire order, each entry",
        "--   { spec field name, wire type [, first version [, last version]] }",
        "-- (false: the body layout is not published; the body is shown raw, [layout.unknown]).",
        "-- leading_invoke = true: no published layout, but a request/confirmation whose body starts",
        "--   with its InvokeID (7.1): cti.invoke_id from the first 4 bytes, the rest shown raw.",
        "-- alt = alternative layouts chosen by exact body length (conflicts recorded in the spec).",
        "local MSG = {}",
    ]
    for m in cat.messages:
        ref = f", {m['ref']}" if m["ref"] else ""
        out.append(f"-- {m['type']} {m['name']} ({m['kind']}, {m['direction']}{ref})")
        parts = [f"name = {lua_str(m['name'])}", f'kind = "{m["kind"]}"']
        parts.append(f"fixed = {_layout(m['fixed']) if m['fixed'] is not None else 'false'}")
        if m["leading_invoke_id"]:
            parts.append("leading_invoke = true")
        if m["alt_layouts"]:
            alts = "".join(f"    [{a['body_length']}] = {_layout(a['fields'], '    ')},\n" for a in m["alt_layouts"])
            parts.append(f"alt = {{\n{alts}  }}")
        out.append(f"MSG[{m['type']}] = {{\n" + "".join(f"  {p},\n" for p in parts) + "}")
    return "\n".join(out) + "\n"


def _pairs(cat: _Catalogue) -> str:
    by_name = {m["name"]: m["type"] for m in cat.messages}
    out = [
        "-- Request -> the message types that may answer it (ctidissect.catalogue.responses_of):",
        "-- its confirmation, FAILURE_CONF, and CONTROL_FAILURE_CONF for client-control requests.",
        "local ANSWERED_BY = {}",
    ]
    for m in cat.messages:
        if m["kind"] != "request":
            continue
        answers = responses_of(m["name"])
        inner = ", ".join(f"[{by_name[a]}] = true" for a in answers)
        out.append(f"ANSWERED_BY[{m['type']}] = {{ {inner} }}  -- {m['name']}: {', '.join(answers)}")
    return "\n".join(out) + "\n"


def _experts() -> str:
    out = [
        "-- Expert info: the anomaly vocabulary of ctidissect.wire.anomalies (decoder codes).",
        '-- The expert text always starts with the code, e.g. "[float.overrun] tag 5 length ...".',
        "local EXPERT = {}",
    ]
    for a in decoder_codes():
        if a.code in ("type.unknown", "layout.unknown"):
            group = "expert.group.UNDECODED"
        elif a.severity == ERROR:
            group = "expert.group.MALFORMED"
        else:
            group = "expert.group.PROTOCOL"
        out.append(
            f"EXPERT[{lua_str(a.code)}] = ProtoExpert.new({lua_str('cti.expert.' + a.code)}, {lua_str(a.doc)}, "
            f"{group}, {_EXPERT_SEVERITY[a.severity]})"
        )
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- the walker

WALKER = r"""
-- ===========================================================================================
-- The generic walker.  Everything above is data; everything below interprets it.
-- ===========================================================================================

local IS_RESPONSE = {}
for _, answers in pairs(ANSWERED_BY) do
  for t in pairs(answers) do IS_RESPONSE[t] = true end
end

local function layout_size(layout)
  local size = 0
  for _, e in ipairs(layout) do size = size + WIRE_SIZE[e[2]] end
  return size
end
for _, m in pairs(MSG) do
  if m.alt then
    for _, layout in pairs(m.alt) do layout.size = layout_size(layout) end
  end
end

do
  local all = {}
  for _, k in ipairs(HF_ORDER) do all[#all + 1] = hf[k] end
  for _, name in ipairs(FIELD_ORDER) do all[#all + 1] = FIELD[name].pf end
  local tags = {}
  for t in pairs(TAG) do tags[#tags + 1] = t end
  table.sort(tags)
  for _, t in ipairs(tags) do all[#all + 1] = TAG[t].pf end
  cti.fields = all
  local experts = {}
  for _, e in pairs(EXPERT) do experts[#experts + 1] = e end
  cti.experts = experts
end

cti.prefs.ports = Pref.range("TCP ports", DEFAULT_PORTS,
  "TCP ports of CTI Servers (side A and side B), e.g. 42027,43027 or 42027-42030", 65535)
cti.prefs.protocol_version = Pref.uint("Protocol version when unknown", DEFAULT_VERSION,
  "GED-188 version for a conversation whose OPEN_REQ was not captured "
  .. "(floating tag/length are 1+1 bytes up to 19, 2+2 from 20)")
cti.prefs.force_version = Pref.bool("Force the protocol version", false,
  "Ignore OPEN_REQ.VersionNumber and decode every conversation with the version above")

-- Per-capture state, reset by init(): versions learnt from OPEN_REQ per TCP stream, and
-- request/response links (filled in the first pass, read in every pass).
local SESSIONS, REQUESTS, RESPONSE_IN, RESPONSE_TO = {}, {}, {}, {}

function cti.init()
  SESSIONS, REQUESTS, RESPONSE_IN, RESPONSE_TO = {}, {}, {}, {}
end

local tcp_stream_field = Field.new("tcp.stream")
local function tcp_stream()
  local all = { tcp_stream_field() }
  local last = all[#all]
  return last and last.value or -1
end

local function max_body(version)
  return (version >= WIDE_FLOATING_SINCE and MAX_MESSAGE_SIZE_WIDE or MAX_MESSAGE_SIZE_NARROW) - HEADER_SIZE
end

-- The fixed fields a protocol version carries (cached per message and version).
local function layout_for(msg, version)
  local cache = msg.cache
  if not cache then
    cache = {}
    msg.cache = cache
  end
  local layout = cache[version]
  if layout then return layout end
  layout = {}
  for _, e in ipairs(msg.fixed) do
    local since, last = e[3] or 0, e[4]
    if version >= since and (last == nil or version <= last) then layout[#layout + 1] = e end
  end
  layout.size = layout_size(layout)
  cache[version] = layout
  return layout
end

local function session_version(pinfo, stream)
  if cti.prefs.force_version then
    return cti.prefs.protocol_version, "forced by preference cti.force_version"
  end
  local list = SESSIONS[stream]
  if list then
    for i = #list, 1, -1 do
      if list[i].frame <= pinfo.number then
        return list[i].version, "from OPEN_REQ in frame " .. list[i].frame
      end
    end
  end
  return cti.prefs.protocol_version, "no OPEN_REQ seen: preference cti.protocol_version"
end

-- The version of one message: an OPEN_REQ is decoded with the VersionNumber it announces,
-- which then applies to both directions of its TCP conversation from that frame on.
local function version_for(pinfo, stream, mtype, tvb, length)
  if not cti.prefs.force_version and mtype == OPEN_REQ_TYPE and length >= 8 and tvb:len() >= 16 then
    local v = tvb(12, 4):uint()
    if v >= 1 and v <= 255 then
      if not pinfo.visited then
        local list = SESSIONS[stream]
        if not list then
          list = {}
          SESSIONS[stream] = list
        end
        list[#list + 1] = { frame = pinfo.number, version = v }
      end
      return v, "VersionNumber of this OPEN_REQ"
    end
  end
  return session_version(pinfo, stream)
end

-- Numbers are formatted with %.0f and hex32(): Lua 5.2's %d and %X are limited to the C
-- long, which is 32-bit on Windows, and GED-188 UINTs go up to 2^32 - 1.
local function hex32(value)
  return string.format("%04X%04X", math.floor(value / 65536), value % 65536)
end

local function enum_label(enum_name, value, version)
  local e = ENUM[enum_name]
  if not e then return nil end
  if e.kind == "mask" then
    if value == 0 then return e.zero or "0" end
    local names, rest = {}, value
    for _, b in ipairs(e.bits) do
      if bit32.band(value, b[1]) == b[1] then
        names[#names + 1] = b[2]
        rest = bit32.band(rest, bit32.bnot(b[1]))
      end
    end
    if rest ~= 0 then names[#names + 1] = "0x" .. hex32(rest):gsub("^0+", "") end
    return table.concat(names, "|")
  end
  if version and e.overrides then
    for _, o in ipairs(e.overrides) do
      if version >= o[1] and version <= o[2] and o[3][value] then return o[3][value] end
    end
  end
  return e.values[value]
end

-- "3 (AVAILABLE)", "0x00000011 (A|B)", "1700000000 (2023-11-14 22:13:20 UTC)" or "7".
local function show_number(value, enum_name, is_time, version)
  if enum_name then
    local label = enum_label(enum_name, value, version)
    if ENUM[enum_name].kind == "mask" then return "0x" .. hex32(value) .. " (" .. label .. ")" end
    return string.format("%.0f (%s)", value, label or "unknown")
  end
  if is_time then return string.format("%.0f (%s)", value, os.date("!%Y-%m-%d %H:%M:%S UTC", value)) end
  return tostring(value)
end

local function anomaly(item, code, range, detail)
  local text = "[" .. code .. "] " .. detail
  if range then
    item:add_tvb_expert_info(EXPERT[code], range, text)
  else
    item:add_proto_expert_info(EXPERT[code], text)
  end
end

local function read_number(range, wire)
  if SIGNED[wire] then return range:int() end
  return range:uint()
end

local function add_fixed_field(root, tvb, pos, entry, version)
  local f = FIELD[entry[1]]
  local range = tvb(pos, WIRE_SIZE[entry[2]])
  local item = root:add(f.pf, range)
  local value = read_number(range, entry[2])
  if f.label then
    local label = enum_label(f.label, value, version)
    item:append_text(" (" .. (label or "unknown") .. ")")
  elseif f.time then
    item:append_text(" (" .. os.date("!%Y-%m-%d %H:%M:%S UTC", value) .. ")")
  end
  return value
end

local NUMERIC_SIZE = { UINT = 4, TIME = 4, INT = 4, USHORT = 2, SHORT = 2, UCHAR = 1 }

-- Adds the typed value of one floating field under its item; returns the text to show.
local function add_float_value(item, t, tvb, pos, ln, start, version)
  local wire = t.wire
  local data = tvb(pos, ln)
  if wire == "STRING" then
    local nul = string.find(data:raw(), "\0", 1, true)
    local n = ln
    if nul then
      n = nul - 1
    else
      anomaly(item, "float.no_nul", tvb(start, pos - start + ln), t.name)
    end
    local s = tvb(pos, n):string(ENC_UTF_8)
    item:add(t.pf, data, s)
    return s
  elseif wire == "UNSPEC" or wire == "RAW" then
    item:add(t.pf, data)
    return ln == 0 and "(empty)" or tostring(data:bytes())
  elseif NUMERIC_SIZE[wire] then
    if ln ~= NUMERIC_SIZE[wire] then
      anomaly(item, "float.bad_length", tvb(start, pos - start + ln),
        string.format("%s has %.0f bytes, expected %.0f", t.name, ln, NUMERIC_SIZE[wire]))
      item:add(hf.fdata, data)
      return "(bad length) " .. (ln == 0 and "" or tostring(data:bytes()))
    end
    local value = read_number(data, wire)
    local vitem = item:add(t.pf, data)
    local label_enum = t.enum and ENUM[t.enum]
    if t.enum and (label_enum.kind == "mask" or label_enum.overrides) then
      vitem:append_text(" (" .. (enum_label(t.enum, value, version) or "unknown") .. ")")
    elseif wire == "TIME" then
      vitem:append_text(" (" .. os.date("!%Y-%m-%d %H:%M:%S UTC", value) .. ")")
    end
    return show_number(value, t.enum, wire == "TIME", version)
  elseif wire == "USHORT_LIST" then
    if ln % 2 ~= 0 then
      anomaly(item, "float.bad_value", tvb(start, pos - start + ln), string.format("%s: %.0f byte(s) kept raw", t.name, ln))
      item:add(hf.fdata, data)
      return "(bad value)"
    end
    local values = {}
    for i = 0, ln - 2, 2 do values[#values + 1] = tostring(tvb(pos + i, 2):uint()) end
    local shown = "[" .. table.concat(values, ", ") .. "]"
    item:add(t.pf, data):append_text(" " .. shown)
    return shown
  else -- NAMEDVAR, NAMEDARRAY: [VariableIndex UCHAR] VariableName NUL VariableValue [NUL]
    local off, index = pos, nil
    if wire == "NAMEDARRAY" then
      if ln == 0 then
        anomaly(item, "float.bad_value", tvb(start, pos - start), string.format("%s: %.0f byte(s) kept raw", t.name, ln))
        item:add(hf.fdata, data)
        return "(bad value)"
      end
      index = tvb(pos, 1):uint()
      off = pos + 1
    end
    local raw = tvb(off, pos + ln - off):raw()
    local first = string.find(raw, "\0", 1, true)
    local second = first and string.find(raw, "\0", first + 1, true)
    local third = second and string.find(raw, "\0", second + 1, true)
    local ok = first and (not second or (second == #raw and not third))
    if not ok then
      anomaly(item, "float.bad_value", tvb(start, pos - start + ln), string.format("%s: %.0f byte(s) kept raw", t.name, ln))
      item:add(hf.fdata, data)
      return "(bad value)"
    end
    local name_len = first - 1
    local value_len = (second or (#raw + 1)) - first - 1
    local name_s = tvb(off, name_len):string(ENC_UTF_8)
    local value_s = tvb(off + first, value_len):string(ENC_UTF_8)
    local shown = name_s .. " = " .. value_s
    if index then shown = "[" .. index .. "] " .. shown end
    local vitem = item:add(t.pf, data, shown)
    if index then vitem:add(hf.var_index, tvb(pos, 1)) end
    vitem:add(hf.var_name, tvb(off, name_len), name_s)
    vitem:add(hf.var_value, tvb(off + first, value_len), value_s)
    return shown
  end
end

-- The floating part tvb[pos, stop): mirrors ctidissect.wire.decode_floating.
local function dissect_floating(root, tvb, pos, stop, wide, version)
  local hdr = wide and 4 or 2
  local half = hdr / 2
  local ftree = root:add(hf.floating, tvb(pos, stop - pos))
  local count = 0
  while pos < stop do
    if stop - pos < hdr then
      anomaly(ftree, "float.truncated_header", tvb(pos, stop - pos), string.format("%.0f trailing byte(s) kept raw", stop - pos))
      ftree:add(hf.undecoded, tvb(pos, stop - pos))
      break
    end
    local tag = tvb(pos, half):uint()
    local ln = tvb(pos + half, half):uint()
    local start = pos
    pos = pos + hdr
    if pos + ln > stop then
      anomaly(ftree, "float.overrun", tvb(start, stop - start),
        string.format("tag %.0f length %.0f but only %.0f byte(s) remain; kept raw", tag, ln, stop - pos))
      ftree:add(hf.undecoded, tvb(start, stop - start))
      break
    end
    count = count + 1
    local item = ftree:add(hf.fitem, tvb(start, hdr + ln))
    item:add(hf.ftag, tvb(start, half))
    item:add(hf.flen, tvb(start + half, half))
    local t = TAG[tag]
    if not t then
      anomaly(item, "float.unknown_tag", tvb(start, hdr + ln), string.format("tag %.0f, %.0f byte(s) kept raw", tag, ln))
      item:add(hf.fdata, tvb(pos, ln))
      item:set_text(string.format("Unknown tag %.0f (%.0f bytes)", tag, ln))
    else
      if t.max and ln > t.max then
        anomaly(item, "float.too_long", tvb(start, hdr + ln), string.format("%s has %.0f bytes, max %.0f", t.name, ln, t.max))
      end
      item:set_text(t.name .. ": " .. add_float_value(item, t, tvb, pos, ln, start, version))
    end
    pos = pos + ln
  end
  ftree:set_text(string.format("Floating part (%.0f field%s)", count, count == 1 and "" or "s"))
end

-- Request/response tracking by InvokeID per TCP conversation (first pass links, every pass shows).
local function add_seconds(tree, field, seconds)
  local secs = math.floor(seconds)
  local nsecs = math.floor((seconds - secs) * 1e9 + 0.5)
  if nsecs >= 1000000000 then
    secs, nsecs = secs + 1, nsecs - 1000000000
  end
  local item = tree:add(field, NSTime.new(secs, nsecs))
  item:set_generated()
end

-- A message is keyed by frame, offset in its data source and InvokeID, so that two messages
-- with one InvokeID in one frame stay apart.
local function track(pinfo, tvb, root, stream, mtype, msg, invoke)
  local key = pinfo.number .. ":" .. tvb:offset() .. ":" .. invoke
  if msg.kind == "request" then
    if not pinfo.visited then
      local pending = REQUESTS[stream]
      if not pending then
        pending = {}
        REQUESTS[stream] = pending
      end
      pending[invoke] = { frame = pinfo.number, key = key, ts = pinfo.abs_ts, type = mtype }
    end
    local response = RESPONSE_IN[key]
    if response then root:add(hf.response_in, response):set_generated() end
  elseif IS_RESPONSE[mtype] then
    if not pinfo.visited then
      local pending = REQUESTS[stream]
      local request = pending and pending[invoke]
      if request and ANSWERED_BY[request.type][mtype] then
        pending[invoke] = nil
        RESPONSE_IN[request.key] = pinfo.number
        RESPONSE_TO[key] = { frame = request.frame, delta = pinfo.abs_ts - request.ts }
      end
    end
    local request = RESPONSE_TO[key]
    if request then
      root:add(hf.response_to, request.frame):set_generated()
      add_seconds(root, hf.time, request.delta)
    end
  end
end

-- One whole message (8-byte header + MessageLength bytes, fewer if the capture cut it):
-- mirrors ctidissect.wire.decode_buffer / decode_body.
local function dissect_pdu(tvb, pinfo, tree)
  local avail = tvb:len()
  if avail < HEADER_SIZE then
    -- Only when TCP cannot wait for more data (no desegmentation): a header cut short.
    local root = tree:add(cti, tvb(0, avail))
    root:append_text(", truncated header")
    root:add(hf.raw, tvb(0, avail)):set_hidden()
    local item = root:add(FIELD["InvokeID"].pf, 0)
    item:set_generated()
    anomaly(root, "frame.truncated_header", tvb(0, avail), string.format("%.0f byte(s) after the last frame", avail))
    root:add(hf.undecoded, tvb(0, avail))
    return
  end
  local length = tvb(0, 4):uint()
  local mtype = tvb(4, 4):uint()
  local msg = MSG[mtype]
  local stream = tcp_stream()
  local version, vsource = version_for(pinfo, stream, mtype, tvb, length)
  local name = msg and msg.name or "UNKNOWN"
  local total = HEADER_SIZE + length
  local complete = avail >= total

  if tostring(pinfo.cols.protocol) ~= "CTI" then
    pinfo.cols.protocol = "CTI"
    pinfo.cols.info = name
  else
    pinfo.cols.info:append(", " .. name)
  end

  local root = tree:add(cti, tvb(0, avail))
  root:append_text(", " .. name)
  root:add(hf.raw, tvb(0, avail)):set_hidden()
  -- Expert items hang off the root in the order the Python decoder lists its anomalies.
  root:add(hf.length, tvb(0, 4))
  root:add(hf.type, tvb(4, 4))
  root:add(hf.name, name):set_generated()
  root:add(hf.kind, msg and msg.kind or "unknown"):set_generated()
  local vitem = root:add(hf.version, version)
  vitem:set_generated()
  vitem:append_text(" (" .. vsource .. ")")

  local body_len = length
  local layout, alternate = nil, false
  if complete and msg and msg.fixed then
    if msg.alt and msg.alt[body_len] then
      layout, alternate = msg.alt[body_len], true
    else
      layout = layout_for(msg, version)
    end
  end
  -- cti.invoke_id is in every message so that `tshark -T fields` columns never shift:
  -- the wire value when the message carries one, else a generated 0.
  local leading = complete and msg and not msg.fixed and msg.leading_invoke and body_len >= 4
  if not (leading or (layout and layout[1] and layout[1][1] == "InvokeID" and body_len >= 4)) then
    local item = root:add(FIELD["InvokeID"].pf, 0)
    item:set_generated()
    item:append_text(" (none: " .. name .. " carries no InvokeID)")
  end

  local limit = max_body(version)
  if not complete then
    anomaly(root, "frame.truncated", tvb(0, avail),
      string.format("MessageLength %.0f but only %.0f body byte(s) present", length, avail - HEADER_SIZE))
    if length > limit then
      anomaly(root, "frame.too_long", tvb(0, avail),
        string.format("MessageLength %.0f > %.0f at protocol version %.0f", length, limit, version))
    end
    if avail > HEADER_SIZE then root:add(hf.undecoded, tvb(HEADER_SIZE, avail - HEADER_SIZE)) end
    return
  end
  if length > limit then
    anomaly(root, "frame.too_long", tvb(0, total),
      string.format("MessageLength %.0f > %.0f at protocol version %.0f", length, limit, version))
  end
  if not msg then
    anomaly(root, "type.unknown", nil, string.format("MessageType %.0f; %.0f body bytes kept raw", mtype, body_len))
    if body_len > 0 then root:add(hf.body, tvb(HEADER_SIZE, body_len)) end
    return
  end
  if leading then
    -- 7.1: the first UINT of a request/confirmation body is its InvokeID; the rest stays raw.
    local invoke = add_fixed_field(root, tvb, HEADER_SIZE, { "InvokeID", "UINT" }, version)
    anomaly(root, "layout.unknown", nil,
      string.format("InvokeID decoded per 7.1; %.0f body bytes after it kept raw", body_len - 4))
    if body_len > 4 then root:add(hf.body, tvb(HEADER_SIZE + 4, body_len - 4)) end
    track(pinfo, tvb, root, stream, mtype, msg, invoke)
    return
  end
  if not layout then
    anomaly(root, "layout.unknown", nil, string.format("%.0f body bytes kept raw", body_len))
    if body_len > 0 then root:add(hf.body, tvb(HEADER_SIZE, body_len)) end
    return
  end
  if alternate then
    local names = {}
    for _, e in ipairs(layout) do names[#names + 1] = e[1] end
    anomaly(root, "fixed.alternate_layout", nil,
      string.format("%.0f-byte body decoded as %s", body_len, table.concat(names, ", ")))
  end
  local pos, invoke = HEADER_SIZE, nil
  for _, e in ipairs(layout) do
    local n = WIRE_SIZE[e[2]]
    if pos + n > total then break end
    local value = add_fixed_field(root, tvb, pos, e, version)
    if e[1] == "InvokeID" then invoke = value end
    pos = pos + n
  end
  if body_len < layout.size then
    anomaly(root, "fixed.short", tvb(total, 0),
      string.format("body has %.0f bytes, fixed part needs %.0f at protocol version %.0f", body_len, layout.size, version))
  elseif body_len > layout.size then
    dissect_floating(root, tvb, HEADER_SIZE + layout.size, total, version >= WIDE_FLOATING_SINCE, version)
  end
  if invoke ~= nil then track(pinfo, tvb, root, stream, mtype, msg, invoke) end
end

local function pdu_length(tvb, pinfo, offset)
  local length = tvb(offset, 4):uint()
  if length > TRUST_LIMIT then return tvb:reported_length_remaining(offset) end
  return HEADER_SIZE + length
end

local function dissect(tvb, pinfo, tree)
  dissect_tcp_pdus(tvb, tree, HEADER_SIZE, pdu_length, dissect_pdu, true)
  return tvb:len()
end
cti.dissector = dissect

-- Heuristic (ctidissect.wire.plausible_header): a known MessageType, a MessageLength within
-- the version's maximum and at least the fixed part; when the segment holds more, the next
-- header must be plausible too.  A match makes the whole TCP conversation CTI.
local function plausible(tvb, offset, version)
  if tvb:len() < offset + HEADER_SIZE then return nil end
  local length = tvb(offset, 4):uint()
  local msg = MSG[tvb(offset + 4, 4):uint()]
  if not msg or length > max_body(version) then return false end
  if msg.fixed and length < layout_for(msg, version).size then return false end
  return true
end

local function heuristic(tvb, pinfo, tree)
  local version = session_version(pinfo, tcp_stream())
  if plausible(tvb, 0, version) ~= true then return false end
  if plausible(tvb, HEADER_SIZE + tvb(0, 4):uint(), version) == false then return false end
  pinfo.conversation = cti
  -- Call the Lua function itself: going through cti.dissector (a C handle) would use up
  -- TCP's permission to desegment and split messages at segment boundaries.
  dissect(tvb, pinfo, tree)
  return true
end
cti:register_heuristic("tcp", heuristic)

-- TCP ports preference (re-registered when it changes).
local registered_ports = nil
local function register_ports()
  local tcp_port = DissectorTable.get("tcp.port")
  if registered_ports and registered_ports ~= "" then tcp_port:remove(registered_ports, cti) end
  registered_ports = cti.prefs.ports
  if registered_ports and registered_ports ~= "" then tcp_port:add(registered_ports, cti) end
end

function cti.prefs_changed()
  register_ports()
end
register_ports()
"""
