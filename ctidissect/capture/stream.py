"""CTI framing of a reassembled TCP byte stream, and the protocol version of a connection.

:class:`CtiStream` (one per direction) cuts the bytes :class:`~.tcp.HalfStream` delivers
into GED-188 frames by MessageLength and decodes them with the version of its
:class:`CtiConnection`.  Whatever cannot be framed becomes an anomaly record (a
:class:`~ctidissect.wire.Message` with ``type`` None) carrying the bytes concerned:

* ``stream.resync`` - bytes skipped while hunting for the next plausible header (after a
  header whose MessageLength is above the version's maximum, after a ``tcp.gap``, or at
  the start of a stream seen mid-connection);
* ``tcp.gap`` - the partial message cut by missing segments;
* ``tcp.unfinished`` - bytes left unframed when the stream ends.

**Resynchronisation.**  A position is accepted as a message start when its 8 bytes pass
:func:`ctidissect.wire.framing.plausible_header` (known MessageType, MessageLength within
the version's maximum and at least the type's fixed part) and the frame it announces is
either followed by another plausible header or ends exactly where the captured bytes end.
This is the rule of :func:`~ctidissect.wire.framing.find_resync`, with two refinements for
a live stream: a candidate whose frame is not complete yet waits for more bytes instead of
being accepted blind, and the scan jumps between positions holding two zero bytes (every
plausible MessageLength is below 65536), which keeps hunting through non-CTI bytes fast.

**Protocol version.**  The version comes from ``OPEN_REQ.VersionNumber`` when the client's
OPEN_REQ is seen (``version_source`` ``"open_req"``), for both directions.  Otherwise the
frames of the connection wait (at most :data:`HOLD_FRAMES` frames, and the engine's
``DECISION_TIMEOUT`` seconds of capture time) while each is decoded with
every candidate version (:data:`~ctidissect.catalogue.versions.KNOWN_VERSIONS` plus
``--protocol-version``); as soon as the versions that decode without warnings/errors all
share one floating format (1+1 bytes up to v19, 2+2 from v20) the connection is decided
(``"inferred"``, one ``version.inferred`` record).  If nothing tells the versions apart
(e.g. only heartbeats), the version is ``--protocol-version`` or the default
(``"assumed"``, one ``version.assumed`` record).  Among equally good versions the choice
is ``--protocol-version``, then the default, then the highest.
"""

from __future__ import annotations

import struct
from typing import Any

from ..catalogue import MESSAGES_BY_NAME
from ..catalogue.versions import (
    DEFAULT_VERSION,
    HEADER_SIZE,
    KNOWN_VERSIONS,
    MAX_MESSAGE_SIZE_WIDE,
    WIDE_FLOATING_SINCE,
    max_body_length,
)
from ..wire.anomalies import VOCABULARY
from ..wire.decode import decode_body, decode_message, simple_plans
from ..wire.fastframes import frame_clean
from ..wire.framing import plausible_header
from ..wire.records import Anomaly, Message
from .ordering import OrderedOutput, Slot
from .stats import CaptureStats

_HEADER = struct.Struct(">II")
_U32 = struct.Struct(">I")

OPEN_REQ = MESSAGES_BY_NAME["OPEN_REQ"].type
HOLD_FRAMES = 32
"""Frames of a connection held while its version is unknown; then the best guess is taken."""
MAX_SKIPPED = 64 * 1024
"""Skipped bytes gathered into one ``stream.resync`` record before it is emitted."""
MAX_UNDECIDED_BODY = MAX_MESSAGE_SIZE_WIDE - HEADER_SIZE
"""MessageLength limit while the version is unknown (the largest of all versions)."""

SOURCE_OPEN_REQ = "open_req"
SOURCE_INFERRED = "inferred"
SOURCE_ASSUMED = "assumed"

_QUIET = frozenset(code for code, entry in VOCABULARY.items() if entry.severity == "info")


def _errors(msg: Message) -> int:
    """Warnings and errors of a decode (info-level notes do not count against a version)."""
    return sum(1 for a in msg.anomalies if a.code not in _QUIET)


def _ranges(versions: list[int]) -> str:
    out = []
    start = prev = versions[0]
    for v in versions[1:]:
        if v == prev + 1:
            prev = v
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        start = prev = v
    out.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(out)


class CtiConnection:
    """Protocol-version state and identity of one CTI connection (both directions)."""

    __slots__ = (
        "name",
        "output",
        "stats",
        "user_version",
        "version",
        "version_source",
        "decided",
        "max_body",
        "held",
        "scores",
        "candidates",
        "streams",
        "midstream_reported",
    )

    def __init__(self, name: str, output: OrderedOutput, stats: CaptureStats, user_version: int | None) -> None:
        self.name = name
        self.output = output
        self.stats = stats
        self.user_version = user_version
        self.version = user_version if user_version is not None else DEFAULT_VERSION
        """Version used for decoding (once decided) and for hunting (before)."""
        self.version_source: str | None = None
        self.decided = False
        self.max_body = MAX_UNDECIDED_BODY
        self.held: list[tuple[CtiStream, bytes, int, int, float, Slot]] = []
        cands = set(KNOWN_VERSIONS)
        if user_version is not None:
            cands.add(user_version)
        self.candidates = sorted(cands)
        self.scores = dict.fromkeys(self.candidates, 0)
        self.streams: list[CtiStream] = []
        self.midstream_reported = False

    # -- version -----------------------------------------------------------------------
    def hold(self, stream: CtiStream, raw: bytes, mtype: int, frame: int, ts: float) -> None:
        """A complete frame while the version is unknown."""
        if stream.c2s and mtype == OPEN_REQ and self.open_req(raw, frame, ts):
            stream.emit_message(raw, mtype, frame, ts)
            return
        slot = self.output.slot(self)
        self.held.append((stream, raw, mtype, frame, ts, slot))
        scores = self.scores
        for v in self.candidates:
            scores[v] += _errors(decode_body(mtype, raw, v))
        best = min(scores.values())
        if best < max(scores.values()):
            good = [v for v in self.candidates if scores[v] == best]
            wide = [v >= WIDE_FLOATING_SINCE for v in good]
            if all(wide) or not any(wide):
                self._decide_from_scores(frame, ts)
                return
        if len(self.held) >= HOLD_FRAMES:
            self._decide_from_scores(frame, ts)

    def open_req(self, raw: bytes, frame: int, ts: float) -> bool:
        """Take the version from an OPEN_REQ frame (InvokeID then VersionNumber, the same
        in every version).  False when the number is not a plausible version."""
        if len(raw) < HEADER_SIZE + 8:
            return False
        (number,) = _U32.unpack_from(raw, HEADER_SIZE + 4)
        if not 1 <= number <= 255:
            return False
        self._decide(number, SOURCE_OPEN_REQ, None, frame, ts)
        return True

    def force_decision(self) -> None:
        """Decide with what has been seen (queue bound, stream end)."""
        if not self.decided:
            frame, ts = (self.held[-1][3], self.held[-1][4]) if self.held else (0, 0.0)
            self._decide_from_scores(frame, ts)

    def _decide_from_scores(self, frame: int, ts: float) -> None:
        scores = self.scores
        best = min(scores.values())
        n = len(self.held)
        if self.held and best < max(scores.values()):
            good = [v for v in self.candidates if scores[v] == best]
            version = self._prefer(good)
            fmt = "2+2" if version >= WIDE_FLOATING_SINCE else "1+1"
            detail = (
                f"no OPEN_REQ seen; {n} message(s) decode cleanly with version(s) {_ranges(good)}: "
                f"floating tag/length {fmt} bytes; using {version}"
            )
            self._decide(version, SOURCE_INFERRED, ("version.inferred", detail), frame, ts)
        else:
            version = self.user_version if self.user_version is not None else DEFAULT_VERSION
            origin = "--protocol-version" if self.user_version is not None else "the default"
            detail = f"no OPEN_REQ seen and {n} message(s) do not tell the version; using {version} ({origin})"
            self._decide(version, SOURCE_ASSUMED, ("version.assumed", detail), frame, ts)

    def _prefer(self, good: list[int]) -> int:
        if self.user_version in good:
            return self.user_version
        if DEFAULT_VERSION in good:
            return DEFAULT_VERSION
        return max(good)

    def _decide(self, version: int, source: str, note: tuple[str, str] | None, frame: int, ts: float) -> None:
        self.version = version
        self.version_source = source
        self.decided = True
        self.max_body = max_body_length(version)
        for stream in self.streams:
            stream.refresh_context()
        held, self.held = self.held, []
        if not held:
            return
        output = self.output
        saved = output.out
        try:
            for i, (stream, raw, mtype, f, t, slot) in enumerate(held):
                output.out = slot.records
                if i == 0 and note is not None:
                    # The note sits just before the first message it explains.
                    stream.emit_anomaly(note[0], note[1], b"", f, t, direction=None)
                stream.emit_message(raw, mtype, f, t)
                output.fill(slot)
        finally:
            output.out = saved

    # -- notes -------------------------------------------------------------------------
    def report_midstream(self, stream: CtiStream, frame: int, ts: float) -> None:
        if not self.midstream_reported:
            self.midstream_reported = True
            stream.emit_anomaly(
                "tcp.midstream",
                "connection seen without its beginning (no SYN captured); framing starts at the first plausible header",
                b"",
                frame,
                ts,
                direction=None,
            )


class CtiStream:
    """Frames and decodes one direction of a CTI connection (the sink of a
    :class:`~ctidissect.capture.tcp.HalfStream`)."""

    __slots__ = (
        "conn",
        "direction",
        "c2s",
        "output",
        "stats",
        "tail",
        "hunting",
        "skipped",
        "skip_frame",
        "closed",
        "fast",
    )

    def __init__(self, conn: CtiConnection, direction: str) -> None:
        self.conn = conn
        self.direction = direction
        self.c2s = direction == "c2s"
        self.output = conn.output
        self.stats = conn.stats
        self.tail = b""  # bytes of an unfinished frame (or, hunting, of a waiting candidate)
        self.hunting = False
        self.skipped = bytearray()
        self.skip_frame = 0
        self.closed = False
        self.fast: tuple | None = None
        """The context of the C accelerator's ``frame_clean`` once the version is decided
        (None: accelerator unavailable, or version still unknown)."""
        conn.streams.append(self)
        self.refresh_context()

    def refresh_context(self) -> None:
        """Recompute :attr:`fast` (after a version decision)."""
        conn = self.conn
        if frame_clean is None or not conn.decided:
            self.fast = None
        else:
            self.fast = (
                conn.version,
                conn.max_body,
                simple_plans(conn.version),
                conn.name,
                self.direction,
                conn.version_source,
                self.c2s,  # an OPEN_REQ from the client may change the version: Python takes it
            )

    # -- records -----------------------------------------------------------------------
    def emit_message(self, raw: bytes, mtype: int, frame: int, ts: float) -> None:
        conn = self.conn
        msg = decode_message(mtype, raw, conn.version, frame, ts, conn.name, self.direction, {"version_source": conn.version_source})
        stats = self.stats
        stats.messages += 1
        stats.bytes_decoded += len(raw)
        if msg.anomalies:
            for a in msg.anomalies:
                a.frame = frame
                stats.anomalies[a.code] += 1
        self.output.out.append(msg)

    def emit_anomaly(
        self,
        code: str,
        detail: str,
        raw: bytes,
        frame: int,
        ts: float,
        extra: dict[str, Any] | None = None,
        direction: str | None = "",
    ) -> None:
        conn = self.conn
        rec = Message(
            None,
            None,
            {},
            [],
            [Anomaly(code, detail, None, frame)],
            bytes(raw),
            conn.version,
            frame,
            ts,
            conn.name,
            self.direction if direction == "" else direction,
            {"version_source": conn.version_source, **(extra or {})},
        )
        stats = self.stats
        stats.anomaly_records += 1
        stats.bytes_in_anomalies += len(raw)
        stats.anomalies[code] += 1
        self.output.out.append(rec)

    # -- sink interface ----------------------------------------------------------------
    def begin(self, midstream: bool, frame: int, ts: float) -> None:
        """The stream starts: at its first byte (SYN seen) or mid-connection."""
        if midstream:
            self.hunting = True
            self.skip_frame = frame
            self.conn.report_midstream(self, frame, ts)

    def push(self, data: bytes, frame: int, ts: float) -> None:
        """In-order stream bytes that arrived in packet ``frame`` at ``ts``."""
        if self.tail:
            data = self.tail + data
            self.tail = b""
        if self.hunting or not self.conn.decided:
            self._push_slow(data, 0, frame, ts)
            return
        fast = self.fast
        if fast is not None:
            # The C accelerator takes the clean messages; what it leaves (an incomplete
            # frame aside) goes through _frames.
            pos, count, need_more = frame_clean(data, 0, fast, frame, ts, self.output.out)
            if count:
                stats = self.stats
                stats.messages += count
                stats.bytes_decoded += pos
            if need_more:
                if pos < len(data):
                    self.tail = data[pos:] if pos else data
                return
        else:
            pos = 0
        self._push_rest(data, pos, frame, ts)

    def _push_rest(self, data: bytes, pos: int, frame: int, ts: float) -> None:
        """:meth:`push` from ``pos``, where the accelerator stopped at a message it leaves
        to Python (also called by the C packet loop)."""
        pos = self._frames(data, pos, frame, ts)
        if self.hunting:
            self._push_slow(data, pos, frame, ts)
        elif pos < len(data):
            self.tail = data[pos:] if pos else data

    def _push_slow(self, data: bytes, pos: int, frame: int, ts: float) -> None:
        """:meth:`push` while hunting for a message start or waiting for the version."""
        while True:
            if self.hunting:
                pos = self._hunt(data, pos, frame, ts)
                if self.hunting:
                    return
            pos = self._frames(data, pos, frame, ts)
            if not self.hunting:
                break
        if pos < len(data):
            self.tail = data[pos:] if pos else data

    def _frames(self, data: bytes, pos: int, frame: int, ts: float) -> int:
        """Frame and decode from ``pos``; returns where it stopped (an incomplete frame,
        or an implausible header, after which :attr:`hunting` is set)."""
        conn = self.conn
        n = len(data)
        unpack = _HEADER.unpack_from
        if not conn.decided:
            while n - pos >= 8:
                length, mtype = unpack(data, pos)
                if length > MAX_UNDECIDED_BODY:
                    self._start_hunting(frame)
                    return pos
                end = pos + 8 + length
                if end > n:
                    return pos
                conn.hold(self, data[pos:end], mtype, frame, ts)
                pos = end
                if conn.decided:
                    return self._frames(data, pos, frame, ts)
            return pos
        version = conn.version
        maxlen = conn.max_body
        name = conn.name
        direction = self.direction
        source = conn.version_source
        decode = decode_message
        out = self.output.out
        append = out.append
        stats = self.stats
        fast = self.fast
        start = pos
        count = 0
        while n - pos >= 8:
            length, mtype = unpack(data, pos)
            if length > maxlen:
                self._start_hunting(frame)
                break
            end = pos + 8 + length
            if end > n:
                break
            if mtype == OPEN_REQ and self.c2s and conn.open_req(data[pos:end], frame, ts):
                # A new OPEN_REQ on a decided connection sets the version from here on.
                version = conn.version
                maxlen = conn.max_body
                source = conn.version_source
                fast = self.fast
            msg = decode(mtype, data[pos:end], version, frame, ts, name, direction, {"version_source": source})
            if msg.anomalies:
                for a in msg.anomalies:
                    a.frame = frame
                    stats.anomalies[a.code] += 1
            append(msg)
            count += 1
            pos = end
            if fast is not None:
                # The C accelerator takes the clean messages that follow; it stops at the
                # next one it leaves to Python (its caller, push, already ran it up to the
                # message this loop started with).
                pos, clean, need_more = frame_clean(data, pos, fast, frame, ts, out)
                count += clean
                if need_more:
                    break
        stats.messages += count
        stats.bytes_decoded += pos - start
        return pos

    def _start_hunting(self, frame: int) -> None:
        self.hunting = True
        self.skip_frame = frame

    def _hunt(self, data: bytes, pos: int, frame: int, ts: float) -> int:
        """Look for the next message start from ``pos``.  On success clears
        :attr:`hunting` and returns its offset; otherwise keeps what may still start a
        message in :attr:`tail` and returns ``len(data)``."""
        n = len(data)
        version = self.conn.version
        unpack = _HEADER.unpack_from
        p = pos
        while True:
            p = data.find(b"\0\0", p)
            if p < 0 or p + 8 > n:
                # No full candidate header: keep the last 7 bytes, a header may start there.
                keep = max(pos, n - 7)
                self._skip(data[pos:keep], frame, ts)
                self.tail = data[keep:]
                return n
            if data[p + 4] == 0 and data[p + 5] == 0:
                length, mtype = unpack(data, p)
                if plausible_header(length, mtype, version):
                    nxt = p + 8 + length
                    if nxt == n:
                        break
                    if nxt + 8 <= n:
                        l2, t2 = unpack(data, nxt)
                        if plausible_header(l2, t2, version):
                            break
                    else:
                        # The candidate (or the header after it) is not all here yet: wait.
                        self._skip(data[pos:p], frame, ts)
                        self.tail = data[p:]
                        return n
            p += 1
        self._skip(data[pos:p], frame, ts)
        self._flush_skipped(frame, ts)
        self.hunting = False
        return p

    def _skip(self, chunk: bytes, frame: int, ts: float) -> None:
        if chunk:
            if not self.skipped:
                self.skip_frame = frame
            self.skipped += chunk
            if len(self.skipped) >= MAX_SKIPPED:
                self._flush_skipped(frame, ts)

    def _flush_skipped(self, frame: int, ts: float, why: str = "before the next plausible message header") -> None:
        if self.skipped:
            n = len(self.skipped)
            first = self.skip_frame
            where = f"frame {first}" if first == frame else f"frames {first}-{frame}"
            self.emit_anomaly("stream.resync", f"{n} byte(s) skipped {why} ({where})", bytes(self.skipped), frame, ts)
            self.skipped = bytearray()

    def gap(self, lost: int, after_frame: int | None, before_frame: int, frame: int, ts: float, reason: str) -> None:
        """``lost`` stream bytes were never captured: report them with the partial message
        they cut, then hunt for the next message start."""
        self._flush_skipped(frame, ts)
        partial, self.tail = self.tail, b""
        after = f"frame {after_frame}" if after_frame is not None else "the stream start"
        detail = f"{lost} byte(s) missing ({reason}) between {after} and frame {before_frame}"
        if partial:
            detail += f"; {len(partial)} byte(s) of a message cut by the gap kept raw"
        self.emit_anomaly(
            "tcp.gap",
            detail,
            partial,
            frame,
            ts,
            {"bytes_lost": lost, "after_frame": after_frame, "before_frame": before_frame},
        )
        self.hunting = True
        self.skip_frame = frame

    def tcp_anomaly(self, code: str, detail: str, raw: bytes, frame: int, ts: float) -> None:
        self.emit_anomaly(code, detail, raw, frame, ts)

    def close(self, frame: int, ts: float) -> None:
        """The direction ended (FIN, RST, new connection, capture end)."""
        if self.closed:
            return
        self.closed = True
        if not self.conn.decided:
            self.conn.force_decision()
        self._flush_skipped(frame, ts, "while no plausible message header followed")
        if self.tail:
            tail, self.tail = self.tail, b""
            self.emit_anomaly(
                "tcp.unfinished", f"{len(tail)} byte(s) left unframed when the stream ended", tail, frame, ts
            )
