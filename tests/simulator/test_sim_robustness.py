"""Random bytes thrown at one session over real sockets while other sessions keep working."""

from __future__ import annotations

import asyncio
import random

from simharness import fresh_event_loop_policy  # noqa: F401 - autouse fixture

from ctidissect.simulator import CtiServer, SocketServer
from ctidissect.simulator.versioned import FrameReader, encode_for

OPEN = {"VersionNumber": 24, "IdleTimeout": 0xFFFFFFFF, "PeripheralID": 0xFFFFFFFF, "ServicesRequested": 0x10,
        "CallMsgMask": 0, "AgentStateMask": 0, "ConfigMsgMask": 0}


async def _healthy(address, n: int, client_id: str) -> list[int]:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(encode_for("OPEN_REQ", {"InvokeID": 1, **OPEN}, [("CLIENT_ID", client_id), ("CLIENT_PASSWORD", b"")], 24))
    frames = FrameReader(24)
    echoed: list[int] = []
    for i in range(n):
        writer.write(encode_for("HEARTBEAT_REQ", {"InvokeID": 1000 + i}, [], 24))
        await writer.drain()
        await asyncio.sleep(0.002)
    while len(echoed) < n:
        data = await asyncio.wait_for(reader.read(65536), 10)
        assert data, "connection closed"
        echoed += [m.fields["InvokeID"] for m in frames.feed(data) if m.name == "HEARTBEAT_CONF"]
    writer.close()
    return echoed


async def _fuzz(address, seed: int) -> int:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection(*address)
    writer.write(encode_for("OPEN_REQ", {"InvokeID": 1, **OPEN}, [("CLIENT_ID", "fuzzer"), ("CLIENT_PASSWORD", b"")], 24))
    sent = 0
    try:
        for _ in range(200):
            chunk = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 64)))
            if rng.random() < 0.3:  # a plausible small header now and then
                chunk = rng.randrange(0, 40).to_bytes(4, "big") + rng.choice([5, 7, 36, 38, 121, 9999]).to_bytes(4, "big") + chunk
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()
            await asyncio.sleep(0.001)
    except ConnectionError:
        pass  # the server closed the fuzzing session once its framing was lost: expected
    writer.close()
    return sent


def test_random_bytes_on_one_session_do_not_disturb_the_others():
    async def scenario():
        errors = []
        asyncio.get_running_loop().set_exception_handler(lambda _l, ctx: errors.append(ctx))
        server = CtiServer()
        runner = SocketServer(server, {"A": ("127.0.0.1", 0)})
        await runner.start()
        address = runner.addresses["A"]
        results = await asyncio.gather(
            _healthy(address, 200, "bridge-1"), _healthy(address, 200, "recorder-1"),
            _fuzz(address, 1), _fuzz(address, 2), _fuzz(address, 3),
        )
        await runner.close()
        return server, results, errors

    server, results, errors = asyncio.run(scenario())
    assert not errors
    assert results[0] == list(range(1000, 1200)) and results[1] == list(range(1000, 1200))
    assert sum(results[2:]) > 0
    assert server.received["HEARTBEAT_REQ"] >= 400
