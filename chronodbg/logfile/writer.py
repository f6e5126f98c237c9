"""Packs events into framed, checksummed chunks and writes them to a file descriptor.

The writer knows bytes, not threads: the recorder decides when to call it and
serialises the calls.

`pack_chunk` runs for every chunk on the recorder's writer thread, holding the
GIL, so its per-event cost is the recorded program's (issue 8). The optional C
extension `chronodbg.logfile._packer` does its per-event work and writes the
body's msgpack bytes itself; for a chunk holding anything it does not pack
(see _packer.c) it declines and the Python path runs, so a chunk's bytes are
the same either way. A writer's `packer` says which path it takes ("c", or
"python" where the extension was not built or CHRONODBG_PURE_PYTHON is set
to anything but empty or "0", as for the recorder's hot path); `PACKER` is
the one a writer made at import would take.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import msgpack

from chronodbg.logfile.format import FRAME, MAGIC, TAG_CHUNK, TAG_FOOTER, TAG_HEADER, TAG_SIGN, TRAILER, TRAILER_TAG
from chronodbg.logfile.signing import ALGORITHM, MAC_SIZE, Chain

#: One event as the recorder buffers it:
#: (t_ns, thread, task, kind, obj, site, data, locals-snapshot-or-None).
RawEvent = tuple[Any, ...]

#: (first_seq, events, defs, last_t) -> (body, counts, last_t), or None for the Python path.
_NativePack = Callable[[int, Sequence[RawEvent], dict[str, list[Any]], int], "tuple[bytes, dict[int, int], int] | None"]

_native_pack_chunk: _NativePack | None
try:
    from chronodbg.logfile._packer import pack_chunk as _native_pack_chunk
except ImportError:  # not built (no compiler at install time), or built for another Python
    _native_pack_chunk = None

#: The environment variable that forces the pure-Python path (shared with chronodbg.recorder.hotpath).
PURE_PYTHON_ENV = "CHRONODBG_PURE_PYTHON"

PackerName = Literal["c", "python"]


def native_packer() -> _NativePack | None:
    """The C pack_chunk, or None when it was not built or the environment forces Python.

    Read each time a writer is made, so that a test can set the variable first.
    """
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return None
    return _native_pack_chunk


#: The path a writer made with the environment as it was at import takes; a
#: writer's own `packer` attribute says which one it does take.
PACKER: PackerName = "c" if native_packer() is not None else "python"


def _default(value: object) -> object:
    # Anything msgpack cannot pack natively was a recorder bug; keep the chunk
    # and store the type name rather than losing thousands of events.
    return f"<unpackable {type(value).__name__}>"


#: Parts one writev() takes at most (Linux's IOV_MAX).
_IOV_MAX = 1024


class PendingBytes:
    """Bytes packed for the file, not yet written: the parts as they came, written with writev().

    The parts are immutable bytes (a frame's header, its body, its MAC), held
    rather than copied into one buffer: a bytearray took each chunk by copying
    it in, and, cleared after each write, was allocated (its pages faulted in)
    afresh for the next. The bodies held here are new memory each too, so the
    page faults moved rather than went (docs/performance.md, fourteenth pass);
    the copy of every byte is what this spares.
    """

    __slots__ = ("_parts", "_size")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0

    def extend(self, data: bytes) -> None:
        """Append `data` (a LogWriter's sink)."""
        part = bytes(data) if type(data) is not bytes else data
        if part:
            self._parts.append(part)
            self._size += len(part)

    def __len__(self) -> int:
        return self._size

    def clear(self) -> None:
        self._parts.clear()
        self._size = 0

    def write_some(self, fd: int) -> int:
        """One writev() of the first parts to `fd`: what it wrote is no longer pending. Returns its bytes."""
        parts = self._parts
        written = os.writev(fd, parts[:_IOV_MAX])
        self._size -= written
        left, done = written, 0
        while done < len(parts) and left >= len(parts[done]):
            left -= len(parts[done])
            done += 1
        del parts[:done]
        if left:
            parts[0] = parts[0][left:]
        return written


class PackedChunk:
    """A chunk packed, not yet written: its events' body and the definitions they introduce."""

    __slots__ = ("first_seq", "count", "body", "defs", "counts", "last_t")

    def __init__(self, first_seq: int, count: int, body: bytes, defs: dict[str, list[Any]], counts: dict[int, int], last_t: int) -> None:
        self.first_seq = first_seq
        self.count = count
        self.body = body
        self.defs = defs
        self.counts = counts
        self.last_t = last_t


class ChunkEntry(NamedTuple):
    """A written chunk: where its frame is (offset, length with its MAC) and what it holds."""

    offset: int
    length: int
    defs: dict[str, list[Any]]
    counts: dict[int, int]


class LogWriter:
    """Appends frames to `sink` (a raw fd, or a callable taking bytes for in-memory logs).

    With `sign_key`, every frame is followed by a SIGN frame holding its MAC
    (see chronodbg.logfile.signing) and the header says so.
    """

    def __init__(
        self, sink: int | Callable[[bytes], None], sign_key: bytes | None = None, packer: PackerName | None = None
    ) -> None:
        self._sink = sink
        self._chain = Chain(sign_key) if sign_key else None
        self.offset = 0
        self.chunk_index: list[tuple[int, int, int]] = []
        self._last_t = 0
        #: Events written per kind code, for the footer's summary.
        self.kind_counts: dict[int, int] = {}
        self._packer = msgpack.Packer(default=_default, unicode_errors="surrogatepass")
        #: Each chunk's place, definitions and kind counts, kept only when
        #: asked for (a ring drops the oldest chunks and needs them then).
        self.chunks: list[ChunkEntry] | None = None
        # `packer` "python" forces the Python path, "c" insists on the extension;
        # None takes the extension unless the environment says otherwise.
        native = native_packer() if packer is None else _native_pack_chunk if packer == "c" else None
        if packer == "c" and native is None:
            raise RuntimeError("chronodbg.logfile._packer is not built")
        self._native = native
        #: Which path pack_chunk takes ("c" or "python"), for the recording's header.
        self.packer: PackerName = "c" if native is not None else "python"
        #: Chunks the C path declined and the Python path packed.
        self.python_chunks = 0

    def redirect(self, sink: int | Callable[[bytes], None]) -> None:
        """Write the frames that follow to `sink` (after a ring has rewritten the file)."""
        self._sink = sink

    def _write(self, *parts: bytes) -> None:
        """Append the parts: to the sink one by one, or to the file in one write where it takes them all."""
        sink = self._sink
        if callable(sink):
            for part in parts:
                sink(part)
        else:
            pending = PendingBytes()
            for part in parts:
                pending.extend(part)
            while pending:
                pending.write_some(sink)
        self.offset += sum(len(part) for part in parts)

    def _frame(self, tag: bytes, body: bytes) -> None:
        head = FRAME.pack(tag, len(body), zlib.crc32(body))
        chain = self._chain
        if chain is None:
            self._write(head, body)
            return
        # One write for the frame and its MAC: a kill leaves both or neither
        # of a chunk more often than not (the reader copes either way).
        mac = chain.header(body) if tag == TAG_HEADER else chain.chunk(body) if tag == TAG_CHUNK else chain.footer(body)
        self._write(head, body, FRAME.pack(TAG_SIGN, len(mac), zlib.crc32(mac)) + mac)

    def write_header(self, header: dict[str, Any]) -> None:
        self._write(MAGIC)
        if self._chain is not None:
            header = dict(header, signed=ALGORITHM)
        self._frame(TAG_HEADER, self._packer.pack(header))

    def write_chunk(self, first_seq: int, events: Sequence[RawEvent], defs: dict[str, list[Any]]) -> None:
        """Write events numbered from `first_seq`, with the definitions they introduce."""
        self.commit_chunk(self.pack_chunk(first_seq, events, defs))

    def pack_chunk(self, first_seq: int, events: Sequence[RawEvent], defs: dict[str, list[Any]]) -> PackedChunk:
        """The chunk's body, not yet written: the caller may weigh it first (see commit_chunk)."""
        native = self._native
        if native is not None:
            packed = native(first_seq, events, defs, self._last_t)
            if packed is not None:
                body, counts, last_t = packed
                return PackedChunk(first_seq, len(events), body, defs, counts, last_t)
            self.python_chunks += 1
        return self._pack_chunk_python(first_seq, events, defs)

    def _pack_chunk_python(self, first_seq: int, events: Sequence[RawEvent], defs: dict[str, list[Any]]) -> PackedChunk:
        """pack_chunk without the extension: what the C path's bytes must equal."""
        snapshots: dict[int, int] = {}
        snapshot_list: list[Any] = []
        records = []
        prev_t = base_t = max(self._last_t, events[0][0])
        counts: dict[int, int] = {}
        for t, thread, task, kind, obj, site, data, snap in events:
            counts[kind] = counts.get(kind, 0) + 1
            if t < prev_t:
                # Two threads can take their timestamps in one order and append
                # in the other; the log order (append order) is causal, so keep
                # time non-decreasing along it.
                t = prev_t
            if snap is not None:
                # By identity: the recorder hands out the same tuple for an
                # unchanged frame; hashing every snapshot would cost more.
                index = snapshots.get(id(snap))
                if index is None:
                    index = snapshots[id(snap)] = len(snapshot_list)
                    snapshot_list.append(snap)
                snap = index
            records.append((t - prev_t, thread, task, kind, obj, site, data, snap))
            prev_t = t
        # A packer of the chunk's own: msgpack's keeps its buffer as large as the
        # largest thing it packed, which for a chunk of events (with locals,
        # megabytes) the recorder would then hold for the rest of the run.
        packer = msgpack.Packer(default=_default, unicode_errors="surrogatepass")
        packed_events = packer.pack(records)
        # Packed apart, so a reader decodes a chunk's locals only when they are looked at.
        packed_snapshots = packer.pack(snapshot_list)
        body = packer.pack((first_seq, len(events), base_t, defs, packed_events, len(snapshot_list), packed_snapshots))
        return PackedChunk(first_seq, len(events), body, defs, counts, prev_t)

    def commit_chunk(self, chunk: PackedChunk) -> None:
        """Write a packed chunk and count it (for the footer, and for a ring's bookkeeping)."""
        offset = self.offset
        self._frame(TAG_CHUNK, chunk.body)
        self._last_t = max(self._last_t, chunk.last_t)
        totals = self.kind_counts
        for kind, n in chunk.counts.items():
            totals[kind] = totals.get(kind, 0) + n
        self.chunk_index.append((offset, chunk.first_seq, chunk.count))
        if self.chunks is not None:
            self.chunks.append(ChunkEntry(offset, self.offset - offset, chunk.defs, chunk.counts))

    def frame_size(self, body_len: int) -> int:
        """Bytes a frame with a body of this length takes in the file, its MAC included."""
        return FRAME.size + body_len + (FRAME.size + MAC_SIZE if self._chain is not None else 0)

    def write_footer(self, summary: dict[str, Any]) -> None:
        footer_offset = self.offset
        summary = dict(summary)
        summary["chunks"] = [list(entry) for entry in self.chunk_index]
        self._frame(TAG_FOOTER, self._packer.pack(summary))
        self._write(TRAILER.pack(footer_offset, TRAILER_TAG))
