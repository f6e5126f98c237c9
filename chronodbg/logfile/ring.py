"""Keeping a log under a size cap by dropping its oldest chunks (`record --max-size SIZE --ring`).

A log cannot lose its head in place, so `rewrite` writes a new file beside it
holding the header, then the newest chunks that fit in the bytes asked for,
and renames it over the old one: at every moment the path holds one complete,
readable log, whatever kills the process. The kept chunks are renumbered from
seq 1 (replay addresses events by seq), the first of them carries every
definition the dropped chunks made (strings, sites, objects, threads, tasks:
later events use them), and the header's `ring` field says how many events of
the run came before.
"""

from __future__ import annotations

import os
from typing import Any

import msgpack

from chronodbg.logfile.format import FRAME, TAG_CHUNK
from chronodbg.logfile.writer import ChunkEntry, LogWriter, PackedChunk

#: The order the reader takes definition sections in (strings before the sites using them, …).
SECTIONS = ("strings", "sites", "objects", "threads", "tasks")


class RingState:
    """What the ring has dropped so far, for the header of each rewrite and for the footer."""

    __slots__ = ("max_size", "dropped_events", "dropped_chunks", "rewrites")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.dropped_events = 0
        self.dropped_chunks = 0
        self.rewrites = 0

    def header_field(self) -> dict[str, int]:
        return {"max_size": self.max_size, "dropped_events": self.dropped_events, "dropped_chunks": self.dropped_chunks}


def merged_definitions(parts: list[dict[str, list[Any]]]) -> dict[str, list[Any]]:
    """Chunks' definitions, in order, as one chunk's (redefinitions of threads and tasks stay in order)."""
    merged: dict[str, list[Any]] = {}
    for defs in parts:
        for section, items in defs.items():
            merged.setdefault(section, []).extend(items)
    return {section: merged[section] for section in SECTIONS if section in merged} | {
        section: items for section, items in merged.items() if section not in SECTIONS
    }


def _read_body(fd: int, entry: ChunkEntry) -> bytes:
    tag, length, _crc = FRAME.unpack(os.pread(fd, FRAME.size, entry.offset))
    if tag != TAG_CHUNK:
        raise OSError(f"ring: no chunk at byte {entry.offset}")
    body = os.pread(fd, length, entry.offset + FRAME.size)
    if len(body) != length:
        raise OSError(f"ring: short read at byte {entry.offset}")
    return body


def _renumbered(body: bytes, first_seq: int, defs: dict[str, list[Any]] | None) -> bytes:
    """The chunk body with a new first seq (and definitions); the events inside stay packed as they are."""
    value = msgpack.unpackb(body, raw=False, unicode_errors="surrogatepass", strict_map_key=False, use_list=True)
    value[0] = first_seq
    if defs is not None:
        value[3] = defs
    return bytes(msgpack.packb(value, unicode_errors="surrogatepass"))


def rewrite(
    path: str, fd: int, old: LogWriter, header: dict[str, Any], keep_bytes: int, state: RingState, sign_key: bytes | None
) -> tuple[int, LogWriter, int, dict[str, list[Any]]] | None:
    """Rewrite the log at `path` (open read-write as `fd`) to its newest chunks within `keep_bytes`.

    Returns the new file's descriptor (the old one is closed), its writer, how
    many events were dropped, and the definitions the next chunk must carry
    when no chunk was kept; None when there is nothing to drop. The new
    writer's sink is the new descriptor: redirect it as needed.
    """
    entries = old.chunks
    assert entries is not None
    if not entries:
        return None
    first_kept = len(entries)
    kept = 0
    while first_kept > 1 and kept + entries[first_kept - 1].length <= keep_bytes:
        first_kept -= 1
        kept += entries[first_kept].length
    dropped_events = sum(count for _offset, _first, count in old.chunk_index[:first_kept])
    state.dropped_events += dropped_events
    state.dropped_chunks += first_kept
    state.rewrites += 1
    tmp = f"{path}.ring-{os.getpid()}"
    new_fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        new = LogWriter(new_fd, sign_key)
        new.chunks = []
        new.write_header(dict(header, ring=state.header_field()))
        defs = merged_definitions([entry.defs for entry in entries[: first_kept + 1]])
        for i in range(first_kept, len(entries)):
            entry = entries[i]
            _offset, first_seq, count = old.chunk_index[i]
            seq = first_seq - dropped_events
            body = _renumbered(_read_body(fd, entry), seq, defs if i == first_kept else None)
            new.commit_chunk(PackedChunk(seq, count, body, defs if i == first_kept else entry.defs, entry.counts, 0))
        new._last_t = old._last_t
        os.replace(tmp, path)
    except BaseException:
        os.close(new_fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.close(fd)
    return new_fd, new, dropped_events, defs if first_kept == len(entries) else {}
