"""Swimlanes: what each thread and asyncio task was doing over a range of events.

One lane per thread and per task, each a run of segments with one status
(running, blocked on something, suspended awaiting something, ready,
finished, not started) and the locks the actor held, plus the seqs of the
events the actor itself caused. The text and HTML timelines draw this.

The statuses are read off the replay engine's own state (`Index.state_at`,
then `Applier.apply` event by event), never re-derived from the events, so a
lane says what `info threads` / `info tasks` say at every seq. After each
event only the lanes that event can have changed are described again (its
thread and task, the thread or task it names, a lock's owner before and
after); the tests check that against the full state at every seq.

Pure: no printing, no terminal, no HTML.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from chronodbg import values
from chronodbg.errors import UsageError
from chronodbg.logfile.reader import Event, Recording
from chronodbg.replay.applier import Applier
from chronodbg.replay.index import Index
from chronodbg.replay.state import Actor, State

RUNNING = "running"
BLOCKED = "blocked"
SUSPENDED = "suspended"
READY = "ready"
FINISHED = "finished"
NOT_STARTED = "not started"


@dataclass(frozen=True)
class Status:
    """One actor's condition after an event; equal statuses make one segment."""

    state: str
    #: blocked: the wait's family (`lock`, `queue get`, `join`, …); suspended:
    #: what it awaits (`sleep`, `task`, `queue`, …); ready: `started`,
    #: `created` or `woken`; finished: a task's outcome.
    what: str | None = None
    #: The recorded object waited on or awaited.
    obj: int | None = None
    #: Whom or what: the object's label, the joined thread, the awaited target.
    label: str | None = None
    #: Ids of the locks the actor holds, sorted.
    holds: tuple[int, ...] = ()

    def text(self) -> str:
        """`blocked on lock Lock#1`, `suspended awaiting queue asyncio.Queue#1`, `running`."""
        target = f" {self.label}" if self.label else ""
        if self.state == BLOCKED:
            return f"blocked on {self.what}{target}"
        if self.state == SUSPENDED:
            return f"suspended awaiting {self.what}{target}"
        if self.state == READY:
            return f"ready ({self.what})" if self.what else READY
        if self.state == FINISHED and self.what:
            return f"finished ({self.what})"
        if self.state == RUNNING and self.label:
            return f"running {self.label}"
        return self.state


@dataclass(frozen=True)
class Segment:
    """Seqs `first`..`last` (both included): the actor's status after each of those events."""

    first: int
    last: int
    status: Status


@dataclass
class Lane:
    actor: Actor
    name: str
    segments: list[Segment] = field(default_factory=list)
    #: Seqs of the events this actor caused (a task's own, or a thread's outside any task).
    events: list[int] = field(default_factory=list)

    def status_at(self, seq: int) -> Status:
        i = bisect.bisect_right(self.segments, seq, key=lambda s: s.first) - 1
        if i < 0 or seq > self.segments[i].last:
            raise UsageError(f"seq {seq} is outside the lane's range")
        return self.segments[i].status

    @property
    def idle(self) -> bool:
        """Nothing to see: no event of its own, and never alive in the range."""
        return not self.events and all(s.status.state in (NOT_STARTED, FINISHED) and not s.status.holds for s in self.segments)


@dataclass
class Timeline:
    first: int
    last: int
    lanes: list[Lane]
    #: (cause seq, effect seq) of the causal links with both ends in the range.
    links: list[tuple[int, int]]
    #: Labels of the locks held anywhere in the range, by id.
    locks: dict[int, str]

    def lane_of(self, actor: Actor) -> Lane | None:
        for lane in self.lanes:
            if lane.actor == actor:
                return lane
        return None


def lane_key(event: Event) -> Actor:
    """Whose event it is: the task it ran in, else its thread."""
    return ("task", event.task) if event.task is not None else ("thread", event.thread)


def lane_name(rec: Recording, actor: Actor) -> str:
    """`T2 clerk-1`, `t3 consumer (consume)`: short, for a lane's heading."""
    kind, ident = actor
    if kind == "thread":
        thread = rec.threads.get(ident)
        return f"T{ident} {thread.name}" if thread else f"T{ident}"
    task = rec.tasks.get(ident)
    if task is None:
        return f"t{ident}"
    return f"t{ident} {task.name} ({task.coro})" if task.name else f"t{ident} ({task.coro})"


def parse_range(text: str, last: int) -> tuple[int, int]:
    """`A..B`, `A..`, `..B`, `A` or `all` into a seq range within 1..last; UsageError otherwise."""
    text = text.strip()
    if text == "all":
        return 1, last
    low, dots, high = text.partition("..")
    if not dots:
        low = high = text
    try:
        first = int(low) if low.strip() else 1
        final = int(high) if high.strip() else last
    except ValueError:
        raise UsageError(f"timeline: {text!r} is not a range (SEQ..SEQ, SEQ.., ..SEQ or all)") from None
    if not 1 <= first <= final <= last:
        raise UsageError(f"timeline: range {first}..{final} is not within 1..{last}, first to last")
    return first, final


def build(index: Index, first: int, last: int, all_lanes: bool = False) -> Timeline:
    """The lanes of events `first`..`last`; lanes with nothing to see there are left out unless `all_lanes`."""
    if not 1 <= first <= last <= index.last:
        raise UsageError(f"timeline: range {first}..{last} is not within 1..{index.last}")
    rec, applier, events = index.rec, index.applier, index.events
    state = index.state_at(first - 1)
    actors: list[Actor] = [("thread", t) for t in sorted(rec.threads)] + [("task", t) for t in sorted(rec.tasks)]
    # Who owns which lock, kept in step with the state's owners (cheaper than asking every lock each time).
    owned: dict[Actor, set[int]] = {}
    for oid, lock in state.locks.items():
        if lock.owner is not None:
            owned.setdefault(lock.owner, set()).add(oid)
    current = {actor: describe(rec, state, actor, tuple(sorted(owned.get(actor, ())))) for actor in actors}
    opened = dict.fromkeys(actors, first)
    lanes = {actor: Lane(actor, lane_name(rec, actor)) for actor in actors}
    for seq in range(first, last + 1):
        event = events[seq - 1]
        data = applier.data(event)
        touched = _touched(applier, event, data)
        before = _owner(state, event.obj)
        applier.apply(state, event, data)
        after = _owner(state, event.obj)
        if before != after:
            assert event.obj is not None
            if before is not None:
                touched.add(before)
                owned.setdefault(before, set()).discard(event.obj)
            if after is not None:
                touched.add(after)
                owned.setdefault(after, set()).add(event.obj)
        lane = lanes.get(lane_key(event))
        if lane is not None:
            lane.events.append(seq)
        for actor in touched:
            if actor not in lanes:  # an id the tables do not define: a crafted log
                continue
            status = describe(rec, state, actor, tuple(sorted(owned.get(actor, ()))))
            if status != current[actor]:
                if opened[actor] < seq:
                    lanes[actor].segments.append(Segment(opened[actor], seq - 1, current[actor]))
                current[actor], opened[actor] = status, seq
    for actor in actors:
        lanes[actor].segments.append(Segment(opened[actor], last, current[actor]))
    shown = [lanes[a] for a in actors if all_lanes or not lanes[a].idle]
    causes = index.links.cause
    links = sorted((causes[e], e) for e in range(first, last + 1) if e in causes and causes[e] >= first)
    held = {oid for lane in shown for s in lane.segments for oid in s.status.holds}
    locks = {oid: _obj_label(rec, oid) or f"#{oid}" for oid in sorted(held)}
    return Timeline(first, last, shown, links, locks)


def _touched(applier: Applier, event: Event, data: dict[str, Any]) -> set[Actor]:
    """The actors whose status `event` can change, but for a lock's owners (the caller adds those)."""
    touched: set[Actor] = {("thread", event.thread)}
    if event.task is not None:
        touched.add(("task", event.task))
    family = event.kind.split(".", 1)[0]
    named = data.get(family) if family in ("thread", "task") else None
    if isinstance(named, int):
        touched.add((family, named))
    if event.obj is not None:
        touched.add(applier.actor(event))
    return touched


def _owner(state: State, oid: int | None) -> Actor | None:
    lock = state.locks.get(oid) if oid is not None else None
    return lock.owner if lock is not None else None


def describe(rec: Recording, state: State, actor: Actor, holds: tuple[int, ...] | None = None) -> Status:
    """An actor's status in `state`, as `info threads` / `info tasks` show it (`holds`: its locks, if known)."""
    kind, ident = actor
    if holds is None:
        holds = tuple(sorted(oid for oid, lock in state.locks.items() if lock.owner == actor))
    if kind == "thread":
        thread = state.threads.get(ident)
        if thread is None:
            return Status(NOT_STARTED)
        if thread.status == "finished":
            return Status(FINISHED, holds=holds)
        if thread.status == "started":
            return Status(READY, "started", holds=holds)
        waiting = thread.waiting
        if waiting is None:
            return Status(RUNNING, holds=holds)
        if waiting.what == "join":
            joined = waiting.detail
            return Status(BLOCKED, "join", None, lane_name(rec, ("thread", joined)) if isinstance(joined, int) else None, holds)
        what = f"queue {waiting.detail}" if waiting.what == "queue" and waiting.detail else waiting.what
        return Status(BLOCKED, what, waiting.obj, _obj_label(rec, waiting.obj), holds)
    task = state.tasks.get(ident)
    if task is None:
        return Status(NOT_STARTED)
    if task.status == "created":
        return Status(READY, "created", holds=holds)
    if task.status == "running":
        return Status(RUNNING, label=f"on T{task.thread}" if task.thread is not None else None, holds=holds)
    if task.status == "ready":
        return Status(READY, "woken", holds=holds)
    if task.status == "done":
        return Status(FINISHED, None if task.outcome == "finished" else task.outcome, holds=holds)
    label = _obj_label(rec, task.obj) if task.obj is not None else _target_text(task.awaits, task.target)
    return Status(SUSPENDED, task.awaits or "?", task.obj, label, holds)


#: Awaits whose target is a task id or a list of them (the others' target is a delay, or nothing).
_TASK_TARGETS = frozenset({"task", "gather", "wait", "wait_for", "taskgroup", "shield"})
_TASKS_SHOWN = 5


def _target_text(awaits: str | None, target: Any) -> str | None:
    """Awaited tasks as `t3` or `t2, t3, …(200)`; a sleep's delay as `0.5s`."""
    if target is None:
        return None
    if awaits == "sleep":
        return f"{values.to_text(target)}s"
    if awaits not in _TASK_TARGETS:
        return values.to_text(target)
    if isinstance(target, int) and not isinstance(target, bool):
        return f"t{target}"
    # Several tasks come as a list summary: (tag, length, first items or None); an item is None for a non-task.
    if isinstance(target, tuple) and len(target) == 3 and target[0] in values.CONTAINER_TAGS and isinstance(target[2], tuple):
        length, items = target[1], target[2]
        shown = [f"t{t}" if isinstance(t, int) and not isinstance(t, bool) else "?" for t in items[:_TASKS_SHOWN]]
        more = f", …({length})" if isinstance(length, int) and length > len(shown) else ""
        return ", ".join(shown) + more
    return values.to_text(target)


def _obj_label(rec: Recording, oid: int | None) -> str | None:
    if oid is None:
        return None
    info = rec.objects.get(oid)
    return info.label if info else f"#{oid}"


def to_json(timeline: Timeline) -> dict[str, Any]:
    """The timeline as JSON-ready data (`timeline` with `--json`)."""
    locks = timeline.locks
    return {
        "first": timeline.first,
        "last": timeline.last,
        "lanes": [
            {
                "lane": lane.name,
                "kind": lane.actor[0],
                "id": lane.actor[1],
                "segments": [
                    {
                        "first": s.first,
                        "last": s.last,
                        "state": s.status.state,
                        "what": s.status.what,
                        "label": s.status.label,
                        "text": s.status.text(),
                        "holds": [locks.get(oid, f"#{oid}") for oid in s.status.holds],
                    }
                    for s in lane.segments
                ],
                "events": lane.events,
            }
            for lane in timeline.lanes
        ],
        "links": [list(link) for link in timeline.links],
    }
