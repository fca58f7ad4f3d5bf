"""The tshark engine: decode a capture through tshark with the generated Lua dissector.

``read_capture_tshark(path)`` runs tshark (via pyshark, PDML mode) with ``ctidissect.lua``
and yields the same :class:`ctidissect.wire.Message` records as the native decoder, built
from what tshark reports: type, name, fixed fields (spec names), floating items in wire
order, anomalies (from the expert info, ``[code] detail``), the raw message bytes, protocol
version, frame number, timestamp, connection and direction.

Use it for what Wireshark reads and ctidissect's own reader does not (dumpcap ring-buffer
files, exotic link types, compressed pcapng), or to cross-check the native decoder.  It is
about 500 times slower than the native path (pyshark parses XML), so it is never the
default.  Measured pitfalls it avoids (see ``docs/wireshark.md``):

* pyshark's JSON mode keeps only the first CTI message of a frame and its EK mode fails on
  Lua fields: only PDML is used;
* stock tshark decodes CTI as SMPP: the SMPP dissector and its TCP heuristic are disabled;
* a reordered TCP segment stalls reassembly unless ``tcp.reassemble_out_of_order`` is on.

pyshark runs its own asyncio loop, so this does not work inside an already running event
loop (e.g. a Jupyter cell) unless that loop allows nesting.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..capture.stats import CaptureStats
from ..catalogue import MESSAGES, MESSAGES_BY_TYPE, TAGS, snake_case
from ..catalogue.versions import DEFAULT_SERVER_PORTS, DEFAULT_VERSION
from ..wire.decode import STRING_CODEC
from ..wire.records import Anomaly, FloatItem, Message, NamedArray, NamedVar
from . import lua_path

DEFAULT_PORTS: tuple[int, ...] = DEFAULT_SERVER_PORTS
"""CTI Server ports of side A and side B (the dissector's ``cti.ports`` default)."""

# Anomalies the Python decoder reports without an offset.
_NO_OFFSET = frozenset({"type.unknown", "layout.unknown", "fixed.alternate_layout"})
_EXPERT_TEXT = re.compile(r"^\[([a-z_]+(?:\.[a-z_]+)+)\] ?(.*)$", re.S)
_PARENTHESISED = re.compile(r"\((.*)\)$")
_STRUCTURAL = frozenset({"cti.float.item", "cti.float.tag", "cti.float.length"})


class TsharkError(RuntimeError):
    """tshark could not run the dissector (missing binary, Lua error, bad option, unreadable
    capture); the message carries tshark's own words."""


def _field_names() -> dict[str, str]:
    """Filter name -> spec name of every fixed field (``cti.field.connection_call_id`` ->
    ``ConnectionCallID``)."""
    out = {"cti.invoke_id": "InvokeID"}
    for m in MESSAGES:
        layouts = [m.fixed or ()] + [a.fields for a in m.alt_layouts]
        for fields in layouts:
            for f in fields:
                if f.name != "InvokeID":
                    out[f"cti.field.{snake_case(f.name)}"] = f.name
    return out


_FIELD_NAMES = _field_names()
_TAG_BY_NUMBER = {t.tag: t for t in TAGS}


def ports_pref(ports: Iterable[int] | str) -> str:
    """The ``cti.ports`` preference value for ``ports`` (ints, or a Wireshark range string
    such as ``"42027,43027"`` or ``"42027-42030"``)."""
    if isinstance(ports, str):
        return ports.replace(" ", "")
    return ",".join(str(int(p)) for p in ports)


def parse_ports(ports: Iterable[int] | str) -> frozenset[int]:
    """The set of port numbers in a ports argument (ranges expanded)."""
    if not isinstance(ports, str):
        return frozenset(int(p) for p in ports)
    out: set[int] = set()
    for part in ports.replace(" ", "").split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return frozenset(out)


def tshark_parameters(
    ports: Iterable[int] | str = DEFAULT_PORTS,
    version: int | None = None,
    *,
    detect: bool = True,
    force_version: bool = False,
    lua_script: str | os.PathLike[str] | None = None,
) -> list[str]:
    """tshark options loading the dissector with the settings this engine relies on
    (SMPP's heuristic off, out-of-order reassembly on, the ports and version preferences;
    the dissector's own heuristic off unless ``detect``).  Also handy on the command line."""
    script = Path(lua_script) if lua_script is not None else lua_path()
    params = [
        "-X",
        f"lua_script:{script.resolve()}",
        "-o",
        "tcp.reassemble_out_of_order:TRUE",
        "-o",
        f"cti.ports:{ports_pref(ports)}",
        "--disable-heuristic",
        "smpp_tcp",
    ]
    if not detect:
        params += ["--disable-heuristic", "cti_tcp"]
    if version is not None:
        params += ["-o", f"cti.protocol_version:{int(version)}"]
    if force_version:
        params += ["-o", "cti.force_version:TRUE"]
    return params


def find_tshark(tshark_path: str | os.PathLike[str] | None = None) -> str:
    """Path of the tshark binary (``tshark_path`` or the first ``tshark`` on PATH)."""
    found = shutil.which(str(tshark_path)) if tshark_path else shutil.which("tshark")
    if not found:
        raise TsharkError(
            f"tshark not found ({tshark_path or 'not on PATH'}); install Wireshark's tshark, "
            "e.g. apt-get install -y tshark"
        )
    return found


def _stderr_problems(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and "Running as user" not in line]


# An empty Ethernet pcap: the preflight reads it to load the dissector and the options.
_EMPTY_PCAP = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
_PREFLIGHT_OK: set[tuple] = set()


def preflight(params: Sequence[str], tshark: str) -> None:
    """Start tshark once with ``params`` on an empty capture so that a Lua error, a second
    copy of the dissector from another catalogue, or an unknown preference raise
    :class:`TsharkError` (pyshark hides tshark's stderr, and a Lua load error leaves tshark
    running without the dissector).  Successful checks are remembered per process."""
    script = next((p.split(":", 1)[1] for p in params if p.startswith("lua_script:")), "")
    try:
        stamp = os.stat(script).st_mtime_ns
    except OSError as exc:
        raise TsharkError(f"cannot read the Lua dissector {script}: {exc.strerror}") from exc
    key = (tshark, tuple(params), stamp, os.environ.get("HOME"))
    if key in _PREFLIGHT_OK:
        return
    with tempfile.TemporaryDirectory(prefix="ctidissect-") as tmp:
        empty = Path(tmp) / "empty.pcap"
        empty.write_bytes(_EMPTY_PCAP)
        proc = subprocess.run(
            [tshark, "-n", "-r", str(empty), *params, "-T", "fields", "-e", "frame.number"],
            capture_output=True,
            text=True,
            check=False,
        )
    problems = _stderr_problems(proc.stderr)
    if proc.returncode != 0 or any("Lua" in line or "ctidissect.lua" in line for line in problems):
        detail = "; ".join(problems) or f"exit status {proc.returncode}"
        raise TsharkError(f"tshark cannot run the dissector: {detail}")
    _PREFLIGHT_OK.add(key)


def read_capture_tshark(
    path: str | os.PathLike[str],
    ports: Iterable[int] | str = DEFAULT_PORTS,
    version: int | None = None,
    detect: bool = False,
    stats: CaptureStats | None = None,
    *,
    force_version: bool = False,
    lua_script: str | os.PathLike[str] | None = None,
    tshark_path: str | os.PathLike[str] | None = None,
    display_filter: str | None = None,
) -> Iterator[Message]:
    """Decode every CTI message of the capture at ``path`` through tshark and the generated
    Lua dissector, in capture order.  The positional parameters are those of
    :func:`ctidissect.capture.read_capture`, so either engine is a one-line choice.

    ``ports``: CTI server ports (the ``cti.ports`` preference).  ``version``: protocol
    version for conversations whose OPEN_REQ was not captured (default 24); with
    ``force_version`` it is used for every conversation.  ``detect``: also let the
    dissector's heuristic find CTI on other ports.  ``stats``: a
    :class:`~ctidissect.capture.CaptureStats` filled while iterating (tshark only shows the
    frames carrying CTI: ``packets`` is the number of the last one).  ``display_filter``
    narrows the frames further (a Wireshark display filter, default ``cti``).

    Each :class:`Message` has ``frame`` (the frame completing it), ``ts``, ``conn``
    (``client_ip:port-server_ip:port``, the server being the side on a CTI port) and
    ``direction`` (``c2s``/``s2c``; from the message kind when neither port is a CTI port,
    None if that does not tell).  ``extra`` holds ``tcp_stream``, ``version_source``
    (``open_req``, ``assumed`` or ``forced``) and, when tshark linked the pair,
    ``response_to`` (request frame) and ``response_time`` (seconds).

    Raises, before the first record: ``FileNotFoundError`` for a missing capture and
    :class:`TsharkError` when tshark or pyshark is missing or the dissector does not load;
    while iterating: :class:`TsharkError` when tshark cannot read the file or the dissector
    raises a Lua error.
    """
    capture = Path(path)
    if not capture.is_file():
        raise FileNotFoundError(2, "No such capture file", str(capture))
    tshark = find_tshark(tshark_path)
    params = tshark_parameters(ports, version, detect=detect, force_version=force_version, lua_script=lua_script)
    preflight(params, tshark)
    try:
        import pyshark
        from pyshark.capture.capture import TSharkCrashException
    except ImportError as exc:
        raise TsharkError("the tshark engine needs pyshark: pip install 'ctidissect[tshark]'") from exc
    cap = pyshark.FileCapture(
        str(capture),
        keep_packets=False,
        # frames where the dissector raised a Lua error before adding its tree must come
        # through too, or the error would go unnoticed
        display_filter=f"({display_filter or 'cti'}) || _ws.lua.error",
        disable_protocol="smpp",
        custom_parameters=params,
        tshark_path=tshark,
    )
    return _iterate(cap, capture, parse_ports(ports), stats, TSharkCrashException)


def _iterate(
    cap: Any, capture: Path, server_ports: frozenset[int], stats: CaptureStats | None, crash: type
) -> Iterator[Message]:
    connections: set[str] = set()
    try:
        try:
            for packet in cap:
                messages = messages_of_packet(packet, server_ports)
                if stats is not None and messages:
                    if stats.first_ts is None:
                        stats.first_ts = _capture_start(packet)
                    _count(stats, messages, connections)
                yield from messages
        finally:
            cap.close()
    except crash as exc:  # e.g. not a capture file: tshark's message is inside
        # pyshark keeps the dead process and would raise the same again from __del__.
        cap._running_processes.clear()
        raise TsharkError(f"tshark failed on {capture}: {exc}") from exc


def _capture_start(packet: Any) -> float:
    """Epoch seconds of the capture's first packet (tshark only hands over CTI frames)."""
    ts = float(packet.sniff_timestamp)
    frame_info = getattr(packet, "frame_info", None)  # pyshark keeps the "frame" layer apart
    relative = _first(_fields(frame_info), "frame.time_relative") if frame_info is not None else None
    return ts - float(relative.show) if relative is not None else ts


def _count(stats: CaptureStats, messages: list[Message], connections: set[str]) -> None:
    frame, ts = messages[0].frame, messages[0].ts
    stats.packets = max(stats.packets, frame or 0)
    stats.cti_packets += 1
    if stats.first_ts is None:
        stats.first_ts = ts
    stats.last_ts = ts
    for msg in messages:
        if msg.conn and msg.conn not in connections:
            connections.add(msg.conn)
            stats.cti_connections += 1
        if msg.type is None:
            stats.anomaly_records += 1
            stats.bytes_in_anomalies += len(msg.raw)
        else:
            stats.messages += 1
            stats.bytes_decoded += len(msg.raw)
        stats.anomalies.update(a.code for a in msg.anomalies)


# --------------------------------------------------------------------------- PDML -> Message


def _fields(layer: Any) -> dict[str, Any]:
    # pyshark's XmlLayer keeps every <field> of the layer, flattened, by name; the public
    # accessors sanitise names and fall back to a linear scan, so read the mapping directly.
    return layer._all_fields


def _all(fields: dict[str, Any], name: str) -> list[Any]:
    container = fields.get(name)
    return list(container.all_fields) if container is not None else []


def _first(fields: dict[str, Any], name: str) -> Any:
    container = fields.get(name)
    return container.all_fields[0] if container is not None else None


def _pos(field: Any) -> int:
    return int(field.pos)


def _bytes(field: Any) -> bytes:
    value = field.raw_value or ""
    return bytes.fromhex(value)


def _int(field: Any) -> int:
    return int(field.show, 0)


def _text(data: bytes) -> str:
    return data.decode(*STRING_CODEC)


def _check_lua_errors(packet: Any) -> None:
    for layer in packet.layers:
        fields = _fields(layer)
        if "_ws.lua.error" in fields:
            messages = [f.show for f in _all(fields, "_ws.expert.message")] or ["Lua error"]
            raise TsharkError(f"frame {packet.number}: {messages[0]}")


def _addresses(packet: Any) -> tuple[str, str, int, int, int | None] | None:
    """(src, dst, sport, dport, tcp stream) of the innermost IP/TCP layers."""
    net = tcp = None
    for layer in packet.layers:
        name = layer.layer_name
        if name in ("ip", "ipv6"):
            net = (name, _fields(layer))
        elif name == "tcp":
            tcp = _fields(layer)
    if net is None or tcp is None:
        return None
    prefix, fields = net
    src, dst = _first(fields, f"{prefix}.src"), _first(fields, f"{prefix}.dst")
    sport, dport, stream = (_first(tcp, n) for n in ("tcp.srcport", "tcp.dstport", "tcp.stream"))
    if src is None or dst is None or sport is None or dport is None:
        return None
    return src.show, dst.show, int(sport.show), int(dport.show), int(stream.show) if stream is not None else None


def _endpoints(
    addresses: tuple | None, server_ports: frozenset[int], kind_direction: str | None
) -> tuple[str | None, str | None]:
    """(conn, direction) of a message; the server is the side on a CTI port."""
    if addresses is None:
        return None, None
    src, dst, sport, dport, _stream = addresses
    if dport in server_ports:
        direction = "c2s"
    elif sport in server_ports:
        direction = "s2c"
    elif kind_direction in ("C2S", "S2C"):
        direction = kind_direction.lower()
    else:
        return f"{src}:{sport}-{dst}:{dport}", None
    if direction == "c2s":
        return f"{src}:{sport}-{dst}:{dport}", direction
    return f"{dst}:{dport}-{src}:{sport}", direction


def _float_value(tag_number: int, value_field: Any, fields: dict[str, Any]) -> tuple[str | None, Any]:
    name = value_field.name
    tag = _TAG_BY_NUMBER.get(tag_number)
    if name == "cti.float.data" or tag is None:
        return (tag.name if tag else None), _bytes(value_field)
    wire = tag.wire
    if wire == "STRING":
        data = _bytes(value_field)
        nul = data.find(b"\0")
        return tag.name, _text(data if nul < 0 else data[:nul])
    if wire in ("UNSPEC", "RAW"):
        return tag.name, _bytes(value_field)
    if wire == "USHORT_LIST":
        data = _bytes(value_field)
        return tag.name, [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if wire in ("NAMEDVAR", "NAMEDARRAY"):
        lo = _pos(value_field)
        hi = lo + int(value_field.size)

        def inside(child: str) -> Any:
            return next(
                (f for f in _all(fields, child) if lo <= _pos(f) < hi or (_pos(f) == hi and f.size == "0")), None
            )

        var_name, var_value = inside("cti.var.name"), inside("cti.var.value")
        name_s = _text(_bytes(var_name)) if var_name is not None else ""
        value_s = _text(_bytes(var_value)) if var_value is not None else ""
        if wire == "NAMEDVAR":
            return tag.name, NamedVar(name_s, value_s)
        index = inside("cti.var.index")
        return tag.name, NamedArray(_int(index) if index is not None else 0, name_s, value_s)
    return tag.name, _int(value_field)


def message_of_layer(layer: Any) -> Message:
    """One :class:`Message` from one ``cti`` PDML layer (frame, time and endpoints are
    filled by :func:`messages_of_packet`)."""
    fields = _fields(layer)
    raw_field = _first(fields, "cti.raw")
    type_field = _first(fields, "cti.type")
    base = _pos(raw_field)
    mtype = _int(type_field) if type_field is not None else None  # None: a header cut short
    cat = MESSAGES_BY_TYPE.get(mtype) if mtype is not None else None
    version_field = _first(fields, "cti.version")
    version = _int(version_field) if version_field is not None else DEFAULT_VERSION
    raw = _bytes(raw_field)

    fixed = []
    values = []
    for name, container in fields.items():
        spec = _FIELD_NAMES.get(name)
        if spec is not None:
            for f in container.all_fields:
                if f.size != "0":  # a generated cti.invoke_id marks a message without one
                    fixed.append((_pos(f), spec, _int(f)))
        elif name.startswith("cti.float.") and name not in _STRUCTURAL:
            values.extend(container.all_fields)
    fixed.sort(key=lambda item: item[0])
    values.sort(key=_pos)
    tags = sorted(_all(fields, "cti.float.tag"), key=_pos)
    if len(tags) != len(values):
        raise TsharkError(f"dissector output not understood: {len(tags)} floating tags but {len(values)} values")
    floating = []
    for tag_field, value_field in zip(tags, values):
        number = _int(tag_field)
        name, value = _float_value(number, value_field, fields)
        floating.append(FloatItem(number, name, value))

    anomalies = []
    experts = _all(fields, "_ws.expert")
    for i, text_field in enumerate(_all(fields, "_ws.expert.message")):
        match = _EXPERT_TEXT.match(text_field.show or "")
        if not match:
            raise TsharkError(f"unexpected expert info in a CTI message: {text_field.show!r}")
        code, detail = match.groups()
        offset = None
        if code not in _NO_OFFSET and i < len(experts):
            offset = _pos(experts[i]) - base
        anomalies.append(Anomaly(code, detail, offset))

    msg = Message(
        mtype, cat.name if cat else None, {spec: v for _, spec, v in fixed}, floating, anomalies, raw, version
    )
    source = _PARENTHESISED.search(version_field.showname or "") if version_field is not None else None
    detail = source.group(1) if source else ""
    msg.extra["version_source"] = (
        "open_req"
        if "OPEN_REQ in" in detail or "this OPEN_REQ" in detail
        else ("forced" if "forced" in detail else "assumed")
    )
    response_to = _first(fields, "cti.response_to")
    if response_to is not None:
        msg.extra["response_to"] = _int(response_to)
        time_field = _first(fields, "cti.time")
        if time_field is not None:
            msg.extra["response_time"] = float(time_field.show)
    return msg


def messages_of_packet(packet: Any, server_ports: frozenset[int] = frozenset(DEFAULT_PORTS)) -> list[Message]:
    """Every CTI message tshark decoded in one pyshark packet (PDML mode), in wire order."""
    _check_lua_errors(packet)
    out = []
    frame = int(packet.number)
    ts = float(packet.sniff_timestamp)
    addresses = _addresses(packet)
    stream = addresses[4] if addresses else None
    for layer in packet.get_multiple_layers("cti"):
        msg = message_of_layer(layer)
        cat = MESSAGES_BY_TYPE.get(msg.type) if msg.type is not None else None
        msg.conn, msg.direction = _endpoints(addresses, server_ports, cat.direction if cat else None)
        msg.frame = frame
        msg.ts = ts
        msg.anomalies = [Anomaly(a.code, a.detail, a.offset, frame) for a in msg.anomalies]
        msg.extra["tcp_stream"] = stream
        out.append(msg)
    return out
