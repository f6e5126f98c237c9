"""Applying events by their values (`Applier.step`), and the deadlock finder's shortcut for tasks.

The index's pass, `advance` and `apply` read the fields a handler needs
from the data tuple by position (a `KindRule` per kind) instead of building
a dict of every field per event. These check that the positions read what
the dict gave, for short data and for a kind table that repeats a name, and
that the finder, which skips the cycle search for a task that waits on no
one, still finds the cycles tasks close.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chronodbg.logfile import read_log
from chronodbg.logfile.events import Event
from chronodbg.logfile.reader import Recording
from chronodbg.replay.applier import KindRule, fields_maker
from chronodbg.replay.index import Index
from chronodbg.replay.waits import Deadlock
from replay_tests.crafted_code import Craft

SAMPLES = sorted((Path(__file__).parent.parent / "recordings" / "samples").glob("*.cgr"))


@pytest.mark.parametrize(
    "names",
    [(), ("a",), ("a", "b"), ("a", "a"), ("a", "b", "a"), ("b", "a", "b", "a"), tuple("abcde"), tuple("abcdea")],
)
def test_fields_by_position_are_what_the_dict_gives(names: tuple[str, ...]) -> None:
    rule, make = KindRule("mark", names), fields_maker(names)
    assert (rule.fit is None) == (len(set(names)) == len(names))
    for length in range(8):
        data = tuple(range(10, 10 + length))
        fields = make(data)
        read = rule.fit(data) if rule.fit is not None else data
        for name in {*names, "absent"}:
            assert rule.get(read, name) == fields.get(name), (names, data, name)
            if name in fields:
                assert rule.need(read, name) == fields[name]
            else:
                with pytest.raises(KeyError):
                    rule.need(read, name)


def _repeating_first_name(rec: Recording) -> Recording:
    """`rec` with each kind's first field name repeated in front, and a junk value in front of each data tuple.

    A dict of the fields keeps a repeated name's last value, so every field
    reads as before: the states must be the same.
    """
    fields = {kind: (names[0], *names) for kind, names in rec.fields.items() if names}
    events = []
    for e in rec.events:
        data = ("junk", *e.data) if e.kind in fields and e.data else e.data
        events.append(Event(e.seq, e.t_ns, e.thread, e.task, e.kind, e.obj, e.site, data))
    return dataclasses.replace(rec, events=events, fields={**rec.fields, **fields})


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_a_kind_table_that_repeats_a_name_indexes_as_its_dict_reads(path: Path) -> None:
    rec = read_log(str(path))
    index, repeated = Index(rec, checkpoint_every=5), Index(_repeating_first_name(rec), checkpoint_every=5)
    assert repeated.applier.rule("lock.acquire").fit is not None
    assert repeated.checkpoints == index.checkpoints
    assert repeated.deadlocks == index.deadlocks
    assert (repeated.depths, repeated.task_depths) == (index.depths, index.task_depths)
    for seq in range(len(rec.events) + 1):
        assert repeated.state_at(seq) == index.state_at(seq), f"seq {seq}"


def test_the_finder_finds_the_cycles_tasks_close(tmp_path: Path) -> None:
    craft = Craft(tmp_path / "prog.py", level="sync")
    loop = craft.thread("MainThread")
    lock1, lock2, queue = craft.obj("asyncio.Lock"), craft.obj("asyncio.Lock"), craft.obj("asyncio.Queue")
    a, b, c, d, e, f, g = (craft.task(name, "work") for name in "abcdefg")
    for task in (a, b, c, d, e, f, g):
        loop.sync("task.create", 1, (task, f"Task-{task}", "work", False))

    def step(task: int, kind: str, data: tuple[object, ...] = (), obj: int | None = None) -> int:
        return craft.emit(loop.tid, task, kind, data, craft.site(2, "work"), obj)

    # A queue get and a timed wait close nothing, nor does a wait on one that waits with a timeout.
    step(c, "task.resume")
    step(c, "task.suspend", ("queue", None, None), queue)
    step(d, "task.resume")
    step(d, "task.suspend", ("task", e, 5.0))
    step(e, "task.resume")
    step(e, "task.suspend", ("task", d, None))
    # a and b each hold one asyncio.Lock and wait for the other's: the second wait closes the cycle.
    step(a, "task.resume")
    step(a, "lock.acquire", (0, 1), lock1)
    step(b, "task.resume")
    step(b, "lock.acquire", (0, 1), lock2)
    step(b, "lock.wait", (None,), lock1)
    step(b, "task.suspend", ("lock", None, None), lock1)
    step(a, "task.resume")
    step(a, "lock.wait", (None,), lock2)
    closed_by_a = step(a, "task.suspend", ("lock", None, None), lock2)
    # f awaits g, and g gathers f.
    step(f, "task.resume")
    step(f, "task.suspend", ("task", g, None))
    step(g, "task.resume")
    closed_by_g = step(g, "task.suspend", ("gather", ("list", 1, (f,)), None))
    index = Index(craft.write(tmp_path / "tasks.cgr"))
    assert index.deadlocks == [
        Deadlock(closed_by_a, "cycle", (("task", a), ("task", b))),
        Deadlock(closed_by_g, "cycle", (("task", g), ("task", f))),
    ]
