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


FieldsMaker = Callable[[tuple[Any, ...]], dict[str, Any]]


def fields_maker(names: tuple[str, ...]) -> FieldsMaker:
    """What `dict(zip(names, data))` gives, made faster for data as long as the names.

    Every event applied needs its fields by name, and a dict display over
    known positions costs a third of `dict(zip(...))`. Shorter data (an older
    recording, a crafted one) takes the zip, so the result is the same.
    """
    count = len(names)

    def zipped(data: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(names, data, strict=False))

    if count == 0:
        return lambda data: {}
    if count == 1:
        (a,) = names
        return lambda data: {a: data[0]} if data else {}
    if count == 2:
        a, b = names
        return lambda data: {a: data[0], b: data[1]} if len(data) >= 2 else zipped(data)
    if count == 3:
        a, b, c = names
        return lambda data: {a: data[0], b: data[1], c: data[2]} if len(data) >= 3 else zipped(data)
    if count == 4:
        a, b, c, d = names
        return lambda data: {a: data[0], b: data[1], c: data[2], d: data[3]} if len(data) >= 4 else zipped(data)
    return zipped


def _copy_record(record: Any) -> Any:
    """A copy of a dataclass record whose fields are immutable values."""
    new = object.__new__(type(record))
    new.__dict__.update(record.__dict__)
    return new


def _copy_thread(thread: ThreadState) -> ThreadState:
    new: ThreadState = _copy_record(thread)
    if thread.waiting is not None:
        new.waiting = _copy_record(thread.waiting)
    return new


def _copy_lock(lock: LockState) -> LockState:
    return LockState(lock.owner, lock.depth, lock.since, lock.site, lock.waiters.copy())


class Applier:
    """Applies events to a State; knows the recording's objects (their kinds) once."""

    def __init__(self, rec: Recording) -> None:
        self.asyncio_objects = {oid for oid, info in rec.objects.items() if info.label.startswith("asyncio.")}
        self.kinds = {oid: info.kind for oid, info in rec.objects.items()}
        self.fields = rec.fields
        self.code_of = code_sites(rec)
        self._spec: dict[str, _Spec] = {}
        self._makers: dict[str, FieldsMaker] = {}

    def actor(self, event: Event) -> Actor:
        if event.task is not None and event.obj in self.asyncio_objects:
            return ("task", event.task)
        return ("thread", event.thread)

    def data(self, event: Event) -> dict[str, Any]:
        """The event's fields by name."""
        make = self._makers.get(event.kind)
        if make is None:
            make = self._makers[event.kind] = fields_maker(self.fields.get(event.kind, ()))
        return make(event.data)

    def apply(self, state: State, event: Event, data: dict[str, Any] | None = None) -> None:
        """Move `state` over `event` (`data`: its fields by name, if the caller has them already)."""
        # The hottest function of replay (every event of the index's pass, every
        # event from a checkpoint to a goto): attributes read once, what a kind
        # implies looked up once per kind (`_spec`).
        seq = event.seq
        state.seq = seq
        kind = event.kind
        if data is None:
            data = self.data(event)
        tid = event.thread
        thread = state.threads.get(tid)
        if thread is None:
            thread = state.threads[tid] = ThreadState(tid)
        thread.last_seq = seq
        if event.site is not None:
            thread.site = event.site
        if thread.status != "finished":
            thread.status = "running"
        obj, task_id = event.obj, event.task
        actor: Actor = ("task", task_id) if task_id is not None and obj in self.asyncio_objects else ("thread", tid)
        spec = self._spec.get(kind)
        if spec is None:
            spec = self._spec[kind] = _spec_of(kind)
        family, ends, code, handler = spec
        if family is not None and actor[0] == "thread":
            thread.waiting = Waiting(family, obj, seq, data.get("op"), data.get("timeout"))
            thread.status = "waiting"
        elif ends and thread.waiting is not None and thread.waiting.obj == obj:
            thread.waiting = None
        if task_id is not None:
            task = state.tasks.get(task_id)
            if task is not None:
                task.last_seq = seq
        if code:
            apply_code(state, event, data)
            return
        if state.stacks:
            note_event(state, event, self.code_of)
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

    # Locks and queues get a method per kind (see _BY_KIND): nearly every event
    # of a busy program is one of these, and a chain of kind comparisons per
    # event was a tenth of indexing.

    def _lock(self, state: State, event: Event, data: dict[str, Any], actor: Actor) -> None:
        """lock.* kinds without a method of their own: the lock exists from then on."""
        _lock_of(state, event)

    def _lock_acquire(self, state: State, event: Event, data: dict[str, Any], actor: Actor) -> None:
        lock = _lock_of(state, event)
        _remove(lock.waiters, actor)
        if lock.owner != actor or lock.since is None:
            lock.since, lock.site = event.seq, event.site
        lock.owner = actor
        lock.depth = data.get("depth") or 1

    def _lock_wait(self, state: State, event: Event, data: dict[str, Any], actor: Actor) -> None:
        _lock_of(state, event).waiters.append(actor)

    def _lock_fail(self, state: State, event: Event, data: dict[str, Any], actor: Actor) -> None:
        _remove(_lock_of(state, event).waiters, actor)

    def _lock_release(self, state: State, event: Event, data: dict[str, Any], actor: Actor) -> None:
        lock = _lock_of(state, event)
        lock.depth = data.get("depth") or 0
        if lock.depth == 0:
            lock.owner = lock.since = lock.site = None

    def _waitable(self, state: State, event: Event, data: dict[str, Any], actor: Actor) -> None:
        """Conditions, semaphores, events, barriers and futures share one shape."""
        assert event.obj is not None
        obj = state.objects.get(event.obj)
        if obj is None:
            obj = state.objects[event.obj] = ObjectState()
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

    def _queue_of(self, state: State, event: Event, actor: Actor) -> QueueState:
        """The event's queue (made on its first event); an actor whose wait the event ends stops waiting."""
        assert event.obj is not None
        queue = state.queues.get(event.obj)
        if queue is None:
            queue = state.queues[event.obj] = QueueState(lifo="Lifo" in self.kinds.get(event.obj, ""))
        if queue.waiters and event.kind in WAIT_ENDS:
            queue.waiters = [w for w in queue.waiters if w[0] != actor]
        return queue

    def _queue(self, state: State, event: Event, data: dict[str, Any], actor: Actor) -> None:
        """queue.* kinds other than put and get."""
        queue = self._queue_of(state, event, actor)
        kind = event.kind
        if kind in ("queue.wait", "queue.join"):
            queue.waiters.append((actor, "join" if kind == "queue.join" else data.get("op") or "?"))
        elif kind == "queue.task_done":
            queue.unfinished = data.get("unfinished") or 0

    def _queue_put(self, state: State, event: Event, data: dict[str, Any], actor: Actor) -> None:
        queue = self._queue_of(state, event, actor)
        queue.items.append(data.get("item"))
        queue.unfinished += 1

    def _queue_get(self, state: State, event: Event, data: dict[str, Any], actor: Actor) -> None:
        _take(self._queue_of(state, event, actor), data.get("item"))

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


def _lock_of(state: State, event: Event) -> LockState:
    """The event's lock, made on its first event."""
    assert event.obj is not None
    lock = state.locks.get(event.obj)
    if lock is None:  # not setdefault: that would build a LockState for every event
        lock = state.locks[event.obj] = LockState()
    return lock


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


_Handler = Callable[[Applier, State, Event, dict[str, Any], Actor], None]
#: What a kind implies: (the wait it starts, whether it ends one, a code event, its family's handler).
_Spec = tuple[str | None, bool, bool, _Handler | None]


def _spec_of(kind: str) -> _Spec:
    handler = _BY_KIND.get(kind) or _HANDLERS.get(kind.split(".", 1)[0])
    return WAIT_STARTS.get(kind), kind in WAIT_ENDS, kind in CODE_KINDS, handler


_HANDLERS: dict[str, _Handler] = {
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
#: Kinds with a method of their own, before their family's.
_BY_KIND: dict[str, _Handler] = {
    "lock.acquire": Applier._lock_acquire,
    "lock.wait": Applier._lock_wait,
    "lock.fail": Applier._lock_fail,
    "lock.release": Applier._lock_release,
    "queue.put": Applier._queue_put,
    "queue.get": Applier._queue_get,
}
