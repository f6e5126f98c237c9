"""Reads a .cgr log safely: every length is bounded, nothing is evaluated.

A log without a footer (the recording process was killed) is recovered by
scanning its complete chunks; an incomplete last chunk is what a kill leaves
behind and is ignored, saying so. Anything else that does not fit the format
raises `LogError` with the byte offset where it went wrong.

Given a key, a signed recording (format 3) has every frame's MAC checked
before the frame is decoded; the first that fails raises `SignatureError`
naming the frame.
"""

from __future__ import annotations

import gc
import os
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain
from operator import itemgetter
from typing import Any, BinaryIO

import msgpack

from chronodbg.errors import LogError, SignatureError
from chronodbg.logfile import format as fmt
from chronodbg.logfile.events import NONE, Chunk, Event, EventList, Snapshot
from chronodbg.logfile.signing import ALGORITHM, MAC_SIZE, Chain

# Event and its parts live in events.py; they are imported from here too.
__all__ = ["Event", "EventList", "ObjectInfo", "Recording", "Site", "TaskInfo", "ThreadInfo", "read_bytes", "read_log"]


@dataclass(frozen=True)
class Site:
    file: str
    line: int
    func: str


@dataclass
class ThreadInfo:
    id: int
    name: str
    ident: int | None
    parent: int | None
    events: int = 0


@dataclass
class TaskInfo:
    id: int
    #: None until known: an eager task runs its first step before it is named.
    name: str | None
    coro: str
    parent: int | None
    events: int = 0


@dataclass(frozen=True)
class ObjectInfo:
    id: int
    kind: str
    label: str
    site: int | None


#: How many chunks' decoded locals a recording keeps at once (4,096 events each).
DECODED_CHUNKS = 64


class ChunkSnapshots:
    """One chunk's locals snapshots, kept packed and decoded (and checked) when first looked at.

    The locals are a large part of a recording in memory and most are never
    shown; a replay looks at a few chunks at a time. The decoded ones are
    listed in the recording's small cache (`cache`): past DECODED_CHUNKS the
    one decoded first is dropped again.
    """

    __slots__ = ("path", "offset", "count", "blob", "cache", "decoded")

    def __init__(self, path: str, offset: int, count: int, blob: bytes, cache: OrderedDict[int, ChunkSnapshots]) -> None:
        self.path = path
        self.offset = offset
        self.count = count
        self.blob = blob
        self.cache = cache
        #: The snapshots while this chunk is in the cache: a `continue` reads
        #: thousands in a row, so a hit is one attribute, not a cache lookup.
        self.decoded: list[Snapshot] | None = None

    def get(self, index: int) -> Snapshot:
        decoded = self.decoded
        if decoded is None:
            decoded = self.decoded = self._decode()
            cache = self.cache
            cache[id(self)] = self
            if len(cache) > DECODED_CHUNKS:
                cache.popitem(last=False)[1].decoded = None
        return decoded[index]

    def _decode(self) -> list[Snapshot]:
        try:
            value = _unpack(self.blob)
        except Exception:
            raise LogError(self.path, "undecodable locals", self.offset) from None
        if not isinstance(value, tuple) or len(value) != self.count or not _are_snapshots(value):
            raise LogError(self.path, "malformed locals", self.offset)
        return list(value)


def _are_snapshots(snaps: tuple[Any, ...]) -> bool:
    """Each is a tuple of (name, summary) pairs: checked a level at a time, not pair by pair (a `continue` decodes many)."""
    # Exact types: what the decoder makes (use_list=False) is a tuple or a str, never a subclass.
    if not set(map(type, snaps)) <= _TUPLE:
        return False
    pairs = tuple(chain.from_iterable(snaps))
    return set(map(type, pairs)) <= _TUPLE and set(map(len, pairs)) <= _PAIR and set(map(type, map(itemgetter(0), pairs))) <= _STR


@dataclass
class Recording:
    path: str
    header: dict[str, Any]
    #: An EventList when read from a file; any list of Events when built in memory.
    events: Sequence[Event] = field(default_factory=EventList)
    threads: dict[int, ThreadInfo] = field(default_factory=dict)
    tasks: dict[int, TaskInfo] = field(default_factory=dict)
    objects: dict[int, ObjectInfo] = field(default_factory=dict)
    sites: dict[int, Site] = field(default_factory=dict)
    footer: dict[str, Any] | None = None
    #: Why the log is not complete (no footer, incomplete tail), or None.
    recovery: str | None = None
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: The chunks whose locals are decoded, by id (see ChunkSnapshots).
    decoded_locals: OrderedDict[int, ChunkSnapshots] = field(default_factory=OrderedDict, repr=False)
    #: The signature algorithm when the recording is signed (format 3), else None.
    signed: str | None = None
    #: True when every frame read was checked against the key (see `read_log(key=...)`).
    verified: bool = False

    @property
    def complete(self) -> bool:
        return self.footer is not None

    def data_dict(self, event: Event) -> dict[str, Any]:
        names = self.fields.get(event.kind, ())
        return {name: event.data[i] if i < len(event.data) else None for i, name in enumerate(names)}

    def site_of(self, event: Event) -> Site | None:
        return self.sites.get(event.site) if event.site is not None else None


def _unpack(body: bytes) -> Any:
    # Limits default to the body's length, so a crafted count cannot make the
    # unpacker allocate more than the bytes that claim it.
    return msgpack.unpackb(
        body,
        raw=False,
        use_list=False,
        strict_map_key=True,
        unicode_errors="surrogatepass",
        ext_hook=lambda code, data: ("ext", code),
    )


#: Types of the header and footer fields that readers rely on.
_HEADER_FIELDS: dict[str, Any] = {
    "program": str,
    "argv": (list, tuple),
    "python": str,
    "chronodbg": str,
    "backend": str,
    "tracer": (str, type(None)),
    "start_time": (int, float),
    "options": dict,
    "pid": int,
    "ring": dict,
}
_FOOTER_FIELDS: dict[str, Any] = {
    "events": int,
    "kinds": dict,
    "threads": int,
    "tasks": int,
    "dropped": int,
    "exit_code": (int, type(None)),
    "exit_how": str,
    "end_ns": int,
    "chunks": (list, tuple),
    "stopped": dict,
    "ring": dict,
}


class _Reader:
    def __init__(
        self,
        path: str,
        stream: BinaryIO,
        size: int,
        progress: Callable[[int, int], None] | None = None,
        key: bytes | None = None,
    ) -> None:
        self.path = path
        #: Checks the MACs when a key is given; its MACs stand in for the checksums.
        self.chain = Chain(key) if key is not None else None
        #: Whether SIGN frames follow the frames (the header says so).
        self.signed = False
        self.stream = stream
        self.size = size
        #: Called with (bytes read, file size) after each chunk.
        self.progress = progress
        self.version = fmt.FORMAT_VERSION
        self.strings: dict[int, str] = {}
        self.kind_names: dict[int, str] = {}
        self.kind_index: dict[int, int] = {}
        #: Events per thread and per task id (None: outside any task), counted chunk by chunk.
        self.thread_events: Counter[int] = Counter()
        self.task_events: Counter[int | None] = Counter()
        self.rec: Recording | None = None
        self._fields: dict[str, tuple[str, ...]] = {}

    def fail(self, what: str, offset: int) -> LogError:
        return LogError(self.path, what, offset)

    def read_frame(self, offset: int) -> tuple[bytes, bytes] | None:
        """(tag, body) at offset, or None when the file ends inside the frame."""
        if offset + fmt.FRAME.size > self.size:
            return None
        self.stream.seek(offset)
        tag, length, crc = fmt.FRAME.unpack(self.stream.read(fmt.FRAME.size))
        if tag not in (fmt.TAG_HEADER, fmt.TAG_CHUNK, fmt.TAG_FOOTER, fmt.TAG_SIGN):
            raise self.fail(f"not a frame (tag {tag!r})", offset)
        limit = fmt.MAX_HEADER if tag == fmt.TAG_HEADER else MAC_SIZE if tag == fmt.TAG_SIGN else fmt.MAX_FRAME
        if length > limit:
            raise self.fail(f"frame claims {length} bytes", offset)
        if offset + fmt.FRAME.size + length > self.size:
            return None
        body = self.stream.read(length)
        # When verifying, the MAC (checked next) says more than the checksum:
        # an altered frame is reported as failing its signature.
        if zlib.crc32(body) != crc and self.chain is None:
            raise self.fail("checksum mismatch", offset)
        return tag, body

    def read_mac(self, offset: int) -> bytes | None:
        """The MAC in the SIGN frame at offset, or None when the file ends inside it."""
        frame = self.read_frame(offset)
        if frame is None:
            return None
        tag, mac = frame
        if tag != fmt.TAG_SIGN or len(mac) != MAC_SIZE:
            raise self.fail("signature missing", offset)
        return mac

    def verify(self, tag: bytes, body: bytes, mac: bytes, offset: int) -> None:
        """Check `mac` against the chain; raise SignatureError naming the frame if it fails."""
        chain = self.chain
        assert chain is not None
        if tag == fmt.TAG_HEADER:
            if not chain.same(chain.header(body), mac):
                raise SignatureError(self.path, "header fails its signature (wrong key?)", offset)
        elif tag == fmt.TAG_CHUNK:
            if not chain.same(chain.chunk(body), mac):
                raise SignatureError(self.path, f"chunk {chain.chunks}{_chunk_events(body)} fails its signature", offset)
        elif not chain.same(chain.footer(body), mac):
            raise SignatureError(self.path, f"footer fails its signature (after chunk {chain.chunks})", offset)

    def incomplete(self, offset: int) -> str:
        """The recovery note for a file that ends inside the frame at offset."""
        if offset < self.size:
            self.stream.seek(offset)
            what = "footer" if self.stream.read(4) == fmt.TAG_FOOTER else "chunk"
            note = f"no footer; incomplete {what} at byte {offset} ignored"
        else:
            note = "no footer"
        if self.chain is not None:
            note += f"; the {self.chain.chunks} chunks read verify, the signed end is missing"
        return note

    def unpack(self, body: bytes, offset: int) -> Any:
        try:
            return _unpack(body)
        except Exception as exc:  # msgpack raises several unrelated types
            raise self.fail(f"undecodable frame ({type(exc).__name__})", offset) from None

    def read(self) -> Recording:
        # The decoder makes a million tuples that live on (the events' data) and
        # no cycles: the collector's passes over them find nothing and cost a
        # sixth of a large read, so it pauses until the read is done.
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._read()
        finally:
            if enabled:
                gc.enable()

    def _read(self) -> Recording:
        self.stream.seek(0)
        if self.stream.read(len(fmt.MAGIC)) != fmt.MAGIC:
            raise self.fail("not a chronodbg recording (bad magic)", 0)
        offset = len(fmt.MAGIC)
        frame = self.read_frame(offset)
        if frame is None:
            raise self.fail("truncated header", offset)
        tag, body = frame
        if tag != fmt.TAG_HEADER:
            raise self.fail("header missing", offset)
        header = self.unpack(body, offset)
        rec = self.rec = Recording(path=self.path, header=self.header(header, offset))
        events = rec.events
        assert isinstance(events, EventList)
        #: Kind code in the file -> the event list's kind column value.
        self.kind_index = {code: events.kind_index(name) for code, name in self.kind_names.items()}
        rec.signed = self.signature(header, offset)
        end = offset + fmt.FRAME.size + len(body)
        if self.signed:
            mac = self.read_mac(end)
            if mac is None:
                raise self.fail("truncated header", end)
            if self.chain is not None:
                self.verify(tag, body, mac, offset)
            end += fmt.FRAME.size + MAC_SIZE
        offset = end
        expected_seq = 1
        while True:
            frame = self.read_frame(offset)
            if frame is None:
                rec.recovery = self.incomplete(offset)
                break
            tag, body = frame
            if tag == fmt.TAG_HEADER:
                raise self.fail("second header", offset)
            if tag == fmt.TAG_SIGN:
                raise self.fail("signature where none belongs", offset)
            end = offset + fmt.FRAME.size + len(body)
            if self.signed:
                mac = self.read_mac(end)
                if mac is None:
                    # Killed between a frame and its MAC: as good as incomplete.
                    rec.recovery = self.incomplete(offset)
                    break
                if self.chain is not None:
                    self.verify(tag, body, mac, offset)
                end += fmt.FRAME.size + MAC_SIZE
            value = self.unpack(body, offset)
            if tag == fmt.TAG_FOOTER:
                rec.footer = self.footer(value, offset)
                break
            expected_seq = self.chunk(value, offset, expected_seq)
            offset = end
            if self.progress is not None:
                self.progress(offset, self.size)
        for tid, n in self.thread_events.items():
            info = rec.threads.get(tid)
            if info is not None:
                info.events += n
        for task, n in self.task_events.items():
            if task is not None:
                rec.tasks[task].events += n
        rec.verified = self.chain is not None
        return rec

    def signature(self, header: dict[str, Any], offset: int) -> str | None:
        """The header's signature algorithm (format 3); refuse a key for an unsigned file."""
        algorithm = header.get("signed") if self.version >= 3 else None
        if algorithm is not None and algorithm != ALGORITHM:
            raise self.fail(f"unknown signature algorithm {algorithm!r}", offset)
        self.signed = algorithm is not None
        if self.chain is not None and not self.signed:
            raise SignatureError(self.path, "not signed, so there is nothing to verify (drop --verify-key-env)")
        return algorithm

    def footer(self, footer: Any, offset: int) -> dict[str, Any]:
        if not isinstance(footer, dict):
            raise self.fail("footer is not a map", offset)
        for key, kind in _FOOTER_FIELDS.items():
            if key in footer and not isinstance(footer[key], kind):
                raise self.fail(f"footer field {key!r} has the wrong type", offset)
        return footer

    def header(self, header: Any, offset: int) -> dict[str, Any]:
        if not isinstance(header, dict):
            raise self.fail("header is not a map", offset)
        for key, kind in _HEADER_FIELDS.items():
            if key in header and not isinstance(header[key], kind):
                raise self.fail(f"header field {key!r} has the wrong type", offset)
        argv = header.get("argv", ())
        if not all(isinstance(arg, str) for arg in argv):
            raise self.fail("header field 'argv' has the wrong type", offset)
        version = header.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise self.fail("header has no format version", offset)
        if version > fmt.FORMAT_VERSION:
            raise self.fail(f"format version {version} is newer than this chronodbg reads ({fmt.FORMAT_VERSION})", offset)
        self.version = version
        table = header.get("kinds")
        if not isinstance(table, (list, tuple)):
            raise self.fail("header has no kind table", offset)
        fields: dict[str, tuple[str, ...]] = {}
        for entry in table:
            if (
                not isinstance(entry, (list, tuple))
                or len(entry) != 3
                or not isinstance(entry[0], int)
                or not isinstance(entry[1], str)
                or not isinstance(entry[2], (list, tuple))
                or not all(isinstance(name, str) for name in entry[2])
            ):
                raise self.fail("bad kind table entry", offset)
            self.kind_names[entry[0]] = entry[1]
            fields[entry[1]] = tuple(entry[2])
        self._fields = fields
        return header

    def chunk(self, value: Any, offset: int, expected_seq: int) -> int:
        rec = self.rec
        assert rec is not None
        rec.fields = self._fields
        # Format 1: a 5-array with the snapshots among the definitions; format 2
        # adds their count and their packed blob, decoded on first use.
        if not (isinstance(value, (list, tuple)) and len(value) == (5 if self.version == 1 else 7)):
            raise self.fail(f"chunk is not a {5 if self.version == 1 else 7}-array", offset)
        first_seq, count, base_t, defs, packed = value[:5]
        if first_seq != expected_seq:
            raise self.fail(f"chunk starts at seq {first_seq!r}, expected {expected_seq}", offset)
        if not isinstance(count, int) or not 0 < count <= fmt.MAX_EVENTS_PER_CHUNK:
            raise self.fail(f"chunk claims {count!r} events", offset)
        if not isinstance(base_t, int) or base_t < 0 or not isinstance(defs, dict) or not isinstance(packed, bytes):
            raise self.fail("malformed chunk", offset)
        lazy: ChunkSnapshots | None = None
        if self.version > 1:
            n_snapshots, blob = value[5], value[6]
            if not isinstance(n_snapshots, int) or not 0 <= n_snapshots <= count or not isinstance(blob, bytes):
                raise self.fail("malformed chunk", offset)
            lazy = ChunkSnapshots(self.path, offset, n_snapshots, blob, rec.decoded_locals)
        snapshots = self.definitions(defs, offset)
        n_snapshots = len(snapshots) if lazy is None else lazy.count
        records = self.unpack(packed, offset)
        if not isinstance(records, (list, tuple)) or len(records) != count:
            raise self.fail("event count does not match", offset)
        events = rec.events
        assert isinstance(events, EventList)
        columns = _columns(records)
        if columns is None or not self.plausible(columns, n_snapshots):
            # The exact per-event rules: raise naming the first bad event (or pass an odd but valid one).
            self.check_events(records, offset, first_seq, n_snapshots)
            columns = tuple(zip(*records, strict=True))
        dts, threads, tasks, kinds, objs, sites, datas, snaps = columns
        self.thread_events.update(threads)
        self.task_events.update(tasks)
        t = accumulate(dts, initial=base_t)
        next(t)
        kind_index = self.kind_index
        try:
            events.add_chunk(
                t,
                threads,
                _nones(tasks),
                map(kind_index.__getitem__, kinds),
                _nones(objs),
                _nones(sites),
                [-1 if v is None else v for v in snaps],
                Chunk(datas, lazy, snapshots),
            )
        except OverflowError:
            # A time or an id past 64 bits: only a crafted file has one.
            raise self.fail(f"malformed event in chunk at seq {first_seq} (a number out of range)", offset) from None
        return int(first_seq + count)

    def plausible(self, columns: tuple[tuple[Any, ...], ...], n_snapshots: int) -> bool:
        """Whether the chunk's events (as columns) surely fit the rules, checked a column at a time.

        Checking each column's types and its set of distinct values (a handful
        of threads, kinds, objects) is far cheaper than checking each event
        field by field. Anything unusual (even a bool where an int goes) says
        False, and `check_events` applies the exact rules.
        """
        rec = self.rec
        assert rec is not None
        try:
            dts, threads, tasks, kinds, objs, sites, datas, snaps = columns
            if not set(map(type, chain(dts, threads, tasks, kinds, objs, sites, snaps))) <= _INT_OR_NONE:
                return False
            if None in dts or None in threads or None in kinds or min(dts) < 0 or set(map(type, datas)) != _TUPLE:
                return False
            for column, known in ((threads, rec.threads), (tasks, rec.tasks), (objs, rec.objects), (sites, rec.sites)):
                ids = set(column)
                ids.discard(None)
                if NONE in ids or not ids <= known.keys():
                    return False
            snap_set = set(snaps)
            snap_set.discard(None)
            return set(kinds) <= self.kind_index.keys() and (not snap_set or (min(snap_set) >= 0 and max(snap_set) < n_snapshots))
        except TypeError:  # an unhashable id (a crafted map)
            return False

    def check_events(self, records: Sequence[Any], offset: int, first_seq: int, n_snapshots: int) -> None:
        """Raise the error for the chunk's first malformed event, as the format's rules name it."""
        rec = self.rec
        assert rec is not None
        kind_names, objects, sites, threads, tasks = self.kind_names, rec.objects, rec.sites, rec.threads, rec.tasks
        seq = first_seq
        for record in records:
            if not isinstance(record, (list, tuple)) or len(record) != fmt.EVENT_LEN:
                raise self.fail(f"malformed event {seq}", offset)
            dt, thread, task, kind, obj, site, data, snap = record
            kind_name = kind_names.get(kind) if isinstance(kind, int) else None
            if (
                not isinstance(dt, int)
                or dt < 0
                # Ids are ints before they are looked up: a crafted map or list is unhashable.
                or type(thread) is not int
                or thread not in threads
                or not (task is None or (type(task) is int and task in tasks))
                or kind_name is None
                or not (obj is None or (type(obj) is int and obj in objects))
                or not (site is None or (type(site) is int and site in sites))
                or not isinstance(data, tuple)
                or not (snap is None or (isinstance(snap, int) and 0 <= snap < n_snapshots))
                or NONE in (thread, task, obj, site)
            ):
                raise self.fail(f"malformed event {seq}", offset)
            seq += 1

    def definitions(self, defs: dict[str, Any], offset: int) -> list[tuple[tuple[str, Any], ...]]:
        rec = self.rec
        assert rec is not None
        try:
            for sid, text in defs.get("strings", ()):
                if not isinstance(sid, int) or not isinstance(text, str) or sid in self.strings:
                    raise ValueError
                self.strings[sid] = text
            for site_id, file_id, line, func_id in defs.get("sites", ()):
                if not isinstance(site_id, int) or site_id in rec.sites or not isinstance(line, int):
                    raise ValueError
                rec.sites[site_id] = Site(self.strings[file_id], line, self.strings[func_id])
            for obj_id, kind, label, site_id in defs.get("objects", ()):
                if not isinstance(obj_id, int) or obj_id in rec.objects:
                    raise ValueError
                if not isinstance(kind, str) or not isinstance(label, str) or not (site_id is None or site_id in rec.sites):
                    raise ValueError
                rec.objects[obj_id] = ObjectInfo(obj_id, kind, label, site_id)
            for tid, name, ident, parent in defs.get("threads", ()):
                if not isinstance(tid, int) or not isinstance(name, str) or not (ident is None or isinstance(ident, int)):
                    raise ValueError
                if not (parent is None or isinstance(parent, int)):
                    raise ValueError
                if tid in rec.threads:
                    # Defined again once the thread runs: now with its ident.
                    known = rec.threads[tid]
                    known.name = name
                    known.ident = ident or known.ident
                    known.parent = known.parent if parent is None else parent
                else:
                    rec.threads[tid] = ThreadInfo(tid, name, ident, parent)
            for task_id, name, coro, parent in defs.get("tasks", ()):
                if not isinstance(task_id, int) or not (name is None or isinstance(name, str)) or not isinstance(coro, str):
                    raise ValueError
                if not (parent is None or parent in rec.tasks):
                    raise ValueError
                known_task = rec.tasks.get(task_id)
                if known_task is None:
                    rec.tasks[task_id] = TaskInfo(task_id, name, coro, parent)
                else:
                    # Defined again when renamed: the last name wins.
                    known_task.name = name
            snapshots = defs.get("snapshots", ())
            if not isinstance(snapshots, tuple):
                raise ValueError
            for snap in snapshots:
                if not isinstance(snap, tuple) or not all(
                    isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str) for pair in snap
                ):
                    raise ValueError
            return list(snapshots)
        except (ValueError, TypeError, KeyError):
            raise self.fail("malformed definitions", offset) from None


_INT_OR_NONE = frozenset({int, type(None)})
_TUPLE = {tuple}
_PAIR = {2}
_STR = {str}


def _columns(records: Sequence[Any]) -> tuple[tuple[Any, ...], ...] | None:
    """The records as columns, if every one is an 8-tuple (None otherwise: the exact check takes over)."""
    if set(map(type, records)) != _TUPLE or set(map(len, records)) != {fmt.EVENT_LEN}:
        return None
    return tuple(zip(*records, strict=True))


def _nones(column: tuple[int | None, ...]) -> Sequence[int]:
    """An id column with NONE for None (the column as it is when it has none)."""
    return [NONE if v is None else v for v in column] if None in column else column  # type: ignore[return-value]


def _chunk_events(body: bytes) -> str:
    """` (events 12289-14336)` from a chunk body that failed its signature, if it still says."""
    try:
        value = _unpack(body)
        first, count = value[0], value[1]
    except Exception:
        return ""
    if not (isinstance(first, int) and isinstance(count, int) and first > 0 and 0 < count <= fmt.MAX_EVENTS_PER_CHUNK):
        return ""
    return f" (events {first}-{first + count - 1})"


def read_bytes(data: bytes, name: str = "<memory>", key: bytes | None = None) -> Recording:
    """Read a recording held in memory (the library's in-memory mode)."""
    import io

    return _Reader(name, io.BytesIO(data), len(data), key=key).read()


def read_log(path: str, progress: Callable[[int, int], None] | None = None, key: bytes | None = None) -> Recording:
    """Read a whole recording; raise `LogError` if it cannot be trusted. `progress(done, total)` is told the bytes read.

    With `key`, the recording must be signed and every MAC is checked (`SignatureError` otherwise).
    """
    try:
        stream = open(path, "rb")
    except FileNotFoundError:
        raise LogError(path, "no such file") from None
    except IsADirectoryError:
        raise LogError(path, "is a directory") from None
    except OSError as exc:
        raise LogError(path, exc.strerror or "cannot open") from None
    with stream:
        size = os.fstat(stream.fileno()).st_size
        return _Reader(path, stream, size, progress, key).read()
