"""Every way a recorded program ends leaves a complete log that says how, at each level, with nothing lost.

Programs end by SIGTERM, SIGHUP, SIGINT (also while the main thread waits on
a lock, an Event, a queue or a join), their own SIGTERM handler, `os._exit`
and `sys.exit` in a thread, an uncaught exception in the main thread while
another thread still works, and interpreter exit with daemon threads that
hold, wait on and spin on recorded locks. Each is run plain and recorded:
the exit status (and the output where it is deterministic) must be the
same, the recording complete, its last event `process.exit` with the right
`how` and code, and every lock round the program reported done recorded.
Also here: a few SIGKILLs at random moments (replay_tests/kill_runs.py runs
hundreds and measures the loss window; no timing is asserted here).

Already covered elsewhere and not repeated: test_transparency (normal end,
sys.exit(3), an uncaught exception and KeyboardInterrupt in the main thread,
os._exit in the main thread, at level sync: here the same program at level
calls) and test_log_durability (SIGTERM and SIGINT of busy.py, one SIGKILL,
a deadlocked program).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chronodbg.logfile import read_log
from chronodbg.logfile.reader import Recording
from replay_tests.conftest import PROGRAMS, TIMEOUT, default_signals, env, record, run_plain

ENDINGS = PROGRAMS / "endings.py"
EXITS = PROGRAMS / "exits.py"
LEVELS = ("sync", "calls")


@dataclass
class Ended:
    returncode: int
    stdout: bytes
    stderr: bytes


def _run(tmp_path: Path, args: tuple[str, ...], level: str | None, signum: int | None = None) -> Ended:
    """Run endings.py plain (level None) or recorded to tmp_path/run.cgr; send `signum` once it says `ready`."""
    recorder = ["-m", "chronodbg", "record", "-q", "--level", level, "-o", str(tmp_path / "run.cgr")] if level else []
    proc = subprocess.Popen(
        [sys.executable, *recorder, str(ENDINGS), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env(),
        cwd=tmp_path,
        # Unbuffered: readline() must not read ahead what communicate() reads next.
        bufsize=0,
        preexec_fn=default_signals,
    )
    assert proc.stdout is not None
    head = b""
    if signum is not None:
        while not head.endswith(b"ready\n"):
            line = proc.stdout.readline()
            assert line, f"the program ended before it was ready: {head[-300:]!r}"
            head += line
        proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"{args} hung at level {level}") from None
    return Ended(proc.returncode, head + out, err)


def _ended_as(tmp_path: Path, how: str, code: int | None) -> Recording:
    """The recording is complete and its last event says the program ended by `how` with `code`."""
    rec = read_log(str(tmp_path / "run.cgr"))
    assert rec.complete, rec.recovery
    assert rec.footer is not None and (rec.footer["exit_how"], rec.footer["exit_code"]) == (how, code)
    last = rec.events[-1]
    assert last.kind == "process.exit" and rec.data_dict(last) == {"code": code, "how": how}
    assert [e.seq for e in rec.events] == list(range(1, len(rec.events) + 1))
    assert sum(e.kind == "process.exit" for e in rec.events) == 1
    return rec


def _local(event: Any, name: str) -> Any:
    return dict(event.locals or ()).get(name)


def _rounds(rec: Recording, thread: str, name: str) -> list[Any]:
    """The values of local `name` at each lock.release of `thread`, in order."""
    tids = {t.id for t in rec.threads.values() if t.name == thread}
    return [_local(e, name) for e in rec.events if e.kind == "lock.release" and e.thread in tids and _local(e, name) is not None]


def _printed_rounds(stdout: bytes) -> int:
    """How many `main N` rounds the program reported done."""
    return sum(1 for line in stdout.splitlines() if line.startswith(b"main ") and line.split()[1].isdigit())


SIGNAL_ENDS = [
    # (signal, the program's handler, exit status, recorded how, recorded code)
    (signal.SIGTERM, "default", -signal.SIGTERM, "SIGTERM", 143),
    (signal.SIGHUP, "default", -signal.SIGHUP, "SIGHUP", 129),
    (signal.SIGINT, "default", -signal.SIGINT, "KeyboardInterrupt", 130),
    (signal.SIGTERM, "own", 5, "sys.exit", 5),
    (signal.SIGTERM, "restored", -signal.SIGTERM, "SIGTERM", 143),
]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    "signum, variant, status, how, code", SIGNAL_ENDS, ids=["SIGTERM", "SIGHUP", "SIGINT", "SIGTERM-own-handler", "SIGTERM-handler-restored"]
)
def test_signal_while_threads_work(tmp_path: Path, level: str, signum: int, variant: str, status: int, how: str, code: int) -> None:
    args = ("signal", variant)
    plain = _run(tmp_path, args, None, signum)
    recorded = _run(tmp_path, args, level, signum)
    assert recorded.returncode == plain.returncode == status
    if variant != "default":
        # What the program saw of the handlers before it: SIG_DFL, as plain.
        assert recorded.stdout.splitlines()[0] == plain.stdout.splitlines()[0] == b"previous <Handlers.SIG_DFL: 0> SIGHUP <Handlers.SIG_DFL: 0>"
    # With its own handler, that handler ran (and chained to no handler of the recorder's).
    ran = b"own handler ran\n"
    assert plain.stdout.endswith(ran) == recorded.stdout.endswith(ran) == (variant == "own")
    if signum == signal.SIGINT:
        assert recorded.stderr.endswith(b"KeyboardInterrupt\n") and plain.stderr.endswith(b"KeyboardInterrupt\n")
        assert b"chronodbg" not in recorded.stderr
    else:
        assert recorded.stderr == plain.stderr == b""
    rec = _ended_as(tmp_path, how, code)
    assert _rounds(rec, "worker", "step") == list(range(50))
    marks = _rounds(rec, "MainThread", "mark")
    assert marks == list(range(len(marks)))
    # Every round main reported done is in the log (it may have recorded one more before the signal).
    done = _printed_rounds(recorded.stdout)
    assert done >= 3 and len(marks) in (done, done + 1)


@pytest.mark.parametrize("level", LEVELS)
def test_sigterm_taken_by_sigwait_is_no_ending(tmp_path: Path, level: str) -> None:
    """SIGTERM blocked in the program's threads stays pending for its sigwait(): the recorder's thread must not take it."""
    plain = _run(tmp_path, ("sigwait",), None, signal.SIGTERM)
    recorded = _run(tmp_path, ("sigwait",), level, signal.SIGTERM)
    assert recorded.returncode == plain.returncode == 0
    assert (recorded.stdout, recorded.stderr) == (plain.stdout, plain.stderr) == (b"main ticked 5\nready\ngot SIGTERM\n", b"")
    rec = _ended_as(tmp_path, "exit", 0)
    assert _rounds(rec, "MainThread", "step") == list(range(5))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    "signum, status, how, code",
    [
        (signal.SIGTERM, -signal.SIGTERM, "SIGTERM", 143),
        (signal.SIGHUP, -signal.SIGHUP, "SIGHUP", 129),
        # Python reports the KeyboardInterrupt ("Exception ignored") and exits 0, the waiter abandoned.
        (signal.SIGINT, 0, "exit", 0),
    ],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_signal_while_the_interpreter_waits_for_a_thread_at_exit(
    tmp_path: Path, level: str, signum: int, status: int, how: str, code: int
) -> None:
    plain = _run(tmp_path, ("shutdown_wait",), None, signum)
    recorded = _run(tmp_path, ("shutdown_wait",), level, signum)
    assert recorded.returncode == plain.returncode == status
    assert (recorded.stdout, recorded.stderr) == (plain.stdout, plain.stderr)
    assert plain.stdout == b"waiter ticked 5\nready\n"
    assert plain.stderr.endswith(b"KeyboardInterrupt: \n") if signum == signal.SIGINT else plain.stderr == b""
    rec = _ended_as(tmp_path, how, code)
    assert _rounds(rec, "waiter", "step") == list(range(5))
    waiter = [e for e in rec.events if rec.threads[e.thread].name == "waiter" and e.kind in ("lock.release", "queue.wait")]
    assert [e.kind for e in waiter][-2:] == ["lock.release", "queue.wait"]


@pytest.mark.parametrize("level", LEVELS)
def test_os_exit_in_a_thread(tmp_path: Path, level: str) -> None:
    plain = _run(tmp_path, ("os_exit_thread",), None)
    recorded = _run(tmp_path, ("os_exit_thread",), level)
    assert recorded.returncode == plain.returncode == 7
    assert (recorded.stdout, recorded.stderr) == (plain.stdout, plain.stderr) == (b"quitter ticked 30\n", b"")
    rec = _ended_as(tmp_path, "os._exit", 7)
    assert _rounds(rec, "quitter", "step") == list(range(30))
    # os._exit ran on the quitter thread, while main was inside its join.
    assert rec.threads[rec.events[-1].thread].name == "quitter"
    assert [e.kind for e in rec.events if rec.threads[e.thread].name == "MainThread"][-1] == "thread.join"


@pytest.mark.parametrize("level", LEVELS)
def test_sys_exit_in_a_thread_ends_only_that_thread(tmp_path: Path, level: str) -> None:
    plain = _run(tmp_path, ("sys_exit_thread",), None)
    recorded = _run(tmp_path, ("sys_exit_thread",), level)
    assert recorded.returncode == plain.returncode == 0
    assert (recorded.stdout, recorded.stderr) == (plain.stdout, plain.stderr)
    assert plain.stdout == b"leaver ticked 30\nmain ticked 5\nmain done\n" and plain.stderr == b""
    rec = _ended_as(tmp_path, "exit", 0)
    assert _rounds(rec, "leaver", "step") == list(range(30))
    assert _rounds(rec, "MainThread", "step") == list(range(5))
    leaver = next(t.id for t in rec.threads.values() if t.name == "leaver")
    end = next(e for e in rec.events if e.kind == "thread.end" and rec.data_dict(e)["thread"] == leaver)
    assert rec.data_dict(end)["exception"] == "SystemExit"


@pytest.mark.parametrize("level", LEVELS)
def test_uncaught_exception_in_main_while_a_thread_works(tmp_path: Path, level: str) -> None:
    plain = _run(tmp_path, ("raise_main",), None)
    recorded = _run(tmp_path, ("raise_main",), level)
    assert recorded.returncode == plain.returncode == 1
    assert (recorded.stdout, recorded.stderr) == (plain.stdout, plain.stderr)
    assert plain.stderr.endswith(b"ValueError: main failed\n")
    rec = _ended_as(tmp_path, "exception", 1)
    # The survivor's rounds come after main's exception, while the
    # interpreter waits for it, and all are in the log before the end.
    failed = next(e.seq for e in rec.events if e.kind == "exception" and rec.data_dict(e)["type"] == "ValueError")
    survivor = next(t.id for t in rec.threads.values() if t.name == "survivor")
    releases = [e for e in rec.events if e.kind == "lock.release" and e.thread == survivor]
    assert [_local(e, "step") for e in releases] == list(range(20))
    assert releases[0].seq > failed
    assert any(e.kind == "thread.end" and rec.data_dict(e)["thread"] == survivor for e in rec.events)


@pytest.mark.parametrize("level", LEVELS)
def test_exit_with_daemon_threads_holding_waiting_and_spinning_on_locks(tmp_path: Path, level: str) -> None:
    plain = _run(tmp_path, ("daemon_mid_lock",), None)
    recorded = _run(tmp_path, ("daemon_mid_lock",), level)
    assert recorded.returncode == plain.returncode == 0
    assert (recorded.stdout, recorded.stderr) == (plain.stdout, plain.stderr) == (b"main done\n", b"")
    rec = _ended_as(tmp_path, "exit", 0)
    names = {t.id: t.name for t in rec.threads.values()}
    by = {name: [e for e in rec.events if names.get(e.thread) == name] for name in ("holder", "blocked", "spinner")}
    assert [e.kind for e in by["holder"] if e.kind.startswith("lock.")] == ["lock.acquire"]
    assert [e.kind for e in by["blocked"] if e.kind.startswith("lock.")] == ["lock.wait"]
    # The spinner ran until the end: its lock events alternate, nothing torn.
    spins = [e.kind for e in by["spinner"] if e.kind.startswith("lock.")]
    assert len(spins) >= 400
    assert all(kind == ("lock.acquire", "lock.release")[i % 2] for i, kind in enumerate(spins))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("what, kind", [("lock", "lock.wait"), ("event", "event.wait"), ("queue", "queue.wait"), ("join", "thread.join")])
def test_sigint_while_main_waits(tmp_path: Path, level: str, what: str, kind: str) -> None:
    plain = _run(tmp_path, ("wait", what), None, signal.SIGINT)
    recorded = _run(tmp_path, ("wait", what), level, signal.SIGINT)
    # KeyboardInterrupt comes out of the wait as it does plain: same traceback, same status.
    assert recorded.returncode == plain.returncode == -signal.SIGINT
    assert (recorded.stdout, recorded.stderr) == (plain.stdout, plain.stderr)
    assert plain.stderr.endswith(b"KeyboardInterrupt\n")
    rec = _ended_as(tmp_path, "KeyboardInterrupt", 130)
    mains = [e for e in rec.events if rec.threads[e.thread].name == "MainThread"]
    waits = [e for e in mains if e.kind == kind and e.site is not None and rec.sites[e.site].func == "wait_on"]
    assert waits, f"main's {kind} is not in the log"
    exc = next(e for e in mains if e.kind == "exception")
    assert rec.data_dict(exc)["type"] == "KeyboardInterrupt" and exc.seq > waits[-1].seq


@pytest.mark.parametrize(
    "how, status, end, code",
    [
        ("normal", 0, "exit", 0),
        ("exit3", 3, "sys.exit", 3),
        ("raise", 1, "exception", 1),
        ("interrupt", -signal.SIGINT, "KeyboardInterrupt", 130),
        ("os_exit", 7, "os._exit", 7),
    ],
)
def test_main_thread_endings_at_level_calls(tmp_path: Path, how: str, status: int, end: str, code: int) -> None:
    """test_transparency's endings (exits.py, a daemon thread running, an atexit handler) at level calls too."""
    plain = run_plain(EXITS, how, cwd=tmp_path)
    run = record(tmp_path, EXITS, how, options=("--level", "calls"))
    assert run.returncode == plain.returncode == status
    assert (run.stdout, run.stderr) == (plain.stdout, plain.stderr)
    rec = read_log(str(run.path))
    assert rec.complete and rec.footer is not None
    assert (rec.footer["exit_how"], rec.footer["exit_code"]) == (end, code)
    assert rec.events[-1].kind == "process.exit" and rec.data_dict(rec.events[-1]) == {"code": code, "how": end}
    # Level calls recorded the program's calls, up to the end.
    assert any(e.kind == "call" for e in rec.events)


def test_sigkill_at_random_moments_leaves_a_prefix(tmp_path: Path) -> None:
    """Five of kill_runs.py's runs: each file opens, seqs are contiguous, the events are a prefix of the run."""
    from replay_tests import kill_runs

    (tmp_path / "busy_kill.py").write_text(kill_runs.PROGRAM)
    rng = random.Random(5)
    for number in range(5):
        result = kill_runs.one_run(number, rng.uniform(0.0, 0.3), tmp_path, sys.executable, "sync")
        assert result.violations == [], result
        assert result.opened and not result.complete and result.recovery is not None
        assert result.events > 0 and result.iterations_recorded > 0


def test_interrupt_main_of_a_default_signal_does_nothing(tmp_path: Path) -> None:
    """CPython's test_threading.test_interrupt_main_noerror: SIGTERM at SIG_DFL is not simulated, recorded or not."""
    program = PROGRAMS / "interrupt_default.py"
    plain = run_plain(program)
    assert plain.returncode == 0 and plain.stdout.endswith(b"done\n"), plain.stderr.decode()
    run = record(tmp_path, program)
    assert (run.returncode, run.stdout) == (plain.returncode, plain.stdout), run.stderr.decode()
    assert read_log(str(run.path)).footer is not None
