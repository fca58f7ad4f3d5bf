"""The capture engine: frames in, CTI message records out.

:class:`CaptureDecoder` is fed captured frames one by one (from a file or a live
interface) and returns, after each, the records that became final, in capture order:

* :class:`~ctidissect.wire.Message` records for decoded messages and, with ``type`` None,
  for anomalies (gaps, skipped or unframed bytes, capture problems);
* :class:`~ctidissect.capture.records.ConnectionEvent` records when asked for.

Which traffic is CTI: a TCP connection with a server port in ``ports`` (that side is the
server).  With ``detect``, flows on other ports are watched for a few packets and taken as
CTI when one direction starts with an OPEN_REQ or with two consecutive plausible message
headers; the server is the side receiving the OPEN_REQ, else the side sending server-side
message types (confirmations, events), else the side that received the SYN, else the
lower port.

The fast path (Ethernet + IPv4 without options + TCP, in-order segment) is inlined in
:meth:`CaptureDecoder.feed`; everything else goes through
:class:`~ctidissect.capture.packets.PacketParser`.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from ..catalogue import MESSAGES_BY_TYPE
from ..catalogue.schema import C2S, S2C
from ..catalogue.versions import DEFAULT_SERVER_PORTS, DEFAULT_VERSION
from ..wire import fastframes
from ..wire.framing import plausible_header
from ..wire.records import Anomaly, Message
from .ordering import OrderedOutput, Slot
from .packets import (
    INLINE_IPV4_LINKS,
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    VLAN_ETHERTYPES,
    PacketParser,
    Problem,
    Segment,
    datagram_ports,
    format_endpoint,
)
from .pcapfile import MAX_RECORD, RELEASE_EVERY, CaptureFile
from .records import CONN_CAPTURE_END, CONN_FIN, CONN_OPEN, CONN_REPLACED, CONN_RST, ConnectionEvent
from .stats import CaptureStats
from .stream import OPEN_REQ, CtiConnection, CtiStream
from .tcp import HISTORY, NEW_CONNECTION, HalfStream, ReassemblyCounters

DEFAULT_PORTS: tuple[int, ...] = DEFAULT_SERVER_PORTS
"""CTI server ports of side A and side B (GED-188 section 1; configurable per PG)."""

DETECT_MAX_PACKETS = 16
"""Data packets watched on an unknown-port flow before it is declared not CTI."""
DETECT_MAX_BYTES = 8192
"""Payload bytes per direction watched before an unknown-port flow is declared not CTI."""
CLOSED_LINGER = 120.0
"""Seconds of capture time a closed connection stays known (to absorb late packets)."""
DECISION_TIMEOUT = 5.0
"""Seconds of capture time a version or ``--detect`` decision may keep records waiting."""
SWEEP_INTERVAL = 1.0
"""Seconds of capture time between two sweeps (timeouts, closed connections)."""
SWEEP_FRAME_MASK = 0x1FFF
"""Frames whose number has none of these bits set (every 8192nd) leave the inline fast path
for :meth:`CaptureDecoder.feed`, which runs the time-based sweep."""

if fastframes.configure_packets is not None:
    fastframes.configure_packets(
        HalfStream, CtiStream, OrderedOutput, HISTORY, MAX_RECORD, SWEEP_FRAME_MASK, INLINE_IPV4_LINKS, VLAN_ETHERTYPES
    )
walk_pcap = fastframes.walk_pcap
"""The C packet loops (None without the accelerator): see :meth:`CaptureDecoder.decode_file`."""
walk_pcapng = fastframes.walk_pcapng
WALK_BATCH, WALK_PYTHON, WALK_END = 0, 1, 2
PACKETS_PER_WALK = 32
"""Records the C packet loop handles between two returns to Python.  Small on purpose:
records kept alive in a large batch survive the young garbage collections and get
promoted, and the older collections then cost more than the loop (measured: 32 records
per walk 0.38 s, 4096 records 0.68-0.95 s for 250,000 messages)."""

_TCP = struct.Struct(">HHIIBB")
_PORTS = struct.Struct(">HH")
_CONTROL = TCP_SYN | TCP_FIN | TCP_RST


class TcpConnection:
    """A CTI connection: its two half-streams, its CTI state and its lifecycle."""

    __slots__ = ("name", "cti", "c2s", "s2c", "keys", "server_port", "closed", "fin_from", "syn_seen")

    def __init__(self, name: str, cti: CtiConnection, keys: tuple[bytes, bytes], server_port: int) -> None:
        self.name = name
        self.cti = cti
        self.keys = keys
        self.server_port = server_port
        self.closed = False
        self.fin_from: set[str] = set()
        self.syn_seen = False
        self.c2s: HalfStream
        self.s2c: HalfStream


class _Ignored:
    """Flow-table marker of a flow found not to be CTI (with ``--detect``)."""

    __slots__ = ()


IGNORED = _Ignored()


class Candidate:
    """An unknown-port flow watched by ``--detect``: its packets wait (each in an output
    slot) until the flow is found to be CTI or not."""

    __slots__ = ("engine", "packets", "data_packets", "bytes", "keys", "decided", "first_ts")

    def __init__(self, engine: CaptureDecoder, keys: tuple[bytes, bytes], ts: float) -> None:
        self.engine = engine
        self.packets: list[tuple[Segment, int, float, Slot | None]] = []
        self.data_packets = 0
        self.bytes: dict[bytes, int] = dict.fromkeys(keys, 0)
        self.keys = keys
        self.decided = False
        self.first_ts = ts

    def add(self, seg: Segment, frame: int, ts: float) -> None:
        # Only packets with data reserve a place in the output: a flow that never sends
        # any (a refused connection, a port scan) must not hold the other records back.
        slot = self.engine.output.slot(self) if seg.payload else None
        self.packets.append((seg, frame, ts, slot))
        if seg.payload:
            self.data_packets += 1
            self.bytes[seg.key] += len(seg.payload)
        verdict = self.judge(final=False)
        if verdict is not None:
            self.engine.resolve_candidate(self, verdict)
        elif seg.flags & (TCP_FIN | TCP_RST) or self.data_packets >= DETECT_MAX_PACKETS or max(self.bytes.values()) >= DETECT_MAX_BYTES:
            self.engine.resolve_candidate(self, self.judge(final=True))

    def force_decision(self) -> None:
        if not self.decided:
            self.engine.resolve_candidate(self, self.judge(final=True))

    def judge(self, final: bool) -> tuple[bytes, bool] | None:
        """``(key of the client-to-server direction, True)`` when the flow is CTI,
        ``(b"", False)`` when it is not, None when more packets are needed."""
        streams: dict[bytes, bytearray] = {k: bytearray() for k in self.keys}
        seen: set[tuple[bytes, int]] = set()
        syn_from: bytes | None = None  # key of the direction that sent a SYN (the client)
        syn_seen: dict[bytes, bool] = dict.fromkeys(self.keys, False)
        for seg, _f, _t, _s in self.packets:
            if seg.flags & TCP_SYN:
                syn_seen[seg.key] = True
                if not seg.flags & TCP_ACK:
                    syn_from = seg.key
            if seg.payload and (seg.key, seg.seq) not in seen:
                seen.add((seg.key, seg.seq))
                streams[seg.key] += seg.payload
        a, b = self.keys
        votes = {a: 0, b: 0}  # > 0: this key's sender looks like the server
        cti = False
        for key in self.keys:
            found = _cti_evidence(bytes(streams[key]), start_known=syn_seen[key])
            if found is None:
                continue
            cti = True
            if found == "open_req":
                return key, True
            votes[key] += found
        if not cti:
            return (b"", False) if final else None
        if votes[a] != votes[b]:
            server_key = a if votes[a] > votes[b] else b
            return (b if server_key == a else a), True
        if syn_from is not None:
            return syn_from, True
        # Client ports are ephemeral (high); the server port is the lower one.
        sport_a, dport_a = _PORTS.unpack_from(a, len(a) - 4)
        return (a if dport_a < sport_a else b), True


def _cti_evidence(data: bytes, start_known: bool) -> int | str | None:
    """Whether ``data`` (the first bytes of one direction) look like GED-188: ``"open_req"``
    when it opens with an OPEN_REQ, else a vote (>0: server-side message types, <0:
    client-side) when two consecutive plausible headers are found, else None."""
    version = DEFAULT_VERSION
    n = len(data)
    if n >= 16 and start_known:
        length, mtype = struct.unpack_from(">II", data, 0)
        if mtype == OPEN_REQ and plausible_header(length, mtype, version):
            (number,) = struct.unpack_from(">I", data, 12)
            if 1 <= number <= 255:
                return "open_req"
    starts = [0] if start_known else range(0, max(0, min(n - 16, 2048)) + 1)
    for p in starts:
        if p + 8 > n:
            break
        l1, t1 = struct.unpack_from(">II", data, p)
        if not plausible_header(l1, t1, version):
            continue
        q = p + 8 + l1
        if q + 8 > n:
            continue
        l2, t2 = struct.unpack_from(">II", data, q)
        if not plausible_header(l2, t2, version):
            continue
        vote = 0
        for t in (t1, t2):
            direction = MESSAGES_BY_TYPE[t].direction
            vote += 1 if direction == S2C else -1 if direction == C2S else 0
        if t1 == OPEN_REQ:
            return "open_req"
        return vote
    return None


class CaptureDecoder:
    """Turns captured frames into CTI records.  Feed frames with :meth:`feed` (1-based
    frame numbers, epoch-second timestamps), then call :meth:`finish` once."""

    def __init__(
        self,
        ports: Iterable[int] = DEFAULT_PORTS,
        version: int | None = None,
        detect: bool = False,
        connection_events: bool = False,
        stats: CaptureStats | None = None,
    ) -> None:
        self.ports = frozenset(int(p) for p in ports)
        self.version = version
        self.detect = detect
        self.events = connection_events
        self.stats = stats if stats is not None else CaptureStats()
        self.output = OrderedOutput()
        self.flows: dict[bytes, Any] = {}
        self.connections: dict[int, TcpConnection] = {}  # id -> open connection
        self.closed: deque[tuple[float, TcpConnection]] = deque()
        self.candidates: dict[int, Candidate] = {}  # id -> --detect flow still undecided
        self.sweep_ts = 0.0
        self.parser = PacketParser()
        self.counters = ReassemblyCounters()
        self.reported_links: set[int] = set()
        self.last_frame = 0
        self.last_ts = 0.0

    # -- feeding -----------------------------------------------------------------------
    def decode_frames(self, frames: Iterable[tuple[float, int, bytes]]) -> Iterator[Any]:
        """Feed every ``(ts, linktype, data)`` of ``frames`` (numbered from 1) and yield the
        records as they become final - the loop of a capture file.  The common case (a plain
        IPv4/TCP segment of a known connection, no SYN/FIN/RST, on a link of
        :data:`~ctidissect.capture.packets.INLINE_IPV4_LINKS`) is inlined here; everything
        else goes through :meth:`feed`.  Call :meth:`finish` afterwards."""
        flows = self.flows
        ports = self.ports
        detect = self.detect
        output = self.output
        feed = self.feed
        unpack = _TCP.unpack_from
        unpack_ports = _PORTS.unpack_from
        frame = self.last_frame
        ts = self.last_ts
        cti = 0
        link = -1  # the link type of the previous frame, and its IPv4 / ethertype offsets
        ip = et = -1
        try:
            for ts, linktype, data in frames:
                frame += 1
                if linktype != link:
                    link = linktype
                    ip, et = INLINE_IPV4_LINKS.get(linktype, (-1, -1))
                o, e = ip, et
                if e >= 0 and len(data) > e + 1 and data[e] != 8:
                    # VLAN tags (802.1Q, 802.1ad, ...) before the ethertype: 4 bytes each.
                    while len(data) >= e + 2 and ((data[e] << 8) | data[e + 1]) in VLAN_ETHERTYPES:
                        o += 4
                        e += 4
                if (
                    o >= 0
                    and len(data) >= o + 40  # first: a runt frame must not be indexed
                    and (e < 0 or (data[e] == 8 and data[e + 1] == 0))
                    and data[o] == 0x45
                    and data[o + 9] == 6
                    and not (data[o + 6] & 0x3F or data[o + 7])
                    and frame & SWEEP_FRAME_MASK
                ):
                    tcp = o + 20
                    hs = flows.get(data[o + 12 : o + 24])
                    if type(hs) is HalfStream:
                        _sport, _dport, seq, ack, doff, flags = unpack(data, tcp)
                        end = o + ((data[o + 2] << 8) | data[o + 3])
                        hoff = tcp + ((doff >> 4) << 2)
                        if not flags & _CONTROL and hoff <= end <= len(data) and doff >= 0x50:
                            cti += 1
                            # The acknowledgement first: it may close a hole in the other
                            # direction, whose bytes were sent before this packet.
                            if flags & TCP_ACK and hs.peer.pending:
                                hs.peer.on_ack(ack, frame, ts)
                            if end > hoff and hs.data(seq, data[hoff:end], frame, ts) is not None:
                                src, dst = data[o + 12 : o + 16], data[o + 16 : tcp]
                                seg = Segment(src + dst + data[tcp : tcp + 4], src, dst, _sport, _dport, seq, ack, flags, data[hoff:end], 0)
                                self._reuse(hs.owner, seg, frame, ts)
                            out = output.out
                            if out:
                                if output.unready or output.queue or output.slotted:
                                    yield from output.take()
                                else:
                                    output.out = []
                                    yield from out
                            continue
                    elif hs is None and not detect:
                        sport, dport = unpack_ports(data, tcp)
                        if sport not in ports and dport not in ports:
                            continue  # not CTI: nothing else to do with it
                records = feed(frame, ts, linktype, data)
                if records:
                    yield from records
        finally:
            self.stats.cti_packets += cti
            self.last_frame = frame
            self.last_ts = ts

    def can_walk(self, capture: CaptureFile) -> bool:
        """Whether :meth:`decode_file` can take ``capture``: the accelerator is built, and
        the file is pcapng or a classic pcap file of a link type of
        :data:`~ctidissect.capture.packets.INLINE_IPV4_LINKS`."""
        if capture.format == "pcap":
            return walk_pcap is not None and capture.linktype in INLINE_IPV4_LINKS
        return walk_pcapng is not None

    def decode_file(self, capture: CaptureFile) -> Iterator[Any]:
        """:meth:`decode_frames` over every frame of ``capture`` (see :meth:`can_walk`),
        with the common packets handled by the C loop (``walk_pcap`` / ``walk_pcapng``):
        the records, their order and the counters are those :meth:`decode_frames` gives.
        Every record or block the C loop does not take (another protocol stack, a new
        flow, SYN/FIN/RST, out-of-order data, an undecided version, a sweep frame, a
        pcapng section or interface block, a problem) goes through the Python reader and
        :meth:`decode_frames`."""
        pcap = capture.format == "pcap"
        walk = walk_pcap if pcap else walk_pcapng
        read = capture.pcap_record if pcap else capture.pcapng_block
        m, size = capture.mapped()
        flows = self.flows
        ports = self.ports
        detect = self.detect
        output = self.output
        stats = self.stats
        pos = 24 if pcap else 0  # after the pcap global header / at the first section header
        release_at = RELEASE_EVERY
        while True:
            batch: list[Any] = []
            pos, frame, first_ts, last_ts, cti, messages, decoded, status = walk(
                m,
                pos,
                size,
                capture.big_endian,  # (a pcapng section may switch)
                capture.ts_scale if pcap else capture.interfaces,
                capture.linktype,  # (pcapng: per interface)
                self.last_frame,
                flows,
                ports,
                detect,
                output,
                PACKETS_PER_WALK,
                batch,
            )
            self.last_frame = frame
            if last_ts is not None:
                self.last_ts = last_ts
                if stats.first_ts is None:
                    stats.first_ts = first_ts
            stats.cti_packets += cti
            stats.messages += messages
            stats.bytes_decoded += decoded
            if batch:
                yield from batch
            if pos >= release_at:
                capture.release_before(pos)
                release_at = pos + RELEASE_EVERY
            if status == WALK_BATCH:
                continue
            # The record or block at pos is for Python (WALK_PYTHON), or no whole pcap record
            # starts there (WALK_END): the reader reads it, or records why it cannot.
            step = read(pos, frame) if pos < size else None
            if step is None:
                return
            found, pos = step
            if found is not None:
                if stats.first_ts is None:
                    stats.first_ts = found[0]
                yield from self.decode_frames((found,))

    def feed(self, frame: int, ts: float, linktype: int, data: bytes) -> list[Any]:
        """Process one frame; returns the records that became final (often none)."""
        self.last_frame = frame
        self.last_ts = ts
        if ts - self.sweep_ts >= SWEEP_INTERVAL:
            self._sweep(ts)
        # Fast path: Ethernet, IPv4 without options, not a fragment, TCP.
        if (
            linktype == 1
            and len(data) >= 54
            and data[12] == 8
            and data[13] == 0
            and data[14] == 0x45
            and data[23] == 6
            and not (data[20] & 0x3F or data[21])
        ):
            sport, dport, seq, ack, doff, flags = _TCP.unpack_from(data, 34)
            hs = self.flows.get(data[26:38])
            if hs is None and not self.detect and sport not in self.ports and dport not in self.ports:
                return self.output.take() if self.output.out else []
            end = 14 + ((data[16] << 8) | data[17])
            hoff = 34 + (doff >> 4) * 4
            if end <= len(data) and hoff <= end and doff >= 0x50:
                payload = data[hoff:end]
                if type(hs) is HalfStream and not flags & _CONTROL:
                    self.stats.cti_packets += 1
                    # The acknowledgement first: it may close a hole in the other
                    # direction, whose bytes were sent before this packet.
                    if flags & TCP_ACK and hs.peer.pending:
                        hs.peer.on_ack(ack, frame, ts)
                    if payload and hs.data(seq, payload, frame, ts) is not None:
                        self._reuse(hs.owner, Segment(data[26:38], data[26:30], data[30:34], sport, dport, seq, ack, flags, payload, 0), frame, ts)
                    return self.output.take()
                seg = Segment(data[26:38], data[26:30], data[30:34], sport, dport, seq, ack, flags, payload, 0)
                self._segment(seg, frame, ts)
                return self.output.take()
        seg = self.parser.parse(linktype, data, frame)
        if seg is not None:
            if type(seg) is Segment:
                self._segment(seg, frame, ts)
            else:
                self._problem(seg, frame, ts, linktype, data)
        if self.parser.dropped_datagrams:
            self._report_fragments(self.parser.dropped_datagrams, frame, ts)
            self.parser.dropped_datagrams = []
        return self.output.take()

    def _segment(self, seg: Segment, frame: int, ts: float) -> None:
        hs = self.flows.get(seg.key)
        if hs is None:
            hs = self._new_flow(seg, frame, ts)
            if hs is None:
                return
        if type(hs) is not HalfStream:
            if type(hs) is Candidate:
                hs.add(seg, frame, ts)
            elif seg.flags & (TCP_FIN | TCP_RST | TCP_SYN):
                # A non-CTI flow ended (or restarts): forget it, a new one may be CTI.
                for key in (seg.key, _reverse_key(seg.key)):
                    if self.flows.get(key) is IGNORED:
                        del self.flows[key]
            return
        self.stats.cti_packets += 1
        self._tcp(hs, seg, frame, ts)

    def _tcp(self, hs: HalfStream, seg: Segment, frame: int, ts: float) -> None:
        flags = seg.flags
        conn: TcpConnection = hs.owner
        if flags & TCP_RST:
            if not conn.closed:
                if seg.payload:
                    hs.data(seg.seq, seg.payload, frame, ts, seg.missing)
                self._close(conn, frame, ts, CONN_RST, self._direction(conn, hs))
            return
        if flags & TCP_SYN:
            if conn.closed and hs.syn_seen and seg.seq == hs.isn:
                return  # a late retransmission of the old SYN
            if hs.syn(seg.seq, frame, ts) is NEW_CONNECTION or conn.closed:
                self._reuse(conn, seg, frame, ts)
                return
            conn.syn_seen = True
            if flags & TCP_ACK:
                hs.peer.anchor_at(seg.ack, frame, ts)
            if seg.payload:
                # Data on a SYN (TCP Fast Open) starts after the SYN's sequence number.
                hs.data((seg.seq + 1) & 0xFFFFFFFF, seg.payload, frame, ts, seg.missing)
        elif seg.payload or seg.missing:
            if flags & TCP_ACK and hs.peer.pending:
                hs.peer.on_ack(seg.ack, frame, ts)
            if hs.data(seg.seq, seg.payload, frame, ts, seg.missing) is NEW_CONNECTION:
                self._reuse(conn, seg, frame, ts)
                return
        if flags & TCP_ACK and hs.peer.pending:
            hs.peer.on_ack(seg.ack, frame, ts)
        if flags & TCP_FIN:
            direction = self._direction(conn, hs)
            if direction not in conn.fin_from:
                conn.fin_from.add(direction)
                self._event(conn, CONN_FIN, frame, ts, direction)
            hs.fin(seg.seq, len(seg.payload), frame, ts)

    def _half_finished(self, hs: HalfStream) -> None:
        """Both directions delivered everything up to their FIN: the connection is over."""
        conn: TcpConnection = hs.owner
        if hs.peer.finished and not conn.closed:
            conn.closed = True
            self.connections.pop(id(conn), None)
            self.closed.append((hs.last_ts, conn))

    @staticmethod
    def _direction(conn: TcpConnection, hs: HalfStream) -> str:
        return "c2s" if hs is conn.c2s else "s2c"

    # -- connections -------------------------------------------------------------------
    def _new_flow(self, seg: Segment, frame: int, ts: float) -> HalfStream | Candidate | None:
        flags = seg.flags
        if not seg.payload and not seg.missing and not flags & TCP_SYN:
            return None  # a bare ACK/FIN/RST of a connection we never saw data of
        ports = self.ports
        in_dst = seg.dport in ports
        in_src = seg.sport in ports
        if in_dst and in_src:
            c2s = not (flags & TCP_SYN and flags & TCP_ACK)
        elif in_dst:
            c2s = True
        elif in_src:
            c2s = False
        elif self.detect:
            keys = (seg.key, _reverse_key(seg.key))
            cand = Candidate(self, keys, ts)
            self.flows[keys[0]] = cand
            self.flows[keys[1]] = cand
            self.candidates[id(cand)] = cand
            return cand
        else:
            return None
        return self._open(seg, c2s, frame, ts)

    def _open(self, seg: Segment, c2s: bool, frame: int, ts: float) -> HalfStream:
        """Create the connection ``seg`` belongs to; ``c2s`` says whether ``seg`` was
        sent by the client.  Returns the half-stream of ``seg``'s sender."""
        if c2s:
            client, cport, server, sport = seg.src, seg.sport, seg.dst, seg.dport
        else:
            client, cport, server, sport = seg.dst, seg.dport, seg.src, seg.sport
        name = f"{format_endpoint(client, cport)}-{format_endpoint(server, sport)}"
        key_c2s = client + server + _PORTS.pack(cport, sport)
        key_s2c = server + client + _PORTS.pack(sport, cport)
        cti = CtiConnection(name, self.output, self.stats, self.version)
        conn = TcpConnection(name, cti, (key_c2s, key_s2c), sport)
        conn.c2s = HalfStream(CtiStream(cti, "c2s"), self.counters)
        conn.s2c = HalfStream(CtiStream(cti, "s2c"), self.counters)
        conn.c2s.peer, conn.s2c.peer = conn.s2c, conn.c2s
        conn.c2s.owner = conn.s2c.owner = conn
        conn.c2s.on_finished = conn.s2c.on_finished = self._half_finished
        self.flows[key_c2s] = conn.c2s
        self.flows[key_s2c] = conn.s2c
        self.connections[id(conn)] = conn
        self.stats.cti_connections += 1
        if self.events:
            self.output.out.append(
                ConnectionEvent(name, CONN_OPEN, frame, ts, "c2s" if c2s else "s2c", sport, bool(seg.flags & TCP_SYN))
            )
        return conn.c2s if c2s else conn.s2c

    def _reuse(self, old: TcpConnection, seg: Segment, frame: int, ts: float) -> None:
        """``seg`` starts a new connection on the 4-tuple of ``old``."""
        if not old.closed:
            self._close(old, frame, ts, CONN_REPLACED, None)
        sender_is_client = seg.key == old.keys[0]
        for key in old.keys:
            hs = self.flows.get(key)
            if type(hs) is HalfStream and hs.owner is old:
                del self.flows[key]
        hs = self._open(seg, sender_is_client, frame, ts)
        self._tcp(hs, seg, frame, ts)

    def _close(self, conn: TcpConnection, frame: int | None, ts: float | None, kind: str, direction: str | None) -> None:
        """End ``conn``: deliver what is held, report unfinished bytes, emit the event.
        ``frame`` None: capture end."""
        conn.closed = True
        self.connections.pop(id(conn), None)
        conn.c2s.flush(frame, ts)
        conn.s2c.flush(frame, ts)
        if frame is None:
            frame, ts = self.last_frame, self.last_ts
        else:
            self.closed.append((ts, conn))
        self._event(conn, kind, frame, ts, direction)

    def _event(self, conn: TcpConnection, kind: str, frame: int, ts: float, direction: str | None) -> None:
        if self.events:
            self.output.out.append(
                ConnectionEvent(conn.name, kind, frame, ts, direction, conn.server_port, conn.syn_seen)
            )

    def _sweep(self, now: float) -> None:
        """Time-based housekeeping: settle decisions that waited too long (so that a quiet
        connection cannot hold the output back), forget long-closed connections."""
        self.sweep_ts = now
        for cand in list(self.candidates.values()):
            if now - cand.first_ts > DECISION_TIMEOUT:
                cand.force_decision()
        for conn in list(self.connections.values()):
            held = conn.cti.held
            if held and now - held[0][4] > DECISION_TIMEOUT:
                conn.cti.force_decision()
        self._evict_closed(now)

    def _evict_closed(self, now: float) -> None:
        closed = self.closed
        while closed and closed[0][0] < now - CLOSED_LINGER:
            _, conn = closed.popleft()
            for key in conn.keys:
                hs = self.flows.get(key)
                if type(hs) is HalfStream and hs.owner is conn:
                    del self.flows[key]

    # -- detection ---------------------------------------------------------------------
    def resolve_candidate(self, cand: Candidate, verdict: tuple[bytes, bool]) -> None:
        """Settle a ``--detect`` candidate: replay its packets as CTI, or ignore the flow."""
        if cand.decided:
            return
        cand.decided = True
        self.candidates.pop(id(cand), None)
        c2s_key, is_cti = verdict
        output = self.output
        if not is_cti:
            for key in cand.keys:
                self.flows[key] = IGNORED
            for _seg, _f, _t, slot in cand.packets:
                if slot is not None:
                    output.fill(slot)
            cand.packets = []
            return
        for key in cand.keys:
            del self.flows[key]
        saved = output.out
        packets = cand.packets
        # Where the records of each packet go: its own slot, or (a packet without data)
        # the slot of the next packet that has one, else the current output.
        targets: list[list[Any]] = []
        nxt: list[Any] = saved
        for _seg, _f, _t, slot in reversed(packets):
            if slot is not None:
                nxt = slot.records
            targets.append(nxt)
        targets.reverse()
        try:
            first_seg, first_frame, first_ts, _slot = packets[0]
            output.out = targets[0]  # the open event goes before the first packet's records
            self._open(first_seg, first_seg.key == c2s_key, first_frame, first_ts)
            for (seg, frame, ts, slot), target in zip(packets, targets):
                output.out = target
                self.stats.cti_packets += 1
                current = self.flows.get(seg.key)
                if type(current) is HalfStream:
                    self._tcp(current, seg, frame, ts)
                if slot is not None:
                    output.fill(slot)
        finally:
            output.out = saved
        cand.packets = []

    # -- problems ----------------------------------------------------------------------
    def _problem(self, problem: Problem, frame: int, ts: float, linktype: int, data: bytes) -> None:
        if problem.code == "link.unsupported":
            if linktype in self.reported_links:
                return
            self.reported_links.add(linktype)
            detail = f"{problem.detail}: every frame of this link type is skipped (first at frame {frame})"
            self._capture_record(problem.code, detail, b"", frame, ts)
            return
        ports = problem.ports
        if ports is not None and not self.detect and ports[0] not in self.ports and ports[1] not in self.ports:
            return
        self._capture_record(problem.code, f"frame {frame}: {problem.detail}", data, frame, ts)

    def _report_fragments(self, datagrams: list, frame: int, ts: float) -> None:
        for key, dgram in datagrams:
            ports = datagram_ports(dgram)
            if ports is not None and not self.detect and ports[0] not in self.ports and ports[1] not in self.ports:
                continue
            got = sum(len(p) for p in dgram.pieces.values())
            frames = ", ".join(str(f) for f in dgram.frames)
            self._capture_record(
                "ip.fragments_incomplete",
                f"IPv{key[0]} datagram {key[3]:#x}: {got} byte(s) in {len(dgram.pieces)} fragment(s) "
                f"(frames {frames}) never completed",
                b"".join(dgram.pieces[k] for k in sorted(dgram.pieces)),
                dgram.frames[-1] if dgram.frames else frame,
                ts,
            )

    def _capture_record(self, code: str, detail: str, raw: bytes, frame: int, ts: float, conn: str | None = None) -> None:
        version = self.version if self.version is not None else DEFAULT_VERSION
        rec = Message(None, None, {}, [], [Anomaly(code, detail, None, frame)], bytes(raw), version, frame, ts, conn, None, {})
        stats = self.stats
        stats.anomaly_records += 1
        stats.bytes_in_anomalies += len(raw)
        stats.anomalies[code] += 1
        self.output.out.append(rec)

    def capture_problem(self, anomaly: Anomaly, raw: bytes) -> list[Any]:
        """Report a problem of the capture file itself (``capture.truncated``, ...)."""
        self._capture_record(anomaly.code, anomaly.detail, raw, anomaly.frame or self.last_frame + 1, self.last_ts)
        return self.output.take()

    # -- end ---------------------------------------------------------------------------
    def finish(self) -> list[Any]:
        """The capture ended: settle waiting flows, flush every open connection (held
        segments keep their own frame numbers), return the last records."""
        for cand in list(self.candidates.values()):
            cand.force_decision()
        for conn in list(self.connections.values()):
            self._close(conn, None, None, CONN_CAPTURE_END, None)
        leftover = self.parser.incomplete_datagrams()
        if leftover:
            self._report_fragments(leftover, self.last_frame, self.last_ts)
        stats = self.stats
        stats.bytes_lost = self.counters.bytes_lost
        stats.retransmitted_bytes = self.counters.retransmitted_bytes
        return self.output.drain_all()


def _reverse_key(key: bytes) -> bytes:
    half = (len(key) - 4) // 2
    return key[half : 2 * half] + key[:half] + key[-2:] + key[-4:-2]
