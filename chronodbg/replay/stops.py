"""Where `continue` stops: breakpoints (their candidate events, their first hit) and watches (their changes).

A breakpoint's predicate is resolved once (replay/predicates.py) and its
candidates are the narrowest timeline its id filters allow, so a long
`continue` tests few events. A watch finds every change of what it watches
once, when it is set, so `continue` only bisects a sorted list.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chronodbg.replay import codemoves
from chronodbg.replay.index import Index
from chronodbg.replay.seqs import Timeline, empty
from chronodbg.replay.state import State

if TYPE_CHECKING:
    from chronodbg.replay.predicates import Predicate


@dataclass
class Breakpoint:
    """A `break` / `tbreak`: what it stops at, and how often it did."""

    number: int
    text: str
    predicate: Predicate
    temporary: bool = False
    enabled: bool = True
    hits: int = 0
    #: The only seqs it can match (from its kind, object, thread, task or
    #: site filter, the narrowest), sorted; None: any event.
    candidates: Sequence[int] | None = None


@dataclass
class Watch:
    """A watched value and the seqs where it changes (found once, when the watch is set)."""

    number: int
    text: str
    changes: list[int] = field(default_factory=list)


def candidates(index: Index, predicate: Any) -> Sequence[int] | None:
    """The events a breakpoint can match, from the narrowest of its id filters."""
    choices: list[Timeline] = []
    for ids, timelines in (
        (getattr(predicate, "kinds", None), index.by_kind),
        (getattr(predicate, "objects", None), index.by_object),
        (getattr(predicate, "threads", None), index.by_thread),
        (getattr(predicate, "tasks", None), index.by_task),
        (getattr(predicate, "sites", None), index.by_site),
    ):
        if ids is not None:
            parts = [timelines[i] for i in ids if i in timelines]
            # One timeline as it is; several merged into a new one (no list of boxed ints either way).
            choices.append(Timeline(parts[0].typecode, heapq.merge(*parts)) if len(parts) > 1 else parts[0] if parts else empty())
    return min(choices, key=len) if choices else None


def first_hit(index: Index, bp: Breakpoint, cursor: int, forward: bool, limit: int) -> int | None:
    """The first seq after (or before) `cursor` that `bp` matches, up to `limit` (included)."""
    events, rec = index.events, index.rec
    limit = min(limit, index.last) if forward else max(limit, 1)
    if bp.candidates is None:
        seqs: Any = range(cursor + 1, limit + 1) if forward else range(cursor - 1, limit - 1, -1)
    elif forward:
        start = bisect.bisect_right(bp.candidates, cursor)
        seqs = itertools.takewhile(lambda s: s <= limit, itertools.islice(bp.candidates, start, None))
    else:
        end = bisect.bisect_left(bp.candidates, cursor)
        seqs = itertools.takewhile(lambda s: s >= limit, reversed(bp.candidates[:end]))
    predicate = bp.predicate
    if index.depths is None or getattr(predicate, "condition", None) is None:
        for event in events.at(seqs):
            if predicate(rec, event):
                return event.seq
        return None
    # A condition may read a code event's locals, rebuilt by a state that
    # only moves forward cheaply: backward, test one checkpoint block at a
    # time in ascending order and keep the block's last hit.
    scope = codemoves.FrameScope(index)
    if forward:
        for event in events.at(seqs):
            if predicate(rec, event, scope):
                return event.seq
        return None
    every = index.checkpoint_every
    for _, block in itertools.groupby(seqs, key=lambda s: s // every):
        hits = [s for s in reversed(list(block)) if predicate(rec, events[s - 1], scope)]
        if hits:
            return int(hits[-1])
    return None


def sampled_changes(index: Index, timeline: Sequence[int], name: str) -> tuple[list[int], bool]:
    """Where the locals sampled at the timeline's events show `name` with another value than the previous sample.

    (the seqs, and whether any sample has the name at all)
    """
    changes: list[int] = []
    missing = object()
    previous: Any = missing
    seen = False
    for seq in timeline:
        event = index.events[seq - 1]
        if event.locals is None:
            continue
        value = dict(event.locals).get(name, missing)
        seen = seen or value is not missing
        if previous is not missing and value != previous or previous is missing and value is not missing:
            changes.append(seq)
        previous = value
    return changes, seen


def object_changes(index: Index, oid: int) -> list[int]:
    """Where an object's observable state changes (see `observable`)."""
    state = State()
    changes: list[int] = []
    previous = observable(state, oid)
    for seq in index.by_object.get(oid, []):
        index.applier.apply(state, index.events[seq - 1])
        value = observable(state, oid)
        if value != previous:
            changes.append(seq)
            previous = value
    return changes


def observable(state: State, oid: int) -> Any:
    """What `watch obj` compares: the part of an object's state a user looks at."""
    lock = state.locks.get(oid)
    if lock is not None:
        return ("owner", lock.owner, lock.depth)
    queue = state.queues.get(oid)
    if queue is not None:
        return ("size", len(queue.items))
    other = state.objects.get(oid)
    if other is not None:
        return ("value", other.value)
    return None
