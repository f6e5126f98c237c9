"""asyncio's links between tasks, threads and futures: what a suspended task's future stands for.

A task that awaits a plain future tells nothing by itself; these patches
mark the futures that stand for something: a user's `loop.create_future()`
(an object id), `run_in_executor` / `to_thread` (the `concurrent.futures`
Future a worker thread sets), `shield()` (the task shielded). They also
note each task's armed `asyncio.timeout()`s (how long before it fires) and
pair a thread's `call_soon_threadsafe` with the loop running the callback.
"""

from __future__ import annotations

import _thread
import collections
import itertools
import sys
from types import FunctionType, MethodType
from typing import Any

from chronodbg.kinds import Kind
from chronodbg.recorder.aio import TaskTracker
from chronodbg.recorder.core import Recorder
from chronodbg.recorder.patching import Patches, traced, untraced

# Kind's members as module constants: on 3.11 each `Kind.X` goes through EnumType.__getattr__ (about 190 ns).
LOOP_CALL = Kind.LOOP_CALL
LOOP_CALLBACK = Kind.LOOP_CALLBACK

_getframe = sys._getframe
_get_ident = _thread.get_ident


class ThreadsafeCalls:
    """Pairs each recorded `call_soon_threadsafe` with the loop's run of that callback."""

    def __init__(self, rec: Recorder, tracker: TaskTracker) -> None:
        self.rec = rec
        self.tracker = tracker
        #: id(callback) -> the calls of that callback not yet run, oldest
        #: first: (callback, call number, callback name, object).
        self.pending: dict[int, collections.deque[tuple[Any, int, str, int | None]]] = {}
        self.lock = _thread.allocate_lock()
        self.next_call = itertools.count(1).__next__

    def ran(self, handle: Any) -> None:
        """The loop is about to run `handle`: record it if a thread scheduled it."""
        callback = handle._callback
        with self.lock:
            calls = self.pending.get(id(callback))
            if not calls or calls[0][0] is not callback:
                return
            _, call, name, obj = calls.popleft()
            if not calls:
                del self.pending[id(callback)]
        if self.rec.active:
            self.rec.emit(LOOP_CALLBACK, obj, (name, call), None)

    def install(self, patches: Patches, loop_class: type) -> None:
        rec, tracker = self.rec, self.tracker
        original = loop_class.call_soon_threadsafe  # type: ignore[attr-defined]

        def call_soon_threadsafe(loop: Any, callback: Any, *args: Any, context: Any = None) -> Any:
            if not rec.active:
                return original(loop, callback, *args, context=context)
            frame = _getframe().f_back
            if rec.user_frame(frame) is None:
                return original(loop, callback, *args, context=context)
            call = self.next_call()
            name, obj = describe_callback(rec, tracker, callback)
            # Entered before scheduling, under a lock held across the
            # scheduling: the loop may run the callback before this thread
            # goes on, and the calls of one callback pair with its runs in order.
            with self.lock:
                rec.emit(LOOP_CALL, obj, (name, call), frame)
                calls = self.pending.setdefault(id(callback), collections.deque())
                calls.append((callback, call, name, obj))
                try:
                    return original(loop, callback, *args, context=context)
                except BaseException:
                    calls.pop()
                    if not calls:
                        del self.pending[id(callback)]
                    raise

        call_soon_threadsafe.__doc__ = original.__doc__
        patches.set(loop_class, "call_soon_threadsafe", call_soon_threadsafe)


def install(rec: Recorder, patches: Patches, tracker: TaskTracker, asyncio: Any) -> ThreadsafeCalls:
    tasks, base_events = asyncio.tasks, asyncio.base_events
    calls = ThreadsafeCalls(rec, tracker)
    calls.install(patches, base_events.BaseEventLoop)

    original_create_future = traced(rec, base_events.BaseEventLoop.create_future)

    def create_future(self: Any) -> Any:
        future = original_create_future(self)
        if rec.active:
            frame = _getframe().f_back
            if rec.creator_is_user(frame):
                future._cgr = ("future", rec.register_object("asyncio.Future", frame), None)
        return future

    patches.set(base_events.BaseEventLoop, "create_future", untraced(rec, create_future))

    original_wrap_future = asyncio.futures.wrap_future

    def wrap_future(future: Any, *, loop: Any = None) -> Any:
        wrapped = original_wrap_future(future, loop=loop)
        if rec.active and wrapped is not future:
            # run_in_executor / to_thread: the awaiting task waits for the concurrent Future a worker thread sets.
            oid = getattr(future, "__dict__", {}).get("_cgr_oid")
            if oid:
                wrapped._cgr = ("executor", oid, None)
        return wrapped

    patches.set(asyncio.futures, "wrap_future", wrap_future)
    patches.set(asyncio, "wrap_future", wrap_future)

    original_shield = tasks.shield

    def shield(arg: Any) -> Any:
        if not rec.active:
            return original_shield(arg)
        # What shield() does first, done here to know the inner task: the
        # same call, so shield(inner) behaves as shield(arg) would.
        inner = tasks.ensure_future(arg)
        outer = original_shield(inner)
        if outer is not inner and tracker.is_task(inner):
            outer._cgr = ("shield", None, getattr(inner, "_cgr_task", None))
        return outer

    # A task made for shield(coroutine) is made for whoever called shield.
    tracker.maker_codes.add(id(shield.__code__))

    shield.__doc__ = original_shield.__doc__
    patches.set(tasks, "shield", shield)
    patches.set(asyncio, "shield", shield)

    Timeout = asyncio.timeouts.Timeout
    original_reschedule = Timeout.reschedule

    def reschedule(self: Any, when: float | None) -> None:
        original_reschedule(self, when)
        task = self._task
        if rec.active and self._timeout_handler is not None and tracker.is_task(task):
            tid = getattr(task, "_cgr_task", None)
            if tid:
                armed = tracker.timeouts.setdefault(tid, [])
                if not any(t is self for t in armed):
                    armed.append(self)

    patches.set(Timeout, "reschedule", reschedule)
    return calls


def describe_callback(rec: Recorder, tracker: TaskTracker, callback: Any) -> tuple[str, int | None]:
    """(qualified name, recorded object it acts on) of a callback, without running user code."""
    cls = type(callback)
    if cls is FunctionType:
        return str(callback.__qualname__), None
    if cls is MethodType:
        return str(callback.__func__.__qualname__), None
    if cls.__name__ in ("builtin_function_or_method", "builtin_method") and cls.__module__ == "builtins":
        owner = callback.__self__
        mark = getattr(owner, "_cgr", None) if type(owner).__module__ == "_asyncio" else None
        obj = mark[1] if isinstance(mark, tuple) and len(mark) == 3 and isinstance(mark[1], int) else None
        return str(callback.__qualname__), obj
    if cls.__name__ == "partial" and cls.__module__ == "functools":
        return f"partial({describe_callback(rec, tracker, callback.func)[0]})", None
    return rec.summariser.type_name(cls), None
