"""A recording's events, held as columns: `Event` objects are made only when asked for.

Ten million events as ten million Python objects (each with its boxed ints)
need gigabytes; as typed arrays (timestamp, thread, task, kind, object,
site, snapshot) they need under 50 bytes each. What does not fit a column,
each event's data tuple, stays as the tuple the decoder made, kept per chunk
with the chunk's locals. `EventList` is a `Sequence[Event]` over those, so
`rec.events[i]`, `len`, iteration and slicing keep working for every caller;
hot loops (the index's pass) read the columns directly instead.
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    # The reader makes them; an Event only calls their `get`.
    from chronodbg.logfile.reader import ChunkSnapshots

Snapshot = tuple[tuple[str, Any], ...]

#: What an id column holds for "no task / no object / no site" (the reader refuses it as an id).
NONE = -(1 << 31)


class Event:
    """One recorded event. `locals` is the sampled snapshot, decoded on first use (format 2)."""

    __slots__ = ("seq", "t_ns", "thread", "task", "kind", "obj", "site", "data", "_snap", "_chunk")

    def __init__(
        self,
        seq: int,
        t_ns: int,
        thread: int,
        task: int | None,
        kind: str,
        obj: int | None,
        site: int | None,
        data: tuple[Any, ...],
        locals: Snapshot | int | None = None,
        chunk: ChunkSnapshots | None = None,
    ) -> None:
        self.seq, self.t_ns, self.thread, self.task, self.kind = seq, t_ns, thread, task, kind
        self.obj, self.site, self.data = obj, site, data
        #: The snapshot itself, or with `chunk` its index there.
        self._snap = locals
        self._chunk = chunk

    @property
    def locals(self) -> Snapshot | None:
        snap = self._snap
        if snap is None or self._chunk is None:
            return snap  # type: ignore[return-value]
        return self._chunk.get(snap)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return (
            f"Event(seq={self.seq}, t_ns={self.t_ns}, thread={self.thread}, task={self.task}, kind={self.kind!r}, "
            f"obj={self.obj}, site={self.site}, data={self.data!r}, locals={self.locals!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        mine = (self.seq, self.t_ns, self.thread, self.task, self.kind, self.obj, self.site, self.data, self.locals)
        theirs = (other.seq, other.t_ns, other.thread, other.task, other.kind, other.obj, other.site, other.data, other.locals)
        return mine == theirs

    __hash__ = None  # type: ignore[assignment]


class Chunk:
    """What a chunk keeps besides its columns: the data tuples and where its locals are."""

    __slots__ = ("data", "lazy", "snapshots")

    def __init__(self, data: Sequence[tuple[Any, ...]], lazy: ChunkSnapshots | None, snapshots: Sequence[Snapshot]) -> None:
        self.data = data
        #: Format 2: the packed snapshots, the snap column indexes them.
        self.lazy = lazy
        #: Format 1 (and lists of Events): the snapshots themselves, indexed the same way.
        self.snapshots = snapshots


def _none_to(value: int | None) -> int:
    return NONE if value is None else value


def _extended(column: array[int], values: Sequence[int]) -> array[int]:
    """`column` with `values` appended, as 8-byte ints once one does not fit 4 (OverflowError past 8).

    A sequence, not an iterator: after an overflow the values are read again.
    """
    before = len(column)
    try:
        column.extend(values)
        return column
    except OverflowError:
        if column.typecode == "q":
            raise
        del column[before:]
    wide = array("q", column)
    wide.extend(values)
    return wide


#: One event's raw columns (EventList.rows).
Row = tuple[int, int, int, int, int, int, int, tuple[Any, ...]]


class EventList(Sequence[Event]):
    """Events by position (seq - 1), stored as columns; see the module's docstring."""

    def __init__(self) -> None:
        self.t = array("q")
        # Ids are small sequential numbers: 4 bytes each, widened to 8 only if a recording needs it.
        self.thread = array("i")
        #: NONE where the event has no task (no object, no site).
        self.task = array("i")
        self.obj = array("i")
        self.site = array("i")
        #: An index into `kinds`.
        self.kind = array("i")
        #: The snapshot's index in its chunk, -1 for none.
        self.snap = array("i")
        #: Kind names by the kind column's value.
        self.kinds: list[str] = []
        self._kind_index: dict[str, int] = {}
        #: The position of each chunk's first event.
        self.starts = array("q")
        self.chunks: list[Chunk] = []

    @classmethod
    def of(cls, events: Iterable[Event]) -> EventList:
        """Columns from Event objects (a recording built in memory, e.g. by a test); seqs must run 1, 2, 3, …"""
        found = list(events)
        out = cls()
        if found:
            snapshots: list[Snapshot] = []
            snaps: list[int] = []
            for event in found:
                snap = event.locals
                snaps.append(-1 if snap is None else len(snapshots))
                if snap is not None:
                    snapshots.append(snap)
            out.add_chunk(
                [e.t_ns for e in found],
                [e.thread for e in found],
                [_none_to(e.task) for e in found],
                [out.kind_index(e.kind) for e in found],
                [_none_to(e.obj) for e in found],
                [_none_to(e.site) for e in found],
                snaps,
                Chunk(tuple(e.data for e in found), None, snapshots),
            )
        return out

    def kind_index(self, name: str) -> int:
        """The kind column's value for a kind name (added when new)."""
        index = self._kind_index.get(name)
        if index is None:
            index = self._kind_index[name] = len(self.kinds)
            self.kinds.append(name)
        return index

    def add_chunk(
        self,
        t: Iterable[int],
        thread: Sequence[int],
        task: Sequence[int],
        kind: Iterable[int],
        obj: Sequence[int],
        site: Sequence[int],
        snap: Iterable[int],
        chunk: Chunk,
    ) -> None:
        """Append one chunk's events (ids already NONE for None)."""
        self.starts.append(len(self.t))
        self.chunks.append(chunk)
        self.t.extend(t)
        self.thread = _extended(self.thread, thread)
        self.task = _extended(self.task, task)
        self.kind.extend(kind)
        self.obj = _extended(self.obj, obj)
        self.site = _extended(self.site, site)
        self.snap.extend(snap)

    def rows(self, start: int, stop: int) -> Iterator[Row]:
        """The raw columns of the events at positions start..stop-1: (seq, t_ns, thread, task, kind index, obj, site, data).

        Absent task, object and site are NONE; the kind is an index into
        `kinds`. Replay's hot loops (the index's pass, `advance`) read these
        instead of Event objects: the rows of each chunk come from one zip of
        its column slices, and the chain between chunks runs in C.
        """
        return itertools.chain.from_iterable(self._chunk_rows(start, stop))

    def _chunk_rows(self, start: int, stop: int) -> Iterator[Iterator[Row]]:
        starts, chunks = self.starts, self.chunks
        i = start
        while i < stop:
            c = bisect.bisect_right(starts, i) - 1
            first = starts[c]
            end = min(stop, starts[c + 1] if c + 1 < len(starts) else stop)
            data = chunks[c].data
            if i != first or end - first != len(data):
                data = data[i - first : end - first]
            yield zip(
                range(i + 1, end + 1),
                self.t[i:end],
                self.thread[i:end],
                self.task[i:end],
                self.kind[i:end],
                self.obj[i:end],
                self.site[i:end],
                data,
                strict=True,
            )
            i = end

    def __len__(self) -> int:
        return len(self.t)

    def data(self, i: int) -> tuple[Any, ...]:
        """The data tuple of the event at position i (seq - 1)."""
        c = bisect.bisect_right(self.starts, i) - 1
        return self.chunks[c].data[i - self.starts[c]]

    @overload
    def __getitem__(self, i: int) -> Event: ...
    @overload
    def __getitem__(self, i: slice) -> list[Event]: ...
    def __getitem__(self, i: int | slice) -> Event | list[Event]:
        n = len(self.t)
        if isinstance(i, slice):
            return list(self.at(k + 1 for k in range(*i.indices(n))))
        if i < 0:
            i += n
        return next(self.at((i + 1,)))

    def __iter__(self) -> Iterator[Event]:
        return self.at(range(1, len(self.t) + 1))

    def at(self, seqs: Iterable[int]) -> Iterator[Event]:
        """The events of `seqs`, in their order: a scan (`continue`) over many, finding each chunk once, not per event."""
        # `_make` written out, with the columns bound once: this runs per event of a scan.
        starts, n, kinds = self.starts, len(self.t), self.kinds
        t, thread, task, kind, obj, site, snap = self.t, self.thread, self.task, self.kind, self.obj, self.site, self.snap
        first, end = 0, 0
        data: Sequence[tuple[Any, ...]] = ()
        lazy: ChunkSnapshots | None = None
        snapshots: Sequence[Snapshot] = ()
        for seq in seqs:
            i = seq - 1
            if not first <= i < end:
                if not 0 <= i < n:
                    raise IndexError("event index out of range")
                c = bisect.bisect_right(starts, i) - 1
                first, end = starts[c], starts[c + 1] if c + 1 < len(starts) else n
                chunk = self.chunks[c]
                data, lazy, snapshots = chunk.data, chunk.lazy, chunk.snapshots
            a_task, a_obj, a_site, a_snap = task[i], obj[i], site[i], snap[i]
            yield Event(
                seq,
                t[i],
                thread[i],
                None if a_task == NONE else a_task,
                kinds[kind[i]],
                None if a_obj == NONE else a_obj,
                None if a_site == NONE else a_site,
                data[i - first],
                None if a_snap < 0 else a_snap if lazy is not None else snapshots[a_snap],
                lazy,
            )

    def __reversed__(self) -> Iterator[Event]:
        return self.at(range(len(self.t), 0, -1))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (EventList, list)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<EventList of {len(self)} events>"
