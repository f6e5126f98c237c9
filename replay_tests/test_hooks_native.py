"""The hooks in C (recorder/_hooks.c) against the Python they replace (recorder/aio.py, queues.py, aio_sync.py).

Whole recordings on both paths are compared in test_hotpath (its program
has tasks waking each other over an asyncio.Queue, and threads moving items
through queue.Queue); these check the C pieces one case at a time, the odd
ones included: a finished coroutine, a generator in the chain, a chain past
the depth limit, a type or code met for the first time, a hook that fails,
a subclass whose _put calls its wrapped base's, a put that raises.
"""

from __future__ import annotations

import sys
import threading
import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronodbg.kinds import Kind
from chronodbg.recorder.aio import TaskTracker
from replay_tests.conftest import built_extension

_hooks = built_extension("chronodbg.recorder._hooks")
pytestmark = pytest.mark.skipif(_hooks is None, reason="the C extension was not built for this Python")


class Pause:
    def __await__(self) -> Any:
        yield "paused"


async def leaf() -> None:
    await Pause()


async def middle() -> None:
    await leaf()


def inner_generator() -> Any:
    yield from Pause().__await__()


def generator_based() -> Any:
    yield from inner_generator()


async def nested(depth: int) -> None:
    if depth:
        await nested(depth - 1)
    else:
        await Pause()


def _python_frames(coro: Any, by_code: dict[int, bool], code_is_user: Any) -> Any:
    tracker = types.SimpleNamespace(rec=types.SimpleNamespace(user=types.SimpleNamespace(by_code=by_code, code_is_user=code_is_user)))
    task = types.SimpleNamespace(get_coro=lambda: coro)
    return TaskTracker.frames(tracker, task)  # type: ignore[arg-type]


def _both(coro: Any, user_names: set[str], by_code: dict[int, bool] | None = None) -> tuple[Any, Any]:
    asked: list[str] = []

    def code_is_user(code: types.CodeType) -> bool:
        asked.append(code.co_name)
        return code.co_name in user_names

    python = _python_frames(coro, dict(by_code or {}), code_is_user)
    python_asked = list(asked)
    asked.clear()
    native = _hooks.await_frames(coro, dict(by_code or {}), code_is_user)
    assert asked == python_asked
    return python, native


def _started(coro: Any) -> Any:
    assert coro.send(None) == "paused"
    return coro


def _names(pair: tuple[Any, Any]) -> tuple[str | None, str | None]:
    return tuple(f.f_code.co_name if f is not None else None for f in pair)  # type: ignore[return-value]


def test_a_suspended_chain_gives_the_innermost_user_frame_and_the_innermost_frame() -> None:
    coro = _started(middle())
    python, native = _both(coro, {"middle", "leaf"})
    assert native == python
    assert _names(native) == ("leaf", "__await__")
    # Only the outer one is the user's: the walk still goes to the end.
    python, native = _both(coro, {"middle"})
    assert native == python and _names(native) == ("middle", "__await__")
    coro.close()


def test_the_code_dict_is_asked_first_and_a_generator_is_followed() -> None:
    gen = generator_based()
    assert next(gen) == "paused"
    # A code judged before is not asked about again; its answer wins over the function's.
    by_code = {id(inner_generator.__code__): False, id(Pause.__await__.__code__): True}
    python, native = _both(gen, {"generator_based", "inner_generator"}, by_code)
    assert native == python
    assert _names(native) == ("__await__", "__await__")
    gen.close()


def test_finished_and_foreign_awaitables_give_no_frames() -> None:
    coro = middle()
    coro.close()
    for node in (coro, object(), 42, None):
        python, native = _both(node, {"middle"})
        assert native == python == (None, None)


def test_the_walk_stops_at_the_depth_limit() -> None:
    coro = _started(nested(100))
    python, native = _both(coro, {"nested"})
    assert native == python
    assert _names(native) == ("nested", "nested")  # 64 levels down, not the Pause at 101
    coro.close()


def test_a_failing_judge_fails_both_alike() -> None:
    coro = _started(middle())

    def broken(code: types.CodeType) -> bool:
        raise LookupError(code.co_name)

    with pytest.raises(LookupError):
        _python_frames(coro, {}, broken)
    with pytest.raises(LookupError):
        _hooks.await_frames(coro, {}, broken)
    coro.close()


# -- call_soon ------------------------------------------------------------------------------------------------------


class FakeTask:
    def __init__(self, tid: int | None) -> None:
        if tid is not None:
            self._cgr_task = tid

    def wakeup(self, future: Any) -> None:
        pass


class Mark:
    """A future type whose `_cgr` mark names a recorded object (aio_links marks the loop's futures so)."""

    def __init__(self, mark: Any) -> None:
        self._cgr = mark


class Recorded:
    def __init__(self) -> None:
        self.active = True
        self.dropped = 0
        self.emitted: list[tuple[Any, ...]] = []

    def emit(self, *args: Any) -> None:
        self.emitted.append(args)


def _hooked(rec: Recorded, running: dict[int, int] | None = None, emit_error: BaseException | None = None) -> Any:
    calls: list[tuple[Any, ...]] = []

    def original(loop: Any, callback: Any, *args: Any, context: Any = None) -> str:
        """The loop's own call_soon."""
        calls.append((loop, callback, args, context))
        return "handle"

    step_types: dict[type, bool] = {types.FunctionType: False}

    def is_step_type(cls: type) -> bool:
        step_types[cls] = cls is types.MethodType
        return step_types[cls]

    task_types: dict[type, bool] = {}

    def is_task(obj: Any) -> bool:
        task_types[type(obj)] = isinstance(obj, FakeTask)
        return task_types[type(obj)]

    if emit_error is not None:

        def failing(*args: Any) -> None:
            raise emit_error

        rec.emit = failing  # type: ignore[method-assign]
    hook = _hooks.CallSoon(
        original, rec, step_types, is_step_type, task_types, is_task, running if running is not None else {},
        frozenset({Mark}), Kind.TASK_WAKE,
    )  # fmt: skip

    class Loop:
        call_soon = hook

    return Loop(), calls


def test_call_soon_is_a_method_that_forwards_everything() -> None:
    rec = Recorded()
    loop, calls = _hooked(rec)
    callback = FakeTask(None).wakeup
    assert loop.call_soon(callback, 1, 2, context="ctx") == "handle"
    assert type(loop).call_soon(loop, callback) == "handle"
    assert calls == [(loop, callback, (1, 2), "ctx"), (loop, callback, (), None)]
    hook = type(loop).__dict__["call_soon"]
    assert hook.__doc__ == "The loop's own call_soon." and hook.__name__ == "original" and hook.__wrapped__.__name__ == "original"
    assert rec.emitted == [] and rec.dropped == 0  # a task not recorded (no _cgr_task) is not woken
    # A bad call is refused by the original, with its own message.
    with pytest.raises(TypeError, match="original"):
        loop.call_soon()


def test_a_recorded_tasks_wakeup_is_recorded_once_with_the_scheduling_frame() -> None:
    rec = Recorded()
    running: dict[int, int] = {}
    loop, calls = _hooked(rec, running)
    task = FakeTask(5)
    loop.call_soon(task.wakeup, Mark(("queue", 9, None)))
    here = sys._getframe()
    loop.call_soon(task.wakeup, Mark("not a triple"))
    loop.call_soon(task.wakeup)
    loop.call_soon(lambda: None)  # a function: never a step
    loop.call_soon(FakeTask(0).wakeup)  # a task chronodbg does not record
    running[threading.get_ident()] = 5
    loop.call_soon(task.wakeup, None)  # the task schedules its own step: not a wake
    assert len(calls) == 6
    assert [(e[0], e[1], e[2], e[4]) for e in rec.emitted] == [
        (Kind.TASK_WAKE, 9, (5,), False),
        (Kind.TASK_WAKE, None, (5,), False),
        (Kind.TASK_WAKE, None, (5,), False),
    ]
    assert all(e[3] is here for e in rec.emitted)
    rec.active = False
    running.clear()
    loop.call_soon(task.wakeup, None)
    assert len(rec.emitted) == 3 and len(calls) == 7


def test_a_failing_hook_is_counted_and_the_callback_still_scheduled() -> None:
    rec = Recorded()
    loop, calls = _hooked(rec, emit_error=RuntimeError("full"))
    assert loop.call_soon(FakeTask(3).wakeup, None) == "handle"
    assert rec.dropped == 1 and len(calls) == 1
    rec = Recorded()
    loop, calls = _hooked(rec, emit_error=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        loop.call_soon(FakeTask(3).wakeup, None)
    assert calls == []


# -- a queue's _put and _get ------------------------------------------------------------------------------------------


class Summariser:
    def safe_value(self, value: Any) -> Any:
        return ("summary", value)


class Storing(Recorded):
    def __init__(self) -> None:
        super().__init__()
        self.summariser = Summariser()


class Base:
    """queue.Queue's shape: _put and _get under the caller's lock, the items in `queue`, _qsize its length."""

    def __init__(self, oid: int) -> None:
        self._cgr_oid = oid
        self.queue: list[Any] = []

    def _put(self, item: Any) -> None:
        if item == "bad":
            raise ValueError("bad item")
        self.queue.append(item)

    def _get(self) -> Any:
        return self.queue.pop(0)

    def _qsize(self) -> int:
        return len(self.queue)


#: Base's _qsize stands for the standard library's (recorder.sync.LIBRARY_QSIZES).
SIZES = {Base._qsize}


def _storage_class(rec: Storing, guarded: bool = True) -> type:
    class Queue(Base):
        _put = _hooks.StorageHook(Base._put, rec, Kind.QUEUE_PUT, False, guarded, SIZES)
        _get = _hooks.StorageHook(Base._get, rec, Kind.QUEUE_GET, True, guarded, SIZES)

    return Queue


def test_a_put_and_a_get_are_recorded_after_the_move_with_the_callers_frame() -> None:
    rec = Storing()
    q = _storage_class(rec)(7)
    q._put("a")
    here = sys._getframe()
    assert q._get() == "a"
    assert [e[:3] for e in rec.emitted] == [
        (Kind.QUEUE_PUT, 7, (("summary", "a"), 1)),
        (Kind.QUEUE_GET, 7, (("summary", "a"), 0)),
    ]
    assert all(e[3] is here and len(e) == 4 for e in rec.emitted)
    hook = type(q).__dict__["_put"]
    assert hook._cgr is True and hook.__wrapped__ is Base._put and hook.__name__ == "_put"
    assert "_cgr_in" in q.__dict__ and q.__dict__["_cgr_in"] is False


def test_what_is_not_recorded_passes_straight_through() -> None:
    rec = Storing()
    Queue = _storage_class(rec)
    unrecorded = Queue(0)
    unrecorded._put(1)
    rec.active = False
    recorded = Queue(3)
    recorded._put(2)
    rec.active = True
    recorded._put(item=3)  # a keyword call: not one the queue makes, the original's to take
    assert rec.emitted == [] and recorded.queue == [2, 3] and unrecorded.queue == [1]
    assert "_cgr_in" not in unrecorded.__dict__


def test_a_subclass_calling_its_wrapped_base_records_one_put() -> None:
    rec = Storing()
    Queue = _storage_class(rec)

    class Doubling(Queue):  # type: ignore[misc, valid-type]
        def _put(self, item: Any) -> None:
            Queue._put(self, item)
            Queue._put(self, item)

    Doubling._put = _hooks.StorageHook(Doubling.__dict__["_put"], rec, Kind.QUEUE_PUT, False, True, SIZES)  # type: ignore[method-assign]
    q = Doubling(4)
    q._put("x")
    assert q.queue == ["x", "x"]
    assert [e[:3] for e in rec.emitted] == [(Kind.QUEUE_PUT, 4, (("summary", "x"), 2))]


def test_a_class_with_its_own_qsize_is_recorded_without_a_size_and_its_qsize_is_not_run() -> None:
    rec = Storing()
    asked: list[int] = []

    class Counting(_storage_class(rec)):  # type: ignore[misc]
        def _qsize(self) -> int:
            asked.append(1)
            return len(self.queue)

    q = Counting(6)
    q._put("y")
    assert q._get() == "y"
    assert [e[:3] for e in rec.emitted] == [(Kind.QUEUE_PUT, 6, (("summary", "y"), None)), (Kind.QUEUE_GET, 6, (("summary", "y"), None))]
    assert asked == []
    with pytest.raises(TypeError, match="sizes must be a set or None"):
        _hooks.StorageHook(Base._put, rec, Kind.QUEUE_PUT, False, True, True)


def test_a_failing_put_records_nothing_and_clears_the_guard() -> None:
    rec = Storing()
    q = _storage_class(rec)(5)
    with pytest.raises(ValueError, match="bad item"):
        q._put("bad")
    assert rec.emitted == [] and q.__dict__["_cgr_in"] is False
    q._put("good")
    assert len(rec.emitted) == 1


def test_asyncios_shape_takes_the_size_of_its_deque_and_passes_extra_arguments() -> None:
    rec = Storing()

    class AioBase:
        def __init__(self) -> None:
            self._cgr_oid = 9
            self._queue: list[Any] = []

        def _put(self, item: Any, *extra: Any) -> None:
            self._queue.append((item, extra))

        def _get(self) -> Any:
            return self._queue.pop()

    class AioQueue(AioBase):
        _put = _hooks.StorageHook(AioBase._put, rec, Kind.QUEUE_PUT, False, False, None)
        _get = _hooks.StorageHook(AioBase._get, rec, Kind.QUEUE_GET, True, False, None)

    q = AioQueue()
    q._put("m", "extra")
    assert q._get() == ("m", ("extra",))
    assert [e[:3] for e in rec.emitted] == [
        (Kind.QUEUE_PUT, 9, (("summary", "m"), 1)),
        (Kind.QUEUE_GET, 9, (("summary", ("m", ("extra",))), 0)),
    ]
    assert "_cgr_in" not in q.__dict__


# -- a gate in front of a wrapper ------------------------------------------------------------------------------------


def test_a_gate_sends_objects_decided_not_the_users_to_the_original() -> None:
    seen: list[tuple[str, Any, tuple[Any, ...], dict[str, Any]]] = []

    def original(obj: Any, *args: Any, **kwargs: Any) -> str:
        """The class's own notify."""
        seen.append(("original", obj, args, kwargs))
        return "original"

    def wrapper(obj: Any, *args: Any, **kwargs: Any) -> str:
        seen.append(("wrapper", obj, args, kwargs))
        return "wrapper"

    class Condition:
        notify = _hooks.Gate(original, wrapper)

    class Slotted:
        __slots__ = ()
        notify = _hooks.Gate(original, wrapper)

    decided, recorded, undecided, falsy, slotted = Condition(), Condition(), Condition(), Condition(), Slotted()
    decided._cgr_oid = 0  # type: ignore[attr-defined]
    recorded._cgr_oid = 12  # type: ignore[attr-defined]
    falsy._cgr_oid = None  # type: ignore[attr-defined]
    assert decided.notify(2) == "original"
    assert recorded.notify(n=1) == "wrapper"
    assert undecided.notify() == "wrapper"  # not decided yet: the wrapper decides
    assert falsy.notify() == "wrapper"
    assert slotted.notify() == "wrapper"  # no __dict__: the wrapper's to deal with
    assert Condition.notify(decided) == "original"
    assert [(who, args, kwargs) for who, _, args, kwargs in seen] == [
        ("original", (2,), {}), ("wrapper", (), {"n": 1}), ("wrapper", (), {}), ("wrapper", (), {}), ("wrapper", (), {}),
        ("original", (), {}),
    ]  # fmt: skip
    assert Condition.__dict__["notify"].__doc__ == "The class's own notify." and Condition.__dict__["notify"].__wrapped__ is original


# -- the watchdog's loop (recorder/_watch.c against Watchdog.feed's Python loop) --

_ANY = st.sampled_from([None, 0, 1, 2, "", "get", "Lock#1"])
_DATA = {
    Kind.LOCK_ACQUIRE: st.tuples(st.sampled_from([0, 0.5]), st.sampled_from([1, 2, True, 1.0])),
    Kind.LOCK_RELEASE: st.tuples(st.sampled_from([0, 1, False, None])),
    Kind.TASK_SUSPEND: st.lists(_ANY, max_size=4).map(tuple),
    Kind.TASK_WAKE: st.tuples(st.sampled_from([None, 5, 6, 7])),
}


@st.composite
def _events(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    events = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(list(Kind)))
        data = draw(_DATA.get(kind, st.tuples(_ANY, _ANY, _ANY, _ANY)))
        tid, task, obj, site = draw(st.sampled_from([1, 2, 3])), draw(st.sampled_from([None, 5, 6, 7])), draw(
            st.sampled_from([None, 10, 11, 12])
        ), draw(st.sampled_from([None, 20]))
        events.append((0, tid, task, kind, obj, site, data, None))
    return events


class _Objects:
    def is_asyncio(self, obj: int | None) -> bool:
        return obj is not None and obj % 2 == 0


class _Rec:
    objects = _Objects()

    def __init__(self, hooks: Any) -> None:
        self.hooks = hooks


def _model(dog: Any) -> dict[str, Any]:
    names = ("holder", "held_since", "woken_at", "thread_waits", "task_waits", "ended", "task_names", "done_task_names")
    return {name: getattr(dog, name) for name in names} | {"memo": dog._asyncio_memo}


@settings(max_examples=300, deadline=None)
@given(st.lists(_events(), max_size=4))
def test_the_watchdogs_loop_in_c_keeps_the_model_python_keeps(batches: list[list[tuple[Any, ...]]]) -> None:
    """Every kind, watched or not, with odd data (a depth of True, a release leaving None, a short suspend)."""
    from chronodbg.recorder.watchdog import Watchdog

    in_c, in_python = Watchdog(_Rec(_hooks)), Watchdog(_Rec(None))
    assert in_c._feed_c is _hooks.watch_feed and in_python._feed_c is None
    seq = 1
    for batch in batches:
        defs = {"tasks": [(5, "five", "coro", None), (6, None, "coro", 5)]}
        in_c.feed(batch, defs, seq)
        in_python.feed(batch, defs, seq)
        seq += len(batch)
        assert _model(in_c) == _model(in_python)


def test_the_watchdogs_loop_in_c_refuses_what_is_not_a_batch() -> None:
    from chronodbg.recorder.watchdog import _INLINE, _WATCHED, Watchdog

    dog = Watchdog(_Rec(_hooks))
    with pytest.raises(TypeError):
        _hooks.watch_feed(dog, [(0, 1, None, Kind.LOCK_ACQUIRE)], 1, _INLINE, _WATCHED)
    with pytest.raises(TypeError):
        _hooks.watch_feed(dog, [], 1, _INLINE[:3], _WATCHED)
    # An error inside (a data item missing) reaches the caller, as in Python.
    with pytest.raises(IndexError):
        _hooks.watch_feed(dog, [(0, 1, None, Kind.LOCK_ACQUIRE, 10, None, (), None)], 1, _INLINE, _WATCHED)
