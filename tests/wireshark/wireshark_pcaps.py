"""Test captures for the Wireshark tests, and the reference (native) decode of a capture.

Captures are Ether/IPv4/TCP with a SYN handshake, correct sequence numbers and messages built
with :func:`ctidissect.wire.encode_message`.  Each direction's byte stream is cut at
deterministic pseudo-random points, so segments hold several messages and messages (and
headers) are split across segments; one pair of segments can be swapped to exercise
out-of-order reassembly.

The reference decode reads any pcap/pcapng with scapy, reassembles each TCP direction by
sequence number and decodes it with :func:`ctidissect.wire.decode_buffer` at the session's
version (the VersionNumber of the client's first message when it is an OPEN_REQ, else the
default): the same rule the Lua dissector follows.
"""

from __future__ import annotations

import random
import struct
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import PcapReader, wrpcap

from ctidissect.catalogue import MESSAGES, MESSAGES_BY_NAME, TAGS_BY_NAME
from ctidissect.catalogue.versions import DEFAULT_VERSION, WIDE_FLOATING_SINCE
from ctidissect.wire import Message, NamedArray, NamedVar, decode_buffer, encode_message
from ctidissect.wireshark.luagen import TRUST_LIMIT

T0 = 1_700_000_000.0
SERVER_IP = "10.0.0.1"


# --------------------------------------------------------------------------- message content


def fixed_values(msg, version: int, rng: random.Random) -> dict[str, int]:
    """Plausible values for every fixed field of ``msg`` at ``version``."""
    out = {}
    for f in msg.fields_for(version) or ():
        if f.wire in ("UINT", "TIME"):
            out[f.name] = rng.randrange(0, 1 << 32)
        elif f.wire == "INT":
            out[f.name] = rng.randrange(-(1 << 31), 1 << 31)
        elif f.wire in ("USHORT", "BOOL"):
            out[f.name] = rng.choice([0, 1, 3, 0xFFFF, rng.randrange(0, 1 << 16)])
        elif f.wire == "SHORT":
            out[f.name] = rng.randrange(-(1 << 15), 1 << 15)
        else:  # UCHAR
            out[f.name] = rng.randrange(0, 256)
    if msg.name == "OPEN_REQ":
        out["VersionNumber"] = version
    return out


def tag_value(tag, rng: random.Random):
    """A valid value for floating ``tag`` (strings within the tag's maximum size)."""
    w = tag.wire
    if w == "STRING":
        room = min((tag.max or 40) - 1, 30)
        text = rng.choice(["Zoë-", "agent", "x", "CTI/", ""]) + "".join(rng.choice("abcXYZ019 .") for _ in range(room))
        while len(text.encode()) > room:
            text = text[:-1]
        return text
    if w in ("UNSPEC", "RAW"):
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 6)))
    if w in ("UINT", "TIME"):
        return rng.randrange(0, 1 << 32)
    if w == "INT":
        return rng.randrange(-(1 << 31), 1 << 31)
    if w == "USHORT":
        return rng.randrange(0, 1 << 16)
    if w == "SHORT":
        return rng.randrange(-(1 << 15), 1 << 15)
    if w == "UCHAR":
        return rng.randrange(0, 256)
    if w == "NAMEDVAR":
        return NamedVar("user.var" + str(rng.randrange(10)), "value " + str(rng.randrange(1000)))
    if w == "NAMEDARRAY":
        return NamedArray(rng.randrange(256), "user.arr", "elem" + str(rng.randrange(10)))
    if w == "USHORT_LIST":
        return [rng.randrange(0, 1 << 16) for _ in range(rng.randrange(0, 4))]
    raise AssertionError(w)


def floating_values(msg, version: int, rng: random.Random) -> list[tuple[int, object]]:
    """Every floating tag the catalogue lists for ``msg`` that fits the version's format."""
    items = []
    for name in msg.floating:
        tag = TAGS_BY_NAME[name]
        if version < WIDE_FLOATING_SINCE and tag.tag > 255:
            continue
        items.append((tag.tag, tag_value(tag, rng)))
    return items


def build(name: str, version: int, rng: random.Random, fields: dict[str, int] | None = None, floating=None) -> bytes:
    """A valid frame of message ``name`` with random content (``fields``/``floating``
    override it); a message without a published layout gets a raw body."""
    msg = MESSAGES_BY_NAME[name]
    if msg.fixed is None:
        return encode_message(
            name, body=bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12))), version=version
        )
    values = fixed_values(msg, version, rng)
    values.update(fields or {})
    items = floating_values(msg, version, rng) if floating is None else floating
    return encode_message(name, values, items, version)


def open_req(version: int, invoke: int = 1, client_id: str = "recorder") -> bytes:
    return encode_message(
        "OPEN_REQ",
        {"InvokeID": invoke, "VersionNumber": version, "IdleTimeout": 30, "ServicesRequested": 0x10},
        [("CLIENT_ID", client_id), ("CLIENT_PASSWORD", b"")],
        version,
    )


def open_conf(version: int, invoke: int = 1) -> bytes:
    return encode_message("OPEN_CONF", {"InvokeID": invoke, "PeripheralOnline": 1}, [("AGENT_ID", "1001")], version)


def all_types(version: int, seed: int) -> tuple[list[bytes], list[bytes]]:
    """(client messages, server messages): an OPEN_REQ/OPEN_CONF, then one message of every
    catalogue type in its direction (server-to-client types from the server)."""
    rng = random.Random(seed)
    c2s, s2c = [open_req(version)], [open_conf(version)]
    for msg in MESSAGES:
        frame = build(msg.name, version, rng)
        (s2c if msg.direction == "S2C" else c2s).append(frame)
    return c2s, s2c


# --------------------------------------------------------------------------- TCP capture


@dataclass
class Conversation:
    """One TCP connection; ``send`` appends a direction's bytes as one or more segments."""

    client: tuple[str, int]
    server: tuple[str, int]
    packets: list = field(default_factory=list)
    seq: dict[str, int] = field(default_factory=lambda: {"c2s": 1000, "s2c": 50_000})

    def _pkt(self, direction: str, flags: str, payload: bytes = b"", seq: int | None = None):
        src, dst = (self.client, self.server) if direction == "c2s" else (self.server, self.client)
        other = "s2c" if direction == "c2s" else "c2s"
        p = (
            Ether()
            / IP(src=src[0], dst=dst[0])
            / TCP(
                sport=src[1],
                dport=dst[1],
                seq=self.seq[direction] if seq is None else seq,
                ack=self.seq[other],
                flags=flags,
            )
        )
        if payload:
            p = p / payload
        return p

    def handshake(self) -> None:
        self.seq["c2s"] -= 1
        self.seq["s2c"] -= 1
        self.packets.append(self._pkt("c2s", "S"))
        self.seq["c2s"] += 1
        self.packets.append(self._pkt("s2c", "SA"))
        self.seq["s2c"] += 1
        self.packets.append(self._pkt("c2s", "A"))

    def send(
        self,
        direction: str,
        data: bytes,
        rng: random.Random | None = None,
        max_cut: int = 60,
        swap: bool = False,
        min_cut: int = 1,
    ) -> None:
        """Send ``data``; with ``rng`` cut into segments of ``min_cut``..``max_cut`` bytes;
        ``swap`` exchanges the first two segments' order on the wire (out-of-order delivery)."""
        cuts = []
        pos = 0
        while pos < len(data):
            n = rng.randint(min_cut, max_cut) if rng else len(data)
            cuts.append((pos, data[pos : pos + n]))
            pos += n
        pkts = [self._pkt(direction, "PA", chunk, self.seq[direction] + off) for off, chunk in cuts]
        if swap and len(pkts) >= 2:
            pkts[0], pkts[1] = pkts[1], pkts[0]
        self.packets.extend(pkts)
        self.seq[direction] += len(data)


def write_capture(path: Path, conversations: list[Conversation], interleave: bool = False) -> Path:
    """Write the conversations' packets (one after another, or interleaved round-robin)
    with increasing timestamps, 1 ms apart."""
    if interleave:
        queues = [list(c.packets) for c in conversations]
        packets = []
        while any(queues):
            for q in queues:
                if q:
                    packets.append(q.pop(0))
    else:
        packets = [p for c in conversations for p in c.packets]
    for i, p in enumerate(packets):
        p.time = T0 + i * 0.001
    wrpcap(str(path), packets)
    return path


# --------------------------------------------------------------------------- reference decode


def reference_decode(path: Path, server_ports=(42027, 43027), version: int | None = None, force: bool = False):
    """``{(conn, direction): [Message, ...]}`` decoded natively from the capture.

    The server side of a connection is the one answering the SYN, else the side on a
    server port.  A trailing incomplete message (which tshark never completes) is dropped.
    """
    flows: dict[tuple, list[tuple[int, bytes]]] = defaultdict(list)
    syn_from: dict[frozenset, tuple] = {}
    with PcapReader(str(path)) as reader:
        for pkt in reader:
            if TCP not in pkt or IP not in pkt:
                continue
            ip, tcp = pkt[IP], pkt[TCP]
            src, dst = (ip.src, tcp.sport), (ip.dst, tcp.dport)
            if tcp.flags & 0x02 and not tcp.flags & 0x10:  # SYN
                syn_from[frozenset((src, dst))] = src
            payload = bytes(tcp.payload)
            if payload:
                flows[(src, dst)].append((tcp.seq, payload))
    out: dict[tuple[str, str], list[Message]] = {}
    streams: dict[tuple, bytes] = {}
    for key, segs in flows.items():
        segs.sort(key=lambda s: s[0])
        data = bytearray()
        base = segs[0][0]
        for seq, payload in segs:
            off = seq - base
            if off + len(payload) <= len(data):
                continue  # retransmission
            assert off <= len(data), f"gap in {key}"
            data += payload[len(data) - off :]
        streams[key] = bytes(data)
    pairs = {frozenset(k) for k in streams}
    for pair in pairs:
        a, b = tuple(pair) if len(pair) == 2 else (next(iter(pair)), next(iter(pair)))
        client = syn_from.get(pair)
        if client is None:
            client = b if a[1] in server_ports else a
        server = a if client == b else b
        conn = f"{client[0]}:{client[1]}-{server[0]}:{server[1]}"
        c2s = streams.get((client, server), b"")
        s2c = streams.get((server, client), b"")
        v = version if version is not None else DEFAULT_VERSION
        if not force and len(c2s) >= 16 and struct.unpack_from(">I", c2s, 4)[0] == MESSAGES_BY_NAME["OPEN_REQ"].type:
            announced = struct.unpack_from(">I", c2s, 12)[0]
            if 1 <= announced <= 255:
                v = announced
        for direction, data in (("c2s", c2s), ("s2c", s2c)):
            if not data:
                continue
            msgs = decode_buffer(data, v)
            if msgs and "frame.truncated" in msgs[-1].anomaly_codes and len(msgs[-1].raw) >= 8:
                length = struct.unpack_from(">I", msgs[-1].raw, 0)[0]
                if length <= TRUST_LIMIT:
                    msgs.pop()  # incomplete at capture end: tshark waits for the rest forever
            out[(conn, direction)] = msgs
    return out


def group(messages) -> dict[tuple[str, str], list[Message]]:
    """Engine output grouped like :func:`reference_decode`."""
    out: dict[tuple[str, str], list[Message]] = defaultdict(list)
    for m in messages:
        out[(m.conn, m.direction)].append(m)
    return dict(out)


def comparable(msg: Message) -> tuple:
    """Everything both decoders must agree on."""
    return (
        msg.type,
        msg.name,
        msg.version,
        tuple(msg.fields.items()),
        tuple(msg.floating),
        tuple((a.code, a.detail, a.offset) for a in msg.anomalies),
        msg.raw,
    )
