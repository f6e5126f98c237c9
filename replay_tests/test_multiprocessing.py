"""Programs that start processes: os.fork, and multiprocessing under fork, spawn and forkserver.

A recording covers one process; children run unrecorded (see
chronodbg/recorder/processes.py). Each program runs plain and recorded and
must give the same stdout, the same stderr (pids aside) and the same exit
status; the parent's recording must open complete with nothing dropped, its
seq contiguous, holding the parent's events only, and no child may leave a
recording of its own behind.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest

from chronodbg.logfile import read_log
from chronodbg.logfile.reader import Recording
from chronodbg.recorder import processes
from replay_tests.conftest import PROGRAMS, TIMEOUT, chronodbg, env

METHODS = ("fork", "spawn", "forkserver")
FORK_WARNS = sys.version_info >= (3, 12)


def _available(method: str) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"start method {method!r} is not available on {sys.platform}")


def _without_pids(stderr: bytes) -> bytes:
    """stderr without what differs between two runs: pids, and process names numbered as processes started."""
    return re.sub(rb"(\w*Process)-\d+", rb"\1-N", re.sub(rb"pid=\d+", b"pid=N", stderr))


def _plain_and_recorded(tmp_path: Path, program: Path, *args: str, flags: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess[bytes], Path]:
    """Run `program` plain and recorded; both must end and print alike. Returns the plain run and the recording."""

    def run(*command: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, *flags, *command, str(program), *args],
            capture_output=True,
            timeout=TIMEOUT,
            cwd=tmp_path,
            env=env(),
            stdin=subprocess.DEVNULL,
        )

    plain = run()
    out = tmp_path / "run.cgr"
    recorded = run("-m", "chronodbg", "record", "-q", "-o", str(out))
    assert plain.returncode == 0, plain.stderr.decode(errors="replace")
    assert recorded.returncode == plain.returncode, recorded.stderr.decode(errors="replace")
    assert recorded.stdout == plain.stdout
    assert _without_pids(recorded.stderr) == _without_pids(plain.stderr)
    return plain, out


def _parent_log(tmp_path: Path, out: Path) -> Recording:
    """The recording, checked: complete, nothing dropped, seq contiguous, one process.exit, no other .cgr file."""
    info = chronodbg("info", "--json", str(out))
    assert info.returncode == 0, info.stderr
    summary = json.loads(info.stdout)
    assert summary["complete"] is True
    assert summary["dropped"] == 0
    assert summary["exit_code"] == 0
    rec = read_log(str(out))
    assert [e.seq for e in rec.events] == list(range(1, len(rec.events) + 1))
    assert [e.kind for e in rec.events].count("process.exit") == 1
    assert rec.events[-1].kind == "process.exit"
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.cgr")) == [Path("run.cgr")], "a child left a recording"
    return rec


def _acquires(rec: Recording, line: int) -> int:
    """How many lock.acquire events the log holds for the lock created at `line` of the program."""
    objects = [o.id for o in rec.objects.values() if o.site is not None and rec.sites[o.site].line == line]
    assert len(objects) == 1
    return sum(1 for e in rec.events if e.kind == "lock.acquire" and e.obj == objects[0])


def _printed(rec: Recording) -> str:
    """What the recording says the parent wrote to stdout."""
    writes = [rec.data_dict(e) for e in rec.events if e.kind == "output"]
    return "".join(data["text"] for data in writes if data["stream"] == "stdout")


def _line_of(program: Path, text: str) -> int:
    return next(n for n, line in enumerate(program.read_text().splitlines(), 1) if line.startswith(text))


@pytest.mark.parametrize("flags", [(), ("-W", "error")], ids=["default", "W-error"])
def test_os_fork_with_threads_holding_recorded_locks(tmp_path: Path, flags: tuple[str, ...]) -> None:
    program = PROGRAMS / "mp_fork_os.py"
    plain, out = _plain_and_recorded(tmp_path, program, flags=flags)
    assert plain.stdout.decode().splitlines() == [
        "parent forks with 2 threads",
        "child 1: held is busy",
        "child 1: through a queue",
        "child 1: threads 1",
        "parent: child 1 exit 3",
        "child 2: held is free now",
        "child 2 returns",
        "parent: child 2 exit 0",
        "parent: child 3 exit 1",
        "parent done",
    ]
    assert plain.stderr.endswith(b"RuntimeError: child 3 fails\n")
    # 3.12+ warns about fork() with threads, attributed to the program's line;
    # under -W error it neither warns nor raises.
    warned = b"DeprecationWarning: This process (pid=" in plain.stderr
    assert warned == (FORK_WARNS and not flags)
    rec = _parent_log(tmp_path, out)
    assert {t.name for t in rec.threads.values()} == {"MainThread", "holder"}
    # The parent's own acquires only: the holder's and the last `with held, mine`;
    # `mine` before the first fork and at the end; the at-fork hook's, once a fork.
    assert _acquires(rec, _line_of(program, "held = ")) == 2
    assert _acquires(rec, _line_of(program, "mine = ")) == 2
    assert _acquires(rec, _line_of(program, "rmine = ")) == 1
    assert _acquires(rec, _line_of(program, "guard = ")) == 3
    assert not [e for e in rec.events if e.kind.startswith("queue.")], "only a child used the queue"
    starts = [rec.data_dict(e) for e in rec.events if e.kind == "process.start"]
    assert [(s["method"], s["name"]) for s in starts] == [("fork", None)] * 3
    assert len({s["pid"] for s in starts}) == 3
    parent_lines = [line for line in plain.stdout.decode().splitlines(keepends=True) if not line.startswith("child")]
    assert _printed(rec) == "".join(parent_lines)


@pytest.mark.parametrize("method", METHODS)
def test_multiprocessing_start_methods(tmp_path: Path, method: str) -> None:
    _available(method)
    program = PROGRAMS / "mp_methods.py"
    plain, out = _plain_and_recorded(tmp_path, program, method)
    assert plain.stdout.decode().splitlines() == [
        "child one ran",
        "process one exit 0",
        "pool [0, 1, 4, 9, 16, 25]",
        "manager {'hits': 3} [0, 1, 2] [0, 0, 0]",
        "executor [0, 1, 4, 9, 16]",
        "failed child exit 1",
        "parent count 1",
    ]
    assert plain.stderr.endswith(b"ValueError: a child fails\n")
    rec = _parent_log(tmp_path, out)
    # Children take `tally` too (forked ones through the recorded wrapper): the parent once.
    assert _acquires(rec, _line_of(program, "tally = ")) == 1
    parent_lines = [line for line in plain.stdout.decode().splitlines(keepends=True) if not line.startswith("child")]
    assert _printed(rec) == "".join(parent_lines)
    assert rec.threads[1].name == "MainThread"
    starts = [rec.data_dict(e) for e in rec.events if e.kind == "process.start"]
    # One Process, two pool workers, the manager's server and its three clients,
    # one or two executor workers (started on demand but under fork), the failing one.
    assert 9 <= len(starts) <= 10
    assert {s["method"] for s in starts} == {method}
    assert len({s["pid"] for s in starts}) == len(starts)
    assert starts[0]["name"].endswith("Process-1")
    assert all(t.parent is not None for t in rec.threads.values() if t.id != 1)


def test_multiprocessing_fork_under_W_error(tmp_path: Path) -> None:
    """fork() with threads (the pool's, the queue's feeder) warns on 3.12+: an error that CPython swallows."""
    _available("fork")
    _, out = _plain_and_recorded(tmp_path, PROGRAMS / "mp_methods.py", "fork", flags=("-W", "error"))
    _parent_log(tmp_path, out)


def test_forkpty_warns_as_unrecorded(tmp_path: Path) -> None:
    if not hasattr(os, "forkpty"):
        pytest.skip("no os.forkpty here")
    program = tmp_path / "pty_fork.py"
    program.write_text(
        "import os, threading\n"
        "ev = threading.Event()\n"
        "t = threading.Thread(target=ev.wait)\n"
        "t.start()\n"
        "pid, fd = os.forkpty()\n"
        "if pid == 0:\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "os.close(fd)\n"
        "ev.set()\n"
        "t.join()\n"
        "print('done')\n"
    )
    plain, out = _plain_and_recorded(tmp_path, program)
    assert plain.stdout == b"done\n"
    assert (b"pty_fork.py:5: DeprecationWarning" in plain.stderr) == FORK_WARNS
    _parent_log(tmp_path, out)


def test_a_threads_locals_are_freed_when_it_ends(tmp_path: Path) -> None:
    """No reference cycle of the recorder's keeps the frames of the program's threads (and their locals) alive."""
    plain, out = _plain_and_recorded(tmp_path, PROGRAMS / "mp_frames_freed.py")
    assert plain.stdout == b"freed when the thread ended: True\n"
    _parent_log(tmp_path, out)


@pytest.mark.skipif(not FORK_WARNS, reason="fork() warns about threads since 3.12")
def test_quiet_fork_warns_for_its_caller_only_when_the_program_alone_would(monkeypatch: pytest.MonkeyPatch) -> None:
    threads = {"now": 2}  # in the process: the main thread and the recorder's writer
    monkeypatch.setattr(processes, "program_threads", lambda ours: threads["now"] - ours)
    # A fork that "returns" in the parent, in a process where one thread is the recorder's.
    fork = processes.quiet_fork(lambda: 4321, "fork", lambda: 1, lambda pid, name, frame: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fork() == 4321
        threads["now"] = 3
        assert fork() == 4321
    assert [(w.category, Path(w.filename).name) for w in caught] == [(DeprecationWarning, Path(__file__).name)]
    assert str(caught[0].message).endswith("is multi-threaded, use of fork() may lead to deadlocks in the child.")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fork() == 4321, "as CPython, a warning turned into an error is dropped"


def test_program_threads_counts_as_cpython_does(monkeypatch: pytest.MonkeyPatch) -> None:
    assert processes.program_threads(0) >= threading.active_count()

    def no_proc(*args: object) -> int:
        raise OSError("no /proc")

    monkeypatch.setattr(os, "open", no_proc)
    # Without /proc, the threads the threading module knows (never the recorder's writer).
    assert processes.program_threads(1) == threading.active_count()
