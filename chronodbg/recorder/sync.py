"""Recorded Condition, Semaphore/BoundedSemaphore, Event and Barrier.

These are pure-Python classes: their methods are replaced on the class, which
also covers `from threading import Event` done earlier and instances created
before recording began. Each object decides once whether it is the user's
(see `object_id`); the standard library's own (a Thread's started Event, a
Queue's Conditions) are left unrecorded.

Errors leave every wrapper by a bare `raise` after dropping the wrapper's own
traceback entry (see recorder.locks): tracebacks read as unrecorded.
"""

from __future__ import annotations

import sys
import threading
import time
from types import FrameType
from typing import Any

from chronodbg.kinds import Kind
from chronodbg.recorder.core import Recorder
from chronodbg.recorder.patching import Patches, traced, untraced

# Kind's members as module constants: on 3.11 each `Kind.X` goes through EnumType.__getattr__ (about 190 ns).
BARRIER_BROKEN = Kind.BARRIER_BROKEN
BARRIER_PASS = Kind.BARRIER_PASS
BARRIER_WAIT = Kind.BARRIER_WAIT
COND_NOTIFY = Kind.COND_NOTIFY
COND_WAIT = Kind.COND_WAIT
COND_WAKE = Kind.COND_WAKE
EVENT_CLEAR = Kind.EVENT_CLEAR
EVENT_SET = Kind.EVENT_SET
EVENT_WAIT = Kind.EVENT_WAIT
EVENT_WAKE = Kind.EVENT_WAKE
QUEUE_WAIT = Kind.QUEUE_WAIT
SEM_ACQUIRE = Kind.SEM_ACQUIRE
SEM_FAIL = Kind.SEM_FAIL
SEM_RELEASE = Kind.SEM_RELEASE
SEM_WAIT = Kind.SEM_WAIT

_getframe = sys._getframe
_now = time.monotonic_ns


#: The standard library's own `_qsize` of queue.Queue and its subclasses
#: (`len(self.queue)`), of every `queue` module patched (recorder.queues).
LIBRARY_QSIZES: set[Any] = set()


def queue_size(queue: Any) -> int | None:
    """A queue.Queue's size, for its events; None where its class has a `_qsize` of its own.

    That `_qsize` is the program's code: the recorder calling it would run
    it more often than the program does (and record the calls as the
    program's at level calls), so its queues are recorded without a size.
    """
    return len(queue.queue) if type(queue)._qsize in LIBRARY_QSIZES else None


def type_label(cls: type) -> str:
    """The name objects of this class are labelled with: `Lock`, `asyncio.Lock`, a user's own class name."""
    return f"asyncio.{cls.__name__}" if cls.__module__.startswith("asyncio") else cls.__name__


def object_id(rec: Recorder, obj: Any, frame: FrameType | None) -> int:
    """The object's id, deciding on first sight: 0 means not the user's.

    An object that existed before recording began is decided by its first
    use: by the user's code if the call came from there, through the object's
    own methods (`with sem:`, `notify_all()`, `wait_for()`) or not.
    """
    oid = obj.__dict__.get("_cgr_oid")
    if oid is None:
        while frame is not None and not rec.creator_is_user(frame) and frame.f_locals.get("self") is obj:
            frame = frame.f_back
        oid = rec.register_object(type_label(type(obj)), frame) if rec.creator_is_user(frame) else 0
        obj._cgr_oid = oid
    return int(oid)


def creator(rec: Recorder, obj: Any, frame: FrameType | None) -> FrameType | None:
    """The frame that created `obj`, past library `__init__`s chaining to their base's.

    A BoundedSemaphore is built by BoundedSemaphore.__init__ calling
    Semaphore.__init__: the creator is whoever called the outermost one.
    """
    while (
        frame is not None
        and frame.f_code.co_name == "__init__"
        and not rec.creator_is_user(frame)
        and frame.f_locals.get("self") is obj
    ):
        frame = frame.f_back
    return frame


def wrap_init(rec: Recorder, patches: Patches, cls: type) -> None:
    """Decide at creation whether instances of `cls` are the user's, and number them."""
    original = cls.__dict__["__init__"]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if rec.active:
            frame = creator(rec, self, _getframe().f_back)
            self._cgr_oid = rec.register_object(type_label(type(self)), frame) if rec.creator_is_user(frame) else 0

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    patches.set(cls, "__init__", __init__)


def _lock_id(lock: Any) -> int | None:
    oid = getattr(lock, "_oid", None) or getattr(lock, "_cgr_oid", None)
    return oid if isinstance(oid, int) and oid > 0 else None


def install_condition(rec: Recorder, patches: Patches) -> None:
    Condition = threading.Condition
    original_wait = traced(rec, Condition.wait)
    original_notify = Condition.notify
    traced_notify = traced(rec, original_notify)
    wrap_init(rec, patches, Condition)

    def wait(self: Any, timeout: float | None = None) -> bool:
        try:
            frame = _getframe().f_back
            oid = object_id(rec, self, frame) if rec.active else 0
            if not oid:
                queue_wait = self.__dict__.get("_cgr_queue")
                if queue_wait is not None and rec.active:
                    queue, op, qid = queue_wait
                    rec.emit(QUEUE_WAIT, qid, (op, queue_size(queue), queue.maxsize, timeout), frame)
                return original_wait(self, timeout)
            rec.emit(COND_WAIT, oid, (timeout, _lock_id(self._lock)), frame)
            start = _now()
            notified = original_wait(self, timeout)
            if rec.active:
                rec.emit(COND_WAKE, oid, (notified, _now() - start), frame)
            return notified
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def notify(self: Any, n: int = 1) -> None:
        try:
            oid = waiting = 0
            frame = None
            # 0: decided not the user's (a queue's own conditions, notified at every put and get).
            if rec.active and self.__dict__.get("_cgr_oid") != 0:
                frame = _getframe().f_back
                oid = object_id(rec, self, frame)
                waiting = len(self._waiters)
            # Recorded after the original, which raises on a lock this thread
            # does not hold: asking first (`_is_owned`) would run a lock of the
            # program's once more. Still before the wakes, which wait for that lock.
            traced_notify(self, n)
            if oid and rec.active:
                rec.emit(COND_NOTIFY, oid, (n, waiting), frame)
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    patches.set(Condition, "wait", untraced(rec, wait))
    # A queue's own conditions are notified at every put and get: the C gate
    # sends those (decided not the user's) straight to the original.
    notify = untraced(rec, notify)
    patches.set(Condition, "notify", rec.hooks.Gate(original_notify, notify) if rec.hooks is not None else notify)


def install_semaphore(rec: Recorder, patches: Patches) -> None:
    Semaphore = threading.Semaphore
    Bounded = threading.BoundedSemaphore
    original_acquire = traced(rec, Semaphore.acquire)
    original_release = traced(rec, Semaphore.release)
    original_bounded_release = traced(rec, Bounded.release)
    wrap_init(rec, patches, Semaphore)

    def acquire(self: Any, blocking: bool = True, timeout: float | None = None) -> bool:
        try:
            if not rec.active:
                return original_acquire(self, blocking, timeout)
            frame = _getframe().f_back
            oid = object_id(rec, self, frame)
            if not oid:
                return original_acquire(self, blocking, timeout)
            if not blocking and timeout is not None:
                # The error the original raises, before the try below hides it.
                return original_acquire(self, blocking, timeout)
            if original_acquire(self, False):
                waited = 0
            else:
                if not blocking:
                    rec.emit(SEM_FAIL, oid, (self._value, 0), frame)
                    return False
                rec.emit(SEM_WAIT, oid, (self._value, timeout), frame)
                start = _now()
                if not original_acquire(self, True, timeout):
                    rec.emit(SEM_FAIL, oid, (self._value, _now() - start), frame)
                    return False
                waited = _now() - start
            try:
                rec.emit(SEM_ACQUIRE, oid, (self._value, waited), frame)
            except BaseException:
                # Raised at the recursion limit or by a signal handler: give the
                # unit back, so the caller sees an acquire that never happened.
                original_release(self)
                raise
            return True
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def enter(self: Any) -> bool:
        try:
            return acquire(self)
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def _release(original: Any, bounded: bool) -> Any:
        def release(self: Any, n: int = 1) -> None:
            try:
                if rec.active:
                    frame = _getframe().f_back
                    oid = object_id(rec, self, frame)
                    # A bounded semaphore released too often raises; record only real releases.
                    if oid and n >= 1 and not (bounded and self._value + n > self._initial_value):
                        rec.emit(SEM_RELEASE, oid, (self._value + n, n), frame)
                original(self, n)
            except BaseException as exc:
                exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
                raise

        return release

    patches.set(Semaphore, "acquire", untraced(rec, acquire))
    patches.set(Semaphore, "__enter__", untraced(rec, enter))
    patches.set(Semaphore, "release", untraced(rec, _release(original_release, False)))
    patches.set(Bounded, "release", untraced(rec, _release(original_bounded_release, True)))


def install_event(rec: Recorder, patches: Patches) -> None:
    Event = threading.Event
    original_set = traced(rec, Event.set)
    original_clear = traced(rec, Event.clear)
    original_wait = traced(rec, Event.wait)
    wrap_init(rec, patches, Event)

    def set(self: Any) -> None:
        if rec.active:
            frame = _getframe().f_back
            oid = object_id(rec, self, frame)
            if oid:
                rec.emit(EVENT_SET, oid, (len(self._cond._waiters),), frame)
        original_set(self)

    def clear(self: Any) -> None:
        if rec.active:
            frame = _getframe().f_back
            oid = object_id(rec, self, frame)
            if oid:
                rec.emit(EVENT_CLEAR, oid, (), frame)
        original_clear(self)

    def wait(self: Any, timeout: float | None = None) -> bool:
        try:
            if not rec.active:
                return original_wait(self, timeout)
            frame = _getframe().f_back
            oid = object_id(rec, self, frame)
            if not oid:
                return original_wait(self, timeout)
            rec.emit(EVENT_WAIT, oid, (self._flag, timeout), frame)
            start = _now()
            result = original_wait(self, timeout)
            if rec.active:
                rec.emit(EVENT_WAKE, oid, (result, _now() - start), frame)
            return result
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    patches.set(Event, "set", untraced(rec, set))
    patches.set(Event, "clear", untraced(rec, clear))
    patches.set(Event, "wait", untraced(rec, wait))


def install_barrier(rec: Recorder, patches: Patches) -> None:
    Barrier = threading.Barrier
    original_wait = traced(rec, Barrier.wait)
    wrap_init(rec, patches, Barrier)

    def wait(self: Any, timeout: float | None = None) -> int:
        try:
            if not rec.active:
                return original_wait(self, timeout)
            frame = _getframe().f_back
            oid = object_id(rec, self, frame)
            if not oid:
                return original_wait(self, timeout)
            rec.emit(BARRIER_WAIT, oid, (self._count + 1, self._parties, timeout), frame)
            start = _now()
            try:
                index = original_wait(self, timeout)
            except threading.BrokenBarrierError:
                if rec.active:
                    rec.emit(BARRIER_BROKEN, oid, (_now() - start,), frame)
                raise
            if rec.active:
                rec.emit(BARRIER_PASS, oid, (index, _now() - start), frame)
            return index
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    patches.set(Barrier, "wait", untraced(rec, wait))


def install(rec: Recorder, patches: Patches) -> None:
    install_condition(rec, patches)
    install_semaphore(rec, patches)
    install_event(rec, patches)
    install_barrier(rec, patches)
