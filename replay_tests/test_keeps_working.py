"""Programs keep working under the recorder: signals, recursion limits, finalizers, shutdown, atexit,
replaced sys.stdout, threading.local, subclasses, pickling and type checks of locks, monkeypatching.

Each program in programs/keeps_*.py runs plain (`python prog`) and recorded
(`python -m chronodbg record --level L prog`) at every level; stdout, stderr
and the exit status must be the same bytes, after normalising only what
differs between any two runs (object addresses) or what docs/reliability.md
documents as a difference ("Programs keep working"). Each recording must open
with `chronodbg info` and say how the program ended.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from replay_tests.conftest import PROGRAMS, TIMEOUT, chronodbg, env, load_events

LEVELS = ("sync", "calls", "lines")
_ADDRESS = re.compile(rb"0x[0-9a-f]+")


@dataclass(frozen=True)
class Case:
    program: str
    args: tuple[str, ...] = ()
    status: int = 0
    #: What the recording says of the end: (exit_code, exit_how).
    end: tuple[int | None, str] = (0, "exit")
    #: Checks of the recording beyond "it opens and says how it ended".
    check: Callable[[list[dict[str, Any]]], None] | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return "-".join((self.program.removeprefix("keeps_").removesuffix(".py"), *self.args))


@dataclass
class Result:
    status: int
    stdout: bytes
    stderr: bytes


def _kinds_in(events: list[dict[str, Any]], func: str) -> list[str]:
    return [e["kind"] for e in events if e["func"] == func]


def _handler_took_the_lock(events: list[dict[str, Any]]) -> None:
    # The handler runs in the main thread; its `with lock` and `with rlock` are recorded there.
    kinds = [e["kind"] for e in events if e["func"] == "handler" and e["thread_name"] == "MainThread"]
    assert kinds.count("lock.acquire") == 2 and kinds.count("lock.release") == 2, kinds
    assert "event.set" in kinds


def _interrupted_wait(events: list[dict[str, Any]]) -> None:
    waits = [e for e in events if e["kind"] == "event.wait" and e["thread_name"] == "MainThread"]
    assert waits, "main's wait on the Event is recorded"
    assert _kinds_in(events, "interrupt").count("lock.acquire") == 1


def _finaliser_took_the_lock(events: list[dict[str, Any]]) -> None:
    # "one" in main, "two" in the thread dropping it; "three" at exit, after recording ended.
    threads = [e["thread_name"] for e in events if e["kind"] == "lock.acquire" and e["func"] == "TakesLock.__del__"]
    assert threads == ["MainThread", "dropper"], threads


#: 3.12 refuses to start threads once the interpreter is shutting down (atexit
#: included): "can't create new thread at interpreter shutdown", plain and recorded.
NO_THREADS_AT_EXIT = sys.version_info[:2] == (3, 12)


def _atexit_threads(events: list[dict[str, Any]]) -> None:
    started = sorted(e["data"]["name"] for e in events if e["kind"] == "thread.start")
    if NO_THREADS_AT_EXIT:
        # The failed start is recorded, and the thread's timeline ends with the error.
        assert started == ["exit-0"], started
        ends = [e["data"] for e in events if e["kind"] == "thread.end"]
        assert [(end["name"], end["exception"]) for end in ends] == [("exit-0", "RuntimeError")], ends
        return
    assert started == ["exit-0", "exit-1", "exit-2"], started
    assert [e["kind"] for e in events].count("lock.acquire") == 3


def _atexit_primitives(events: list[dict[str, Any]]) -> None:
    kinds = [e["kind"] for e in events]
    assert kinds.count("queue.put") == 3 and kinds.count("queue.get") == 3
    assert "cond.wait" in kinds or "cond.notify" in kinds


def _bound_methods(events: list[dict[str, Any]]) -> None:
    # Called by the interpreter with no Python frame: recorded without a site, not lost.
    kinds = [e["kind"] for e in events]
    assert kinds.count("lock.acquire") == 2 and kinds.count("lock.release") == 2, kinds
    assert {"event.set", "queue.put", "sem.release", "thread.start"} <= set(kinds), kinds
    assert "thread.join" in kinds or NO_THREADS_AT_EXIT
    assert any(e["kind"] == "output" and e["data"]["text"] == "written by atexit\n" for e in events)


def _late_thread(events: list[dict[str, Any]]) -> None:
    late = [e for e in events if e["thread_name"] == "late" and e["kind"] in ("lock.acquire", "lock.release", "exception", "thread.end")]
    assert [e["kind"] for e in late] == ["lock.acquire", "lock.release", "exception", "thread.end"], late
    assert late[-1]["data"]["exception"] == "RuntimeError"


def _threads_printed(events: list[dict[str, Any]]) -> None:
    # Written to the program's StringIO: not output; its own later print of them is.
    outputs = [e["data"]["text"] for e in events if e["kind"] == "output"]
    assert not any(text.startswith("worker ") for text in outputs)
    assert any(text.startswith("captured from threads") for text in outputs)
    assert [e["kind"] for e in events].count("lock.acquire") == 9


def _sixteen_threads(events: list[dict[str, Any]]) -> None:
    assert [e["kind"] for e in events].count("barrier.pass") == 32


def _subclasses(events: list[dict[str, Any]]) -> None:
    labels = {e["obj_label"].split("#")[0] for e in events if e["obj_label"]}
    assert {"CountingCondition", "NamedSemaphore", "Bounded", "Flag", "Gate", "LoggedQueue", "Pri", "Lifo", "Lock"} <= labels, labels
    names = {e["data"]["name"] for e in events if e["kind"] == "thread.start"}
    assert {"worker-0", "worker-3", "setter"} <= names


def _program_locks_unrecorded(events: list[dict[str, Any]]) -> None:
    # The program's own lock classes replaced threading's: not wrapped, not recorded; queues still are.
    kinds = [e["kind"] for e in events]
    assert "lock.acquire" not in kinds
    assert kinds.count("queue.put") == 6 and kinds.count("queue.get") == 6


CASES = [
    Case("keeps_signal.py", ("usr1",), check=_handler_took_the_lock),
    Case("keeps_signal.py", ("alarm",), check=_handler_took_the_lock),
    Case("keeps_signal.py", ("itimer",), check=_handler_took_the_lock),
    Case("keeps_signal.py", ("interrupt",), check=_interrupted_wait),
    Case("keeps_signal.py", ("interrupt_uncaught",), -signal.SIGINT, (130, "KeyboardInterrupt"), _interrupted_wait),
    Case("keeps_del.py", ("del_raises",)),
    Case("keeps_del.py", ("del_lock",), check=_finaliser_took_the_lock),
    Case("keeps_del.py", ("thread_at_shutdown",), check=_late_thread),
    Case("keeps_del.py", ("daemon",)),
    Case("keeps_atexit.py", ("thread",), check=_atexit_threads),
    Case("keeps_atexit.py", ("primitives",), check=_atexit_primitives),
    Case("keeps_atexit.py", ("failing",), check=_atexit_threads),
    Case("keeps_atexit.py", ("exit_code",), 3, (3, "sys.exit"), _atexit_primitives),
    Case("keeps_atexit.py", ("bound",), check=_bound_methods),
    Case("keeps_stdout.py", ("stringio",)),
    Case("keeps_stdout.py", ("fileclass",)),
    Case("keeps_stdout.py", ("threads",), check=_threads_printed),
    Case("keeps_stdout.py", ("keep",)),
    Case("keeps_local.py", check=_sixteen_threads),
    Case("keeps_subclass.py", check=_subclasses),
    Case("keeps_types.py"),
    Case("keeps_monkeypatch.py", ("after",), check=_program_locks_unrecorded),
    Case("keeps_tracebacks.py"),
]

#: Lines of keeps_types.py that may differ, and how: a recorded lock is a
#: wrapper, not the C type itself, so identity with the C type fails
#: (isinstance works; see docs/reliability.md). Plain says True, recorded False.
TYPE_IDENTITY = {
    "type(Lock()) is _thread.LockType",
    "type(Lock()) is type(_thread.allocate_lock())",
    "threading.Lock is _thread.allocate_lock",
    "threading.Lock is _thread.LockType",
    "type(RLock()) is _thread.RLock",
}


def normalise(case: Case, text: bytes) -> bytes:
    """What may differ between two runs of the same program, made equal."""
    return _ADDRESS.sub(b"0xADDR", text)


@cache
def run_plain(program: str, args: tuple[str, ...]) -> Result:
    proc = subprocess.run(
        [sys.executable, str(PROGRAMS / program), *args],
        capture_output=True,
        timeout=TIMEOUT,
        env=env(),
        stdin=subprocess.DEVNULL,
        cwd=PROGRAMS,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_recorded(tmp_path: Path, program: str, args: tuple[str, ...], level: str) -> tuple[Result, Path]:
    out = tmp_path / f"{Path(program).stem}-{level}.cgr"
    proc = subprocess.run(
        [sys.executable, "-m", "chronodbg", "record", "-q", "--level", level, "-o", str(out), str(PROGRAMS / program), *args],
        capture_output=True,
        timeout=TIMEOUT,
        env=env(),
        stdin=subprocess.DEVNULL,
        cwd=PROGRAMS,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr), out


def check_recording(path: Path, end: tuple[int | None, str]) -> list[dict[str, Any]]:
    """The recording opens, is complete and says how the program ended; its events."""
    return check_recording_summary(path, end)[0]


def check_recording_summary(path: Path, end: tuple[int | None, str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """As check_recording, with `chronodbg info --json`'s summary."""
    text = chronodbg("info", str(path))
    assert text.returncode == 0, text.stderr
    code, how = end
    assert re.search(rf"^exit\s+{code} \({re.escape(how)}\)", text.stdout.decode(), re.M), text.stdout.decode()
    info = chronodbg("info", "--json", str(path))
    assert info.returncode == 0, info.stderr
    summary = json.loads(info.stdout)
    assert summary["complete"] and (summary["exit_code"], summary["exit_how"]) == end
    return load_events(path), summary


def documented(case: Case, plain: bytes, recorded: bytes) -> tuple[bytes, bytes]:
    """Take out the documented differences, after asserting they are exactly as documented."""
    if case.program == "keeps_types.py":
        plain_lines, recorded_lines = plain.decode().splitlines(), recorded.decode().splitlines()
        assert len(plain_lines) == len(recorded_lines)
        kept_plain, kept_recorded = [], []
        documented_seen = 0
        for p, r in zip(plain_lines, recorded_lines, strict=True):
            label = p.split(" -> ")[0]
            if label in TYPE_IDENTITY and p == f"{label} -> True":
                assert r == f"{label} -> False", (p, r)
                documented_seen += 1
            else:
                kept_plain.append(p)
                kept_recorded.append(r)
        # Two Lock identity lines, one RLock, and the factory's (allocate_lock before 3.13, LockType since).
        assert documented_seen == 4
        return "\n".join(kept_plain).encode(), "\n".join(kept_recorded).encode()
    if case.program == "keeps_stdout.py":
        # type(sys.stdout) is the recorder's wrapper; isinstance and __class__ see the real stream.
        assert b"\ntype: TextIOWrapper True\n" in plain
        assert b"\ntype: RecordedStream False\n" in recorded
        return plain.replace(b"\ntype: TextIOWrapper True\n", b"\n"), recorded.replace(b"\ntype: RecordedStream False\n", b"\n")
    return plain, recorded


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_same_output_and_status_recorded(tmp_path: Path, case: Case, level: str) -> None:
    plain = run_plain(case.program, case.args)
    assert plain.status == case.status, plain.stderr.decode()
    recorded, path = run_recorded(tmp_path, case.program, case.args, level)
    assert recorded.status == plain.status, recorded.stderr.decode()
    plain_out, recorded_out = documented(case, normalise(case, plain.stdout), normalise(case, recorded.stdout))
    assert recorded_out == plain_out
    assert normalise(case, recorded.stderr) == normalise(case, plain.stderr)
    events = check_recording(path, case.end)
    if case.check is not None:
        case.check(events)


def test_finalisers_and_atexit_print_what_they_print_plain() -> None:
    """The outputs the cases above compare are the ones that matter: not empty by accident."""
    assert run_plain("keeps_del.py", ("del_raises",)).stderr.count(b"Exception ignored in: <function Raises.__del__") == 3
    failing = run_plain("keeps_atexit.py", ("failing",)).stderr
    assert b"Exception ignored in atexit callback" in failing and b"RuntimeError: an atexit handler fails" in failing
    late = run_plain("keeps_del.py", ("thread_at_shutdown",))
    assert b"main thread alive: False" in late.stdout and b"Exception in thread late" in late.stderr
    assert b"finalised three holding the lock: True" in run_plain("keeps_del.py", ("del_lock",)).stdout
    bound = run_plain("keeps_atexit.py", ("bound",)).stdout
    assert b"at the end: lock False event True queue 1 sem True worker alive False" in bound
    subclass = run_plain("keeps_subclass.py", ()).stdout
    assert b"subclass of type(RLock()) works" in subclass and b"subclass of type(Lock()): TypeError" in subclass
    # Every error of keeps_tracebacks.py happened, and printed a traceback.
    printed = run_plain("keeps_tracebacks.py", ()).stdout
    assert len(re.findall(rb"^--- .*\nTraceback \(most recent call last\):$", printed, re.M)) == 24
    types = run_plain("keeps_types.py", ()).stdout
    for name in ("Lock", "RLock", "Condition", "Queue", "Event", "SimpleQueue"):
        assert f"pickle.dumps({name}, 2) -> raises TypeError".encode() in types, name
    assert b"pickle.dumps(asyncio.Lock, 2) -> Lock" in types


# -- recursion -------------------------------------------------------------

#: How many frames fewer a recorded program may reach before RecursionError.
#: The recorder's own frames sit below the program's (`chronodbg record`
#: runs it from its CLI: 8-10 frames) or below a thread's run (the patched
#: `_bootstrap_inner`), and a recorded acquire adds 1-2 frames at the top.
MAX_FEWER_FRAMES = 16
_REPEATED = re.compile(r"\[Previous line repeated (\d+) more times\]")


def program_frames(text: str, program: str) -> tuple[str, list[int]]:
    """The traceback with only the program's own frames, the repeat counts taken out.

    At the recursion limit the innermost frames are whatever call went over
    it: a stdlib frame plain, a recorder's frame recorded (removed from the
    printed traceback, but the limit is hit one call earlier), so only the
    program's frames are compared. The message loses its " while calling a
    Python object" or " in comparison" suffix (set by which C or Python call,
    or comparison, hit the limit).
    """
    kept: list[str] = []
    keep = True
    for line in text.splitlines():
        if line.startswith('  File "'):
            keep = program in line
        elif not line.startswith("    "):
            keep = True
        if keep and line.strip():
            kept.append(line)
    joined = "\n".join(kept).replace(" while calling a Python object", "").replace(" in comparison", "")
    counts = [int(n) for n in _REPEATED.findall(joined)]
    return _REPEATED.sub("[Previous line repeated N more times]", joined), counts


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    "mode, status, end",
    [
        ("caught", 0, (0, "exit")),
        ("rlock_caught", 0, (0, "exit")),
        ("thread_caught", 0, (0, "exit")),
        ("uncaught", 1, (1, "exception")),
        ("thread_uncaught", 0, (0, "exit")),
    ],
)
def test_recursion_limit_while_holding_locks(tmp_path: Path, mode: str, status: int, end: tuple[int, str], level: str) -> None:
    """RecursionError inside `with lock` / `with sem` / `with rlock, cond` leaves every lock free, recorded or not."""
    program = "keeps_recursion.py"
    plain = run_plain(program, (mode,))
    recorded, path = run_recorded(tmp_path, program, (mode,), level)
    assert plain.status == recorded.status == status, recorded.stderr.decode()
    suffixes = (" while calling a Python object", " in comparison")

    def without_suffix(text: bytes) -> str:
        return text.decode().replace(suffixes[0], "").replace(suffixes[1], "")

    assert without_suffix(recorded.stdout) == without_suffix(plain.stdout)
    assert b"lock free: True" in plain.stdout or mode == "uncaught"
    plain_tb, plain_counts = program_frames(plain.stderr.decode(), program)
    recorded_tb, recorded_counts = program_frames(recorded.stderr.decode(), program)
    assert recorded_tb == plain_tb
    assert len(plain_counts) == len(recorded_counts) == (1 if "uncaught" in mode else 0)
    for plain_depth, recorded_depth in zip(plain_counts, recorded_counts, strict=True):
        assert 0 <= plain_depth - recorded_depth <= MAX_FEWER_FRAMES, (plain_depth, recorded_depth)
    events, summary = check_recording_summary(path, end)
    kinds = [e["kind"] for e in events if e["kind"].startswith(("lock.", "sem."))]
    acquires = sum(kind in ("lock.acquire", "sem.acquire") for kind in kinds)
    releases = sum(kind in ("lock.release", "sem.release") for kind in kinds)
    # Every recorded acquire has its release, but for events the recorder
    # could not record at the limit (its own calls failing there): counted
    # as dropped in the recording's summary.
    assert acquires > 500 and abs(acquires - releases) <= summary["dropped"], (acquires, releases, summary["dropped"])


# -- monkeypatching before recording starts ------------------------------


def test_monkeypatching_before_recording_starts_is_left_alone(tmp_path: Path) -> None:
    """The program patches threading.Lock/RLock, time.sleep, socket, then calls chronodbg.start().

    The recorder does not wrap a Lock / RLock factory that is not the standard
    library's: the program's locks stay its own (unrecorded). What the program
    patches over the recorder's patches while recording (sys.stdout,
    threading.Event.set) stays after chronodbg.stop().
    """
    program = PROGRAMS / "keeps_monkeypatch.py"
    out = tmp_path / "before.cgr"
    environment = dict(env(), CHRONODBG_ROOT=str(Path(__file__).parent.parent))
    plain = subprocess.run([sys.executable, str(program), "before"], capture_output=True, timeout=TIMEOUT, env=environment)
    recorded = subprocess.run([sys.executable, str(program), "before", str(out)], capture_output=True, timeout=TIMEOUT, env=environment)
    assert plain.returncode == recorded.returncode == 0, recorded.stderr.decode()
    assert recorded.stdout == plain.stdout and recorded.stderr == plain.stderr
    assert b"lock types: GreenLock GreenRLock GreenRLock GreenLock" in recorded.stdout
    assert b"after the recording: stdout Tee Event.set counted 3 Lock True sleep True" in recorded.stdout
    events = check_recording(out, (None, "stop"))
    _program_locks_unrecorded(events)


def test_program_files_are_all_used() -> None:
    used = {case.program for case in CASES} | {"keeps_recursion.py"}
    assert used == {path.name for path in PROGRAMS.glob("keeps_*.py")}
