"""The replay engine on real recordings: jumping equals stepping, moves are exact, state matches brute force."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest

from chronodbg.errors import UsageError
from chronodbg.logfile import read_log
from chronodbg.logfile.reader import Recording
from chronodbg.replay.index import Index
from chronodbg.replay.session import Session
from chronodbg.replay.state import State
from replay_tests.conftest import PROGRAMS, record

ROOT = PROGRAMS.parent.parent

#: Small, so that even short recordings cross many checkpoints.
EVERY = 7


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Recording]:
    tmp = tmp_path_factory.mktemp("replay")
    runs = {
        "bank": record(tmp, PROGRAMS / "bank.py", "30"),
        "abba_like": record(tmp, ROOT / "docs" / "examples" / "two_locks.py"),
        "rlock": record(tmp, PROGRAMS / "rlock.py"),
        "handoff": record(tmp, PROGRAMS / "handoff.py"),
        "barrier": record(tmp, PROGRAMS / "barrier.py"),
        "pool": record(tmp, PROGRAMS / "pool.py"),
        "aio_lock": record(tmp, PROGRAMS / "aio_lock.py"),
        "prodcons": record(tmp, PROGRAMS / "prodcons.py"),
        "aio_primitives": record(tmp, PROGRAMS / "aio_primitives.py"),
        "aio_prodcons": record(tmp, PROGRAMS / "aio_prodcons.py", "12"),
    }
    # The deadlocked one is ended by the recorder's watchdog.
    assert all(run.returncode == (86 if name == "abba_like" else 0) for name, run in runs.items())
    return {name: read_log(str(run.path)) for name, run in runs.items()}


NAMES = ["bank", "prodcons", "aio_primitives", "aio_prodcons", "abba_like", "rlock", "handoff", "barrier", "pool", "aio_lock"]


def _stepped(rec: Recording) -> list[State]:
    """The state after every event, by applying events one by one from the start."""
    index = Index(rec, checkpoint_every=10**9)
    state = State()
    states = [state.copy()]
    for event in rec.events:
        index.applier.apply(state, event)
        states.append(state.copy())
    return states


@pytest.mark.parametrize("name", NAMES)
def test_state_at_any_point_equals_stepping_there(recordings: dict[str, Recording], name: str) -> None:
    rec = recordings[name]
    index = Index(rec, checkpoint_every=EVERY)
    stepped = _stepped(rec)
    assert len(index.checkpoints) == len(rec.events) // EVERY + 1
    for seq in range(len(rec.events) + 1):
        assert index.state_at(seq) == stepped[seq], f"state at {seq} differs"


@pytest.mark.parametrize("name", NAMES)
def test_lock_owners_and_queue_contents_match_brute_force(recordings: dict[str, Recording], name: str) -> None:
    rec = recordings[name]
    index = Index(rec, checkpoint_every=EVERY)
    asyncio_objs = {o.id for o in rec.objects.values() if o.label.startswith("asyncio.")}
    lifo = {o.id for o in rec.objects.values() if "Lifo" in o.kind}
    rng = random.Random(7)
    for seq in sorted(rng.sample(range(1, len(rec.events) + 1), min(40, len(rec.events)))):
        owners: dict[int, Any] = {}
        waiting: dict[int, list[Any]] = defaultdict(list)
        depth: dict[int, int] = defaultdict(int)
        items: dict[int, list[Any]] = defaultdict(list)
        for event in rec.events[:seq]:
            data = rec.data_dict(event)
            who = ("task", event.task) if event.obj in asyncio_objs and event.task else ("thread", event.thread)
            if event.kind == "lock.wait":
                waiting[event.obj].append(who)  # type: ignore[index]
            elif event.kind == "lock.fail":
                waiting[event.obj].remove(who)  # type: ignore[index]
            if event.kind == "lock.acquire":
                if who in waiting[event.obj]:  # type: ignore[index]
                    waiting[event.obj].remove(who)  # type: ignore[index]
                owners[event.obj], depth[event.obj] = who, data["depth"]  # type: ignore[index]
            elif event.kind == "lock.release":
                depth[event.obj] = data["depth"]  # type: ignore[index]
                if data["depth"] == 0:
                    owners.pop(event.obj, None)  # type: ignore[arg-type]
            elif event.kind == "queue.put":
                items[event.obj].append(data["item"])  # type: ignore[index]
            elif event.kind == "queue.get":
                queue = items[event.obj]  # type: ignore[index]
                queue.remove(data["item"]) if event.obj not in lifo else queue.pop()
        state = index.state_at(seq)
        assert {oid: lock.owner for oid, lock in state.locks.items() if lock.owner} == owners, seq
        assert {oid: lock.waiters for oid, lock in state.locks.items() if lock.waiters} == {
            oid: w for oid, w in waiting.items() if w
        }, seq
        assert {oid: sorted(map(repr, q.items)) for oid, q in state.queues.items() if q.items} == {
            oid: sorted(map(repr, q)) for oid, q in items.items() if q
        }, seq


@pytest.mark.parametrize("name", NAMES)
def test_step_then_back_returns_to_the_same_event_and_state(recordings: dict[str, Recording], name: str) -> None:
    rec = recordings[name]
    session = Session(Index(rec, checkpoint_every=EVERY))
    rng = random.Random(11)
    for _ in range(30):
        start = session.goto(rng.randint(1, len(rec.events))).seq
        before = session.state().copy()
        n = rng.randint(1, 20)
        forward = session.step(n)
        session.back(n) if forward.reason == "step" else session.goto(start)
        assert session.cursor == start and session.state() == before


def test_thread_focus_never_leaves_the_thread(recordings: dict[str, Recording]) -> None:
    rec = recordings["bank"]
    session = Session(Index(rec))
    for tid in rec.threads:
        expected = [e.seq for e in rec.events if e.thread == tid]
        session.set_focus("thread", tid)
        session.goto(1)
        visited = [] if rec.events[0].thread != tid else [1]
        while (stop := session.step()).reason == "step":
            visited.append(stop.seq)
        assert visited == expected and stop.reason == "end" and session.cursor == expected[-1]
        backwards = [session.cursor]
        while (stop := session.back()).reason == "back":
            backwards.append(stop.seq)
        assert backwards == expected[::-1] and stop.reason == "start"


def test_task_focus_and_steps_of_n(recordings: dict[str, Recording]) -> None:
    rec = recordings["aio_prodcons"]
    session = Session(Index(rec))
    consumer = next(t.id for t in rec.tasks.values() if t.name == "consumer")
    expected = [e.seq for e in rec.events if e.task == consumer]
    session.set_focus("task", "consumer")
    session.goto(1)
    assert session.step(3).seq == expected[2]
    assert session.step(10**6).seq == expected[-1] and session.cursor == expected[-1]
    assert session.back(2).seq == expected[-3]
    with pytest.raises(UsageError, match="no task 'nosuch'"):
        session.set_focus("task", "nosuch")


def test_goto_forms_and_undo(recordings: dict[str, Recording]) -> None:
    rec = recordings["bank"]
    session = Session(Index(rec))
    last = len(rec.events)
    assert session.goto("last").seq == last and session.goto("first").seq == 1
    assert session.goto("12").seq == 12
    t12 = rec.events[11].t_ns
    later = session.goto("+1ms").seq
    assert rec.events[later - 1].t_ns >= t12 + 1_000_000 or later == last
    assert later == last or rec.events[later - 2].t_ns < t12 + 1_000_000
    # A time other than where "+1ms" landed (under load that can be event 30), so the goto moves.
    k = next(i for i in (29, 4, 40, 1) if rec.events[i].t_ns != rec.events[later - 1].t_ns)
    at = session.goto(f"@{rec.events[k].t_ns}ns").seq
    assert rec.events[at - 1].t_ns == rec.events[k].t_ns
    assert session.undo().seq == later and session.undo().seq == 12
    for bad in ("bogus", "0", str(last + 1), "+x"):
        with pytest.raises(UsageError):
            session.goto(bad)


def test_watch_object_stops_where_the_owner_changes_both_ways(recordings: dict[str, Recording]) -> None:
    rec = recordings["bank"]
    session = Session(Index(rec))
    lock = next(o for o in rec.objects.values() if o.label == "Lock#1")
    changes = [e.seq for e in rec.events if e.obj == lock.id and e.kind in ("lock.acquire", "lock.release")]
    watch = session.watch_object("Lock#1")
    assert watch.changes == changes
    session.goto(1)
    forward = []
    while (stop := session.cont()).reason == f"watch {watch.number}":
        forward.append(stop.seq)
    assert forward == changes and stop.reason == "end"
    backward = []
    while (stop := session.cont(forward=False)).reason == f"watch {watch.number}":
        backward.append(stop.seq)
    assert backward == changes[::-1] and stop.reason == "start"


def test_watch_local_stops_where_the_value_changes(recordings: dict[str, Recording]) -> None:
    rec = recordings["aio_prodcons"]
    session = Session(Index(rec))
    session.set_focus("task", "consumer")
    consumer = session.focus.id
    sampled = [(e.seq, dict(e.locals)["item"]) for e in rec.events if e.task == consumer and e.locals and "item" in dict(e.locals)]
    expected = [seq for i, (seq, value) in enumerate(sampled) if i == 0 or value != sampled[i - 1][1]]
    watch = session.watch_local("item")
    assert watch.changes[: len(expected)] == expected and len(expected) >= 10
    with pytest.raises(UsageError, match="never has a local named 'nosuch'"):
        session.watch_local("nosuch")


def test_locals_and_output_at_the_cursor(recordings: dict[str, Recording]) -> None:
    rec = recordings["bank"]
    session = Session(Index(rec))
    session.goto("last")
    assert session.output() == "".join(
        e.data[1] for e in rec.events if e.kind == "output"
    ) and session.output().startswith("after forced phase:")
    transfer = next(e for e in rec.events if e.kind == "lock.acquire" and e.locals)
    session.goto(transfer.seq)
    holder, focus = session.locals()
    assert holder is not None and holder.seq == transfer.seq and focus.id == transfer.thread
    assert {"src", "dst", "amount"} <= set(dict(holder.locals or ()))


def _stops(session: Session, forward: bool = True) -> tuple[list[int], str]:
    seqs = []
    while (stop := session.cont(forward)).reason.startswith("breakpoint"):
        seqs.append(stop.seq)
    return seqs, stop.reason


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("lock.acquire thread=churn-1", lambda rec, e: e.kind == "lock.acquire" and rec.threads[e.thread].name == "churn-1"),
        ("lock.* obj=Lock#2", lambda rec, e: e.kind.startswith("lock.") and e.obj == 2),
        ("lock.acquire if amount > 3", lambda rec, e: e.kind == "lock.acquire" and dict(e.locals or ()).get("amount", 0) > 3),
        ("transfer", lambda rec, e: e.site is not None and rec.sites[e.site].func == "transfer"),
        ("if thread == 4 and kind == 'lock.release'", lambda rec, e: e.thread == 4 and e.kind == "lock.release"),
    ],
)
def test_continue_stops_at_exactly_the_matching_events_both_ways(
    recordings: dict[str, Recording], text: str, matches: Any
) -> None:
    rec = recordings["bank"]
    expected = [e.seq for e in rec.events if matches(rec, e)]
    assert 1 < len(expected) < len(rec.events)
    session = Session(Index(rec, checkpoint_every=EVERY))
    bp = session.add_breakpoint(text)
    session.goto(1)
    forward, reason = _stops(session)
    assert forward == [s for s in expected if s > 1] and reason == "end" and session.cursor == len(rec.events)
    backward, reason = _stops(session, forward=False)
    assert backward == [s for s in expected if s < len(rec.events)][::-1] and reason == "start" and session.cursor == 1
    assert bp.hits == len(forward) + len(backward)


def test_temporary_disabled_and_combined_breakpoints(recordings: dict[str, Recording]) -> None:
    rec = recordings["bank"]
    session = Session(Index(rec))
    starts = [e.seq for e in rec.events if e.kind == "thread.start"]
    ends = [e.seq for e in rec.events if e.kind == "thread.end"]
    once = session.add_breakpoint("thread.end", temporary=True)
    starts_bp = session.add_breakpoint("thread.start")
    assert _stops(session)[0] == sorted([s for s in starts if s > 1] + ends[:1])
    assert once.number not in session.breakpoints and starts_bp.hits == len([s for s in starts if s > 1])
    session.enable(starts_bp.number, False)
    session.goto(1)
    assert session.cont() == session.cont() and session.cursor == len(rec.events)
    session.enable(starts_bp.number)
    session.delete(starts_bp.number)
    with pytest.raises(UsageError, match="no breakpoint"):
        session.delete(starts_bp.number)
    with pytest.raises(UsageError):
        session.add_breakpoint("lock.acquire if __import__('os')")


def test_breakpoint_and_watch_together_stop_at_the_nearer(recordings: dict[str, Recording]) -> None:
    rec = recordings["bank"]
    session = Session(Index(rec))
    watch = session.watch_object("Lock#3")
    session.add_breakpoint("output")
    changes = watch.changes
    outputs = [e.seq for e in rec.events if e.kind == "output"]
    expected = sorted(set(changes) | set(outputs))
    seen = []
    while (stop := session.cont()).reason != "end":
        seen.append(stop.seq)
    assert seen == [s for s in expected if s > 1]


def test_every_sample_recording_replays() -> None:
    """The golden recordings under recordings/samples (format 1 and 2) open in a session and replay end to end."""
    samples = sorted((ROOT / "recordings" / "samples").glob("*.cgr"))
    assert len(samples) >= 3
    for sample in samples:
        rec = read_log(str(sample))
        session = Session(Index(rec, checkpoint_every=EVERY))
        assert session.goto("last").seq == len(rec.events) and session.state() == _stepped(rec)[-1]
        assert session.state().exited is not None
        while session.back().reason == "back":
            pass
        assert session.cursor == 1


def test_a_woken_task_is_ready_until_it_resumes(recordings: dict[str, Recording]) -> None:
    rec = recordings["aio_prodcons"]
    index = Index(rec, checkpoint_every=EVERY)
    wakes = [e for e in rec.events if e.kind == "task.wake"]
    assert wakes
    for wake in wakes:
        woken = rec.data_dict(wake)["task"]
        assert index.state_at(wake.seq - 1).tasks[woken].status == "suspended"
        state = index.state_at(wake.seq)
        assert state.tasks[woken].status == "ready" and state.tasks[woken].woken_at == wake.seq
        resume = next(e for e in rec.events[wake.seq :] if e.task == woken and e.kind == "task.resume")
        assert index.state_at(resume.seq - 1).tasks[woken].status == "ready"
        assert index.state_at(resume.seq).tasks[woken].status == "running"
