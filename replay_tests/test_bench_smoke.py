"""The benchmark suite's smoke mode runs in the test suite: every workload, level, peer and the replay part, tiny.

It fails only on crashes: a chronodbg variant that fails or prints another
checksum than the plain run, or a part of the suite that raises. Speed is
never checked here (see docs/performance.md, "The benchmark suite (issue 8)").
Peers that cannot install or run on this Python are skipped with the reason
the suite prints, which this test shows on failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import msgpack
import pytest

from chronodbg.logfile import format as F
from replay_tests.benchmarks.bench_record import footer_info
from replay_tests.conftest import PROGRAMS, chronodbg, record

SUITE = Path(__file__).resolve().parent / "benchmarks" / "suite.py"


def test_suite_smoke(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    proc = subprocess.run(
        [sys.executable, str(SUITE), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-4000:]
    assert "## The benchmark suite (issue 8)" in proc.stdout
    assert out.exists()


def _case(workload: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    base = {"level": None, "locals_none": False, "failed": None, "ratios": None, "wall": None}
    return {"workload": workload, "variants": [{**base, **row} for row in rows]}


def test_a_peer_that_timed_out_counts_as_at_least_its_time_limit() -> None:
    """A peer killed at its limit bounds its ratio from below: the verdict compares with that bound, never guesses."""
    sys.path.insert(0, str(SUITE.parents[2]))
    from replay_tests.benchmarks import suite

    plain = {"name": "plain", "tool": "plain", "wall": 0.1}
    lines = {"name": "`--level lines`", "tool": "chronodbg", "level": "lines", "ratios": [150.0, 160.0, 170.0]}
    slow = {"name": "pyttd", "tool": "pyttd", "failed": "round 1: timed out after 120 s"}
    broken = {"name": "pyttd", "tool": "pyttd", "failed": "round 1: exit status 1"}
    runs = [
        {"machine": {"python": "3.12.1"}, "cases": [_case("W4", [plain, lines, slow])]},
        {"machine": {"python": "3.13.0"}, "cases": [_case("W4", [plain, lines, broken])]},
    ]
    row = next(line for line in suite.targets(runs, []).splitlines() if line.startswith("| lines level, W4"))
    assert "3.12.1 W4 160.00x vs pyttd > 1200x (timed out)" in row and "3.13.0 W4 160.00x (peer not run)" in row
    assert row.endswith("| met |")
    faster = {**lines, "ratios": [1300.0]}
    runs[0]["cases"] = [_case("W4", [plain, faster, slow])]
    row = next(line for line in suite.targets(runs[:1], []).splitlines() if line.startswith("| lines level, W4"))
    assert "1300.00x vs pyttd > 1200x (timed out)" in row and row.endswith("| missed |")


def test_the_suite_counts_a_finished_recording_from_its_footer(tmp_path: Path) -> None:
    """footer_info says what `chronodbg info` says of a finished recording; a file cut short or a bad index is not trusted."""
    run = record(tmp_path, PROGRAMS / "aio_prodcons.py", options=("--level", "calls"))
    assert run.returncode == 0, run.stderr.decode()
    info = json.loads(chronodbg("info", str(run.path), "--json").stdout)
    quick = footer_info(run.path)
    assert quick is not None and quick["events"] == info["events"] > 100
    same = ("complete", "dropped", "tracer", "options")
    assert {k: quick[k] for k in same} == {k: info[k] for k in same}
    data = run.path.read_bytes()
    cut = tmp_path / "cut.cgr"
    cut.write_bytes(data[: len(data) // 2])
    assert footer_info(cut) is None, "no trailer: the suite reads it all (chronodbg info)"
    # A footer whose index names a byte where no chunk starts.
    at, _ = F.TRAILER.unpack_from(data, len(data) - F.TRAILER.size)
    _tag, length, _crc = F.FRAME.unpack_from(data, at)
    footer = msgpack.unpackb(data[at + F.FRAME.size : at + F.FRAME.size + length], raw=False)
    footer["chunks"][0][0] += 1
    body = msgpack.packb(footer)
    bad = tmp_path / "bad.cgr"
    bad.write_bytes(
        data[:at] + F.FRAME.pack(F.TAG_FOOTER, len(body), zlib.crc32(body)) + body + F.TRAILER.pack(at, F.TRAILER_TAG)
    )
    with pytest.raises(ValueError):
        footer_info(bad)


def test_the_warm_up_round_runs_at_its_own_size_and_is_not_counted(tmp_path: Path) -> None:
    """The suite warms up at a tenth of each workload's size (suite.WARMUP_DIVISOR); the counted rounds run in full."""
    sys.path.insert(0, str(SUITE.parents[2]))
    import dataclasses
    import os

    from replay_tests.benchmarks import bench_record as br
    from replay_tests.benchmarks import suite

    asked: list[int] = []

    def command(case: Any, variant: Any, size: int, out: Path, setup: Any) -> list[str]:
        asked.append(size)
        return [sys.executable, "-c", f"print('checksum', {size})"]

    w = suite.WORKLOADS["W1"]
    setup = br.Setup([br.PLAIN], True, dict(os.environ), None, 0)
    hooks = dataclasses.replace(br.Hooks(), command=command, warmup_size=lambda size: size // suite.WARMUP_DIVISOR)
    result = br.run_case(br.Case(w.workload, pinned=False), 20_000, 2, tmp_path, setup, lambda text: None, hooks)
    assert asked == [2_000, 20_000, 20_000]
    assert len(result.variants["plain"].runs) == 2


def test_a_peer_runs_in_its_own_rounds_and_a_run_past_its_limit_is_kept_as_a_lower_bound(tmp_path: Path) -> None:
    """Peers run in the first --reference-pairs counted rounds, no warm-up; one that outruns its limit is stopped
    there, kept as a lower bound (not dropped), and not run again."""
    sys.path.insert(0, str(SUITE.parents[2]))
    import dataclasses
    import os

    from replay_tests.benchmarks import bench_record as br
    from replay_tests.benchmarks import suite

    ran: list[tuple[str, int]] = []
    ours = br.Variant("`--level sync`", "chronodbg", level="sync")
    quick = dataclasses.replace(suite.PYTTD, name="quick peer")

    def command(case: Any, variant: Any, size: int, out: Path, setup: Any) -> list[str]:
        ran.append((variant.name, size))
        if variant is suite.VIZ:  # never finishes: only its limit ends it
            return [sys.executable, "-c", "import threading; threading.Event().wait()"]
        return [sys.executable, "-c", f"open({str(out)!r}, 'w').close(); print('checksum 1')"]

    w = suite.WORKLOADS["W1"]
    setup = br.Setup([br.PLAIN, ours, suite.VIZ, quick], True, dict(os.environ), None, 0)
    limits: dict[str, set[str]] = {}

    def limit(variant: br.Variant, this_round: dict[str, br.Run]) -> float | None:
        limits.setdefault(variant.name, set(this_round))
        return 0.5 if variant is suite.VIZ else None

    hooks = dataclasses.replace(
        br.Hooks(),
        command=command,
        printed=suite.checksum_line,
        warmup_size=lambda size: size // 10,
        rounds={suite.VIZ.name: 2, quick.name: 1},
        limit=limit,
        suffixes=suite.HOOKS.suffixes,
        count=lambda *args: True,
    )
    result = br.run_case(br.Case(w.workload, pinned=False), 100, 3, tmp_path, setup, lambda text: None, hooks)
    assert ran == [
        ("plain", 10), ("`--level sync`", 10),
        ("plain", 100), ("`--level sync`", 100), ("VizTracer", 100), ("quick peer", 100),
        ("plain", 100), ("`--level sync`", 100),
        ("plain", 100), ("`--level sync`", 100),
    ]  # fmt: skip
    assert limits[suite.VIZ.name] == {"plain", "`--level sync`"}, "a limit sees the runs of its round before it"
    viz = result.variants[suite.VIZ.name]
    assert viz.failed is None and [(r.round, r.wall, r.stopped) for r in viz.runs] == [(1, 0.5, True)]
    assert [r.round for r in result.variants[quick.name].runs] == [1]
    assert len(result.ratios(suite.VIZ.name)) == 1 and result.ratios(suite.VIZ.name, "cpu") == []
    row = suite.variant_json(result, suite.VIZ)
    assert row["stopped"] == "stopped at 0.5 s in round 1" and "maxrss_mb" not in row
    assert suite._ratio_cell(row).startswith("> ")


def test_a_stopped_peer_settles_a_comparison_only_from_below() -> None:
    """A peer stopped at its limit ran at least that long: chronodbg below that bound is below the peer;
    above it, the comparison is unknown, unless chronodbg's own limit already says missed."""
    sys.path.insert(0, str(SUITE.parents[2]))
    from replay_tests.benchmarks import suite

    plain = {"name": "plain", "tool": "plain", "wall": 0.1}
    lines = {"name": "`--level lines`", "tool": "chronodbg", "level": "lines", "ratios": [28.0, 29.0, 30.0]}
    peer = {"name": "pyttd", "tool": "pyttd", "ratios": [60.0], "stopped": "stopped at 6.0 s in round 1"}
    runs = [{"machine": {"python": "3.12.1"}, "cases": [_case("W4", [plain, lines, peer])]}]
    row = next(line for line in suite.targets(runs, []).splitlines() if line.startswith("| lines level, W4"))
    assert "3.12.1 W4 29.00x vs pyttd > 60.0x (stopped)" in row and row.endswith("| met |")
    runs[0]["cases"] = [_case("W4", [plain, {**lines, "ratios": [70.0]}, peer])]
    row = next(line for line in suite.targets(runs, []).splitlines() if line.startswith("| lines level, W4"))
    assert row.endswith("| not measured |")
    calls = {"name": "`--level calls`", "tool": "chronodbg", "level": "calls", "ratios": [3.0]}
    viz = {"name": "VizTracer --include_files", "tool": "viztracer-include", "ratios": [2.0], "stopped": "s"}
    runs[0]["cases"] = [_case("W1", [plain, calls, viz])]
    row = next(line for line in suite.targets(runs, []).splitlines() if line.startswith("| calls level, W1–W4, 3.12+"))
    assert "vs > 2.0x (stopped)" in row and row.endswith("| missed |"), "3.0x is over the 2.5x target either way"


def test_a_peer_s_limit_follows_chronodbg_at_the_level_it_is_compared_with() -> None:
    """VizTracer's runs are stopped at a multiple of chronodbg's `--level calls` run of the round, pyttd's of
    `--level lines`; never below the floor; the slowest level where the peer's own was not run; none for chronodbg."""
    sys.path.insert(0, str(SUITE.parents[2]))
    from replay_tests.benchmarks import bench_record as br
    from replay_tests.benchmarks import suite

    levels = [br.Variant(f"`--level {lv}`", "chronodbg", level=lv) for lv in ("sync", "calls", "lines")]
    none = br.Variant("`--level sync` `--locals none`", "chronodbg", level="sync", locals_none=True)
    variants = [br.PLAIN, *levels, none, *suite.PEERS]
    walls = {"plain": 1.0, "`--level sync`": 4.0, "`--level calls`": 6.0, "`--level lines`": 8.0, none.name: 30.0}
    this_round = {name: br.Run(wall, 0.0, 0.0, 0) for name, wall in walls.items()}
    limit = suite.peer_limit(2.0, variants)
    assert limit is not None and suite.peer_limit(0.0, variants) is None
    assert [limit(v, this_round) for v in suite.PEERS] == [12.0, 12.0, 16.0]
    assert limit(levels[1], this_round) is None and limit(br.PLAIN, this_round) is None
    quick = {name: br.Run(0.5, 0.0, 0.0, 0) for name in walls}
    assert limit(suite.VIZ, quick) == suite.PEER_LIMIT_FLOOR
    sync_only = suite.peer_limit(2.0, [br.PLAIN, levels[0], *suite.PEERS])
    assert sync_only is not None and sync_only(suite.PYTTD, this_round) == 8.0


def test_the_suite_does_not_measure_on_a_python_whose_start_imports_an_editable_hook(tmp_path: Path) -> None:
    """setuptools' default editable install makes every start of the venv's Python, plain runs included, import its
    finder; the suite takes such a Python as unfit and says why in a --python run's notes."""
    sys.path.insert(0, str(SUITE.parents[2]))
    from replay_tests.benchmarks import suite

    def python_with(site: Path) -> str:
        fake = tmp_path / f"python-{site.name}"
        run = "import site, sys; site.addsitedir(sys.argv.pop(1)); exec(sys.argv[2])"
        fake.write_text(f"#!/bin/sh\nexec {sys.executable} -S -c '{run}' {site} \"$@\"\n")
        fake.chmod(0o755)
        return str(fake)

    hooked, plain = tmp_path / "hooked", tmp_path / "plain"
    for site in (hooked, plain):
        site.mkdir()
    (hooked / "__editable___demo_finder.py").write_text("")
    (hooked / "hook.pth").write_text("import __editable___demo_finder\n")
    assert suite.starts_with_import_hook(python_with(hooked)), "the .pth imports the finder at every start"
    assert not suite.starts_with_import_hook(python_with(plain))
    assert not suite.fit_to_measure(python_with(hooked))
    assert suite.starts_with_import_hook() == any(m.startswith("__editable___") for m in sys.modules)
    assert "editable_mode=compat" in " ".join(suite.EDITABLE)
