"""``ctidissect decode`` and ``ctidissect live`` command lines."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pcapgen import Conversation, agent_state_event, heartbeat_conf, heartbeat_req, open_conf, open_req, write_capture

from ctidissect.cli import main
from ctidissect.wire import decode_buffer

CONN = "10.0.0.2:50000-10.0.0.1:42027"


@pytest.fixture
def capture(tmp_path):
    cv = Conversation()
    p = cv.handshake()
    p.append(cv.seg("c2s", open_req(1)))  # 4
    p.append(cv.seg("s2c", open_conf(1) + agent_state_event()))  # 5
    p.append(cv.seg("c2s", heartbeat_req(2)))  # 6
    cv.skip("s2c", 12)
    p.append(cv.seg("s2c", heartbeat_conf(3)))  # 7: after a hole
    p.append(cv.ack("c2s"))  # 8: acks past it
    path = tmp_path / "cli.pcap"
    write_capture(path, p)
    return path


def test_decode_json_keys_and_values(capture, capsys):
    assert main(["decode", "--json", str(capture)]) == 0
    out, err = capsys.readouterr()
    objs = [json.loads(line) for line in out.splitlines()]
    extra = {"frame", "ts", "conn", "direction", "protocol_version"}
    base = set(decode_buffer(heartbeat_req(1), 24)[0].to_json())
    assert base == {"type", "name", "fields", "floating", "anomalies"}
    for obj in objs:
        expected = base | extra
        if obj["anomalies"]:
            expected |= {"anomaly_details", "raw"}
        assert set(obj) == expected
    assert [(o["frame"], o["name"], o["fields"].get("InvokeID"), o["direction"]) for o in objs] == [
        (4, "OPEN_REQ", 1, "c2s"),
        (5, "OPEN_CONF", 1, "s2c"),
        (5, "AGENT_STATE_EVENT", None, "s2c"),
        (6, "HEARTBEAT_REQ", 2, "c2s"),
        (8, None, None, "s2c"),
        (8, "HEARTBEAT_CONF", 3, "s2c"),
    ]
    assert objs[0]["ts"] == 1_700_000_000.003 and objs[0]["conn"] == CONN and objs[0]["protocol_version"] == 24
    assert objs[4]["anomalies"] == ["tcp.gap"] and objs[4]["anomaly_details"][0]["frame"] == 8
    # The JSON object is Message.to_json() plus the capture keys.
    assert objs[2]["floating"][1] == {"tag": 5, "name": "AGENT_ID", "value": "1001"}
    assert err.strip().splitlines()[-1].startswith("ctidissect: 8 packets, 1 CTI connection(s), 5 messages")


def test_decode_text_and_summary(capture, capsys):
    assert main(["decode", str(capture)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 6
    assert lines[0].split()[:6] == ["4", "0.003000", CONN, "c2s", "OPEN_REQ", "inv=1"]
    assert "AGENT_ID=1001" in lines[2]
    assert lines[4].split()[4] == "!tcp.gap"
    assert "12 bytes lost" in err and "tcp.gap 1" in err


def test_decode_filter(capture, capsys):
    assert main(["decode", "--json", "--filter", "heartbeat_req", "--filter", "6", "--filter", "tcp.gap", str(capture)]) == 0
    names = [json.loads(line)["name"] for line in capsys.readouterr()[0].splitlines()]
    assert names == ["HEARTBEAT_REQ", None, "HEARTBEAT_CONF"]


def test_decode_port_and_version_options(tmp_path, capsys):
    cv = Conversation(server=("10.0.0.1", 42099))
    p = [cv.seg("c2s", heartbeat_req(1, version=19)), cv.seg("s2c", heartbeat_conf(1, version=19))]
    path = tmp_path / "p.pcap"
    write_capture(path, p)
    assert main(["decode", "--json", "--port", "42099", "--protocol-version", "19", str(path)]) == 0
    objs = [json.loads(line) for line in capsys.readouterr()[0].splitlines()]
    assert [o["protocol_version"] for o in objs] == [19, 19, 19, 19]
    assert [o["anomalies"] for o in objs][:2] == [["tcp.midstream"], ["version.assumed"]]


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage that is not a capture at all", b"\x89PNG\r\n\x1a\n" + bytes(64)],
)
def test_decode_bad_file_is_one_line_exit_3(tmp_path, capsys, content):
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    assert main(["decode", str(path)]) == 3
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("ctidissect: error: ")


def test_decode_garbage_in_a_real_process(tmp_path):
    path = tmp_path / "bad.pcap"
    path.write_bytes(bytes(range(256)) * 3)
    proc = subprocess.run([sys.executable, "-m", "ctidissect.cli", "decode", str(path)], capture_output=True, text=True)
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("ctidissect: error: ")


def test_decode_missing_file_and_bad_options(tmp_path, capsys):
    assert main(["decode", str(tmp_path / "nope.pcap")]) == 3
    assert "cannot read" in capsys.readouterr()[1]
    assert main(["decode", "--filter", "NOT_A_MESSAGE", str(tmp_path / "x")]) == 2
    assert main(["decode", "--port", "70000", str(tmp_path / "x")]) == 2


def test_decode_truncated_capture(capture, capsys):
    data = capture.read_bytes()
    capture.write_bytes(data[:-5])
    assert main(["decode", "--json", str(capture)]) == 0
    objs = [json.loads(line) for line in capsys.readouterr()[0].splitlines()]
    # The cut frame 8 held the ACK that revealed the gap: the gap is now declared at the
    # capture end, after the truncation note, with the frame of the held segment.
    assert [(o["frame"], o["name"] or o["anomalies"][0]) for o in objs][3:] == [
        (6, "HEARTBEAT_REQ"),
        (8, "capture.truncated"),
        (7, "tcp.gap"),
        (7, "HEARTBEAT_CONF"),
    ]


def test_help_has_examples(capsys):
    for command in ("decode", "live"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        assert "examples:" in capsys.readouterr()[0]


def test_text_line_shows_no_sensitive_field():
    from ctidissect.catalogue import TAGS_BY_NAME
    from ctidissect.cli.decode_cmd import KEY_FLOATING

    assert not any(TAGS_BY_NAME[name].sensitive for name in KEY_FLOATING)
