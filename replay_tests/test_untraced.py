"""The recorder's wrappers out of the settrace tracer's way (recorder/_untraced.c, patching.untraced).

Under sys.settrace the recorder's own wrappers run with the thread's
tracing paused; what they call that may be the program's code runs traced.
The C brackets are checked here in-process against a trace function of
the test's own; the recordings check that the program's code called from
inside the wrappers is still recorded, call for call.
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from chronodbg.recorder.hotpath import built_hooks
from chronodbg.recorder.patching import traced, untraced
from replay_tests.conftest import PROGRAMS, record, run_plain

TRACERS = ["monitoring", "settrace"] if sys.version_info >= (3, 12) else ["settrace"]
hooks = built_hooks()
needs_c = pytest.mark.skipif(hooks is None, reason="the C hooks are not built (CHRONODBG_PURE_PYTHON)")


def calls_seen(run: Any) -> list[str]:
    """The names of the functions whose 'call' events `sys.settrace` reports while `run()` runs."""
    seen: list[str] = []

    def trace(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            seen.append(frame.f_code.co_name)

    sys.settrace(trace)
    try:
        run()
    finally:
        sys.settrace(None)
    return seen


def inner() -> int:
    return 1


@needs_c
def test_an_untraced_function_and_what_it_calls_make_no_trace_events() -> None:
    assert hooks is not None

    def outer() -> int:
        return inner() + 1

    wrapped = hooks.Untraced(outer)
    assert calls_seen(lambda: wrapped()) == ["<lambda>"]
    assert calls_seen(lambda: outer()) == ["<lambda>", "outer", "inner"]


@needs_c
def test_traced_inside_untraced_is_traced_again_and_tracing_is_paused_after_it() -> None:
    assert hooks is not None
    again = hooks.Traced(inner)

    def outer() -> int:
        return again() + inner() + again()

    wrapped = hooks.Untraced(outer)
    assert calls_seen(lambda: wrapped()) == ["<lambda>", "inner", "inner"]
    # Outside an Untraced, Traced is the function itself.
    assert calls_seen(lambda: again()) == ["<lambda>", "inner"]


@needs_c
def test_inside_a_trace_function_traced_does_not_resume_tracing() -> None:
    assert hooks is not None
    wrapped = hooks.Untraced(lambda: hooks.Traced(inner)())
    seen: list[str] = []

    def trace(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            seen.append(frame.f_code.co_name)
            if frame.f_code.co_name == "target":
                wrapped()  # the trace function's own code: CPython traces none of it

    def target() -> None:
        pass

    sys.settrace(trace)
    try:
        target()
    finally:
        sys.settrace(None)
    assert seen == ["target"]


@needs_c
def test_an_exception_leaves_through_both_and_tracing_comes_back() -> None:
    assert hooks is not None

    def fails() -> None:
        raise KeyError("x")

    def outer() -> None:
        hooks.Traced(fails)()

    wrapped = hooks.Untraced(outer)

    def run() -> None:
        try:
            wrapped()
        except KeyError:
            inner()

    assert calls_seen(run) == ["run", "fails", "inner"]


@needs_c
def test_both_are_methods_and_take_the_functions_names() -> None:
    assert hooks is not None

    def method(self: Any, value: int) -> tuple[Any, int]:
        """The doc."""
        return self, value

    class Holder:
        untraced_method = hooks.Untraced(method)
        traced_method = hooks.Traced(method)

    holder = Holder()
    assert holder.untraced_method(3) == (holder, 3)
    assert holder.traced_method(4) == (holder, 4)
    assert Holder.untraced_method(holder, 5) == (holder, 5)
    wrapper = Holder.__dict__["untraced_method"]
    assert (wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__) == ("method", "The doc.", method)
    with pytest.raises(TypeError):
        hooks.Untraced(3)


class _Rec:
    def __init__(self, tracer_name: str | None) -> None:
        self.hooks = hooks
        self.tracer_name = tracer_name


@pytest.mark.parametrize("tracer_name", [None, "sys.monitoring", "settrace"])
def test_only_the_settrace_tracer_with_c_hooks_gets_the_brackets(tracer_name: str | None) -> None:
    rec: Any = _Rec(tracer_name)
    if tracer_name == "settrace" and hooks is not None:
        assert type(untraced(rec, inner)) is hooks.Untraced
        assert type(traced(rec, inner)) is hooks.Traced
    else:
        assert untraced(rec, inner) is inner
        assert traced(rec, inner) is inner


def own_counts(stdout: bytes) -> dict[str, int]:
    return dict(json.loads(stdout.decode().strip().splitlines()[-1]))


@pytest.mark.parametrize("tracer", TRACERS)
@pytest.mark.parametrize("level", ["calls", "lines"])
def test_the_programs_code_called_inside_the_recorders_wrappers_is_recorded(tmp_path: Path, tracer: str, level: str) -> None:
    program = PROGRAMS / "code_in_wrappers.py"
    plain = run_plain(program, cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr.decode()
    run = record(tmp_path, program, options=("--level", level), environment={"CHRONODBG_TRACER": tracer})
    assert run.returncode == 0, run.stderr.decode()
    counts = own_counts(run.stdout)
    # Recording did not change what the program did.
    assert counts == own_counts(plain.stdout)
    assert set(counts) == {"_get", "_init", "_put", "_qsize", "acquire", "arrived", "done", "later", "release", "step"}
    events = run.events
    recorded = collections.Counter(
        e["func"].rsplit(".", 1)[-1] for e in events if e["kind"] == "call" and e["data"]["how"] == "call"
    )
    assert {name: recorded[name] for name in counts} == counts
    # The step coroutines ran in their tasks, the loop's callbacks outside any.
    steps = {e["task"] for e in events if e["kind"] == "call" and e["func"] == "step"}
    assert len(steps) == 2 and None not in steps
    assert {e["task"] for e in events if e["kind"] == "call" and e["func"] == "later"} == {None}
