"""Sequence-aware TCP reassembly of one direction of a connection.

:class:`HalfStream` turns the segments one side sent, in capture order, into the exact byte
stream that side wrote, and hands it to a sink (the CTI framer, :mod:`.stream`):

* sequence numbers are compared modulo 2**32 as signed 32-bit differences, so a stream
  that wraps past 0xFFFFFFFF goes on seamlessly; positions are kept as 64-bit stream
  offsets (``abs``: bytes since the first byte seen);
* a segment at the expected sequence number is the fast path: its payload goes straight
  to the sink;
* bytes already delivered (exact or overlapping retransmissions) are dropped; those still
  in the last :data:`HISTORY` bytes are compared with the first copy
  (``tcp.overlap_mismatch`` when they differ - the first copy is kept, as the receiver
  does);
* a segment beyond the expected number waits in a hold queue until the hole fills
  (reordering).  The hole is declared lost (``tcp.gap``, with the number of bytes and the
  frames around it) as soon as the receiver acknowledges data past it - the receiver had
  the bytes, the capture missed them - or when the queue passes :data:`MAX_PENDING_SEGMENTS`
  segments / :data:`MAX_PENDING_BYTES` bytes, or the hole is older than
  :data:`GAP_TIMEOUT` seconds of capture time, or the connection ends;
* a sequence number more than :data:`SEQ_JUMP` bytes away from the expected one, a new
  SYN with another initial sequence number, or new data after the side finished, means the
  4-tuple was reused by a new connection (:data:`NEW_CONNECTION` is returned).

A message is "complete" in the packet whose bytes made it contiguous; that is the packet
the framer is given (``frame``/``ts``), except at capture end where held segments carry
their own frame numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

MASK = 0xFFFFFFFF
HALF = 0x80000000

SEQ_JUMP = 1 << 24
"""A sequence number further than this (bytes, either way) from the expected one starts a
new connection on the same 4-tuple."""
HISTORY = 64 * 1024
"""Bytes of delivered stream kept to compare retransmissions with (per direction)."""
MAX_PENDING_SEGMENTS = 1024
"""Out-of-order segments held per direction before the hole is declared lost."""
MAX_PENDING_BYTES = 4 * 1024 * 1024
"""Out-of-order bytes held per direction before the hole is declared lost."""
GAP_TIMEOUT = 10.0
"""Seconds of capture time a hole may stay open while later data waits."""

NEW_CONNECTION = "new-connection"
"""Returned by :meth:`HalfStream.data` / :meth:`HalfStream.syn` when the segment belongs to
a new connection reusing the 4-tuple."""


class StreamSink(Protocol):
    """What the reassembler feeds (implemented by :class:`ctidissect.capture.stream.CtiStream`)."""

    def push(self, data: bytes, frame: int, ts: float) -> None: ...

    def gap(self, lost: int, after_frame: int | None, before_frame: int, frame: int, ts: float, reason: str) -> None: ...

    def tcp_anomaly(self, code: str, detail: str, raw: bytes, frame: int, ts: float) -> None: ...

    def close(self, frame: int, ts: float) -> None: ...

    def begin(self, midstream: bool, frame: int, ts: float) -> None: ...


class ReassemblyCounters:
    """Byte counts kept by the reassembler (shared by every stream of a capture)."""

    __slots__ = ("retransmitted_bytes", "bytes_lost", "late_bytes")

    def __init__(self) -> None:
        self.retransmitted_bytes = 0
        """Payload bytes seen again after delivery (retransmissions, duplicates)."""
        self.bytes_lost = 0
        """Stream bytes never captured (sum of ``tcp.gap`` sizes)."""
        self.late_bytes = 0
        """Retransmitted bytes of a hole already declared lost (they arrived too late)."""


class HalfStream:
    """One direction of a TCP connection."""

    __slots__ = (
        "sink",
        "counters",
        "anchored",
        "syn_seen",
        "isn",
        "next_mod",
        "next_abs",
        "recent",
        "pending",
        "pending_bytes",
        "pending_since",
        "fin_abs",
        "finished",
        "last_frame",
        "last_ts",
        "lost_before",
        "peer",
        "owner",
        "on_finished",
    )

    def __init__(self, sink: StreamSink, counters: ReassemblyCounters) -> None:
        self.sink = sink
        self.counters = counters
        self.anchored = False
        self.syn_seen = False
        self.isn: int | None = None
        self.next_mod = 0  # next expected sequence number (mod 2**32)
        self.next_abs = 0  # the same as a stream offset (bytes since the stream start)
        self.recent = bytearray()  # the last HISTORY..2*HISTORY bytes delivered
        self.pending: dict[int, tuple[bytes, int, float, int]] = {}  # abs -> (payload, frame, ts, missing)
        self.pending_bytes = 0
        self.pending_since = 0.0
        self.fin_abs: int | None = None
        self.finished = False
        self.last_frame: int | None = None
        self.last_ts = 0.0
        self.lost_before = 0  # stream offset below which bytes were declared lost
        self.peer: HalfStream | None = None  # the other direction
        self.owner: Any = None  # the connection record of the engine
        self.on_finished: Callable[[HalfStream], None] | None = None

    # -- anchoring ---------------------------------------------------------------------
    def syn(self, seq: int, frame: int, ts: float) -> str | None:
        """A SYN from this side.  Anchors the stream; a SYN with another initial sequence
        number on an anchored stream starts a new connection."""
        if self.anchored:
            if self.syn_seen and seq == self.isn:
                return None  # retransmitted SYN
            return NEW_CONNECTION
        self.anchored = True
        self.syn_seen = True
        self.isn = seq
        self.next_mod = (seq + 1) & MASK  # the SYN takes one sequence number
        self.last_frame = frame
        self.last_ts = ts
        self.sink.begin(False, frame, ts)
        return None

    def anchor_at(self, seq: int, frame: int, ts: float) -> None:
        """Anchor the stream start at ``seq`` (the acknowledgement number of the peer's
        SYN-ACK when this side's SYN was not captured)."""
        if not self.anchored:
            self.anchored = True
            self.syn_seen = True
            self.isn = (seq - 1) & MASK
            self.next_mod = seq & MASK
            self.last_frame = frame
            self.last_ts = ts
            self.sink.begin(False, frame, ts)

    # -- data --------------------------------------------------------------------------
    def data(self, seq: int, payload: bytes, frame: int, ts: float, missing: int = 0) -> str | None:
        """A segment with ``payload`` at sequence number ``seq``; ``missing`` payload bytes
        after it were cut by the snap length."""
        if not self.anchored:
            # Capture began mid-connection: the first byte seen is stream offset 0.
            self.anchored = True
            self.next_mod = seq
            self.last_frame = frame
            self.last_ts = ts
            self.sink.begin(True, frame, ts)
        if seq == self.next_mod and not missing and not self.finished:
            # In order (next_mod is kept in 0..2**32-1, like seq): the fast path.
            self._deliver(payload, frame, ts)
            if self.pending:
                self._drain(frame, ts)
            if self.fin_abs is not None:
                self.check_finished(frame, ts)
            return None
        delta = ((seq - self.next_mod + HALF) & MASK) - HALF
        result = self._data_slow(delta, payload, frame, ts, missing)
        if self.fin_abs is not None:
            self.check_finished(frame, ts)
        return result

    def _data_slow(self, delta: int, payload: bytes, frame: int, ts: float, missing: int) -> str | None:
        n = len(payload)
        if delta > SEQ_JUMP or delta < -SEQ_JUMP:
            return NEW_CONNECTION
        start = self.next_abs + delta
        if self.finished:
            if delta >= 0 and n:
                return NEW_CONNECTION  # new bytes after FIN/RST: the 4-tuple was reused
            self._retransmission(start, payload, frame, ts)
            return None
        if delta < 0:
            if delta + n <= 0:
                self._retransmission(start, payload, frame, ts)
                return None
            # Overlapping retransmission: the first -delta bytes were delivered already.
            self._retransmission(start, payload[:-delta], frame, ts)
            payload = payload[-delta:]
            delta = 0
            start = self.next_abs
        if delta == 0:
            self._deliver(payload, frame, ts)
            if missing:
                self._lose(missing, frame, frame, frame, ts, "cut by the capture snap length")
            if self.pending:
                self._drain(frame, ts)
            return None
        self._hold(start, payload, frame, ts, missing)
        return None

    def _deliver(self, payload: bytes, frame: int, ts: float) -> None:
        n = len(payload)
        self.next_mod = (self.next_mod + n) & MASK
        self.next_abs += n
        self.last_frame = frame
        self.last_ts = ts
        recent = self.recent
        recent += payload
        if len(recent) > 2 * HISTORY:
            del recent[: len(recent) - HISTORY]
        self.sink.push(payload, frame, ts)

    def _retransmission(self, start: int, chunk: bytes, frame: int, ts: float) -> None:
        """``chunk`` (stream offset ``start``) was delivered already: compare it with the
        first copy while that is still in the history."""
        if not chunk:
            return
        self.counters.retransmitted_bytes += len(chunk)
        end = start + len(chunk)
        if end <= self.lost_before:
            self.counters.late_bytes += len(chunk)
        hist_start = self.next_abs - len(self.recent)
        lo = max(start, hist_start, self.lost_before)
        hi = min(end, self.next_abs)
        if lo >= hi:
            return
        old = bytes(self.recent[lo - hist_start : hi - hist_start])
        new = chunk[lo - start : hi - start]
        if old != new:
            self.sink.tcp_anomaly(
                "tcp.overlap_mismatch",
                f"{hi - lo} retransmitted byte(s) at stream offset {lo} differ from the first copy; first copy kept",
                new,
                frame,
                ts,
            )

    # -- hold queue --------------------------------------------------------------------
    def _hold(self, start: int, payload: bytes, frame: int, ts: float, missing: int) -> None:
        pend = self.pending
        if not pend:
            self.pending_since = ts
        old = pend.get(start)
        if old is not None:
            # Same start twice: keep the longer copy, compare what overlaps.
            shorter, longer = (old[0], payload) if len(old[0]) <= len(payload) else (payload, old[0])
            self.counters.retransmitted_bytes += len(shorter)
            if longer[: len(shorter)] != shorter:
                self.sink.tcp_anomaly(
                    "tcp.overlap_mismatch",
                    f"{len(shorter)} retransmitted byte(s) at stream offset {start} differ from the first copy; first copy kept",
                    payload[: len(shorter)],
                    frame,
                    ts,
                )
            if len(payload) <= len(old[0]):
                return
            self.pending_bytes -= len(old[0])
            payload = old[0] + payload[len(old[0]) :]
        pend[start] = (payload, frame, ts, missing)
        self.pending_bytes += len(payload)
        if (
            len(pend) > MAX_PENDING_SEGMENTS
            or self.pending_bytes > MAX_PENDING_BYTES
            or ts - self.pending_since > GAP_TIMEOUT
        ):
            self._declare_gap(frame, ts)

    def _drain(self, frame: int | None, ts: float | None) -> None:
        """Deliver held segments that became contiguous.  ``frame`` None: use each
        segment's own frame and time (capture end)."""
        pend = self.pending
        for start in sorted(pend):
            if start > self.next_abs:
                break
            payload, f, t, missing = pend.pop(start)
            self.pending_bytes -= len(payload)
            skip = self.next_abs - start
            if skip:
                self._retransmission(start, payload[:skip], f if frame is None else frame, t if ts is None else ts)
                if skip >= len(payload):
                    continue
                payload = payload[skip:]
            use_f = f if frame is None else frame
            use_t = t if ts is None else ts
            self._deliver(payload, use_f, use_t)
            if missing:
                self._lose(missing, use_f, use_f, use_f, use_t, "cut by the capture snap length")
        if pend:
            self.pending_since = min(v[2] for v in pend.values())

    def _declare_gap(self, frame: int | None, ts: float | None) -> None:
        """Give up on the hole before the first held segment and go on after it."""
        first = min(self.pending)
        seg_frame, seg_ts = self.pending[first][1], self.pending[first][2]
        lost = first - self.next_abs
        self._lose(
            lost,
            self.last_frame,
            seg_frame,
            seg_frame if frame is None else frame,
            seg_ts if ts is None else ts,
            "segment(s) not captured",
        )
        self._drain(frame, ts)

    def _lose(self, lost: int, after_frame: int | None, before_frame: int, frame: int, ts: float, reason: str) -> None:
        self.counters.bytes_lost += lost
        self.next_abs += lost
        self.next_mod = (self.next_mod + lost) & MASK
        self.lost_before = self.next_abs
        self.recent.clear()
        self.sink.gap(lost, after_frame, before_frame, frame, ts, reason)

    def on_ack(self, ack: int, frame: int, ts: float) -> None:
        """The peer acknowledged up to ``ack``: a hole it covers was received by the peer
        but missed by the capture.  Only called while segments are held."""
        if not self.pending:
            return
        delta = ((ack - self.next_mod + HALF) & MASK) - HALF
        if 0 < delta <= SEQ_JUMP and min(self.pending) <= self.next_abs + delta:
            self._declare_gap(frame, ts)

    # -- end ---------------------------------------------------------------------------
    def fin(self, seq: int, length: int, frame: int, ts: float) -> None:
        """A FIN at ``seq`` after ``length`` payload bytes (already given to :meth:`data`)."""
        if self.fin_abs is None and self.anchored:
            delta = ((seq - self.next_mod + HALF) & MASK) - HALF
            self.fin_abs = self.next_abs + delta + length
        self.check_finished(frame, ts)

    def check_finished(self, frame: int, ts: float) -> bool:
        """Close the sink once every byte before the FIN has been delivered."""
        if not self.finished and self.fin_abs is not None and self.next_abs >= self.fin_abs:
            self.finished = True
            self.sink.close(frame, ts)
            if self.on_finished is not None:
                self.on_finished(self)
        return self.finished

    def flush(self, frame: int | None, ts: float | None) -> None:
        """The connection is over (RST, capture end): declare any hole lost, deliver what
        is held and close the sink.  ``frame`` None: capture end (segments keep their own
        frame numbers)."""
        if self.finished:
            return
        while self.pending:
            self._declare_gap(frame, ts)
        self.finished = True
        if frame is None:
            self.sink.close(self.last_frame or 0, self.last_ts)
        else:
            self.sink.close(frame, ts)
