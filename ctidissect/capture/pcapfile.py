"""Streaming readers for pcap and pcapng files, written with plain ``struct``.

The file is memory-mapped and walked record by record: nothing but the current record is
copied, so memory stays flat whatever the file size (a multi-GB capture is fine).  Frames
come out as ``(ts, linktype, data)`` tuples - ``ts`` in epoch seconds (float), ``linktype``
the LINKTYPE_* number of the interface, ``data`` the captured bytes - in file order, so the
n-th tuple is Wireshark's frame n.

A file that is not a capture (empty, wrong magic, garbage) raises :class:`CaptureFormatError`
before any frame is produced.  A problem *inside* a valid capture (the last record cut
short, a corrupt record header) ends the walk and is kept in :attr:`CaptureFile.problem`
as an :class:`~ctidissect.wire.Anomaly` (``capture.truncated`` / ``capture.bad_record``)
with the bytes concerned in :attr:`CaptureFile.problem_raw`: every frame before it is
still delivered.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO

from ..wire.records import Anomaly

PCAP_MAGIC_US = 0xA1B2C3D4  # microsecond timestamps
PCAP_MAGIC_NS = 0xA1B23C4D  # nanosecond timestamps
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER = 0x1A2B3C4D

# pcapng block types that carry packets; others are skipped.
_IDB, _PB, _SPB, _EPB = 1, 2, 3, 6
_NG_BLOCK = {e: struct.Struct(e + "II") for e in "<>"}
_PCAP_RECORD = {e: struct.Struct(e + "IIII") for e in "<>"}
_NG_EPB = {e: struct.Struct(e + "IIIII") for e in "<>"}

MAX_RECORD = 256 * 1024 * 1024
"""A captured length above this (bytes) is taken as a corrupt record header (Wireshark's
own limit for a single record is 256 MiB)."""

Frame = tuple[float, int, bytes]
"""``(ts epoch seconds, linktype, captured bytes)``."""

RELEASE_EVERY = 8 * 1024 * 1024
"""Bytes of the mapped file walked between two releases of the pages already read: mapped
file pages count in the resident set, so without this the RSS would grow with the file."""


class CaptureFormatError(Exception):
    """The file is not a pcap/pcapng capture (empty, wrong magic, garbage header)."""


class CaptureFile:
    """An open pcap or pcapng file.  Iterate :meth:`frames` once; then read
    :attr:`problem` to learn whether the walk stopped early."""

    format: str
    """``"pcap"`` or ``"pcapng"``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.problem: Anomaly | None = None
        self.problem_raw: bytes = b""
        self.frames_read = 0
        self._released = 0  # file offset below which mapped pages were released
        self._file: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        try:
            size = os.fstat(self._file.fileno()).st_size
            if size == 0:
                raise CaptureFormatError(f"{self.path}: empty file, not a pcap/pcapng capture")
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            self._size = size
            head = self._map[:4]
            if len(head) < 4:
                raise CaptureFormatError(f"{self.path}: {size}-byte file is too short for a capture header")
            (magic_le,) = struct.unpack("<I", head)
            (magic_be,) = struct.unpack(">I", head)
            if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) or magic_be in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
                self.format = "pcap"
                self._open_pcap(magic_le, magic_be)
            elif magic_le == PCAPNG_SHB:
                self.format = "pcapng"
                self._open_pcapng()
            else:
                raise CaptureFormatError(
                    f"{self.path}: not a pcap/pcapng capture (magic {head.hex()})"
                )
        except BaseException:
            self.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        m = getattr(self, "_map", None)
        if m is not None:
            m.close()
            self._map = None
        self._file.close()

    def __enter__(self) -> CaptureFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- pcap --------------------------------------------------------------------------
    def _open_pcap(self, magic_le: int, magic_be: int) -> None:
        if self._size < 24:
            raise CaptureFormatError(f"{self.path}: pcap global header cut short ({self._size} bytes)")
        self._endian = "<" if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
        magic = magic_le if self._endian == "<" else magic_be
        self._ts_scale = 1e-9 if magic == PCAP_MAGIC_NS else 1e-6
        major, _minor, _zone, _sigfigs, snaplen, network = struct.unpack_from(self._endian + "HHiIII", self._map, 4)
        if major != 2:
            raise CaptureFormatError(f"{self.path}: pcap major version {major} is not 2")
        # The upper 16 bits of ``network`` may hold FCS information (LINKTYPE_ registry).
        self.linktype = network & 0xFFFF
        self.snaplen = snaplen

    def mapped(self) -> tuple[mmap.mmap, int]:
        """``(mapped file, size in bytes)`` (for the C packet loop)."""
        return self._map, self._size

    @property
    def big_endian(self) -> bool:
        """Byte order of the pcap file, or of the current pcapng section."""
        return self._endian == ">"

    @property
    def ts_scale(self) -> float:
        """Seconds per unit of a classic pcap record's fractional timestamp."""
        return self._ts_scale

    def pcap_record(self, pos: int, n: int) -> tuple[Frame, int] | None:
        """Read the classic pcap record at file offset ``pos`` (``n`` frames read before it):
        ``(its frame, offset of the next record)``, or None when the walk must stop there
        (:attr:`problem` says why; nothing when ``pos`` is the end of the file)."""
        m = self._map
        size = self._size
        if pos >= size:
            return None
        if pos + 16 > size:
            self._stop("capture.truncated", f"record header cut short ({size - pos} of 16 bytes)", n + 1, m[pos:size])
            return None
        sec, frac, caplen, _wirelen = _PCAP_RECORD[self._endian].unpack_from(m, pos)
        if caplen > MAX_RECORD:
            self._stop("capture.bad_record", f"record claims {caplen} captured bytes at file offset {pos}", n + 1, m[pos : pos + 16])
            return None
        start = pos + 16
        end = start + caplen
        if end > size:
            self._stop("capture.truncated", f"record data cut short ({size - start} of {caplen} bytes)", n + 1, m[start:size])
            return None
        return (sec + frac * self._ts_scale, self.linktype, m[start:end]), end

    def release_before(self, pos: int) -> None:
        """Drop the mapped pages before file offset ``pos`` from the resident set."""
        self._release(pos)

    # -- pcapng ------------------------------------------------------------------------
    def _open_pcapng(self) -> None:
        if self._size < 28:
            raise CaptureFormatError(f"{self.path}: pcapng section header cut short ({self._size} bytes)")
        (bom,) = struct.unpack_from("<I", self._map, 8)
        if bom == PCAPNG_BYTE_ORDER:
            self._endian = "<"
        elif bom == 0x4D3C2B1A:
            self._endian = ">"
        else:
            raise CaptureFormatError(f"{self.path}: pcapng section header has a bad byte-order magic")
        self.linktype = None
        self.interfaces: list[tuple[int, int, int]] = []
        """Interfaces of the current pcapng section: ``(linktype, timestamp units per
        second, offset seconds)`` by interface id."""

    def pcapng_block(self, pos: int, n: int) -> tuple[Frame | None, int] | None:
        """Read the pcapng block at file offset ``pos`` (``n`` frames read before it):
        ``(its frame, or None for a block without one; offset of the next block)``, or
        None when the walk must stop there (:attr:`problem` says why).  Section headers
        and interface descriptions update the reader's state
        (:attr:`interfaces`)."""
        m = self._map
        size = self._size
        if pos + 12 > size:
            self._stop("capture.truncated", f"block header cut short ({size - pos} bytes)", n + 1, m[pos:size])
            return None
        endian = self._endian
        btype, blen = _NG_BLOCK[endian].unpack_from(m, pos)
        if btype == PCAPNG_SHB:
            # A new section may switch byte order, and starts with no interfaces.
            (bom,) = struct.unpack_from("<I", m, pos + 8)
            endian = "<" if bom == PCAPNG_BYTE_ORDER else ">" if bom == 0x4D3C2B1A else ""
            if not endian:
                self._stop("capture.bad_record", f"section header with bad byte order at offset {pos}", n + 1, m[pos : pos + 12])
                return None
            self._endian = endian
            btype, blen = _NG_BLOCK[endian].unpack_from(m, pos)
            self.interfaces = []
        if blen < 12 or blen % 4 or blen > MAX_RECORD:
            self._stop("capture.bad_record", f"block type {btype:#x} has length {blen} at file offset {pos}", n + 1, m[pos : pos + 8])
            return None
        end = pos + blen
        if end > size:
            self._stop(
                "capture.truncated",
                f"block type {btype:#x} cut short ({size - pos} of {blen} bytes)",
                n + 1,
                m[pos:size],
            )
            return None
        ifaces = self.interfaces
        if btype == _EPB:
            if blen < 32:
                self._stop("capture.bad_record", f"enhanced packet block of {blen} bytes at offset {pos}", n + 1, m[pos:end])
                return None
            iface, ts_hi, ts_lo, caplen, _wirelen = _NG_EPB[endian].unpack_from(m, pos + 8)
            if iface >= len(ifaces) or 28 + caplen > blen - 4:
                self._stop(
                    "capture.bad_record",
                    f"enhanced packet block at offset {pos}: interface {iface} of {len(ifaces)}, "
                    f"{caplen} captured bytes in a {blen}-byte block",
                    n + 1,
                    m[pos:end],
                )
                return None
            linktype, per_sec, offset = ifaces[iface]
            sec, frac = divmod((ts_hi << 32) | ts_lo, per_sec)
            return (sec + offset + frac / per_sec, linktype, m[pos + 28 : pos + 28 + caplen]), end
        if btype == _SPB:
            if not ifaces:
                self._stop("capture.bad_record", f"simple packet block before any interface at offset {pos}", n + 1, m[pos:end])
                return None
            (wirelen,) = struct.unpack_from(endian + "I", m, pos + 8)
            caplen = min(wirelen, blen - 16)
            # Simple packet blocks carry no timestamp: 0.0 is reported.
            return (0.0, ifaces[0][0], m[pos + 12 : pos + 12 + caplen]), end
        if btype == _IDB:
            linktype, _res, _snap = struct.unpack_from(endian + "HHI", m, pos + 8)
            per_sec, offset = _idb_options(m, pos + 16, end - 4, endian)
            ifaces.append((linktype, per_sec, offset))
        elif btype == _PB:
            iface, _drops, ts_hi, ts_lo, caplen, _wirelen = struct.unpack_from(endian + "HHIIII", m, pos + 8)
            if iface >= len(ifaces) or 28 + caplen > blen - 4:
                self._stop("capture.bad_record", f"packet block at offset {pos} is inconsistent", n + 1, m[pos:end])
                return None
            linktype, per_sec, offset = ifaces[iface]
            sec, frac = divmod((ts_hi << 32) | ts_lo, per_sec)
            return (sec + offset + frac / per_sec, linktype, m[pos + 28 : pos + 28 + caplen]), end
        return None, end

    # -- common ------------------------------------------------------------------------
    def frames(self, pos: int | None = None, n: int = 0) -> Iterator[Frame]:
        """Every frame of the file in order, as ``(ts, linktype, data)``; or from the record
        or block at file offset ``pos``, ``n`` frames having been read before it (a pcapng
        walk resumes with the section state the reader has)."""
        if self.format == "pcap":
            return self._walk(self.pcap_record, 24 if pos is None else pos, n)
        return self._walk(self.pcapng_block, 0 if pos is None else pos, n)

    def _walk(self, read: Callable[[int, int], tuple[Frame | None, int] | None], pos: int, n: int) -> Iterator[Frame]:
        """Frames read with ``read`` (:meth:`pcap_record` or :meth:`pcapng_block`) from file
        offset ``pos`` on, ``n`` frames having been read before it."""
        size = self._size
        release_at = pos + RELEASE_EVERY
        while pos < size:
            if pos >= release_at:
                self._release(pos)
                release_at = pos + RELEASE_EVERY
            step = read(pos, n)
            if step is None:
                return
            frame, pos = step
            if frame is not None:
                n += 1
                self.frames_read = n
                yield frame

    def _release(self, upto: int) -> None:
        """Drop the mapped pages before ``upto`` from the resident set (they stay in the
        page cache; the records handed out are copies)."""
        start = self._released
        end = upto - upto % mmap.PAGESIZE
        if end > start and hasattr(self._map, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED, start, end - start)
            self._released = end

    def _stop(self, code: str, detail: str, frame: int, raw: bytes) -> None:
        self.problem = Anomaly(code, detail, None, frame)
        self.problem_raw = bytes(raw)


def _idb_options(m: mmap.mmap, pos: int, end: int, endian: str) -> tuple[int, int]:
    """Timestamp units per second and offset (seconds) from an interface description
    block's options: ``if_tsresol`` (code 9) and ``if_tsoffset`` (code 14).  Default: µs."""
    per_sec = 1_000_000
    offset = 0
    opt = struct.Struct(endian + "HH")
    while pos + 4 <= end:
        code, ln = opt.unpack_from(m, pos)
        data_start = pos + 4
        if code == 0 or data_start + ln > end:
            break
        if code == 9 and ln >= 1:
            res = m[data_start]
            per_sec = 2 ** (res & 0x7F) if res & 0x80 else 10**res
        elif code == 14 and ln >= 8:
            (offset,) = struct.unpack_from(endian + "q", m, data_start)
        pos = data_start + ((ln + 3) & ~3)
    return max(per_sec, 1), offset


def open_capture(path: str | os.PathLike[str]) -> CaptureFile:
    """Open a pcap or pcapng file (format told by its magic number).

    Raises :class:`CaptureFormatError` for a file that is not a capture and ``OSError`` for
    one that cannot be read."""
    return CaptureFile(path)


class PcapWriter:
    """Write frames to a classic pcap file (microsecond timestamps), record by record -
    used by ``ctidissect live --write``."""

    def __init__(self, path: str | os.PathLike[str], linktype: int, snaplen: int = 262144) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, linktype))
        self.linktype = linktype

    def write(self, ts: float, data: bytes) -> None:
        """Append one frame captured at ``ts`` (epoch seconds)."""
        sec = int(ts)
        usec = int(round((ts - sec) * 1e6))
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        self._file.write(struct.pack("<IIII", sec, usec, len(data), len(data)))
        self._file.write(data)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()
