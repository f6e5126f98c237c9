"""Recorded `threading.Lock` and `threading.RLock`.

Both are C types, so they can only be replaced at the factory. The factory
returns a plain C lock when the code creating it is not the user's (the
standard library's own locks are noise and keep their full speed) and a
wrapper otherwise. Every wrapper records an acquire after acquiring and a
release before releasing, and finds out about contention with a
non-blocking attempt first.
"""

from __future__ import annotations

import _thread
import sys
import threading
import time
from types import FrameType
from typing import Any

from chronodbg.kinds import Kind
from chronodbg.recorder.core import Recorder
from chronodbg.recorder.patching import Patches

_allocate = _thread.allocate_lock
_RawLock = type(_allocate())
_RawRLock: Any = _thread.RLock
_getframe = sys._getframe
_now = time.monotonic_ns
_TIMEOUT_MAX = _thread.TIMEOUT_MAX

ACQUIRE, WAIT, FAIL, RELEASE = Kind.LOCK_ACQUIRE, Kind.LOCK_WAIT, Kind.LOCK_FAIL, Kind.LOCK_RELEASE


def _contended(rec: Recorder, oid: int, lock: Any, blocking: bool, timeout: float, frame: FrameType) -> int | None:
    """The acquire that could not succeed at once: ns waited, or None if it failed (recorded)."""
    if not blocking:
        rec.emit(FAIL, oid, (0, None), frame)
        return None
    rec.emit(WAIT, oid, (None if timeout < 0 else timeout,), frame)
    start = _now()
    if lock.acquire(True, timeout):
        return _now() - start
    rec.emit(FAIL, oid, (_now() - start, timeout), frame)
    return None


class _Recorded:
    """What both wrappers share: release and `with` exit record from the caller's frame."""

    __slots__ = ()

    def release(self) -> None:
        self._release(_getframe(1))

    def __exit__(self, *exc: object) -> None:
        self._release(_getframe(1))

    def _release(self, frame: FrameType) -> None:
        raise NotImplementedError


class RecordedLock(_Recorded):
    __slots__ = ("_lock", "_oid", "_rec", "__weakref__")

    def __init__(self, rec: Recorder | None = None, oid: int = 0) -> None:
        if rec is None:
            # As for the C lock type, which cannot be instantiated directly.
            raise TypeError("cannot create 'threading.Lock' instances")
        self._lock = _allocate()
        self._oid = oid
        self._rec = rec

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        lock = self._lock
        rec = self._rec
        if not rec.active or (timeout != -1 and (not blocking or not 0 <= timeout <= _TIMEOUT_MAX)):
            # The C lock's own checks raise ValueError / OverflowError for these.
            return lock.acquire(blocking, timeout)
        if lock.acquire(False):
            rec.emit(ACQUIRE, self._oid, (0, 1), _getframe(1))
            return True
        frame = _getframe(1)
        waited = _contended(rec, self._oid, lock, blocking, timeout, frame)
        if waited is None:
            return False
        rec.emit(ACQUIRE, self._oid, (waited, 1), frame)
        return True

    # `with lock:` calls acquire directly: one Python frame fewer per entry.
    __enter__ = acquire

    def _release(self, frame: FrameType) -> None:
        lock = self._lock
        if self._rec.active and lock.locked():
            self._rec.emit(RELEASE, self._oid, (0,), frame)
        lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def _is_owned(self) -> bool:
        # What Condition would compute by try-acquiring, without recording it.
        if self._lock.acquire(False):
            self._lock.release()
            return False
        return True

    def _at_fork_reinit(self) -> None:
        self._lock._at_fork_reinit()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        state = "locked" if self._lock.locked() else "unlocked"
        return f"<{state} _thread.lock object at {id(self):#x}>"

    def __reduce__(self) -> Any:
        # Pickling a lock fails as it does without recording.
        raise TypeError("cannot pickle '_thread.lock' object")


class RecordedRLock(_Recorded):
    __slots__ = ("_lock", "_oid", "_rec", "_depth", "__weakref__")

    def __init__(self, rec: Recorder, oid: int) -> None:
        self._lock = _RawRLock()
        self._oid = oid
        self._rec = rec
        self._depth = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        lock = self._lock
        rec = self._rec
        if not rec.active or (timeout != -1 and (not blocking or not 0 <= timeout <= _TIMEOUT_MAX)):
            if lock.acquire(blocking, timeout):
                self._depth += 1
                return True
            return False
        if lock.acquire(False):
            self._depth += 1
            rec.emit(ACQUIRE, self._oid, (0, self._depth), _getframe(1))
            return True
        frame = _getframe(1)
        waited = _contended(rec, self._oid, lock, blocking, timeout, frame)
        if waited is None:
            return False
        self._depth += 1
        rec.emit(ACQUIRE, self._oid, (waited, self._depth), frame)
        return True

    __enter__ = acquire

    def _release(self, frame: FrameType) -> None:
        lock = self._lock
        if lock._is_owned():
            self._depth -= 1
            if self._rec.active:
                self._rec.emit(RELEASE, self._oid, (self._depth,), frame)
        lock.release()

    def _is_owned(self) -> bool:
        return bool(self._lock._is_owned())

    def _release_save(self) -> Any:
        # Condition.wait() releases every level at once.
        if self._rec.active and self._lock._is_owned():
            self._rec.emit(RELEASE, self._oid, (0,), _getframe(1))
        state = self._lock._release_save()
        self._depth = 0
        return state

    def _acquire_restore(self, state: Any) -> None:
        count = state[0] if isinstance(state, tuple) and state else 1
        lock = self._lock
        if lock.acquire(False):
            for _ in range(count - 1):
                lock.acquire(False)
            waited = 0
            frame = _getframe(1)
        else:
            frame = _getframe(1)
            if self._rec.active:
                self._rec.emit(WAIT, self._oid, (None,), frame)
            start = _now()
            lock._acquire_restore(state)
            waited = _now() - start
        self._depth = count
        if self._rec.active:
            self._rec.emit(ACQUIRE, self._oid, (waited, count), frame)

    def _recursion_count(self) -> int:
        return self._depth if self._lock._is_owned() else 0

    def _at_fork_reinit(self) -> None:
        self._lock._at_fork_reinit()
        self._depth = 0

    def __repr__(self) -> str:
        return repr(self._lock)

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle '_thread.RLock' object")


# What `type(lock)` names in locals and tracebacks: what the user created.
RecordedLock.__module__ = RecordedRLock.__module__ = "threading"
RecordedLock.__name__ = RecordedLock.__qualname__ = "Lock"
RecordedRLock.__name__ = RecordedRLock.__qualname__ = "RLock"


def install(rec: Recorder, patches: Patches) -> None:
    original_lock = threading.Lock
    original_rlock = threading.RLock

    class LockMeta(type):
        def __instancecheck__(cls, instance: object) -> bool:
            return isinstance(instance, (_RawLock, RecordedLock))

        def __subclasscheck__(cls, subclass: type) -> bool:
            return issubclass(subclass, (_RawLock, RecordedLock))

        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            frame = _getframe(1)
            if args or kwargs or not rec.active or not rec.creator_is_user(frame):
                return original_lock(*args, **kwargs)
            return RecordedLock(rec, rec.register_object("Lock", frame))

    class Lock(metaclass=LockMeta):
        """threading.Lock, recorded by chronodbg when user code creates it."""

        def __init_subclass__(cls, **kwargs: Any) -> None:
            # threading.Lock cannot be subclassed (a builtin function before
            # 3.13, a final type since): the TypeError the original gives.
            if isinstance(original_lock, type):
                raise TypeError(f"type '{original_lock.__module__}.{original_lock.__name__}' is not an acceptable base type")
            raise TypeError(f"cannot create '{type(original_lock).__name__}' instances")

    def RLock(*args: Any, **kwargs: Any) -> Any:
        frame = _getframe(1)
        if args or kwargs or not rec.active or not rec.creator_is_user(frame):
            return original_rlock(*args, **kwargs)
        return RecordedRLock(rec, rec.register_object("RLock", frame))

    Lock.__module__ = RLock.__module__ = "threading"
    RLock.__doc__ = original_rlock.__doc__
    patches.set(threading, "Lock", Lock)
    patches.set(threading, "RLock", RLock)
    # Modules of the user's imported before recording began hold the
    # originals under their own names.
    replacements = {id(original_lock): Lock, id(_allocate): Lock, id(original_rlock): RLock}
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str) or not rec.user.file_is_user(filename):
            continue
        for name, value in list(vars(module).items()):
            replacement = replacements.get(id(value))
            if replacement is not None and value in (original_lock, _allocate, original_rlock):
                patches.set(module, name, replacement)
