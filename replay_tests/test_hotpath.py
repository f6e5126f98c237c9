"""The C hot path (recorder/_hotpath.c) records exactly what the Python closures record.

`Recorder.emit` / `emit_code` are the extension's objects when it was built,
the closures of `Recorder._make_emit` / `_make_emit_code` otherwise or under
CHRONODBG_PURE_PYTHON=1. Both must give the same events, fall back the same
way, and treat exceptions the same way: an Exception is dropped and counted,
a BaseException (KeyboardInterrupt) propagates. The rest of the suite runs on
whichever path this interpreter has; .ci/run runs it once more forced to Python.
"""

from __future__ import annotations

import copy
import gc
import queue
import subprocess
import sys
import threading
import types
import weakref
from pathlib import Path
from typing import Any

import pytest

from chronodbg import values
from chronodbg.kinds import Kind
from chronodbg.logfile import read_log
from chronodbg.logfile.reader import Recording
from chronodbg.recorder import core, hotpath, locks
from chronodbg.recorder.core import Options, Recorder
from replay_tests.conftest import TIMEOUT, built_extension, env, record, run_plain, skip_unless_c_can_build

EXTENSION = built_extension("chronodbg.recorder._hotpath")
needs_extension = pytest.mark.skipif(EXTENSION is None, reason="the C extension was not built for this Python")
PATHS = [pytest.param("c", marks=needs_extension), "python"]

#: A program whose threads run one at a time (each is joined before the next
#: starts), so its events are the same in every run: locks, an RLock, a
#: Condition, a Semaphore, an Event, queues, a library frame between the
#: event and the user's code, and asyncio tasks (where user_frame stops at the
#: task's step).
PROGRAM = """\
import asyncio
import json
import queue
import threading

import chronodbg

lock = threading.Lock()
rlock = threading.RLock()
cond = threading.Condition()
sem = threading.Semaphore(2)
ready = threading.Event()
q = queue.Queue()


def add(n):
    total = 0
    for i in range(n):
        with lock:
            total += i
    return total


class Deep:
    pass


def encode(obj):
    # Called from json's pure-Python encoder: library frames lie between here and the caller.
    ready.set()
    return 0


def worker(name, n):
    api_token = "hidden"
    with rlock:
        with rlock:
            q.put((name, add(n)))
    # The wrappers' other entries: acquire() with and without arguments, release().
    lock.acquire()
    assert not lock.acquire(False) and not lock.acquire(timeout=0.001)
    lock.release()
    assert rlock.acquire() and rlock.acquire(True, 1) and rlock.acquire(blocking=False)
    for _ in range(3):
        rlock.release()
    with sem:
        json.dumps([Deep()], default=encode, indent=1)
    with cond:
        cond.notify_all()


for k in range(3):
    t = threading.Thread(target=worker, args=(f"w{k}", k + 2), name=f"w{k}")
    t.start()
    t.join()
got = sorted(q.get() for _ in range(3))


async def produce(aq, n):
    for i in range(n):
        await aq.put(i)
    await aq.put(None)


async def consume(aq):
    seen = []
    while (item := await aq.get()) is not None:
        seen.append(item)
    return seen


async def main():
    aq = asyncio.Queue(maxsize=1)
    alock = asyncio.Lock()
    async with alock:
        pass
    _, seen = await asyncio.gather(produce(aq, 4), consume(aq))
    return seen


seen = asyncio.run(main())
chronodbg.mark("done", got=got, seen=seen)
print(got, seen)
"""


def make(path: str, monkeypatch: pytest.MonkeyPatch, **options: Any) -> Recorder:
    """A recorder (not started) whose emit runs on `path`: "c" or "python"."""
    if path == "python":
        monkeypatch.setenv(hotpath.PURE_PYTHON_ENV, "1")
    else:
        monkeypatch.delenv(hotpath.PURE_PYTHON_ENV, raising=False)
    rec = Recorder(Options(**options))
    assert hotpath.path_of(rec.emit) == path and hotpath.path_of(rec.emit_code) == path
    return rec


def sampling_with(rec: Recorder, frame_locals: Any, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """`rec` with its emit remade to sample locals with `frame_locals` (emit binds it when made)."""
    monkeypatch.setattr(rec.summariser, "frame_locals", frame_locals)
    path = hotpath.path_of(rec.emit)
    rec.emit = rec._make_emit()
    assert hotpath.path_of(rec.emit) == path
    return rec


def _masked(value: Any) -> Any:
    """A value summary without the ids of objects (they differ from run to run)."""
    if isinstance(value, tuple):
        if len(value) >= 3 and value[0] == values.TAG_OBJ:
            return (value[0], value[1], 0, *map(_masked, value[3:]))
        return tuple(_masked(v) for v in value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    return value


def _events(rec: Recording) -> dict[int, list[tuple[Any, ...]]]:
    """Everything about each event but its time, thread by thread.

    Per thread, not in the global order: while a worker runs, the main thread
    is on its way into join() (thread.join, and at level lines the line
    events), and which of the two appends first is up to the scheduler.
    """
    out: dict[int, list[tuple[Any, ...]]] = {}
    for e in rec.events:
        site = rec.site_of(e)
        where = (site.file, site.line, site.func) if site is not None else None
        # Durations are times too.
        data = {k: v for k, v in rec.data_dict(e).items() if not k.endswith("_ns")}
        out.setdefault(e.thread, []).append((e.kind, e.task, e.obj, where, _masked(data), _masked(e.locals)))
    return out


def _record(
    tmp_path: Path, name: str, path: str, *options: str, source: str = PROGRAM, prints: bytes = b""
) -> Recording:
    environment = env()
    if path == "python":
        environment[hotpath.PURE_PYTHON_ENV] = "1"
    else:
        environment.pop(hotpath.PURE_PYTHON_ENV, None)
    program = tmp_path / "program.py"
    program.write_text(source)
    out = tmp_path / f"{name}.cgr"
    proc = subprocess.run(
        [sys.executable, "-m", "chronodbg", "record", "-q", *options, "-o", str(out), str(program)],
        capture_output=True,
        timeout=TIMEOUT,
        env=environment,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == (prints or b"[('w0', 1), ('w1', 3), ('w2', 6)] [0, 1, 2, 3]\n")
    rec = read_log(str(out))
    assert rec.header["hot_path"] == path
    return rec


@needs_extension
@pytest.mark.parametrize(
    "options", [(), ("--locals", "none"), ("--level", "calls"), ("--level", "lines")], ids=["sync", "no-locals", "calls", "lines"]
)
def test_both_paths_record_the_same_events(tmp_path: Path, options: tuple[str, ...]) -> None:
    c = _record(tmp_path, "c", "c", *options)
    python = _record(tmp_path, "python", "python", *options)
    assert _events(c) == _events(python)
    kinds = {e.kind for e in c.events}
    assert {"lock.acquire", "queue.put", "cond.notify", "sem.acquire", "event.set", "task.resume", "mark"} <= kinds
    if "--level" in options:
        assert "call" in kinds
    # The event from inside copy.deepcopy is put on the user's line, in __deepcopy__.
    sets = [e for e in c.events if e.kind == "event.set"]
    assert [c.site_of(e).func for e in sets] == ["encode"] * 3  # type: ignore[union-attr]
    assert c.footer is not None and c.footer["dropped"] == 0


#: What a line event compares: locals rebound to an equal new object, deleted,
#: secret, of a type whose metaclass __hash__ raises, plain objects replaced,
#: a generator's, and the module's own names (functions, classes and modules hidden).
LINES_PROGRAM = """\
import sys


class Meta(type):
    def __hash__(cls):
        raise RuntimeError("no hash")


class Odd(metaclass=Meta):
    pass


class Plain:
    pass


def body(n):
    total = 0
    password = "hunter2"
    seen = []
    p = Plain()
    for i in range(n):
        total += i
        big = 10**30 + i - i
        seen.append(i)
        if i == 1:
            del big
            odd = Odd()
        password = password + "x"
        p = p if i % 2 else Plain()
    return total


def gen(k):
    for j in range(k):
        state = j * 2
        yield state


def outer(token, count, *rest, **extra):
    def inner():
        return count
    return inner() + len(rest) + len(extra)


def risky(n):
    try:
        if n:
            raise ValueError(n)
    except ValueError as exc:
        caught = exc.args[0]
        return caught
    return 0


def unwinds():
    return risky(1) / 0


def reraises():
    try:
        unwinds()
    except ZeroDivisionError:
        raise


try:
    reraises()
except ZeroDivisionError:
    pass
print(body(4), list(gen(3)), outer("t", 1, 2, 3, k=4), risky(2))
text = "module level"
number = 7
del number
print(text, len(sys.argv))
"""


@needs_extension
def test_both_paths_record_the_same_line_events(tmp_path: Path) -> None:
    prints = b"6 [0, 2, 4] 4 2\nmodule level 1\n"
    c = _record(tmp_path, "c", "c", "--level", "lines", source=LINES_PROGRAM, prints=prints)
    python = _record(tmp_path, "python", "python", "--level", "lines", source=LINES_PROGRAM, prints=prints)
    assert _events(c) == _events(python)
    lines = [c.data_dict(e) for e in c.events if e.kind == "line"]
    changed = [name for data in lines for name, _ in data["changed"]]
    assert {"total", "big", "odd", "password", "p", "state", "text"} <= set(changed)
    # Bound (i=0), unbound (i=1), bound again (i=2); rebound to an equal new int at i=3: not a change.
    assert changed.count("big") == 3
    assert "sys" not in changed and "body" not in changed and "Plain" not in changed
    # Raised and caught, unwound, raised again by a bare `raise`: both tracers' exception paths.
    assert {"raise", "handled", "unwind"} <= {e.kind for e in c.events}
    # A call's arguments: a secret one redacted, one a closure holds (a cell), *rest and **extra.
    (call,) = [c.data_dict(e) for e in c.events if e.kind == "call" and c.site_of(e).func == "outer"]  # type: ignore[union-attr]
    assert call["args"] == (
        ("token", ("redacted",)), ("count", 1), ("rest", ("tuple", 2, (2, 3))), ("extra", ("dict", 1, (("k", 4),)))
    )
    assert c.footer is not None and c.footer["dropped"] == 0


def _lines_holding(path: str) -> tuple[list[Any], list[type]]:
    """Line events of a frame holding a recorded lock and queue, a dict of counters and a list, over 40 lines.

    Returns the events' data and the types whose label Python's summariser looked up.
    """
    from chronodbg.recorder.snapshot import Summariser

    labelled: list[type] = []
    label = Summariser._label

    def counting(self: Summariser, value: Any, cls: type) -> Any:
        labelled.append(cls)
        return label(self, value, cls)

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(Summariser, "_label", counting)
        rec = make(path, monkeypatch, level="lines")
        _hold_for_40_lines(rec, path)
    # The frame's own id differs between runs.
    return [_masked(e[6]) for e in rec.buffer], labelled


def _hold_for_40_lines(rec: Recorder, path: str) -> None:
    from chronodbg.recorder.code_events import CodeEvents

    events = CodeEvents(rec, "lines")
    assert (events.fast is not None) == (path == "c")
    rec.summariser.labels.add(7, "Lock")
    rec.summariser.labels.add(8, "Queue")
    lock = locks._LOCK_CLASSES[0](locks._IDLE, 7)
    jobs: Any = queue.Queue()
    jobs._cgr_oid = 8

    def holding(events: CodeEvents, lock: Any, jobs: Any, shared: dict[int, int], counts: list[int]) -> None:
        frame = sys._getframe()
        events.enter(frame, False)
        for i in range(40):
            shared[9] = i  # past the 8 items its summary shows: the same summary
            counts[20] = i
            if i == 30:
                shared[0] = -1  # shown: a change
                counts[0] = -1
            events.line(frame, 1000 + i)

    holding(events, lock, jobs, {k: k for k in range(10)}, [0] * 30)


@needs_extension
def test_a_line_knows_a_recorded_object_and_a_container_changed_past_its_summary_again() -> None:
    """The C line events report what the Python ones do, without summarising an unchanged lock or dict again."""
    c, c_labelled = _lines_holding("c")
    python, python_labelled = _lines_holding("python")
    assert c == python
    changes = [dict(data[1]) for data in c[1:]]
    shown = [k for k, changed in enumerate(changes) if "shared" in changed or "counts" in changed]
    assert shown == [30] and changes[30]["shared"][2][0] == (0, -1) and changes[30]["counts"][2][0] == -1
    assert all("lock" not in changed and "jobs" not in changed for changed in changes)
    # Looked up at the call (its summary, then its key), not again: Python's line events do at every line.
    lock_type = locks._LOCK_CLASSES[0]
    assert c_labelled.count(lock_type) == c_labelled.count(queue.Queue) == 2
    assert python_labelled.count(lock_type) > 40 and python_labelled.count(queue.Queue) > 40


def _calls_with_unbound_parameters(path: str, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The call events' data of frames whose parameters were deleted before the call was recorded."""
    from chronodbg.recorder.code_events import CodeEvents

    rec = make(path, monkeypatch, level="calls")
    events = CodeEvents(rec, "calls")
    assert (events.fast is not None) == (path == "c")

    def some(first: int, second: str, *rest: int, **named: int) -> None:
        del first, rest
        events.enter(sys._getframe(), False)

    def none_left(only: int) -> None:
        del only
        events.enter(sys._getframe(), False)

    some(1, "two", 3, four=4)
    none_left(1)
    return [e[6][1:] for e in rec.buffer]


@needs_extension
def test_a_call_lists_the_parameters_still_bound_as_python_does(monkeypatch: pytest.MonkeyPatch) -> None:
    c = _calls_with_unbound_parameters("c", monkeypatch)
    assert c == _calls_with_unbound_parameters("python", monkeypatch)
    assert c == [("call", (("second", "two"), ("named", ("dict", 1, (("four", 4),))))), ("call", ())]


@needs_extension
def test_the_settrace_tracer_traces_in_c_on_3_11(monkeypatch: pytest.MonkeyPatch) -> None:
    """3.11 with the C sampler installs SettraceHook; elsewhere (3.12+, Python path) sys.settrace(global_trace)."""
    from chronodbg.recorder.tracer_settrace import SettraceTracer

    for path in ("c", "python"):
        tracer = SettraceTracer(make(path, monkeypatch, level="calls"), "calls")
        in_c = path == "c" and sys.version_info < (3, 12)
        assert (tracer.hook is not None) == in_c
        assert tracer._ours is (tracer.hook if in_c else tracer._global)


#: Awaits that end, and one StopIteration the program raises itself; prints
#: how often the tracer's Python side was asked whether a StopIteration
#: ended an iteration, and the raise events of its own.
AWAITS_END = """
import asyncio

from chronodbg.recorder.code_events import CodeEvents

asked = []
ends_iteration = CodeEvents.ends_iteration
CodeEvents.ends_iteration = staticmethod(lambda *args: asked.append(1) or ends_iteration(*args))


async def step(n):
    await asyncio.sleep(0)
    return n


async def main():
    total = 0
    for n in range(50):
        total += await asyncio.create_task(step(n))
    try:
        raise StopIteration(total)
    except StopIteration as stop:
        return stop.value


print(asyncio.run(main()), len(asked))
"""


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="SettraceHook is 3.11's")
@pytest.mark.parametrize("path", PATHS)
def test_the_stop_iteration_ending_an_await_is_passed_over_in_c(tmp_path: Path, path: str) -> None:
    """Under settrace 3.11 reports a StopIteration at each await that ends; SettraceHook passes those over itself."""
    (tmp_path / "program.py").write_text(AWAITS_END)
    pure = {hotpath.PURE_PYTHON_ENV: "1" if path == "python" else ""}
    run = record(tmp_path, "program.py", options=("--level", "calls"), environment=pure)
    assert run.returncode == 0, run.stderr.decode()
    total, asked = run.stdout.split()
    assert total == b"1225"
    # The C path asks Python about the one the program raised; the Python path about every await too.
    assert int(asked) == 1 if path == "c" else int(asked) > 50
    raised = [e for e in run.events if e["kind"] == "raise"]
    assert [(e["func"], e["data"]["type"]) for e in raised] == [("main", "StopIteration")]


@needs_extension
def test_user_only_answers_library_code_and_passes_the_rest_on() -> None:
    """UserOnly calls its callback with the same arguments unless the code is known not the user's."""
    from chronodbg.recorder._sampler import UserOnly

    def library() -> None:
        pass

    def user() -> None:
        pass

    def unjudged() -> None:
        pass

    calls: list[tuple[Any, ...]] = []
    traced = {id(library.__code__): False, id(user.__code__): True}
    gate = UserOnly(traced, lambda *args: calls.append(args) or "result")
    error = ValueError("x")
    assert gate(library.__code__, 4, error) is None
    assert gate(user.__code__, 4, error) == "result"
    assert gate(unjudged.__code__, 6, error) == "result"
    assert calls == [(user.__code__, 4, error), (unjudged.__code__, 6, error)]
    traced[id(unjudged.__code__)] = False  # judged since: the dict is read at each call
    assert gate(unjudged.__code__, 6, error) is None and len(calls) == 2
    with pytest.raises(TypeError):
        UserOnly({}, "not callable")
    with pytest.raises(TypeError):
        UserOnly([], print)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring")
@pytest.mark.parametrize("path", PATHS)
def test_the_exception_callbacks_are_gated_in_c_on_the_c_path(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from chronodbg.recorder.tracer_monitoring import MonitoringTracer

    callbacks = MonitoringTracer(make(path, monkeypatch, level="calls"), "calls")._callbacks()
    E = sys.monitoring.events
    gated = {type(callbacks[event]).__name__ == "UserOnly" for event in (E.RAISE, E.RERAISE, E.EXCEPTION_HANDLED, E.PY_UNWIND, E.PY_THROW)}
    assert gated == {path == "c"}


#: A frame traced the way bdb.set_trace does it: its f_trace set before the
#: program's own sys.settrace, and left set after sys.settrace(None).
BDB_ORDER = """
import sys

seen = []


def tracer(frame, event, arg):
    if frame.f_code.co_name == "traced_here":
        seen.append((event, frame.f_lineno - traced_here.__code__.co_firstlineno))
    return tracer


def traced_here():
    frame = sys._getframe()
    frame.f_trace = tracer
    sys.settrace(tracer)
    x = 1
    sys.settrace(None)
    y = x + 1
    return y


traced_here()
print(seen)
"""


@needs_extension
@pytest.mark.parametrize("level", ["calls", "lines"])
def test_the_c_tracer_calls_a_frames_own_f_trace_only_as_cpython_would(tmp_path: Path, level: str) -> None:
    """Not before the program's sys.settrace, nor after its sys.settrace(None), and at level calls too.

    On 3.11 the C hook is the thread's trace function, and decides; under
    sys.settrace (the Python path) CPython calls a frame's f_trace whenever
    some trace function is installed, which is not in the program's power
    to see or chronodbg's to change.
    """
    program = tmp_path / "bdb_order.py"
    program.write_text(BDB_ORDER)
    plain = run_plain(program, cwd=tmp_path)
    assert plain.returncode == 0 and plain.stdout == b"[('line', 4), ('line', 5)]\n", plain.stdout
    _record(tmp_path, "c", "c", "--level", level, source=BDB_ORDER, prints=plain.stdout)


def test_header_and_info_say_which_path_ran(tmp_path: Path) -> None:
    for path in (["c"] if EXTENSION is not None else []) + ["python"]:
        rec = _record(tmp_path, path, path)
        assert rec.header["hot_path"] == path
        proc = subprocess.run(
            [sys.executable, "-m", "chronodbg", "info", str(tmp_path / f"{path}.cgr")],
            capture_output=True,
            timeout=TIMEOUT,
            env=env(),
            stdin=subprocess.DEVNULL,
        )
        assert f"hot path {path}" in proc.stdout.decode()


def test_the_environment_variable_forces_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hotpath.PURE_PYTHON_ENV, "1")
    assert hotpath.forced_python() and hotpath.native() is None
    rec = Recorder(Options())
    assert rec._header()["hot_path"] == "python"
    assert isinstance(rec.emit, types.FunctionType) and isinstance(rec.emit_code, types.FunctionType)
    for unset in ("", "0"):
        monkeypatch.setenv(hotpath.PURE_PYTHON_ENV, unset)
        assert not hotpath.forced_python()
        assert Recorder(Options())._header()["hot_path"] == ("c" if EXTENSION is not None else "python")


def test_the_extension_is_built_where_it_can_be() -> None:
    """A CPython with a C compiler and its headers has the extension: a broken build must not pass unnoticed."""
    skip_unless_c_can_build()
    assert EXTENSION is not None, "chronodbg.recorder._hotpath was not built (see pip install -v for the compiler's error)"
    assert locks._built is not None, "chronodbg.recorder._locks was not built (see pip install -v)"
    assert built_extension("chronodbg.recorder._hooks") is not None, "chronodbg.recorder._hooks was not built (see pip install -v)"
    if sys.version_info < (3, 12):
        sampler = built_extension("chronodbg.recorder._sampler")
        assert hasattr(sampler, "SettraceHook"), "chronodbg.recorder._sampler has no SettraceHook on 3.11"


@pytest.mark.parametrize("name", ["Lock", "RLock"])
def test_each_lock_class_fails_as_the_python_one_when_not_initialised(name: str) -> None:
    """A wrapper made with __new__ alone has no state: each method raises the AttributeError the Python one does."""
    classes = [c for c in locks.WRAPPERS if (c in locks._RLOCK_CLASSES) == (name == "RLock")]
    assert len(classes) == (2 if locks._built is not None else 1)
    for cls in classes:
        wrapper = cls.__new__(cls)
        for call in (wrapper.acquire, wrapper.__enter__, wrapper.release, lambda w=wrapper: w.__exit__(None, None, None)):
            with pytest.raises(AttributeError, match="_lock"):
                call()


@needs_extension
def test_the_header_names_the_lock_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hotpath.PURE_PYTHON_ENV, raising=False)
    rec = Recorder(Options())
    assert rec.lock_path == "c" and locks._wrapper_classes(rec) == (locks.CRecordedLock, locks.CRecordedRLock)
    monkeypatch.setenv(hotpath.PURE_PYTHON_ENV, "1")
    rec = Recorder(Options())
    assert rec.lock_path == "python" and locks._wrapper_classes(rec) == (locks.RecordedLock, locks.RecordedRLock)
    assert rec._header()["hot_path"] == "python"


# -- the same results, in process -----------------------------------------------


def _emits(rec: Recorder) -> None:
    """One of each way the wrappers call emit and the tracers emit_code."""
    frame = sys._getframe()
    rec.emit(Kind.MARK, None, ("here",), frame)
    rec.emit(Kind.MARK, 7, ("no locals",), frame, False)
    rec.emit(Kind.MARK, None, ("keyword",), frame, with_locals=False)
    rec.emit(Kind.PROCESS_EXIT, None, (0, "exit"), None)

    def inner(depth: int) -> None:
        local = [depth] * depth  # noqa: F841 - sampled
        if depth:
            inner(depth - 1)
        else:
            rec.emit(Kind.MARK, None, ("deep",), sys._getframe())
            # The caller's frame, not the frame that calls emit: locals are not sampled "calling".
            rec.emit(Kind.MARK, None, ("outer",), sys._getframe(1))

    inner(2)

    class Copied:
        def __deepcopy__(self, memo: dict[int, Any]) -> Copied:
            # Frame of copy.deepcopy (library code): the user frame is this one's caller's.
            rec.emit(Kind.MARK, None, ("library",), sys._getframe(1))
            return self

    copy.deepcopy(Copied())
    code = _emits.__code__
    rec.emit_code(Kind.CALL, (1, "call", ()), code, code.co_firstlineno)
    rec.emit_code(Kind.LINE, (1, 2), code, code.co_firstlineno + 1)
    rec.emit_code(Kind.LINE, (1, 2), code, code.co_firstlineno + 1)


def _buffered(rec: Recorder) -> list[tuple[Any, ...]]:
    return [(e[1], e[2], int(e[3]), e[4], e[5], e[6], _masked(e[7])) for e in rec.buffer]


@needs_extension
def test_in_process_events_and_definitions_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    results = []
    for path in ("c", "python"):
        rec = make(path, monkeypatch)
        _emits(rec)
        times = [e[0] for e in rec.buffer]
        assert times == sorted(times) and all(isinstance(t, int) and t >= 0 for t in times)
        assert all(type(e[3]) is type(Kind.MARK) or type(e[3]) is int for e in rec.buffer)
        results.append((_buffered(rec), rec.pending, rec.dropped))
    assert results[0] == results[1]
    events, pending, dropped = results[0]
    assert dropped == 0 and len(events) == 10
    assert events[0][6] is not None and events[1][6] is None and events[2][6] is None and events[3][4] is None


@needs_extension
def test_buffered_tuples_are_untracked_where_the_gc_would_untrack_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """The C emit untracks an event's data and locals tuples holding only atomic items, and nothing else."""
    rec = make("c", monkeypatch)
    inner = (1, "x", (2.5, None, b"b"))
    holder = ([1], 2)
    with_list = (3, holder)
    rec.emit(Kind.MARK, None, (inner, "s"), sys._getframe())
    rec.emit(Kind.MARK, None, with_list, sys._getframe())
    rec.emit_code(Kind.MARK, ((4, 5),), sys._getframe().f_code, 1)
    first, second, third = rec.buffer[-3:]
    assert gc.is_tracked(holder[0]) and gc.is_tracked(holder) and gc.is_tracked(with_list) and gc.is_tracked(second[6])
    assert not any(gc.is_tracked(t) for t in (first, first[6], inner, inner[2], third, third[6], third[6][0]))
    # The locals snapshot: pairs of names and summaries, all atomic here.
    assert first[7] is not None and not gc.is_tracked(first[7]) and not any(gc.is_tracked(pair) for pair in first[7])
    assert dict(first[7])["holder"] is not None

@needs_extension
def test_code_events_get_the_same_sites_past_the_site_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """EmitCode's (code, line) cache evicts and collides: every site still equals the Python path's."""
    codes = [_emits.__code__, _buffered.__code__, make.__code__]
    # More (code, line) pairs than the cache has slots, each seen in two orders, and lines that are not small ints.
    where = [(code, line) for code in codes for line in range(1, 800)]
    lines: list[Any] = [True, 2**40, -1]
    results = []
    for path in ("c", "python"):
        rec = make(path, monkeypatch)
        for code, line in where + where[::-1] + where[::7]:
            rec.emit_code(Kind.LINE, (line,), code, line)
        for line in lines + lines:
            rec.emit_code(Kind.LINE, (), codes[0], line)
        results.append(([e[5] for e in rec.buffer], rec.pending, rec.dropped))
    assert results[0] == results[1]
    sites, _, dropped = results[0]
    assert dropped == 0 and len(set(sites[: len(where)])) == len(where)
    assert sites[: len(where)] == sites[len(where) : 2 * len(where)][::-1]



@pytest.mark.parametrize("path", PATHS)
def test_odd_calls_behave_as_the_closure(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = make(path, monkeypatch)
    with pytest.raises(TypeError):
        rec.emit(Kind.MARK, None)
    with pytest.raises(TypeError):
        rec.emit(Kind.MARK, None, (), None, True, "extra")
    with pytest.raises(TypeError):
        rec.emit_code(Kind.LINE, (), None)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        rec.emit(Kind.MARK, None, (), None, nonsense=1)
    # Not a frame: user_frame fails on it, which is an Exception, so it is dropped.
    rec.emit(Kind.MARK, None, (), object())
    assert rec.dropped == 1 and not rec.buffer
    # Frame-like objects are walked as frames are.
    code = _emits.__code__
    fake = types.SimpleNamespace(f_code=code, f_lineno=5, f_back=None, f_locals={"x": 1})
    rec.emit(Kind.MARK, None, (), fake, False)
    assert rec.dropped == 1 and rec.buffer[-1][5] == rec._sites[(id(code), 5)]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("error", [RuntimeError, RecursionError, MemoryError])
def test_an_exception_inside_is_dropped_and_counted(path: str, error: type[Exception], monkeypatch: pytest.MonkeyPatch) -> None:
    rec = make(path, monkeypatch)

    def fail(*args: Any) -> None:
        raise error("inside the recorder")

    frame = sys._getframe()
    # A new thread (current_thread_id registers it), a new site (site_id), new code (code_is_user), locals.
    monkeypatch.setattr(Recorder, "register_thread", fail)
    rec.emit(Kind.MARK, None, (), frame)
    rec.emit_code(Kind.LINE, (), _emits.__code__, 3)
    assert rec.dropped == 2
    monkeypatch.undo()
    rec = make(path, monkeypatch)
    monkeypatch.setattr(Recorder, "string_id", fail)
    rec.emit(Kind.MARK, None, (), frame)
    rec.emit_code(Kind.LINE, (), _emits.__code__, 3)
    assert rec.dropped == 2 and not rec.buffer
    monkeypatch.undo()
    rec = sampling_with(make(path, monkeypatch), fail, monkeypatch)
    rec.emit(Kind.MARK, None, (), frame)
    rec.emit(Kind.MARK, None, (), frame, False)
    assert rec.dropped == 1 and len(rec.buffer) == 1
    monkeypatch.undo()
    rec = make(path, monkeypatch)
    rec.emit(Kind.MARK, None, (), frame)
    monkeypatch.setattr(type(rec.user), "file_is_user", fail)
    rec.emit(Kind.MARK, None, (), frame)  # this frame's code is known: not asked again
    assert rec.dropped == 0 and len(rec.buffer) == 2
    namespace: dict[str, Any] = {}
    exec(compile("def new(emit, frame): emit(0, None, (), frame())", "<new>", "exec"), namespace)
    namespace["new"](rec.emit, sys._getframe)  # new code: UserCode asked, and it fails
    assert rec.dropped == 1 and len(rec.buffer) == 2


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_a_base_exception_propagates(path: str, error: type[BaseException], monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any) -> None:
        raise error()

    frame = sys._getframe()
    rec = sampling_with(make(path, monkeypatch), fail, monkeypatch)
    with pytest.raises(error):
        rec.emit(Kind.MARK, None, (), frame)
    monkeypatch.setattr(Recorder, "site_id", fail)
    rec = make(path, monkeypatch)
    with pytest.raises(error):
        rec.emit_code(Kind.LINE, (), _emits.__code__, 3)
    assert rec.dropped == 0 and not rec.buffer


@pytest.mark.parametrize("path", PATHS)
def test_relieve_runs_past_the_limit(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(core, "BUFFER_LIMIT", 3)
    monkeypatch.setattr(Recorder, "_relieve", lambda self: calls.append(len(self.buffer)))
    rec = make(path, monkeypatch)
    for _ in range(5):
        rec.emit(Kind.MARK, None, (), None)
    rec.emit_code(Kind.LINE, (), _emits.__code__, 3)
    assert calls == [4, 5, 6]


@pytest.mark.parametrize("path", PATHS)
def test_a_dropping_relieve_is_counted(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self: Recorder) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(core, "BUFFER_LIMIT", 0)
    monkeypatch.setattr(Recorder, "_relieve", full)
    rec = make(path, monkeypatch)
    rec.emit(Kind.MARK, None, (), None)
    # Appended, then the relief failed: the event stays, and the failure counts (as in Python).
    assert len(rec.buffer) == 1 and rec.dropped == 1


@pytest.mark.parametrize("path", PATHS)
def test_stop_codes_end_the_search(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = make(path, monkeypatch)
    lib = [copy.__dict__["deepcopy"].__code__]
    got: list[tuple[Any, ...]] = []

    class Copied:
        def __deepcopy__(self, memo: dict[int, Any]) -> Copied:
            rec.emit(Kind.MARK, None, (), sys._getframe(1))
            got.append(rec.buffer[-1])
            return self

    copy.deepcopy(Copied())
    assert got[-1][5] is not None
    rec.stop_codes.add(id(lib[0]))
    copy.deepcopy(Copied())
    assert got[-1][5] is None and got[-1][7] is None


@pytest.mark.parametrize("path", PATHS)
def test_threads_emit_side_by_side(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = make(path, monkeypatch)
    start = threading.Barrier(4)

    def run() -> None:
        start.wait()
        for i in range(2000):
            rec.emit(Kind.MARK, i, (), sys._getframe(), i % 2 == 0)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert rec.dropped == 0 and len(rec.buffer) == 8000
    by_thread: dict[int, list[int]] = {}
    for event in rec.buffer:
        by_thread.setdefault(event[1], []).append(event[4])
    assert sorted(by_thread) == sorted(rec.thread_ids[t.ident] for t in threads if t.ident is not None)
    assert all(order == list(range(2000)) for order in by_thread.values())


@pytest.mark.parametrize("path", PATHS)
def test_a_recorder_is_collected(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = make(path, monkeypatch)
    rec.emit(Kind.MARK, None, (), sys._getframe())
    gone = weakref.ref(rec)
    del rec
    gc.collect()
    assert gone() is None


# -- the buffered event's type (_event.h) -------------------------------------------


@needs_extension
def test_the_c_emit_buffers_events_that_read_as_the_tuples_python_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under time.monotonic_ns the C emits buffer the extension's Event; to Python it is the 8-tuple in every way."""
    rec = make("c", monkeypatch)
    frame = sys._getframe()
    rec.emit(Kind.MARK, 7, ("a", 1), frame)
    rec.emit_code(Kind.LINE, (1, 2), frame.f_code, frame.f_lineno)
    first, second = rec.buffer[-2:]
    for event in (first, second):
        assert type(event) is EXTENSION.Event and len(event) == 8 and not gc.is_tracked(event)
        as_tuple = tuple(event)
        assert event == as_tuple and as_tuple == event and not event != as_tuple and hash(event) == hash(as_tuple)
        assert [event[i] for i in range(8)] == list(as_tuple) == [event[i] for i in range(-8, 0)]
        assert event[2:5] == as_tuple[2:5] and event[::-1] == as_tuple[::-1]
        t, thread, task, kind, obj, site, data, snap = event
        assert type(t) is int and t >= 0 and thread == rec.thread_ids[threading.get_ident()] and task is None
        assert event < as_tuple + (0,) and event != as_tuple[:7] and event != list(as_tuple)
        assert repr(event) == "Event" + repr(as_tuple)
        for bad in (8, -9, 2**70):
            with pytest.raises(IndexError):
                event[bad]
        with pytest.raises(TypeError):
            event["kind"]
    assert first[3] == Kind.MARK and first[4] == 7 and first[6] == ("a", 1)
    assert second[3] == Kind.LINE and second[4] is None and second[6] == (1, 2) and second[7] is None
    assert first[0] <= second[0]


@needs_extension
def test_an_event_is_made_from_its_eight_items_and_nothing_else() -> None:
    data, snap = ("d", [1]), (("x", 1),)
    event = EXTENSION.Event(5, 1, None, int(Kind.MARK), 3, 4, data, snap)
    assert event == (5, 1, None, int(Kind.MARK), 3, 4, data, snap) and event[6] is data and event[7] is snap
    assert EXTENSION.Event(-(2**63), 1, 2, 3, 4, 5, 6, 7)[0] == -(2**63)
    for args in ((1, 2, 3), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        with pytest.raises(TypeError):
            EXTENSION.Event(*args)
    with pytest.raises(TypeError):
        EXTENSION.Event("t", 1, 2, 3, 4, 5, 6, 7)
    with pytest.raises(OverflowError):
        EXTENSION.Event(2**63, 1, 2, 3, 4, 5, 6, 7)
    with pytest.raises(TypeError):
        EXTENSION.Event(1, 2, 3, 4, 5, 6, 7, 8, kind=1)


@needs_extension
def test_under_another_clock_the_c_emit_buffers_the_tuples_python_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock that is not time.monotonic_ns is called, and its times go into tuples as in Python."""
    results = []
    for path in ("c", "python"):
        monkeypatch.setattr(core.time, "monotonic_ns", iter(range(1000, 2000, 10)).__next__)
        rec = make(path, monkeypatch)
        frame = sys._getframe()
        rec.emit(Kind.MARK, 7, ("a", 1), frame)
        rec.emit_code(Kind.LINE, (1, 2), frame.f_code, frame.f_lineno)
        assert all(type(event) is tuple for event in rec.buffer)
        results.append([(e[0], e[3], e[4], e[6]) for e in rec.buffer])
    assert results[0] == results[1] == [(10, Kind.MARK, 7, ("a", 1)), (20, Kind.LINE, None, (1, 2))]


@needs_extension
def test_freed_events_release_their_items_and_are_made_again_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """More events than the free list keeps, freed and made again: every item is released once, and read back right."""
    rec = make("c", monkeypatch)
    frame = sys._getframe()
    marker = ("the", "data")
    before = sys.getrefcount(marker)
    for _ in range(2):
        for i in range(20_000):
            rec.emit_code(Kind.LINE, marker if i % 2 else (i,), frame.f_code, frame.f_lineno)
        assert len(rec.buffer) == 20_000 and sys.getrefcount(marker) == before + 10_000
        assert all(e[6] is marker if i % 2 else e[6] == (i,) for i, e in enumerate(rec.buffer))
        EXTENSION.free_events(rec.buffer)
        assert sys.getrefcount(marker) == before


_RETURNED: list[str] = []


@needs_extension
def test_a_code_events_data_is_kept_in_the_event_and_reads_packs_and_frees_as_its_tuple(monkeypatch: pytest.MonkeyPatch) -> None:
    """The C tracers hand a call's, return's and line's data straight to the event: it reads, packs and is released as the tuple would be."""
    from chronodbg.logfile.writer import LogWriter
    from chronodbg.recorder.code_events import CodeEvents

    rec = make("c", monkeypatch, level="lines")
    events = CodeEvents(rec, "lines")
    assert events.fast is not None
    value = "".join(["the ", "value"])  # its own object, which its summary is
    _RETURNED[:] = [value]  # out of the frame's locals, which a line records
    before = sys.getrefcount(value)

    def called(first: int, second: str) -> None:
        frame = sys._getframe()
        events.enter(frame, False)
        events.line(frame, frame.f_lineno)
        events.leave(frame, _RETURNED[0], False)
        del frame

    called(1, "two")
    call, line, ret = rec.buffer[-3:]
    assert all(type(e) is EXTENSION.Event for e in (call, line, ret))
    gc.collect()
    assert sys.getrefcount(value) == before + 1  # held by the return's data alone
    fid = call[6][0]
    assert call[6] == (fid, "call", (("first", 1), ("second", "two"))) and line[6][0] == fid and len(line[6]) == 2
    assert ret[6] == (fid, "return", value) and ret[6][2] is value
    # Made at each read: no tuple of its own was buffered.
    assert call[6] is not call[6] and type(call[6]) is tuple
    for packer in ("c", "python"):
        packed = LogWriter(lambda data: None, packer=packer).pack_chunk(1, [call, line, ret], {})
        as_tuples = LogWriter(lambda data: None, packer="python").pack_chunk(1, [tuple(call), tuple(line), tuple(ret)], {})
        assert packed.body == as_tuples.body
    del call, line, ret
    EXTENSION.free_events(rec.buffer)
    gc.collect()  # the frame's own locals and the frame: a cycle
    assert sys.getrefcount(value) == before


@needs_extension
def test_the_c_tracers_hand_a_python_emit_the_same_data_as_tuples(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where `emit_code` is not the C EmitCode (a wrapper, a build without it), the C tracers call it with the data's tuple."""
    from chronodbg.recorder.code_events import CodeEvents

    rec = make("c", monkeypatch, level="lines")
    got: list[tuple[Any, ...]] = []
    monkeypatch.setattr(rec, "emit_code", lambda kind, data, code, line: got.append((kind, data, code, line)))
    events = CodeEvents(rec, "lines")
    assert events.fast is not None and not rec.buffer

    def called(first: int) -> int:
        frame = sys._getframe()
        events.enter(frame, False)
        events.line(frame, frame.f_lineno)
        events.leave(frame, first, False)
        return first

    called(7)
    assert [type(data) for _, data, _, _ in got] == [tuple, tuple, tuple]
    (call_kind, call, code, first_line), (_, line, _, _), (_, ret, _, _) = got
    assert call_kind == Kind.CALL and code is called.__code__ and first_line == code.co_firstlineno
    assert call == (call[0], "call", (("first", 7),)) and line[0] == call[0] and ret == (call[0], "return", 7)


@pytest.mark.parametrize("path", PATHS)
def test_a_thread_s_id_and_task_follow_the_recorder_s_tables_at_each_event(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The C emit keeps its last thread's id while the ids' table is unchanged; any change of it is seen at the next event."""
    rec = make(path, monkeypatch)
    frame, me = sys._getframe(), threading.get_ident()
    rec.emit(Kind.MARK, None, (), frame)
    first = rec.thread_ids[me]
    rec.emit(Kind.MARK, None, (), frame)
    rec.thread_ids[me] = first + 40
    rec.emit(Kind.MARK, None, (), frame)
    rec.emit_code(Kind.LINE, (1,), frame.f_code, frame.f_lineno)
    other = rec.thread_ids.pop(me) + 1
    rec.thread_ids[me] = other
    rec.emit(Kind.MARK, None, (), frame)
    rec.running_tasks[me] = 7
    rec.emit(Kind.MARK, None, (), frame)
    del rec.running_tasks[me]
    rec.emit(Kind.MARK, None, (), frame)
    assert [(event[1], event[2]) for event in rec.buffer[-7:]] == [
        (first, None), (first, None), (first + 40, None), (first + 40, None), (other, None), (other, 7), (other, None)
    ]


@pytest.mark.parametrize("cls", locks.WRAPPERS, ids=lambda cls: cls.__name__)
def test_a_lock_s_acquire_data_and_an_emit_that_raises(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each wrapper class records (waited, depth) as the Python one does, and an emit that raises leaves the lock free."""
    rec = make("c" if locks._built is not None else "python", monkeypatch)
    rec.active = True
    reentrant = cls in locks._RLOCK_CLASSES
    lock = cls(rec, rec.register_object("RLock" if reentrant else "Lock", sys._getframe()))
    with lock:
        if reentrant:
            with lock:
                pass
    acquires = [event[6] for event in rec.buffer if event[3] == Kind.LOCK_ACQUIRE]
    assert acquires == ([(0, 1), (0, 2)] if reentrant else [(0, 1)])

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(rec, "emit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with lock:
            pytest.fail("entered")
    # Not held: another thread takes it at once, and an RLock's depth is back to 0.
    taken: list[bool] = []

    def take() -> None:
        taken.append(lock._lock.acquire(False))
        if taken[0]:
            lock._lock.release()

    thread = threading.Thread(target=take)
    thread.start()
    thread.join(60)
    assert taken == [True]
    if reentrant:
        assert lock._depth == 0
    rec.active = False
