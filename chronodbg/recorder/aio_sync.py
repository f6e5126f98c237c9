"""Recorded asyncio Lock, Event, Condition, Semaphore/BoundedSemaphore and the Queue family.

The same vocabulary as the threading primitives (lock.wait, lock.acquire,
queue.put, ...), with the running task on every event, and objects labelled
`asyncio.Lock#7`. The methods are replaced on the classes. A coroutine method
becomes a wrapper coroutine awaiting the original, so the original's own
logic (FIFO wake-ups, cancellation clean-up) runs unchanged. A wait is
recorded when the call is about to suspend; while it lasts the task is marked
as waiting on the object, which its `task.suspend` events then name. A wait
that ends in cancellation ends with the kind's failure event (lock.fail,
sem.fail, queue.empty / queue.full, cond.wake or event.wake with a false
result; `queue.joined` for a join), so a replay never shows a task waiting
on something it left.

Every asyncio primitive is bound to one loop in one thread: record order is
the order things happened, with no locking of our own.
"""

from __future__ import annotations

import _thread
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from chronodbg.kinds import Kind
from chronodbg.recorder.aio import TaskTracker
from chronodbg.recorder.core import Recorder
from chronodbg.recorder.patching import Patches, traced, untraced, without_own_frames
from chronodbg.recorder.queues import storage_hooks_in_c
from chronodbg.recorder.sync import object_id, type_label, wrap_init

# Kind's members as module constants: on 3.11 each `Kind.X` goes through EnumType.__getattr__ (about 190 ns).
COND_NOTIFY = Kind.COND_NOTIFY
COND_WAIT = Kind.COND_WAIT
COND_WAKE = Kind.COND_WAKE
EVENT_CLEAR = Kind.EVENT_CLEAR
EVENT_SET = Kind.EVENT_SET
EVENT_WAIT = Kind.EVENT_WAIT
EVENT_WAKE = Kind.EVENT_WAKE
LOCK_ACQUIRE = Kind.LOCK_ACQUIRE
LOCK_FAIL = Kind.LOCK_FAIL
LOCK_RELEASE = Kind.LOCK_RELEASE
LOCK_WAIT = Kind.LOCK_WAIT
QUEUE_EMPTY = Kind.QUEUE_EMPTY
QUEUE_FULL = Kind.QUEUE_FULL
QUEUE_GET = Kind.QUEUE_GET
QUEUE_JOIN = Kind.QUEUE_JOIN
QUEUE_JOINED = Kind.QUEUE_JOINED
QUEUE_PUT = Kind.QUEUE_PUT
QUEUE_TASK_DONE = Kind.QUEUE_TASK_DONE
QUEUE_WAIT = Kind.QUEUE_WAIT
SEM_ACQUIRE = Kind.SEM_ACQUIRE
SEM_FAIL = Kind.SEM_FAIL
SEM_RELEASE = Kind.SEM_RELEASE
SEM_WAIT = Kind.SEM_WAIT

_getframe = sys._getframe
_get_ident = _thread.get_ident
_now = time.monotonic_ns

Waited = Callable[[Any], Coroutine[Any, Any, Any]]


def _any_live(waiters: Any) -> bool:
    """Whether a waiter queue holds a waiter that is not cancelled (the primitives' own FIFO rule)."""
    return bool(waiters) and any(not w.cancelled() for w in waiters)


def _named(cls: type, *wrappers: Any) -> None:
    """Give wrappers the original's qualified name and doc: a task running `ev.wait()` is `Event.wait`'s."""
    for wrapper in wrappers:
        original = getattr(cls, wrapper.__name__)
        wrapper.__qualname__ = original.__qualname__
        wrapper.__doc__ = original.__doc__
        wrapper.__wrapped__ = original


async def _suspended(
    rec: Recorder, waits: dict[int, tuple[str, int]], what: str, oid: int, call: Awaitable[Any], gave_up: Callable[[int], None]
) -> tuple[Any, int]:
    """Await `call` with the running task marked as waiting on object `oid`: (its result, ns waited).

    If the wait ends in an exception (a cancellation), `gave_up(ns waited)`
    records how it ended before the exception goes on.
    """
    start = _now()
    tid = rec.running_tasks.get(_get_ident())
    if tid:
        waits[tid] = (what, oid)
    try:
        result = await call
    except BaseException:
        if rec.active:
            gave_up(_now() - start)
        raise
    finally:
        if tid:
            waits.pop(tid, None)
    return result, _now() - start


# Errors leave the wrappers by a bare `raise` without chronodbg's traceback
# entries (see recorder.locks): the program's tracebacks read as unrecorded.
# In coroutines the awaited helpers' frames go too, so the whole chain is cleaned.


def install_lock(rec: Recorder, patches: Patches, tracker: TaskTracker, Lock: type) -> None:
    original_acquire: Waited = Lock.acquire  # type: ignore[attr-defined]
    original_release = traced(rec, Lock.release)  # type: ignore[attr-defined]
    waits = tracker.waits
    wrap_init(rec, patches, Lock)

    async def acquire(self: Any) -> bool:
        try:
            if not rec.active:
                return bool(await original_acquire(self))
            frame = _getframe().f_back
            oid = object_id(rec, self, frame)
            if not oid:
                return bool(await original_acquire(self))
            if not self._locked and not _any_live(self._waiters):
                result = await original_acquire(self)
                rec.emit(LOCK_ACQUIRE, oid, (0, 1), frame)
                return bool(result)
            rec.emit(LOCK_WAIT, oid, (None,), frame)
            result, waited = await _suspended(
                rec, waits, "lock", oid, original_acquire(self), lambda ns: rec.emit(LOCK_FAIL, oid, (ns, None), frame)
            )
            if rec.active:
                rec.emit(LOCK_ACQUIRE, oid, (waited, 1), frame)
            return bool(result)
        except BaseException as exc:
            exc.__traceback__ = without_own_frames(exc.__traceback__)
            raise

    def release(self: Any) -> None:
        try:
            if rec.active and self._locked:
                frame = _getframe().f_back
                oid = object_id(rec, self, frame)
                if oid:
                    rec.emit(LOCK_RELEASE, oid, (0,), frame)
            original_release(self)
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    _named(Lock, acquire, release)
    patches.set(Lock, "acquire", acquire)
    patches.set(Lock, "release", untraced(rec, release))


def install_event(rec: Recorder, patches: Patches, tracker: TaskTracker, Event: type) -> None:
    original_wait: Waited = Event.wait  # type: ignore[attr-defined]
    original_set = traced(rec, Event.set)  # type: ignore[attr-defined]
    original_clear = traced(rec, Event.clear)  # type: ignore[attr-defined]
    waits = tracker.waits
    wrap_init(rec, patches, Event)

    async def wait(self: Any) -> bool:
        try:
            if not rec.active:
                return bool(await original_wait(self))
            frame = _getframe().f_back
            oid = object_id(rec, self, frame)
            if not oid:
                return bool(await original_wait(self))
            flag = bool(self._value)
            rec.emit(EVENT_WAIT, oid, (flag, None), frame)
            if flag:
                result = await original_wait(self)
                rec.emit(EVENT_WAKE, oid, (True, 0), frame)
                return bool(result)
            result, waited = await _suspended(
                rec, waits, "event", oid, original_wait(self), lambda ns: rec.emit(EVENT_WAKE, oid, (False, ns), frame)
            )
            if rec.active:
                rec.emit(EVENT_WAKE, oid, (True, waited), frame)
            return bool(result)
        except BaseException as exc:
            exc.__traceback__ = without_own_frames(exc.__traceback__)
            raise

    def set(self: Any) -> None:
        if rec.active and not self._value:
            frame = _getframe().f_back
            oid = object_id(rec, self, frame)
            if oid:
                rec.emit(EVENT_SET, oid, (sum(1 for w in self._waiters if not w.done()),), frame)
        original_set(self)

    def clear(self: Any) -> None:
        if rec.active:
            frame = _getframe().f_back
            oid = object_id(rec, self, frame)
            if oid:
                rec.emit(EVENT_CLEAR, oid, (), frame)
        original_clear(self)

    _named(Event, wait, set, clear)
    patches.set(Event, "wait", wait)
    patches.set(Event, "set", untraced(rec, set))
    patches.set(Event, "clear", untraced(rec, clear))


def install_condition(rec: Recorder, patches: Patches, tracker: TaskTracker, Condition: type) -> None:
    original_init = Condition.__dict__["__init__"]
    original_wait: Waited = Condition.wait  # type: ignore[attr-defined]
    original_notify = traced(rec, Condition.notify)  # type: ignore[attr-defined]
    waits = tracker.waits
    wrap_init(rec, patches, Condition)
    recorded_init = Condition.__dict__["__init__"]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        # The arguments pass on untouched: a bad call fails in Condition.__init__ itself, with its own message.
        recorded_init(self, *args, **kwargs)
        lock = args[0] if args else kwargs.get("lock")
        # The lock a Condition makes for itself is part of the user's condition: show who holds it.
        if lock is None and self.__dict__.get("_cgr_oid") and not self._lock.__dict__.get("_cgr_oid"):
            self._lock._cgr_oid = rec.register_object(type_label(type(self._lock)), _getframe().f_back)

    __init__.__qualname__ = original_init.__qualname__
    __init__.__wrapped__ = original_init  # type: ignore[attr-defined]
    patches.set(Condition, "__init__", __init__)

    async def wait(self: Any) -> bool:
        try:
            if not rec.active or not self.locked():
                return bool(await original_wait(self))
            frame = _getframe().f_back
            oid = object_id(rec, self, frame)
            if not oid:
                return bool(await original_wait(self))
            lock = self._lock.__dict__.get("_cgr_oid") or None
            rec.emit(COND_WAIT, oid, (None, lock), frame)
            result, waited = await _suspended(
                rec, waits, "condition", oid, original_wait(self), lambda ns: rec.emit(COND_WAKE, oid, (False, ns), frame)
            )
            if rec.active:
                rec.emit(COND_WAKE, oid, (True, waited), frame)
            return bool(result)
        except BaseException as exc:
            exc.__traceback__ = without_own_frames(exc.__traceback__)
            raise

    def notify(self: Any, n: int = 1) -> None:
        try:
            if rec.active and self.locked():
                frame = _getframe().f_back
                oid = object_id(rec, self, frame)
                if oid:
                    rec.emit(COND_NOTIFY, oid, (n, sum(1 for w in self._waiters if not w.done())), frame)
            original_notify(self, n)
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    _named(Condition, wait, notify)
    patches.set(Condition, "wait", wait)
    patches.set(Condition, "notify", untraced(rec, notify))


def install_semaphore(rec: Recorder, patches: Patches, tracker: TaskTracker, Semaphore: type) -> None:
    original_acquire: Waited = Semaphore.acquire  # type: ignore[attr-defined]
    original_release = traced(rec, Semaphore.release)  # type: ignore[attr-defined]
    waits = tracker.waits
    wrap_init(rec, patches, Semaphore)

    async def acquire(self: Any) -> bool:
        try:
            if not rec.active:
                return bool(await original_acquire(self))
            frame = _getframe().f_back
            oid = object_id(rec, self, frame)
            if not oid:
                return bool(await original_acquire(self))
            if not self.locked():
                result = await original_acquire(self)
                rec.emit(SEM_ACQUIRE, oid, (self._value, 0), frame)
                return bool(result)
            rec.emit(SEM_WAIT, oid, (self._value, None), frame)
            result, waited = await _suspended(
                rec,
                waits,
                "semaphore",
                oid,
                original_acquire(self),
                lambda ns: rec.emit(SEM_FAIL, oid, (self._value, ns), frame),
            )
            if rec.active:
                rec.emit(SEM_ACQUIRE, oid, (self._value, waited), frame)
            return bool(result)
        except BaseException as exc:
            exc.__traceback__ = without_own_frames(exc.__traceback__)
            raise

    def release(self: Any) -> None:
        # BoundedSemaphore.release checks its bound, then calls this: one event per real release.
        try:
            if rec.active:
                frame = _getframe().f_back
                oid = object_id(rec, self, frame)
                if oid:
                    rec.emit(SEM_RELEASE, oid, (self._value + 1, 1), frame)
            original_release(self)
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    _named(Semaphore, acquire, release)
    patches.set(Semaphore, "acquire", acquire)
    patches.set(Semaphore, "release", untraced(rec, release))


def _wrap_storage(rec: Recorder, patches: Patches, cls: type) -> None:
    """Record puts and gets where the item really moves: in the class's own `_put` / `_get`."""
    if storage_hooks_in_c(rec, patches, cls, threading_queue=False):
        return
    own = cls.__dict__
    if "_put" in own and not getattr(own["_put"], "_cgr", False):
        original_put = own["_put"]

        def _put(self: Any, item: Any, *args: Any) -> None:
            original_put(self, item, *args)
            oid = self.__dict__.get("_cgr_oid")
            if oid and rec.active:
                rec.emit(QUEUE_PUT, oid, (rec.summariser.safe_value(item), len(self._queue)), _getframe().f_back)

        _put._cgr = True  # type: ignore[attr-defined]
        patches.set(cls, "_put", _put)
    if "_get" in own and not getattr(own["_get"], "_cgr", False):
        original_get = own["_get"]

        def _get(self: Any, *args: Any) -> Any:
            item = original_get(self, *args)
            oid = self.__dict__.get("_cgr_oid")
            if oid and rec.active:
                rec.emit(QUEUE_GET, oid, (rec.summariser.safe_value(item), len(self._queue)), _getframe().f_back)
            return item

        _get._cgr = True  # type: ignore[attr-defined]
        patches.set(cls, "_get", _get)


def install_queue(rec: Recorder, patches: Patches, tracker: TaskTracker, queues: Any) -> None:
    Queue = queues.Queue
    QueueFull, QueueEmpty = queues.QueueFull, queues.QueueEmpty
    original_put: Any = Queue.put
    original_get: Waited = Queue.get
    original_put_nowait = traced(rec, Queue.put_nowait)
    original_get_nowait = traced(rec, Queue.get_nowait)
    original_task_done = traced(rec, Queue.task_done)
    original_join: Waited = Queue.join
    waits = tracker.waits
    wrap_init(rec, patches, Queue)

    def oid_of(queue: Any, frame: Any) -> int:
        return object_id(rec, queue, frame) if rec.active else 0

    # Called by the coroutines below at every put and get: not traced either.
    oid_of = untraced(rec, oid_of)

    async def put(self: Any, item: Any) -> None:
        try:
            frame = _getframe().f_back
            oid = oid_of(self, frame)
            if not oid or not self.full():
                return await original_put(self, item)  # type: ignore[no-any-return]
            rec.emit(QUEUE_WAIT, oid, ("put", self.qsize(), self._maxsize, None), frame)
            # Cancelled (or, 3.13+, shut down) before there was room: queue.full.
            result, _ = await _suspended(
                rec,
                waits,
                "queue",
                oid,
                original_put(self, item),
                lambda ns: rec.emit(QUEUE_FULL, oid, (self.qsize(), self._maxsize), frame),
            )
            return result  # type: ignore[no-any-return]
        except BaseException as exc:
            exc.__traceback__ = without_own_frames(exc.__traceback__)
            raise

    async def get(self: Any) -> Any:
        try:
            frame = _getframe().f_back
            oid = oid_of(self, frame)
            if not oid or not self.empty():
                return await original_get(self)
            rec.emit(QUEUE_WAIT, oid, ("get", 0, self._maxsize, None), frame)
            item, _ = await _suspended(
                rec, waits, "queue", oid, original_get(self), lambda ns: rec.emit(QUEUE_EMPTY, oid, (self.qsize(),), frame)
            )
            return item
        except BaseException as exc:
            exc.__traceback__ = without_own_frames(exc.__traceback__)
            raise

    def put_nowait(self: Any, item: Any) -> None:
        try:
            try:
                original_put_nowait(self, item)
            except QueueFull:
                frame = _getframe().f_back
                oid = oid_of(self, frame)
                if oid:
                    rec.emit(QUEUE_FULL, oid, (self.qsize(), self._maxsize), frame)
                raise
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def get_nowait(self: Any) -> Any:
        try:
            try:
                return original_get_nowait(self)
            except QueueEmpty:
                frame = _getframe().f_back
                oid = oid_of(self, frame)
                if oid:
                    rec.emit(QUEUE_EMPTY, oid, (self.qsize(),), frame)
                raise
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def task_done(self: Any) -> None:
        try:
            if self._unfinished_tasks > 0:
                frame = _getframe().f_back
                oid = oid_of(self, frame)
                if oid:
                    rec.emit(QUEUE_TASK_DONE, oid, (self._unfinished_tasks - 1,), frame)
            original_task_done(self)
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    async def join(self: Any) -> None:
        try:
            frame = _getframe().f_back
            oid = oid_of(self, frame)
            if not oid:
                return await original_join(self)  # type: ignore[no-any-return]
            rec.emit(QUEUE_JOIN, oid, (self._unfinished_tasks,), frame)
            if not self._unfinished_tasks:
                await original_join(self)
                waited = 0
            else:
                # queue.joined closes the join however it ends (no failure kind for a join).
                _, waited = await _suspended(
                    rec, waits, "queue", oid, original_join(self), lambda ns: rec.emit(QUEUE_JOINED, oid, (ns,), frame)
                )
            if rec.active:
                rec.emit(QUEUE_JOINED, oid, (waited,), frame)
        except BaseException as exc:
            exc.__traceback__ = without_own_frames(exc.__traceback__)
            raise

    methods = (put, get, put_nowait, get_nowait, task_done, join)
    _named(Queue, *methods)
    for method in methods:
        patches.set(Queue, method.__name__, method if method in (put, get, join) else untraced(rec, method))
    for cls in (Queue, queues.LifoQueue, queues.PriorityQueue):
        _wrap_storage(rec, patches, cls)


def install(rec: Recorder, patches: Patches, tracker: TaskTracker, asyncio: Any) -> None:
    locks = asyncio.locks
    install_lock(rec, patches, tracker, locks.Lock)
    install_event(rec, patches, tracker, locks.Event)
    install_condition(rec, patches, tracker, locks.Condition)
    install_semaphore(rec, patches, tracker, locks.Semaphore)
    install_queue(rec, patches, tracker, asyncio.queues)
