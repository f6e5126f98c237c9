"""How much `chronodbg record` slows a concurrent program down, per recording level, next to VizTracer.

Each workload runs as a subprocess of this interpreter (sys.executable) in
several variants, one after the other in one round: plain `python
workload.py`; `python -m chronodbg record --level sync`, the same with
`--locals none`, `--level calls` and `--level lines` (each level with locals,
the default); and VizTracer recording the same program, which records every
Python and C function call (the peer closest to `--level calls`) and writes
its JSON at exit: once as a user runs it (`python -m viztracer`, which builds
its report in Python at exit), once through its API with its C writer
(viztracer_raw.py: its tracing alone). Rounds repeat: one warm-up round, then
--pairs counted ones. Interleaving the variants in time means a change in
machine load hits all of them alike, so the per-round ratios (variant / plain
of the same round) are what to read; absolute seconds are only comparable
within one run of this script. The lock workload runs both unpinned and
pinned to one CPU, because on two cores a traced lock-heavy program can fall
into a lock convoy (see /work/shared/RUNTIME-NOTES.md, "Lock convoys on two
cores"). Within a round, every variant must print what the plain run printed
(each workload prints a checksum of its result).

    python replay_tests/benchmarks/bench_record.py               # full run: every level, every workload, VizTracer
    python replay_tests/benchmarks/bench_record.py --quick       # smoke test, < 60 s
    python replay_tests/benchmarks/bench_record.py --levels sync --no-viztracer   # the sync level alone
    python replay_tests/benchmarks/bench_record.py --tracer settrace   # the settrace backend on 3.12+
    python replay_tests/benchmarks/bench_record.py --workload calls --write-docs  # one workload, into the docs

A chronodbg without `--level` (before code-level recording) runs its sync
variants without the option and skips calls and lines, saying so; a Python
without VizTracer (`pip install -e .[bench]`) skips it, saying so. A variant
that fails or prints something else than the plain run is dropped from its
workload and reported; the script then exits 1 and does not write the docs.

The file is named bench_*.py so pytest does not collect it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import mmap
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from struct import error as struct_error
from typing import Any

HERE = Path(__file__).resolve().parent
WORKLOADS = HERE / "workloads"
REPO = HERE.parent.parent
DOCS = REPO / "docs" / "performance.md"
#: Generated sections go just above this line of docs/performance.md if it is there.
DOCS_ANCHOR = "<!-- bench_record: new results go above this line -->"
RUN_TIMEOUT = 1800.0
LEVELS = ("sync", "calls", "lines")
TRACERS = ("monitoring", "settrace")
TRACER_ENV = "CHRONODBG_TRACER"
#: VizTracer keeps its entries in a ring buffer of this many (its default is 1,000,000, which the full
#: workloads overflow: it would then keep only the last million calls). The buffer is allocated
#: lazily, so a large one costs memory only for the entries used.
VIZTRACER_ENTRIES = 30_000_000

Log = Callable[[str], None]


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
    "locks": Workload("locks", "locks.py", (120_000, 2_000), "8 threads x {n} `with lock:` increments"),
    "queues": Workload(
        "queues", "queues.py", (320_000, 4_000), "4 producers, 4 consumers, {n} items, Queue(maxsize=100)"
    ),
    "aio": Workload(
        "aio",
        "aio.py",
        (64_000, 800),
        "8 producer, 8 consumer asyncio tasks, {n} messages, asyncio.Queue(maxsize=100), asyncio.Lock",
    ),
    "calls": Workload(
        "calls",
        "calls.py",
        (2_500, 15),
        "4 threads x {n} expression trees built and evaluated by recursive calls (~440 calls a tree), one `with lock:` a tree",
    ),
}
#: The order a full run (no --workload) takes them in, and the order of its table rows.
DEFAULT_ORDER = ("locks", "queues", "aio", "calls")


@dataclass(frozen=True)
class Variant:
    """One way of running a workload: plain, under chronodbg at a level, or under VizTracer."""

    name: str
    tool: str  # "plain", "chronodbg" or "viztracer"
    level: str | None = None
    locals_none: bool = False


PLAIN = Variant("plain", "plain")
#: `python -m viztracer`, as a user runs it: the C tracer, then the report built in Python at exit.
VIZTRACER = Variant("VizTracer", "viztracer")
#: The same tracer through VizTracer's inline API, writing its trace with its C writer (viztracer_raw.py).
VIZTRACER_RAW = Variant("VizTracer (C dump)", "viztracer-raw")
VIZTRACER_MODES = {"cli": (VIZTRACER,), "raw": (VIZTRACER_RAW,), "both": (VIZTRACER, VIZTRACER_RAW)}


def chronodbg_variant(level: str, locals_none: bool = False) -> Variant:
    return Variant(f"`--level {level}`" + (" `--locals none`" if locals_none else ""), "chronodbg", level, locals_none)


@dataclass
class Setup:
    """What the interpreter under test can run, decided once before the first round."""

    variants: list[Variant]
    #: False for a chronodbg from before code-level recording: its sync variants run without `--level`.
    has_level: bool
    env: dict[str, str]
    viztracer_version: str | None
    viztracer_entries: int
    notes: list[str] = field(default_factory=list)


@dataclass
class Run:
    wall: float
    user: float
    sys: float
    vcsw: int
    #: The child's peak resident set size in KiB (ru_maxrss); 0 when unknown.
    maxrss_kb: int = 0
    #: The counted round it ran in (1 is the first).
    round: int = 0
    #: Killed at a time limit of run_case's hooks: `wall` is that limit, a lower bound on the run's time.
    stopped: bool = False

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
    #: What recorded it: chronodbg's tracer from the log header (None at level sync), or "VizTracer x.y".
    tracer: str | None = None
    #: VizTracer only: its ring buffer was full, so it kept the last entries and dropped the older ones.
    overflow: bool = False
    failed: str | None = None
    #: Why events are unknown although the runs are fine (`chronodbg info` failed on the recording).
    uncounted: str | None = None

    def median(self, attr: str) -> float:
        return float(statistics.median(getattr(run, attr) for run in self.runs))


@dataclass
class CaseResult:
    case: Case
    size: int
    variants: dict[str, VariantResult]

    def ratios(self, variant: str, attr: str = "wall") -> list[float]:
        """variant / plain within each round the variant ran in, for wall time or CPU time.

        A stopped run's wall ratio is a lower bound; it has no CPU time, so no CPU ratio.
        """
        plain = {run.round: run for run in self.variants[PLAIN.name].runs}
        other = [run for run in self.variants[variant].runs if attr == "wall" or not run.stopped]
        return [getattr(run, attr) / getattr(plain[run.round], attr) for run in other]

    def ok(self, variant: str) -> bool:
        v = self.variants.get(variant)
        return v is not None and v.failed is None and bool(v.runs)


# -- what can run -------------------------------------------------------------------------------------------------

PROBE = """\
def square(x):
    y = x * x
    return y


print(sum(square(i) for i in range(3)))
"""


def probe_chronodbg(level: str, workdir: Path, env: dict[str, str]) -> tuple[str | None, dict[str, Any] | None]:
    """Record a tiny program at `level`: (why it cannot, or None; the recording's `chronodbg info`)."""
    script = workdir / "probe.py"
    script.write_text(PROBE)
    out = workdir / f"probe-{level}.cgr"
    proc = subprocess.run(
        [sys.executable, "-m", "chronodbg", "record", "-q", "--level", level, "-o", str(out), str(script)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return f"`chronodbg record --level {level}` exited {proc.returncode}: {lines[-1] if lines else ''}", None
    info = recording_info(out, workdir)
    out.unlink()
    recorded = (info.get("options") or {}).get("level")
    if recorded not in (level, None):
        return f"`chronodbg record --level {level}` recorded level {recorded!r}", None
    return None, info


def probe_viztracer() -> tuple[str | None, str | None]:
    """(VizTracer's version, or None; why it cannot run, or None)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import viztracer; print(viztracer.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        why = lines[-1] if lines else f"exit {proc.returncode}"
        return (
            None,
            f"VizTracer is not installed for this Python ({why}; `pip install -e .[bench]` installs it): skipped",
        )
    return proc.stdout.strip(), None


def byte_compile_chronodbg() -> str:
    """Write chronodbg's .pyc files for this Python, as `pip install` does: the note that says so.

    Without them every recorded run compiles chronodbg's modules from source
    (35 ms here, more under load) where PYTHONDONTWRITEBYTECODE is set or the
    source tree is read-only: a cost a user's install does not pay, and most
    of a short workload's plain time.
    """
    import compileall

    import chronodbg

    package = Path(chronodbg.__file__).parent
    ok = compileall.compile_dir(str(package), quiet=1)
    return f"chronodbg's modules byte-compiled before the runs ({'done' if ok else 'some failed'}), as an install does"


def decide(
    levels: list[str], viztracer: str | None, tracer: str | None, entries: int, workdir: Path, log: Log
) -> Setup:
    env = dict(os.environ)
    notes = [byte_compile_chronodbg()]
    if tracer:
        env[TRACER_ENV] = tracer
        notes.append(f"`{TRACER_ENV}={tracer}` for the chronodbg runs (`--tracer {tracer}`)")
    elif env.get(TRACER_ENV):
        notes.append(f"`{TRACER_ENV}={env[TRACER_ENV]}` inherited from the environment")
    has_level = True
    skipped: set[str] = set()
    why, _ = probe_chronodbg("sync", workdir, env)
    if why is not None:
        has_level = False
        notes.append(
            f"this chronodbg has no working `--level` ({why}): the sync variants run without the option"
            " (recording sync events only, as `--level sync` does)"
            + (f"; {' and '.join(x for x in levels if x != 'sync')} skipped" if set(levels) - {"sync"} else "")
        )
        skipped = set(levels) - {"sync"}
    else:
        for level in levels:
            if level == "sync":
                continue
            why, info = probe_chronodbg(level, workdir, env)
            if why is not None:
                notes.append(f"level {level} skipped: {why}")
                skipped.add(level)
            elif info is not None:
                log(f"bench_record: --level {level} works (tracer {info.get('tracer')!r})")
    variants = [PLAIN]
    for level in levels:
        if level not in skipped:
            variants.append(chronodbg_variant(level))
            if level == "sync":
                variants.append(chronodbg_variant(level, locals_none=True))
    version = None
    if viztracer:
        version, why = probe_viztracer()
        if why is not None:
            notes.append(why)
        else:
            variants.extend(VIZTRACER_MODES[viztracer])
    for note in notes:
        log(f"bench_record: {note}")
    return Setup(variants, has_level, env, version, entries, notes)


# -- running ------------------------------------------------------------------------------------------------------


def pin_prefix() -> list[str] | None:
    """The command prefix that pins a child to one CPU, or None when it cannot be done."""
    try:
        cpu = min(os.sched_getaffinity(0))
    except (AttributeError, OSError, ValueError):
        return None
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(cpu)] if taskset else None


def command(case: Case, variant: Variant, size: int, out: Path, setup: Setup) -> list[str]:
    script = str(WORKLOADS / case.workload.script)
    if variant.tool == "plain":
        cmd = [sys.executable, script, str(size)]
    elif variant.tool == "viztracer":
        cmd = [sys.executable, "-m", "viztracer", "--quiet", "--tracer_entries", str(setup.viztracer_entries)]
        cmd += ["-o", str(out), script, str(size)]
    elif variant.tool == "viztracer-raw":
        cmd = [
            sys.executable,
            str(HERE / "viztracer_raw.py"),
            str(out),
            str(setup.viztracer_entries),
            script,
            str(size),
        ]
    else:
        cmd = [sys.executable, "-m", "chronodbg", "record", "-q"]
        if setup.has_level:
            cmd += ["--level", str(variant.level)]
        if variant.locals_none:
            cmd += ["--locals", "none"]
        cmd += ["-o", str(out), script, str(size)]
    if case.pinned:
        prefix = pin_prefix()
        assert prefix is not None
        cmd = prefix + cmd
    return cmd


#: Runs argv[2:] as its child and writes "exit wall user sys vcsw maxrss" of it to argv[1]. A child started
#: straight from the benchmark would inherit the benchmark's RSS high-water mark at exec (Linux keeps the old
#: memory's peak in ru_maxrss, and vfork shares the parent's memory), so its peak memory would be the
#: benchmark's; forked from this small launcher it starts from the launcher's few MiB.
LAUNCHER = """\
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as f:
    f.write(f"{os.waitstatus_to_exitcode(status)} {wall!r} {ru.ru_utime!r} {ru.ru_stime!r} {ru.ru_nvcsw} {ru.ru_maxrss}")
"""


def run_once(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = RUN_TIMEOUT
) -> tuple[Run, bytes, str | None]:
    """One timed run, what it printed on stdout, and why it failed (None when it exited 0).

    The command runs under LAUNCHER, which times it and reaps it with wait4:
    its own resource usage and peak RSS, without the launcher's start-up.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "usage"
        launch = [sys.executable, "-I", "-S", "-c", LAUNCHER, str(report), *cmd]
        proc = subprocess.Popen(launch, cwd=cwd, stdout=out, stderr=err, env=env, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return Run(timeout, 0.0, 0.0, 0, stopped=True), b"", f"timed out after {timeout:.0f} s"
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        fields = report.read_text().split() if report.exists() else []
    if proc.returncode != 0 or len(fields) != 6:
        return Run(0.0, 0.0, 0.0, 0), stdout, f"the launcher exited {proc.returncode}: {stderr[-500:]!r}"
    code, wall, user, sys_s, vcsw, maxrss = fields
    run = Run(float(wall), float(user), float(sys_s), int(vcsw), int(maxrss))
    failed = None
    if int(code) != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-5:]
        failed = f"exited {code}: " + " / ".join(tail)
    return run, stdout, failed


def footer_info(path: Path) -> dict[str, Any] | None:
    """What the suite needs of a finished recording, from its header and footer alone (None if it has no footer).

    `chronodbg info` reads every event: seconds per million, most of the suite's
    time between runs. A finished file ends in a trailer naming its footer.
    The header's and footer's CRCs are checked, each offset of the footer's
    chunk index must start a chunk frame, and the index's counts must add up
    to the footer's event count; the chunks themselves are not read.
    """
    import msgpack

    from chronodbg.logfile import format as F

    def frame(data: mmap.mmap, offset: int, tag: bytes) -> Any:
        found, length, crc = F.FRAME.unpack_from(data, offset)
        body = data[offset + F.FRAME.size : offset + F.FRAME.size + length]
        if found != tag or len(body) != length or zlib.crc32(body) != crc:
            raise ValueError(f"no {tag!r} frame at byte {offset}")
        return msgpack.unpackb(body, raw=False)

    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[: len(F.MAGIC)] != F.MAGIC or len(data) < len(F.MAGIC) + F.TRAILER.size:
            return None
        at, tag = F.TRAILER.unpack_from(data, len(data) - F.TRAILER.size)
        if tag != F.TRAILER_TAG:
            return None
        header = frame(data, len(F.MAGIC), F.TAG_HEADER)
        if header.get("signed"):
            return None  # SIGN frames between: `chronodbg info` checks them
        footer = frame(data, at, F.TAG_FOOTER)
        counted = 0
        for offset, _first, count in footer["chunks"]:
            found, _length, _crc = F.FRAME.unpack_from(data, offset)
            if found != F.TAG_CHUNK:
                raise ValueError(f"the footer names a chunk at byte {offset}, which is not one")
            counted += count
        if counted != footer["events"]:
            raise ValueError(f"the footer counts {footer['events']} events, its chunks {counted}")
    return {
        "events": footer["events"],
        "complete": True,
        "dropped": footer.get("dropped"),
        "tracer": header.get("tracer"),
        "options": header.get("options"),
    }


def recording_info(path: Path, cwd: Path) -> dict[str, Any]:
    try:
        quick = footer_info(path)
    except (ValueError, KeyError, TypeError, struct_error) as exc:
        raise SystemExit(f"bench_record: {path}: {exc}") from None
    if quick is not None:
        return quick
    proc = subprocess.run(
        [sys.executable, "-m", "chronodbg", "info", str(path), "--json"],
        cwd=cwd,
        capture_output=True,
        timeout=RUN_TIMEOUT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench_record: chronodbg info {path} failed:\n{proc.stderr.decode(errors='replace')}")
    return dict(json.loads(proc.stdout))


_PHASE = re.compile(rb'"ph":\s*"([A-Za-z])"')
_OVERFLOW = re.compile(rb'"overflow":\s*(true|false)')


def viztracer_entries(path: Path) -> tuple[int, bool]:
    """(trace entries, whether the ring buffer overflowed) of a VizTracer JSON file, without loading it.

    Entries are the trace events other than metadata ("ph": "M", thread
    names): one "X" per finished function call, Python or C. A `"ph": "`
    inside a JSON string has its quotes escaped, so it cannot match.
    """
    phases: Counter[bytes] = Counter()
    overflow = False
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for match in _PHASE.finditer(data):
            phases[match.group(1)] += 1
        tail = data[max(0, len(data) - (1 << 20)) :]
        # The metadata follows the events; look for its overflow flag near the end, then anywhere.
        found = _OVERFLOW.search(tail) or _OVERFLOW.search(data)
        if found is not None:
            overflow = found.group(1) == b"true"
    return sum(n for ph, n in phases.items() if ph != b"M"), overflow


def _same(printed: bytes) -> bytes:
    return printed


@dataclass(frozen=True)
class Hooks:
    """What another driver (suite.py) changes in run_case: more tools, what output must match, how to count events."""

    command: Callable[[Case, Variant, int, Path, Setup], list[str]] = command
    #: What of a run's stdout must equal the plain run's (all of it by default).
    printed: Callable[[bytes], bytes] = _same
    #: Output file suffix per tool, beyond chronodbg's and VizTracer's.
    suffixes: dict[str, str] = field(default_factory=dict)
    #: Fills in events and bytes of a variant of a tool run_case does not know, from its output file and the
    #: stdout of its last run; returns False to leave it to run_case.
    count: Callable[[Variant, Path, bytes, VariantResult], bool] | None = None
    #: Seconds a run of a tool may take before it is killed and the variant dropped (default RUN_TIMEOUT).
    timeouts: dict[str, float] = field(default_factory=dict)
    #: False: no warm-up round (a smoke test that only checks that everything runs).
    warmup: bool = True
    #: The warm-up round's size, from the counted rounds' (the same by default).
    warmup_size: Callable[[int], int] | None = None
    #: Counted rounds a variant runs in, by name (every round by default); such a variant skips the warm-up.
    rounds: dict[str, int] = field(default_factory=dict)
    #: Seconds a variant's run may take, from the runs of its round so far (by variant name), or None for no
    #: limit. A run past it is stopped and kept, its wall time a lower bound, and the variant runs no more rounds.
    limit: Callable[[Variant, dict[str, Run]], float | None] | None = None


def run_case(
    case: Case, size: int, pairs: int, workdir: Path, setup: Setup, log: Log, hooks: Hooks | None = None
) -> CaseResult:
    hooks = hooks or Hooks()
    variants = {v.name: VariantResult() for v in setup.variants}
    suffix = {"chronodbg": "cgr", "viztracer": "json", "viztracer-raw": "json", "plain": "out", **hooks.suffixes}
    outputs = {v.name: workdir / f"{case.workload.name}-{i}.{suffix[v.tool]}" for i, v in enumerate(setup.variants)}
    last_printed: dict[str, bytes] = {}
    for round_no in range(0 if hooks.warmup else 1, pairs + 1):
        plain_printed = b""
        this_round: dict[str, Run] = {}
        for variant in setup.variants:
            result = variants[variant.name]
            rounds = hooks.rounds.get(variant.name)
            if result.failed or (rounds is not None and not 1 <= round_no <= rounds):
                continue
            if result.runs and result.runs[-1].stopped:
                continue
            out = outputs[variant.name]
            out.unlink(missing_ok=True)  # so no run pays for truncating the previous one's file
            run_size = size if round_no or hooks.warmup_size is None else hooks.warmup_size(size)
            cmd = hooks.command(case, variant, run_size, out, setup)
            timeout = hooks.timeouts.get(variant.tool, RUN_TIMEOUT)
            limit = hooks.limit(variant, this_round) if hooks.limit is not None and round_no else None
            run, printed, failed = run_once(cmd, workdir, setup.env, timeout if limit is None else min(limit, timeout))
            if run.stopped and limit is not None and limit < timeout:
                run, failed = dataclasses.replace(run, round=round_no), None
                result.runs.append(run)
                log(f"  {case_label(case)} round {round_no} {variant.name}: stopped at its limit, {limit:.1f} s")
                continue
            this_round[variant.name] = run = dataclasses.replace(run, round=round_no)
            last_printed[variant.name] = printed
            where = f"{case_label(case)} round {round_no}{' (warm-up)' if not round_no else ''} {variant.name}"
            if variant is PLAIN:
                if failed:
                    raise SystemExit(f"bench_record: {where} {failed}")
                plain_printed = printed
            elif failed is None and hooks.printed(printed) != hooks.printed(plain_printed):
                failed = f"printed {printed[:200]!r}, plain printed {plain_printed[:200]!r}"
            if failed:
                result.failed = f"round {round_no}: {failed}"
                result.runs.clear()
                out.unlink(missing_ok=True)
                log(f"  {where}: FAILED {failed}")
                continue
            if round_no:  # round 0 warms the page cache and the CPU clocks
                result.runs.append(run)
            log(f"  {where}: {run.wall:.2f} s")
    for variant in setup.variants[1:]:
        # Events and bytes of the last counted run; they vary a little between
        # runs with the interleaving (a contended acquire adds a wait event).
        result, out = variants[variant.name], outputs[variant.name]
        if result.failed or not result.runs or result.runs[-1].stopped:
            out.unlink(missing_ok=True)  # a stopped run's output is unfinished: its events are not counted
            continue
        result.bytes = out.stat().st_size
        if hooks.count is not None and hooks.count(variant, out, last_printed[variant.name], result):
            out.unlink()
            continue
        if variant.tool.startswith("viztracer"):
            result.events, result.overflow = viztracer_entries(out)
            result.tracer = f"VizTracer {setup.viztracer_version}"
        else:
            try:
                # From the header and footer of a finished recording; else all of it (seconds per million events).
                info = recording_info(out, workdir)
            except SystemExit as exc:
                result.uncounted = str(exc).splitlines()[-1] if str(exc) else "chronodbg info failed"
                log(f"  {case_label(case)} {variant.name}: events not counted: {result.uncounted}")
                out.unlink()
                continue
            result.events = int(info["events"])
            result.complete = bool(info["complete"])
            result.dropped = info.get("dropped")
            result.tracer = info.get("tracer")
            level = (info.get("options") or {}).get("level")
            if setup.has_level and level is not None and level != variant.level:
                result.failed = f"asked for --level {variant.level}, the recording says level {level!r}"
        out.unlink()
    return CaseResult(case, size, variants)


def case_label(case: Case) -> str:
    return f"{case.workload.name}{' pinned' if case.pinned else ''}"


# -- reporting ----------------------------------------------------------------------------------------------------


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


def _events_cell(v: VariantResult) -> str:
    text = f"{v.events:,}" if v.events is not None else "?"
    if v.overflow:
        text += " (buffer full: older entries dropped)"
    if v.dropped or v.complete is False:
        text += f" ({v.dropped} dropped{'' if v.complete else ', incomplete'})"
    return text


def table(results: list[CaseResult], variants: list[Variant]) -> str:
    rows = [
        "| workload | CPUs | variant | median wall s | ratio: median (min–max) | CPU s | CPU ratio | sys s | vol. ctx switches"
        " | events | file bytes | bytes/event | µs added/event |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for res in results:
        wl = res.case.workload
        what = wl.describe.format(n=f"{res.size:,}")
        cpus = "1 (pinned)" if res.case.pinned else "all"
        plain = res.variants[PLAIN.name]
        for variant in variants:
            v = res.variants[variant.name]
            label = f"{wl.name}: {what}" if variant is PLAIN else ""
            head = f"| {label} | {cpus if variant is PLAIN else ''} | {variant.name} |"
            if v.failed:
                rows.append(f"{head} failed (see notes) | | | | | | | | | |")
                continue
            wall = v.median("wall")
            if variant is PLAIN:
                ratio = cpu_ratio = events = size = per = added = "–"
            else:
                ratio = _spread(res.ratios(variant.name))
                cpu_ratio = f"{statistics.median(res.ratios(variant.name, 'cpu')):.2f}x"
                events = _events_cell(v)
                size = f"{v.bytes:,}" if v.bytes is not None else "?"
                per = f"{v.bytes / v.events:.1f}" if v.events and v.bytes is not None else "?"
                added = f"{(wall - plain.median('wall')) / v.events * 1e6:.2f}" if v.events else "?"
            rows.append(
                f"{head} {wall:.2f} | {ratio} | {v.median('cpu'):.2f} | {cpu_ratio} | {v.median('sys'):.2f}"
                f" | {statistics.median(r.vcsw for r in v.runs):,.0f} | {events} | {size} | {per} | {added} |"
            )
    return "\n".join(rows)


def suite_table(results: list[CaseResult], variants: list[Variant]) -> str:
    """Each variant over the whole suite: one row per variant, the unpinned run of each workload."""
    cases = [r for r in results if not r.case.pinned]
    rows = [
        "| variant | workloads | total wall ratio: median (min–max) | total CPU ratio | geometric mean of the workloads'"
        " wall ratios | events | file bytes | bytes/event | µs added/event |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for variant in variants[1:]:
        ok = [r for r in cases if r.ok(variant.name)]
        if not ok:
            rows.append(f"| {variant.name} | none | | | | | | | |")
            continue
        rounds = len(ok[0].variants[PLAIN.name].runs)

        def total(res_variant: str, attr: str, i: int, ok: list[CaseResult] = ok) -> float:
            return sum(float(getattr(r.variants[res_variant].runs[i], attr)) for r in ok)

        wall = [total(variant.name, "wall", i) / total(PLAIN.name, "wall", i) for i in range(rounds)]
        cpu = [total(variant.name, "cpu", i) / total(PLAIN.name, "cpu", i) for i in range(rounds)]
        geo = math.exp(statistics.fmean(math.log(statistics.median(r.ratios(variant.name))) for r in ok))
        events = [r.variants[variant.name].events for r in ok]
        sizes = [r.variants[variant.name].bytes for r in ok]
        counted = all(e is not None for e in events) and all(s is not None for s in sizes)
        n_events = sum(e or 0 for e in events)
        n_bytes = sum(s or 0 for s in sizes)
        added = sum(r.variants[variant.name].median("wall") - r.variants[PLAIN.name].median("wall") for r in ok)
        names = ", ".join(r.case.workload.name for r in ok)
        if len(ok) < len(cases):
            names += f" ({len(ok)} of {len(cases)})"
        overflow = " (buffers full)" if any(r.variants[variant.name].overflow for r in ok) else ""
        rows.append(
            f"| {variant.name} | {names} | {_spread(wall)} | {statistics.median(cpu):.2f}x | {geo:.2f}x"
            + (
                f" | {n_events:,}{overflow} | {n_bytes:,} | {n_bytes / n_events:.1f} | {added / n_events * 1e6:.2f} |"
                if counted and n_events
                else " | ? | ? | ? | ? |"
            )
        )
    return "\n".join(rows)


def tracers_used(results: list[CaseResult], variants: list[Variant]) -> dict[str, str]:
    """Level -> the tracer its recordings' headers name (several, joined, if they differ)."""
    used: dict[str, set[str]] = {}
    for res in results:
        for variant in variants:
            v = res.variants[variant.name]
            if variant.tool == "chronodbg" and variant.level != "sync" and v.failed is None and v.tracer:
                used.setdefault(str(variant.level), set()).add(v.tracer)
    return {level: " / ".join(sorted(names)) for level, names in used.items()}


def section_key(
    python: str, levels: list[str], tracer: str | None, workloads: list[str] | None, scale: float = 1.0
) -> str:
    """What names a section of the docs: the Python, the levels (and the tracer behind calls and lines), the workloads.

    A run of every workload replaces the section of its Python and levels;
    `--workload aio` gets (and later replaces) a section of its own, leaving
    the full one's numbers alone.
    """
    key = f"CPython {python}: levels {', '.join(levels)}"
    if tracer:
        key += f" ({tracer})"
    if scale != 1.0:
        key += f", sizes x{scale:g}"
    if workloads and sorted(set(workloads)) != sorted(DEFAULT_ORDER):
        key += ": " + ", ".join(name for name in DEFAULT_ORDER if name in workloads)
    return key


def method_notes(setup: Setup, tracers: dict[str, str]) -> list[str]:
    notes = []
    if tracers:
        notes.append(
            "chronodbg tracer (from the recordings' headers): "
            + ", ".join(f"`--level {level}`: {name}" for level, name in tracers.items())
        )
    if any(v.tool.startswith("viztracer") for v in setup.variants):
        notes.append(
            f"VizTracer {setup.viztracer_version}, with its defaults but a ring buffer of"
            f" {setup.viztracer_entries:,} entries (its default holds 1,000,000 and keeps the last ones): every"
            " Python and C function call of every thread, library code included, the JSON written at exit and"
            " counted in the time. Its events are trace entries, one per finished call (chronodbg writes a call"
            " and a return event per user-code call), counted in the JSON of the last counted run"
        )
    if VIZTRACER in setup.variants:
        notes.append(
            "VizTracer: `python -m viztracer --quiet --tracer_entries N -o OUT.json workload.py ARG`, as a user"
            " runs it; at exit its C tracer writes a raw trace, which VizTracer then loads into Python objects and"
            " writes again as the report, with the source of the traced files"
        )
    if VIZTRACER_RAW in setup.variants:
        notes.append(
            "VizTracer (C dump): the same tracer started and saved through its inline API with `dump_raw=True`"
            " (replay_tests/benchmarks/viztracer_raw.py): the raw trace written straight by its C writer, no"
            " report building, no source files"
        )
    return notes


def section(
    results: list[CaseResult], info: dict[str, Any], pairs: int, notes: list[str], key: str, variants: list[Variant]
) -> str:
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
        table(results, variants),
        "",
        "The whole suite (the unpinned run of each workload; total = the workloads' wall or CPU times added up"
        " within each round):",
        "",
        suite_table(results, variants),
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


def parse_levels(text: str) -> list[str]:
    chosen = {part.strip() for part in text.split(",") if part.strip()}
    unknown = chosen - set(LEVELS)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"levels are a comma-separated subset of {','.join(LEVELS)}")
    return [level for level in LEVELS if level in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--pairs",
        type=int,
        default=None,
        help="counted rounds per workload after the warm-up (default 5; 1 with --quick)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small workloads, one counted round: a smoke test (< 60 s)"
    )
    parser.add_argument("--workload", choices=sorted(WORK), action="append", help="only this workload (repeatable)")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply every workload's full size by F (e.g. 0.2: a fifth of the work; the docs section says so)",
    )
    parser.add_argument(
        "--levels",
        type=parse_levels,
        default=list(LEVELS),
        metavar="LEVELS",
        help=f"chronodbg levels to run, comma-separated (default {','.join(LEVELS)})",
    )
    parser.add_argument(
        "--viztracer",
        choices=sorted(VIZTRACER_MODES),
        default="both",
        help="VizTracer as a user runs it (cli), through its API with its C writer (raw), or both (default)",
    )
    parser.add_argument("--no-viztracer", action="store_true", help="do not run VizTracer")
    parser.add_argument(
        "--viztracer-entries",
        type=int,
        default=VIZTRACER_ENTRIES,
        metavar="N",
        help=f"VizTracer's ring buffer size (--tracer_entries; default {VIZTRACER_ENTRIES:,})",
    )
    parser.add_argument(
        "--tracer",
        choices=TRACERS,
        help=f"chronodbg's tracer for --level calls and lines (sets ${TRACER_ENV}; default: chronodbg's choice)",
    )
    parser.add_argument("--no-pin", action="store_true", help="skip the pinned-to-one-CPU run of the lock workload")
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help=f"add or replace this Python's section for these levels and workloads in {DOCS.relative_to(REPO)}",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    ns = parser.parse_args(argv)
    pairs = ns.pairs if ns.pairs is not None else (1 if ns.quick else 5)
    if pairs < 1:
        parser.error("--pairs must be at least 1")
    if ns.quick and ns.write_docs:
        parser.error("--quick numbers are a smoke test; do not --write-docs them")
    if ns.tracer == "monitoring" and sys.version_info < (3, 12):
        parser.error("--tracer monitoring needs Python 3.12+ (sys.monitoring)")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    notes = []
    cases = []
    for name in ns.workload or DEFAULT_ORDER:
        cases.append(Case(WORK[name], pinned=False))
        if name == "locks" and not ns.no_pin:
            if pin_prefix() is None:
                notes.append("pinned run skipped: no taskset or no CPU affinity on this system")
            else:
                cases.append(Case(WORK[name], pinned=True))

    results = []
    with tempfile.TemporaryDirectory(prefix="chronodbg-bench-") as tmp:
        info = machine(Path(tmp))
        setup = decide(
            ns.levels, None if ns.no_viztracer else ns.viztracer, ns.tracer, ns.viztracer_entries, Path(tmp), log
        )
        log(
            f"bench_record: {info['python']} on {info['cpu']} x{info['nproc']}, {pairs} round(s) + warm-up;"
            f" variants: {', '.join(v.name for v in setup.variants)}"
        )
        for case in cases:
            full, quick = case.workload.sizes
            size = quick if ns.quick else max(quick, round(full * ns.scale))
            results.append(run_case(case, size, pairs, Path(tmp), setup, log))
    info["loadavg_end"] = loadavg()

    failures = [
        f"{case_label(r.case)} {name}: {v.failed}" for r in results for name, v in r.variants.items() if v.failed
    ]
    uncounted = [
        f"{case_label(r.case)} {name}: events not counted, `chronodbg info` failed: {v.uncounted}"
        for r in results
        for name, v in r.variants.items()
        if v.uncounted
    ]
    tracers = tracers_used(results, setup.variants)
    ran = [level for level in LEVELS if any(v.level == level for v in setup.variants)]
    tracer_name = None
    if set(ran) - {"sync"}:
        tracer_name = " / ".join(sorted({tracers[level] for level in ran if level in tracers})) or ns.tracer
    key = section_key(info["python"], ran or ns.levels, tracer_name, ns.workload, ns.scale)
    all_notes = notes + setup.notes + method_notes(setup, tracers) + uncounted
    all_notes += [f"FAILED: {failure}" for failure in failures]
    text = section(results, info, pairs, all_notes, key, setup.variants)
    print(text)
    if ns.write_docs:
        if failures:
            log(f"bench_record: {len(failures)} variant(s) failed; {DOCS} left alone")
        else:
            write_docs(text, key)
            log(f"bench_record: wrote section {key!r} of {DOCS}")
    if ns.json:
        data = {
            "machine": info,
            "pairs": pairs,
            "levels": ns.levels,
            "tracer": ns.tracer,
            "notes": all_notes,
            "cases": [
                {
                    "workload": r.case.workload.name,
                    "pinned": r.case.pinned,
                    "size": r.size,
                    "variants": {
                        variant.name: {
                            "tool": variant.tool,
                            "level": variant.level,
                            "locals": "none" if variant.locals_none else None,
                            "runs": [vars(run) for run in r.variants[variant.name].runs],
                            **{k: x for k, x in vars(r.variants[variant.name]).items() if k != "runs"},
                        }
                        for variant in setup.variants
                    },
                }
                for r in results
            ],
        }
        Path(ns.json).write_text(json.dumps(data, indent=1) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
