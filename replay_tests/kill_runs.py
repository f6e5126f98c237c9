"""SIGKILL recorded runs of a busy threaded program at random moments; check what survives.

    python replay_tests/kill_runs.py --runs 200 --seed 1 [--level sync] [--json-out F]

Each run records `PROGRAM` (three workers taking a shared lock, putting on a
bounded queue and notifying a condition as fast as they can, a consumer, a
condition waiter) with `chronodbg record`, waits a random time (seeded) after
the program says it runs, and sends SIGKILL. The program writes one line per
worker iteration straight to its stdout pipe with `os.write` (no buffer, no
recorded output event): how far it really got. Then, per run:

- the file opens: `chronodbg info --json` and `chronodbg dump --json` (last
  events only) exit 0, and their stderr is empty or the one line
  `chronodbg: PATH: recovered, ...`;
- seqs are contiguous from 1;
- the events are a prefix of the run: each worker's iteration numbers (the
  local `i` of its `lock.release` events) are 0, 1, 2, ... without a gap,
  and the tickets drawn under the shared lock (local `mine`) are 1, 2, 3, ...
  in seq order, so no event of an earlier moment is missing when a later one
  is there; no worker is recorded further than it got (printed + 1);
- the loss window: the wall-clock time of the kill minus that of the last
  recorded event (the wall-clock time of t=0 plus its `t_ns`; t=0 is
  calibrated against the workers' timestamped reports, see _wall_of_t0, as
  the header's `start_time` is late); the activity lost: the time of the
  program's last report minus that of the last recorded event (a program
  the machine did not run before the kill lost nothing meanwhile); and the
  iterations the workers reported but the recording lacks.

It prints one line per run on stderr and a summary on stdout, and exits 1 if
any run violates an invariant or the maximum loss exceeds `--bound-ms`.
Not named test_*.py: pytest does not collect it (test_endings.py runs a few
kills as a test).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chronodbg.errors import LogError  # noqa: E402
from chronodbg.logfile import read_log  # noqa: E402
from chronodbg.logfile.reader import Recording  # noqa: E402

#: The bound the docs state (docs/format.md, Durability): about 0.3 s at worst on an overloaded machine.
DOCUMENTED_BOUND_MS = 300.0
WORKERS = 3
#: What the program writes once all its threads run (worker lines may come before it).
RUNNING = b"running\n"

PROGRAM = '''\
"""Busy until killed: workers draw tickets under a lock, feed a queue, notify a condition."""
import os
import queue
import threading
import time

lock = threading.Lock()
cond = threading.Condition()
q = queue.Queue(maxsize=64)
ticket = 0


def worker(name):
    global ticket
    i = 0
    while True:
        with lock:
            ticket += 1
            mine = ticket
        q.put(mine)
        with cond:
            cond.notify()
        # Iteration i is done (and recorded) before it is reported, with the wall-clock time.
        os.write(1, b"%s %d %d %.6f\\n" % (name.encode(), i, mine, time.time()))
        i += 1


def consumer():
    got = 0
    while True:
        q.get()
        got += 1


def waiter():
    woken = 0
    while True:
        with cond:
            if cond.wait(timeout=0.01):
                woken += 1


threads = [threading.Thread(target=worker, args=(f"w{k}",), name=f"w{k}", daemon=True) for k in range(WORKERS)]
threads += [threading.Thread(target=consumer, name="consumer", daemon=True), threading.Thread(target=waiter, name="waiter", daemon=True)]
for thread in threads:
    thread.start()
os.write(1, b"running\\n")
for thread in threads:
    thread.join()
'''.replace("WORKERS", str(WORKERS))


@dataclass
class RunResult:
    run: int
    delay_s: float
    exit_status: int | None = None
    opened: bool = False
    complete: bool = False
    recovery: str | None = None
    events: int = 0
    bytes: int = 0
    loss_ms: float | None = None
    activity_lost_ms: float | None = None
    #: How much later the header's start_time is than the calibrated wall-clock time of t=0.
    header_late_ms: float | None = None
    iterations_printed: int = 0
    iterations_recorded: int = 0
    iterations_lost: int = 0
    violations: list[str] = field(default_factory=list)


def _env() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = str(ROOT) + os.pathsep + environment.get("PYTHONPATH", "")
    environment.pop("CHRONODBG_INCLUDE", None)
    environment.pop("CHRONODBG_EXCLUDE", None)
    return environment


def _drain(fd: int, sink: bytearray, running: threading.Event) -> None:
    """Read a pipe to its end in big blocks (cheap: the machine is busy enough); set `running` at RUNNING."""
    while True:
        block = os.read(fd, 1 << 16)
        if not block:
            break
        sink.extend(block)
        if not running.is_set() and RUNNING in sink[-len(block) - len(RUNNING) :]:
            running.set()
    running.set()


def _printed(stdout: bytes) -> dict[tuple[str, int], float]:
    """(worker name, iteration) -> the wall-clock time the worker reported it done; complete lines only."""
    reports: dict[tuple[str, int], float] = {}
    for line in stdout.split(b"\n")[:-1]:
        parts = line.split()
        if len(parts) == 4:
            reports[(parts[0].decode(), int(parts[1]))] = float(parts[3])
    return reports


def _wall_of_t0(rec: Recording, reports: dict[tuple[str, int], float]) -> float | None:
    """The wall-clock time of the recording's t=0, from the program's own reports.

    The header's `start_time` is read when the header is written, some
    milliseconds after the recorder's clock started (16 ms on this machine
    at level sync, 41 at level calls): too late by that much. Each report of
    iteration i comes after the `lock.release` of iteration i, so
    wall(t0) <= report - t; the smallest such bound is tight to within the
    few microseconds between a release and its report.
    """
    names = {t.id: t.name for t in rec.threads.values()}
    best = None
    for event in rec.events:
        if event.kind == "lock.release":
            i = _local(event.locals, "i")
            wall = reports.get((names.get(event.thread, "?"), i)) if isinstance(i, int) else None
            if wall is not None:
                bound = wall - event.t_ns / 1e9
                best = bound if best is None else min(best, bound)
    return best


def _check_cli(path: Path, events: int, result: RunResult, python: str) -> None:
    warning = f"chronodbg: {path}: recovered, "
    info = subprocess.run(
        [python, "-m", "chronodbg", "info", "--json", str(path)], capture_output=True, env=_env(), timeout=300
    )
    err = info.stderr.decode(errors="replace")
    if info.returncode != 0:
        result.violations.append(f"info exit {info.returncode}: {err.strip()[:200]}")
        return
    if err and not (err.startswith(warning) and err.count("\n") == 1 and err.endswith("\n")):
        result.violations.append(f"info stderr is not one recovery line: {err[:200]!r}")
    data = json.loads(info.stdout)
    if data["events"] != events or data["complete"] != result.complete:
        result.violations.append(f"info says {data['events']} events complete={data['complete']}, the reader {events}")
    first = max(1, events - 2)
    dump = subprocess.run(
        [python, "-m", "chronodbg", "dump", "--json", "--from", str(first), str(path)], capture_output=True, env=_env(), timeout=300
    )
    err = dump.stderr.decode(errors="replace")
    if dump.returncode != 0:
        result.violations.append(f"dump exit {dump.returncode}: {err.strip()[:200]}")
        return
    if err and not (err.startswith(warning) and err.count("\n") == 1):
        result.violations.append(f"dump stderr is not one recovery line: {err[:200]!r}")
    seqs = [json.loads(line)["seq"] for line in dump.stdout.splitlines()]
    if events and seqs[-1:] != [events]:
        result.violations.append(f"dump's last seq {seqs[-1:]} != {events}")


def _local(pairs: Any, name: str) -> Any:
    for key, value in pairs or ():
        if key == name:
            return value
    return None


def _check_prefix(rec: Recording, printed: dict[str, int], result: RunResult) -> None:
    seqs = [e.seq for e in rec.events]
    if seqs != list(range(1, len(seqs) + 1)):
        gaps = [b for a, b in zip([0, *seqs[:-1]], seqs, strict=True) if b != a + 1]
        result.violations.append(f"seq not contiguous from 1 (first break at {gaps[:3]})")
    ticket_lock = next((o.id for o in rec.objects.values() if o.label == "Lock#1"), None)
    names = {t.id: t.name for t in rec.threads.values()}
    iterations: dict[str, list[int]] = {}
    tickets: list[int] = []
    for event in rec.events:
        if event.kind != "lock.release" or event.obj != ticket_lock:
            continue
        name = names.get(event.thread, "?")
        i, mine = _local(event.locals, "i"), _local(event.locals, "mine")
        if not isinstance(i, int) or not isinstance(mine, int):
            result.violations.append(f"seq {event.seq}: lock.release without the locals i and mine")
            continue
        iterations.setdefault(name, []).append(i)
        tickets.append(mine)
    if tickets != list(range(1, len(tickets) + 1)):
        result.violations.append(f"tickets in seq order are not 1..{len(tickets)}: a gap or a reordering")
    for name, seen in iterations.items():
        if seen != list(range(len(seen))):
            result.violations.append(f"{name}: iterations not 0..{len(seen) - 1} without a gap")
    for k in range(WORKERS):
        name = f"w{k}"
        recorded = len(iterations.get(name, ()))
        got = printed.get(name, -1) + 1
        # A worker killed between its events and its report is one ahead, never more.
        if recorded > got + 1:
            result.violations.append(f"{name}: {recorded} iterations recorded, only {got} done")
        result.iterations_recorded += recorded
        result.iterations_printed += got
        result.iterations_lost += max(0, got - recorded)


def one_run(number: int, delay: float, workdir: Path, python: str, level: str) -> RunResult:
    program = workdir / "busy_kill.py"
    out = workdir / f"kill-{number}.cgr"
    result = RunResult(number, round(delay, 4))
    proc = subprocess.Popen(
        [python, "-m", "chronodbg", "record", "-q", "--level", level, "-o", str(out), str(program)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=_env(),
        cwd=workdir,
    )
    assert proc.stdout is not None
    stdout = bytearray()
    running = threading.Event()
    reader = threading.Thread(target=_drain, args=(proc.stdout.fileno(), stdout, running), daemon=True)
    reader.start()
    try:
        if not running.wait(120) or RUNNING not in stdout:
            result.violations.append(f"the program did not start: {bytes(stdout[:200])!r}")
            return result
        time.sleep(delay)
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        result.exit_status = proc.wait()
    finally:
        # Never leave the busy program running (it would load every later run).
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join()
    proc.stdout.close()
    if result.exit_status != -signal.SIGKILL:
        result.violations.append(f"exit status {result.exit_status}, not -SIGKILL")
    result.bytes = out.stat().st_size if out.exists() else 0
    try:
        rec = read_log(str(out))
    except (LogError, OSError) as exc:
        result.violations.append(f"the file does not open: {exc}")
        return result
    result.opened = True
    result.complete = rec.complete
    result.recovery = rec.recovery
    result.events = len(rec.events)
    reports = _printed(bytes(stdout))
    printed: dict[str, int] = {}
    for name, i in reports:
        printed[name] = max(printed.get(name, -1), i)
    start = rec.header.get("start_time")
    wall0 = _wall_of_t0(rec, reports)
    if wall0 is not None and isinstance(start, float):
        result.header_late_ms = round((start - wall0) * 1000, 2)
    elif isinstance(start, float):
        wall0 = start  # nothing to calibrate with: no iteration both recorded and reported
    if wall0 is not None:
        last = wall0 + (rec.events[-1].t_ns if rec.events else 0) / 1e9
        result.loss_ms = round((killed_at - last) * 1000, 2)
        if reports:
            # The program's own last moment of work: a program the machine
            # did not run for a while before the kill lost nothing then.
            result.activity_lost_ms = round(max(0.0, max(reports.values()) - last) * 1000, 2)
    _check_prefix(rec, printed, result)
    _check_cli(out, len(rec.events), result, python)
    out.unlink()
    return result


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarise(results: list[RunResult], bound_ms: float) -> dict[str, Any]:
    losses = [r.loss_ms for r in results if r.loss_ms is not None]
    activity = [r.activity_lost_ms for r in results if r.activity_lost_ms is not None]
    lost_iterations = [float(r.iterations_lost) for r in results]
    summary: dict[str, Any] = {
        "runs": len(results),
        "files_opened": sum(r.opened for r in results),
        "files_recovered": sum(r.opened and not r.complete for r in results),
        "files_complete": sum(r.complete for r in results),
        "runs_with_violations": sum(bool(r.violations) for r in results),
        "violations": [f"run {r.run}: {v}" for r in results for v in r.violations],
        "bound_ms": bound_ms,
        "over_bound": sum(1 for v in losses if v > bound_ms),
    }
    if losses:
        summary["loss_ms"] = {
            "min": min(losses),
            "p50": _percentile(losses, 50),
            "p90": _percentile(losses, 90),
            "p99": _percentile(losses, 99),
            "max": max(losses),
            "mean": round(statistics.fmean(losses), 2),
        }
        summary["activity_lost_ms"] = {
            "min": min(activity),
            "p50": _percentile(activity, 50),
            "p90": _percentile(activity, 90),
            "p99": _percentile(activity, 99),
            "max": max(activity),
        }
        summary["iterations_lost"] = {
            "min": min(lost_iterations),
            "p50": _percentile(lost_iterations, 50),
            "p99": _percentile(lost_iterations, 99),
            "max": max(lost_iterations),
        }
        late = [r.header_late_ms for r in results if r.header_late_ms is not None]
        if late:
            summary["header_start_time_late_ms"] = {"min": min(late), "p50": _percentile(late, 50), "max": max(late)}
        summary["events_per_run"] = {"min": min(r.events for r in results), "max": max(r.events for r in results)}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--level", choices=("sync", "calls", "lines"), default="sync")
    parser.add_argument("--min-delay", type=float, default=0.0, help="seconds after the program runs (default 0)")
    parser.add_argument("--max-delay", type=float, default=1.5, help="(default 1.5)")
    parser.add_argument("--bound-ms", type=float, default=DOCUMENTED_BOUND_MS, help="the loss bound to check (default: the documented one)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that records (default: this one)")
    parser.add_argument("--json-out", help="also write every run and the summary as JSON")
    ns = parser.parse_args(argv)
    # Ended by SIGTERM, still kill the program being recorded (one_run's finally).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    rng = random.Random(ns.seed)
    version = subprocess.run([ns.python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True).stdout.strip()
    results: list[RunResult] = []
    began = time.time()
    with tempfile.TemporaryDirectory(prefix="kill_runs-") as tmp:
        workdir = Path(tmp)
        (workdir / "busy_kill.py").write_text(PROGRAM)
        for number in range(1, ns.runs + 1):
            result = one_run(number, rng.uniform(ns.min_delay, ns.max_delay), workdir, ns.python, ns.level)
            results.append(result)
            flag = "ok" if not result.violations else "VIOLATION " + "; ".join(result.violations)
            sys.stderr.write(
                f"run {number:>3}: delay {result.delay_s:.3f} s, {result.events} events, loss {result.loss_ms} ms "
                f"(activity {result.activity_lost_ms} ms), "
                f"{result.iterations_lost} iterations lost, {result.recovery or 'complete'}: {flag}\n"
            )
    summary = summarise(results, ns.bound_ms)
    summary.update(
        {
            "python": version,
            "level": ns.level,
            "seed": ns.seed,
            "delays_s": [ns.min_delay, ns.max_delay],
            "wall_s": round(time.time() - began, 1),
            "load_average": list(os.getloadavg()),
            "nproc": os.cpu_count(),
        }
    )
    print(json.dumps(summary, indent=2))
    if ns.json_out:
        Path(ns.json_out).write_text(json.dumps({"summary": summary, "runs": [asdict(r) for r in results]}, indent=1) + "\n")
    failed = summary["runs_with_violations"] > 0 or summary["files_opened"] < len(results)
    return 1 if failed or summary["over_bound"] else 0


if __name__ == "__main__":
    sys.exit(main())
