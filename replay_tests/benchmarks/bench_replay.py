"""Replay engine speed on a recording of about a million events.

    python replay_tests/benchmarks/bench_replay.py                 # records, then measures
    python replay_tests/benchmarks/bench_replay.py --log run.cgr   # measures an existing recording
    python replay_tests/benchmarks/bench_replay.py --quick         # ~60,000 events, a smoke test

The recording is made by recording the `locks` workload (8 threads, one
acquire and one release per increment, locals sampled) with enough
increments to pass the target. The measurements run in a fresh interpreter
so that its peak memory is the replay's alone:

- open: reading and validating the log (`read_log`), then indexing it
  (timelines and state checkpoints), and the peak RSS after both;
- `goto` to random points (and the state there), then `step` and `back`
  (and the state there) from random points whose state is already known,
  with focus on everyone and on one thread: median and 99th percentile over
  many tries; `info locks` at random points (a fifth as many);
- `continue` from the first event to a breakpoint near the end: on a kind
  (`thread.end`), and on a condition over the locals (`lock.acquire if i ==
  N-1`), which checks every acquire on the way.

Prints a Markdown table (and JSON with --json PATH). Timings are wall clock
on an otherwise idle machine; compare runs made side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "workloads" / "locks.py"
ROOT = HERE.parent.parent


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


def info_locks(session: Any, seq: int) -> list[str]:
    """What `info locks` does at seq: go there, build the state, render the locks."""
    from chronodbg.repl import render

    session.goto(seq)
    return render.locks(session.index.rec, session.state())


def peak_rss_mb() -> float:
    """This process's peak resident set since it started, in MiB.

    Linux's ru_maxrss keeps the peak of the image before exec(), which for a child of a process holding
    hundreds of MiB (the suite, after parsing a VizTracer trace) is that process's size; VmHWM is the
    peak of this process's own memory.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(path: str, tries: int) -> dict[str, Any]:
    """Runs in the fresh interpreter: everything the table reports."""
    from chronodbg.logfile import read_log
    from chronodbg.replay.index import Index
    from chronodbg.replay.session import Session

    # CPU seconds too: on a busy machine (2 cores shared) wall clock says more about the neighbours.
    t0, c0 = time.perf_counter(), time.process_time()
    rec = read_log(path)
    t1, c1 = time.perf_counter(), time.process_time()
    index = Index(rec)
    t2, c2 = time.perf_counter(), time.process_time()
    peak_mb = peak_rss_mb()
    session = Session(index)
    n = len(rec.events)
    rng = random.Random(2026)
    result: dict[str, Any] = {
        "events": n,
        "file_mb": os.path.getsize(path) / 2**20,
        "read_s": t1 - t0,
        "index_s": t2 - t1,
        "read_cpu_s": c1 - c0,
        "index_cpu_s": c2 - c1,
        "peak_rss_mb": peak_mb,
        "checkpoints": len(index.checkpoints),
    }

    def timed(action: Any) -> float:
        start = time.perf_counter()
        action()
        return time.perf_counter() - start

    def goto_and_state() -> None:
        session.goto(rng.randint(1, n))
        session.state()

    result["goto_ms"] = _percentiles([timed(goto_and_state) * 1e3 for _ in range(tries)])
    points = [rng.randint(1, n) for _ in range(max(1, tries // 5))]
    result["info_locks_ms"] = _percentiles([timed(lambda p=p: info_locks(session, p)) * 1e3 for p in points])
    for focus in ("all", "thread"):
        if focus == "thread":
            session.set_focus("thread", 2)
        else:
            session.set_focus("all")
        steps, backs = [], []
        for _ in range(tries):
            session.goto(rng.randint(1, n))
            session.state()  # standing there, as a user does, before the next move
            steps.append(timed(lambda: (session.step(), session.state())) * 1e3)
            backs.append(timed(lambda: (session.back(), session.state())) * 1e3)
        result[f"step_{focus}_ms"] = _percentiles(steps)
        result[f"back_{focus}_ms"] = _percentiles(backs)
    session.set_focus("all")
    last_i = max(
        (dict(e.locals).get("i") for e in rec.events[-2000:] if e.kind == "lock.acquire" and e.locals),
        key=lambda v: v if isinstance(v, int) else -1,
    )
    for label, text in (("continue_kind_s", "thread.end"), ("continue_cond_s", f"lock.acquire if i == {last_i}")):
        session.goto(1)
        bp = session.add_breakpoint(text)
        start = time.perf_counter()
        stop = session.cont()
        result[label] = time.perf_counter() - start
        result[label.replace("_s", "_stop")] = [stop.seq, stop.reason]
        session.delete(bp.number)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", help="measure this recording instead of making one")
    parser.add_argument("--quick", action="store_true", help="about 60,000 events")
    parser.add_argument("--tries", type=int, default=500, help="tries per latency (default 500)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    if ns.measure:
        print(json.dumps(measure(ns.measure, ns.tries)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = ns.log
        if path is None:
            path = str(Path(tmp) / "locks.cgr")
            increments = "4000" if ns.quick else "64000"
            env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "chronodbg", "record", "-q", "-o", path, str(WORKLOAD), increments], check=True, env=env
            )
            print(f"recorded in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        out = subprocess.run(
            [sys.executable, __file__, "--measure", path, "--tries", str(100 if ns.quick else ns.tries)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
    result = json.loads(out.stdout)
    result["python"] = platform.python_version()
    if ns.json:
        Path(ns.json).write_text(json.dumps(result, indent=2))
    print(_table(result))
    return 0


def _table(r: dict[str, Any]) -> str:
    def ms(key: str) -> str:
        median, p99 = r[key]
        return f"{median:.2f} / {p99:.2f}"

    rows = [
        ("events", f"{r['events']:,} ({r['file_mb']:.1f} MiB)"),
        ("read_log", f"{r['read_s']:.2f} s (CPU {r.get('read_cpu_s', 0):.2f} s)"),
        ("index (timelines, checkpoints)", f"{r['index_s']:.2f} s, CPU {r.get('index_cpu_s', 0):.2f} s ({r['checkpoints']:,} checkpoints)"),
        ("peak RSS after opening", f"{r['peak_rss_mb']:.0f} MiB"),
        ("goto random + state, ms median / p99", ms("goto_ms")),
        ("`info locks` at a random point (goto + state + render), ms", ms("info_locks_ms")),
        ("step + state (focus all), ms", ms("step_all_ms")),
        ("back + state (focus all), ms", ms("back_all_ms")),
        ("step + state (focus thread 2), ms", ms("step_thread_ms")),
        ("back + state (focus thread 2), ms", ms("back_thread_ms")),
        ("continue to `thread.end` from the start", f"{r['continue_kind_s']:.2f} s (stopped at {r['continue_kind_stop'][0]:,})"),
        ("continue to `lock.acquire if i == N-1`", f"{r['continue_cond_s']:.2f} s (stopped at {r['continue_cond_stop'][0]:,})"),
    ]
    lines = [f"CPython {r['python']}", "", "| measure | value |", "|---|--:|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
