"""`chronodbg export --format perfetto`: the Chrome Trace Event JSON is well formed, renders, and pins its shape.

`check_trace` holds what Perfetto UI and chrome://tracing need: named tracks,
per-track time order, slices that nest, and one flow per causal link whose two
ends sit on a slice exactly at the linked events. Regenerate the gold file with
CHRONODBG_REGOLD=1 after a deliberate change of the export's shape.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from chronodbg.analysis.perfetto import owner_label, perfetto_trace, to_json_text, track_of
from chronodbg.kinds import FIELDS, NAMES
from chronodbg.logfile import read_log
from chronodbg.logfile.reader import Event, ObjectInfo, Recording, Site, TaskInfo, ThreadInfo
from chronodbg.replay.index import Index
from chronodbg.replay.links import Links
from replay_tests.conftest import PROGRAMS, chronodbg, record

ROOT = Path(__file__).parent.parent
SAMPLES = ROOT / "recordings" / "samples"
GOLD = Path(__file__).parent / "gold" / "two_locks.perfetto.json"
REGOLD = os.environ.get("CHRONODBG_REGOLD") == "1"

Track = tuple[int, int]


def ns(us: float) -> int:
    """Microseconds back to nanoseconds, rounded as Perfetto does."""
    return round(us * 1000)


def reject(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def check_trace(trace: dict[str, Any], index: Index | Recording) -> dict[Track, str]:
    """Assert what a viewer needs; return the track names."""
    rec, links = (index.rec, index.links) if isinstance(index, Index) else (index, Links.of(index))
    events = trace["traceEvents"]
    assert json.loads(to_json_text(trace), parse_constant=reject) == trace  # strict JSON: no NaN or Infinity
    names: dict[Track, str] = {}
    processes: set[int] = set()
    for entry in events:
        assert {"ph", "ts", "pid", "tid", "name"} <= entry.keys(), entry
        assert list(entry)[:2] == ["ph", "ts"], entry  # Perfetto's streaming reader wants ts early
        if entry["ph"] == "M":
            if entry["name"] == "thread_name":
                names[(entry["pid"], entry["tid"])] = entry["args"]["name"]
            elif entry["name"] == "process_name":
                processes.add(entry["pid"])
    timed = [e for e in events if e["ph"] != "M"]
    assert all(e["ph"] in ("X", "i", "s", "f") for e in timed)
    assert events[: len(events) - len(timed)] == [e for e in events if e["ph"] == "M"], "metadata comes first"
    # Every track is named, in a named process, and a tid lives in one process only.
    tracks = {(e["pid"], e["tid"]) for e in timed}
    assert tracks <= names.keys() and {pid for pid, _ in tracks} <= processes
    assert len({tid for _, tid in names}) == len(names)
    # Per track: time never goes back in file order, and slices nest.
    by_track: dict[Track, list[dict[str, Any]]] = defaultdict(list)
    for entry in timed:
        by_track[(entry["pid"], entry["tid"])].append(entry)
    for track, entries in by_track.items():
        times = [ns(e["ts"]) for e in entries]
        assert times == sorted(times), f"time goes back on {names[track]}"
        slices = [(ns(e["ts"]), ns(e["ts"]) + ns(e["dur"])) for e in entries if e["ph"] == "X"]
        assert all(end >= start for start, end in slices)
        open_ends: list[int] = []
        for start, end in sorted(slices, key=lambda s: (s[0], -s[1])):
            while open_ends and open_ends[-1] <= start:
                open_ends.pop()
            assert not open_ends or open_ends[-1] >= end, f"slices overlap without nesting on {names[track]} at {start}"
            open_ends.append(end)
    check_flows(timed, rec, links.cause)
    # Every recorded event is one mark at its time on the first track of its task, or else of its thread.
    marks = [e for e in timed if e["cat"] == "event" and e["ph"] in ("X", "i")]
    assert sorted(e["args"]["seq"] for e in marks) == list(range(1, len(rec.events) + 1))
    for mark in marks:
        event = rec.events[mark["args"]["seq"] - 1]
        assert mark["name"] == event.kind and ns(mark["ts"]) == event.t_ns
        assert names[(mark["pid"], mark["tid"])] == owner_label(rec, track_of(event))
    return names


def check_flows(timed: list[dict[str, Any]], rec: Recording, cause_of: dict[int, int]) -> None:
    """One flow per link; each end on its event's track, at its time, bound to that event's mark."""
    starts = [e for e in timed if e["ph"] == "s"]
    finishes = [e for e in timed if e["ph"] == "f"]
    assert len(starts) == len(finishes) == len(cause_of)
    assert len({e["id"] for e in starts}) == len(starts) and {e["id"] for e in starts} == {e["id"] for e in finishes}
    assert all(e.get("bp") == "e" for e in finishes)
    mark_track = {e["args"]["seq"]: (e["pid"], e["tid"]) for e in timed if e["cat"] == "event" and e["ph"] in ("X", "i")}
    pairs = {e["id"]: e for e in starts}
    bound = bind_like_perfetto(timed)
    for finish in finishes:
        start = pairs[finish["id"]]
        assert (start["cat"], start["name"]) == (finish["cat"], finish["name"]), "v1 flows pair by id, cat and name"
        cause, effect = rec.events[cause_of[finish["id"]] - 1], rec.events[finish["id"] - 1]
        for end, event in ((start, cause), (finish, effect)):
            assert ns(end["ts"]) == event.t_ns
            assert (end["pid"], end["tid"]) == mark_track[event.seq]
            slice_ = bound[id(end)]
            assert slice_ is not None, f"flow {finish['id']} has no slice to bind to at seq {event.seq}"
            assert slice_["cat"] == "event" and slice_["args"]["seq"] == event.seq, f"flow {finish['id']} binds to {slice_}"


def bind_like_perfetto(timed: list[dict[str, Any]]) -> dict[int, dict[str, Any] | None]:
    """The slice each flow event binds to when Perfetto imports the JSON; it fails on slices that do not nest.

    A model of its importer: events sorted by time, at one time complete
    slices longest first, zero-length ones and everything else in file order;
    per track a stack of slices, popped lazily when a later slice starts at or
    after their end (two zero-length ones at one time stack); a v1 flow event
    binds to the top of its track's stack.
    """

    def order(item: tuple[int, dict[str, Any]]) -> tuple[int, int, int]:
        position, entry = item
        return (ns(entry["ts"]), -ns(entry["dur"]) if entry["ph"] == "X" else 0, position)

    stacks: dict[Track, list[tuple[int, int, dict[str, Any]]]] = defaultdict(list)
    bound: dict[int, dict[str, Any] | None] = {}
    for _, entry in sorted(enumerate(timed), key=order):
        stack = stacks[(entry["pid"], entry["tid"])]
        if entry["ph"] in ("s", "f"):
            bound[id(entry)] = stack[-1][2] if stack else None
            continue
        start = ns(entry["ts"])
        end = start + (ns(entry["dur"]) if entry["ph"] == "X" else 0)
        while stack and (stack[-1][1] < start or (stack[-1][1] == start and not (stack[-1][0] == stack[-1][1] and start == end))):
            stack.pop()
        assert not stack or end <= stack[-1][1], f"Perfetto would drop {entry}: it overlaps {stack[-1][2]}"
        stack.append((start, end, entry))
    return bound


def export(path: Path) -> tuple[dict[str, Any], Index]:
    index = Index(read_log(str(path)))
    return perfetto_trace(index), index


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.cgr")))
def test_every_sample_exports_a_valid_trace(sample: str) -> None:
    trace, index = export(SAMPLES / sample)
    check_trace(trace, index)
    assert trace["metadata"]["events"] == index.last and trace["metadata"]["flows"] == len(index.links.cause)


@pytest.mark.parametrize("program", ["prodcons.py", "handoff.py", "barrier.py", "rlock.py", "pool.py", "aio_lock.py", "aio_primitives.py", "aio_threadsafe.py"])
def test_recorded_programs_export_valid_traces(tmp_path: Path, program: str) -> None:
    run = record(tmp_path, PROGRAMS / program)
    assert run.returncode == 0, run.stderr
    trace, index = export(run.path)
    check_trace(trace, index)


def test_the_deadlock_shows_as_unfinished_waits_and_holds() -> None:
    trace, index = export(SAMPLES / "two_locks-v2.cgr")
    names = check_trace(trace, index)
    last = index.events[-1].t_ns
    unfinished = [e for e in trace["traceEvents"] if e["ph"] == "X" and e["args"].get("unfinished")]
    summary = sorted((names[(e["pid"], e["tid"])], e["name"]) for e in unfinished)
    assert summary == [
        ("T2 clerk-1", "lock.wait Lock#2"),
        ("T2 clerk-1 locks", "hold Lock#1"),
        ("T3 clerk-2", "lock.wait Lock#1"),
        ("T3 clerk-2 locks", "hold Lock#2"),
    ]
    assert all(ns(e["ts"]) + ns(e["dur"]) == last for e in unfinished)
    meta = trace["metadata"]
    assert (meta["program"], meta["argv"], meta["python"]) == ("two_locks.py", ["two_locks.py"], "3.12.1")


def test_asyncio_tasks_get_tracks_and_step_slices() -> None:
    trace, index = export(SAMPLES / "aio_prodcons-v2.cgr")
    names = check_trace(trace, index)
    processes = {e["pid"]: e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"}
    assert sorted(processes.values()) == ["aio_prodcons.py asyncio tasks", "aio_prodcons.py threads"]
    task_pid = next(pid for pid, name in processes.items() if name.endswith("asyncio tasks"))
    task_tracks = {names[track] for track in names if track[0] == task_pid}
    assert task_tracks >= {"task 1 Task-1 (main)", "task 2 producer (produce)", "task 3 consumer (consume)"}
    steps = [e for e in trace["traceEvents"] if e["ph"] == "X" and e["name"] == "step"]
    assert len(steps) == len(index.by_kind["task.resume"])
    assert all(e["pid"] == task_pid and e["args"]["kind"] == "task.resume" for e in steps)
    assert {e["args"]["end"]["kind"] for e in steps} == {"task.suspend", "task.done"}
    # The queue waits start in one step and end in a later one: a lane of their own.
    waits = [e for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] == "wait"]
    assert waits and all(names[(e["pid"], e["tid"])].endswith(" lane 2") for e in waits)
    # The loop's thread shows which task it ran when.
    ran = [e["name"] for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] == "task" and e["pid"] != task_pid]
    assert len(ran) == len(steps) and ran[0] == "task 1 Task-1 (main)"


def test_gold_file_pins_the_shape() -> None:
    trace, _ = export(SAMPLES / "two_locks-v2.cgr")
    text = to_json_text(trace)
    if REGOLD:
        GOLD.write_text(text)
    assert json.loads(text) == json.loads(GOLD.read_text()), "export changed: if on purpose, rerun with CHRONODBG_REGOLD=1"


# -- synthetic recordings: exact shapes no scheduler can vary -------------------------------------


def synthetic(rows: list[tuple[int, int | None, str, int | None, tuple[Any, ...]]], fields: dict[str, tuple[str, ...]]) -> Recording:
    """A recording from (thread, task, kind, obj, data) rows, 1 µs apart; objects 1 and 2 are locks, 3 an RLock, 6 an asyncio lock."""
    rec = Recording(path="synthetic.cgr", header={"program": "synthetic.py", "argv": ["synthetic.py"], "python": "3.x"})
    rec.fields = {**{NAMES[kind]: names for kind, names in FIELDS.items()}, **fields}
    rec.sites = {1: Site("synthetic.py", 1, "work")}
    rec.threads = {1: ThreadInfo(1, "MainThread", 1, None), 2: ThreadInfo(2, "worker", 2, 1)}
    rec.tasks = {1: TaskInfo(1, "Task-1", "main", None), 2: TaskInfo(2, None, "child", 1)}
    rec.objects = {1: ObjectInfo(1, "Lock", "Lock#1", None), 2: ObjectInfo(2, "Lock", "Lock#2", None), 3: ObjectInfo(3, "RLock", "RLock#3", None)}
    rec.events = [Event(seq, seq * 1000, thread, task, kind, obj, 1, data) for seq, (thread, task, kind, obj, data) in enumerate(rows, 1)]
    return rec


def test_hand_over_hand_holds_go_to_a_second_lock_lane() -> None:
    rec = synthetic(
        [
            (1, None, "lock.acquire", 1, (0, 1)),
            (1, None, "lock.acquire", 2, (0, 1)),
            (1, None, "lock.release", 1, (0,)),
            (1, None, "lock.release", 2, (0,)),
        ],
        {},
    )
    index = Index(rec)
    trace = perfetto_trace(index)
    names = check_trace(trace, index)
    holds = {e["name"]: names[(e["pid"], e["tid"])] for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] == "lock"}
    assert holds == {"hold Lock#1": "T1 MainThread locks", "hold Lock#2": "T1 MainThread locks lane 2"}


def test_an_rlock_is_one_hold_however_deep() -> None:
    rec = synthetic(
        [
            (1, None, "lock.acquire", 3, (0, 1)),
            (1, None, "lock.acquire", 3, (0, 2)),
            (1, None, "lock.release", 3, (1,)),
            (1, None, "lock.release", 3, (0,)),
            (2, None, "lock.acquire", 3, (0, 1)),
        ],
        {},
    )
    index = Index(rec)
    trace = perfetto_trace(index)
    check_trace(trace, index)
    holds = [e for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] == "lock"]
    assert [(e["tid"], e["ts"], e["dur"], e["args"].get("max_depth"), e["args"].get("unfinished")) for e in holds] == [
        (1 + 2000, 1.0, 3.0, 2, None),
        (2 + 2000, 5.0, 0.0, None, True),
    ]
    assert index.links.cause[5] == 4  # the flow goes from the outermost release to the other thread's acquire
    flow = [(e["ph"], e["tid"], e["ts"]) for e in trace["traceEvents"] if e["ph"] in ("s", "f")]
    assert flow == [("s", 1, 4.0), ("f", 2, 5.0)]


def test_calls_are_slices_when_recorded() -> None:
    rec = synthetic(
        [
            (1, None, "call", None, ("outer",)),
            (1, None, "call", None, ("inner",)),
            (1, None, "lock.acquire", 1, (0, 1)),
            (1, None, "return", None, (None,)),
            (1, None, "lock.release", 1, (0,)),
            (1, None, "return", None, (None,)),
            (1, None, "call", None, ("never_returns",)),
        ],
        {"call": ("func",), "return": ("value",)},
    )
    index = Index(rec)
    trace = perfetto_trace(index)
    check_trace(trace, index)
    calls = [(e["name"], e["ts"], e["dur"], e["args"].get("unfinished")) for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] == "call"]
    assert calls == [("outer", 1.0, 5.0, None), ("inner", 2.0, 2.0, None), ("never_returns", 7.0, 0.0, True)]


def test_a_task_wait_across_steps_gets_a_lane_of_its_own() -> None:
    rec = synthetic(
        [
            (1, 1, "task.resume", None, ()),
            (1, 1, "lock.wait", 1, (None,)),
            (1, 1, "task.suspend", 1, ("lock", None, None)),
            (1, 1, "task.resume", None, ()),
            (1, 1, "lock.acquire", 1, (0, 1)),
            (1, 1, "task.suspend", None, ("sleep", 0, None)),
        ],
        {},
    )
    index = Index(rec)
    trace = perfetto_trace(index)
    names = check_trace(trace, index)
    shape = sorted((names[(e["pid"], e["tid"])], e["name"]) for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] != "event")
    assert shape == [
        ("T1 MainThread", "task 1 Task-1 (main)"),
        ("T1 MainThread", "task 1 Task-1 (main)"),
        ("T1 MainThread locks", "hold Lock#1"),  # a threading lock: its owner is the thread
        ("task 1 Task-1 (main)", "step"),
        ("task 1 Task-1 (main)", "step"),
        ("task 1 Task-1 (main) lane 2", "lock.wait Lock#1"),
    ]


#: (kind, object choices, data maker) for random recordings: every family the export pairs, and some it does not.
_RANDOM_EVENTS: list[tuple[str, tuple[int | None, ...], Any]] = [
    ("lock.acquire", (1, 2, 3, 6), lambda r: (0, r.choice((1, 1, 2)))),
    ("lock.release", (1, 2, 3, 6), lambda r: (r.choice((0, 0, 1)),)),
    ("lock.wait", (1, 2, 6), lambda r: (None,)),
    ("lock.fail", (1, 2, 6), lambda r: (5, None)),
    ("queue.put", (4,), lambda r: (r.randrange(3), 1)),
    ("queue.get", (4,), lambda r: (r.randrange(3), 0)),
    ("queue.wait", (4,), lambda r: (r.choice(("get", "put")), 0, 1, None)),
    ("event.set", (5,), lambda r: (1,)),
    ("event.wait", (5,), lambda r: (False, None)),
    ("event.wake", (5,), lambda r: (True, 5)),
    ("task.resume", (None,), lambda r: ()),
    ("task.suspend", (None, 6), lambda r: ("sleep", 0, None)),
    ("task.done", (None,), lambda r: ("finished", None, None, None, None)),
    ("task.wake", (None,), lambda r: (r.choice((1, 2)),)),
    ("thread.start", (None,), lambda r: (2, "worker", "work", False)),
    ("thread.end", (None,), lambda r: (2, "worker", None)),
    ("thread.join", (None,), lambda r: (2, None)),
    ("thread.joined", (None,), lambda r: (2, False, 5)),
    ("call", (None,), lambda r: (r.choice(("f", "g")),)),
    ("return", (None,), lambda r: (None,)),
    ("output", (None,), lambda r: ("stdout", "x", 1)),
    ("deadlock", (None,), lambda r: ("cycle", ("list", 0, ()), "")),
]


@pytest.mark.parametrize("seed", range(40))
def test_any_sequence_of_events_exports_a_valid_trace(seed: int) -> None:
    """Arbitrary, even ill-formed sequences (a release never acquired, a step never ended), many events in one nanosecond."""
    r = random.Random(seed)
    rows: list[tuple[int, int | None, str, int | None, tuple[Any, ...]]] = []
    for _ in range(60):
        kind, objects, make = r.choice(_RANDOM_EVENTS)
        rows.append((r.choice((1, 2)), r.choice((None, None, 1, 2)), kind, r.choice(objects), make(r)))
    rec = synthetic(rows, {"call": ("func",), "return": ("value",), "deadlock": ("reason", "actors", "text")})
    t = 0
    for event in rec.events:
        t += r.choice((0, 0, 0, 1, 1000))
        event.t_ns = t
    check_trace(perfetto_trace(rec), rec)


# -- the command -------------------------------------------------------------------------------------


def test_export_writes_next_to_the_recording_by_default(tmp_path: Path) -> None:
    shutil.copy(SAMPLES / "two_locks-v2.cgr", tmp_path / "run.cgr")
    proc = chronodbg("export", "run.cgr", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == b""
    assert proc.stdout.decode() == "wrote run.perfetto.json: 17 events, 8 slices, 4 flows; open it at https://ui.perfetto.dev\n"
    written = json.loads((tmp_path / "run.perfetto.json").read_text())
    assert written == json.loads(GOLD.read_text()) | {"metadata": written["metadata"]}
    assert written["metadata"]["recording"] == "run.cgr"


def test_export_to_a_named_file(tmp_path: Path) -> None:
    target = tmp_path / "trace.json"
    proc = chronodbg("export", str(SAMPLES / "aio_prodcons-v2.cgr"), "--format", "perfetto", "-o", str(target))
    assert proc.returncode == 0 and proc.stderr == b""
    assert proc.stdout.decode().startswith(f"wrote {target}: 43 events, ")
    assert json.loads(target.read_text())["traceEvents"]


def test_export_never_overwrites_the_recording(tmp_path: Path) -> None:
    shutil.copy(SAMPLES / "two_locks-v2.cgr", tmp_path / "run.cgr")
    proc = chronodbg("export", "run.cgr", "-o", "./run.cgr", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr == b"chronodbg: export: run.cgr is the recording itself; name another output with -o\n"
    assert (tmp_path / "run.cgr").read_bytes() == (SAMPLES / "two_locks-v2.cgr").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("missing.cgr",), "missing.cgr: no such file"),
        ((str(SAMPLES / "two_locks-v2.cgr"), "--format", "vcd"), "export: unknown format 'vcd' (known: perfetto)"),
        ((str(SAMPLES / "two_locks-v2.cgr"), "-o", "no/such/dir/trace.json"), "export: cannot write no/such/dir/trace.json: No such file or directory"),
        ((str(SAMPLES / "two_locks-v2.cgr"), "-o", "."), "export: cannot write .: Is a directory"),
    ],
)
def test_export_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    proc = chronodbg("export", *args, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode() == f"chronodbg: {message}\n"
