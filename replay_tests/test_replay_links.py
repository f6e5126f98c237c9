"""Causal links (`goto cause` / `goto effect`) on real recordings, checked against brute force per link kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from chronodbg.errors import UsageError
from chronodbg.logfile import read_log
from chronodbg.logfile.reader import Event, Recording
from chronodbg.replay.index import Index
from chronodbg.replay.links import Links
from chronodbg.replay.session import Session
from replay_tests.conftest import PROGRAMS, record

NAMES = ("bank", "prodcons", "handoff", "barrier", "pool", "aio_prodcons", "aio_threadsafe", "aio_primitives")


@pytest.fixture(scope="module")
def recs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Recording]:
    tmp = tmp_path_factory.mktemp("links")
    out = {}
    for name in NAMES:
        run = record(tmp, PROGRAMS / f"{name}.py", *(["20"] if name == "bank" else []))
        assert run.returncode == 0, run.stderr
        out[name] = read_log(str(run.path))
    return out


def _last_before(rec: Recording, event: Event, kind: str) -> int | None:
    found = [e.seq for e in rec.events[: event.seq - 1] if e.kind == kind and e.obj == event.obj]
    return found[-1] if found else None


@pytest.mark.parametrize("name", NAMES)
def test_every_link_is_the_one_brute_force_finds(recs: dict[str, Recording], name: str) -> None:
    rec = recs[name]
    links = Links.of(rec)
    # The index builds the same links in its own pass.
    assert Index(rec).links.cause == links.cause
    data = rec.data_dict
    checked = 0
    for event in rec.events:
        cause = links.cause.get(event.seq)
        if cause is not None:
            assert event.seq in links.effects[cause] and cause < event.seq
        kind = event.kind
        for effect_kind, cause_kind in (
            ("lock.acquire", "lock.release"),
            ("sem.acquire", "sem.release"),
            ("barrier.pass", "barrier.wait"),
            ("future.wake", "future.set"),
            ("queue.joined", "queue.task_done"),
        ):
            if kind == effect_kind:
                expected = _last_before(rec, event, cause_kind)
                if expected is None and cause is not None:
                    # Nothing on the object before it: its thread's start made it possible.
                    assert rec.events[cause - 1].kind == "thread.start" and data(rec.events[cause - 1])["thread"] == event.thread
                else:
                    assert cause == expected, event
                checked += 1
        if kind == "event.wake":
            assert cause == (_last_before(rec, event, "event.set") if data(event)["result"] else None)
            checked += 1
        if kind == "cond.wake" and data(event)["notified"]:
            assert cause == _last_before(rec, event, "cond.notify") and cause is not None
            checked += 1
        if kind == "queue.get":
            put = rec.events[cause - 1] if cause else None
            assert put is not None and put.kind == "queue.put" and put.obj == event.obj
            assert data(put)["item"] == data(event)["item"]
            checked += 1
        if kind == "thread.joined":
            ended = [e.seq for e in rec.events if e.kind == "thread.end" and data(e)["thread"] == data(event)["thread"]]
            assert cause == (ended[0] if ended and ended[0] < event.seq else None)
            checked += 1
        if kind == "task.resume" and cause is not None:
            wake = rec.events[cause - 1]
            assert wake.kind == "task.wake" and data(wake)["task"] == event.task
            checked += 1
        if kind == "loop.callback":
            call = rec.events[cause - 1] if cause else None
            assert call is not None and call.kind == "loop.call" and data(call)["call"] == data(event)["call"]
            checked += 1
    # Every thread's first event is linked to the start that made it.
    for event in rec.events:
        starts = [e.seq for e in rec.events if e.kind == "thread.start" and data(e)["thread"] == event.thread]
        first = next(e.seq for e in rec.events if e.thread == event.thread)
        if starts and event.seq == first:
            particular = rec.events[links.cause[first] - 1]
            assert links.cause[first] == starts[0] or particular.obj is not None, (event, particular)
            checked += 1
    assert checked > 0


def test_queue_gets_follow_their_puts_in_order(recs: dict[str, Recording]) -> None:
    rec = recs["prodcons"]
    links = Links.of(rec)
    for oid in {e.obj for e in rec.events if e.kind == "queue.put"}:
        gets = [e for e in rec.events if e.kind == "queue.get" and e.obj == oid]
        puts = [links.cause[g.seq] for g in gets]
        assert puts == sorted(puts), "a FIFO queue's items leave in the order they came"


def test_asyncio_wakes_chain_back_to_the_put(recs: dict[str, Recording]) -> None:
    rec = recs["aio_prodcons"]
    index = Index(rec)
    session = Session(index)
    resumes = [e.seq for e in rec.events if e.kind == "task.resume" and e.seq in index.links.cause]
    assert resumes
    for seq in resumes:
        session.goto(seq)
        wake = session.goto("cause")
        assert wake.reason == "cause" and session.event.kind == "task.wake"
        waker = session.goto("cause")
        assert session.event.kind in ("queue.get", "queue.put") and session.event.task != rec.events[seq - 1].task, waker
        assert session.goto("effect").seq == wake.seq


def test_goto_cause_and_effect_say_when_there_is_none(recs: dict[str, Recording]) -> None:
    session = Session(Index(recs["bank"]))
    session.goto("last")
    with pytest.raises(UsageError, match=r"goto cause: nothing recorded made seq \d+ \(process.exit\) possible"):
        session.goto("cause")
    with pytest.raises(UsageError, match="made nothing recorded possible"):
        session.goto("effect")


def test_links_in_the_sample_transcript() -> None:
    from replay_tests.conftest import chronodbg

    sample = Path(__file__).parent.parent / "recordings" / "samples" / "aio_prodcons-v2.cgr"
    proc = chronodbg("replay", str(sample), "-c", "goto 17", "-c", "goto cause", "-c", "goto cause", "-c", "goto cause")
    lines = [line for line in proc.stdout.decode().splitlines() if line.startswith("cause:")]
    assert [line.split(" · ")[-2].split()[0] for line in lines] == ["task.wake", "queue.get", "queue.put"]
