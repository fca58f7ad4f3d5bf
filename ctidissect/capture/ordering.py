"""Keeping records in capture order while some of them wait for a decision.

Records normally leave as soon as the packet that completed them has been processed.  Two
decisions may need later packets: the protocol version of a connection seen mid-stream
(frames wait until their bytes tell the floating format), and, with ``--detect``, whether a
flow on an unknown port is CTI at all.  Each waiting item takes a :class:`Slot` at its place
in the output; the slot is filled when the decision is made, and nothing behind an unready
slot leaves before it.  Waiting is bounded: :data:`MAX_QUEUED` queued items force the
decision of the oldest slot's owner.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

MAX_QUEUED = 100_000
"""Items (records or slots) waiting behind an unready slot before its owner is forced to
decide."""


class SlotOwner(Protocol):
    def force_decision(self) -> None:
        """Decide now with what has been seen (fills every slot the owner holds)."""


class Slot:
    """A place in the output for records not known yet."""

    __slots__ = ("records", "ready", "owner")

    def __init__(self, owner: SlotOwner) -> None:
        self.records: list[Any] = []
        self.ready = False
        self.owner = owner


class OrderedOutput:
    """Collects the records of each packet (:attr:`out`) and releases them in order."""

    __slots__ = ("out", "queue", "unready", "slotted")

    def __init__(self) -> None:
        self.out: list[Any] = []
        """Records (and slots) produced by the packet being processed."""
        self.queue: deque[Any] = deque()
        self.unready = 0
        self.slotted = False  # a slot was reserved since the last take()

    def slot(self, owner: SlotOwner) -> Slot:
        """Reserve a place at the current position of the output."""
        s = Slot(owner)
        self.out.append(s)
        self.unready += 1
        self.slotted = True
        return s

    def fill(self, slot: Slot) -> None:
        """Mark ``slot`` ready (its records are final)."""
        if not slot.ready:
            slot.ready = True
            self.unready -= 1

    def take(self) -> list[Any]:
        """Records ready to leave, in order (called after each packet)."""
        out = self.out
        if not self.unready and not self.queue and not self.slotted:
            if not out:
                return out
            self.out = []
            return out
        self.slotted = False
        queue = self.queue
        queue.extend(out)
        out.clear()
        ready: list[Any] = []
        while queue:
            item = queue[0]
            if type(item) is Slot:
                if not item.ready:
                    if len(queue) <= MAX_QUEUED:
                        break
                    item.owner.force_decision()
                    continue
                queue.popleft()
                queue.extendleft(reversed(item.records))
            else:
                ready.append(queue.popleft())
        return ready

    def drain_all(self) -> list[Any]:
        """Everything left (at capture end every slot must be ready)."""
        out = self.take()
        while self.queue:
            item = self.queue[0]
            if type(item) is Slot and not item.ready:
                item.owner.force_decision()
            out.extend(self.take())
        return out
