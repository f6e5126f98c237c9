"""Thread life cycles: start (in the parent), end (with the exception it died of), join."""

from __future__ import annotations

import _thread
import collections
import sys
import threading
import time
from typing import Any

from chronodbg.kinds import Kind
from chronodbg.recorder.core import Recorder
from chronodbg.recorder.patching import Patches, without_own_frames
from chronodbg.recorder.snapshot import clean_str

# Kind's members as module constants: on 3.11 each `Kind.X` goes through EnumType.__getattr__ (about 190 ns).
EXCEPTION = Kind.EXCEPTION
THREAD_END = Kind.THREAD_END
THREAD_JOIN = Kind.THREAD_JOIN
THREAD_JOINED = Kind.THREAD_JOINED
THREAD_START = Kind.THREAD_START

MAX_TRACEBACK = 64
_getframe = sys._getframe
_now = time.monotonic_ns


def exception_data(rec: Recorder, exc: BaseException) -> tuple[Any, ...]:
    """(type, args, traceback sites) for an `exception` event, summarised safely."""
    # The innermost frames are the ones that explain it: keep the last 64.
    sites: collections.deque[str] = collections.deque(maxlen=MAX_TRACEBACK)
    depth = 0
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        sites.append(f"{code.co_filename}:{tb.tb_lineno} in {code.co_qualname}")
        depth += 1
        tb = tb.tb_next
    # A summary like any other value: a list of "file:line in function".
    traceback = ("list", depth, tuple(clean_str(site) for site in sites))
    return (rec.summariser.type_name(type(exc)), rec.summariser.safe_value(exc.args), traceback)


def innermost_user_frame(rec: Recorder, exc: BaseException) -> Any:
    frame = None
    tb = exc.__traceback__
    while tb is not None:
        if rec.user.code_is_user(tb.tb_frame.f_code):
            frame = tb.tb_frame
        tb = tb.tb_next
    return frame


def record_exception(rec: Recorder, exc: BaseException) -> None:
    rec.emit(EXCEPTION, None, exception_data(rec, exc), innermost_user_frame(rec, exc))


def record_uncaught(rec: Recorder, exc: BaseException) -> None:
    """An exception nobody caught: its traceback cleared of chronodbg's frames, then recorded."""
    exc.__traceback__ = without_own_frames(exc.__traceback__)
    if rec.active:
        record_exception(rec, exc)


def exit_by(rec: Recorder, exc: BaseException) -> None:
    """The status the program ends with when `exc` ends its main thread."""
    interrupted = isinstance(exc, KeyboardInterrupt)
    rec.exit_code = 130 if interrupted else 1
    rec.exit_how = "KeyboardInterrupt" if interrupted else "exception"


def _target_name(thread: threading.Thread) -> str:
    target = getattr(thread, "_target", None)
    if target is None:
        return f"{type(thread).__qualname__}.run"
    name = getattr(type(target), "__qualname__", None)
    if type(target).__name__ in ("function", "builtin_function_or_method", "method"):
        name = getattr(target, "__qualname__", name)
    return name if isinstance(name, str) else "?"


def install(rec: Recorder, patches: Patches) -> None:
    Thread = threading.Thread
    original_start = Thread.start
    original_bootstrap = Thread._bootstrap_inner  # type: ignore[attr-defined]
    original_join = Thread.join

    def start(self: threading.Thread) -> None:
        registered = False
        if rec.active and not hasattr(self, "_cgr_tid"):
            registered = True
            parent = rec.current_thread_id()
            tid = rec.register_thread(0, self.name, parent)
            self._cgr_tid = tid  # type: ignore[attr-defined]
            invoke = getattr(self, "_invoke_excepthook", None)
            if invoke is not None:
                self._invoke_excepthook = _recording_excepthook(rec, invoke)  # type: ignore[attr-defined]
            rec.emit(THREAD_START, None, (tid, self.name, _target_name(self), self.daemon), _getframe().f_back)
        try:
            original_start(self)
        except BaseException as exc:
            # "can't create new thread at interpreter shutdown" (3.12.x in an
            # atexit handler), no memory for a thread: it never ran, and its
            # timeline ends with the error.
            if registered and rec.active:
                name = rec.summariser.type_name(type(exc))
                rec.emit(THREAD_END, None, (self._cgr_tid, self.name, name), _getframe().f_back)  # type: ignore[attr-defined]
            # A bare raise without this frame's entry: the traceback the caller would see unrecorded.
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    def bootstrap_inner(self: threading.Thread) -> None:
        tid = getattr(self, "_cgr_tid", None)
        ident = _thread.get_ident()
        if tid is not None:
            rec.thread_ids[ident] = tid
            # Defined again now that it runs: with its ident.
            rec.pending.append(("threads", (tid, self.name, ident, None)))
        started = rec.thread_started
        if started is not None and rec.active:
            started()
        try:
            original_bootstrap(self)
        finally:
            # Still before the thread's state lock is released: joiners wake after this.
            if tid is not None and rec.active:
                rec.emit(THREAD_END, None, (tid, self.name, getattr(self, "_cgr_exc", None)), None)
            # Not one started once recording had stopped (a write error, a
            # full disk): it has no entry, and None == None.
            if tid is not None and rec.thread_ids.get(ident) == tid:
                del rec.thread_ids[ident]

    def join(self: threading.Thread, timeout: float | None = None) -> None:
        tid = getattr(self, "_cgr_tid", None)
        try:
            if tid is None or not rec.active:
                return original_join(self, timeout)
            frame = _getframe().f_back
            rec.emit(THREAD_JOIN, None, (tid, timeout), frame)
            start = _now()
            try:
                return original_join(self, timeout)
            finally:
                if rec.active:
                    rec.emit(THREAD_JOINED, None, (tid, self.is_alive(), _now() - start), frame)
        except BaseException as exc:
            exc.__traceback__ = exc.__traceback__.tb_next  # type: ignore[union-attr]
            raise

    patches.set(Thread, "start", start)
    patches.set(Thread, "_bootstrap_inner", bootstrap_inner)
    patches.set(Thread, "join", join)


def _recording_excepthook(rec: Recorder, invoke: Any) -> Any:
    def invoke_excepthook(thread: threading.Thread) -> Any:
        exc = sys.exc_info()[1]
        if exc is not None:
            thread._cgr_exc = rec.summariser.type_name(type(exc))  # type: ignore[attr-defined]
            record_uncaught(rec, exc)
        return invoke(thread)

    return invoke_excepthook
