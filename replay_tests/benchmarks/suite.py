"""The benchmark suite of issue 8: recording overhead next to plain Python, VizTracer and pyttd, and replay speed.

    python replay_tests/benchmarks/suite.py --all-pythons       # the whole suite: 3.11, 3.12 and 3.13 from pyenv, < 15 min
    python replay_tests/benchmarks/suite.py                     # every workload, level and peer on this Python; replay
    python replay_tests/benchmarks/suite.py --smoke             # everything tiny, < 1 min: fails only on crashes
    python replay_tests/benchmarks/suite.py --python /tmp/venv3.12.1/bin/python --pairs 3
    python replay_tests/benchmarks/suite.py --no-record --replay-sizes 1e7        # replay on 10M events only

Recording: the five pinned workloads (workloads/locks.py, queues.py, w3_aio.py, w4_calls.py, w5_mixed.py,
each printing a `checksum` line) run through bench_record.py's machinery:
within a round every variant runs once, one after the other (plain, chronodbg
at each level, the peers), a warm-up round (at a tenth of the size) and then --pairs counted rounds
(the peers and `--locals none` in the first --reference-pairs of them, a peer's run stopped at
--peer-limit times chronodbg's run of its round at the level it is compared with);
the ratio of a round is variant / plain of that round, and the table gives
the median and the spread of those ratios, the events recorded, bytes per
event and the child's peak RSS (ru_maxrss via wait4). Every variant must
print the plain run's checksum line. Each Python runs in its own child
process of itself (`--child-json`), so a Python other than the one running
this script needs only chronodbg (and the peers) importable.

Replay: gen_recording.py crafts recordings of the asked sizes (threads,
tasks, locks, queues, locals) and bench_replay.py's measurement runs on each
in a fresh interpreter: open+index time, peak RSS, goto to random points,
step/back, `info locks`, continue across the whole recording.

A failing or checksum-changing chronodbg variant makes the run exit 1 (with
--smoke: the only ways it fails). A peer that cannot install or run here is
skipped or dropped with its reason printed; that does not fail the run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

if __package__ in (None, ""):  # run as a script: make `replay_tests.benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from replay_tests.benchmarks import bench_record as br  # noqa: E402

HERE = br.HERE
REPO = br.REPO
KEY = "The benchmark suite (issue 8)"
#: The warm-up round runs each workload at this fraction of its size.
WARMUP_DIVISOR = 10
#: A peer's run is never stopped before this many seconds (see peer_limit).
PEER_LIMIT_FLOOR = 2.0
Log = br.Log


@dataclass(frozen=True)
class SuiteWorkload:
    label: str
    workload: br.Workload
    smoke: int


def _wl(label: str, script: str, full: int, smoke: int, describe: str) -> SuiteWorkload:
    return SuiteWorkload(label, br.Workload(label, script, (full, smoke), describe), smoke)


WORKLOADS = {
    w.label: w
    for w in (
        _wl("W1", "locks.py", 20_000, 300, "threads+locks: 8 threads x {n} lock-protected increments, a call inside"),
        _wl("W2", "queues.py", 200_000, 2_000, "producer/consumer: 4+4 threads, {n} items, Queue(maxsize=100)"),
        _wl("W3", "w3_aio.py", 200_000, 2_000, "asyncio: 200 tasks, {n} messages, asyncio.Queue, asyncio.Lock"),
        _wl(
            "W4",
            "w4_calls.py",
            24,
            1,
            "call-heavy: one thread, {n} rounds of recursive and helper calls (~90k calls each)",
        ),
        _wl("W5", "w5_mixed.py", 10_000, 100, "mixed app: ThreadPoolExecutor, {n} jobs, Condition, Events, logging"),
    )
}

VIZ = br.VIZTRACER
VIZ_FILE = br.Variant("VizTracer --include_files", "viztracer-include")
PYTTD = br.Variant("pyttd", "pyttd")
PEERS = (VIZ, VIZ_FILE, PYTTD)
#: The level of chronodbg each peer is compared with: VizTracer records calls, pyttd lines.
PEER_LEVEL = {VIZ.tool: "calls", VIZ_FILE.tool: "calls", PYTTD.tool: "lines"}
_CHECKSUM = re.compile(rb"^checksum .*$", re.MULTILINE)
_FRAMES = re.compile(rb"'frame_count': (\d+)")


# -- recording: one Python ----------------------------------------------------------------------------------------


def checksum_line(printed: bytes) -> bytes:
    """The `checksum ...` line a workload prints (peers such as pyttd print their own lines around it)."""
    found = _CHECKSUM.search(printed)
    return found.group(0) if found else b"(no checksum line)"


def command(case: br.Case, variant: br.Variant, size: int, out: Path, setup: br.Setup) -> list[str]:
    """bench_record's commands, plus VizTracer restricted to the workload file and pyttd."""
    script = str(br.WORKLOADS / case.workload.script)
    if variant.tool == "viztracer-include":
        cmd = br.command(case, VIZ, size, out, setup)
        at = cmd.index("-o")
        return cmd[:at] + ["--include_files", script] + cmd[at:]
    if variant.tool == "pyttd":
        for stale in out.parent.glob(out.name + "*"):
            stale.unlink()
        return [sys.executable, "-m", "pyttd", "record", "--db-path", str(out), script, "--args", str(size)]
    return br.command(case, variant, size, out, setup)


def count(variant: br.Variant, out: Path, printed: bytes, result: br.VariantResult) -> bool:
    """pyttd's events: the frame count it prints at exit; its bytes: its database and side files."""
    if variant.tool != "pyttd":
        return False
    found = _FRAMES.search(printed)
    result.events = int(found.group(1)) if found else None
    files = list(out.parent.glob(out.name + "*"))
    result.bytes = sum(f.stat().st_size for f in files)
    result.tracer = "pyttd"
    for f in files:
        if f != out:
            f.unlink()
    return True


HOOKS = br.Hooks(
    command=command, printed=checksum_line, suffixes={"viztracer-include": "json", "pyttd": "pyttd.db"}, count=count
)


def probe_pyttd() -> str | None:
    """Why pyttd cannot run with this Python, or None."""
    if sys.version_info < (3, 12):
        return "pyttd (py-tt-debug) has wheels for CPython 3.12+ only (`pip download py-tt-debug` finds none for 3.11): skipped"
    proc = subprocess.run([sys.executable, "-c", "import pyttd"], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return (
            "pyttd is not installed for this Python (`pip install -e .[bench]` installs py-tt-debug on 3.12+): skipped"
        )
    return None


def record_part(ns: argparse.Namespace, workdir: Path, log: Log) -> dict[str, Any]:
    """Every workload on sys.executable: the JSON-able results."""
    setup = br.decide(ns.levels, None if ns.no_peers else "cli", None, br.VIZTRACER_ENTRIES, workdir, log)
    if ns.smoke:
        setup.variants = [v for v in setup.variants if not v.locals_none]
    if not ns.no_peers and VIZ in setup.variants:
        setup.variants.append(VIZ_FILE)
    if starts_with_import_hook():
        setup.notes.append(
            "this Python's start imports setuptools' editable finder, plain runs included (about 10 ms here):"
            " install with `pip install -e '.[bench]' --config-settings editable_mode=compat` for ratios like a user's"
        )
    if not ns.no_peers:
        why = probe_pyttd()
        if why is None:
            setup.variants.append(PYTTD)
        else:
            setup.notes.append(why)
            log(f"suite: {why}")
    info = br.machine(workdir)
    cases = []
    for label in ns.workload or list(WORKLOADS):
        w = WORKLOADS[label]
        size = w.smoke if ns.smoke else w.workload.sizes[0]
        # The warm-up round fills the page cache, compiles the byte code and wakes the CPU's clocks: a tenth of
        # the size does that (its runs are not counted) in a tenth of the time.
        hooks = dataclasses.replace(
            HOOKS,
            timeouts={p.tool: ns.peer_timeout for p in PEERS},
            warmup=not (ns.smoke or ns.no_warmup),
            warmup_size=lambda size, smoke=w.smoke: max(smoke, size // WARMUP_DIVISOR),
            rounds={v.name: ns.reference_pairs for v in setup.variants if is_reference(v)},
            limit=peer_limit(ns.peer_limit, setup.variants),
        )
        log(f"suite: {sys.version.split()[0]} {label} ({w.workload.describe.format(n=f'{size:,}')})")
        res = br.run_case(br.Case(w.workload, pinned=False), size, ns.pairs, workdir, setup, log, hooks)
        cases.append({"workload": label, "size": size, "variants": [variant_json(res, v) for v in setup.variants]})
    return {"machine": info, "notes": setup.notes, "viztracer": setup.viztracer_version, "cases": cases}


def is_reference(variant: br.Variant) -> bool:
    """A variant no target's ratio is taken from: a peer, or chronodbg with `--locals none` (its bytes per event)."""
    return variant in PEERS or variant.locals_none


def peer_limit(
    factor: float, variants: list[br.Variant]
) -> Callable[[br.Variant, dict[str, br.Run]], float | None] | None:
    """A peer's run stops once it has taken `factor` times as long as chronodbg's run of its round at the level
    the targets compare it with (PEER_LEVEL; the slowest level run where that one was not), never before
    PEER_LIMIT_FLOOR seconds.

    A peer stopped there is at least `factor` times slower than chronodbg at that level, which settles the
    comparison, and a peer that takes minutes a run (VizTracer and pyttd on W3) does not take the suite's time.
    """
    if not factor:
        return None
    ours = {v.level: v.name for v in variants if v.tool == "chronodbg" and not v.locals_none}

    def limit(variant: br.Variant, this_round: dict[str, br.Run]) -> float | None:
        if variant not in PEERS:
            return None
        same = this_round.get(ours.get(PEER_LEVEL[variant.tool], ""))
        walls = [same.wall] if same else [this_round[name].wall for name in ours.values() if name in this_round]
        return max(PEER_LIMIT_FLOOR, factor * max(walls)) if walls else None

    return limit


def variant_json(res: br.CaseResult, variant: br.Variant) -> dict[str, Any]:
    v = res.variants[variant.name]
    row: dict[str, Any] = {"name": variant.name, "tool": variant.tool, "level": variant.level}
    row.update(locals_none=variant.locals_none, failed=v.failed, events=v.events, bytes=v.bytes, tracer=v.tracer)
    row.update(overflow=v.overflow, dropped=v.dropped, uncounted=v.uncounted)
    if v.failed or not v.runs:
        return row
    row["wall"] = v.median("wall")
    finished = [r.maxrss_kb for r in v.runs if not r.stopped]
    if finished:
        row["maxrss_mb"] = statistics.median(finished) / 1024
    if variant is not br.PLAIN:
        row["ratios"] = res.ratios(variant.name)
        row["cpu_ratios"] = res.ratios(variant.name, "cpu")
    stopped = [r for r in v.runs if r.stopped]
    if stopped:
        row["stopped"] = f"stopped at {stopped[0].wall:.1f} s in round {stopped[0].round}"
    return row


# -- pythons ------------------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "chronodbg-bench"


#: `pip install -e` as the suite's venvs need it: setuptools' default editable install puts an import hook in a
#: .pth file, and every start of that venv's Python, plain runs included, imports it (pathlib, re, urllib:
#: about 10 ms here), which made W1's plain run a fifth longer than a user's. "compat" is a path entry instead.
EDITABLE = ["-e", f"{REPO}[bench]", "--config-settings", "editable_mode=compat"]


def starts_with_import_hook(python: str | None = None) -> bool:
    """Whether this Python's start (or `python`'s) imported setuptools' editable finder (see EDITABLE)."""
    if python is None:
        return any(name.startswith("__editable___") for name in sys.modules)
    code = "import sys; sys.stdout.write(str(any(n.startswith('__editable___') for n in sys.modules)))"
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120, cwd=tempfile.gettempdir())
    return proc.stdout == "True"


def fit_to_measure(python: str) -> bool:
    """Whether `python` imports this checkout's chronodbg and the bench extra's VizTracer (from a neutral
    directory), with no editable finder imported at its start."""
    if starts_with_import_hook(python):
        return False
    code = "import chronodbg, sys, viztracer; sys.stdout.write(chronodbg.__file__)"
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120, cwd=tempfile.gettempdir())
    return proc.returncode == 0 and Path(proc.stdout).resolve().is_relative_to(REPO)


def pyenv_pythons(log: Log) -> Iterator[str]:
    """3.11, 3.12 and 3.13 from pyenv, each with this checkout installed: as it is, or in a venv of the suite's own."""
    try:
        found = subprocess.run(
            ["pyenv", "versions", "--bare"], capture_output=True, text=True, timeout=60
        ).stdout.split()
    except OSError as exc:
        raise SystemExit(f"suite: --all-pythons needs pyenv ({exc})") from None
    for minor in ("3.11", "3.12", "3.13"):
        versions = sorted(
            (v for v in found if re.fullmatch(re.escape(minor) + r"\.\d+", v)), key=lambda v: int(v.split(".")[2])
        )
        if not versions:
            log(f"suite: no pyenv CPython {minor}: skipped")
            continue
        version = versions[-1]
        prefix = subprocess.run(["pyenv", "prefix", version], capture_output=True, text=True, timeout=60).stdout.strip()
        python = str(Path(prefix) / "bin" / "python")
        if fit_to_measure(python):
            yield python
            continue
        if version == ".".join(map(str, sys.version_info[:3])) and fit_to_measure(sys.executable):
            yield sys.executable  # the venv running the suite is one already
            continue
        venv = cache_dir() / f"venv-{version}"
        if not (venv / "bin" / "python").exists():
            log(f"suite: making {venv} (`pip install {' '.join(EDITABLE)}`) for CPython {version}")
            subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=600)
        vpython = str(venv / "bin" / "python")
        if not fit_to_measure(vpython):
            pip = [vpython, "-m", "pip", "install", "-q", *EDITABLE]
            subprocess.run(pip, check=True, timeout=1800)
        yield vpython


def child_args(ns: argparse.Namespace) -> list[str]:
    """The options a child run for another Python gets: those that say what to record."""
    args = ["--pairs", str(ns.pairs), "--levels", ",".join(ns.levels), "--peer-timeout", str(ns.peer_timeout)]
    args += ["--reference-pairs", str(ns.reference_pairs), "--peer-limit", str(ns.peer_limit)]
    args += [a for label in ns.workload or () for a in ("--workload", label)]
    return args + ["--smoke"] * ns.smoke + ["--no-peers"] * ns.no_peers + ["--no-warmup"] * ns.no_warmup


def record_on(python: str, ns: argparse.Namespace, workdir: Path, log: Log) -> dict[str, Any]:
    if python == sys.executable:
        return record_part(ns, workdir, log)
    out = workdir / f"child-{abs(hash(python))}.json"
    cmd = [python, str(Path(__file__).resolve()), "--child-json", str(out), *child_args(ns)]
    proc = subprocess.run(cmd, timeout=br.RUN_TIMEOUT * 4)
    if proc.returncode != 0 or not out.exists():
        raise SystemExit(f"suite: the run on {python} exited {proc.returncode}")
    return dict(json.loads(out.read_text()))


# -- replay -------------------------------------------------------------------------------------------------------


def replay_part(sizes: list[int], tries: int, workdir: Path, log: Log) -> list[dict[str, Any]]:
    """Craft a recording of each size, then measure it in a fresh interpreter (bench_replay.py --measure)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    results = []
    for n in sizes:
        path = workdir / f"crafted-{n}.cgr"
        start = time.perf_counter()
        subprocess.run([sys.executable, str(HERE / "gen_recording.py"), str(path), str(n)], check=True, env=env)
        made = time.perf_counter() - start
        log(f"suite: replay on {n:,} crafted events ({path.stat().st_size:,} bytes, made in {made:.1f} s)")
        measure = [sys.executable, str(HERE / "bench_replay.py"), "--measure", str(path), "--tries", str(tries)]
        proc = subprocess.run(measure, capture_output=True, text=True, env=env, timeout=br.RUN_TIMEOUT * 2)
        path.unlink()
        if proc.returncode != 0:
            raise SystemExit(f"suite: replay measurement on {n:,} events failed:\n{proc.stderr}")
        results.append(dict(json.loads(proc.stdout)))
    return results


# -- report -------------------------------------------------------------------------------------------------------


def _ratio(row: dict[str, Any]) -> float | None:
    """The median ratio; for a row with a stopped run, a lower bound (a median never falls as a value rises)."""
    return float(statistics.median(row["ratios"])) if row.get("ratios") else None


def _timed_out_ratio(row: dict[str, Any], plain: dict[str, Any] | None) -> float | None:
    """A peer run killed at its time limit: that limit over the plain run's wall time (a lower bound), else None."""
    found = re.search(r"timed out after (\d+(?:\.\d+)?) s", row.get("failed") or "")
    if found is None or plain is None or not plain.get("wall"):
        return None
    return float(found.group(1)) / float(plain["wall"])


def _ratio_cell(row: dict[str, Any]) -> str:
    r = row.get("ratios")
    if row.get("failed"):
        return "failed (see notes)"
    if not r:
        return "–"
    if row.get("stopped"):
        return f"> {statistics.median(r):.1f}x ({row['stopped']})"
    if len(r) == 1:
        return f"{r[0]:.2f}x (one round)"
    return f"{statistics.median(r):.2f}x ({min(r):.2f}–{max(r):.2f})"


def record_table(run: dict[str, Any]) -> str:
    rows = [
        "| workload | variant | wall s | ratio: median (min–max) | CPU ratio | events | bytes/event | peak RSS MiB |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for case in run["cases"]:
        w = WORKLOADS[case["workload"]]
        n = f"{case['size']:,}"
        what = f"{w.label} {w.workload.describe.format(n=n)}"
        for i, row in enumerate(case["variants"]):
            cpu = f"{statistics.median(row['cpu_ratios']):.2f}x" if row.get("cpu_ratios") else "–"
            events = f"{row['events']:,}" if row.get("events") is not None else "–"
            if row.get("overflow"):
                events += " (buffer full)"
            per = f"{row['bytes'] / row['events']:.1f}" if row.get("events") and row.get("bytes") else "–"
            wall = ("> " if row.get("stopped") else "") + f"{row['wall']:.2f}" if "wall" in row else "–"
            rss = f"{row['maxrss_mb']:.0f}" if "maxrss_mb" in row else "–"
            rows.append(
                f"| {what if i == 0 else ''} | {row['name']} | {wall} | {_ratio_cell(row)} | {cpu} | {events} | {per} | {rss} |"
            )
    return "\n".join(rows)


def replay_table(results: list[dict[str, Any]]) -> str:
    def ms(r: dict[str, Any], key: str) -> str:
        p50, p99 = r[key]
        return f"{p50:.2f} / {p99:.2f}"

    measures: list[tuple[str, Any]] = [
        ("file MiB", lambda r: f"{r['file_mb']:.1f}"),
        (
            "open (read_log) + index, s",
            lambda r: f"{r['read_s'] + r['index_s']:.2f} ({r['read_s']:.2f} + {r['index_s']:.2f})",
        ),
        ("peak RSS after opening, MiB", lambda r: f"{r['peak_rss_mb']:.0f}"),
        ("goto random point + state, ms p50 / p99", lambda r: ms(r, "goto_ms")),
        ("step + state (focus all), ms p50 / p99", lambda r: ms(r, "step_all_ms")),
        ("back + state (focus all), ms p50 / p99", lambda r: ms(r, "back_all_ms")),
        ("step + state (focus thread 2), ms p50 / p99", lambda r: ms(r, "step_thread_ms")),
        ("back + state (focus thread 2), ms p50 / p99", lambda r: ms(r, "back_thread_ms")),
        ("`info locks` at a random point, ms p50 / p99", lambda r: ms(r, "info_locks_ms")),
        ("continue to `lock.acquire if i == N-1` (checks every acquire), s", lambda r: f"{r['continue_cond_s']:.2f}"),
        ("continue to `thread.end` (kind timeline), s", lambda r: f"{r['continue_kind_s']:.3f}"),
    ]
    head = "| measure | " + " | ".join(f"{r['events']:,} events" for r in results) + " |"
    rows = [head, "|---|" + "--:|" * len(results)]
    rows += [f"| {name} | " + " | ".join(cell(r) for r in results) + " |" for name, cell in measures]
    return "\n".join(rows)


def _rows(
    runs: list[dict[str, Any]], level_or_tool: str, labels: tuple[str, ...], new: bool | None
) -> Iterator[tuple[str, str, dict[str, Any], dict[str, dict[str, Any]]]]:
    """(python, workload, the variant's row, every row of that case by tool or level) for the chosen rows."""
    for run in runs:
        py = run["machine"]["python"]
        if new is not None and (tuple(int(x) for x in py.split(".")[:2]) >= (3, 12)) != new:
            continue
        for case in run["cases"]:
            if case["workload"] not in labels:
                continue
            by = {
                (row["level"] if row["tool"] == "chronodbg" and not row["locals_none"] else row["tool"]): row
                for row in case["variants"]
            }
            by.update({f"{row['level']}-nolocals": row for row in case["variants"] if row["locals_none"]})
            if level_or_tool in by:
                yield py, case["workload"], by[level_or_tool], by


def _verdict(checks: list[tuple[str, bool | None]]) -> tuple[str, str]:
    if not checks:
        return "not measured", ""
    known = [ok for _, ok in checks if ok is not None]
    verdict = "not measured" if not known else ("met" if all(known) else "missed")
    return verdict, "; ".join(text for text, _ in checks)


def targets(runs: list[dict[str, Any]], replay: list[dict[str, Any]]) -> str:
    rows = ["| measure | target | measured | verdict |", "|---|---|---|---|"]

    def add(measure: str, target: str, checks: list[tuple[str, bool | None]]) -> None:
        verdict, text = _verdict(checks)
        rows.append(f"| {measure} | {target} | {text or '–'} | {verdict} |")

    def ratio_checks(
        level: str, labels: tuple[str, ...], new: bool | None, limit: float | None, peer: str | None
    ) -> list[tuple[str, bool | None]]:
        checks: list[tuple[str, bool | None]] = []
        for py, label, row, by in _rows(runs, level, labels, new):
            r = _ratio(row)
            other = _ratio(by[peer]) if peer and peer in by else None
            if r is None:
                checks.append((f"{py} {label}: failed", False))
                continue
            ok = (limit is None or r <= limit) and (peer is None or (other is not None and r < other))
            text = f"{py} {label} {r:.2f}x" + (
                f" vs {other:.2f}x" if other is not None else (" (peer not run)" if peer else "")
            )
            if peer and other is not None and by[peer].get("stopped"):
                # A stopped peer's ratio is a lower bound: below it settles "below the peer", above it nothing.
                text = f"{py} {label} {r:.2f}x vs > {other:.1f}x (stopped)"
                checks.append((text, ok if r < other else (False if limit is not None and r > limit else None)))
                continue
            if peer and other is None and peer in by:
                # A peer killed at its time limit ran at least that long: a lower bound on its ratio.
                bound = _timed_out_ratio(by[peer], by.get("plain"))
                if bound is not None:
                    ok = (limit is None or r <= limit) and r < bound
                    text = f"{py} {label} {r:.2f}x vs > {bound:.0f}x (timed out)"
                    checks.append((text, ok))
                    continue
            checks.append((text, ok if (peer is None or other is not None) else None))
        return checks

    add("sync level, W1–W3, 3.11 and 3.12+", "≤ 1.3x plain", ratio_checks("sync", ("W1", "W2", "W3"), None, 1.3, None))
    add("calls level, W1–W4, 3.12+", "≤ 2.5x plain, and below VizTracer restricted",
        ratio_checks("calls", ("W1", "W2", "W3", "W4"), True, 2.5, "viztracer-include"))  # fmt: skip
    add("calls level, 3.11", "below VizTracer restricted to the same files",
        ratio_checks("calls", ("W1", "W2", "W3", "W4"), False, None, "viztracer-include"))  # fmt: skip
    add("lines level, W4", "≤ pyttd on the same run", [
        (t.replace(" vs ", " vs pyttd "), ok) for t, ok in ratio_checks("lines", ("W4",), True, None, "pyttd")
    ])  # fmt: skip
    per_event = []
    for py, label, row, _ in _rows(runs, "sync-nolocals", tuple(WORKLOADS), None):
        if (row.get("events") or 0) >= 10_000 and row.get("bytes"):  # below that, the header and defs dominate
            value = row["bytes"] / row["events"]
            per_event.append((f"{py} {label} {value:.1f}", value <= 40))
    add("bytes per event without locals (sync `--locals none`)", "≤ 40", per_event)
    small = [r for r in replay if r["events"] == 1_000_000]
    big = [r for r in replay if r["events"] == 10_000_000]
    for r in small:
        opened = r["read_s"] + r["index_s"]
        add(
            "open+index 1M events",
            "≤ 3 s, ≤ 500 MB",
            [(f"{opened:.2f} s, {r['peak_rss_mb']:.0f} MiB", opened <= 3 and r["peak_rss_mb"] <= 500 / 1.048576)],
        )
        p50, p99 = r["goto_ms"]
        add(
            "goto random point, 1M events",
            "p50 ≤ 5 ms, p99 ≤ 30 ms",
            [(f"p50 {p50:.2f} ms, p99 {p99:.2f} ms", p50 <= 5 and p99 <= 30)],
        )
        steps = [r[k][0] for k in ("step_all_ms", "back_all_ms", "step_thread_ms", "back_thread_ms")]
        add(
            "step / back, 1M events",
            "p50 ≤ 1 ms",
            [("p50 " + " / ".join(f"{s:.2f}" for s in steps) + " ms (step, back; all, thread)", max(steps) <= 1)],
        )
        add(
            "continue over 1M events to a late breakpoint",
            "≤ 1 s",
            [(f"{r['continue_cond_s']:.2f} s (condition on every acquire)", r["continue_cond_s"] <= 1)],
        )
    if not small:
        add("replay on 1M events", "(several targets)", [])
    for r in big:
        add(
            "10M events",
            "opens and navigates with memory ≤ 2 GB",
            [
                (
                    f"peak {r['peak_rss_mb']:.0f} MiB, open+index {r['read_s'] + r['index_s']:.0f} s, goto p50 {r['goto_ms'][0]:.1f} ms",
                    r["peak_rss_mb"] <= 2000 / 1.048576,
                )
            ],
        )
    if not big:
        add("10M events", "opens and navigates with memory ≤ 2 GB", [])
    return "\n".join(rows)


ABOUT = """\
`python replay_tests/benchmarks/suite.py --all-pythons` is one command for what issue 8 asks: the five pinned
workloads (replay_tests/benchmarks/workloads/: W1 locks.py, W2 queues.py, W3 w3_aio.py, W4 w4_calls.py, W5
w5_mixed.py), each run plain, recorded by chronodbg at `--level sync` (also with `--locals none`, for bytes per event
without locals), `calls` and `lines`, and recorded by the peers: VizTracer as a user runs it (`python -m viztracer`),
VizTracer restricted to the workload file (`--include_files`), and pyttd (`python -m pyttd record`, CPython 3.12+);
on CPython 3.11, 3.12 and 3.13; then replay on crafted recordings of 1M and 10M events. From a clean clone, with
its extras:

```sh
python3 -m venv .venv-bench && .venv-bench/bin/pip install -e '.[bench]' --config-settings editable_mode=compat && .venv-bench/bin/python replay_tests/benchmarks/suite.py --all-pythons
```

`editable_mode=compat` matters: setuptools' default editable install adds an import hook that every start of the
venv's Python imports, plain runs included (pathlib, re, urllib: about 10 ms here), which made W1's plain run a
fifth longer than a user's and its ratio a fifth lower (3.68x against 4.39x side by side, 3.12). The suite's own
venvs are made that way, it does not record on a Python whose start imports the hook under `--all-pythons`, and it
says so in the notes of a `--python` that does.

- Rounds: a warm-up round at a tenth of the size, then `--pairs` counted ones (5 by default). Plain and chronodbg at
  each level run in every round, one after the other; a ratio is variant / plain of the same round, so machine load
  hits both sides alike, and the table gives the median and the spread over the rounds. Every variant must print
  the plain run's `checksum` line. Peak RSS is the child's ru_maxrss.
- The peers and chronodbg's `--locals none` run in the first counted round only (`--reference-pairs`, default 1):
  no target is their ratio itself. The targets compare chronodbg's ratios with the peers', and bytes per event do
  not change between rounds.
- A peer's run is stopped once it has taken 1.5 times as long (`--peer-limit`, default 1.5) as chronodbg's run of the
  same round at the level the targets compare it with: `--level calls` for VizTracer (both ways), `--level lines`
  for pyttd; never before 2 s. Its row then shows a lower bound ("> 7.7x (stopped at 9.4 s in round 1)"), and
  its events are not counted (it was killed before it wrote them). A peer stopped there is at least 1.5 times as slow
  as chronodbg at that level, which settles the comparison the targets make. Without the limit, VizTracer took
  about 2 minutes a run on W3 here, and pyttd more than 2 on W3–W5: the suite took over an hour.
  `--peer-limit 0 --reference-pairs 5` measures them in full.
- Replay: recordings of 1M and 10M events are crafted with the LogWriter (gen_recording.py, a few seconds) and
  measured in a fresh interpreter by bench_replay.py's code (`--replay-sizes`, default 1e6,1e7).
- `--smoke`: tiny sizes, one round and no warm-up, 20k-event replay: about a minute; fails only on crashes and
  wrong checksums (replay_tests/test_bench_smoke.py runs it in the test suite).
- `--all-pythons` takes 3.11, 3.12 and 3.13 from `pyenv versions --bare`; a pyenv Python that does not import this
  checkout (and VizTracer) without the hook gets a venv of the suite's own under `~/.cache/chronodbg-bench/venv-X.Y.Z`,
  made once and reused, unless the Python running the suite is that version and fits. Without it the suite records on the Python that runs it; `--python PATH` (repeatable)
  names others, each of which must import this checkout's chronodbg (`pip install -e '.[bench]' --config-settings
  editable_mode=compat` in its venv).
- Peers come from the `bench` extra: viztracer, and py-tt-debug where `python_version >= "3.12"` (its wheels are
  for CPython 3.12+; `pip download py-tt-debug` finds nothing for 3.11). A peer that is missing or fails is skipped
  or dropped with its reason in the notes; it never fails the run.
- How long, here on 2026-11-28 (fifteenth pass): the command above took 13.0 minutes from a clean clone, with
  `~/.cache/chronodbg-bench` deleted first (12.9 the suite itself, of which making the venvs of 3.12 and 3.13 0.3,
  the runs 11.6: chronodbg's 8.9, the peers' 2.0; replay 0.7). Five runs before it that day, in venvs with the
  editable import hook and two of them with a looser peer limit, took 13.8 to 15.0 minutes (docs/performance.md,
  fifteenth pass): the recorder's own runs were up to a fifth slower in one hour than in the next here, which is
  about the margin left under 15 minutes.
- `--pairs N`, `--levels`, `--workload`, `--no-peers` and `--no-warmup` trade coverage and precision for time;
  `--json PATH` keeps the results and `--report-json PATH [--write-docs]` prints (and writes) the tables from them
  again. The results behind the tables below are kept in `docs/suite-results.json`.
- `--write-docs` replaces this section. The workloads are sized by the issue's event counts (W1–W3), not by seconds;
  W4 (24 rounds, 2.16M calls) and W5 (10,000 jobs) are sized to keep the calls and lines levels within minutes.
- VizTracer `--include_files FILE` (1.1.1) does not trace a function of FILE that runs below a frame of another
  file: it records the call chains that stay in FILE from its `<module>` down. The workers of W1, W2, W3 and W5 run
  below `threading`'s, `asyncio`'s or `concurrent.futures`' frames, so there it records a handful of entries (the
  events column says how many) and its ratio is that of a tracer that records almost nothing; only on W4 does it trace
  the workload's calls. The issue's "below VizTracer restricted" targets are checked against it as it is.
- pyttd: py-tt-debug 0.8.0 installs from its manylinux wheels on CPython 3.12 and 3.13, runs as
  `python -m pyttd record --db-path OUT.pyttd.db workload.py --args N` (the script before `--args`, which takes the
  rest), and prints `Recording complete: {'frame_count': N, ...}` on stdout: its events are that frame count (one
  per line, call and return it records), its bytes the SQLite database. Seen here: on threaded workloads it exits 1
  now and then at the end with `sqlite3.DatabaseError: file is not a database` (also with `--checkpoint-interval 0`),
  which drops it for that workload; on W3 (asyncio) it ran for minutes on 2,000 messages.
- Not done here: the pinned-to-one-CPU runs of the lock workload (bench_record.py has them)."""


class How(NamedTuple):
    """How a run was made and how long it took (None where an older --json run did not say)."""

    seconds: dict[str, float] | None
    command: list[str] | None
    reference_pairs: int | None
    peer_limit: float | None

    def lines(self) -> list[str]:
        out = []
        if self.command:
            out.append(f"- command: `{' '.join(self.command)}`")
        if self.reference_pairs is not None:
            limit = (
                f"; a peer's run stopped at {self.peer_limit:g}x chronodbg's run of its round at the level it is"
                f" compared with (calls for VizTracer, lines for pyttd; at least {PEER_LIMIT_FLOOR:.0f} s), its ratio"
                " then a lower bound"
                if self.peer_limit
                else "; no limit on a peer's run but --peer-timeout"
            )
            out.append(f"- the peers and `--locals none`: {self.reference_pairs} counted round(s){limit}")
        if self.seconds:
            parts = ", ".join(
                f"{name} {value / 60:.1f}" for name, value in self.seconds.items() if name not in ("setup", "total")
            )
            out.append(
                f"- took {self.seconds['total'] / 60:.1f} minutes: finding the Pythons (and making their venvs)"
                f" {self.seconds['setup'] / 60:.1f}, {parts}"
            )
        return out


def section(
    runs: list[dict[str, Any]],
    replay: list[dict[str, Any]],
    pairs: int,
    warmup: bool,
    started: str,
    ended: str,
    took: How | None = None,
) -> str:
    first = runs[0]["machine"] if runs else {}
    lines = [f"<!-- bench_record: {KEY} -->", f"## {KEY}", "", ABOUT, "", "### Results", ""]
    lines += [
        f"- date: {first.get('date', '?')}",
        f"- machine: {first.get('cpu', '?')}, nproc {first.get('nproc', '?')}, {first.get('kernel', '?')}; load average"
        f" {started} at start, {ended} at end; ran at {first.get('priority', '?')}",
        f"- Pythons: {', '.join(r['machine']['python'] + ' (`' + r['machine']['executable'] + '`)' for r in runs) or 'none'}",
        f"- chronodbg: {first.get('chronodbg', '?')}",
        f"- {pairs} counted round{'s' if pairs != 1 else ''}"
        + (" after a warm-up round (at a tenth of the size)" if warmup else ", no warm-up round (`--no-warmup`)")
        + "; medians over them",
    ]
    lines += took.lines() if took else []
    for run in runs:
        lines += [f"- {run['machine']['python']}: {note}" for note in run["notes"]]
        lines += [
            f"- {run['machine']['python']} {case['workload']} {row['name']}: FAILED {row['failed']}"
            for case in run["cases"]
            for row in case["variants"]
            if row.get("failed")
        ]
    lines += ["", "Targets of issue 8:", "", targets(runs, replay), ""]
    for run in runs:
        lines += [f"#### Recording, CPython {run['machine']['python']}", "", record_table(run), ""]
    if replay:
        lines += ["#### Replay (crafted recordings)", "", replay_table(replay), ""]
    lines.append(f"<!-- /bench_record: {KEY} -->")
    return "\n".join(lines) + "\n"


def write_docs(text: str) -> None:
    """Replace the suite's section of docs/performance.md, or add it at the end (not among bench_record's)."""
    doc = br.DOCS.read_text()
    begin = f"<!-- bench_record: {KEY} -->"
    if begin not in doc:
        br.DOCS.write_text(doc.rstrip("\n") + f"\n\n{begin}\n<!-- /bench_record: {KEY} -->\n")
    br.write_docs(text, KEY)


def chronodbg_failures(runs: list[dict[str, Any]]) -> list[str]:
    return [
        f"{run['machine']['python']} {case['workload']} {row['name']}: {row['failed']}"
        for run in runs
        for case in run["cases"]
        for row in case["variants"]
        if row.get("failed") and row["tool"] in ("chronodbg", "plain")
    ]


def parse_sizes(text: str) -> list[int]:
    try:
        return [int(float(part)) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("sizes are comma-separated event counts, e.g. 1e6,1e7") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    flag, option = {"action": "store_true"}, {"default": None}
    for name, kwargs, text in (
        ("--pairs", {"type": int, **option}, "counted rounds after the warm-up (default 5; 1 with --smoke)"),
        ("--smoke", flag, "everything tiny, < 1 minute; fails only on crashes"),
        ("--python", {"action": "append", "metavar": "PATH"}, "record on this Python (repeatable)"),
        ("--all-pythons", flag, "record on 3.11, 3.12 and 3.13 from pyenv"),
        ("--workload", {"choices": sorted(WORKLOADS), "action": "append"}, "only this workload (repeatable)"),
        ("--levels", {"type": br.parse_levels, "default": list(br.LEVELS)}, "chronodbg levels (default all three)"),
        ("--no-peers", flag, "no VizTracer, no pyttd"),
        ("--no-warmup", flag, "no warm-up round (to fit a slow workload in the time there is; the docs say so)"),
        ("--peer-timeout", {"type": float, **option}, "seconds before a peer's run is killed and the peer dropped"
         " for that workload (default 300; 15 with --smoke)"),
        ("--peer-limit", {"type": float, "default": 1.5}, "stop a peer's run once it has taken this many times"
         f" as long as chronodbg's run of its round at the level it is compared with (calls for VizTracer, lines"
         f" for pyttd; at least {PEER_LIMIT_FLOOR:.0f} s), keeping that"
         " as a lower bound (default 1.5; 0: no limit)"),
        ("--reference-pairs", {"type": int, **option}, "counted rounds the peers and `--locals none` run in"
         " (default 1; no target takes a ratio from them)"),
        ("--no-record", flag, "skip the recording part"),
        ("--replay-sizes", {"type": parse_sizes, **option}, "crafted recordings to replay"
         " (default 1e6,1e7; 2e4 with --smoke; '' for none)"),
        ("--tries", {"type": int, "default": 1000}, "random points for goto and step/back (default 1000)"),
        ("--write-docs", flag, f"write the section {KEY!r} of docs/performance.md"),
        ("--json", {"metavar": "PATH"}, "also write the results as JSON"),
        ("--report-json", {"metavar": "PATH"}, "print (and --write-docs) the results of a --json run"),
        ("--child-json", {"metavar": "PATH"}, argparse.SUPPRESS),
    ):  # fmt: skip
        parser.add_argument(name, help=text, **kwargs)
    ns = parser.parse_args(argv)
    ns.pairs = ns.pairs if ns.pairs is not None else (1 if ns.smoke else 5)  # --smoke: and no warm-up round
    if ns.pairs < 1:
        parser.error("--pairs must be at least 1")
    if ns.smoke and ns.write_docs:
        parser.error("--smoke numbers are not measurements; do not --write-docs them")
    ns.peer_timeout = ns.peer_timeout or (15.0 if ns.smoke else 300.0)
    ns.reference_pairs = min(ns.pairs, ns.reference_pairs if ns.reference_pairs is not None else 1)
    if ns.reference_pairs < 1:
        parser.error("--reference-pairs must be at least 1")
    sizes = ns.replay_sizes if ns.replay_sizes is not None else ([20_000] if ns.smoke else [1_000_000, 10_000_000])
    tries = 100 if ns.smoke else ns.tries

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    start = time.perf_counter()
    if ns.report_json:  # render the results of an earlier --json run again
        data = json.loads(Path(ns.report_json).read_text())
        runs, replay, started, ended = data["runs"], data["replay"], data["load_start"], data["load_end"]
        ns.pairs, ns.no_warmup = data["pairs"], data.get("no_warmup", False)
        took = How(data.get("seconds"), data.get("command"), data.get("reference_pairs"), data.get("peer_limit"))
    else:
        with tempfile.TemporaryDirectory(prefix="chronodbg-suite-") as tmp:
            workdir = Path(tmp)
            if ns.child_json:
                Path(ns.child_json).write_text(json.dumps(record_part(ns, workdir, log)))
                return 0
            started = br.loadavg()
            pythons = list(ns.python or [])
            if ns.all_pythons:
                pythons += list(pyenv_pythons(log))
            seconds: dict[str, float] = {"setup": time.perf_counter() - start}
            runs = []
            for py in [] if ns.no_record else pythons or [sys.executable]:
                began = time.perf_counter()
                runs.append(record_on(py, ns, workdir, log))
                seconds[runs[-1]["machine"]["python"]] = time.perf_counter() - began
            began = time.perf_counter()
            replay = replay_part(sizes, tries, workdir, log)
            seconds["replay"] = time.perf_counter() - began
            seconds["total"] = time.perf_counter() - start
        ended = br.loadavg()
        if ns.json:
            data = {
                "runs": runs,
                "replay": replay,
                "load_start": started,
                "load_end": ended,
                "pairs": ns.pairs,
                "no_warmup": ns.no_warmup,
                "reference_pairs": ns.reference_pairs,
                "peer_limit": ns.peer_limit,
                "seconds": seconds,
                "command": ["suite.py", *(argv if argv is not None else sys.argv[1:])],
            }
            Path(ns.json).write_text(json.dumps(data, indent=1) + "\n")
    if not ns.report_json:
        took = How(seconds, ["suite.py", *(argv if argv is not None else sys.argv[1:])], ns.reference_pairs, ns.peer_limit)
    text = section(runs, replay, ns.pairs, not ns.no_warmup, started, ended, took)
    print(text)
    log(f"suite: done in {time.perf_counter() - start:.0f} s")
    failures = chronodbg_failures(runs)
    for failure in failures:
        log(f"suite: FAILED {failure}")
    if ns.write_docs and not failures:
        write_docs(text)
        log(f"suite: wrote {KEY!r} into {br.DOCS}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
