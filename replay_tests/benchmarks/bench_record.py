"""How much `chronodbg record` slows a concurrent program down, and how big its log is.

Each workload runs as a subprocess of this interpreter (sys.executable) three
ways in one round — plain `python workload.py`, `python -m chronodbg record`,
and the same with `--locals none` — and rounds repeat: one warm-up round,
then --pairs counted ones. Interleaving the variants in time means a change
in machine load hits all of them alike, so the per-round ratios are what to
read; absolute seconds are only comparable within one run of this script.
The lock workload runs both unpinned and pinned to one CPU, because on two
cores a traced lock-heavy program can fall into a lock convoy (see
/work/shared/RUNTIME-NOTES.md, "Lock convoys on two cores"). Within a round,
every variant must print the same stdout (the asyncio workload prints a
checksum of which task got which message; the others print nothing).

    python replay_tests/benchmarks/bench_record.py              # full run, ~minutes
    python replay_tests/benchmarks/bench_record.py --quick      # CI smoke, < 30 s
    python replay_tests/benchmarks/bench_record.py --write-docs  # also update docs/performance.md
    python replay_tests/benchmarks/bench_record.py --workload aio --write-docs  # only the asyncio one

The file is named bench_*.py so pytest does not collect it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKLOADS = HERE / "workloads"
REPO = HERE.parent.parent
DOCS = REPO / "docs" / "performance.md"
#: Generated sections go just above this line of docs/performance.md if it is there.
DOCS_ANCHOR = "<!-- bench_record: new results go above this line -->"
RUN_TIMEOUT = 900.0


@dataclass(frozen=True)
class Workload:
    name: str
    script: str
    #: (full size, --quick size), passed as argv[1].
    sizes: tuple[int, int]
    describe: str


@dataclass(frozen=True)
class Case:
    workload: Workload
    pinned: bool


WORK = {
    "locks": Workload("locks", "locks.py", (120_000, 4_000), "8 threads x {n} `with lock:` increments"),
    "queues": Workload(
        "queues", "queues.py", (320_000, 10_000), "4 producers, 4 consumers, {n} items, Queue(maxsize=100)"
    ),
    "aio": Workload(
        "aio",
        "aio.py",
        (64_000, 2_000),
        "8 producer, 8 consumer asyncio tasks, {n} messages, asyncio.Queue(maxsize=100), asyncio.Lock",
    ),
}
#: The order a full run (no --workload) takes them in, and the order of its table rows.
DEFAULT_ORDER = ("locks", "queues", "aio")

VARIANTS = ("plain", "recorded", "recorded --locals none")


@dataclass
class Run:
    wall: float
    user: float
    sys: float
    vcsw: int

    @property
    def cpu(self) -> float:
        return self.user + self.sys


@dataclass
class VariantResult:
    runs: list[Run] = field(default_factory=list)
    events: int | None = None
    bytes: int | None = None
    complete: bool | None = None
    dropped: int | None = None

    def median(self, attr: str) -> float:
        return float(statistics.median(getattr(run, attr) for run in self.runs))


@dataclass
class CaseResult:
    case: Case
    size: int
    variants: dict[str, VariantResult]

    def ratios(self, variant: str, attr: str = "wall") -> list[float]:
        """variant / plain within each round, for wall time or CPU time."""
        plain = self.variants["plain"].runs
        other = self.variants[variant].runs
        return [getattr(b, attr) / getattr(a, attr) for a, b in zip(plain, other, strict=True)]


# -- running ------------------------------------------------------------------


def pin_prefix() -> list[str] | None:
    """The command prefix that pins a child to one CPU, or None when it cannot be done."""
    try:
        cpu = min(os.sched_getaffinity(0))
    except (AttributeError, OSError, ValueError):
        return None
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(cpu)] if taskset else None


def command(case: Case, variant: str, size: int, out: Path) -> list[str]:
    script = str(WORKLOADS / case.workload.script)
    if variant == "plain":
        cmd = [sys.executable, script, str(size)]
    else:
        extra = ["--locals", "none"] if variant.endswith("--locals none") else []
        cmd = [sys.executable, "-m", "chronodbg", "record", "-q", *extra, "-o", str(out), script, str(size)]
    if case.pinned:
        prefix = pin_prefix()
        assert prefix is not None
        cmd = prefix + cmd
    return cmd


def run_once(cmd: list[str], cwd: Path) -> tuple[Run, bytes]:
    """One timed run, and what it printed on stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=RUN_TIMEOUT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(
            f"bench_record: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr.decode(errors='replace')}"
        )
    run = Run(
        wall=wall,
        user=after.ru_utime - before.ru_utime,
        sys=after.ru_stime - before.ru_stime,
        vcsw=after.ru_nvcsw - before.ru_nvcsw,
    )
    return run, proc.stdout


def recording_info(path: Path, cwd: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "chronodbg", "info", str(path), "--json"],
        cwd=cwd,
        capture_output=True,
        timeout=RUN_TIMEOUT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench_record: chronodbg info {path} failed:\n{proc.stderr.decode(errors='replace')}")
    return dict(json.loads(proc.stdout))


def run_case(case: Case, size: int, pairs: int, workdir: Path, log: Any) -> CaseResult:
    variants = {name: VariantResult() for name in VARIANTS}
    outputs = {name: workdir / f"{case.workload.name}-{i}.cgr" for i, name in enumerate(VARIANTS)}
    for round_no in range(pairs + 1):
        printed: dict[str, bytes] = {}
        for name in VARIANTS:
            run, printed[name] = run_once(command(case, name, size, outputs[name]), workdir)
            if printed[name] != printed[VARIANTS[0]]:
                raise SystemExit(
                    f"bench_record: {case_label(case)} round {round_no}: {name} printed {printed[name]!r},"
                    f" {VARIANTS[0]} printed {printed[VARIANTS[0]]!r}"
                )
            if round_no:  # round 0 warms the page cache and the CPU clocks
                variants[name].runs.append(run)
            log(f"  {case_label(case)} round {round_no}{' (warm-up)' if not round_no else ''} {name}: {run.wall:.2f} s")
    for name in VARIANTS[1:]:
        # Events and bytes of the last counted run; they vary a little between
        # runs with the interleaving (a contended acquire adds a wait event).
        info = recording_info(outputs[name], workdir)
        result = variants[name]
        result.events = int(info["events"])
        result.bytes = outputs[name].stat().st_size
        result.complete = bool(info["complete"])
        result.dropped = info.get("dropped")
        outputs[name].unlink()
    return CaseResult(case, size, variants)


def case_label(case: Case) -> str:
    return f"{case.workload.name}{' pinned' if case.pinned else ''}"


# -- reporting ----------------------------------------------------------------


def machine(cwd: Path) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 0
    try:
        date = subprocess.run(["date"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        date = time.strftime("%a %b %d %H:%M:%S %Z %Y")
    return {
        "date": date,
        "cpu": cpu,
        "nproc": nproc,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "python_build": " ".join(platform.python_build()) + f", {platform.python_compiler()}",
        "executable": sys.executable,
        "chronodbg": chronodbg_version(cwd),
        "loadavg": loadavg(),
        "priority": priority(),
    }


def priority() -> str:
    """This process's nice value and, on Linux, its scheduler autogroup's (which decides its share against other sessions)."""
    text = f"nice {os.nice(0)}"
    try:
        group = Path("/proc/self/autogroup").read_text().split()
        text += f", {group[0].lstrip('/')} {' '.join(group[1:])}"
    except (OSError, IndexError):
        pass
    return text


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def chronodbg_version(cwd: Path) -> str:
    """The version of the chronodbg the children (run in `cwd`) import, and the git revision of its checkout."""
    proc = subprocess.run(
        [sys.executable, "-c", "import chronodbg; print(chronodbg.__version__); print(chronodbg.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )
    lines = proc.stdout.split("\n")
    if proc.returncode != 0 or len(lines) < 2:
        raise SystemExit(f"bench_record: {sys.executable} cannot import chronodbg:\n{proc.stderr}")
    version, where = lines[0].strip(), Path(lines[1].strip()).parent.parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(where), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except OSError:
        rev = ""
    return f"{version} from {where}" + (f" ({rev})" if rev else "")


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}x ({min(values):.2f}–{max(values):.2f})"


def table(results: list[CaseResult]) -> str:
    rows = [
        "| workload | CPUs | variant | median wall s | ratio: median (min–max) | CPU s | CPU ratio | sys s | vol. ctx switches"
        " | events | file bytes | bytes/event | µs added/event |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for res in results:
        wl = res.case.workload
        what = wl.describe.format(n=f"{res.size:,}")
        cpus = "1 (pinned)" if res.case.pinned else "all"
        plain = res.variants["plain"]
        for name in VARIANTS:
            v = res.variants[name]
            wall = v.median("wall")
            if name == "plain":
                ratio = cpu_ratio = events = size = per = added = "–"
            else:
                ratio = _spread(res.ratios(name))
                cpu_ratio = f"{statistics.median(res.ratios(name, 'cpu')):.2f}x"
                events = f"{v.events:,}" if v.events is not None else "?"
                size = f"{v.bytes:,}" if v.bytes is not None else "?"
                per = f"{v.bytes / v.events:.1f}" if v.events and v.bytes is not None else "?"
                added = f"{(wall - plain.median('wall')) / v.events * 1e6:.2f}" if v.events else "?"
                if v.dropped or v.complete is False:
                    events += f" ({v.dropped} dropped{'' if v.complete else ', incomplete'})"
            label = f"{wl.name}: {what}" if name == "plain" else ""
            rows.append(
                f"| {label} | {cpus if name == 'plain' else ''} | {name} | {wall:.2f} | {ratio} | {v.median('cpu'):.2f}"
                f" | {cpu_ratio} | {v.median('sys'):.2f}"
                f" | {statistics.median(r.vcsw for r in v.runs):,.0f} | {events} | {size} | {per} | {added} |"
            )
    return "\n".join(rows)


def section_key(python: str, workloads: list[str] | None) -> str:
    """What names a section of the docs: the Python, and the workloads if a --workload run chose some.

    A full run replaces its Python's full section; `--workload aio` gets (and
    later replaces) a section of its own, leaving the full one's numbers alone.
    """
    key = f"CPython {python}"
    if workloads and sorted(set(workloads)) != sorted(DEFAULT_ORDER):
        key += ": " + ", ".join(name for name in DEFAULT_ORDER if name in workloads)
    return key


def section(results: list[CaseResult], info: dict[str, Any], pairs: int, notes: list[str], key: str) -> str:
    lines = [
        f"<!-- bench_record: {key} -->",
        f"### {key}",
        "",
        f"- date: {info['date']}",
        f"- machine: {info['cpu']}, nproc {info['nproc']}, {info['kernel']}, load average (1, 5, 15 min) {info['loadavg']} at start, {info.get('loadavg_end', '?')} at end; benchmark ran at {info['priority']}",
        f"- Python: {info['python']} ({info['python_build']}), `{info['executable']}`",
        f"- chronodbg: {info['chronodbg']}",
        f"- {pairs} counted round{'s' if pairs != 1 else ''} after one warm-up round; medians over the counted rounds",
        *[f"- {note}" for note in notes],
        "",
        table(results),
        "",
        f"<!-- /bench_record: {key} -->",
    ]
    return "\n".join(lines) + "\n"


def write_docs(text: str, key: str) -> None:
    begin = f"<!-- bench_record: {key} -->"
    end = f"<!-- /bench_record: {key} -->"
    doc = DOCS.read_text() if DOCS.exists() else "# Performance\n\n" + DOCS_ANCHOR + "\n"
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
        doc = head + text.rstrip("\n") + tail
    elif DOCS_ANCHOR in doc:
        head, tail = doc.split(DOCS_ANCHOR, 1)
        doc = head + text + "\n" + DOCS_ANCHOR + tail
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--pairs",
        type=int,
        default=None,
        help="counted rounds per workload after the warm-up (default 5; 2 with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="small workloads, for CI smoke runs (< 30 s)")
    parser.add_argument("--workload", choices=sorted(WORK), action="append", help="only this workload (repeatable)")
    parser.add_argument("--no-pin", action="store_true", help="skip the pinned-to-one-CPU run of the lock workload")
    parser.add_argument(
        "--write-docs", action="store_true", help=f"add or replace this Python's section in {DOCS.relative_to(REPO)}"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    ns = parser.parse_args(argv)
    pairs = ns.pairs if ns.pairs is not None else (2 if ns.quick else 5)
    if pairs < 1:
        parser.error("--pairs must be at least 1")
    if ns.quick and ns.write_docs:
        parser.error("--quick numbers are a smoke test; do not --write-docs them")

    notes = []
    cases = []
    for name in ns.workload or DEFAULT_ORDER:
        cases.append(Case(WORK[name], pinned=False))
        if name == "locks" and not ns.no_pin:
            if pin_prefix() is None:
                notes.append("pinned run skipped: no taskset or no CPU affinity on this system")
            else:
                cases.append(Case(WORK[name], pinned=True))

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    results = []
    with tempfile.TemporaryDirectory(prefix="chronodbg-bench-") as tmp:
        info = machine(Path(tmp))
        log(f"bench_record: {info['python']} on {info['cpu']} x{info['nproc']}, {pairs} rounds + warm-up")
        for case in cases:
            size = case.workload.sizes[1 if ns.quick else 0]
            results.append(run_case(case, size, pairs, Path(tmp), log))
    info["loadavg_end"] = loadavg()

    key = section_key(info["python"], ns.workload)
    text = section(results, info, pairs, notes, key)
    print(text)
    if ns.write_docs:
        write_docs(text, key)
        log(f"bench_record: wrote {DOCS}")
    if ns.json:
        data = {
            "machine": info,
            "pairs": pairs,
            "cases": [
                {
                    "workload": r.case.workload.name,
                    "pinned": r.case.pinned,
                    "size": r.size,
                    "variants": {
                        name: {
                            "runs": [vars(run) for run in v.runs],
                            "events": v.events,
                            "bytes": v.bytes,
                            "complete": v.complete,
                            "dropped": v.dropped,
                        }
                        for name, v in r.variants.items()
                    },
                }
                for r in results
            ],
        }
        Path(ns.json).write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
