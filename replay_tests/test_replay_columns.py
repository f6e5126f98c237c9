"""The compact replay structures: events as columns, timelines as arrays, checkpoints copied by hand.

Each is checked against what it replaced (a list of Event objects, a SortedList,
copy.deepcopy) on the sample recordings and on crafted ones.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

import msgpack
import pytest
from sortedcontainers import SortedList

from chronodbg.errors import LogError
from chronodbg.logfile import format as fmt
from chronodbg.logfile import read_log
from chronodbg.logfile.events import NONE, EventList
from chronodbg.replay.applier import fields_maker
from chronodbg.replay.index import Index
from chronodbg.replay.seqs import Timeline
from chronodbg.replay.session import Focus, Session
from replay_tests.crafted_code import Craft
from replay_tests.fuzz_reader import frame, frames

SAMPLES = sorted((Path(__file__).parent.parent / "recordings" / "samples").glob("*.cgr"))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_event_list_reads_like_a_list_of_events(path: Path) -> None:
    rec = read_log(str(path))
    events = rec.events
    assert isinstance(events, EventList)
    as_list = list(events)
    assert [e.seq for e in as_list] == list(range(1, len(events) + 1))
    assert events[0] == as_list[0] and events[-1] == as_list[-1] and events[len(events) // 2] == as_list[len(events) // 2]
    assert events[3:9] == as_list[3:9] and events[::-7] == as_list[::-7]
    assert list(reversed(events)) == as_list[::-1]
    assert list(events.at([5, 2, len(events)])) == [as_list[4], as_list[1], as_list[-1]]
    assert [e.locals for e in events] == [e.locals for e in as_list]
    # Columns built from Event objects (a recording made in memory) hold the same events.
    assert EventList.of(as_list) == events
    with pytest.raises(IndexError):
        events[len(events)]


def test_timeline_answers_as_the_sorted_list_did() -> None:
    rng = random.Random(8)
    seqs = sorted(rng.sample(range(1, 5000), 300))
    line, sorted_list = Timeline("I", seqs), SortedList(seqs)
    assert line == seqs and list(line) == list(sorted_list)
    for probe in [0, 1, *rng.sample(range(0, 5001), 200), 5000]:
        assert line.bisect_left(probe) == sorted_list.bisect_left(probe)
        assert line.bisect_right(probe) == sorted_list.bisect_right(probe)
        assert (probe in line) == (probe in sorted_list)
    for start, stop in [(0, None), (5, 17), (None, 40), (250, 400), (17, 5)]:
        for reverse in (False, True):
            assert list(line.islice(start, stop, reverse=reverse)) == list(sorted_list.islice(start, stop, reverse=reverse))
    assert line.index(seqs[42]) == 42
    with pytest.raises(ValueError):
        line.index(5001)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_checkpoint_copies_equal_deep_copies_and_share_nothing(path: Path) -> None:
    rec = read_log(str(path))
    index = Index(rec, checkpoint_every=5)
    for seq in range(0, len(rec.events) + 1, 3):
        state = index.state_at(seq)
        copied = state.copy()
        assert copied == copy.deepcopy(state) == state
        for thread in copied.threads.values():
            thread.status = "changed"
        for lock in copied.locks.values():
            lock.waiters.append(("thread", -1))
        for queue in copied.queues.values():
            queue.items.append("x")
        assert state == index.state_at(seq), f"a copy at {seq} shares something with its original"


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_back_from_the_kept_state_equals_a_jump(path: Path) -> None:
    rec = read_log(str(path))
    index = Index(rec, checkpoint_every=16)
    session = Session(index)
    rng = random.Random(3)
    for focus in (Focus(), Focus("thread", next(iter(rec.threads)))):
        session.focus = focus
        for _ in range(30):
            session.goto(rng.randint(1, len(rec.events)))
            session.state()
            for move in (session.step, session.back, session.back, session.step):
                move()
                assert session.state() == index.state_at(session.cursor), (focus, session.cursor)


def _crafted(tmp_path: Path, changes: dict[int, tuple[int, object]]) -> Path:
    """A small valid recording, then field (position, value) of some events (by seq) replaced on disk."""
    craft = Craft(tmp_path / "prog.py", level="sync")
    main = craft.thread("MainThread").tid
    lock = craft.obj("Lock")
    site = craft.site(3, "main")
    for _ in range(50):
        craft.emit(main, None, "lock.acquire", (0, 1), site, lock)
        craft.emit(main, None, "lock.release", (0,), site, lock)
    path = tmp_path / "crafted.cgr"
    craft.write(path, chunk=32)
    data = path.read_bytes()
    for offset, tag, body in reversed(frames(data)):
        if tag != fmt.TAG_CHUNK:
            continue
        chunk = list(msgpack.unpackb(body, raw=False, use_list=False, strict_map_key=False))
        records = [list(r) for r in msgpack.unpackb(chunk[4], raw=False, use_list=False)]
        for seq, (position, value) in changes.items():
            if chunk[0] <= seq < chunk[0] + len(records):
                records[seq - chunk[0]][position] = value
        chunk[4] = msgpack.packb(records)
        data = data[:offset] + frame(tag, msgpack.packb(chunk)) + data[offset + fmt.FRAME.size + len(body) :]
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("position", "value"),
    [(1, True), (1, 99), (1, 1.0), (2, 7), (4, NONE), (5, "site"), (6, {"a": 2}), (7, 3)],
    ids=["thread-bool", "thread-unknown", "thread-float", "task-unknown", "obj-none-marker", "site-str", "data-map", "snap-missing"],
)
def test_the_column_check_names_the_first_bad_event(tmp_path: Path, position: int, value: object) -> None:
    path = _crafted(tmp_path, {40: (position, value), 45: (position, value)})
    with pytest.raises(LogError, match=r"malformed event 40\b"):
        read_log(str(path))


def test_a_bool_where_the_rules_take_one_still_reads(tmp_path: Path) -> None:
    # isinstance(True, int): the per-event rules accept a bool time step or kind code, so the column check must too.
    rec = read_log(str(_crafted(tmp_path, {})))
    odd = read_log(str(_crafted(tmp_path, {1: (3, True), 2: (0, True)})))
    assert odd.events[0].kind == "thread.start" and odd.events[1].t_ns == odd.events[0].t_ns + 1
    assert [e.kind for e in odd.events[2:]] == [e.kind for e in rec.events[2:]]


def test_ids_past_four_bytes_widen_their_column(tmp_path: Path) -> None:
    craft = Craft(tmp_path / "prog.py", level="sync")
    main = craft.thread("MainThread").tid
    big = 1 << 40
    craft.defs["threads"].append((big, "big", 5, None))
    site = craft.site(3, "main")
    for thread in (main, big, main):
        craft.emit(thread, None, "mark", ("m", None), site)
    rec = craft.write(tmp_path / "big.cgr")
    assert [e.thread for e in rec.events] == [main, big, main]
    assert isinstance(rec.events, EventList) and rec.events.thread.typecode == "q"
    assert list(Index(rec).by_thread[big]) == [2]


@pytest.mark.parametrize("names", [(), ("a",), ("a", "b"), ("a", "a"), ("a", "b", "c"), ("a", "b", "c", "d"), tuple("abcde")])
def test_fields_by_name_are_what_zip_gives(names: tuple[str, ...]) -> None:
    make = fields_maker(names)
    for length in range(7):
        data = tuple(range(length))
        assert make(data) == dict(zip(names, data, strict=False)), (names, data)
