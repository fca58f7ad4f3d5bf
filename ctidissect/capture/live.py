"""Live capture through scapy, decoded by the same engine as capture files.

scapy's ``AsyncSniffer(iface=..., prn=..., store=False)`` runs in a background thread and
hands each frame's raw bytes to a queue; the calling thread feeds them to a
:class:`~ctidissect.capture.engine.CaptureDecoder` and yields records as they complete.

* On Linux, scapy's native AF_PACKET sockets deliver every loopback frame twice (the
  outgoing and the incoming copy).  Exact duplicates of a frame seen within
  :data:`DUPLICATE_WINDOW` frames and :data:`DUPLICATE_SECONDS` are dropped before
  decoding (and before ``write``); TCP retransmissions differ in their timestamps or
  checksums and survive, and the reassembler handles them anyway.
* A BPF filter (``tcp port P or ...``) is used when libpcap can compile it; otherwise
  frames are filtered in Python by the engine (non-CTI frames cost a header parse).
* ``write`` saves the (de-duplicated) frames to a pcap file as they arrive.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from ..wire.records import Message
from .engine import DEFAULT_PORTS, CaptureDecoder
from .pcapfile import PcapWriter
from .records import ConnectionEvent
from .stats import CaptureStats

DUPLICATE_WINDOW = 64
"""Recent frames compared with each new one to drop loopback double deliveries."""
DUPLICATE_SECONDS = 0.5
"""A copy arriving later than this (seconds) is not a double delivery."""


class LiveCaptureError(Exception):
    """Live capture cannot start (not root, no such interface, scapy missing)."""


def check_live_capture(iface: str) -> None:
    """Raise :class:`LiveCaptureError` with a one-line reason when capturing on ``iface``
    cannot work."""
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise LiveCaptureError("live capture needs root (or CAP_NET_RAW): run as root or use a capture file")
    try:
        import scapy.sendrecv  # noqa: F401 - scapy does the capturing
    except ImportError as exc:  # pragma: no cover - scapy is a dependency
        raise LiveCaptureError(f"scapy is needed for live capture ({exc})") from None
    # The kernel's list (scapy's own list can come back empty in containers).
    names = [name for _index, name in socket.if_nameindex()]
    if iface not in names:
        raise LiveCaptureError(f"no such interface: {iface!r} (available: {', '.join(sorted(names))})")


def bpf_filter(ports: Iterable[int], detect: bool) -> str | None:
    """The BPF expression for ``ports`` (None with ``detect``: every TCP flow matters)."""
    if detect:
        return "tcp"
    return " or ".join(f"tcp port {int(p)}" for p in sorted(set(ports)))


def _compilable(expr: str, iface: str) -> bool:
    """Whether libpcap is there to compile ``expr`` (else frames are filtered in Python)."""
    try:
        from scapy.arch.common import compile_filter

        compile_filter(expr, iface=iface)
    except (ImportError, OSError) as exc:
        logging.getLogger(__name__).info("BPF filter unavailable (%s); filtering in Python", exc)
        return False
    return True


class LiveCapture:
    """A running live capture.  Iterate it for records; it ends after ``count`` messages
    or ``timeout`` seconds (then the final records are included).  After an interruption
    (Ctrl-C), call :meth:`finish` for the records still held and the final counts."""

    def __init__(
        self,
        iface: str,
        ports: Iterable[int] = DEFAULT_PORTS,
        version: int | None = None,
        detect: bool = False,
        connection_events: bool = False,
        stats: CaptureStats | None = None,
        count: int | None = None,
        timeout: float | None = None,
        write: str | os.PathLike[str] | None = None,
        check: bool = True,
    ) -> None:
        if check:
            check_live_capture(iface)
        self.iface = iface
        self.ports = tuple(ports)
        self.decoder = CaptureDecoder(self.ports, version, detect, connection_events, stats)
        self.stats = self.decoder.stats
        self.count = count
        self.timeout = timeout
        self.write_path = write
        self.writer: PcapWriter | None = None
        self.frames: queue.Queue[tuple[float, int, bytes]] = queue.Queue()
        self.started = threading.Event()
        self.frame = 0
        self.duplicates = 0
        self._recent: deque[tuple[bytes, float]] = deque(maxlen=DUPLICATE_WINDOW)
        self._finished = False
        self._sniffer: Any = None
        expr = bpf_filter(self.ports, detect)
        self._filter = expr if expr and _compilable(expr, iface) else None

    # -- sniffer thread ----------------------------------------------------------------
    def start(self) -> None:
        """Start sniffing (done by the first iteration if not called before); returns once
        the socket is open."""
        if self._sniffer is not None:
            return
        from scapy.config import conf
        from scapy.sendrecv import AsyncSniffer

        layer2num = conf.l2types.layer2num

        def on_frame(pkt: Any) -> None:
            raw = getattr(pkt, "original", None) or bytes(pkt)
            self.frames.put((float(pkt.time), layer2num.get(type(pkt), 1), raw))

        kwargs: dict[str, Any] = {"iface": self.iface, "prn": on_frame, "store": False}
        if self._filter:
            kwargs["filter"] = self._filter
        self._sniffer = AsyncSniffer(started_callback=self.started.set, **kwargs)
        self._sniffer.start()
        deadline = time.monotonic() + 10.0
        while not self.started.wait(0.05):
            if self._sniffer.exception is not None:
                raise LiveCaptureError(f"cannot capture on {self.iface}: {self._sniffer.exception}")
            if time.monotonic() > deadline:
                raise LiveCaptureError(f"capture on {self.iface} did not start within 10 s")

    def _stop_sniffer(self) -> None:
        sniffer = self._sniffer
        if sniffer is not None and sniffer.running:
            sniffer.stop(join=True)

    # -- decoding ----------------------------------------------------------------------
    def __iter__(self) -> Iterator[Message | ConnectionEvent]:
        self.start()
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            wait = 0.2
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    break
            try:
                ts, linktype, data = self.frames.get(timeout=wait)
            except queue.Empty:
                exc = self._sniffer.exception
                if exc is not None:
                    raise LiveCaptureError(f"capture on {self.iface} failed: {exc}") from None
                continue
            yield from self._feed(ts, linktype, data)
            if self.count is not None and self.stats.messages >= self.count:
                break
        yield from self.finish()

    def _feed(self, ts: float, linktype: int, data: bytes) -> list[Any]:
        recent = self._recent
        for old, old_ts in recent:
            if old == data and ts - old_ts <= DUPLICATE_SECONDS:
                self.duplicates += 1
                return []
        recent.append((data, ts))
        self.frame += 1
        if self.frame == 1:
            self.stats.first_ts = ts
        if self.write_path is not None:
            if self.writer is None:
                self.writer = PcapWriter(self.write_path, linktype)
            self.writer.write(ts, data)
            if self.frame % 64 == 0:
                self.writer.flush()
        self.stats.packets = self.frame
        return self.decoder.feed(self.frame, ts, linktype, data)

    def finish(self) -> list[Message | ConnectionEvent]:
        """Stop sniffing, decode the frames already queued, flush every connection and
        return the last records (idempotent)."""
        if self._finished:
            return []
        self._finished = True
        self._stop_sniffer()
        out: list[Any] = []
        while True:
            try:
                ts, linktype, data = self.frames.get_nowait()
            except queue.Empty:
                break
            if self.count is not None and self.stats.messages >= self.count:
                continue
            out.extend(self._feed(ts, linktype, data))
        out.extend(self.decoder.finish())
        self.stats.packets = self.frame
        self.stats.last_ts = self.decoder.last_ts if self.frame else None
        if self.writer is not None:
            self.writer.close()
        return out


def live_capture(
    iface: str,
    ports: Iterable[int] = DEFAULT_PORTS,
    version: int | None = None,
    detect: bool = False,
    connection_events: bool = False,
    stats: CaptureStats | None = None,
    count: int | None = None,
    timeout: float | None = None,
    write: str | os.PathLike[str] | None = None,
) -> LiveCapture:
    """Capture on interface ``iface`` and decode CTI as it arrives (same records and
    options as :func:`ctidissect.capture.read_capture`).  ``count``: stop after that many
    messages; ``timeout``: stop after that many seconds; ``write``: also save the frames
    to this pcap file.  Needs root (or CAP_NET_RAW); raises :class:`LiveCaptureError`
    with a one-line reason otherwise."""
    return LiveCapture(iface, ports, version, detect, connection_events, stats, count, timeout, write)
