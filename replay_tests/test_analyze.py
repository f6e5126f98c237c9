"""`chronodbg analyze`: each finding on a program that forces it (or forces its absence), and the command line.

Every program fixes its interleaving with Events, joins or a bounded poll of
an observable condition, so the findings are exact. Durations are never
asserted: only counts, objects, threads, tasks, sites and seqs.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from pathlib import Path

import pytest

from chronodbg.analysis.findings import Inversion, Report
from chronodbg.analysis.lockorder import LockOrder, Witness, _components, _cycles, _distinct_actors
from chronodbg.analysis.report import analyze
from chronodbg.logfile import read_log
from chronodbg.logfile.reader import Recording
from replay_tests.conftest import PROGRAMS, chronodbg, record

SAMPLES = Path(__file__).parent.parent / "recordings" / "samples"


def line_of(program: str, marker: str) -> int:
    """The line of the program holding `# marker` (the tests name lines, not numbers)."""
    lines = (PROGRAMS / program).read_text().splitlines()
    found = [number for number, text in enumerate(lines, 1) if text.rstrip().endswith(f"# {marker}")]
    assert len(found) == 1, f"{marker!r} marks {len(found)} lines of {program}"
    return found[0]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Recording, Report]]:
    """Each program recorded once (lazily), with its recording and its report."""

    class Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, program: str) -> tuple[Path, Recording, Report]:
            run = record(tmp_path_factory.mktemp(Path(program).stem), PROGRAMS / program)
            assert run.returncode == 0, run.stderr.decode()
            rec = read_log(str(run.path))
            self[program] = entry = (run.path, rec, analyze(rec))
            return entry

    return Lazy()


def edge_of(inversion: Inversion, actor_name: str) -> tuple[str, str, int | None, int | None]:
    """(held lock, acquired lock, line where the held one was taken, line of the other) of that actor's edge."""
    [edge] = [e for e in inversion.edges if e.actor.name == actor_name]
    return (
        edge.held.label,
        edge.acquired.label,
        edge.held_site.line if edge.held_site else None,
        edge.site.line if edge.site else None,
    )


# -- lock-order inversions --------------------------------------------------------


def test_an_inversion_is_reported_though_this_run_did_not_deadlock(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    program = "analyze_inversion.py"
    _, rec, report = recorded[program]
    [inversion] = report.inversions
    assert [lock.label for lock in inversion.locks] == ["Lock#1", "Lock#2"] and inversion.gates == []
    assert edge_of(inversion, "left") == ("Lock#1", "Lock#2", line_of(program, "left holds accounts"), line_of(program, "left takes ledger"))
    assert edge_of(inversion, "right") == ("Lock#2", "Lock#1", line_of(program, "right holds ledger"), line_of(program, "right takes accounts"))
    # The seqs are the acquisitions themselves: `goto` lands on them.
    for edge in inversion.edges:
        held, taken = rec.events[edge.held_seq - 1], rec.events[edge.seq - 1]
        assert (held.kind, held.obj, held.thread) == ("lock.acquire", edge.held.id, edge.actor.id)
        assert (taken.kind, taken.obj, taken.thread) == ("lock.acquire", edge.acquired.id, edge.actor.id)
    assert report.findings == 1


def test_a_three_lock_cycle_across_three_threads(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    program = "analyze_cycle3.py"
    _, _, report = recorded[program]
    [inversion] = report.inversions
    assert [lock.label for lock in inversion.locks] == ["Lock#1", "Lock#2", "Lock#3"]
    held, taken = line_of(program, "holds first"), line_of(program, "takes second")
    assert edge_of(inversion, "ab") == ("Lock#1", "Lock#2", held, taken)
    assert edge_of(inversion, "bc") == ("Lock#2", "Lock#3", held, taken)
    assert edge_of(inversion, "ca") == ("Lock#3", "Lock#1", held, taken)


def test_both_orders_in_one_thread_and_rlock_reentry_are_no_inversion(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    _, _, report = recorded["analyze_one_thread.py"]
    assert report.inversions == [] and report.findings == 0


def test_a_gate_lock_held_across_both_orders_makes_the_inversion_harmless(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    program = "analyze_gate.py"
    _, _, report = recorded[program]
    [inversion] = report.inversions
    assert [lock.label for lock in inversion.locks] == ["Lock#2", "Lock#3"]
    assert [gate.label for gate in inversion.gates] == ["Lock#1"]
    assert {edge.actor.name for edge in inversion.edges} == {"forward", "backward"}
    assert report.findings == 0


def test_a_run_that_did_deadlock_shows_the_same_cycle_from_its_waits() -> None:
    report = analyze(read_log(str(SAMPLES / "two_locks-v2.cgr")))
    [inversion] = report.inversions
    assert {edge.actor.name for edge in inversion.edges} == {"clerk-1", "clerk-2"}
    # Neither second acquisition completed: the edges come from the lock.wait events.
    assert {(edge.acquired.label, edge.seq) for edge in inversion.edges} == {("Lock#2", 11), ("Lock#1", 8)}
    stuck = {thread.thread.name: (thread.waiting, thread.waiting_obj and thread.waiting_obj.label) for thread in report.threads}
    assert stuck == {"clerk-1": ("lock", "Lock#2"), "clerk-2": ("lock", "Lock#1")}


def test_asyncio_locks_count_with_tasks_as_actors(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    program = "analyze_aio.py"
    _, _, report = recorded[program]
    [inversion] = report.inversions
    assert [lock.label for lock in inversion.locks] == ["asyncio.Lock#1", "asyncio.Lock#2"]
    assert {(edge.actor.kind, edge.actor.name) for edge in inversion.edges} == {("task", "ab"), ("task", "ba")}
    held, taken = line_of(program, "task holds first"), line_of(program, "task takes second")
    assert edge_of(inversion, "ab") == ("asyncio.Lock#1", "asyncio.Lock#2", held, taken)
    assert edge_of(inversion, "ba") == ("asyncio.Lock#2", "asyncio.Lock#1", held, taken)


def test_cycle_search_and_actor_choice_agree_with_brute_force() -> None:
    rng = random.Random(2026)
    for _ in range(300):
        nodes = list(range(1, rng.randint(2, 6) + 1))
        successors = {a: [b for b in nodes if b != a and rng.random() < 0.4] for a in nodes}
        found = set()
        for component in _components(successors):
            if len(component) > 1:
                cycles, complete = _cycles(successors, component)
                assert complete
                found |= {tuple(cycle) for cycle in cycles}
        brute = {
            perm
            for k in range(2, len(nodes) + 1)
            for perm in itertools.permutations(nodes, k)
            if perm[0] == min(perm) and all(perm[(i + 1) % k] in successors[perm[i]] for i in range(k))
        }
        assert found == brute
    for _ in range(1000):
        options = [
            list({w.actor: w for w in (Witness(("thread", rng.randint(1, 4)), 0, None, rng.randint(1, 99), None) for _ in range(3))}.values())
            for _ in range(rng.randint(1, 5))
        ]
        chosen = _distinct_actors(options)
        possible = any(len(set(c)) == len(options) for c in itertools.product(*[[w.actor for w in o] for o in options]))
        assert (chosen is not None) == possible
        if chosen is not None:
            assert len({w.actor for w in chosen}) == len(options) and all(w in o for w, o in zip(chosen, options, strict=True))


def test_a_gate_must_be_held_on_every_occurrence() -> None:
    t1, t2, t3 = ("thread", 1), ("thread", 2), ("thread", 3)
    gate, a, b = 1, 2, 3

    def take(order: LockOrder, actor: tuple[str, int], locks: list[int], seq: int) -> None:
        for i, lock in enumerate(locks):
            order.wants(actor, lock, seq + i, None)
            order.acquired(actor, lock, seq + i, None)
        for lock in locks:
            order.released(actor, lock)

    gated = LockOrder()
    take(gated, t1, [gate, a, b], 1)
    take(gated, t2, [gate, b, a], 10)
    [cycle] = gated.inversions()
    assert (cycle.locks, cycle.gates) == ([a, b], [gate])
    # A third thread taking a -> b without the gate can meet t2's b -> a.
    leaky = LockOrder()
    take(leaky, t1, [gate, a, b], 1)
    take(leaky, t2, [gate, b, a], 10)
    take(leaky, t3, [a, b], 20)
    [cycle] = leaky.inversions()
    assert cycle.locks == [a, b] and cycle.gates == []


# -- lost wake-ups -----------------------------------------------------------------


def test_a_notify_and_a_set_before_anyone_waits_then_timed_out_waits(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    program = "analyze_lost_wakeup.py"
    _, rec, report = recorded[program]
    found = [
        (
            lost.obj.label,
            lost.signal,
            lost.signal_site and lost.signal_site.line,
            lost.signaller.name,
            lost.waiter.name,
            lost.wait_site and lost.wait_site.line,
            lost.outcome,
            lost.timeout,
        )
        for lost in report.lost_wakeups
    ]
    assert found == [
        ("Condition#1", "cond.notify", line_of(program, "notify: nobody waits yet"), "producer", "consumer", line_of(program, "cond wait: times out"), "timed out", 0.01),
        ("Event#2", "event.set", line_of(program, "set: nobody waits yet"), "producer", "consumer", line_of(program, "event wait: times out"), "timed out", 0.01),
    ]
    cond, event = report.lost_wakeups
    assert cond.cleared_seq is None
    assert event.cleared_seq is not None and rec.events[event.cleared_seq - 1].kind == "event.clear"
    for lost in report.lost_wakeups:
        assert rec.events[lost.signal_seq - 1].kind == lost.signal
        assert rec.events[lost.wait_seq - 1].kind in ("cond.wait", "event.wait")
        assert lost.end_seq is not None and rec.events[lost.end_seq - 1].kind in ("cond.wake", "event.wake")
    # The sticky Event (set, never cleared) was seen by its wait: not lost.
    assert "Event#3" not in {lost.obj.label for lost in report.lost_wakeups}


def test_a_notify_that_found_its_waiter_is_no_lost_wakeup(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    _, _, report = recorded["handoff.py"]
    assert report.lost_wakeups == []


def test_an_asyncio_notify_nobody_waited_for_then_a_wait_that_gave_up(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    program = "analyze_aio.py"
    _, _, report = recorded[program]
    [lost] = report.lost_wakeups
    assert lost.obj.label.startswith("asyncio.Condition#") and lost.signal == "cond.notify"
    assert lost.signal_site is not None and lost.signal_site.line == line_of(program, "notify: nobody waits")
    assert lost.signaller.name == "notifier" and lost.waiter.kind == "task" and lost.outcome == "cancelled"
    if sys.version_info >= (3, 12):
        assert lost.waiter.coro == "main" and lost.wait_site is not None and lost.wait_site.line == line_of(program, "cond wait: gives up")
    else:  # 3.11's wait_for runs the wait in a task of its own
        assert lost.waiter.coro == "Condition.wait"


# -- contention, blocked intervals, queues ---------------------------------------------


def test_forced_contention_counts(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    program = "analyze_contention.py"
    _, _, report = recorded[program]
    [lock] = report.contention
    assert (lock.lock.label, lock.acquisitions, lock.waited, lock.failed) == ("Lock#1", 3, 2, 0)
    assert [(s.site and s.site.line, s.acquisitions, s.waited) for s in lock.sites] == [
        (line_of(program, "waiters take the lock"), 2, 2),
        (line_of(program, "holder takes the lock"), 1, 0),
    ]
    assert lock.max_wait_actor is not None and lock.max_wait_actor.name in ("waiter-0", "waiter-1")
    # Whichever waited longest, the holder then was `holder` or the other waiter.
    assert lock.max_wait_holder is not None and lock.max_wait_holder.name in ("holder", "waiter-0", "waiter-1")
    blocked = {actor.actor.name: actor for actor in report.blocked}
    for name in ("waiter-0", "waiter-1"):
        [interval] = [i for i in blocked[name].longest if i.what == "lock"]
        assert interval.obj is not None and interval.obj.label == "Lock#1" and interval.end_seq is not None
        assert interval.site is not None and interval.site.line == line_of(program, "waiters take the lock")


def test_asyncio_lock_contention_is_per_task(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    _, rec, report = recorded["aio_lock.py"]
    [lock] = report.contention
    assert lock.lock.label.startswith("asyncio.Lock#") and lock.acquisitions == 9 and lock.waited >= 1
    assert lock.max_wait_actor is not None and lock.max_wait_actor.kind == "task"
    assert lock.waited == sum(1 for e in rec.events if e.kind == "lock.wait")


def test_queue_high_water_marks(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    program = "analyze_leftovers.py"
    _, rec, report = recorded[program]
    marks = {(q.queue.label, q.high, q.maxsize, q.puts, q.gets) for q in report.queues}
    assert marks == {("Queue#1", 5, 5, 8, 5), ("Queue#2", 2, None, 2, 0)}
    jobs = report.queues[0]
    assert jobs.queue.label == "Queue#1" and jobs.high_seq is not None
    event = rec.events[jobs.high_seq - 1]
    assert event.kind == "queue.put" and rec.data_dict(event)["size"] == 5
    assert jobs.high_site is not None and jobs.high_site.line == line_of(program, "fills the queue")


def test_a_daemon_thread_blocked_forever_is_alive_at_exit(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    program = "analyze_leftovers.py"
    _, _, report = recorded[program]
    [thread] = report.threads
    assert (thread.thread.name, thread.daemon, thread.status, thread.waiting) == ("stuck", True, "waiting", "event")
    assert thread.waiting_obj is not None and thread.waiting_obj.label == "Event#3"
    assert thread.site is not None and thread.site.line == line_of(program, "stuck waits forever")
    [stuck] = [actor for actor in report.blocked if actor.actor.name == "stuck"]
    assert stuck.longest[0].end_seq is None and stuck.longest[0].start_seq == thread.waiting_since


# -- tasks -----------------------------------------------------------------------------


def test_tasks_never_finished_and_never_awaited(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    program = "analyze_aio.py"
    _, _, report = recorded[program]
    tasks = {t.task.name: (t.never_finished, t.never_awaited, t.finding, t.status) for t in report.tasks}
    assert tasks == {
        "orphan": (True, True, True, "suspended"),
        "fire-and-forget": (False, True, False, "finished"),
    }
    [orphan] = [t for t in report.tasks if t.task.name == "orphan"]
    assert orphan.awaits == "event" and orphan.awaits_obj is not None and orphan.awaits_obj.label.startswith("asyncio.Event#")
    assert orphan.site is not None and orphan.site.line == line_of(program, "orphan waits forever")
    assert orphan.parent is not None and orphan.parent.coro == "main"


def test_a_task_cancelled_by_asyncio_run_never_finished_and_an_unawaited_failure(
    recorded: dict[str, tuple[Path, Recording, Report]],
) -> None:
    _, _, report = recorded["analyze_aio_run.py"]
    tasks = {t.task.name: (t.never_finished, t.never_awaited, t.finding, t.status, t.cancelled_by) for t in report.tasks}
    assert tasks == {
        "left": (True, True, True, "cancelled", "_cancel_all_tasks"),
        "fails": (False, True, True, "exception", None),
    }
    assert [t.exception for t in report.tasks] == [None, "ValueError"]


def test_awaited_and_gathered_tasks_are_not_listed(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    _, _, report = recorded["aio_taskgroup.py"]
    assert report.tasks == []


# -- consistency on a free-running program ----------------------------------------------


def test_counts_agree_with_the_events_whatever_the_interleaving(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    _, rec, report = recorded["bank.py"]
    full = analyze(rec, top=1000)
    for lock in full.contention:
        acquires = [e for e in rec.events if e.kind == "lock.acquire" and e.obj == lock.lock.id]
        assert lock.acquisitions == len(acquires) == sum(site.acquisitions for site in lock.sites)
        assert lock.waited == sum(1 for e in rec.events if e.kind == "lock.wait" and e.obj == lock.lock.id)
    for queue in full.queues:
        puts = [rec.data_dict(e)["size"] for e in rec.events if e.kind == "queue.put" and e.obj == queue.queue.id]
        assert (queue.puts, queue.high) == (len(puts), max(puts))
    # bank.py takes its locks in one global order: nothing to report.
    assert report.inversions == []


# -- the command line -------------------------------------------------------------------


def test_text_output_has_every_section_and_names_sites(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    program = "analyze_inversion.py"
    path, _, _ = recorded[program]
    proc = chronodbg("analyze", str(path))
    assert proc.returncode == 0 and proc.stderr == b""
    text = proc.stdout.decode()
    for heading in (
        "Lock-order inversions (possible deadlocks)",
        "Possible lost wake-ups",
        "Most contended locks (top 10)",
        "Longest blocked intervals (3 per thread/task, top 10)",
        "Queue high-water marks",
        "Tasks never finished or never awaited",
        "Threads alive at exit",
    ):
        assert f"\n{heading}\n" in text
    assert "1. Lock#1 -> Lock#2 -> Lock#1" in text
    left, right = line_of(program, "left takes ledger"), line_of(program, "right takes accounts")
    assert f"T2 left: holds Lock#1 (taken at {program}:{line_of(program, 'left holds accounts')} left" in text
    assert f"takes Lock#2 at {program}:{left} left" in text and f"takes Lock#1 at {program}:{right} right" in text
    assert text.splitlines()[0].endswith("; 1 finding")


def test_json_output_is_one_document_with_stable_keys(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    path, _, report = recorded["analyze_leftovers.py"]
    proc = chronodbg("analyze", str(path), "--json")
    assert proc.returncode == 0 and proc.stdout.count(b"\n") == 1
    document = json.loads(proc.stdout)
    assert list(document) == [
        "path", "events", "complete", "exit_seq", "exit_how", "top", "per_actor", "inversions", "inversions_truncated",
        "lost_wakeups", "contention", "blocked", "queues", "tasks", "threads", "findings",
    ]  # fmt: skip
    assert document["findings"] == report.findings == 1
    [thread] = document["threads"]
    assert thread["thread"] == {"kind": "thread", "id": 2, "name": "stuck", "coro": None} and thread["daemon"] is True
    assert thread["site"]["line"] == line_of("analyze_leftovers.py", "stuck waits forever")
    assert [q["high"] for q in document["queues"]] == [5, 2]


def test_exit_status_and_fail_on_findings(recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    with_findings, _, _ = recorded["analyze_inversion.py"]
    without, _, _ = recorded["analyze_one_thread.py"]
    assert chronodbg("analyze", str(with_findings)).returncode == 0
    assert chronodbg("analyze", str(with_findings), "--fail-on-findings").returncode == 1
    assert chronodbg("analyze", str(without), "--fail-on-findings").returncode == 0
    shown = chronodbg("analyze", str(with_findings), "--top", "1", "--per-actor", "1").stdout.decode()
    assert "Most contended locks (top 1)" in shown


def test_a_recording_cut_short_is_analyzed_with_a_note(tmp_path: Path, recorded: dict[str, tuple[Path, Recording, Report]]) -> None:
    path, _, _ = recorded["analyze_leftovers.py"]
    cut = tmp_path / "cut.cgr"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) - 40])  # the footer's end: every event is still there
    proc = chronodbg("analyze", str(cut), "--json")
    assert proc.returncode == 0 and proc.stderr.decode().startswith(f"chronodbg: {cut}: recovered, no footer")
    document = json.loads(proc.stdout)
    assert document["complete"] is False and [t["thread"]["name"] for t in document["threads"]] == ["stuck"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("missing.cgr",), "chronodbg: missing.cgr: no such file\n"),
        (("notes.txt",), "chronodbg: notes.txt: not a chronodbg recording (bad magic) at byte 0\n"),
        (("notes.txt", "--top", "0"), "chronodbg: analyze: --top must be at least 1, not 0\n"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    (tmp_path / "notes.txt").write_text("not a recording\n")
    proc = chronodbg("analyze", *args, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == b"" and proc.stderr.decode() == message
