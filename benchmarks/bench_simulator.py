"""Load benchmark of the CTI Server simulator over loopback.

Starts ``ctidissect simulate server`` in a subprocess (its own core), opens N agent sessions
(CLIENT_EVENTS + CLIENT_CONTROL, protocol v24), logs every agent in, then has every session
keep a window of requests in flight (HEARTBEAT_REQ and QUERY_AGENT_STATE_REQ alternately)
until each has sent M.  Checks that every request got its reply (by InvokeID: sent =
received) and prints sessions, messages and messages per second.

    python benchmarks/bench_simulator.py                 # 200 sessions x 100 requests
    python benchmarks/bench_simulator.py --sessions 400 --requests 200 --window 16
    python benchmarks/bench_simulator.py --server 127.0.0.1:42027   # an already running server

Exit status 1 when a message was lost or the rate is below --min-rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time

from ctidissect.simulator.versioned import FrameReader, encode_for

VERSION = 24


class Session:
    """One benchmark session; counts what it sends and receives."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.agent = str(3000 + index)
        self.sent = 0
        self.replies = 0
        self.events = 0
        self.outstanding: set[int] = set()
        self.invoke = 0

    def request(self, name: str, fields: dict, floats: list) -> bytes:
        self.invoke += 1
        self.outstanding.add(self.invoke)
        self.sent += 1
        return encode_for(name, {"InvokeID": self.invoke, **fields}, floats, VERSION)


async def run_session(s: Session, address: tuple[str, int], requests: int, window: int, ready: asyncio.Barrier,
                      timings: dict) -> None:
    reader, writer = await asyncio.open_connection(*address)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    frames = FrameReader(VERSION)
    agent_floats = [("AGENT_EXTENSION", s.agent), ("AGENT_ID", s.agent), ("AGENT_INSTRUMENT", s.agent)]

    async def replies_until(count: int) -> None:
        while s.replies < count:
            data = await asyncio.wait_for(reader.read(65536), 30)
            if not data:
                raise ConnectionError(f"session {s.index}: server closed the connection")
            for msg in frames.feed(data):
                invoke = msg.fields.get("InvokeID")
                if invoke is not None and msg.name.endswith("_CONF"):
                    s.outstanding.discard(invoke)
                    s.replies += 1
                else:
                    s.events += 1

    writer.write(s.request("OPEN_REQ", {"VersionNumber": VERSION, "IdleTimeout": 0xFFFFFFFF, "PeripheralID": 5000,
                                        "ServicesRequested": 0x7, "CallMsgMask": 0xFFFFFFFF,
                                        "AgentStateMask": 0x3FFF, "ConfigMsgMask": 0},
                           [("CLIENT_ID", f"bench-{s.index}"), ("CLIENT_PASSWORD", b""), *agent_floats]))
    writer.write(s.request("SET_AGENT_STATE_REQ", {"PeripheralID": 5000, "AgentState": 0},
                           [("AGENT_ID", s.agent), ("AGENT_INSTRUMENT", s.agent)]))
    await replies_until(2)
    await ready.wait()
    timings.setdefault("start", time.perf_counter())
    base = s.replies
    sent = 0
    while sent < requests:
        while sent < requests and len(s.outstanding) < window:
            if sent % 2:
                writer.write(s.request("QUERY_AGENT_STATE_REQ", {"PeripheralID": 5000, "ICMAgentID": 0},
                                       [("AGENT_ID", s.agent)]))
            else:
                writer.write(s.request("HEARTBEAT_REQ", {}, []))
            sent += 1
        await replies_until(s.replies + 1)
    await replies_until(base + requests)
    timings["end"] = time.perf_counter()
    writer.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def bench(address: tuple[str, int], sessions: int, requests: int, window: int) -> dict:
    all_sessions = [Session(i) for i in range(sessions)]
    ready = asyncio.Barrier(sessions)
    timings: dict = {}
    await asyncio.gather(*(run_session(s, address, requests, window, ready, timings) for s in all_sessions))
    elapsed = timings["end"] - timings["start"]
    sent = sum(s.sent for s in all_sessions)
    replies = sum(s.replies for s in all_sessions)
    events = sum(s.events for s in all_sessions)
    measured = sessions * requests
    return {
        "sessions": sessions,
        "requests_per_session": requests,
        "window": window,
        "requests_sent": sent,
        "replies_received": replies,
        "events_received": events,
        "lost": sent - replies,
        "outstanding": sum(len(s.outstanding) for s in all_sessions),
        "elapsed_s": round(elapsed, 3),
        "requests_per_s": round(measured / elapsed),
        "messages_per_s": round(2 * measured / elapsed),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--requests", type=int, default=100, help="measured requests per session")
    parser.add_argument("--window", type=int, default=8, help="requests in flight per session")
    parser.add_argument("--server", metavar="HOST:PORT", help="use a running server instead of starting one")
    parser.add_argument("--min-rate", type=float, default=5000.0, help="messages/s below which the run fails")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    proc = None
    if args.server:
        host, _, port = args.server.rpartition(":")
        address = (host, int(port))
    else:
        port = free_port()
        address = ("127.0.0.1", port)
        proc = subprocess.Popen(
            [sys.executable, "-m", "ctidissect.cli", "simulate", "server", "--listen", f"127.0.0.1:{port}", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ},
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(address, timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    proc.kill()
                    raise SystemExit("server did not start") from None
                time.sleep(0.1)
    try:
        result = asyncio.run(bench(address, args.sessions, args.requests, args.window))
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=30)
            server = json.loads(out) if out.strip().startswith("{") else {}
            result_server = {"server_received": sum(server.get("received", {}).values()),
                             "server_sent": sum(server.get("sent", {}).values())}
    if proc is not None:
        result.update(result_server)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['sessions']} concurrent sessions, {result['requests_sent']} requests sent, "
              f"{result['replies_received']} replies received, {result['events_received']} events, "
              f"lost {result['lost']}")
        print(f"measured phase: {result['elapsed_s']} s, {result['requests_per_s']} requests/s, "
              f"{result['messages_per_s']} messages/s (requests + replies)")
        if proc is not None:
            print(f"server counted {result['server_received']} received, {result['server_sent']} sent")
    ok = result["lost"] == 0 and result["outstanding"] == 0 and result["messages_per_s"] >= args.min_rate
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
