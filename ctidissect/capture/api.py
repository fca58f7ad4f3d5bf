"""Public API of the capture layer: :func:`read_capture`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from itertools import chain

from ..wire.records import Message
from .engine import DEFAULT_PORTS, CaptureDecoder
from .pcapfile import CaptureFile, open_capture
from .records import ConnectionEvent
from .stats import CaptureStats


def read_capture(
    path: str | os.PathLike[str],
    ports: Iterable[int] = DEFAULT_PORTS,
    version: int | None = None,
    detect: bool = False,
    connection_events: bool = False,
    stats: CaptureStats | None = None,
) -> Iterator[Message | ConnectionEvent]:
    """Decode every CTI message of a pcap or pcapng file, streaming.

    Yields :class:`~ctidissect.wire.Message` records in the order they became complete
    in the capture, each with ``frame`` (1-based number of the packet that completed it),
    ``ts`` (epoch seconds), ``conn`` (``client_ip:port-server_ip:port``), ``direction``
    (``c2s``/``s2c``), ``version`` (protocol version used) and
    ``extra["version_source"]`` (``open_req``, ``inferred`` or ``assumed``).  Records with
    ``type`` None are anomalies (``tcp.gap``, ``stream.resync``, ``capture.truncated``, ...)
    carrying the bytes concerned in ``raw``.  With ``connection_events`` the
    :class:`~ctidissect.capture.records.ConnectionEvent` records (open, fin, rst, replaced,
    capture_end) are yielded too.

    ``ports``: CTI server ports (the side using one is the server).  ``version``: protocol
    version for connections whose OPEN_REQ is not in the capture and whose bytes do not
    tell (default 24).  ``detect``: also look for CTI on other ports.  ``stats``: a
    :class:`CaptureStats` filled while iterating (complete once the iterator is exhausted).

    Raises :class:`~ctidissect.capture.pcapfile.CaptureFormatError` if the file is not a
    capture (empty, wrong magic) and ``OSError`` if it cannot be read - both before the
    first record.  Memory stays bounded by the open connections, not by the file size.
    """
    capture = open_capture(path)
    return _records(capture, CaptureDecoder(ports, version, detect, connection_events, stats))


def _records(capture: CaptureFile, decoder: CaptureDecoder) -> Iterator[Message | ConnectionEvent]:
    stats = decoder.stats
    try:
        if decoder.can_walk(capture):
            yield from decoder.decode_file(capture)  # sets stats.first_ts
        else:
            frames = capture.frames()
            first = next(frames, None)
            if first is not None:
                stats.first_ts = first[0]
                yield from decoder.decode_frames(chain((first,), frames))
        frame = decoder.last_frame
        stats.packets = frame
        if capture.problem is not None:
            yield from decoder.capture_problem(capture.problem, capture.problem_raw)
        yield from decoder.finish()
        stats.last_ts = decoder.last_ts if frame else None
    finally:
        capture.close()

