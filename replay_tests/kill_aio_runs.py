"""SIGKILL recorded runs of a busy asyncio loop at random moments; check what survives.

    python replay_tests/kill_aio_runs.py --runs 20 --seed 1 [--python PY]

The asyncio counterpart of kill_runs.py, for the path where the loop packs
and writes its own events (Recorder.pack_here). Each run records PROGRAM (a
producer and a consumer task trading items over a small asyncio.Queue as
fast as they can; the consumer reports every 100th item with os.write and
the time, after its get is recorded), waits a random time (seeded) after it
runs, and sends SIGKILL. Then: the file opens, seqs are contiguous from 1,
the recording holds no more gets than the program reported (plus the 99 it
may have made since its last report), and the activity lost is the time
between the program's last report and its report of the last recorded get.
It prints one line per run and a summary, and exits 1 if an invariant fails
or the largest loss exceeds --bound-ms. Not named test_*.py: pytest does not
collect it (test_log_durability.py kills such a loop once it is quiet).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chronodbg.logfile import read_log  # noqa: E402

REPORT_EVERY = 100

PROGRAM = f'''\
"""Busy until killed: a producer and a consumer task trade items over a small queue."""
import asyncio
import os
import time


async def produce(items):
    i = 0
    while True:
        await items.put(i)
        i += 1


async def consume(items):
    got = 0
    while True:
        await items.get()
        got += 1
        if got % {REPORT_EVERY} == 0:
            os.write(1, b"%d %.6f\\n" % (got, time.monotonic()))


async def main():
    items = asyncio.Queue(maxsize=10)
    os.write(1, b"running\\n")
    await asyncio.gather(produce(items), consume(items))


asyncio.run(main())
'''


def one_run(python: str, workdir: Path, delay: float) -> tuple[float, str]:
    """Kill one recorded run after `delay` s: (activity lost in ms, a line saying what was found)."""
    program, out = workdir / "busy_loop.py", workdir / "run.cgr"
    program.write_text(PROGRAM)
    cmd = [python, "-m", "chronodbg", "record", "-q", "-o", str(out), str(program)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=workdir)
    assert proc.stdout is not None
    if proc.stdout.readline() != b"running\n":
        raise SystemExit(f"kill_aio_runs: the program did not start under {python}")
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Whole lines only: the kill can cut the last one.
    lines = proc.stdout.read().split(b"\n")[:-1]
    reports = [(int(n), float(t)) for n, t in (line.split() for line in lines)]
    rec = read_log(str(out))
    gets = sum(1 for e in rec.events if e.kind == "queue.get")
    problems = []
    if [e.seq for e in rec.events] != list(range(1, len(rec.events) + 1)):
        problems.append("seqs not contiguous")
    if not reports:
        return 0.0, f"no report before the kill; {gets} gets recorded" + "".join(f"; {p}" for p in problems)
    last_n, last_t = reports[-1]
    if gets > last_n + REPORT_EVERY - 1:
        problems.append(f"{gets} gets recorded, more than the program made")
    covered = [t for n, t in reports if n <= gets]
    lost_ms = (last_t - covered[-1]) * 1000 if covered else (last_t - reports[0][1]) * 1000
    line = f"reported {last_n} gets, recorded {gets}: {lost_ms:.1f} ms of activity lost"
    if problems:
        raise SystemExit(f"kill_aio_runs: {line}; " + "; ".join(problems))
    os.unlink(out)
    return lost_ms, line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-delay", type=float, default=0.3)
    parser.add_argument("--max-delay", type=float, default=1.5)
    parser.add_argument("--bound-ms", type=float, default=300.0, help="the loss bound to check (default 300)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that records (default: this one)")
    ns = parser.parse_args()
    rng = random.Random(ns.seed)
    losses = []
    with tempfile.TemporaryDirectory(prefix="chronodbg-kill-aio-") as tmp:
        for run in range(ns.runs):
            lost_ms, line = one_run(ns.python, Path(tmp), rng.uniform(ns.min_delay, ns.max_delay))
            losses.append(lost_ms)
            print(f"run {run}: {line}", file=sys.stderr, flush=True)
    print(
        f"{ns.runs} kills: activity lost p50 {statistics.median(losses):.1f} ms, "
        f"p90 {statistics.quantiles(losses, n=10, method='inclusive')[-1]:.1f} ms, max {max(losses):.1f} ms"
    )
    return 1 if max(losses) > ns.bound_ms else 0


if __name__ == "__main__":
    sys.exit(main())
