"""The timed agenda shared by the sans-IO server and the scripted clients, and the actions
they hand to a driver (real sockets or the discrete-event engine).

Times are *protocol seconds*: virtual seconds in the discrete-event engine, real seconds
divided by the time scale over real sockets.  Nothing here reads a clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Send:
    """Write ``data`` (whole or partial CTI frames) on connection ``conn``."""

    conn: int
    data: bytes


@dataclass(slots=True)
class Close:
    """Close connection ``conn``: a FIN after pending data, or a reset when ``abort``."""

    conn: int
    abort: bool = False


@dataclass(slots=True)
class Connect:
    """(clients only) Open a TCP connection to side ``side`` ("A" or "B") of the server."""

    side: str


Action = Send | Close | Connect


class Agenda:
    """A heap of timed items run in (time, insertion order): either callbacks, run when due,
    or actions, handed to the driver when due.  Ties keep insertion order, which is what
    keeps per-connection byte order and whole runs deterministic."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, bool, Any]] = []
        self._seq = 0

    def call_at(self, at: float, callback: Callable[[float], None]) -> None:
        """Run ``callback(at)`` when protocol time reaches ``at`` seconds."""
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, True, callback))

    def emit_at(self, at: float, action: Action) -> None:
        """Hand ``action`` to the driver when protocol time reaches ``at`` seconds."""
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, False, action))

    def next_time(self) -> float | None:
        """Protocol time of the earliest pending item, None when empty."""
        return self._heap[0][0] if self._heap else None

    def collect(self, now: float) -> list[Action]:
        """Run the callbacks and gather the actions due at or before ``now`` (seconds), in
        order.  Callbacks may schedule more items; those due by ``now`` are run too."""
        out: list[Action] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _seq, is_callback, item = heapq.heappop(heap)
            if is_callback:
                item(at)
            else:
                out.append(item)
        return out

    def clear(self) -> None:
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)
