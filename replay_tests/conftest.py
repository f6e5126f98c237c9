"""Shared helpers: run real programs with and without the recorder, read what was recorded."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chronodbg.inspect_cmd import event_json
from chronodbg.logfile import read_log

PROGRAMS = Path(__file__).parent / "programs"
TIMEOUT = 120
#: How long a test waits for events of a running program to reach the disk.
POLL_LIMIT = 60.0


@dataclass
class Run:
    returncode: int
    stdout: bytes
    stderr: bytes
    path: Path
    events: list[dict[str, Any]]

    def of_thread(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["thread_name"] == name]

    def kinds_of(self, name: str) -> list[str]:
        return [e["kind"] for e in self.of_thread(name)]

    def by_kind(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]


class Emits:
    """A recorder stand-in for a lock wrapper: the events it emits, in order (kind, object id, data)."""

    active = True

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def emit(self, kind: Any, oid: int, data: tuple[Any, ...], frame: Any, *rest: Any) -> None:
        self.events.append((kind, oid, data))


def built_extension(name: str) -> Any:
    """The C extension module `name` (e.g. "chronodbg.recorder._hotpath"), whatever CHRONODBG_PURE_PYTHON says; None where it was not built."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def skip_unless_c_can_build() -> None:
    """Skip unless this is a CPython with a C compiler and its headers, where the C extensions must have built."""
    headers = os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
    compiler = shutil.which(os.environ.get("CC") or "cc") or shutil.which("gcc")
    if sys.implementation.name != "cpython" or not headers or not compiler:
        pytest.skip("no C compiler or no Python headers here: the extensions are optional")


def env() -> dict[str, str]:
    environment = dict(os.environ)
    root = str(Path(__file__).parent.parent)
    environment["PYTHONPATH"] = root + os.pathsep + environment.get("PYTHONPATH", "")
    environment.pop("CHRONODBG_INCLUDE", None)
    environment.pop("CHRONODBG_EXCLUDE", None)
    return environment


def run_plain(program: str | Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, str(program), *args], capture_output=True, timeout=TIMEOUT, cwd=cwd, env=env(), stdin=subprocess.DEVNULL
    )


def chronodbg(
    *args: str, cwd: Path | None = None, stdin: bytes | None = None, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run the command line; `environment` adds to (or overrides) the tests' environment."""
    return subprocess.run(
        [sys.executable, "-m", "chronodbg", *args],
        capture_output=True,
        timeout=TIMEOUT,
        cwd=cwd,
        env={**env(), **(environment or {})},
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def default_signals() -> None:
    """In a child: the signals a test sends back at their defaults.

    A shell without job control starts background jobs with SIGINT (and
    SIGQUIT) ignored, `nohup` ignores SIGHUP, and children inherit that.
    """
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)


def start_recording(tmp_path: Path, program: str, *options: str) -> tuple[subprocess.Popen[bytes], Path]:
    """Start recording a program that prints one line once it runs, and wait for that line."""
    out = tmp_path / "run.cgr"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chronodbg", "record", "-q", *options, "-o", str(out), str(PROGRAMS / program)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env(),
        cwd=tmp_path,
        preexec_fn=default_signals,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # the program says it is running
    return proc, out


def load_events(path: Path) -> list[dict[str, Any]]:
    rec = read_log(str(path))
    return [event_json(rec, event) for event in rec.events]


def task_names(path: Path) -> dict[str, int]:
    """Task name -> task id, from the recording's task table (the last name each task had)."""
    return {task.name or f"task {task.id}": task.id for task in read_log(str(path)).tasks.values()}


def record(
    tmp_path: Path, program: str | Path, *args: str, options: tuple[str, ...] = (), environment: dict[str, str] | None = None
) -> Run:
    out = tmp_path / (Path(program).stem + ".cgr")
    proc = chronodbg("record", "-q", "-o", str(out), *options, str(program), *args, cwd=tmp_path, environment=environment)
    events = load_events(out) if out.exists() else []
    return Run(proc.returncode, proc.stdout, proc.stderr, out, events)


def check_invariants(run: Run) -> None:
    """What must hold in any recording of a correct program, whatever the interleaving."""
    seqs = [e["seq"] for e in run.events]
    assert seqs == list(range(1, len(seqs) + 1)), "seq must be contiguous from 1"
    times = [e["t_ns"] for e in run.events]
    assert times == sorted(times), "t_ns must not go backwards along seq"
    # An asyncio lock is held by a task, a threading lock by a thread.
    held: dict[int, list[tuple[str, int]]] = defaultdict(list)  # lock -> owner stack
    ended: set[tuple[str, int]] = set()
    puts: dict[int, int] = defaultdict(int)
    for e in run.events:
        kind, obj, thread = e["kind"], e["obj"], e["thread"]
        owner = ("task", e["task"]) if e["task"] is not None and "asyncio." in (e["obj_label"] or "") else ("thread", thread)
        if kind == "lock.acquire":
            assert not held[obj] or held[obj][-1] == owner, f"{e['obj_label']} acquired by {owner} while held: {e}"
            held[obj].append(owner)
        elif kind == "lock.release":
            assert held[obj], f"release of an unheld lock: {e}"
            if e["data"]["depth"] == 0 and len(held[obj]) > 1 and "RLock" in (e["obj_label"] or ""):
                held[obj].clear()  # Condition.wait releases every level of an RLock at once
            else:
                held[obj].pop()
        elif kind == "thread.end":
            ended.add(("thread", e["data"]["thread"]))
        elif kind == "task.done":
            ended.add(("task", e["task"]))
        elif kind == "queue.put":
            puts[obj] += 1
        elif kind == "queue.get":
            puts[obj] -= 1
            assert puts[obj] >= 0, f"more gets than puts on {e['obj_label']} at seq {e['seq']}"
    for obj, owners in held.items():
        for owner in owners:
            assert owner in ended or owner == ("thread", 1), f"lock {obj} still held by {owner} at the end"
    check_task_invariants(run)


def check_task_invariants(run: Run) -> None:
    """Each task's life is create, then resume and suspend in turn, then done; its events happen only while it runs.

    Per thread, running tasks form a stack: an eager task's first step runs
    inside its creator's step.
    """
    state: dict[int, str] = {}
    running: dict[int, list[int]] = defaultdict(list)
    for e in run.events:
        kind, task, thread, data = e["kind"], e["task"], e["thread"], e["data"]
        if kind == "task.create":
            new = data["task"]
            assert new not in state, f"task {new} created twice: {e}"
            state[new] = "created"
        if kind == "task.wake":
            woken = data["task"]
            assert state.get(woken) == "suspended", f"wake of task {woken} in state {state.get(woken)}: {e}"
            state[woken] = "ready"
        if kind == "task.resume":
            # Suspended without a wake: a bare yield reschedules the task itself.
            assert state.get(task) in ("created", "suspended", "ready"), f"resume of task {task} in state {state.get(task)}: {e}"
            state[task] = "running"
            running[thread].append(task)
        if task is not None:
            assert running[thread] and running[thread][-1] == task, f"event of task {task} while it does not run: {e}"
        if kind in ("task.suspend", "task.done"):
            assert state.get(task) == "running", f"{kind} of task {task} in state {state.get(task)}: {e}"
            state[task] = "suspended" if kind == "task.suspend" else "done"
            running[thread].pop()


@pytest.fixture
def programs() -> Path:
    return PROGRAMS
