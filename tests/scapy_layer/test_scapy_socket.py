"""Crafted messages go over a real TCP socket to a small loopback server (127.0.0.1, an
OS-chosen high port, bounded time); the bytes the server receives decode with the fast
decoder, and scapy's ``sr1`` over a ``StreamSocket`` matches the server's reply by InvokeID."""

from __future__ import annotations

import socket
import threading

from scapy.supersocket import StreamSocket

from ctidissect.scapy_layer import CTI, MESSAGE_CLASSES, CTIFloat, message
from ctidissect.wire import decode_buffer, encode_message

TIMEOUT = 5.0


class LoopbackServer:
    """Accepts one connection, answers the first OPEN_REQ with OPEN_CONF (same InvokeID),
    and records every byte received until the client closes."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(TIMEOUT)
        self.received = bytearray()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()

    def _run(self) -> None:
        try:
            conn, _ = self.sock.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                replied = False
                while True:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    self.received += chunk
                    if not replied:
                        msgs = decode_buffer(bytes(self.received), 24)
                        if msgs and msgs[0].name == "OPEN_REQ" and not msgs[0].anomalies:
                            conn.sendall(
                                encode_message("OPEN_CONF", {"InvokeID": msgs[0].invoke_id, "PGStatus": 0}, [], 24)
                            )
                            replied = True
        except BaseException as exc:  # reported by the test, never swallowed
            self.errors.append(exc)
        finally:
            self.sock.close()


def test_crafted_messages_over_tcp():
    server = LoopbackServer()
    server.thread.start()
    client = socket.create_connection(server.address, timeout=TIMEOUT)
    ss = StreamSocket(client, CTI)
    try:
        req = CTI() / MESSAGE_CLASSES["OPEN_REQ"](
            InvokeID=77, VersionNumber=24, IdleTimeout=30, floating=[CTIFloat(tag="CLIENT_ID", value="scapy")]
        )
        answer = ss.sr1(req, timeout=TIMEOUT, verbose=0)
        assert answer is not None, "no OPEN_CONF within the timeout"
        assert answer.payload.name == "OPEN_CONF" and answer.payload.InvokeID == 77
        assert answer.answers(req)

        # Several messages in one write, then one message split over two writes.
        batch = [message("HEARTBEAT_REQ", InvokeID=i) for i in range(78, 81)]
        ss.send(b"".join(bytes(p) for p in batch))
        split = bytes(message("QUERY_AGENT_STATE_REQ", InvokeID=81, AGENT_INSTRUMENT="1001"))
        client.sendall(split[:7])
        client.sendall(split[7:])
    finally:
        ss.close()
    server.thread.join(TIMEOUT)
    assert not server.thread.is_alive(), "server did not finish in time"
    assert server.errors == []

    msgs = decode_buffer(bytes(server.received), 24)
    assert [(m.name, m.invoke_id) for m in msgs] == [
        ("OPEN_REQ", 77),
        ("HEARTBEAT_REQ", 78),
        ("HEARTBEAT_REQ", 79),
        ("HEARTBEAT_REQ", 80),
        ("QUERY_AGENT_STATE_REQ", 81),
    ]
    assert all(m.anomalies == [] for m in msgs)
    assert msgs[0].fields["IdleTimeout"] == 30 and msgs[0].get("CLIENT_ID") == "scapy"
    assert msgs[-1].get("AGENT_INSTRUMENT") == "1001"
