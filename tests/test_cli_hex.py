"""The ``ctidissect hex`` and ``catalogue`` commands, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys

from test_vectors import OPEN_REQ_V20, SUPERVISOR_ASSIST_CONF_V19

from ctidissect.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_hex_json_open_req(capsys):
    code, out, _ = run(capsys, "hex", "--json", "--protocol-version", "20", OPEN_REQ_V20.hex())
    assert code == 0
    obj = json.loads(out)
    assert obj["type"] == 3 and obj["name"] == "OPEN_REQ"
    assert obj["fields"]["InvokeID"] == 0x04030201 and obj["fields"]["ServicesRequested"] == 16
    assert obj["floating"][0] == {"tag": 1, "name": "CLIENT_ID", "value": "ClientID"}
    assert obj["floating"][1] == {"tag": 2, "name": "CLIENT_PASSWORD", "value": ""}
    assert obj["anomalies"] == []


def test_hex_with_colons_and_spaces(capsys):
    hexed = ":".join(f"{b:02x}" for b in SUPERVISOR_ASSIST_CONF_V19)
    code, out, _ = run(capsys, "hex", "--protocol-version", "19", "--json", hexed[:20], hexed[20:])
    obj = json.loads(out)
    assert obj["name"] == "SUPERVISOR_ASSIST_CONF"
    assert obj["fields"]["LineType"] == 8


def test_hex_text_tree_shows_enum_names(capsys):
    code, out, _ = run(capsys, "hex", "--protocol-version", "19", SUPERVISOR_ASSIST_CONF_V19.hex())
    assert code == 0
    assert "SUPERVISOR_ASSIST_CONF (type 119)" in out
    assert "LineType: 8 (DID)" in out
    assert "CONNECTION_DEVID (25): 'ConnectionDeviceID'" in out


def test_hex_unknown_type_exit_0(capsys):
    code, out, _ = run(capsys, "hex", "--json", "00000000 0000ffff")
    assert code == 0
    obj = json.loads(out)
    assert obj["name"] is None and obj["type"] == 0xFFFF and obj["anomalies"] == ["type.unknown"]


def test_hex_bad_digits_one_line_error(capsys):
    code, out, err = run(capsys, "hex", "00zz")
    assert code == 2
    assert err.strip().count("\n") == 0 and "not a hex digit" in err


def test_catalogue_json(capsys):
    code, out, _ = run(capsys, "catalogue", "--json")
    cat = json.loads(out)
    names = {m["name"] for m in cat["messages"]}
    assert {"OPEN_REQ", "EMERGENCY_CALL_EVENT", "SET_AGENT_SERVICE_DATA_CONF"} <= names
    assert cat["versions"]["wide_floating_since"] == 20
    assert any(t["name"] == "CLIENT_PASSWORD" and t["sensitive"] for t in cat["tags"])


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "ctidissect.cli", "hex", "--json", "00000004 00000005 00000007"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["fields"] == {"InvokeID": 7}
