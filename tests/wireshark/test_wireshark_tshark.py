"""tshark + the generated Lua dissector against the native decoder (differential test).

Every capture in ``captures/`` and the captures built here (scapy Ether/IP/TCP, messages from
``encode_message``; several messages per segment, messages and headers split across
segments, a reordered segment, v19 and v24 sessions each opened by OPEN_REQ, every catalogue
message type, malformed messages for every anomaly code) is decoded twice:

* by tshark with ``ctidissect.lua`` through :func:`ctidissect.wireshark.read_capture_tshark`
  (pyshark, PDML), and
* natively: each TCP direction reassembled and decoded with ``decode_buffer`` at the
  session's version,

and the two must agree on every message: type, name, version, every fixed field (InvokeID,
PeripheralID, ConnectionCallID, ...), every floating item in wire order (CLIENT_ID,
CONNECTION_DEVID, ...), every anomaly (code, detail text, offset) and the raw bytes.

Skipped only when the tshark binary is absent (CI installs it with apt-get).
"""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from wireshark_pcaps import (
    SERVER_IP,
    T0,
    Conversation,
    all_types,
    build,
    comparable,
    group,
    open_conf,
    open_req,
    reference_decode,
    write_capture,
)

from ctidissect.catalogue import MESSAGES, MESSAGES_BY_NAME
from ctidissect.cli import main
from ctidissect.wire import Message, encode_message
from ctidissect.wireshark import lua_path, read_capture_tshark
from ctidissect.wireshark.engine import TsharkError, tshark_parameters

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark binary not installed (apt-get install -y tshark)")

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CAPTURES = sorted(p for p in (REPO / "captures").glob("*") if p.suffix in (".pcap", ".pcapng", ".cap"))


def tshark(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([TSHARK, "-n", *args], capture_output=True, text=True, check=False, timeout=120, env=env)


def frame(mtype: int, body: bytes) -> bytes:
    return struct.pack(">II", len(body), mtype) + body


def tlv(tag: int, data: bytes, wide: bool = True, length: int | None = None) -> bytes:
    n = len(data) if length is None else length
    return (struct.pack(">HH", tag, n) if wide else bytes((tag, n))) + data


# --------------------------------------------------------------------------- captures


def _mixed(path: Path) -> Path:
    """Every catalogue message type in a v24 session (port 42027) and a v19 session (port
    43027), each opened by OPEN_REQ; random segmentation, interleaved connections."""
    rng = random.Random(188)
    convs = []
    for i, version in enumerate((24, 19)):
        conv = Conversation((f"10.0.0.{2 + i}", 40000 + i), (SERVER_IP, 42027 if version == 24 else 43027))
        conv.handshake()
        c2s, s2c = all_types(version, seed=version)
        while c2s or s2c:
            k = rng.randint(1, 6)
            if c2s:
                conv.send("c2s", b"".join(c2s[:k]), rng, swap=rng.random() < 0.15)
                del c2s[:k]
            k = rng.randint(1, 6)
            if s2c:
                conv.send("s2c", b"".join(s2c[:k]), rng, max_cut=200)
                del s2c[:k]
        convs.append(conv)
    return write_capture(path, convs, interleave=True)


EMERGENCY_FLOW = [
    # (direction, message, fixed fields, floating items) - one message per segment
    ("c2s", "HEARTBEAT_REQ", {"InvokeID": 2}, []),
    ("s2c", "HEARTBEAT_CONF", {"InvokeID": 2}, []),
    (
        "c2s",
        "EMERGENCY_CALL_REQ",
        {"InvokeID": 3, "PeripheralID": 5000, "ConnectionCallID": 16777300, "ConnectionDeviceIDType": 0},
        [("CONNECTION_DEVID", "40001"), ("AGENT_ID", "1001")],
    ),
    (
        "s2c",
        "EMERGENCY_CALL_CONF",
        {"InvokeID": 3, "ConnectionCallID": 16777300, "LineType": 2},
        [("CONNECTION_DEVID", "40001")],
    ),
    (
        "s2c",
        "EMERGENCY_CALL_EVENT",
        {"PeripheralID": 5000, "ConnectionCallID": 16777300, "SessionID": 77},
        [("CONNECTION_DEVID", "40001"), ("CLIENT_ID", "agent-desktop"), ("AGENT_ID", "1001")],
    ),
    (
        "s2c",
        "BEGIN_CALL_EVENT",
        {"PeripheralID": 5000, "ConnectionCallID": 16777300, "CallType": 27},
        [
            ("CONNECTION_DEVID", "40001"),
            ("ANI", "5551234"),
            ("CALL_VAR_1", "Zoë"),
            ("NAMED_VARIABLE", ("user.lang", "fr")),
            ("NAMED_ARRAY", (2, "user.skills", "sales")),
        ],
    ),
    ("c2s", "QUERY_AGENT_STATE_REQ", {"InvokeID": 4, "PeripheralID": 5000}, [("AGENT_ID", "1001")]),
    (
        "s2c",
        "CONTROL_FAILURE_CONF",
        {"InvokeID": 4, "FailureCode": 12, "PeripheralErrorCode": 0},
        [("TEXT", "no agent")],
    ),
    ("c2s", "HEARTBEAT_REQ", {"InvokeID": 5}, []),
    ("s2c", "FAILURE_CONF", {"InvokeID": 5, "Status": 3}, [("TEXT", "bad")]),
    ("s2c", "AGENT_STATE_EVENT", {"PeripheralID": 5000, "AgentState": 3}, [("AGENT_ID", "1001")]),
]


def _emergency(path: Path) -> Path:
    """A recorder-style session per version with EMERGENCY_CALL_REQ/CONF/EVENT, one message
    per TCP segment (so that -T fields gives one value per frame)."""
    convs = []
    for i, version in enumerate((24, 19)):
        conv = Conversation((f"10.0.1.{2 + i}", 41000 + i), (SERVER_IP, 42027))
        conv.handshake()
        conv.send("c2s", open_req(version))
        conv.send("s2c", open_conf(version))
        for direction, name, fields, floating in EMERGENCY_FLOW:
            conv.send(direction, encode_message(name, fields, floating, version))
        convs.append(conv)
    return write_capture(path, convs)


def _anomalies(path: Path) -> Path:
    """Malformed messages raising every decoder anomaly, in a v24 and a v19 session."""
    hb = struct.pack(">I", 77)  # HEARTBEAT_REQ InvokeID
    layout_unknown = next(m.type for m in MESSAGES if m.fixed is None)
    v24 = [
        frame(0xFFF0, b"abc"),  # type.unknown
        frame(5, hb + tlv(1, b"ab", length=200)),  # float.overrun
        frame(5, hb + tlv(54, b"zz")),  # float.unknown_tag
        frame(5, hb + tlv(1, b"abc")),  # float.no_nul
        frame(5, hb + tlv(1, b"a" * 69 + b"\0")),  # float.too_long (CLIENT_ID max 64)
        frame(5, hb + tlv(39, b"\1\2\3")),  # float.bad_length (PARTY_CALLID is a UINT)
        frame(5, hb + tlv(82, b"noNul")),  # float.bad_value (NAMEDVAR)
        frame(5, hb + tlv(83, b"")),  # float.bad_value (empty NAMEDARRAY)
        frame(5, hb + tlv(82, b"a\0b\0c")),  # float.bad_value (data after the value's NUL)
        frame(5, hb + tlv(309, b"\0\1\2")),  # float.bad_value (odd USHORT_LIST)
        frame(5, hb + tlv(82, b"a\0")),  # NAMEDVAR with an empty value: fine
        frame(5, hb + tlv(1, b"")),  # empty string: float.no_nul
        frame(5, hb + tlv(7, b"\xff\xfeA\0")),  # TEXT not UTF-8
        frame(5, hb + tlv(1, b"ab\0c")),  # bytes after the NUL are ignored
        frame(5, hb + b"\0\1\0"),  # float.truncated_header
        frame(4, b"\0" * 6),  # fixed.short (OPEN_CONF)
        frame(4, b"\0\1"),  # fixed.short, no whole InvokeID
        frame(1, struct.pack(">IHI", 9, 12, 99)),  # fixed.alternate_layout (10-byte FAILURE_CONF)
        frame(layout_unknown, b"\1\2\3"),  # layout.unknown
        frame(5, hb + tlv(1, b"ok\0") + tlv(82, b"x\0y\0") + tlv(54, b"") + tlv(2, b"\1")),  # mixed, valid
    ]
    v19 = [
        frame(
            5, hb + b"".join(tlv(7, b"t" * 199 + b"\0", wide=False) for _ in range(26))
        ),  # frame.too_long (5204 > 4321)
        frame(5, hb + tlv(1, b"ab", wide=False, length=9)),  # float.overrun, 1+1 format
        frame(5, hb + b"\7"),  # float.truncated_header, 1+1 format
    ]
    rng = random.Random(7)
    convs = []
    for i, (version, frames) in enumerate(((24, v24), (19, v19))):
        conv = Conversation((f"10.0.2.{2 + i}", 42000 + i), (SERVER_IP, 42027))
        conv.handshake()
        conv.send("c2s", open_req(version) + b"".join(frames), rng, max_cut=700)
        conv.send("s2c", open_conf(version) + b"".join(frames[:3]), rng)
        convs.append(conv)
    # A MessageLength nobody should believe, as the last bytes of a direction: the rest of
    # the segment is one message flagged frame.truncated + frame.too_long by both decoders.
    convs[0].send("s2c", struct.pack(">II", 0x7FFFFFF0, 5) + b"junk")
    return write_capture(path, convs)


def _heuristic(path: Path) -> Path:
    """A v24 conversation on ports no preference names, without OPEN_REQ (found by the
    heuristic, decoded with the default version)."""
    rng = random.Random(3)
    conv = Conversation(("10.0.3.2", 51000), ("10.0.3.1", 39000))
    conv.handshake()
    c2s = [build("HEARTBEAT_REQ", 24, rng), build("EMERGENCY_CALL_REQ", 24, rng), build("HEARTBEAT_REQ", 24, rng)]
    s2c = [
        build("HEARTBEAT_CONF", 24, rng),
        build("EMERGENCY_CALL_EVENT", 24, rng),
        build("AGENT_STATE_EVENT", 24, rng),
    ]
    # the heuristic judges a segment by a whole header at its start: no tiny first segment
    conv.send("c2s", b"".join(c2s), rng, min_cut=8)
    conv.send("s2c", b"".join(s2c), rng, max_cut=300, min_cut=8)
    return write_capture(path, [conv])


def _v19_midstream(path: Path) -> Path:
    """A v19 conversation captured without its OPEN_REQ."""
    rng = random.Random(19)
    conv = Conversation(("10.0.4.2", 52000), (SERVER_IP, 42027))
    conv.handshake()
    conv.send(
        "c2s",
        b"".join(build(n, 19, rng) for n in ("HEARTBEAT_REQ", "EMERGENCY_CALL_REQ", "QUERY_AGENT_STATE_REQ")),
        rng,
    )
    conv.send(
        "s2c",
        b"".join(build(n, 19, rng) for n in ("EMERGENCY_CALL_EVENT", "BEGIN_CALL_EVENT", "AGENT_STATE_EVENT")),
        rng,
    )
    return write_capture(path, [conv])


BUILDERS = {
    "mixed": _mixed,
    "emergency": _emergency,
    "anomalies": _anomalies,
    "heuristic": _heuristic,
    "v19_midstream": _v19_midstream,
}


@pytest.fixture(scope="module", autouse=True)
def hermetic_home(tmp_path_factory):
    """tshark reads personal plugins and preferences under $HOME: use an empty one, so that
    an installed (maybe stale) ctidissect.lua or personal cti.* preferences cannot interfere."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(tmp_path_factory.mktemp("home")))
        yield


@pytest.fixture(scope="module")
def captures(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("wireshark-captures")
    return {name: make(folder / f"{name}.pcap") for name, make in BUILDERS.items()}


_ENGINE_CACHE: dict[tuple, dict] = {}


def engine(path: Path, **kwargs) -> dict:
    key = (str(path), tuple(sorted(kwargs.items())))
    if key not in _ENGINE_CACHE:
        _ENGINE_CACHE[key] = group(read_capture_tshark(path, **kwargs))
    return _ENGINE_CACHE[key]


def assert_same(reference: dict, decoded: dict) -> int:
    """Both decodes hold the same messages per (connection, direction); returns the count."""
    assert set(decoded) == set(reference), (sorted(decoded), sorted(reference))
    total = 0
    for key, expected in reference.items():
        got = decoded[key]
        assert len(got) == len(expected), (key, [m.name for m in got], [m.name for m in expected])
        for i, (a, b) in enumerate(zip(got, expected)):
            assert comparable(a) == comparable(b), (key, i, b.name)
        total += len(expected)
    return total


# --------------------------------------------------------------------------- differential


@pytest.mark.parametrize("name", ["mixed", "emergency", "anomalies", "heuristic"])
def test_tshark_and_native_decoder_agree(captures, name):
    path = captures[name]
    n = assert_same(reference_decode(path), engine(path, detect=True))
    assert n >= {"mixed": 488, "emergency": 26, "anomalies": 30, "heuristic": 6}[name]


def test_differential_covers_every_type_both_versions_and_floating(captures):
    decoded = engine(captures["mixed"])
    seen = {(m.type, m.version) for msgs in decoded.values() for m in msgs}
    for m in MESSAGES:
        assert (m.type, 24) in seen and (m.type, 19) in seen, m.name
    items = [i for msgs in decoded.values() for m in msgs for i in m.floating]
    kinds = {type(i.value).__name__ for i in items}
    assert {"str", "int", "bytes", "NamedVar", "NamedArray"} <= kinds
    assert any(i.name == "CLIENT_ID" for i in items) and any(i.name == "CONNECTION_DEVID" for i in items)


def test_every_decoder_anomaly_reaches_expert_info(captures):
    decoded = engine(captures["anomalies"])
    codes = {a.code for msgs in decoded.values() for m in msgs for a in m.anomalies}
    assert codes == {
        "type.unknown",
        "layout.unknown",
        "fixed.short",
        "fixed.alternate_layout",
        "frame.truncated",
        "frame.too_long",
        "float.overrun",
        "float.unknown_tag",
        "float.no_nul",
        "float.too_long",
        "float.bad_length",
        "float.bad_value",
        "float.truncated_header",
    }


@pytest.mark.parametrize("path", SAMPLE_CAPTURES or [None], ids=[p.name for p in SAMPLE_CAPTURES] or ["none"])
def test_sample_captures_agree(path):
    if path is None:
        pytest.skip("captures/ holds no capture yet")
    assert_same(reference_decode(path), engine(path))


@pytest.mark.parametrize("path", SAMPLE_CAPTURES or [None], ids=[p.name for p in SAMPLE_CAPTURES] or ["none"])
def test_sample_captures_agree_with_the_native_capture_reader(path):
    """Frame, time, connection and direction too: what ``decode --engine`` switches between."""
    if path is None:
        pytest.skip("captures/ holds no capture yet")
    capture = pytest.importorskip("ctidissect.capture")

    def key(m):
        return (m.frame, round(m.ts, 6), m.conn, m.direction, comparable(m))

    def whole(records):  # the native reader resynchronises where tshark flags frame.truncated
        return [key(m) for m in records if m.type is not None and "frame.truncated" not in m.anomaly_codes]

    native = whole(r for r in capture.read_capture(path) if isinstance(r, Message))
    tshark_side = whole(m for msgs in engine(path).values() for m in msgs)
    assert sorted(tshark_side, key=lambda k: k[:4]) == sorted(native, key=lambda k: k[:4])


def test_protocol_version_option_for_captures_without_open_req(captures):
    path = captures["v19_midstream"]
    decoded = engine(path, version=19)
    assert_same(reference_decode(path, version=19), decoded)
    assert {m.version for msgs in decoded.values() for m in msgs} == {19}
    assert {m.extra["version_source"] for msgs in decoded.values() for m in msgs} == {"assumed"}
    # without the option the default (24) is used, as natively
    assert_same(reference_decode(path), engine(path))


def test_force_version_ignores_open_req(captures):
    decoded = engine(captures["emergency"], version=19, force_version=True)
    assert {m.version for msgs in decoded.values() for m in msgs} == {19}
    assert {m.extra["version_source"] for msgs in decoded.values() for m in msgs} == {"forced"}


def test_version_comes_from_open_req_for_both_directions(captures):
    decoded = engine(captures["emergency"])
    for (conn, direction), msgs in decoded.items():
        versions = {m.version for m in msgs}
        assert versions in ({24}, {19}), (conn, direction, versions)
        assert {m.extra["version_source"] for m in msgs} == {"open_req"}


# --------------------------------------------------------------------------- tshark itself


def test_message_names_instead_of_smpp(captures):
    path = captures["emergency"]
    script = f"lua_script:{lua_path()}"
    with_lua = tshark("-r", str(path), "-X", script)
    assert with_lua.returncode == 0, with_lua.stderr
    assert "SMPP" not in with_lua.stdout
    for name in (
        "OPEN_REQ",
        "EMERGENCY_CALL_REQ",
        "EMERGENCY_CALL_CONF",
        "EMERGENCY_CALL_EVENT",
        "CONTROL_FAILURE_CONF",
    ):
        assert " CTI " in with_lua.stdout and name in with_lua.stdout
    stock = tshark("-r", str(path))
    assert "EMERGENCY_CALL_REQ" not in stock.stdout  # the pitfall this plugin fixes (stock shows SMPP or TCP)


@pytest.mark.parametrize("name", ["mixed", "anomalies", "emergency", "heuristic"])
def test_no_lua_errors_in_full_dissection(captures, name):
    proc = tshark("-r", str(captures[name]), "-2", "-V", *tshark_parameters())
    assert proc.returncode == 0
    output = proc.stdout + proc.stderr
    assert "Lua Error" not in output and "Lua: " not in output
    assert "Cisco CTI Server Protocol (GED-188)" in proc.stdout


def test_fields_are_registered_with_tshark():
    proc = subprocess.run(
        [TSHARK, "-G", "fields", "-X", f"lua_script:{lua_path()}"], capture_output=True, text=True, timeout=120
    )
    names = {line.split("\t")[2] for line in proc.stdout.splitlines() if line.startswith("F\t")}
    for name in ("cti.type", "cti.name", "cti.invoke_id", "cti.float.client_id", "cti.float.connection_devid",
                 "cti.field.connection_call_id", "cti.field.peripheral_id", "cti.response_in", "cti.response_to",
                 "cti.time", "cti.expert.float.overrun"):  # fmt: skip
        assert name in names, name


def test_invoke_id_keeps_fields_columns_aligned(captures):
    path = captures["mixed"]
    proc = tshark(
        "-r",
        str(path),
        *tshark_parameters(),
        "-Y",
        "cti",
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-e",
        "frame.number",
        "-e",
        "cti.type",
        "-e",
        "cti.invoke_id",
    )
    assert proc.returncode == 0, proc.stderr
    rows = {}
    for line in proc.stdout.splitlines():
        number, types, invokes = line.split("\t")
        types, invokes = types.split(","), invokes.split(",")
        assert len(types) == len(invokes), line
        rows[int(number)] = list(zip(map(int, types), map(int, invokes)))
    expected: dict[int, list] = {}
    for msgs in engine(path).values():
        for m in msgs:
            expected.setdefault(m.frame, []).append((m.type, m.invoke_id or 0))
    assert {k: sorted(v) for k, v in rows.items()} == {k: sorted(v) for k, v in expected.items()}
    assert any(len(v) > 1 for v in rows.values())  # several messages in one frame


def test_request_response_tracking(captures):
    proc = tshark(
        "-r",
        str(captures["emergency"]),
        "-2",
        *tshark_parameters(),
        "-Y",
        "cti",
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-e",
        "frame.number",
        "-e",
        "cti.name",
        "-e",
        "cti.invoke_id",
        "-e",
        "cti.response_in",
        "-e",
        "cti.response_to",
        "-e",
        "cti.time",
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    by_frame = {int(r[0]): r for r in rows}
    pairs = 0
    for number, name, invoke, response_in, _response_to, _delay in rows:
        if response_in:
            answer = by_frame[int(response_in)]
            assert answer[2] == invoke and answer[4] == number
            expected = {
                "EMERGENCY_CALL_REQ": "EMERGENCY_CALL_CONF",
                "OPEN_REQ": "OPEN_CONF",
                "QUERY_AGENT_STATE_REQ": "CONTROL_FAILURE_CONF",
            }.get(name)
            if invoke == "5":
                expected = "FAILURE_CONF"
            elif invoke == "2":
                expected = "HEARTBEAT_CONF"
            assert answer[1] == expected, (name, answer)
            assert float(answer[5]) > 0
            pairs += 1
        if MESSAGES_BY_NAME[name].kind == "request":
            assert response_in, f"{name} in frame {number} has no response"
    assert pairs == 2 * 5  # per session: OPEN, HEARTBEAT x2, EMERGENCY_CALL, QUERY_AGENT_STATE (control failure)


def test_ports_preference_without_heuristic(captures):
    path = captures["heuristic"]
    base = ["-r", str(path), "-X", f"lua_script:{lua_path()}", "-T", "fields", "-e", "cti.name"]
    off = tshark(*base, "--disable-heuristic", "cti_tcp", "-Y", "cti")
    assert off.returncode == 0, off.stderr
    assert off.stdout.strip() == ""
    on = tshark(*base, "--disable-heuristic", "cti_tcp", "-o", "cti.ports:39000", "-Y", "cti")
    assert "EMERGENCY_CALL_REQ" in on.stdout and "EMERGENCY_CALL_EVENT" in on.stdout


def test_engine_ports_and_detect(captures):
    path = captures["heuristic"]
    conn = "10.0.3.2:51000-10.0.3.1:39000"
    assert engine(path) == {}  # like the native reader: only the CTI ports unless detect
    assert set(engine(path, ports=(39000,))) == {(conn, "c2s"), (conn, "s2c")}
    assert set(engine(path, detect=True)) == {(conn, "c2s"), (conn, "s2c")}  # direction from the message kinds


def test_engine_fills_capture_stats(captures):
    from ctidissect.capture import CaptureStats

    stats = CaptureStats()
    messages = list(read_capture_tshark(captures["anomalies"], stats=stats))
    records = [m for m in messages if m.type is not None]
    assert stats.messages == len(records) and stats.cti_connections == 2
    assert stats.bytes_decoded == sum(len(m.raw) for m in records)
    assert stats.anomalies["float.overrun"] == sum(m.anomaly_codes.count("float.overrun") for m in messages) > 0
    assert stats.first_ts == pytest.approx(T0)  # the capture's first packet, as natively
    assert stats.first_ts <= stats.last_ts and stats.packets >= stats.cti_packets > 0


def test_engine_reports_lua_runtime_errors(tmp_path, captures):
    broken = tmp_path / "broken.lua"
    text = lua_path().read_text()
    marker = "  local avail = tvb:len()\n  if avail < HEADER_SIZE then"
    assert marker in text
    broken.write_text(
        text.replace(
            marker,
            '  local avail = tvb:len()\n  if avail == 12 then error("boom") end\n  if avail < HEADER_SIZE then',
            1,
        )
    )
    with pytest.raises(TsharkError, match="boom"):
        list(read_capture_tshark(captures["emergency"], lua_script=broken))


def test_installed_plugin_is_used_and_tolerates_a_second_copy(tmp_path, captures, monkeypatch, capsys):
    # Wireshark's personal plugin folder lives under $HOME: install into a scratch home.
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["wireshark", "install"]) == 0
    capsys.readouterr()
    path = str(captures["emergency"])
    installed = tshark("-r", path)
    assert "EMERGENCY_CALL_EVENT" in installed.stdout, installed.stderr
    # installed AND passed with -X: the identical second copy steps aside silently
    both = tshark("-r", path, "-X", f"lua_script:{lua_path()}")
    assert both.returncode == 0 and "Lua" not in both.stderr and "EMERGENCY_CALL_EVENT" in both.stdout
    # a copy generated from another catalogue is refused loudly, and the engine raises
    other = tmp_path / "other.lua"
    other.write_text(lua_path().read_text().replace('local FINGERPRINT = "', 'local FINGERPRINT = "old-', 1))
    with pytest.raises(TsharkError, match="another copy"):
        list(read_capture_tshark(captures["emergency"], lua_script=other))


def test_engine_reports_lua_load_errors(tmp_path, captures):
    broken = tmp_path / "broken.lua"
    broken.write_text("this is not lua")
    with pytest.raises(TsharkError, match="Lua"):
        list(read_capture_tshark(captures["heuristic"], lua_script=broken))


def test_engine_rejects_missing_and_invalid_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(read_capture_tshark(tmp_path / "missing.pcap"))
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all")
    with pytest.raises(TsharkError):
        list(read_capture_tshark(junk))


def test_layout_unknown_request_and_confirmation_carry_invoke_id(tmp_path):
    """7.1: a layout-less request/confirmation gets cti.invoke_id from its first UINT and is
    tracked like any request; the configuration exchange (TEAM_CONFIG_REQ/CONF) has none."""
    conv = Conversation(("10.0.1.9", 41009), (SERVER_IP, 42027))
    conv.handshake()
    conv.send("c2s", open_req(24))
    conv.send("s2c", open_conf(24))
    for direction, name, body in (
        ("c2s", "MEDIA_LOGIN_REQ", bytes.fromhex("00000007aabb")),
        ("s2c", "MEDIA_LOGIN_RESP", bytes.fromhex("00000007")),
        ("c2s", "TEAM_CONFIG_REQ", bytes.fromhex("00000009")),
        ("s2c", "TEAM_CONFIG_CONF", bytes.fromhex("00000009")),
    ):
        conv.send(direction, encode_message(name, body=body))
    path = write_capture(tmp_path / "leading_invoke.pcap", [conv])
    assert assert_same(reference_decode(path), engine(path)) == 6
    proc = tshark(
        "-r", str(path), "-2", *tshark_parameters(), "-Y", "cti", "-T", "fields", "-E", "separator=/t",
        "-e", "frame.number", "-e", "cti.name", "-e", "cti.invoke_id", "-e", "cti.response_in", "-e", "cti.response_to",
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r[1]: r for r in (line.split("\t") for line in proc.stdout.splitlines())}
    req, resp = rows["MEDIA_LOGIN_REQ"], rows["MEDIA_LOGIN_RESP"]
    assert req[2] == resp[2] == "7"
    assert req[3] == resp[0] and resp[4] == req[0]
    assert rows["TEAM_CONFIG_REQ"][2] == rows["TEAM_CONFIG_CONF"][2] == "0"
    assert rows["TEAM_CONFIG_REQ"][3] == "" and rows["TEAM_CONFIG_CONF"][4] == ""
