"""The concurrent state of the recorded program after a given event.

`State.apply(event)` moves the state over one event; the index keeps copies
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chronodbg.logfile.reader import Event, Recording
from chronodbg.replay.stacks import CODE_KINDS, Frame, Stack, apply_code, code_sites, note_event

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
        return copy.deepcopy(self)


class Applier:
    """Applies events to a State; knows the recording's objects (their kinds) once."""

    def __init__(self, rec: Recording) -> None:
        self.asyncio_objects = {oid for oid, info in rec.objects.items() if info.label.startswith("asyncio.")}
        self.kinds = {oid: info.kind for oid, info in rec.objects.items()}
        self.fields = rec.fields
        self.code_of = code_sites(rec)

    def actor(self, event: Event) -> Actor:
        if event.task is not None and event.obj in self.asyncio_objects:
            return ("task", event.task)
        return ("thread", event.thread)

    def data(self, event: Event) -> dict[str, Any]:
        """The event's fields by name."""
        return dict(zip(self.fields.get(event.kind, ()), event.data, strict=False))

    def apply(self, state: State, event: Event, data: dict[str, Any] | None = None) -> None:
        """Move `state` over `event` (`data`: its fields by name, if the caller has them already)."""
        state.seq = event.seq
        kind = event.kind
        if data is None:
            data = self.data(event)
        thread = state.threads.get(event.thread)
        if thread is None:
            thread = state.threads[event.thread] = ThreadState(event.thread)
        thread.last_seq = event.seq
        if event.site is not None:
            thread.site = event.site
        if thread.status != "finished":
            thread.status = "running"
        obj = event.obj
        actor = self.actor(event) if obj is not None else ("thread", event.thread)
        family = WAIT_STARTS.get(kind)
        if family is not None and actor[0] == "thread":
            thread.waiting = Waiting(family, obj, event.seq, data.get("op"), data.get("timeout"))
            thread.status = "waiting"
        elif kind in WAIT_ENDS and thread.waiting is not None and thread.waiting.obj == obj:
            thread.waiting = None
        if event.task is not None:
            task = state.tasks.get(event.task)
            if task is not None:
                task.last_seq = event.seq
        if kind in CODE_KINDS:
            apply_code(state, event, data)
            return
        if state.stacks:
            note_event(state, event, self.code_of)
        handler = _HANDLERS.get(kind.split(".", 1)[0])
        if handler is not None:
            handler(self, state, event, data, actor)

    # -- families ------------------------------------------------------------

    def _thread(self, state: State, event: Event, data: dict[str, Any], actor: Actor) -> None:
        kind = event.kind
        if kind == "thread.start":
            state.threads.setdefault(data["thread"], ThreadState(data["thread"], status="started"))
        elif kind == "thread.end":
            ended = state.threads.setdefault(data["thread"], ThreadState(data["thread"]))
            ended.status = "finished"
            ended.waiting = None
        elif kind == "thread.join":
            state.threads[event.thread].waiting = Waiting("join", None, event.seq, data.get("thread"), data.get("timeout"))
            state.threads[event.thread].status = "waiting"
        elif kind == "thread.joined":
            state.threads[event.thread].waiting = None

    def _lock(self, state: State, event: Event, data: dict[str, Any], actor: Actor) -> None:
        assert event.obj is not None
        lock = state.locks.setdefault(event.obj, LockState())
        kind = event.kind
        if kind == "lock.acquire":
            _remove(lock.waiters, actor)
            if lock.owner != actor or lock.since is None:
                lock.since, lock.site = event.seq, event.site
            lock.owner = actor
            lock.depth = data.get("depth") or 1
        elif kind == "lock.wait":
            lock.waiters.append(actor)
        elif kind == "lock.fail":
            _remove(lock.waiters, actor)
        elif kind == "lock.release":
            lock.depth = data.get("depth") or 0
            if lock.depth == 0:
                lock.owner = lock.since = lock.site = None

    def _waitable(self, state: State, event: Event, data: dict[str, Any], actor: Actor) -> None:
        """Conditions, semaphores, events, barriers and futures share one shape."""
        assert event.obj is not None
        obj = state.objects.setdefault(event.obj, ObjectState())
        kind = event.kind
        if kind in WAIT_STARTS:
            if not (kind == "event.wait" and data.get("flag")):
                obj.waiters.append(actor)
        elif kind in WAIT_ENDS:
            _remove(obj.waiters, actor)
        if kind in ("sem.wait", "sem.acquire", "sem.fail", "sem.release"):
            obj.value = data.get("value")
        elif kind == "event.set":
            obj.value = True
        elif kind == "event.clear":
            obj.value = False
        elif kind == "event.wait" and obj.value is None:
            obj.value = data.get("flag")
        elif kind == "barrier.wait":
            obj.value = data.get("arrived")
        elif kind == "future.set":
            obj.value = data.get("state")

    def _queue(self, state: State, event: Event, data: dict[str, Any], actor: Actor) -> None:
        assert event.obj is not None
        queue = state.queues.get(event.obj)
        if queue is None:
            queue = state.queues[event.obj] = QueueState(lifo="Lifo" in self.kinds.get(event.obj, ""))
        kind = event.kind
        if kind in ("queue.wait", "queue.join"):
            queue.waiters.append((actor, "join" if kind == "queue.join" else data.get("op") or "?"))
            return
        if kind in WAIT_ENDS:
            queue.waiters = [w for w in queue.waiters if w[0] != actor]
        if kind == "queue.put":
            queue.items.append(data.get("item"))
            queue.unfinished += 1
        elif kind == "queue.get":
            _take(queue, data.get("item"))
        elif kind == "queue.task_done":
            queue.unfinished = data.get("unfinished") or 0

    def _task(self, state: State, event: Event, data: dict[str, Any], actor: Actor) -> None:
        kind = event.kind
        if kind == "task.create":
            state.tasks[data["task"]] = TaskState(data["task"], last_seq=event.seq)
            return
        if kind == "task.wake":
            woken = state.tasks.get(data["task"])
            if woken is not None and woken.status == "suspended":
                woken.status, woken.woken_at = "ready", event.seq
            return
        if kind == "task.cancel":
            target = state.tasks.get(data["task"])
            if target is not None:
                target.cancel_requested = True
            return
        task = state.tasks.get(event.task) if event.task is not None else None
        if task is None:
            return
        if kind == "task.resume":
            task.status, task.thread = "running", event.thread
            task.awaits = task.obj = task.target = task.timeout = task.woken_at = None
            if event.site is not None:
                task.site = event.site
        elif kind == "task.suspend":
            task.status, task.thread = "suspended", None
            task.awaits, task.obj = data.get("awaits"), event.obj
            task.target, task.timeout = data.get("target"), data.get("timeout")
            task.site = event.site
        elif kind == "task.done":
            task.status, task.thread = "done", None
            task.outcome = data.get("state")
            task.result = data.get("result") if task.outcome == "finished" else data.get("exception")

    def _other(self, state: State, event: Event, data: dict[str, Any], actor: Actor) -> None:
        if event.kind == "output":
            state.outputs += 1
        elif event.kind == "process.exit":
            state.exited = data.get("code")


def _remove(waiters: list[Actor], actor: Actor) -> None:
    if actor in waiters:
        waiters.remove(actor)


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


def _take(queue: QueueState, item: Any) -> None:
    """Remove the item a get took."""
    i = taken(queue.items, item, queue.lifo)
    if i is not None:
        del queue.items[i]


_HANDLERS = {
    "thread": Applier._thread,
    "lock": Applier._lock,
    "cond": Applier._waitable,
    "sem": Applier._waitable,
    "event": Applier._waitable,
    "barrier": Applier._waitable,
    "future": Applier._waitable,
    "queue": Applier._queue,
    "task": Applier._task,
    "output": Applier._other,
    "process": Applier._other,
}
