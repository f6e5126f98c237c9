"""The concurrent state of the recorded program after a given event.

`Applier.apply(state, event)` (replay/applier.py) moves a state over one event; the index keeps copies
(checkpoints) every few thousand events so that the state at any point is a
checkpoint plus a bounded number of `apply` calls. Everything here is derived
from the events alone, so a state reached by jumping equals the state reached
by stepping (the replay tests check exactly that).

Who holds or waits: an asyncio primitive (label `asyncio.…`) is held by a
task, everything else by a thread. An `Actor` is ("thread", id) or
("task", id).

A recording made at level calls or lines also has each thread's stack of
user frames, with their lines and locals (replay/stacks.py).
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from chronodbg.replay.stacks import Frame, Stack

Actor = tuple[str, int]

#: The events that start a wait, and the kinds that end it, per family.
WAIT_STARTS = {
    "lock.wait": "lock",
    "cond.wait": "condition",
    "sem.wait": "semaphore",
    "event.wait": "event",
    "barrier.wait": "barrier",
    "queue.wait": "queue",
    "queue.join": "queue join",
    "future.wait": "future",
}
WAIT_ENDS = frozenset(
    {
        "lock.acquire", "lock.fail", "cond.wake", "sem.acquire", "sem.fail", "event.wake", "barrier.pass",
        "barrier.broken", "queue.put", "queue.get", "queue.full", "queue.empty", "queue.joined", "future.wake",
    }
)  # fmt: skip


@dataclass
class Waiting:
    """What an actor is blocked on: the family (`lock`, `queue`, …), the object, since which seq."""

    what: str
    obj: int | None
    since: int
    detail: Any = None
    #: The wait's timeout in seconds (None: it waits for good).
    timeout: Any = None


@dataclass
class ThreadState:
    id: int
    #: "started" (before its first event), "running", "waiting" (see `waiting`), "finished".
    status: str = "running"
    waiting: Waiting | None = None
    #: The site of its last event (None before its first event with a site).
    site: int | None = None
    last_seq: int = 0


@dataclass
class TaskState:
    id: int
    #: "created", "running", "suspended", "ready" (woken, its next step not
    #: started yet), "done".
    status: str = "created"
    thread: int | None = None
    #: While suspended: what it awaits (`awaits` of its task.suspend), the object and target.
    awaits: str | None = None
    obj: int | None = None
    target: Any = None
    timeout: Any = None
    site: int | None = None
    #: When done: "finished", "exception" or "cancelled".
    outcome: str | None = None
    result: Any = None
    cancel_requested: bool = False
    #: The seq of the task.wake that made it ready.
    woken_at: int | None = None
    last_seq: int = 0


@dataclass
class LockState:
    owner: Actor | None = None
    depth: int = 0
    #: The seq and site of the acquire that made `owner` its owner.
    since: int | None = None
    site: int | None = None
    waiters: list[Actor] = field(default_factory=list)


@dataclass
class ObjectState:
    """Conditions, semaphores, events, barriers, futures: a value and the waiters, in order."""

    value: Any = None
    waiters: list[Actor] = field(default_factory=list)


@dataclass
class QueueState:
    #: Item summaries in queue order (puts appended, gets removed).
    items: list[Any] = field(default_factory=list)
    unfinished: int = 0
    waiters: list[tuple[Actor, str]] = field(default_factory=list)
    lifo: bool = False


@dataclass
class State:
    """Threads, tasks and objects after event `seq` (0: before the first event)."""

    seq: int = 0
    threads: dict[int, ThreadState] = field(default_factory=dict)
    tasks: dict[int, TaskState] = field(default_factory=dict)
    locks: dict[int, LockState] = field(default_factory=dict)
    objects: dict[int, ObjectState] = field(default_factory=dict)
    queues: dict[int, QueueState] = field(default_factory=dict)
    #: How many `output` events happened so far (the text is in the index).
    outputs: int = 0
    exited: Any = None
    #: Code-level recordings: each thread's user frames (empty at level sync).
    stacks: dict[int, Stack] = field(default_factory=dict)
    #: Generator and coroutine frames that yielded, by frame id, until they resume or end.
    suspended: dict[int, Frame] = field(default_factory=dict)
    #: A suspended task's coroutines as they yielded to suspend it, innermost first.
    parked: dict[int, tuple[Frame, ...]] = field(default_factory=dict)

    def copy(self) -> State:
        """A copy that shares nothing mutable with this state.

        Written out rather than `copy.deepcopy`: the values inside (summaries,
        actors, ids) are immutable tuples, strings and numbers, so copying each
        record and each list is a deep copy, and several times faster than
        deepcopy walking every value (checkpoints are many such copies).
        """
        new = State(
            self.seq,
            {k: _copy_thread(v) for k, v in self.threads.items()},
            {k: _copy_record(v) for k, v in self.tasks.items()},
            {k: _copy_lock(v) for k, v in self.locks.items()},
            {k: ObjectState(v.value, v.waiters.copy()) for k, v in self.objects.items()},
            {k: QueueState(v.items.copy(), v.unfinished, v.waiters.copy(), v.lifo) for k, v in self.queues.items()},
            self.outputs,
            self.exited,
        )
        if self.stacks or self.suspended or self.parked:
            # Frames are shared between stacks, `suspended` and `parked`: one memo keeps them shared.
            memo: dict[int, Any] = {}
            new.stacks = copy.deepcopy(self.stacks, memo)
            new.suspended = copy.deepcopy(self.suspended, memo)
            new.parked = copy.deepcopy(self.parked, memo)
        return new


def _fields_getter(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    return operator.attrgetter(*(f.name for f in fields(cls)))


#: Each record class's fields in their constructor's order, read in one call.
_FIELDS_OF: dict[type, Callable[[Any], tuple[Any, ...]]] = {
    cls: _fields_getter(cls) for cls in (Waiting, ThreadState, TaskState)
}


def _copy_record(record: Any) -> Any:
    """A copy of a dataclass record whose fields are immutable values.

    Through the constructor, not `__dict__`: reading an instance's `__dict__`
    makes CPython give it a dict of its own in place of the class's shared
    layout, and every attribute read and write on it is slower from then
    on. After the first checkpoint that was every thread and task of the
    live state, a seventh of the index's pass.
    """
    cls = type(record)
    return cls(*_FIELDS_OF[cls](record))


def _copy_thread(thread: ThreadState) -> ThreadState:
    new: ThreadState = _copy_record(thread)
    if thread.waiting is not None:
        new.waiting = _copy_record(thread.waiting)
    return new


def _copy_lock(lock: LockState) -> LockState:
    return LockState(lock.owner, lock.depth, lock.since, lock.site, lock.waiters.copy())


def taken(items: Sequence[Any], item: Any, lifo: bool, key: Callable[[Any], Any] | None = None) -> int | None:
    """Where the item a get took sits among those put: the oldest equal one (the newest for a LIFO queue).

    Summaries can differ from what was put (a container changed meanwhile):
    then the queue's own order decides. None if nothing is there.
    """
    order = range(len(items) - 1, -1, -1) if lifo else range(len(items))
    for i in order:
        if (items[i] if key is None else key(items[i])) == item:
            return i
    if items:
        return len(items) - 1 if lifo else 0
    return None
