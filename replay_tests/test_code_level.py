"""Code-level recording (record --level calls|lines), once per tracer this Python has.

The programs force their interleavings (Events, a Barrier, asyncio's own
order), so the sequences asserted here are exact, and the same whichever
tracer recorded them. Stacks and locals are checked against what the
program itself saw: it marks its traceback and its locals at chosen points,
and the test rebuilds both from the recorded events.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from replay_tests.conftest import PROGRAMS, TIMEOUT, Run, check_invariants, env, load_events, run_plain

TRACERS = ["monitoring", "settrace"] if sys.version_info >= (3, 12) else ["settrace"]
CODE_KINDS = frozenset({"call", "return", "raise", "unwind", "handled", "line"})
M = "MainThread"


@pytest.fixture(params=TRACERS)
def tracer(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def record(tmp_path: Path, program: str, tracer: str, level: str = "calls", *options: str, status: int = 0) -> Run:
    out = tmp_path / f"{Path(program).stem}-{level}.cgr"
    environment = env()
    environment["CHRONODBG_TRACER"] = tracer
    proc = subprocess.run(
        [sys.executable, "-m", "chronodbg", "record", "-q", "-o", str(out), "--level", level, *options, str(PROGRAMS / program)],
        capture_output=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        env=environment,
        stdin=subprocess.DEVNULL,
    )
    run = Run(proc.returncode, proc.stdout, proc.stderr, out, load_events(out) if out.exists() else [])
    assert run.returncode == status, run.stderr.decode()
    return run


def code(run: Run, thread: str | None = None) -> list[tuple[Any, ...]]:
    """(thread, task, kind, function, line, how or exception type) of each code event."""
    return [
        (e["thread_name"], e["task"], e["kind"], e["func"], e["line"], e["data"].get("how") or e["data"].get("type") or "")
        for e in run.events
        if e["kind"] in CODE_KINDS and e["kind"] != "line" and (thread is None or e["thread_name"] == thread)
    ]


class Stacks:
    """Each thread's stack of user frames, rebuilt from call/return/unwind events as replay will."""

    def __init__(self) -> None:
        #: thread -> [[frame id, function, current line, {local: JSON summary}], ...]
        self.threads: dict[int, list[list[Any]]] = defaultdict(list)
        #: frame id -> its frame, while a generator or coroutine is suspended
        self.suspended: dict[int, list[Any]] = {}

    def feed(self, e: dict[str, Any]) -> None:
        stack, data = self.threads[e["thread"]], e["data"]
        if e["kind"] == "call":
            frame = self.suspended.pop(data["frame"], None) if data["how"] == "resume" else None
            if frame is None:
                frame = [data["frame"], e["func"], e["line"], dict(data["args"] or {})]
            frame[2] = e["line"]
            stack.append(frame)
        elif e["kind"] in ("return", "unwind"):
            assert stack and stack[-1][0] == data["frame"], f"{e['kind']} of frame {data['frame']} not on top: {e}"
            frame = stack.pop()
            if data.get("how") == "yield":
                self.suspended[data["frame"]] = frame
        elif e["kind"] in ("line", "raise", "handled"):
            assert stack and stack[-1][0] == data["frame"], f"{e['kind']} in frame {data['frame']} not on top: {e}"
            stack[-1][2] = e["line"]
            for name, value in (data.get("changed") or {}).items():
                if value == {"type": "unbound"}:
                    del stack[-1][3][name]
                else:
                    stack[-1][3][name] = value


def replay(run: Run, on_mark: Any) -> int:
    """Feed every event to Stacks, calling on_mark(stacks, event) at each mark; returns the number of marks."""
    stacks, marks = Stacks(), 0
    for e in run.events:
        if e["kind"] == "mark":
            on_mark(stacks, e)
            marks += 1
        else:
            stacks.feed(e)
    for thread, stack in stacks.threads.items():
        assert not stack, f"thread {thread} ends with frames on its stack: {stack}"
    return marks


def mark_data(e: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in e["data"]["data"]["items"]}


# -- exact sequences ---------------------------------------------------------------


CALLS = [
    (M, None, "call", "<module>", 1, "call"),
    (M, None, "call", "main", 56, "call"),
    (M, None, "call", "add", 21, "call"),
    (M, None, "return", "add", 22, "return"),
    (M, None, "call", "fact", 25, "call"),
    (M, None, "call", "fact", 25, "call"),
    (M, None, "call", "fact", 25, "call"),
    (M, None, "call", "here", 12, "call"),
    (M, None, "return", "here", 18, "return"),
    (M, None, "return", "fact", 28, "return"),
    (M, None, "return", "fact", 29, "return"),
    (M, None, "return", "fact", 29, "return"),
    (M, None, "call", "countdown", 32, "call"),
    (M, None, "return", "countdown", 34, "yield"),
    (M, None, "call", "countdown", 34, "resume"),
    (M, None, "return", "countdown", 34, "yield"),
    (M, None, "call", "countdown", 34, "resume"),
    (M, None, "call", "here", 12, "call"),
    (M, None, "return", "here", 18, "return"),
    (M, None, "return", "countdown", 36, "return"),
    (M, None, "call", "outer", 47, "call"),
    (M, None, "call", "middle", 43, "call"),
    (M, None, "call", "fail", 39, "call"),
    (M, None, "raise", "fail", 40, "ValueError"),
    (M, None, "unwind", "fail", 40, "ValueError"),
    (M, None, "unwind", "middle", 44, "ValueError"),
    (M, None, "handled", "outer", 50, "ValueError"),
    (M, None, "call", "here", 12, "call"),
    (M, None, "return", "here", 18, "return"),
    (M, None, "return", "outer", 52, "return"),
    (M, None, "return", "main", 62, "return"),
    (M, None, "return", "<module>", 65, "return"),
]


@pytest.mark.parametrize("level", ["calls", "lines"])
def test_calls_recursion_generator_and_an_exception_caught_two_frames_up(tmp_path: Path, tracer: str, level: str) -> None:
    run = record(tmp_path, "code_calls.py", tracer, level)
    assert run.stdout == b"12 boom\n"
    assert code(run) == CALLS
    # A generator keeps its frame id across resumes; every call gets a new one.
    countdown = {e["data"]["frame"] for e in run.events if e["kind"] in CODE_KINDS and e["func"] == "countdown"}
    facts = {e["data"]["frame"] for e in run.events if e["kind"] == "call" and e["func"] == "fact"}
    assert len(countdown) == 1 and len(facts) == 3
    args = [e["data"]["args"] for e in run.events if e["kind"] == "call" and e["func"] in ("add", "fact", "fail")]
    assert args == [{"a": 1, "b": 2}, {"n": 3}, {"n": 2}, {"n": 1}, {"what": "boom"}]
    values = [e["data"]["value"] for e in run.events if e["kind"] == "return" and e["func"] in ("fact", "countdown")]
    assert values == [1, 2, 6, 2, 1, None]
    raised = next(e for e in run.events if e["kind"] == "raise")
    assert raised["data"]["args"] == {"type": "tuple", "len": 1, "items": ["boom"]}
    assert all(e["locals"] is None for e in run.events if e["kind"] in CODE_KINDS)


def test_each_exception_is_raised_once_unwound_per_frame_and_handled_where_an_except_catches_it(
    tmp_path: Path, tracer: str
) -> None:
    run = record(tmp_path, "code_exceptions.py", tracer)
    assert run.stdout == b"KeyError!?.+ 3\n"
    assert code(run) == [
        (M, None, "call", "<module>", 1, "call"),
        (M, None, "call", "catcher", 18, "call"),
        (M, None, "call", "reraiser", 10, "call"),
        (M, None, "call", "fail", 6, "call"),
        (M, None, "raise", "fail", 7, "KeyError"),
        (M, None, "unwind", "fail", 7, "KeyError"),
        (M, None, "handled", "reraiser", 13, "KeyError"),
        (M, None, "raise", "reraiser", 15, "KeyError"),  # the bare `raise`
        (M, None, "unwind", "reraiser", 15, "KeyError"),
        (M, None, "handled", "catcher", 21, "KeyError"),
        (M, None, "call", "fail", 6, "call"),
        (M, None, "raise", "fail", 7, "IndexError"),
        (M, None, "unwind", "fail", 7, "IndexError"),
        (M, None, "handled", "catcher", 25, "IndexError"),  # a bare except
        (M, None, "call", "fail", 6, "call"),
        (M, None, "raise", "fail", 7, "ValueError"),
        (M, None, "unwind", "fail", 7, "ValueError"),  # suppressed by a with: not handled
        (M, None, "call", "fail", 6, "call"),
        (M, None, "raise", "fail", 7, "TypeError"),
        (M, None, "unwind", "fail", 7, "TypeError"),
        (M, None, "handled", "catcher", 35, "TypeError"),
        (M, None, "raise", "catcher", 36, "RuntimeError"),
        (M, None, "handled", "catcher", 37, "RuntimeError"),
        (M, None, "call", "fail", 6, "call"),
        (M, None, "raise", "fail", 7, "LookupError"),
        (M, None, "unwind", "fail", 7, "LookupError"),  # through a finally: not handled there
        (M, None, "handled", "catcher", 44, "LookupError"),
        (M, None, "return", "catcher", 46, "return"),
        (M, None, "call", "thrower", 56, "call"),
        (M, None, "call", "gen", 49, "call"),
        (M, None, "return", "gen", 51, "yield"),
        (M, None, "call", "gen", 51, "resume"),  # throw() resumes it, raising there
        (M, None, "raise", "gen", 51, "KeyError"),
        (M, None, "handled", "gen", 52, "KeyError"),
        (M, None, "return", "gen", 53, "yield"),
        (M, None, "call", "gen", 53, "resume"),
        (M, None, "raise", "gen", 53, "ValueError"),
        (M, None, "unwind", "gen", 53, "ValueError"),
        (M, None, "handled", "thrower", 62, "ValueError"),
        (M, None, "return", "thrower", 64, "return"),
        (M, None, "return", "<module>", 67, "return"),
    ]


def test_each_return_yield_and_resume_has_its_own_line_however_many_a_function_has(tmp_path: Path, tracer: str) -> None:
    # The recorder keeps two lines per code object, by instruction offset: three returns taken in
    # turn, and three yields, each must still carry its own line.
    source = (PROGRAMS / "code_returns.py").read_text().splitlines()
    at = {text.rsplit("# ", 1)[1]: number for number, text in enumerate(source, 1) if text.endswith(("-0", "-1", "-2"))}
    run = record(tmp_path, "code_returns.py", tracer)
    picks = [(e["line"], e["data"]["how"]) for e in run.events if e["kind"] == "return" and e["func"] == "pick"]
    assert picks == [(at[f"return-{k}"], "return") for k in [0, 1, 2, 2, 1, 0, 1, 2, 0]]
    start = source.index("def steps():") + 1
    one_round = [("call", start, "call")]
    for k in range(3):
        one_round += [("return", at[f"yield-{k}"], "yield"), ("call", at[f"yield-{k}"], "resume")]
    one_round.append(("return", at["yield-2"], "return"))
    steps = [(e["kind"], e["line"], e["data"]["how"]) for e in run.events if e["kind"] in ("call", "return") and e["func"] == "steps"]
    assert steps == one_round * 2


@pytest.mark.skipif(len(TRACERS) < 2, reason="one tracer on this Python")
@pytest.mark.parametrize("program", ["code_calls.py", "code_exceptions.py", "code_locals.py", "code_async.py"])
def test_both_tracers_record_the_same_events(tmp_path: Path, program: str) -> None:
    def essence(run: Run) -> list[tuple[Any, ...]]:
        # Everything but object ids, which differ from run to run.
        return [
            (e["kind"], e["func"], e["line"], e["task"], repr(e["data"]) if "'id'" not in repr(e["data"]) else None)
            for e in run.events
            if e["kind"] in CODE_KINDS
        ]

    runs = []
    for name in TRACERS:
        (tmp_path / name).mkdir()
        runs.append(record(tmp_path / name, program, name, "lines"))
    assert essence(runs[0]) == essence(runs[1])


@pytest.mark.parametrize("level", ["calls", "lines"])
def test_the_rebuilt_stack_is_the_one_the_program_saw(tmp_path: Path, tracer: str, level: str) -> None:
    run = record(tmp_path, "code_calls.py", tracer, level)

    def check(stacks: Stacks, e: dict[str, Any]) -> None:
        seen = mark_data(e)["stack"]["items"]
        # The mark is made inside here(): the frames below it, as traceback lists them.
        frames = stacks.threads[e["thread"]][:-1]
        if level == "lines":  # lines tell where each frame is
            assert [f"{f[1]}:{f[2]}" for f in frames] == seen, mark_data(e)["tag"]
        else:
            assert [f[1] for f in frames] == [s.split(":")[0] for s in seen], mark_data(e)["tag"]

    assert replay(run, check) == 3


def test_locals_rebuilt_from_arguments_and_line_changes_are_the_real_ones(tmp_path: Path, tracer: str) -> None:
    run = record(tmp_path, "code_locals.py", tracer, "lines")
    assert run.stdout == b"41 0 1\n"
    seen: list[dict[str, Any]] = []

    def check(stacks: Stacks, e: dict[str, Any]) -> None:
        caller = stacks.threads[e["thread"]][-2]  # the mark is made in show(), of its caller's locals
        real = mark_data(e)
        assert caller[3] == real, f"{caller[1]}:{caller[2]}"
        seen.append(real)

    assert replay(run, check) == 7
    assert "label" in seen[1] and "label" not in seen[2]  # `del label` shows as unbound
    changes = [e["data"]["changed"] for e in run.events if e["kind"] == "line" and e["func"] == "work"]
    assert {"label": {"type": "unbound"}} in changes
    # Nothing is stored again: a line that changed nothing has an empty `changed`.
    assert sum(1 for c in changes if not c) >= 4


def test_async_tasks_interleave_and_each_coroutine_resumes_and_yields(tmp_path: Path, tracer: str) -> None:
    run = record(tmp_path, "code_async.py", tracer)
    assert run.stdout == b"['ping1', 'pong1!']\n"
    check_invariants(run)
    assert code(run) == [
        (M, None, "call", "<module>", 1, "call"),
        (M, 1, "call", "main", 36, "call"),
        (M, 1, "return", "main", 41, "yield"),
        (M, 2, "call", "ping", 16, "call"),
        (M, 2, "call", "step", 6, "call"),
        (M, 2, "return", "step", 7, "yield"),
        (M, 2, "return", "ping", 19, "yield"),
        (M, 3, "call", "pong", 25, "call"),
        (M, 3, "return", "pong", 26, "yield"),
        (M, 2, "call", "ping", 19, "resume"),
        (M, 2, "call", "step", 7, "resume"),
        (M, 2, "return", "step", 8, "return"),
        (M, 2, "return", "ping", 21, "yield"),
        (M, 3, "call", "pong", 26, "resume"),
        (M, 3, "call", "step", 6, "call"),
        (M, 3, "return", "step", 7, "yield"),
        (M, 3, "return", "pong", 27, "yield"),
        (M, 3, "call", "pong", 27, "resume"),
        (M, 3, "call", "step", 7, "resume"),
        (M, 3, "return", "step", 8, "return"),
        (M, 3, "call", "bad", 11, "call"),
        (M, 3, "return", "bad", 12, "yield"),
        (M, 3, "return", "pong", 29, "yield"),
        (M, 3, "call", "pong", 29, "resume"),
        (M, 3, "call", "bad", 12, "resume"),
        (M, 3, "raise", "bad", 13, "KeyError"),
        (M, 3, "unwind", "bad", 13, "KeyError"),
        (M, 3, "handled", "pong", 30, "KeyError"),
        (M, 3, "return", "pong", 33, "return"),
        (M, 2, "call", "ping", 21, "resume"),
        (M, 2, "return", "ping", 22, "return"),
        (M, 1, "call", "main", 41, "resume"),
        (M, 1, "return", "main", 41, "return"),
        (M, None, "return", "<module>", 44, "return"),
    ]
    # Each task's code events happen between its task.resume and task.suspend/done.
    replay(run, lambda stacks, e: None)


def test_threads_each_have_their_own_stack(tmp_path: Path, tracer: str) -> None:
    run = record(tmp_path, "code_threads.py", tracer)
    assert run.stdout == b"done\n"
    check_invariants(run)
    assert code(run, "left") == [
        ("left", None, "call", "left", 25, "call"),
        ("left", None, "call", "square", 20, "call"),
        ("left", None, "call", "here", 12, "call"),
        ("left", None, "return", "here", 17, "return"),
        ("left", None, "return", "square", 22, "return"),
        ("left", None, "return", "left", 30, "return"),
    ]
    assert code(run, "right") == [
        ("right", None, "call", "right", 33, "call"),
        ("right", None, "call", "square", 20, "call"),
        ("right", None, "call", "here", 12, "call"),
        ("right", None, "return", "here", 17, "return"),
        ("right", None, "return", "square", 22, "return"),
        ("right", None, "return", "right", 38, "return"),
    ]
    # Forced by turn_a: right's square() is done before left's begins.
    seqs = {(e["thread_name"], e["kind"], e["func"]): e["seq"] for e in run.events if e["kind"] in ("call", "return")}
    assert seqs[("right", "return", "square")] < seqs[("left", "call", "square")]

    def check(stacks: Stacks, e: dict[str, Any]) -> None:
        assert [f[1] for f in stacks.threads[e["thread"]][:-1]] == mark_data(e)["stack"]["items"]

    assert replay(run, check) == 2


# -- what is user code -----------------------------------------------------------


def test_lines_in_one_module_and_calls_elsewhere(tmp_path: Path, tracer: str) -> None:
    """--level calls --lines GLOB: every user call is recorded, lines only in the files GLOB matches."""
    run = record(tmp_path, "code_library.py", tracer, "calls", "--lines", "*/code_helper.py")
    calls = {e["func"] for e in run.events if e["kind"] == "call"}
    assert {"main", "key", "default", "plus", "twice"} <= calls
    lined = {(Path(e["file"]).name, e["func"]) for e in run.events if e["kind"] == "line"}
    assert lined and all(name == "code_helper.py" for name, _ in lined)
    assert {"plus", "twice"} <= {func for _, func in lined}
    # The helper's frames carry their locals line by line, as at level lines.
    twice_lines = [e for e in run.events if e["kind"] == "line" and e["func"] == "twice"]
    assert twice_lines and run.stdout == b"[3, 2, 1] {\"s\": [1]} 12\n"


def test_lines_without_level_calls_is_refused_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chronodbg", "record", "--lines", "*.py", str(PROGRAMS / "code_helper.py")],
        capture_output=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        env=env(),
    )
    assert proc.returncode == 2
    assert proc.stderr == b"chronodbg: record: --lines GLOB goes with --level calls (--level lines already records every line)\n"


def test_library_code_makes_no_events_and_user_callbacks_from_it_do(tmp_path: Path, tracer: str) -> None:
    run = record(tmp_path, "code_library.py", tracer)
    assert run.stdout == b"[3, 2, 1] {\"s\": [1]} 12\n"
    names = {e["file"] for e in run.events if e["kind"] in CODE_KINDS}
    assert names == {str(PROGRAMS / "code_library.py"), str(PROGRAMS / "code_helper.py")}
    funcs = [f for _, _, kind, f, _, _ in code(run) if kind == "call"]
    assert funcs == ["<module>", "<module>", "main", "key", "key", "key", "default", "plus", "plus", "twice", "plus"]
    # sync events are recorded as at level sync
    assert [e["kind"] for e in run.events if e["kind"].startswith("lock.")] == ["lock.acquire", "lock.release"]


def test_include_and_exclude_decide_which_code_makes_events(tmp_path: Path, tracer: str) -> None:
    run = record(tmp_path, "code_library.py", tracer, "calls", "--exclude", "*/code_helper.py")
    assert {e["func"] for e in run.events if e["kind"] == "call"} == {"<module>", "main", "key", "default"}
    run = record(tmp_path, "code_library.py", tracer, "lines", "--include", "*/code_helper.py")
    assert {e["func"] for e in run.events if e["kind"] in CODE_KINDS} == {"<module>", "plus", "twice"}
    assert all(e["file"].endswith("code_helper.py") for e in run.events if e["kind"] in CODE_KINDS)


def test_sync_events_are_the_same_at_every_level(tmp_path: Path, tracer: str) -> None:
    def sync(run: Run) -> list[tuple[Any, ...]]:
        return [(e["thread_name"], e["kind"], e["obj_label"], e["line"]) for e in run.events if e["kind"] not in CODE_KINDS]

    runs = {level: record(tmp_path, "code_threads.py", tracer, level) for level in ("sync", "calls", "lines")}
    assert not [e for e in runs["sync"].events if e["kind"] in CODE_KINDS]
    # Per thread (threads interleave freely between the forced points).
    for name in ("left", "right", M):
        assert [s for s in sync(runs["calls"]) if s[0] == name] == [s for s in sync(runs["sync"]) if s[0] == name]
        assert [s for s in sync(runs["lines"]) if s[0] == name] == [s for s in sync(runs["sync"]) if s[0] == name]
    for run in runs.values():
        check_invariants(run)


def test_header_names_the_level_and_the_tracer(tmp_path: Path, tracer: str) -> None:
    from chronodbg.logfile import read_log

    for level in ("sync", "calls"):
        header = read_log(str(record(tmp_path, "code_calls.py", tracer, level).path)).header
        assert header["options"]["level"] == level
        assert header["tracer"] == (None if level == "sync" else {"monitoring": "sys.monitoring"}.get(tracer, tracer))
        assert header["backend"] == "patch"


def test_a_lines_recording_dumps_and_info_shows_level_and_tracer(tmp_path: Path, tracer: str) -> None:
    run = record(tmp_path, "code_locals.py", tracer, "lines")
    dump = subprocess.run(
        [sys.executable, "-m", "chronodbg", "dump", str(run.path)], capture_output=True, env=env(), timeout=TIMEOUT
    )
    assert dump.returncode == 0, dump.stderr.decode()
    text = dump.stdout.decode()
    assert "call " in text and "args=(a=1, b=3, key='k', rest=(4,))" in text
    assert "changed=(label=<unbound>)" in text
    info = subprocess.run([sys.executable, "-m", "chronodbg", "info", str(run.path)], capture_output=True, env=env(), timeout=TIMEOUT)
    name = "sys.monitoring" if tracer == "monitoring" else "settrace"
    assert f"level lines  tracer {name}" in info.stdout.decode()


# -- the program does not notice --------------------------------------------------------


@pytest.mark.parametrize(
    "program",
    [
        "code_calls.py",
        "code_exceptions.py",
        "code_locals.py",
        "code_async.py",
        "code_threads.py",
        "code_library.py",
        "code_selftrace.py",
        "code_fork.py",
    ],
)
def test_output_is_the_programs_own(tmp_path: Path, tracer: str, program: str) -> None:
    plain = run_plain(PROGRAMS / program, cwd=tmp_path)
    for level in ("calls", "lines"):
        run = record(tmp_path, program, tracer, level)
        assert (run.returncode, run.stdout, run.stderr) == (plain.returncode, plain.stdout, plain.stderr)


def test_a_program_tracing_itself_sees_what_it_sees_unrecorded(tmp_path: Path, tracer: str) -> None:
    run = record(tmp_path, "code_selftrace.py", tracer, "lines")
    assert run.stdout.decode().splitlines()[:3] == ["before True True", "set True", "after True"]
    calls = [e["func"] for e in run.events if e["kind"] == "call"]
    # untraced() is recorded before the program's tracer and after it; traced() while the program
    # traces its own thread only by sys.monitoring, which does not need the thread's trace function.
    assert calls.count("untraced") == 2
    assert calls.count("traced") == (1 if tracer == "monitoring" else 0)


def test_a_forked_child_runs_untraced(tmp_path: Path, tracer: str) -> None:
    run = record(tmp_path, "code_fork.py", tracer, "calls")
    assert run.stdout == b"child clean True\nparent 3\n"
    # Only the parent's call of work() is in the parent's recording.
    assert [e["data"]["args"] for e in run.events if e["kind"] == "call" and e["func"] == "work"] == [{"n": 2}]


def test_the_watchdog_still_ends_a_deadlock(tmp_path: Path, tracer: str) -> None:
    out = tmp_path / "abba.cgr"
    environment = env()
    environment["CHRONODBG_TRACER"] = tracer
    proc = subprocess.run(
        [sys.executable, "-m", "chronodbg", "record", "-q", "-o", str(out), "--level", "lines", str(PROGRAMS / "abba.py")],
        capture_output=True,
        timeout=TIMEOUT,
        env=environment,
        cwd=tmp_path,
    )
    assert proc.returncode == 86, proc.stderr.decode()
    events = load_events(out)
    assert [e["kind"] for e in events][-2:] == ["deadlock", "process.exit"]
    assert {e["func"] for e in events if e["kind"] == "call"} >= {"left", "right"}


def test_a_tracer_that_cannot_run_here_is_refused_in_one_line(tmp_path: Path) -> None:
    environment = env()
    environment["CHRONODBG_TRACER"] = "nonsense"
    args = [sys.executable, "-m", "chronodbg", "record", "-o", str(tmp_path / "x.cgr"), "--level", "calls", str(PROGRAMS / "code_calls.py")]
    proc = subprocess.run(args, capture_output=True, env=environment, timeout=TIMEOUT)
    assert (proc.returncode, proc.stdout) == (2, b"")
    assert proc.stderr.decode() == "chronodbg: CHRONODBG_TRACER must be 'monitoring' or 'settrace', not 'nonsense'\n"
    if sys.version_info < (3, 12):
        environment["CHRONODBG_TRACER"] = "monitoring"
        proc = subprocess.run(args, capture_output=True, env=environment, timeout=TIMEOUT)
        assert proc.returncode == 2 and proc.stdout == b""
        assert proc.stderr.decode().startswith("chronodbg: sys.monitoring needs Python 3.12+")
    # At level sync no tracer is chosen, so none is refused.
    proc = subprocess.run([*args[:7], "sync", args[8]], capture_output=True, env=environment, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr.decode()


#: Programs of the other tests that end by themselves with the same output every run.
EVERYDAY = sorted(p.name for p in PROGRAMS.glob("aio_*.py") if p.stem != "aio_deadlock") + [
    "barrier.py",
    "handoff.py",
    "pool.py",
    "prodcons.py",
    "rlock.py",
]


@pytest.mark.parametrize("program", EVERYDAY)
def test_every_program_behaves_the_same_at_level_lines(tmp_path: Path, tracer: str, program: str) -> None:
    """The sync-level programs of the other tests, recorded with every line: same output, same status, sound log."""
    plain = run_plain(PROGRAMS / program, cwd=tmp_path)
    run = record(tmp_path, program, tracer, "lines", status=plain.returncode)
    assert run.stdout == plain.stdout
    if plain.returncode:
        assert run.stderr.decode().splitlines() == plain.stderr.decode().splitlines()
    check_invariants(run)
    assert any(e["kind"] == "line" for e in run.events)
