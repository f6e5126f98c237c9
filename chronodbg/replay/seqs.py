"""`Timeline`: a sorted run of sequence numbers held in a typed array.

The index keeps one per thread, task, object, kind and code site; together
they hold each event several times, so as Python ints in lists they cost
more than the events. An array of 4-byte unsigned ints costs 4 bytes a seq,
and `bisect` works on it directly. The methods are the few that the callers
used of sortedcontainers' SortedList (`bisect_left`, `bisect_right`,
`islice` forward and reversed, `index`), so they read the same.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Iterator
from itertools import islice
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    _Base = array[int]
else:
    _Base = array

#: Seqs fit 4 bytes up to 4,294,967,295 events; a larger recording gets 8.
SMALL, LARGE = "I", "Q"


def typecode_for(events: int) -> str:
    return SMALL if events < 1 << 32 else LARGE


class Timeline(_Base):
    """Ascending seqs (appended in order while indexing); an `array` with SortedList's lookups."""

    __slots__ = ()

    def bisect_left(self, seq: int) -> int:
        return bisect.bisect_left(self, seq)

    def bisect_right(self, seq: int) -> int:
        return bisect.bisect_right(self, seq)

    def islice(self, start: int | None = None, stop: int | None = None, reverse: bool = False) -> Iterator[int]:
        """The seqs at positions start..stop-1, last first when `reverse` (as SortedList.islice)."""
        begin, end, _ = slice(start, stop).indices(len(self))
        if reverse:
            return (self[i] for i in range(end - 1, begin - 1, -1))
        return islice(self, begin, end)

    def index(self, seq: int, start: int = 0, stop: int = 9223372036854775807) -> int:
        """Where `seq` is (by bisection: the seqs are sorted); ValueError if it is not there."""
        i = bisect.bisect_left(self, seq, start, min(stop, len(self)))
        if i < len(self) and self[i] == seq and i < stop:
            return i
        raise ValueError(f"{seq} is not in the timeline")

    def __eq__(self, other: object) -> bool:
        # Equal to a list of the same seqs, as the SortedList it replaces was.
        if isinstance(other, list):
            return self.tolist() == other
        return super().__eq__(other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __contains__(self, seq: object) -> bool:
        if not isinstance(seq, int):
            return False
        i = bisect.bisect_left(self, seq)
        return i < len(self) and self[i] == seq


def empty() -> Timeline:
    return Timeline(SMALL)


class Timelines(dict[int, Callable[[int], None]]):
    """Id -> the `append` of that id's timeline (made on first use): what the index's pass calls per event.

    One subscript and one call per event and timeline, the cheapest way to
    grow a timeline from Python; the timelines themselves are in `lines`.
    """

    def __init__(self, typecode: str) -> None:
        super().__init__()
        self.typecode = typecode
        self.lines: dict[int, Timeline] = {}

    def __missing__(self, key: int) -> Callable[[int], None]:
        line = self.lines[key] = Timeline(self.typecode)
        append = self[key] = line.append
        return append
