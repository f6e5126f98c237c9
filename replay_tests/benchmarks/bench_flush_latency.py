"""How long an event takes to reach the disk when the program then goes quiet.

A recorded program marks an event, prints the time it did so and sleeps; this
script polls the recording until the event is readable there. The writer
thread drains every FLUSH_INTERVAL (0.05 s), so the answer should stay below
that plus the time to pack and write one chunk.

    python replay_tests/benchmarks/bench_flush_latency.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chronodbg.errors import LogError
from chronodbg.logfile import read_log

PROGRAM = """\
import random, sys, time, chronodbg
for i in range({marks}):
    # A random phase against the writer's 50 ms period.
    time.sleep(0.2 + random.random() * 0.05)
    chronodbg.mark("tick", i=i)
    sys.stdout.write(f"{{time.monotonic_ns()}}\\n")
    sys.stdout.flush()
time.sleep(5)
"""


def _marks_on_disk(path: Path) -> int:
    try:
        return sum(1 for event in read_log(str(path)).events if event.kind == "mark")
    except (LogError, FileNotFoundError):
        return 0


def measure(runs: int, marks: int) -> list[float]:
    """Milliseconds from each mark to its appearance in the file."""
    latencies = []
    with tempfile.TemporaryDirectory() as tmp:
        program = Path(tmp) / "quiet.py"
        program.write_text(PROGRAM.format(marks=marks))
        for run in range(runs):
            out = Path(tmp) / f"run{run}.cgr"
            proc = subprocess.Popen(
                [sys.executable, "-m", "chronodbg", "record", "-q", "-o", str(out), str(program)],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert proc.stdout is not None
            try:
                for i in range(marks):
                    marked = int(proc.stdout.readline())
                    while _marks_on_disk(out) <= i:
                        time.sleep(0.0005)
                    latencies.append((time.monotonic_ns() - marked) / 1e6)
            finally:
                proc.kill()
                proc.wait()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--marks", type=int, default=3)
    ns = parser.parse_args()
    latencies = sorted(measure(ns.runs, ns.marks))
    print(
        f"flush latency over {len(latencies)} quiet events: median {statistics.median(latencies):.1f} ms, "
        f"max {latencies[-1]:.1f} ms (Python {sys.version.split()[0]})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
