"""Moving a State (replay/state.py) over events: what each kind of event does to it.

Every event of a recording goes through here when it is indexed, and every
event from a checkpoint to a `goto`: a rule per kind (`KindRule`), worked out
once, says what the kind implies and where each field sits in the data tuple,
so applying an event reads the columns' values without making an Event or a
dict of its fields.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from chronodbg.logfile.reader import Event, Recording
from chronodbg.replay.stacks import CODE_KINDS, apply_code, code_sites, note_event
from chronodbg.replay.state import (
    WAIT_ENDS,
    WAIT_STARTS,
    Actor,
    LockState,
    ObjectState,
    QueueState,
    State,
    TaskState,
    ThreadState,
    Waiting,
    taken,
)

FieldsMaker = Callable[[tuple[Any, ...]], dict[str, Any]]


def fields_maker(names: tuple[str, ...]) -> FieldsMaker:
    """What `dict(zip(names, data))` gives, made faster for data as long as the names.

    Code events (replay/stacks.py) and `Applier.data` take an event's fields
    by name, and a dict display over known positions costs a third of
    `dict(zip(...))`. Shorter data (an older
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



#: The position of a field a kind does not have: past the end of any data tuple.
_NOWHERE = sys.maxsize


class _Positions(dict[str, int]):
    """Field name -> its position in a kind's data tuple (`_NOWHERE` for a name the kind lacks)."""

    def __missing__(self, name: str) -> int:
        return _NOWHERE


class KindRule:
    """What applying an event of one kind takes, worked out once per kind instead of once per event.

    The handlers read the one or two fields they need from the data tuple by
    position (`at`): building a dict of every field for every event cost
    more than most handlers do with it. A field is absent, as in
    `dict(zip(names, data))`, when the data is too short to reach it.
    """

    __slots__ = ("name", "family", "ends", "code", "handler", "make", "at", "fit")

    def __init__(self, name: str, names: tuple[str, ...]) -> None:
        self.name = name
        #: The wait an event of this kind starts (its family: "lock", "queue", …), if any.
        self.family = WAIT_STARTS.get(name)
        #: Whether it ends a wait, whether it is a code event (replay/stacks.py).
        self.ends = name in WAIT_ENDS
        self.code = name in CODE_KINDS
        self.handler = _BY_KIND.get(name) or _HANDLERS.get(name.split(".", 1)[0])
        #: The fields by name as a dict: code events and `Applier.data` take them so.
        self.make = fields_maker(names)
        self.at = _Positions()
        for i, field_name in enumerate(names):
            self.at.setdefault(field_name, i)
        #: Only for a crafted kind table that repeats a name (the dict keeps a
        #: repeated name's last value the data reaches): the data rewritten so
        #: that each name's first position holds that value.
        self.fit: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None
        if len(self.at) != len(names):
            make = self.make

            def fit(data: tuple[Any, ...]) -> tuple[Any, ...]:
                by_name = make(data)
                return tuple(by_name[name] for name in names[: len(data)])

            self.fit = fit

    def get(self, data: tuple[Any, ...], name: str) -> Any:
        """The field `name` of `data`, None if absent (`dict.get`)."""
        at = self.at[name]
        return data[at] if at < len(data) else None

    def need(self, data: tuple[Any, ...], name: str) -> Any:
        """The field `name` of `data`; KeyError if absent (a subscript of the fields' dict)."""
        at = self.at[name]
        if at >= len(data):
            raise KeyError(name)
        return data[at]


class Applier:
    """Applies events to a State; knows the recording's objects (their kinds) once."""

    def __init__(self, rec: Recording) -> None:
        self.asyncio_objects = {oid for oid, info in rec.objects.items() if info.label.startswith("asyncio.")}
        self.kinds = {oid: info.kind for oid, info in rec.objects.items()}
        self.fields = rec.fields
        self.code_of = code_sites(rec)
        self._rules: dict[str, KindRule] = {}

    def rule(self, kind: str) -> KindRule:
        """The rule for events of `kind` (made on its first use)."""
        rule = self._rules.get(kind)
        if rule is None:
            rule = self._rules[kind] = KindRule(kind, self.fields.get(kind, ()))
        return rule

    def actor(self, event: Event) -> Actor:
        return self._actor(event.thread, event.task, event.obj)

    def _actor(self, tid: int, task: int | None, obj: int | None) -> Actor:
        if task is not None and obj in self.asyncio_objects:
            return ("task", task)
        return ("thread", tid)

    def data(self, event: Event) -> dict[str, Any]:
        """The event's fields by name."""
        return self.rule(event.kind).make(event.data)

    def apply(self, state: State, event: Event, data: dict[str, Any] | None = None) -> None:
        """Move `state` over `event`.

        `data`, the event's fields by name, is still taken from callers that
        made it for their own use; `step` reads the same values from
        `event.data` by position.
        """
        self.step(state, event.seq, event.thread, event.task, self.rule(event.kind), event.obj, event.site, event.data)

    def step(
        self, state: State, seq: int, tid: int, task_id: int | None, rule: KindRule, obj: int | None, site: int | None,
        data: tuple[Any, ...],
    ) -> None:  # fmt: skip
        """`apply` over an event's values: the index's pass and `advance` read them from the columns, no Event made."""
        # The hottest function of replay (every event of the index's pass, every
        # event from a checkpoint to a goto): what a kind implies was worked
        # out once (`rule`), fields are read by position, attributes read once.
        state.seq = seq
        if rule.fit is not None:
            data = rule.fit(data)
        thread = state.threads.get(tid)
        if thread is None:
            thread = state.threads[tid] = ThreadState(tid)
        thread.last_seq = seq
        if site is not None:
            thread.site = site
        if thread.status != "finished":
            thread.status = "running"
        family = rule.family
        if family is not None and (task_id is None or obj not in self.asyncio_objects):
            # A thread starts to wait (a task's waits show in its task.suspend).
            at = rule.at
            op, timeout = at["op"], at["timeout"]
            op_value = data[op] if op < len(data) else None
            thread.waiting = Waiting(family, obj, seq, op_value, data[timeout] if timeout < len(data) else None)
            thread.status = "waiting"
        elif rule.ends and thread.waiting is not None and thread.waiting.obj == obj:
            thread.waiting = None
        if task_id is not None:
            task = state.tasks.get(task_id)
            if task is not None:
                task.last_seq = seq
        if rule.code:
            apply_code(state, seq, tid, task_id, rule.name, site, rule.make(data))
            return
        if state.stacks:
            note_event(state, tid, task_id, site, self.code_of)
        handler = rule.handler
        if handler is not None:
            handler(self, state, rule, seq, tid, task_id, obj, site, data)

    # -- families ------------------------------------------------------------
    # Each takes the event's values: (state, its kind's rule, seq, thread,
    # task, object, site, data tuple). Locks and queues get a method per kind
    # (see _BY_KIND): nearly every event of a busy program is one of these,
    # and a chain of kind comparisons per event was a tenth of indexing. The
    # actor is worked out only by the handlers that need it.

    def _thread(
        self, state: State, rule: KindRule, seq: int, tid: int, task: int | None, obj: int | None, site: int | None,
        data: tuple[Any, ...],
    ) -> None:  # fmt: skip
        kind = rule.name
        if kind == "thread.start":
            started = rule.need(data, "thread")
            state.threads.setdefault(started, ThreadState(started, status="started"))
        elif kind == "thread.end":
            ended_id = rule.need(data, "thread")
            ended = state.threads.setdefault(ended_id, ThreadState(ended_id))
            ended.status = "finished"
            ended.waiting = None
        elif kind == "thread.join":
            state.threads[tid].waiting = Waiting("join", None, seq, rule.get(data, "thread"), rule.get(data, "timeout"))
            state.threads[tid].status = "waiting"
        elif kind == "thread.joined":
            state.threads[tid].waiting = None

    def _lock(
        self, state: State, rule: KindRule, seq: int, tid: int, task: int | None, obj: int | None, site: int | None,
        data: tuple[Any, ...],
    ) -> None:  # fmt: skip
        """lock.* kinds without a method of their own: the lock exists from then on."""
        _lock_of(state, obj)

    def _lock_acquire(
        self, state: State, rule: KindRule, seq: int, tid: int, task: int | None, obj: int | None, site: int | None,
        data: tuple[Any, ...],
    ) -> None:  # fmt: skip
        # The commonest kind with release, put and get: what _lock_of,
        # _actor and _remove do is written out in these four.
        assert obj is not None
        lock = state.locks.get(obj)
        if lock is None:
            lock = state.locks[obj] = LockState()
        actor: Actor = ("task", task) if task is not None and obj in self.asyncio_objects else ("thread", tid)
        waiters = lock.waiters
        if waiters and actor in waiters:
            waiters.remove(actor)
        if lock.owner != actor or lock.since is None:
            lock.since, lock.site = seq, site
        lock.owner = actor
        at = rule.at["depth"]
        lock.depth = (data[at] if at < len(data) else None) or 1

    def _lock_wait(
        self, state: State, rule: KindRule, seq: int, tid: int, task: int | None, obj: int | None, site: int | None,
        data: tuple[Any, ...],
    ) -> None:  # fmt: skip
        _lock_of(state, obj).waiters.append(self._actor(tid, task, obj))

    def _lock_fail(
        self, state: State, rule: KindRule, seq: int, tid: int, task: int | None, obj: int | None, site: int | None,
        data: tuple[Any, ...],
    ) -> None:  # fmt: skip
        _remove(_lock_of(state, obj).waiters, self._actor(tid, task, obj))

    def _lock_release(
        self, state: State, rule: KindRule, seq: int, tid: int, task: int | None, obj: int | None, site: int | None,
        data: tuple[Any, ...],
    ) -> None:  # fmt: skip
        assert obj is not None
        lock = state.locks.get(obj)
        if lock is None:
            lock = state.locks[obj] = LockState()
        at = rule.at["depth"]
        lock.depth = (data[at] if at < len(data) else None) or 0
        if lock.depth == 0:
            lock.owner = lock.since = lock.site = None

    def _waitable(
        self, state: State, rule: KindRule, seq: int, tid: int, task: int | None, obj: int | None, site: int | None,
        data: tuple[Any, ...],
    ) -> None:  # fmt: skip
        """Conditions, semaphores, events, barriers and futures share one shape."""
        assert obj is not None
        state_of = state.objects.get(obj)
        if state_of is None:
            state_of = state.objects[obj] = ObjectState()
        kind = rule.name
        if kind in WAIT_STARTS:
            if not (kind == "event.wait" and rule.get(data, "flag")):
                state_of.waiters.append(self._actor(tid, task, obj))
        elif kind in WAIT_ENDS:
            _remove(state_of.waiters, self._actor(tid, task, obj))
        if kind in ("sem.wait", "sem.acquire", "sem.fail", "sem.release"):
            state_of.value = rule.get(data, "value")
        elif kind == "event.set":
            state_of.value = True
        elif kind == "event.clear":
            state_of.value = False
        elif kind == "event.wait" and state_of.value is None:
            state_of.value = rule.get(data, "flag")
        elif kind == "barrier.wait":
            state_of.value = rule.get(data, "arrived")
        elif kind == "future.set":
            state_of.value = rule.get(data, "state")

    def _queue_of(self, state: State, rule: KindRule, tid: int, task: int | None, obj: int | None) -> QueueState:
        """The event's queue (made on its first event); an actor whose wait the event ends stops waiting."""
        assert obj is not None
        queue = state.queues.get(obj)
        if queue is None:
            queue = state.queues[obj] = QueueState(lifo="Lifo" in self.kinds.get(obj, ""))
        if queue.waiters and rule.ends:
            actor = self._actor(tid, task, obj)
            queue.waiters = [w for w in queue.waiters if w[0] != actor]
        return queue

    def _queue(
        self, state: State, rule: KindRule, seq: int, tid: int, task: int | None, obj: int | None, site: int | None,
        data: tuple[Any, ...],
    ) -> None:  # fmt: skip
        """queue.* kinds other than put and get."""
        queue = self._queue_of(state, rule, tid, task, obj)
        kind = rule.name
        if kind in ("queue.wait", "queue.join"):
            how = "join" if kind == "queue.join" else rule.get(data, "op") or "?"
            queue.waiters.append((self._actor(tid, task, obj), how))
        elif kind == "queue.task_done":
            queue.unfinished = rule.get(data, "unfinished") or 0

    def _queue_put(
        self, state: State, rule: KindRule, seq: int, tid: int, task: int | None, obj: int | None, site: int | None,
        data: tuple[Any, ...],
    ) -> None:  # fmt: skip
        assert obj is not None
        queue = state.queues.get(obj)
        if queue is None or queue.waiters:
            queue = self._queue_of(state, rule, tid, task, obj)
        at = rule.at["item"]
        queue.items.append(data[at] if at < len(data) else None)
        queue.unfinished += 1

    def _queue_get(
        self, state: State, rule: KindRule, seq: int, tid: int, task: int | None, obj: int | None, site: int | None,
        data: tuple[Any, ...],
    ) -> None:  # fmt: skip
        assert obj is not None
        queue = state.queues.get(obj)
        if queue is None or queue.waiters:
            queue = self._queue_of(state, rule, tid, task, obj)
        at = rule.at["item"]
        item, items = data[at] if at < len(data) else None, queue.items
        if items and not queue.lifo and items[0] == item:
            del items[0]  # the usual get, the oldest item (what _take finds first)
        else:
            _take(queue, item)

    def _task(
        self, state: State, rule: KindRule, seq: int, tid: int, task_id: int | None, obj: int | None, site: int | None,
        data: tuple[Any, ...],
    ) -> None:  # fmt: skip
        kind = rule.name
        if kind == "task.create":
            created = rule.need(data, "task")
            state.tasks[created] = TaskState(created, last_seq=seq)
            return
        if kind == "task.wake":
            woken = state.tasks.get(rule.need(data, "task"))
            if woken is not None and woken.status == "suspended":
                woken.status, woken.woken_at = "ready", seq
            return
        if kind == "task.cancel":
            target = state.tasks.get(rule.need(data, "task"))
            if target is not None:
                target.cancel_requested = True
            return
        task = state.tasks.get(task_id) if task_id is not None else None
        if task is None:
            return
        if kind == "task.resume":
            task.status, task.thread = "running", tid
            task.awaits = task.obj = task.target = task.timeout = task.woken_at = None
            if site is not None:
                task.site = site
        elif kind == "task.suspend":
            task.status, task.thread = "suspended", None
            task.awaits, task.obj = rule.get(data, "awaits"), obj
            task.target, task.timeout = rule.get(data, "target"), rule.get(data, "timeout")
            task.site = site
        elif kind == "task.done":
            task.status, task.thread = "done", None
            task.outcome = rule.get(data, "state")
            task.result = rule.get(data, "result") if task.outcome == "finished" else rule.get(data, "exception")

    def _other(
        self, state: State, rule: KindRule, seq: int, tid: int, task: int | None, obj: int | None, site: int | None,
        data: tuple[Any, ...],
    ) -> None:  # fmt: skip
        if rule.name == "output":
            state.outputs += 1
        elif rule.name == "process.exit":
            state.exited = rule.get(data, "code")


def _lock_of(state: State, obj: int | None) -> LockState:
    """The event's lock, made on its first event."""
    assert obj is not None
    lock = state.locks.get(obj)
    if lock is None:  # not setdefault: that would build a LockState for every event
        lock = state.locks[obj] = LockState()
    return lock


def _remove(waiters: list[Actor], actor: Actor) -> None:
    if actor in waiters:
        waiters.remove(actor)


def _take(queue: QueueState, item: Any) -> None:
    """Remove the item a get took."""
    i = taken(queue.items, item, queue.lifo)
    if i is not None:
        del queue.items[i]


#: A family's handler: (applier, state, rule, seq, thread, task, object, site, data tuple).
_Handler = Callable[[Applier, State, KindRule, int, int, int | None, int | None, int | None, tuple[Any, ...]], None]

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
