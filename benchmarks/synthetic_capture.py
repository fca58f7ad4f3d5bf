"""Synthetic CTI captures for the benchmark: realistic message mix and TCP segmentation,
written straight to pcap with ``struct`` (fast enough for millions of messages).

The mix models a UCCE peripheral gateway feeding agent desktops (ALL_EVENTS and agent
sessions): agent state events, the events of each call (begin, delivered, established,
call data, cleared, end), heartbeats and agent-state requests with their confirmations.
Floating parts carry the fields such messages really carry (device IDs, ANI/DNIS, call
variables, agent IDs), with values drawn per message.  Segmentation: messages written by
a side accumulate and are sent as segments holding one to several messages; a quarter of
the segments end inside a message (the rest of it leads the next segment), and no
segment is larger than an Ethernet MSS.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

from ctidissect.wire import encode_message

MSS = 1448
VERSION = 24


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randrange(10**n)).zfill(n)


def _call_fields(rng: random.Random, call_id: int) -> dict[str, int]:
    return {"MonitorID": 0, "PeripheralID": 5000, "PeripheralType": 16, "ConnectionDeviceIDType": 0, "ConnectionCallID": call_id}


def _agent_state(rng, call_id, invoke):
    agent = str(rng.randint(1000, 1999))
    return encode_message(
        "AGENT_STATE_EVENT",
        {"PeripheralID": 5000, "AgentState": rng.choice((2, 3, 4, 5, 6)), "SkillGroupNumber": rng.randint(1, 40), "SessionID": rng.randint(1, 9999)},
        [("AGENT_EXTENSION", "2" + agent[1:]), ("AGENT_ID", agent), ("AGENT_INSTRUMENT", "2" + agent[1:])],
        VERSION,
    )


def _delivered(rng, call_id, invoke):
    ext = "2" + _digits(rng, 3)
    return encode_message(
        "CALL_DELIVERED_EVENT",
        _call_fields(rng, call_id) | {"ServiceNumber": rng.randint(1, 50), "SkillGroupNumber": rng.randint(1, 40)},
        [
            ("CONNECTION_DEVID", ext),
            ("ALERTING_DEVID", ext),
            ("CALLING_DEVID", "+1" + _digits(rng, 10)),
            ("CALLED_DEVID", ext),
            ("ANI", "+1" + _digits(rng, 10)),
            ("DNIS", _digits(rng, 4)),
            ("DIALED_NUMBER", _digits(rng, 4)),
            ("CALL_VAR_1", "acct=" + _digits(rng, 8)),
            ("CALL_VAR_2", rng.choice(("billing", "support", "sales"))),
            ("CALL_VAR_3", "lang=" + rng.choice(("en", "fr", "de"))),
        ],
        VERSION,
    )


def _established(rng, call_id, invoke):
    ext = "2" + _digits(rng, 3)
    return encode_message(
        "CALL_ESTABLISHED_EVENT",
        _call_fields(rng, call_id),
        [("CONNECTION_DEVID", ext), ("ANSWERING_DEVID", ext), ("CALLING_DEVID", "+1" + _digits(rng, 10)), ("CALLED_DEVID", ext)],
        VERSION,
    )


def _conn_cleared(rng, call_id, invoke):
    ext = "2" + _digits(rng, 3)
    return encode_message("CALL_CONNECTION_CLEARED_EVENT", _call_fields(rng, call_id), [("CONNECTION_DEVID", ext), ("RELEASING_DEVID", ext)], VERSION)


def _cleared(rng, call_id, invoke):
    return encode_message("CALL_CLEARED_EVENT", _call_fields(rng, call_id), [("CONNECTION_DEVID", "2" + _digits(rng, 3))], VERSION)


def _begin(rng, call_id, invoke):
    return encode_message(
        "BEGIN_CALL_EVENT",
        _call_fields(rng, call_id) | {"NumCTIClients": 1, "CallType": 1},
        [
            ("CONNECTION_DEVID", "2" + _digits(rng, 3)),
            ("ANI", "+1" + _digits(rng, 10)),
            ("DNIS", _digits(rng, 4)),
            ("DIALED_NUMBER", _digits(rng, 4)),
            ("ROUTER_CALL_KEY_DAY", rng.randint(140000, 150000)),
            ("ROUTER_CALL_KEY_CALLID", rng.randint(1, 10**6)),
            ("CALL_VAR_1", "acct=" + _digits(rng, 8)),
            ("CALL_VAR_2", rng.choice(("billing", "support", "sales"))),
        ],
        VERSION,
    )


def _end(rng, call_id, invoke):
    return encode_message("END_CALL_EVENT", _call_fields(rng, call_id), [("CONNECTION_DEVID", "2" + _digits(rng, 3))], VERSION)


def _data_update(rng, call_id, invoke):
    return encode_message(
        "CALL_DATA_UPDATE_EVENT",
        _call_fields(rng, call_id) | {"NumCTIClients": 1, "CallType": 1},
        [
            ("CONNECTION_DEVID", "2" + _digits(rng, 3)),
            ("ANI", "+1" + _digits(rng, 10)),
            ("DNIS", _digits(rng, 4)),
            ("CALL_VAR_1", "acct=" + _digits(rng, 8)),
            ("CALL_VAR_2", rng.choice(("billing", "support", "sales"))),
            ("CALL_VAR_3", "prio=" + str(rng.randint(1, 9))),
            ("CALL_VAR_4", "case=" + _digits(rng, 6)),
        ],
        VERSION,
    )


def _system(rng, call_id, invoke):
    return encode_message("SYSTEM_EVENT", {"PGStatus": 0, "ICMCentralControllerTime": 1_700_000_000, "SystemEventID": 3}, [("TEXT", "peripheral online")], VERSION)


def _hb_req(rng, call_id, invoke):
    return encode_message("HEARTBEAT_REQ", {"InvokeID": invoke}, (), VERSION)


def _hb_conf(rng, call_id, invoke):
    return encode_message("HEARTBEAT_CONF", {"InvokeID": invoke}, (), VERSION)


def _qas_req(rng, call_id, invoke):
    return encode_message("QUERY_AGENT_STATE_REQ", {"InvokeID": invoke, "PeripheralID": 5000}, [("AGENT_INSTRUMENT", "2" + _digits(rng, 3))], VERSION)


def _qas_conf(rng, call_id, invoke):
    agent = str(rng.randint(1000, 1999))
    return encode_message(
        "QUERY_AGENT_STATE_CONF",
        {"InvokeID": invoke, "AgentState": 3, "NumSkillGroups": 1},
        [("AGENT_EXTENSION", "2" + agent[1:]), ("AGENT_ID", agent), ("AGENT_INSTRUMENT", "2" + agent[1:])],
        VERSION,
    )


def _sas_req(rng, call_id, invoke):
    agent = str(rng.randint(1000, 1999))
    return encode_message(
        "SET_AGENT_STATE_REQ",
        {"InvokeID": invoke, "PeripheralID": 5000, "AgentState": 3},
        [("AGENT_INSTRUMENT", "2" + agent[1:]), ("AGENT_ID", agent)],
        VERSION,
    )


def _sas_conf(rng, call_id, invoke):
    return encode_message("SET_AGENT_STATE_CONF", {"InvokeID": invoke}, (), VERSION)


# (weight, direction of the message, builder, reply builder or None)
MIX: list[tuple[float, str, Callable, Callable | None]] = [
    (0.22, "s2c", _agent_state, None),
    (0.07, "s2c", _delivered, None),
    (0.07, "s2c", _established, None),
    (0.07, "s2c", _conn_cleared, None),
    (0.06, "s2c", _cleared, None),
    (0.05, "s2c", _begin, None),
    (0.05, "s2c", _end, None),
    (0.05, "s2c", _data_update, None),
    (0.04, "s2c", _system, None),
    (0.16, "c2s", _hb_req, _hb_conf),  # counts request + reply
    (0.10, "c2s", _qas_req, _qas_conf),
    (0.06, "c2s", _sas_req, _sas_conf),
]


class _Side:
    __slots__ = ("seq", "pending")

    def __init__(self, isn: int) -> None:
        self.seq = isn
        self.pending = bytearray()


def generate(path: str, messages: int, connections: int = 16, seed: int = 1) -> dict[str, float]:
    """Write a pcap of about ``messages`` CTI messages over ``connections`` connections;
    returns counts (messages, packets, bytes, mean floating fields per message)."""
    from ctidissect.wire import decode_buffer

    rng = random.Random(seed)
    weights = [w for w, *_ in MIX]
    out = open(path, "wb")  # noqa: SIM115
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    rec = struct.Struct("<IIII")
    ip_tcp = struct.Struct(">BBHHHBBH4s4sHHIIBBHHH")
    eth = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
    ts_us = 1_700_000_000 * 1_000_000
    counts = {"messages": 0, "packets": 0, "floating": 0, "bytes": 0}

    conns = []
    for i in range(connections):
        client = bytes([10, 1, i // 250, 1 + i % 250])
        server = bytes([10, 0, 0, 1])
        cport, sport = 50000 + i, (42027, 43027)[i % 2]
        c, s = _Side(rng.randrange(1 << 32)), _Side(rng.randrange(1 << 32))
        conns.append((client, cport, server, sport, c, s))

    def packet(conn, from_client: bool, flags: int, payload: bytes) -> None:
        nonlocal ts_us
        client, cport, server, sport, c, s = conn
        me, peer = (c, s) if from_client else (s, c)
        src, dst, sp, dp = (client, server, cport, sport) if from_client else (server, client, sport, cport)
        hdr = ip_tcp.pack(0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst, sp, dp, me.seq, peer.seq, 0x50, flags, 65535, 0, 0)
        frame = eth + hdr + payload
        ts_us += rng.randint(5, 120)
        out.write(rec.pack(ts_us // 1_000_000, ts_us % 1_000_000, len(frame), len(frame)))
        out.write(frame)
        me.seq = (me.seq + len(payload) + (1 if flags & 0x03 else 0)) & 0xFFFFFFFF
        counts["packets"] += 1

    def flush(conn, from_client: bool, force: bool) -> None:
        side = conn[4] if from_client else conn[5]
        pend = side.pending
        while len(pend) > MSS:
            packet(conn, from_client, 0x18, bytes(pend[:MSS]))
            del pend[:MSS]
        if not pend or (not force and rng.random() < 0.5):
            return  # more messages will join this segment
        cut = len(pend) if force or rng.random() < 0.75 or len(pend) < 2 else rng.randint(1, len(pend) - 1)
        packet(conn, from_client, 0x18, bytes(pend[:cut]))
        del pend[:cut]
        if rng.random() < 0.1:
            packet(conn, not from_client, 0x10, b"")  # a bare ACK from the peer

    def add(conn, from_client: bool, msg: bytes) -> None:
        (conn[4] if from_client else conn[5]).pending.extend(msg)
        counts["messages"] += 1
        counts["bytes"] += len(msg)
        if counts["messages"] % 97 == 0:
            counts["floating"] += len(decode_buffer(msg, VERSION)[0].floating) * 97
        flush(conn, from_client, False)

    for conn in conns:  # handshake and session open
        client, cport, server, sport, c, s = conn
        packet(conn, True, 0x02, b"")
        packet(conn, False, 0x12, b"")
        packet(conn, True, 0x10, b"")
        add(conn, True, encode_message("OPEN_REQ", {"InvokeID": 1, "VersionNumber": VERSION, "IdleTimeout": 60}, [("CLIENT_ID", f"desk{cport}"), ("CLIENT_PASSWORD", b"")], VERSION))
        flush(conn, True, True)
        add(conn, False, encode_message("OPEN_CONF", {"InvokeID": 1, "MonitorID": 1}, [("AGENT_ID", "1000")], VERSION))
        flush(conn, False, True)

    invoke = 1
    call_id = 1000
    while counts["messages"] < messages:
        conn = conns[rng.randrange(connections)]
        _w, direction, build, reply = rng.choices(MIX, weights)[0]
        invoke += 1
        call_id += rng.random() < 0.2
        add(conn, direction == "c2s", build(rng, call_id, invoke))
        if reply is not None:
            flush(conn, True, rng.random() < 0.7)
            add(conn, False, reply(rng, call_id, invoke))
    for conn in conns:
        flush(conn, True, True)
        flush(conn, False, True)
    out.close()
    counts["floating_per_message"] = counts["floating"] / max(counts["messages"], 1)
    counts["bytes_per_message"] = counts["bytes"] / max(counts["messages"], 1)
    return counts


_RECORD = struct.Struct("<IIII")


def _pcap_records(inp):
    """``(seconds, microseconds, original length, data)`` of each record of the classic
    little-endian pcap file ``inp``, whose 24-byte global header was read already."""
    while True:
        head = inp.read(16)
        if len(head) < 16:
            return
        sec, usec, caplen, wirelen = _RECORD.unpack(head)
        yield sec, usec, wirelen, inp.read(caplen)


def to_pcapng(src: str, dst: str) -> None:
    """Rewrite the classic pcap ``src`` (little-endian, µs) as pcapng ``dst``: one section,
    one Ethernet interface with the default µs resolution, an enhanced packet block per
    record - what Wireshark and dumpcap write."""
    with open(src, "rb") as inp, open(dst, "wb") as out:
        inp.read(24)
        shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
        out.write(struct.pack("<II", 0x0A0D0D0A, 12 + len(shb)) + shb + struct.pack("<I", 12 + len(shb)))
        idb = struct.pack("<HHI", 1, 0, 65535)
        out.write(struct.pack("<II", 1, 12 + len(idb)) + idb + struct.pack("<I", 12 + len(idb)))
        for sec, usec, wirelen, data in _pcap_records(inp):
            units = sec * 1_000_000 + usec
            pad = b"\0" * (-len(data) % 4)
            total = 32 + len(data) + len(pad)
            out.write(
                struct.pack("<IIIIIII", 6, total, 0, units >> 32, units & 0xFFFFFFFF, len(data), wirelen)
                + data
                + pad
                + struct.pack("<I", total)
            )


def to_linux_cooked(src: str, dst: str) -> None:
    """Rewrite the classic pcap ``src`` (little-endian, µs, Ethernet) with Linux cooked v2
    headers (LINKTYPE_LINUX_SLL2, 276): what ``tcpdump -i any`` writes."""
    with open(src, "rb") as inp, open(dst, "wb") as out:
        head = inp.read(24)
        out.write(head[:20] + struct.pack("<I", 276))
        for sec, usec, wirelen, frame in _pcap_records(inp):
            sll2 = frame[12:14] + struct.pack(">HIHBB8s", 0, 1, 1, 0, 6, frame[6:12])
            data = sll2 + frame[14:]
            out.write(_RECORD.pack(sec, usec, len(data), wirelen + 6) + data)
