"""Recorded `threading.Lock` and `threading.RLock`.

Both are C types, so they can only be replaced at the factory. The factory
returns a plain C lock when the code creating it is not the user's (the
standard library's own locks are noise and keep their full speed) and a
wrapper otherwise. Every wrapper records an acquire after acquiring and a
release before releasing, and finds out about contention with a
non-blocking attempt first. A contended acquire without a timeout sleeps
beside the lock and tries again a few times before it blocks in it (see
`_contended`).
"""

from __future__ import annotations

import _thread
import copy
import copyreg
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from chronodbg.kinds import Kind
from chronodbg.recorder import between_locks
from chronodbg.recorder.core import PACK_LIMIT, Recorder
from chronodbg.recorder.patching import Patches

_allocate = _thread.allocate_lock
_RawLock = type(_allocate())
_RawRLock: Any = _thread.RLock
_getframe = sys._getframe
_now = time.monotonic_ns
_sleep = time.sleep
_TIMEOUT_MAX = _thread.TIMEOUT_MAX
#: 3.13+: `threading.Lock` is the C lock type itself, which can be called.
_LOCK_IS_TYPE = isinstance(threading.Lock, type)
#: The recorder whose factories are installed (at most one): `type(lock)()`
#: numbers the lock it makes with it, and while it is there `type(lock)`
#: answers for every lock of the kind, as the C type does.
_installed: list[Recorder] = []

ACQUIRE, WAIT, FAIL, RELEASE = Kind.LOCK_ACQUIRE, Kind.LOCK_WAIT, Kind.LOCK_FAIL, Kind.LOCK_RELEASE
#: The C cores of the wrappers (`_locks.c`, issue 8), where built: every
#: `with lock:` without a Python frame. Each recorder picks C or Python for
#: the wrappers it makes (`Recorder.lock_path`, CHRONODBG_PURE_PYTHON), as for
#: its emit; the C methods call back the Python ones (`_acquire_py`...) for
#: what they do not cover.
try:
    from chronodbg.recorder import _locks as _built
except ImportError:  # not built: no compiler at install time, or another Python's build
    _built = None  # type: ignore[assignment]


#: A contended acquire without a timeout first sleeps this long and tries
#: again, this many times, before it blocks in the lock (see _contended).
SPINS = 20
SPIN_SLEEP = 0.0001


def _contended(rec: Recorder | _Idle, oid: int, lock: Any, blocking: bool, timeout: float, frame: FrameType | None) -> int | None:
    """The acquire that could not succeed at once: ns waited, or None if it failed (recorded)."""
    if not blocking:
        rec.emit(FAIL, oid, (0, None), frame)
        return None
    rec.emit(WAIT, oid, (None if timeout < 0 else timeout,), frame)
    start = _now()
    if timeout < 0:
        # Under the GIL a lock is mostly held by a thread that is runnable
        # but waiting for the GIL. While any thread sleeps in the lock, each
        # release is an OS wake-up of one of them, and the releaser takes the
        # lock again before the woken thread runs: a convoy that costs every
        # `with lock:` a system call or two (W1: 747,000 futex calls, 37,000
        # waits). Recording lengthens critical sections, so it falls into
        # one at nearly every contended moment. A thread sleeping beside the
        # lock is not woken by releases; a lock held for long still ends in a
        # blocking wait, after SPINS tries (2-3 ms when nothing else runs).
        for _ in range(SPINS):
            _sleep(SPIN_SLEEP)
            if lock.acquire(False):
                return _now() - start
    if lock.acquire(True, timeout):
        return _now() - start
    rec.emit(FAIL, oid, (_now() - start, timeout), frame)
    return None


# Tracebacks. Each method that can raise to its caller ends in
#     except BaseException as exc:
#         exc.__traceback__ = exc.__traceback__.tb_next
#         raise
# When caught here, the traceback's first entry is this wrapper's frame; a bare
# `raise` adds none, so the caller sees the traceback it would see
# unrecorded (tracebacks the program prints, "Exception ignored in"
# messages). No call is made there: it works at the recursion limit too.
#
# Exception safety. `emit` swallows its own errors, but calling it can still
# raise: RecursionError at the recursion limit (the wrapper's frames count),
# KeyboardInterrupt from a signal handler. Whatever is raised between taking
# a lock and returning gives the lock back first, so the caller sees an
# acquire that failed before acquiring (the `with` body never runs); a release
# releases whatever is raised while recording it. The lock's state is then
# what the caller believes it is, as without recording. The release methods
# do their work inline: the same number of frames as the acquire, so a
# `with` that could enter at some depth can leave at the same depth.


class _Idle:
    """The recorder of a wrapper made when none records: every method passes straight through."""

    active = False

    def emit(self, *args: Any) -> None:
        pass


_IDLE = _Idle()


def _identity(type_name: str, frame: FrameType | None) -> tuple[Recorder | _Idle, int]:
    """(recorder, id) for a wrapper the program made by calling its type: recorded if user code did."""
    if _installed:
        rec = _installed[-1]
        if rec.active and rec.creator_is_user(frame):
            return rec, rec.register_object(type_name, frame)
    return _IDLE, 0


class _LockType(type):
    """The wrappers' metaclass: `type(lock)` stands for the C type, so while recording every lock of the kind is one.

    `isinstance(_thread.allocate_lock(), type(threading.Lock()))` holds as it
    does unrecorded: the standard library's own locks stay unwrapped.
    """

    def __instancecheck__(cls, instance: object) -> bool:
        if type.__instancecheck__(cls, instance):
            return True
        raw = cls.__dict__.get("_cgr_raw")
        return raw is not None and bool(_installed) and isinstance(instance, raw)

    def __subclasscheck__(cls, subclass: type) -> bool:
        if type.__subclasscheck__(cls, subclass):
            return True
        raw = cls.__dict__.get("_cgr_raw")
        return raw is not None and bool(_installed) and issubclass(subclass, raw)


class _CountsHeld:
    """The Python classes' side of packing between locks (the C cores have their own `_count` and `_after_release`)."""

    if not TYPE_CHECKING:
        __slots__ = ()

    def _count(self, held: bool) -> None:
        between_locks.count(self, held)

    def _after_release(self) -> None:
        between_locks.after_release()


class _LockMethods(_CountsHeld, metaclass=_LockType):
    """What both recorded Lock classes share: all but where the state lives and which hot methods run."""

    if not TYPE_CHECKING:  # the concrete classes' slots or C fields hold these
        __slots__ = ()
    _lock: _thread.LockType
    _oid: int
    _rec: Recorder | _Idle

    def __init__(self, rec: Recorder | None = None, oid: int = 0) -> None:
        recorder: Recorder | _Idle
        if rec is None:
            # `type(lock)()`: the C lock type cannot be instantiated before
            # 3.13; since, it makes a lock as threading.Lock() does.
            if not _LOCK_IS_TYPE:
                raise TypeError(f"cannot create '{_RawLock.__module__}.{_RawLock.__name__}' instances")
            recorder, oid = _identity("Lock", _getframe().f_back)
        else:
            recorder = rec
        self._lock = _allocate()
        self._oid = oid
        self._rec = recorder

    # isinstance() falls back on `__class__`: `isinstance(lock, _thread.LockType)`
    # holds as unrecorded. Only type() tells the wrapper (see docs/reliability.md).
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return _RawLock

    def _acquire_py(self, blocking: bool = True, timeout: float = -1) -> bool:
        try:
            lock = self._lock
            rec = self._rec
            if not rec.active or (timeout != -1 and (not blocking or not 0 <= timeout <= _TIMEOUT_MAX)):
                # The C lock's own checks raise ValueError / OverflowError for these.
                return lock.acquire(blocking, timeout)
            if lock.acquire(False):
                waited = 0
            else:
                frame = _getframe().f_back
                waited_or_none = _contended(rec, self._oid, lock, blocking, timeout, frame)
                if waited_or_none is None:
                    return False
                waited = waited_or_none
            try:
                rec.emit(ACQUIRE, self._oid, (waited, 1), _getframe().f_back)
            except BaseException:
                lock.release()
                raise
            self._count(True)
            return True
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def _release_py(self) -> None:
        try:
            lock = self._lock
            try:
                if self._rec.active and lock.locked():
                    self._rec.emit(RELEASE, self._oid, (0,), _getframe().f_back)
            finally:
                lock.release()
                self._count(False)
            self._after_release()
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def _exit_py(self, *exc_info: object) -> None:
        try:
            lock = self._lock
            try:
                if self._rec.active and lock.locked():
                    self._rec.emit(RELEASE, self._oid, (0,), _getframe().f_back)
            finally:
                lock.release()
                self._count(False)
            self._after_release()
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def locked(self) -> bool:
        return self._lock.locked()

    # The C lock's old alias (the others are the concrete classes').
    locked_lock = locked

    def _is_owned(self) -> bool:
        # What Condition would compute by try-acquiring, without recording it.
        if self._lock.acquire(False):
            self._lock.release()
            return False
        return True

    def _at_fork_reinit(self) -> None:
        self._lock._at_fork_reinit()  # type: ignore[attr-defined]
        self._count(False)

    def __repr__(self) -> str:
        state = "locked" if self._lock.locked() else "unlocked"
        return f"<{state} _thread.lock object at {id(self):#x}>"

    def __reduce__(self) -> Any:
        # Pickling a lock fails as it does without recording.
        raise TypeError("cannot pickle '_thread.lock' object")


class RecordedLock(_LockMethods):
    """The Python path: state in slots, the Python hot methods."""

    __slots__ = ("_lock", "_oid", "_rec", "__weakref__")
    _cgr_raw = _RawLock

    def __init_subclass__(cls, **kwargs: Any) -> None:
        raise TypeError(f"type '{_RawLock.__module__}.{_RawLock.__name__}' is not an acceptable base type")

    # `with lock:` calls acquire directly: one Python frame fewer per entry.
    acquire = __enter__ = acquire_lock = _LockMethods._acquire_py
    release = release_lock = _LockMethods._release_py
    __exit__ = _LockMethods._exit_py


if _built is not None:

    class CRecordedLock(_built.LockCore, _LockMethods):
        """The C path: state in the C core's fields, its hot methods (which call back `_acquire_py` and co.)."""

        __slots__ = ()
        _cgr_raw = _RawLock
        acquire_lock = _built.LockCore.acquire
        release_lock = _built.LockCore.release

        def __init_subclass__(cls, **kwargs: Any) -> None:
            raise TypeError(f"type '{_RawLock.__module__}.{_RawLock.__name__}' is not an acceptable base type")


class _RLockMethods(_CountsHeld, metaclass=_LockType):
    """What both recorded RLock classes share (see _LockMethods)."""

    if not TYPE_CHECKING:
        __slots__ = ()
    _lock: Any
    _oid: int
    _rec: Recorder | _Idle
    _depth: int

    def __init__(self, rec: Recorder | None = None, oid: int = 0) -> None:
        recorder: Recorder | _Idle
        if rec is None:
            # `type(rlock)()`, or a subclass of it: the C RLock type can be both.
            recorder, oid = _identity(type(self).__name__, _getframe().f_back)
        else:
            recorder = rec
        self._lock = _RawRLock()
        self._oid = oid
        self._rec = recorder
        self._depth = 0

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        # As for the Lock: `isinstance(rlock, _thread.RLock)` holds; a subclass is itself.
        cls = type(self)
        return _RawRLock if cls in _RLOCK_CLASSES else cls

    def _acquire_py(self, blocking: bool = True, timeout: float = -1) -> bool:
        try:
            lock = self._lock
            rec = self._rec
            if not rec.active or (timeout != -1 and (not blocking or not 0 <= timeout <= _TIMEOUT_MAX)):
                if lock.acquire(blocking, timeout):
                    self._depth += 1
                    return True
                return False
            if lock.acquire(False):
                waited = 0
            else:
                frame = _getframe().f_back
                waited_or_none = _contended(rec, self._oid, lock, blocking, timeout, frame)
                if waited_or_none is None:
                    return False
                waited = waited_or_none
            self._depth += 1
            try:
                rec.emit(ACQUIRE, self._oid, (waited, self._depth), _getframe().f_back)
            except BaseException:
                self._depth -= 1
                lock.release()
                raise
            self._count(True)
            return True
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def _release_py(self) -> None:
        try:
            lock = self._lock
            try:
                if lock._is_owned():
                    self._depth -= 1
                    if self._rec.active:
                        self._rec.emit(RELEASE, self._oid, (self._depth,), _getframe().f_back)
            finally:
                lock.release()
                if self._depth == 0:
                    self._count(False)
            self._after_release()
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def _exit_py(self, *exc_info: object) -> None:
        try:
            lock = self._lock
            try:
                if lock._is_owned():
                    self._depth -= 1
                    if self._rec.active:
                        self._rec.emit(RELEASE, self._oid, (self._depth,), _getframe().f_back)
            finally:
                lock.release()
                if self._depth == 0:
                    self._count(False)
            self._after_release()
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def _is_owned(self) -> bool:
        return bool(self._lock._is_owned())

    def _release_save(self) -> Any:
        # Condition.wait() releases every level at once. Raising here (before
        # releasing) leaves the condition held, as its caller expects then.
        try:
            if self._rec.active and self._lock._is_owned():
                self._rec.emit(RELEASE, self._oid, (0,), _getframe().f_back)
            state = self._lock._release_save()
            self._depth = 0
            self._count(False)
            return state
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def _acquire_restore(self, state: Any) -> None:
        try:
            count = state[0] if isinstance(state, tuple) and state else 1
            lock = self._lock
            if lock.acquire(False):
                for _ in range(count - 1):
                    lock.acquire(False)
                waited = 0
                frame = _getframe().f_back
            else:
                frame = _getframe().f_back
                if self._rec.active:
                    self._rec.emit(WAIT, self._oid, (None,), frame)
                start = _now()
                lock._acquire_restore(state)
                waited = _now() - start
            # Held again whatever happens next: Condition.wait's caller releases it.
            self._depth = count
            if self._rec.active:
                self._rec.emit(ACQUIRE, self._oid, (waited, count), frame)
                self._count(True)
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def _recursion_count(self) -> int:
        return self._depth if self._lock._is_owned() else 0

    def _at_fork_reinit(self) -> None:
        self._lock._at_fork_reinit()
        self._depth = 0
        self._count(False)

    def __repr__(self) -> str:
        return repr(self._lock)

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle '_thread.RLock' object")


class RecordedRLock(_RLockMethods):
    """The Python path (see RecordedLock). A program can subclass `type(rlock)`, as the C RLock."""

    __slots__ = ("_lock", "_oid", "_rec", "_depth", "__weakref__")
    _cgr_raw = _RawRLock
    acquire = __enter__ = _RLockMethods._acquire_py
    release = _RLockMethods._release_py
    __exit__ = _RLockMethods._exit_py


_LOCK_CLASSES: tuple[type, ...] = (RecordedLock,)
_RLOCK_CLASSES: tuple[type, ...] = (RecordedRLock,)
if _built is not None:

    class CRecordedRLock(_built.RLockCore, _RLockMethods):
        """The C path (see CRecordedLock)."""

        __slots__ = ()
        _cgr_raw = _RawRLock

    _built.configure(ACQUIRE, RELEASE, _contended)
    _LOCK_CLASSES += (CRecordedLock,)
    _RLOCK_CLASSES += (CRecordedRLock,)
#: Every wrapper class (snapshot.py shows their instances as locks).
WRAPPERS = _LOCK_CLASSES + _RLOCK_CLASSES


# `type(lock)` names the C types, as unrecorded (the labels in the log say Lock#n).
for _wrapper, _raw in [(cls, _RawLock) for cls in _LOCK_CLASSES] + [(cls, _RawRLock) for cls in _RLOCK_CLASSES]:
    _wrapper.__module__ = _raw.__module__
    _wrapper.__name__ = _wrapper.__qualname__ = _raw.__name__


def _wrapper_classes(rec: Recorder) -> tuple[Any, Any]:
    """(Lock class, RLock class) for the wrappers `rec` makes: its `lock_path` says C or Python."""
    if rec.lock_path == "c" and _built is not None:
        return CRecordedLock, CRecordedRLock
    return RecordedLock, RecordedRLock


class _LockFunction:
    """`threading.Lock` before 3.13, where it is the builtin `_thread.allocate_lock`: a callable, not a type.

    So `isinstance(x, threading.Lock)` and `class L(threading.Lock)` raise the
    TypeErrors they raise unrecorded, and it names itself as the original.
    """

    _rec: Recorder
    _original: Any

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # What subclassing a builtin function ends in: calling its type.
        raise TypeError("cannot create 'builtin_function_or_method' instances")

    @classmethod
    def make(cls, rec: Recorder, original: Any) -> _LockFunction:
        factory = object.__new__(cls)
        factory._rec = rec
        factory._original = original
        for name in ("__name__", "__qualname__", "__module__", "__doc__"):
            setattr(factory, name, getattr(original, name))
        return factory

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        rec = self._rec
        frame = _getframe().f_back
        if args or kwargs or not rec.active or not rec.creator_is_user(frame):
            return self._original(*args, **kwargs)
        return _wrapper_classes(rec)[0](rec, rec.register_object("Lock", frame))

    def __repr__(self) -> str:
        return repr(self._original)

    def __reduce__(self) -> Any:
        # Pickled, it is what it stands for (multiprocessing's Manager sends
        # `threading.Lock` to its server): `_thread.allocate_lock`, the
        # identity `copy.copy` gives it back unchanged.
        return (copy.copy, (self._original,))

    def __copy__(self) -> _LockFunction:
        return self

    def __deepcopy__(self, memo: Any) -> _LockFunction:
        return self


_LockFunction.__name__ = _LockFunction.__qualname__ = "builtin_function_or_method"
_LockFunction.__module__ = "builtins"


def _lock_factory(rec: Recorder, original_lock: Any) -> Any:
    """What `threading.Lock` becomes: a callable before 3.13 (as `_thread.allocate_lock`), a class since."""
    if not isinstance(original_lock, type):
        return _LockFunction.make(rec, original_lock)

    class LockMeta(type):
        def __instancecheck__(cls, instance: object) -> bool:
            return isinstance(instance, (_RawLock, *_LOCK_CLASSES))

        def __subclasscheck__(cls, subclass: type) -> bool:
            return issubclass(subclass, (_RawLock, *_LOCK_CLASSES))

        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            frame = _getframe().f_back
            if args or kwargs or not rec.active or not rec.creator_is_user(frame):
                return original_lock(*args, **kwargs)
            return _wrapper_classes(rec)[0](rec, rec.register_object("Lock", frame))

    class Lock(metaclass=LockMeta):
        def __init_subclass__(cls, **kwargs: Any) -> None:
            # A final type since 3.13: the TypeError the original gives.
            raise TypeError(f"type '{original_lock.__module__}.{original_lock.__name__}' is not an acceptable base type")

    Lock.__name__ = Lock.__qualname__ = original_lock.__name__
    Lock.__module__ = original_lock.__module__
    Lock.__doc__ = original_lock.__doc__
    # type(threading.Lock) names itself as the original's metaclass.
    LockMeta.__name__ = LockMeta.__qualname__ = type(original_lock).__name__
    LockMeta.__module__ = type(original_lock).__module__
    return Lock


def _is_original_rlock(factory: Any) -> bool:
    return getattr(factory, "__module__", None) == "threading" and getattr(factory, "__qualname__", None) == "RLock"


def install(rec: Recorder, patches: Patches) -> None:
    """Replace the factories: each only if it is still the standard library's own.

    A program (or gevent-style monkeypatching) that installed its own Lock or
    RLock before recording began keeps it: wrapping a real lock around it
    would change what its locks are (a cooperative lock would block the OS
    thread). Those locks are then not recorded.
    """
    original_lock = threading.Lock
    original_rlock = threading.RLock
    replacements: dict[int, tuple[Any, Any]] = {}
    if original_lock is _allocate or original_lock is _RawLock:
        Lock = _lock_factory(rec, original_lock)
        patches.set(threading, "Lock", Lock)
        if isinstance(Lock, type):
            # Named as `_thread.lock`, the class cannot be pickled by name: it
            # pickles as the original type (see _LockFunction.__reduce__).
            # Unregistered on restore: nothing may keep the recorder alive
            # (whatever it holds would never be finalised at exit).
            meta = type(Lock)
            copyreg.pickle(meta, lambda cls: (copy.copy, (original_lock,)))
            patches.on_restore(lambda: copyreg.dispatch_table.pop(meta, None))
        replacements[id(original_lock)] = (original_lock, Lock)
        replacements[id(_allocate)] = (_allocate, Lock)
    if _is_original_rlock(original_rlock):

        def RLock(*args: Any, **kwargs: Any) -> Any:
            frame = _getframe().f_back
            if args or kwargs or not rec.active or not rec.creator_is_user(frame):
                return original_rlock(*args, **kwargs)
            return _wrapper_classes(rec)[1](rec, rec.register_object("RLock", frame))

        RLock.__name__ = RLock.__qualname__ = original_rlock.__name__
        RLock.__module__ = original_rlock.__module__
        RLock.__doc__ = original_rlock.__doc__
        patches.set(threading, "RLock", RLock)
        replacements[id(original_rlock)] = (original_rlock, RLock)
    _installed.append(rec)
    between_locks.start(rec, PACK_LIMIT)

    def uninstall() -> None:
        if rec in _installed:
            _installed.remove(rec)
        # The recorder installed before it, if any, packs between locks again.
        if _installed:
            between_locks.start(_installed[-1], PACK_LIMIT)
        else:
            between_locks.stop()

    patches.on_restore(uninstall)
    # Modules of the user's imported before recording began hold the
    # originals under their own names.
    for module in list(sys.modules.values()) if replacements else ():
        # The names first: deciding whether a file is the user's resolves its
        # path, which for every module loaded cost about 3 ms at start.
        try:
            namespace = vars(module)
        except TypeError:
            # sys.modules may hold None, or an object standing in for a module.
            continue
        names = [
            (name, found[1])
            for name, value in list(namespace.items())
            if (found := replacements.get(id(value))) is not None and value is found[0]
        ]
        filename = getattr(module, "__file__", None)
        if names and isinstance(filename, str) and rec.user.file_is_user(filename):
            for name, replacement in names:
                patches.set(module, name, replacement)
