"""Live capture on the loopback: a test client talks to a small CTI server on 127.0.0.1 and
the live decoder (API and command line) must see exactly what was sent."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from pcapgen import heartbeat_conf, heartbeat_req, open_conf, open_req

from ctidissect.capture import read_capture
from ctidissect.capture.live import LiveCapture
from ctidissect.wire import NEED_DATA, next_frame

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="live capture needs root (CI runs as root)"
)

REQUESTS = 20


class CtiServer:
    """Accepts one client on 127.0.0.1 and answers OPEN_REQ and HEARTBEAT_REQ."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(20)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        conn.settimeout(20)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        with conn:
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
                while True:
                    size = next_frame(buf, 0, 24)
                    if size == NEED_DATA or size < 0:
                        break
                    frame, buf = buf[:size], buf[size:]
                    mtype = int.from_bytes(frame[4:8], "big")
                    invoke = int.from_bytes(frame[8:12], "big")
                    conn.sendall(open_conf(invoke) if mtype == 3 else heartbeat_conf(invoke))

    def close(self) -> None:
        self.sock.close()


def run_client(port: int) -> None:
    expected = len(open_conf(1)) + REQUESTS * len(heartbeat_conf(0))
    received = 0
    with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sendall(open_req(1))
        for i in range(2, 2 + REQUESTS):
            msg = heartbeat_req(i)
            if i % 2:
                c.sendall(msg)  # whole
            else:
                c.sendall(msg[:5])  # split inside the header
                time.sleep(0.002)
                c.sendall(msg[5:])
            time.sleep(0.002)
        while received < expected:  # read every reply, so that the close is a clean FIN
            chunk = c.recv(4096)
            if not chunk:
                break
            received += len(chunk)


def test_live_capture_api_on_loopback(tmp_path):
    server = CtiServer()
    out = tmp_path / "live.pcap"
    capture = LiveCapture("lo", ports=[server.port], timeout=20, count=2 * (REQUESTS + 1), write=out)
    capture.start()
    server.thread.start()
    client = threading.Thread(target=run_client, args=(server.port,), daemon=True)
    client.start()
    started = time.monotonic()
    records = list(capture)
    client.join(20)
    server.close()
    assert time.monotonic() - started < 20
    msgs = [r for r in records if getattr(r, "type", None) is not None]
    c2s = [(m.name, m.invoke_id) for m in msgs if m.direction == "c2s"]
    s2c = [(m.name, m.invoke_id) for m in msgs if m.direction == "s2c"]
    assert c2s == [("OPEN_REQ", 1)] + [("HEARTBEAT_REQ", i) for i in range(2, 2 + REQUESTS)]
    assert s2c == [("OPEN_CONF", 1)] + [("HEARTBEAT_CONF", i) for i in range(2, 2 + REQUESTS)]
    assert {m.conn.split("-")[1] for m in msgs} == {f"127.0.0.1:{server.port}"}
    assert [m.frame for m in msgs] == sorted(m.frame for m in msgs)
    assert not [r for r in records if getattr(r, "type", 0) is None and r.anomalies[0].code == "tcp.gap"]
    assert capture.duplicates > 0  # native loopback sockets deliver every frame twice
    # The frames written while capturing decode to the same messages.
    again = [r for r in read_capture(out, ports=[server.port]) if r.type is not None]
    assert [(m.name, m.invoke_id, m.direction) for m in again] == [(m.name, m.invoke_id, m.direction) for m in msgs]


def test_live_command_on_loopback():
    server = CtiServer()
    server.thread.start()
    cmd = [
        sys.executable, "-m", "ctidissect.cli", "live", "--iface", "lo", "--port", str(server.port),
        "--json", "--count", str(2 * (REQUESTS + 1)), "--duration", "20",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Wait for the capture to be running before the client connects.
    line = proc.stderr.readline()
    assert line.startswith("ctidissect: capturing on lo")
    time.sleep(1.0)
    run_client(server.port)
    out, err = proc.communicate(timeout=30)
    server.close()
    assert proc.returncode == 0, err
    objs = [json.loads(x) for x in out.splitlines()]
    reqs = [o["fields"]["InvokeID"] for o in objs if o["name"] == "HEARTBEAT_REQ"]
    assert reqs == list(range(2, 2 + REQUESTS))
    assert err.strip().splitlines()[-1].startswith("ctidissect: ")
    assert "duplicate frame(s) dropped" in err
