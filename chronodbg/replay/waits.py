"""The wait-for graph at a point of a recording, and where deadlocks formed.

`graph_at(state)` turns the replay state into analysis.waitgraph's terms,
the same ones the recorder's watchdog uses, so `info waits` and the live
report agree. `DeadlockFinder` runs inside the index's single pass and notes
every point where a cycle of waits with no timeout closed, and the point from
which every live thread stayed blocked for good, for `goto deadlock`.
"""

from __future__ import annotations

from dataclasses import dataclass

from chronodbg.analysis.waitgraph import Actor, Wait, WaitGraph, targets_of
from chronodbg.replay.state import State

#: The events that can close a cycle: an actor starts to wait for another.
_CLOSING = frozenset({"lock.wait", "thread.join", "task.suspend"})
#: The events after which every live thread may be blocked.
_BLOCKING = frozenset(
    {
        "lock.wait", "cond.wait", "sem.wait", "event.wait", "barrier.wait", "queue.wait", "queue.join",
        "future.wait", "thread.join", "thread.end",
    }
)  # fmt: skip
#: The kinds `DeadlockFinder.add` looks at while nothing is `stuck` (the index skips the call for the rest).
WATCHED = _BLOCKING | {"task.suspend"}
#: What a stuck program still records: the watchdog's report and the end.
_AFTER_THE_END = frozenset({"deadlock", "process.exit"})


def wait_of(state: State, actor: Actor) -> Wait | None:
    """What `actor` waits on at this state, in the graph's terms; None if it is not blocked."""
    kind, ident = actor
    if kind == "thread":
        thread = state.threads.get(ident)
        if thread is None or thread.status != "waiting" or thread.waiting is None:
            return None
        waiting = thread.waiting
        timed = waiting.timeout is not None
        if waiting.what == "join":
            on: tuple[Actor, ...] = (("thread", waiting.detail),) if isinstance(waiting.detail, int) else ()
            return Wait(actor, "join", None, waiting.since, thread.site, timed, on)
        if waiting.what == "event" and waiting.obj is not None:
            obj = state.objects.get(waiting.obj)
            if obj is not None and obj.value and actor not in obj.waiters:
                return None  # the flag was set: the wait returns at once
        detail = waiting.detail if waiting.what == "queue" and isinstance(waiting.detail, str) else ""
        return _with_owner(state, Wait(actor, waiting.what, waiting.obj, waiting.since, thread.site, timed, detail=detail))
    task = state.tasks.get(ident)
    if task is None or task.status != "suspended":
        return None
    awaits = task.awaits or "?"
    wait = Wait(actor, awaits, task.obj, task.last_seq, task.site, task.timeout is not None, targets_of(awaits, task.target))
    return _with_owner(state, wait)


def _with_owner(state: State, wait: Wait) -> Wait:
    if wait.what != "lock" or wait.obj is None:
        return wait
    lock = state.locks.get(wait.obj)
    if lock is None or lock.owner is None:
        return wait
    return Wait(wait.actor, wait.what, wait.obj, wait.since, wait.site, wait.timed, (lock.owner,), lock.since, lock.site, wait.detail)


def graph_at(state: State) -> WaitGraph:
    actors: list[Actor] = [("thread", tid) for tid in state.threads] + [("task", task) for task in state.tasks]
    return WaitGraph(w for w in (wait_of(state, a) for a in actors) if w is not None)


def live_threads(state: State) -> list[Actor]:
    return [("thread", tid) for tid, thread in state.threads.items() if thread.status != "finished"]


@dataclass
class Deadlock:
    """A point where actors became unable to go on."""

    seq: int
    #: "cycle" (they wait for each other) or "stuck" (every live thread blocked for good).
    reason: str
    actors: tuple[Actor, ...]


class DeadlockFinder:
    """Fed every event after the state moved over it; `found()` once the recording is over."""

    def __init__(self) -> None:
        self.cycles: list[Deadlock] = []
        self._in_cycle: set[Actor] = set()
        #: The point from which every live thread is blocked, while they still are.
        self.stuck: Deadlock | None = None

    def add(self, state: State, seq: int, kind: str, thread: int, task: int | None, obj: int | None) -> None:
        """After the event `seq` (of `kind`, in `thread` and `task`, on `obj`) moved `state`."""
        if self.stuck is None and kind not in WATCHED:
            return
        if kind in _CLOSING:
            actor: Actor = ("task", task) if kind == "task.suspend" and task is not None else ("thread", thread)
            if actor not in self._in_cycle and _may_close(state, kind, thread, obj, actor):
                cycle = _cycle_from(state, actor)
                if cycle is not None:
                    self._in_cycle.update(w.actor for w in cycle)
                    self.cycles.append(Deadlock(seq, "cycle", tuple(w.actor for w in cycle)))
        if self.stuck is not None and kind not in _AFTER_THE_END:
            # Someone moved: it was not for good.
            self.stuck = None
        if self.stuck is None and kind in _BLOCKING and _all_blocked(state):
            self.stuck = Deadlock(seq, "stuck", tuple(live_threads(state)))

    def found(self) -> list[Deadlock]:
        """The cycles, and the final stuck point if the recording ended in one, in seq order."""
        found = list(self.cycles)
        if self.stuck is not None and not any(d.seq <= self.stuck.seq and set(d.actors) <= set(self.stuck.actors) for d in found):
            found.append(self.stuck)
        return sorted(found, key=lambda d: d.seq)


def _blocked_for_good(state: State, actor: Actor) -> bool:
    """Cheaply: is `actor` in a wait with no timeout (before building any Wait)?"""
    kind, ident = actor
    if kind == "thread":
        thread = state.threads.get(ident)
        if thread is None or thread.status != "waiting" or thread.waiting is None or thread.waiting.timeout is not None:
            return False
        if thread.waiting.what == "lock" and thread.waiting.obj is not None:
            # A free lock: the waiter is about to take it.
            lock = state.locks.get(thread.waiting.obj)
            return lock is not None and lock.owner is not None
        return True
    task = state.tasks.get(ident)
    return task is not None and task.status == "suspended" and task.timeout is None


def _may_close(state: State, kind: str, thread: int, obj: int | None, actor: Actor) -> bool:
    """False when the new wait surely closes no cycle.

    That is a lock whose owner runs, a join of a running thread, a task that
    waits on nobody in particular (a queue, a sleep) or with a timeout. Most
    waits in a busy program are of that kind; this keeps the index's pass
    from building a graph for each.
    """
    if kind == "lock.wait" and actor[0] == "thread" and obj is not None:
        lock = state.locks.get(obj)
        return lock is not None and lock.owner is not None and _blocked_for_good(state, lock.owner)
    if kind == "thread.join":
        joiner = state.threads.get(thread)
        joined = joiner.waiting.detail if joiner is not None and joiner.waiting is not None else None
        return isinstance(joined, int) and _blocked_for_good(state, ("thread", joined))
    if actor[0] == "task":
        # The search starts with this very wait and follows `on`: with no one
        # there (or a timeout) it finds nothing.
        wait = wait_of(state, actor)
        return wait is not None and not wait.timed and bool(wait.on)
    return True


def _all_blocked(state: State) -> bool:
    """Every live thread (at least one) in a wait with no timeout."""
    alive = False
    for tid, thread in state.threads.items():
        if thread.status == "finished":
            continue
        if not _blocked_for_good(state, ("thread", tid)):
            return False
        alive = True
    return alive and all(w is not None and not w.timed for w in (wait_of(state, a) for a in live_threads(state)))


def _cycle_from(state: State, start: Actor) -> list[Wait] | None:
    """The cycle of untimed waits through `start`, following owners, joins and awaited tasks."""
    waits: dict[Actor, Wait] = {}
    pending = [start]
    while pending:
        actor = pending.pop()
        if actor in waits:
            continue
        wait = wait_of(state, actor)
        if wait is None or wait.timed:
            continue
        waits[actor] = wait
        pending.extend(wait.on)
    return WaitGraph(waits.values()).cycle_from(start)
