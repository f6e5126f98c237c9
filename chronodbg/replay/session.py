"""A replay session: a cursor on one event, a focus, and the moves between events.

Like bdb under pdb, this knows nothing of the terminal: every move returns a
`Stop` (where the cursor landed and why) or raises a `ChronoError`; the REPL,
batch mode and any later front end print what they get. The cursor is a
sequence number; the state "at" it is the state after that event happened.

The focus (all, one thread, one task) decides which events `step` and `back`
visit. `continue` and `reverse-continue` visit every event and stop at the
nearest breakpoint hit or watched change, or at either end of the recording.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chronodbg.errors import UsageError
from chronodbg.logfile.reader import Event
from chronodbg.replay.index import Index
from chronodbg.replay.state import State

Predicate = Callable[[Any, Event], bool]


@dataclass(frozen=True)
class Stop:
    """Where a move left the cursor, and why: `step`, `back`, `goto`, `breakpoint N`, `watch N`, `start`, `end`."""

    seq: int
    reason: str


@dataclass(frozen=True)
class Focus:
    """Whose events `step` and `back` visit: everyone's, one thread's or one task's."""

    kind: str = "all"
    id: int = 0

    def __str__(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind} {self.id}"


@dataclass
class Breakpoint:
    number: int
    text: str
    predicate: Predicate
    temporary: bool = False
    enabled: bool = True
    hits: int = 0
    #: The only seqs it can match (from its kind, object, thread, task or
    #: site filter, the narrowest), sorted; None: any event.
    candidates: list[int] | None = None


@dataclass
class Watch:
    """A watched value and the seqs where it changes (found once, when the watch is set)."""

    number: int
    text: str
    changes: list[int] = field(default_factory=list)


_TIME = re.compile(r"^([+@-])(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s)?$")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, None: 1_000_000_000}


class Session:
    def __init__(self, index: Index) -> None:
        if not index.events:
            raise UsageError(f"{index.rec.path}: the recording has no events")
        self.index = index
        self.rec = index.rec
        self.cursor = 1
        self.focus = Focus()
        self.history: list[int] = []
        self.breakpoints: dict[int, Breakpoint] = {}
        self.watches: dict[int, Watch] = {}
        self._next_number = 1
        self._state: State | None = None

    # -- where -------------------------------------------------------------

    @property
    def event(self) -> Event:
        return self.index.event(self.cursor)

    def state(self) -> State:
        """The state after the cursor's event (shared: do not change it; copy it to keep it)."""
        cached, cursor = self._state, self.cursor
        if cached is not None and cached.seq == cursor:
            return cached
        index = self.index
        base = (cursor // index.checkpoint_every) * index.checkpoint_every
        if cached is not None and base <= cached.seq < cursor:
            # Forward from the state we have: cheaper than a checkpoint's copy.
            apply, events = index.applier.apply, index.events
            for i in range(cached.seq, cursor):
                apply(cached, events[i])
            return cached
        self._state = index.state_at(cursor)
        return self._state

    def _timeline(self, focus: Focus) -> Sequence[int] | None:
        """The focus's seqs, sorted; None for all events (seq arithmetic)."""
        timelines: dict[int, Any]
        if focus.kind == "thread":
            timelines = self.index.by_thread
        elif focus.kind == "task":
            timelines = self.index.by_task
        else:
            return None
        timeline: Sequence[int] = timelines.get(focus.id, [])
        return timeline

    def _move(self, seq: int, reason: str) -> Stop:
        if seq != self.cursor:
            self.history.append(self.cursor)
        self.cursor = seq
        return Stop(seq, reason)

    # -- focus ---------------------------------------------------------------

    def set_focus(self, kind: str, ident: int | str | None = None) -> Focus:
        """Focus on `all`, a thread (id or name) or a task (id or name)."""
        if kind == "all":
            self.focus = Focus()
            return self.focus
        if kind == "thread":
            table: dict[int, Any] = self.rec.threads
        elif kind == "task":
            table = self.rec.tasks
        else:
            raise UsageError(f"cannot focus on {kind!r}: use all, thread N or task N")
        found = [i for i, info in table.items() if str(i) == str(ident) or info.name == ident or f"T{i}" == ident]
        if not found:
            raise UsageError(f"no {kind} {ident!r} in this recording")
        self.focus = Focus(kind, found[0])
        return self.focus

    # -- moves ---------------------------------------------------------------

    def step(self, n: int = 1) -> Stop:
        """The n-th next event in the focus; the last one there is, with reason `end`."""
        return self._walk(n, forward=True)

    def back(self, n: int = 1) -> Stop:
        """The n-th previous event in the focus; the first one there is, with reason `start`."""
        return self._walk(n, forward=False)

    def _walk(self, n: int, forward: bool) -> Stop:
        if n < 1:
            raise UsageError("the count must be 1 or more")
        timeline = self._timeline(self.focus)
        if timeline is None:
            target = self.cursor + n if forward else self.cursor - n
            if 1 <= target <= self.index.last:
                return self._move(target, "step" if forward else "back")
            return self._move(self.index.last if forward else 1, "end" if forward else "start")
        if forward:
            i = bisect.bisect_right(timeline, self.cursor) + n - 1
            if i < len(timeline):
                return self._move(timeline[i], "step")
            return self._move(timeline[-1] if timeline else self.cursor, "end")
        i = bisect.bisect_left(timeline, self.cursor) - n
        if i >= 0:
            return self._move(timeline[i], "back")
        return self._move(timeline[0] if timeline else self.cursor, "start")

    def next(self, n: int = 1, forward: bool = True) -> Stop:
        """Step within the cursor event's thread (no call events yet, so nothing to step over)."""
        saved = self.focus
        self.focus = Focus("thread", self.event.thread)
        try:
            return self._walk(n, forward)
        finally:
            self.focus = saved

    def goto(self, where: str | int) -> Stop:
        """`goto SEQ`, `first`, `last`, `+1.5s` / `-200ms` (from the cursor's time), `@2.25s` (since the start),
        `cause` / `effect` (along the causal links, see replay.links)."""
        reason = where.strip() if isinstance(where, str) and where.strip() in ("cause", "effect") else "goto"
        return self._move(self.resolve(where), reason)

    def resolve(self, where: str | int) -> int:
        if isinstance(where, int):
            self.index.event(where)
            return where
        text = where.strip()
        if text == "first":
            return 1
        if text == "last":
            return self.index.last
        if text == "cause":
            cause = self.index.links.cause.get(self.cursor)
            if cause is None:
                raise UsageError(f"goto cause: nothing recorded made seq {self.cursor} ({self.event.kind}) possible")
            return cause
        if text == "effect":
            effects = self.index.links.effects.get(self.cursor)
            if not effects:
                raise UsageError(f"goto effect: seq {self.cursor} ({self.event.kind}) made nothing recorded possible")
            return effects[0]
        if text == "deadlock":
            points = self.index.deadlocks
            if not points:
                raise UsageError("goto deadlock: no deadlock in this recording (no cycle of waits, never every thread blocked for good)")
            later = [d.seq for d in points if d.seq > self.cursor]
            return later[0] if later else points[0].seq
        if text.isdigit():
            return self.resolve(int(text))
        match = _TIME.match(text)
        if match is None:
            raise UsageError(f"goto: {where!r} is not a seq, first, last, cause, effect, deadlock, +TIME, -TIME or @TIME (e.g. +1.5s, @200ms)")
        sign, number, unit = match.groups()
        ns = round(float(number) * _UNITS[unit])
        now = self.event.t_ns
        if sign == "+":
            # Forward in time: the first event at or after that time.
            i = bisect.bisect_left(self.index.times, now + ns)
            return min(i + 1, self.index.last)
        # A time since the start, or back in time: the state then, i.e. the last event at or before it.
        return self.index.seq_at_time(ns if sign == "@" else now - ns)

    def undo(self) -> Stop:
        """Back to where the cursor was before the last move."""
        if not self.history:
            raise UsageError("nothing to undo")
        self.cursor = self.history.pop()
        return Stop(self.cursor, "undo")

    # -- breakpoints and watches ----------------------------------------------

    def add_breakpoint(self, text: str, temporary: bool = False) -> Breakpoint:
        from chronodbg.replay.predicates import parse_breakpoint

        predicate = parse_breakpoint(self.rec, text)
        bp = Breakpoint(self._number(), text.strip(), predicate, temporary, candidates=self._candidates(predicate))
        self.breakpoints[bp.number] = bp
        return bp

    def _candidates(self, predicate: Any) -> list[int] | None:
        """The events a breakpoint can match, from the narrowest of its id filters."""
        index = self.index
        choices: list[list[int]] = []
        for ids, timelines in (
            (getattr(predicate, "kinds", None), index.by_kind),
            (getattr(predicate, "objects", None), index.by_object),
            (getattr(predicate, "threads", None), index.by_thread),
            (getattr(predicate, "tasks", None), index.by_task),
            (getattr(predicate, "sites", None), index.by_site),
        ):
            if ids is not None:
                parts = [timelines[i] for i in ids if i in timelines]
                choices.append(sorted(heapq.merge(*parts)) if len(parts) > 1 else list(parts[0]) if parts else [])
        return min(choices, key=len) if choices else None

    def _number(self) -> int:
        number = self._next_number
        self._next_number += 1
        return number

    def _breakpoint(self, number: int) -> Breakpoint:
        bp = self.breakpoints.get(number)
        if bp is None:
            raise UsageError(f"no breakpoint {number}")
        return bp

    def delete(self, number: int) -> None:
        if number in self.watches:
            del self.watches[number]
            return
        self._breakpoint(number)
        del self.breakpoints[number]

    def enable(self, number: int, enabled: bool = True) -> None:
        self._breakpoint(number).enabled = enabled

    def watch_local(self, name: str) -> Watch:
        """Stop where local `name` of the focus (or the cursor's thread) takes a new value."""
        focus = self.focus if self.focus.kind != "all" else Focus("thread", self.event.thread)
        timeline = self._timeline(focus) or []
        changes: list[int] = []
        missing = object()
        previous: Any = missing
        seen = False
        for seq in timeline:
            event = self.index.events[seq - 1]
            if event.locals is None:
                continue
            value = dict(event.locals).get(name, missing)
            seen = seen or value is not missing
            if previous is not missing and value != previous or previous is missing and value is not missing:
                changes.append(seq)
            previous = value
        if not seen:
            raise UsageError(f"watch: {focus} never has a local named {name!r}")
        watch = Watch(self._number(), f"{name} in {focus}", changes)
        self.watches[watch.number] = watch
        return watch

    def watch_object(self, label: str) -> Watch:
        """Stop where an object's observable state changes: a lock's owner, a queue's size, an event's flag, …"""
        found = [o for o in self.rec.objects.values() if o.label == label or str(o.id) == label]
        if not found:
            raise UsageError(f"watch: no object {label!r} in this recording")
        info = found[0]
        state = State()
        changes: list[int] = []
        previous = _observable(state, info.id)
        for seq in self.index.by_object.get(info.id, []):
            self.index.applier.apply(state, self.index.events[seq - 1])
            value = _observable(state, info.id)
            if value != previous:
                changes.append(seq)
                previous = value
        watch = Watch(self._number(), f"obj {info.label}", changes)
        self.watches[watch.number] = watch
        return watch

    def cont(self, forward: bool = True) -> Stop:
        """Run to the nearest breakpoint hit or watched change; `end` / `start` if there is none."""
        index = self.index
        # The nearest watched change settles how far the scan for breakpoints must go.
        limit, reason = (index.last + 1, "end") if forward else (0, "start")
        for watch in self.watches.values():
            if forward:
                i = bisect.bisect_right(watch.changes, self.cursor)
                if i < len(watch.changes) and watch.changes[i] < limit:
                    limit, reason = watch.changes[i], f"watch {watch.number}"
            else:
                i = bisect.bisect_left(watch.changes, self.cursor) - 1
                if i >= 0 and watch.changes[i] > limit:
                    limit, reason = watch.changes[i], f"watch {watch.number}"
        hit, hit_by = limit, list[Breakpoint]()
        for bp in self.breakpoints.values():
            if bp.enabled:
                seq = self._first_hit(bp, forward, hit)
                if seq is not None:
                    if seq != hit:
                        hit, hit_by = seq, []
                    hit_by.append(bp)
        if hit_by:
            for bp in hit_by:
                bp.hits += 1
                if bp.temporary:
                    del self.breakpoints[bp.number]
            return self._move(hit, f"breakpoint {hit_by[0].number}")
        if reason in ("end", "start"):
            return self._move(index.last if forward else 1, reason)
        return self._move(limit, reason)

    def _first_hit(self, bp: Breakpoint, forward: bool, limit: int) -> int | None:
        """The first seq after (or before) the cursor that `bp` matches, up to `limit` (included)."""
        events, rec, cursor = self.index.events, self.rec, self.cursor
        limit = min(limit, self.index.last) if forward else max(limit, 1)
        if bp.candidates is None:
            seqs: Any = range(cursor + 1, limit + 1) if forward else range(cursor - 1, limit - 1, -1)
        elif forward:
            start = bisect.bisect_right(bp.candidates, cursor)
            seqs = itertools.takewhile(lambda s: s <= limit, itertools.islice(bp.candidates, start, None))
        else:
            end = bisect.bisect_left(bp.candidates, cursor)
            seqs = itertools.takewhile(lambda s: s >= limit, reversed(bp.candidates[:end]))
        predicate = bp.predicate
        for seq in seqs:
            if predicate(rec, events[seq - 1]):
                return int(seq)
        return None

    # -- what is there ----------------------------------------------------------

    def locals(self) -> tuple[Event | None, Focus]:
        """The latest sampled locals of the focus at or before the cursor (the event that holds them)."""
        focus = self.focus if self.focus.kind != "all" else Focus("thread", self.event.thread)
        timeline = self._timeline(focus)
        if not timeline:
            return None, focus
        return self.index.locals_at(timeline, self.cursor), focus

    def output(self) -> str:
        return self.index.output_until(self.cursor)


def _observable(state: State, oid: int) -> Any:
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
