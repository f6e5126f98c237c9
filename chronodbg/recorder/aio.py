"""Recorded asyncio tasks: creation, every step, what each suspension awaits, the end, cancellation.

Installed when the program imports asyncio (chronodbg never imports it
itself). Task steps are seen in `Handle._run`, which the loop calls for every
callback; the task classes are replaced by a subclass named and shaped like
the C one, so creation (eager tasks included), `cancel()` and `set_name()`
are seen where they happen, with the caller's frame. While a task's step
runs, `Recorder.running_tasks` maps the thread to the task's id: every event
recorded meanwhile carries it.

What a suspended task's future stands for (an executor job, a shield, a
user's future, a timeout) is marked by recorder.aio_links; the asyncio
primitives are in recorder.aio_sync.

Only the user's tasks are recorded: those whose coroutine is user code or
that user code created. The loop's own (asyncio.run's shutdown_asyncgens,
for example) pass through untouched.
"""

from __future__ import annotations

import _thread
import sys
from types import BuiltinMethodType, CodeType, CoroutineType, FrameType, FunctionType, GeneratorType, MethodType
from typing import TYPE_CHECKING, Any

from chronodbg.kinds import Kind
from chronodbg.recorder.core import PACK_LIMIT, Recorder
from chronodbg.recorder.patching import Patches, traced, untraced
from chronodbg.recorder.threads import exception_data

# Kind's members as module constants: on 3.11 each `Kind.X` goes through EnumType.__getattr__ (about 190 ns).
TASK_CANCEL = Kind.TASK_CANCEL
TASK_CREATE = Kind.TASK_CREATE
TASK_DONE = Kind.TASK_DONE
TASK_RESUME = Kind.TASK_RESUME
TASK_SUSPEND = Kind.TASK_SUSPEND
TASK_WAKE = Kind.TASK_WAKE

if TYPE_CHECKING:
    from chronodbg.recorder.aio_links import ThreadsafeCalls

_getframe = sys._getframe
_get_ident = _thread.get_ident
#: asyncio functions that make a task on someone else's behalf: the task's
#: creator is whoever called them.
_TASK_MAKERS = frozenset(
    {
        "create_task", "ensure_future", "_ensure_future", "gather", "shield", "as_completed", "factory",
        "run_until_complete", "run", "wait_for",
    }
)  # fmt: skip
_UNKNOWN: Any = object()
#: How deep a chain of awaiting coroutines is followed (a guard, not a limit met in practice).
_MAX_AWAIT_DEPTH = 64


class TaskTracker:
    """Task ids, the per-step events, and what a suspended task awaits."""

    def __init__(self, rec: Recorder, asyncio: Any) -> None:
        self.rec = rec
        self.running_loop = asyncio.events._get_running_loop
        self.asyncio_dir = asyncio.__file__.rsplit("/", 1)[0] + "/"
        tasks = asyncio.tasks
        self.task_bases: tuple[type, ...] = tuple(
            cls for cls in (getattr(tasks, "_CTask", None), getattr(tasks, "_PyTask", None)) if isinstance(cls, type)
        )
        self.gathering: Any = tasks._GatheringFuture
        futures = asyncio.futures
        #: The future classes whose instances recorder.aio_links marks (the
        #: loop's create_future makes these); a user's future-like object is
        #: never asked for attributes, which could run its code.
        self.future_types: frozenset[type] = frozenset(
            cls for cls in (getattr(futures, "_CFuture", None), getattr(futures, "_PyFuture", None), futures.Future) if isinstance(cls, type)
        )
        self.sleep_code: CodeType = tasks.sleep.__code__
        sleep0 = getattr(tasks, "__sleep0", None)
        self.sleep0_code: CodeType | None = getattr(sleep0, "__code__", None)
        self.wait_code: CodeType = tasks._wait.__code__
        self.wait_for_code: CodeType = tasks.wait_for.__code__
        cancel_and_wait = getattr(tasks, "_cancel_and_wait", None)  # 3.11's wait_for, after its timeout
        self.cancel_and_wait_code: CodeType | None = getattr(cancel_and_wait, "__code__", None)
        self.taskgroup_exit_code: CodeType = asyncio.taskgroups.TaskGroup.__aexit__.__code__
        #: type -> whether it is a task class (cached: the check runs per callback).
        self.is_task_type: dict[type, bool] = {}
        #: task id -> (what, recorded object id): set by the recorded asyncio
        #: primitives while the task waits on one of them.
        self.waits: dict[int, tuple[str, int]] = {}
        #: task id -> (coroutine qualname, parent) for renames.
        self.meta: dict[int, tuple[str, int | None]] = {}
        #: task id -> the asyncio.timeout()s armed for it (pruned at each suspension).
        self.timeouts: dict[int, list[Any]] = {}
        #: task id -> the innermost user frame of a suspended task (alive while
        #: the coroutine is): where its next step resumes.
        self.suspended_in: dict[int, FrameType | None] = {}
        #: ids of chronodbg's own wrappers that make tasks for their caller (kept alive by them).
        self.maker_codes: set[int] = set()
        #: The C hooks (recorder/_hooks.c), or None for the Python ones.
        self.native: Any = rec.hooks
        if self.native is not None:
            await_frames, by_code, code_is_user = self.native.await_frames, rec.user.by_code, rec.user.code_is_user

            def frames(task: Any) -> tuple[FrameType | None, FrameType | None]:
                return await_frames(task.get_coro(), by_code, code_is_user)  # type: ignore[no-any-return]

            frames.__doc__ = TaskTracker.frames.__doc__
            self.frames = frames  # type: ignore[method-assign]

    # -- identity ------------------------------------------------------------

    def is_task(self, obj: Any) -> bool:
        cls = type(obj)
        known = self.is_task_type.get(cls)
        if known is None:
            known = self.is_task_type[cls] = issubclass(cls, self.task_bases)
        return known

    def coro_code(self, coro: Any) -> CodeType | None:
        cls = type(coro)
        if cls is CoroutineType:
            code: CodeType = coro.cr_code
            return code
        if cls is GeneratorType:
            code = coro.gi_code
            return code
        return None

    def creator(self, frame: FrameType | None) -> FrameType | None:
        """The frame that asked for a task, past asyncio's task-making helpers."""
        while frame is not None and (
            (frame.f_code.co_name in _TASK_MAKERS and frame.f_code.co_filename.startswith(self.asyncio_dir))
            or id(frame.f_code) in self.maker_codes
        ):
            frame = frame.f_back
        return frame

    def wants(self, code: CodeType | None, creator: FrameType | None) -> bool:
        rec = self.rec
        return (code is not None and rec.user.code_is_user(code)) or rec.creator_is_user(creator)

    def coro_name(self, coro: Any) -> str:
        # The coroutine's own __qualname__ (its function's): a recorded
        # primitive's wrapper coroutine carries the original's name.
        if type(coro) in (CoroutineType, GeneratorType):
            return str(coro.__qualname__)
        return self.rec.summariser.type_name(type(coro))

    def new_task(
        self, task: Any, name: str | None, coro: str, parent: int | None, eager: bool, frame: FrameType | None
    ) -> int:
        """Number a task and record its creation (before any event of its own)."""
        rec = self.rec
        tid = rec.register_task(name, coro, parent)
        task._cgr_task = tid
        self.meta[tid] = (coro, parent)
        try:
            rec.loops.add(task.get_loop())
        except RuntimeError:
            # An eager task is numbered before its Future part is initialised.
            loop = self.running_loop()
            if loop is not None:
                rec.loops.add(loop)
        rec.emit(TASK_CREATE, None, (tid, name, coro, eager), frame)
        return tid

    def task_id(self, task: Any) -> int:
        """A step's task id; 0 if not the user's. Tasks made without our class are numbered at their first step."""
        tid = getattr(task, "_cgr_task", None)
        if tid is None:
            code = self.coro_code(task.get_coro())
            tid = 0
            if code is not None and self.rec.user.code_is_user(code):
                tid = self.new_task(task, task.get_name(), self.coro_name(task.get_coro()), None, False, None)
            else:
                task._cgr_task = 0
        return int(tid)

    def ids(self, futures: Any) -> Any:
        """The task ids of some awaitables (None for those that are not tasks), as a list summary."""
        return self.rec.summariser.safe_value([getattr(f, "_cgr_task", None) if self.is_task(f) else None for f in futures])

    # -- steps -----------------------------------------------------------------

    def frames(self, task: Any) -> tuple[FrameType | None, FrameType | None]:
        """(innermost user frame, innermost frame) of the task's chain of awaiting coroutines."""
        node = task.get_coro()
        user = inner = None
        by_code = self.rec.user.by_code
        code_is_user = self.rec.user.code_is_user
        for _ in range(_MAX_AWAIT_DEPTH):
            cls = type(node)
            if cls is CoroutineType:
                frame, node = node.cr_frame, node.cr_await
            elif cls is GeneratorType:
                frame, node = node.gi_frame, node.gi_yieldfrom
            else:
                break
            if frame is None:
                break
            inner = frame
            code = frame.f_code
            is_user = by_code.get(id(code))
            if is_user is None:
                is_user = code_is_user(code)
            if is_user:
                user = frame
            if node is None:
                break
        return user, inner

    def resume(self, task: Any, tid: int) -> None:
        try:
            # Where it suspended, it continues: the frame found then (a first step has none).
            frame = self.suspended_in.pop(tid, _UNKNOWN)
            if frame is _UNKNOWN:
                frame = self.frames(task)[0]
            self.rec.emit(TASK_RESUME, None, (), frame, False)
        except Exception:
            # Never into the loop: a failure here would look like the program's.
            self.rec.dropped += 1

    def woken(self, tid: int, future: Any) -> None:
        """Task `tid` was made ready by whoever runs now (its future, when recorded, as obj)."""
        try:
            mark = getattr(future, "_cgr", None) if type(future) in self.future_types else None
            obj = mark[1] if isinstance(mark, tuple) and len(mark) == 3 and isinstance(mark[1], int) else None
            self.rec.emit(TASK_WAKE, obj, (tid,), _getframe(2), False)
        except Exception:
            self.rec.dropped += 1

    def after_step(self, task: Any, tid: int) -> None:
        try:
            self._after_step(task, tid)
        except Exception:
            self.rec.dropped += 1

    def _after_step(self, task: Any, tid: int) -> None:
        rec = self.rec
        if task.done():
            self.suspended_in.pop(tid, None)
            self.meta.pop(tid, None)
            self.timeouts.pop(tid, None)
            self.waits.pop(tid, None)
            if task.cancelled():
                data: tuple[Any, ...] = ("cancelled", None, None, None, None)
            else:
                # The attributes, not exception()/result(): those mark the
                # exception retrieved and silence asyncio's own warning.
                exc = task._exception
                if exc is None:
                    data = ("finished", rec.summariser.safe_value(task._result), None, None, None)
                else:
                    data = ("exception", None, *exception_data(rec, exc))
            rec.emit(TASK_DONE, None, data, None)
            return
        frame, inner = self.frames(task)
        self.suspended_in[tid] = frame
        awaits, obj, target = self.awaited(task, tid, inner)
        rec.emit(TASK_SUSPEND, obj, (awaits, target, self.time_left(task, tid, inner)), frame)

    def awaited(self, task: Any, tid: int, inner: FrameType | None) -> tuple[str, int | None, Any]:
        """(what, recorded object, target) the suspended task waits for."""
        marked = self.waits.get(tid)
        if marked is not None:
            return marked[0], marked[1], None
        code = inner.f_code if inner is not None else None
        if inner is not None and code is self.sleep_code:
            return "sleep", None, self.rec.summariser.safe_value(inner.f_locals.get("delay"))
        if code is self.sleep0_code and code is not None:
            return "sleep", None, 0
        if inner is not None and code is self.wait_code:
            return "wait", None, self.ids(inner.f_locals.get("fs", ()))
        if inner is not None and code is self.taskgroup_exit_code:
            group = inner.f_locals.get("self")
            return "taskgroup", None, self.ids(getattr(group, "_tasks", ()))
        waiter = task._fut_waiter
        if inner is not None and code is not None and code in (self.wait_for_code, self.cancel_and_wait_code):
            # wait_for waiting on a task (on 3.11 always: it runs a coroutine as a task).
            inner_task = inner.f_locals.get("fut")
            return "wait_for", None, getattr(inner_task, "_cgr_task", None) if self.is_task(inner_task) else None
        if waiter is None:
            return "yield", None, None
        if self.is_task(waiter):
            return "task", None, getattr(waiter, "_cgr_task", None)
        if type(waiter) is self.gathering:
            return "gather", None, self.ids(waiter._children)
        mark = getattr(waiter, "_cgr", None) if type(waiter) in self.future_types else None
        if mark is not None:
            what, obj, target = mark
            return str(what), obj, target
        return "future", None, None

    def time_left(self, task: Any, tid: int, inner: FrameType | None) -> float | None:
        """Seconds until the nearest armed timeout of the task fires, or None."""
        when: float | None = None
        armed = self.timeouts.get(tid)
        if armed:
            armed[:] = [t for t in armed if t._timeout_handler is not None and t._when is not None]
            if armed:
                when = min(t._when for t in armed)
        if inner is not None and inner.f_code is self.wait_for_code:
            handle = inner.f_locals.get("timeout_handle")  # 3.11's wait_for
            if handle is not None and not handle.cancelled():
                when = handle.when() if when is None else min(when, handle.when())
        if when is None:
            return None
        now: float = task.get_loop().time()
        return round(max(0.0, when - now), 6)


def _restore(running: dict[int, int], ident: int, outer: int | None) -> None:
    """After a step: the thread runs the task it ran before (an eager task's creator), or none."""
    if outer is None:
        running.pop(ident, None)
    else:
        running[ident] = outer


def _make_task_class(rec: Recorder, tracker: TaskTracker, base: type, running_loop: Any) -> type:
    running = rec.running_tasks

    def loop_running(loop: Any) -> bool:
        if loop is None:
            loop = running_loop()
        return loop is not None and bool(loop.is_running())

    class TaskMeta(type):
        def __instancecheck__(cls, instance: object) -> bool:
            # Tasks made by the C class directly (a library holding it) are still asyncio.Task.
            return type.__instancecheck__(cls, instance) or (cls is Task and isinstance(instance, base))

        def __subclasscheck__(cls, subclass: type) -> bool:
            return type.__subclasscheck__(cls, subclass) or (cls is Task and issubclass(subclass, base))

    class Task(base, metaclass=TaskMeta):  # type: ignore[misc]
        __doc__ = base.__doc__

        def __init__(self, coro: Any, *, loop: Any = None, name: Any = None, context: Any = None, **kwargs: Any) -> None:
            if not rec.active:
                super().__init__(coro, loop=loop, name=name, context=context, **kwargs)
                return
            code = tracker.coro_code(coro)
            creator = tracker.creator(_getframe().f_back)
            if not tracker.wants(code, creator):
                self._cgr_task = 0
                super().__init__(coro, loop=loop, name=name, context=context, **kwargs)
                return
            ident = _get_ident()
            parent = running.get(ident)
            if not (kwargs.get("eager_start") and loop_running(loop)):
                super().__init__(coro, loop=loop, name=name, context=context, **kwargs)
                tracker.new_task(self, self.get_name(), tracker.coro_name(coro), parent, False, creator)
                return
            # An eager task runs its first step inside __init__: number it first.
            unnamed = not isinstance(name, str)
            coro_name = tracker.coro_name(coro)
            tid = tracker.new_task(self, None if unnamed else name, coro_name, parent, True, creator)
            running[ident] = tid
            try:
                rec.emit(TASK_RESUME, None, (), coro.cr_frame if type(coro) is CoroutineType else None, False)
                try:
                    super().__init__(coro, loop=loop, name=name, context=context, **kwargs)
                except BaseException as exc:
                    # No task after all (a closed loop, say): end the one recorded.
                    rec.emit(TASK_DONE, None, ("exception", None, *exception_data(rec, exc)), None)
                    raise
                if rec.active:
                    tracker.after_step(self, tid)
            finally:
                _restore(running, ident, parent)
            if unnamed and rec.active:
                rec.rename_task(tid, self.get_name(), coro_name, parent)
            # As in Handle._run: a first step that raised keeps this frame
            # alive through its traceback; no cycle back to the task.
            self = creator = coro = None  # type: ignore[assignment]

        def cancel(self, msg: Any = None) -> bool:
            tid = getattr(self, "_cgr_task", None)
            if tid and rec.active and not self.done():
                frame = _getframe().f_back
                code = frame.f_code if frame is not None else None
                via = code.co_qualname if code is not None and code.co_filename.startswith(tracker.asyncio_dir) else None
                rec.emit(TASK_CANCEL, None, (tid, rec.summariser.safe_value(msg), via), frame)
            return bool(super().cancel(msg))

        def set_name(self, value: Any) -> None:
            super().set_name(value)
            tid = getattr(self, "_cgr_task", None)
            meta = tracker.meta.get(tid) if tid else None
            if tid and meta is not None and rec.active:
                rec.rename_task(tid, self.get_name(), *meta)

    Task.__module__ = base.__module__
    Task.__qualname__ = Task.__name__ = base.__name__
    return Task


def install(rec: Recorder, patches: Patches, tracker: TaskTracker, asyncio: Any, calls: ThreadsafeCalls) -> None:
    """Patch this asyncio's tasks (the module object, maybe a fresh re-import)."""
    tasks, events = asyncio.tasks, asyncio.events
    running = rec.running_tasks
    buffer, pack_limit = rec.buffer, PACK_LIMIT

    Task = _make_task_class(rec, tracker, tasks.Task, events._get_running_loop)
    # Below an eager task's first step lies its creator, not the task.
    rec.stop_codes.add(id(Task.__dict__["__init__"].__code__))
    patches.set(tasks, "Task", Task)
    patches.set(asyncio, "Task", Task)
    tracker.is_task_type[Task] = True
    if hasattr(tasks, "create_eager_task_factory"):
        eager_factory = tasks.create_eager_task_factory(Task)
        patches.set(tasks, "eager_task_factory", eager_factory)
        patches.set(asyncio, "eager_task_factory", eager_factory)

    #: callback type -> whether it can be a task's step: task_wakeup (a builtin
    #: method), the C TaskStepMethWrapper, the pure-Python task's bound methods.
    step_callbacks: dict[type, bool] = {FunctionType: False}

    def is_step_type(cls: type) -> bool:
        known = step_callbacks[cls] = cls in (BuiltinMethodType, MethodType) or (
            cls.__name__ == "TaskStepMethWrapper" and cls.__module__ in ("builtins", "_asyncio")
        )
        return known

    # The loop's callbacks are the program's: they run traced inside the untraced _run.
    original_run = traced(rec, events.Handle._run)

    def task_of(callback: Any) -> Any:
        """The task whose step or wakeup `callback` is, or None (looks at types only: no user code runs)."""
        step = step_callbacks.get(type(callback))
        if step is None:
            step = is_step_type(type(callback))
        if not step:
            return None
        task = callback.__self__
        return task if tracker.is_task(task) else None

    def _run(self: Any) -> None:
        loop = self._loop
        callback = self._callback
        task = task_of(callback) if rec.active else None
        tid = tracker.task_id(task) if task is not None else 0
        # No references kept here past this point: the frame of a callback or
        # coroutine that raises keeps this frame (its caller) alive, as its
        # f_back, as long as the exception lives; a task keeps its exception,
        # so a reference here would make a cycle and delay the task's
        # __del__ (asyncio's "exception was never retrieved" report) to a
        # GC. Handle._run itself ends with `self = None` for the same reason.
        callback = task = None
        if not tid:
            if calls.pending:
                calls.ran(self)
            original_run(self)
            self = None
        else:
            ident = _get_ident()
            outer = running.get(ident)
            running[ident] = tid
            try:
                tracker.resume(self._callback.__self__, tid)
                original_run(self)
                callback = self._callback  # None if the step cancelled its own handle
                if rec.active and callback is not None:
                    tracker.after_step(callback.__self__, tid)
                callback = None
            finally:
                _restore(running, ident, outer)
                self = None
        # Between two callbacks the loop holds nothing of the program's: it
        # packs its own events there, a chunk's worth (Recorder.pack_here),
        # and what is pending when nothing else is ready, so that it is about
        # to wait (Recorder.idle_here).
        if len(buffer) >= pack_limit:
            rec.pack_here()
            return
        try:
            about_to_wait = not loop._ready
        except AttributeError:  # a loop of another kind
            return
        if about_to_wait:
            rec.idle_here()

    patches.set(events.Handle, "_run", untraced(rec, _run))
    rec.stop_codes.add(id(_run.__code__))

    original_call_soon = asyncio.base_events.BaseEventLoop.call_soon
    if tracker.native is not None:
        # The same steps in C, with no Python frame between the loop's caller and call_soon.
        fast = tracker.native.CallSoon(
            original_call_soon, rec, step_callbacks, is_step_type, tracker.is_task_type, tracker.is_task, running,
            tracker.future_types, TASK_WAKE,
        )  # fmt: skip
        patches.set(asyncio.base_events.BaseEventLoop, "call_soon", fast)
        return

    def call_soon(self: Any, callback: Any, *args: Any, context: Any = None) -> Any:
        # A task's wakeup (or next step) scheduled by someone else: it is ready.
        if rec.active:
            task = task_of(callback)
            tid = getattr(task, "_cgr_task", None) if task is not None else None
            task = None
            if tid and running.get(_get_ident()) != tid:
                tracker.woken(tid, args[0] if args else None)
        return original_call_soon(self, callback, *args, context=context)

    call_soon.__doc__ = original_call_soon.__doc__
    patches.set(asyncio.base_events.BaseEventLoop, "call_soon", call_soon)
