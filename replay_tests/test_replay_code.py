"""Replay at code level: call stacks, next / finish / reverse moves, frames, locals, breakpoints and watches.

Two kinds of recordings: crafted ones (replay_tests/crafted_code.py), which
hold exactly the events a tracer writes for small programs, odd ones
included, and real ones of a small program recorded at level lines and
calls. Every stack is checked against a brute-force rebuild, at every seq.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chronodbg.errors import ChronoError, UsageError
from chronodbg.logfile import read_log
from chronodbg.logfile.reader import Recording
from chronodbg.repl.commands import Commands
from chronodbg.replay.index import Index
from chronodbg.replay.session import Session
from chronodbg.replay.state import State
from replay_tests.crafted_code import (
    brute_depths,
    brute_locals,
    brute_stacks,
    crafted_aio,
    crafted_odd,
    crafted_program,
    crafted_threads,
    engine_stacks,
)

#: Small, so that even short recordings cross many checkpoints.
EVERY = 7


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Recording]:
    tmp = tmp_path_factory.mktemp("code")
    return {
        "prog": crafted_program(tmp),
        "aio": crafted_aio(tmp),
        "threads": crafted_threads(tmp),
        "threads_calls": crafted_threads(tmp, "calls"),
    }


def session_of(rec: Recording) -> Session:
    return Session(Index(rec, checkpoint_every=EVERY))


def run(commands: Commands, *lines: str) -> list[str]:
    return [commands.run(line).text for line in lines]


NAMES = ["prog", "aio", "threads", "threads_calls"]


# -- stacks ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_stacks_at_every_seq_equal_a_brute_force_rebuild(recordings: dict[str, Recording], name: str) -> None:
    rec = recordings[name]
    index = Index(rec, checkpoint_every=EVERY)
    assert index.depths is not None and index.task_depths is not None
    state = State()
    for event in rec.events:
        index.applier.apply(state, event)
        expected = brute_stacks(rec, event.seq)
        assert engine_stacks(state) == expected, f"seq {event.seq}"
        # Jumping there (a checkpoint, then events) gives the same state as stepping there.
        assert index.state_at(event.seq) == state, f"seq {event.seq}"
        assert (index.depths[event.seq - 1], index.task_depths[event.seq - 1]) == brute_depths(rec, event.seq)


def test_checkpoints_copy_frames_apart_and_keep_shared_ones_shared(recordings: dict[str, Recording]) -> None:
    rec = recordings["aio"]
    index = Index(rec, checkpoint_every=EVERY)
    suspend = next(e.seq for e in rec.events if e.kind == "task.suspend" and e.task == 2)
    state = index.state_at(suspend)
    parked = state.parked[2]
    assert [f.id for f in parked] == [state.suspended[f.id].id for f in parked]
    assert all(state.suspended[f.id] is f for f in parked)
    copied = state.copy()
    assert copied == state and all(copied.suspended[f.id] is f for f in copied.parked[2])
    copied.parked[2][0].locals["n"] = 99
    assert state.parked[2][0].locals["n"] == 1


def test_odd_recordings_never_break_the_stacks(tmp_path: Path) -> None:
    rec = crafted_odd(tmp_path)
    index = Index(rec, checkpoint_every=3)
    expected: list[list[tuple[int, dict[str, Any]]]] = [
        [(40, {"x": 1})],
        [(40, {"x": 1}), (41, {"n": 3})],
        [(40, {"x": 1}), (41, {"n": 3}), (42, {"n": 2})],
        [(40, {"x": 1}), (41, {"n": 3, "a": 1})],  # 42 left unseen; zz was never bound
        [(40, {"x": 1}), (41, {"n": 3, "a": 1}), (43, {})],
        [],  # the return of 40 takes 43 and 41 with it
        [],  # a return of a frame nobody saw
        [(44, {})],  # a resume of a frame suspended before the recording
        [(44, {})],  # a frame id that is not one
        [(44, {})],  # `changed` that is not pairs
        [(44, {"ok": 2})],  # only the well-formed pair
        [],
        [],  # an unwind without a frame
        [],
    ]
    assert len(expected) == len(rec.events)
    for event, frames in zip(rec.events, expected, strict=True):
        stack = index.state_at(event.seq).stacks.get(1)
        assert [(f.id, f.locals) for f in (stack.frames if stack else [])] == frames, f"seq {event.seq}"
    assert 44 in index.state_at(len(rec.events)).suspended
    # Every command answers (or refuses with one line) at every point.
    commands = Commands(session_of(rec))
    for seq in range(1, len(rec.events) + 1):
        for line in ("where", "locals", "list", "next", "rn", "finish", "rf", "up", "down", "print x"):
            commands.session.goto(seq)
            try:
                commands.run(line)
            except ChronoError as exc:
                assert "\n" not in str(exc)


def views(session: Session) -> Iterator[tuple[str, Any]]:
    """What the code commands show at the cursor, for every focus: stack, selected frame's locals, texts."""
    commands = Commands(session)
    rec = session.rec
    foci = [("all", None)] + [("thread", t) for t in rec.threads] + [("task", t) for t in rec.tasks]
    for kind, ident in foci:
        session.set_focus(kind, ident)
        view = session.stack()
        yield f"{kind} {ident} stack", [(f.id, f.site, dict(f.locals), f.seq) for f in view.frames]
        yield f"{kind} {ident} flags", (view.leaving, view.suspended, view.thread)
        for line in ("where", "locals", "list", "print 1"):
            yield f"{kind} {ident} {line}", commands.run(line).text
        found = session.frame_locals()
        yield f"{kind} {ident} frame locals", found[1] if found else None
    session.set_focus("all")


@pytest.mark.parametrize("name", NAMES)
def test_goto_any_seq_shows_what_stepping_there_shows(recordings: dict[str, Recording], name: str) -> None:
    rec = recordings[name]
    stepping = session_of(rec)
    seen: dict[int, list[tuple[str, Any]]] = {1: list(views(stepping))}
    while stepping.step().reason == "step":
        seen[stepping.cursor] = list(views(stepping))
    jumping = session_of(rec)
    # Backward and forward jumps of every length, through checkpoints.
    for seq in [*range(len(rec.events), 0, -3), *range(2, len(rec.events) + 1, 5), *range(1, len(rec.events) + 1)]:
        jumping.goto(seq)
        assert list(views(jumping)) == seen[seq], f"seq {seq}"


# -- moves over calls -------------------------------------------------------------------


def timelines(rec: Recording) -> Iterator[tuple[str, int, list[int], int]]:
    """(focus kind, id, its seqs, which depth counts: 0 thread, 1 task) for every thread and task."""
    for tid in rec.threads:
        yield "thread", tid, [e.seq for e in rec.events if e.thread == tid], 0
    for task in rec.tasks:
        yield "task", task, [e.seq for e in rec.events if e.task == task], 1


@pytest.mark.parametrize("name", NAMES)
def test_next_reverse_next_and_finish_everywhere_match_the_brute_force_depths(
    recordings: dict[str, Recording], name: str
) -> None:
    rec = recordings[name]
    session = session_of(rec)
    depth = {seq: brute_depths(rec, seq) for seq in range(1, len(rec.events) + 1)}
    for kind, ident, seqs, which in timelines(rec):
        session.set_focus(kind, ident)
        for i, seq in enumerate(seqs):
            session.goto(seq)
            view = session.stack()
            # The selected frame's depth: the event's own, but where a task
            # is suspended, its view is the chain of coroutines it waits in.
            here = len(view.frames)
            assert here == depth[seq][which] or (view.suspended and depth[seq][which] == 0), (kind, ident, seq)
            later = [s for s in seqs[i + 1 :] if depth[s][which] <= here]
            session.goto(seq)
            stop = session.next()
            assert (stop.seq, stop.reason) == ((later[0], "step") if later else (seqs[-1], "end")), (kind, ident, seq)
            earlier = [s for s in seqs[:i] if depth[s][which] <= here]
            session.goto(seq)
            stop = session.next(forward=False)
            assert (stop.seq, stop.reason) == ((earlier[-1], "back") if earlier else (seqs[0], "start")), (
                kind,
                ident,
                seq,
            )
            session.goto(seq)
            if not session.stack().frames or session.stack().leaving:
                with pytest.raises(UsageError, match="finish: "):
                    session.finish()
                continue
            leaves = [s for s in later if rec.events[s - 1].kind in ("return", "unwind")]
            stop = session.finish()
            assert (stop.seq, stop.reason) == ((leaves[0], "finish") if leaves else (seqs[-1], "end")), (
                kind,
                ident,
                seq,
            )


def test_next_and_finish_in_a_recursion(recordings: dict[str, Recording]) -> None:
    rec = recordings["prog"]
    commands = Commands(session_of(rec))
    session = commands.session
    # main's `total = fib(3)`: seq 4; fib(3) runs from its call at 5 to its return at 28.
    session.goto(4)
    assert run(commands, "next") == ['seq 29/69 · T1 "MainThread" · +0.000029s · line · prog.py:28 main  total=2']
    assert session.next(forward=False).seq == 4
    # Into it: the call of fib(3), its lines, over fib(2) and fib(1).
    assert session.step().seq == 5 and session.event.kind == "call"
    assert [session.next().seq for _ in range(4)] == [6, 7, 22, 27]
    assert commands.run("where").text.splitlines()[1] == "-> #0  fib(n=3) at prog.py:6 · frame 3, called at seq 5"
    assert session.next(3, forward=False).seq == 6
    stop = session.finish()
    assert (stop.seq, stop.reason) == (28, "finish") and rec.data_dict(session.event) == {
        "frame": 3,
        "how": "return",
        "value": 2,
    }
    assert session.stack().leaving and commands.run("where").text.splitlines()[1].endswith(" · returning 2")
    with pytest.raises(UsageError, match="leaves at this event already"):
        session.finish()
    assert session.reverse_finish().seq == 5  # back to the call of fib(3)
    assert session.reverse_finish().seq == 4  # and from the call, to the caller's line


def test_up_selects_the_frame_next_and_finish_use(recordings: dict[str, Recording]) -> None:
    rec = recordings["prog"]
    commands = Commands(session_of(rec))
    session = commands.session
    # In fib(1), three calls deep in fib(3).
    deepest = next(e.seq for e in rec.events if e.kind == "line" and rec.sites[e.site or 0].line == 3)
    session.goto(deepest)
    assert [f.locals["n"] for f in session.stack().frames[:3]] == [1, 2, 3]
    assert run(commands, "up 2") == ["#2  fib(n=3) at prog.py:4 · frame 3, called at seq 5\n      4     a = fib(n - 1)"]
    assert commands.run("locals").text == (
        "locals of #2 fib at prog.py:4 (thread 1, frame 3):\n  (rebuilt from its call and its lines, as its current line starts)\n  n = 3"
    )
    assert commands.run("print n * 2").text == "6"
    assert "->    4     a = fib(n - 1)" in commands.run("list").text.splitlines()
    with pytest.raises(UsageError, match="the outermost frame is selected"):
        session.select_frame(10)
    assert run(commands, "down")[0].startswith("#1  fib(n=2) at prog.py:4")
    with pytest.raises(UsageError, match="the innermost frame is selected"):
        session.select_frame(2, outward=False)
    session.select_frame(1)
    # next in frame #2: runs until fib(3) has its next line.
    stop = session.next()
    assert rec.sites[session.event.site or 0].line == 5 and session.event.kind == "line" and session.frame == 0
    assert session.stack().frames[0].locals == {"n": 3, "a": 1}
    session.goto(deepest)
    session.select_frame(2)
    assert session.finish().seq == next(e.seq for e in rec.events if e.kind == "return" and e.data[0] == 3)
    session.goto(deepest)
    session.select_frame(2)
    assert session.reverse_finish().seq == 5 and stop.reason == "step"


def test_an_exception_caught_two_frames_up(recordings: dict[str, Recording]) -> None:
    rec = recordings["prog"]
    commands = Commands(session_of(rec))
    session = commands.session
    raised = next(e.seq for e in rec.events if e.kind == "raise")
    session.goto(raised)
    assert [render_func(rec, f.site) for f in session.stack().frames] == [
        "risky",
        "middle",
        "guard",
        "main",
        "<module>",
    ]
    assert run(commands, "when")[0].endswith("raise ValueError · prog.py:14 risky  args=(5,)")
    stop = session.finish()
    assert session.event.kind == "unwind" and stop.seq == raised + 1
    assert commands.run("where").text.splitlines()[1].endswith("· unwinding ValueError")
    session.goto(raised)
    session.select_frame(2)  # guard: its finish is its return, after it handled the exception
    session.finish()
    assert session.event.kind == "return" and rec.data_dict(session.event)["value"] == -1
    handled = next(e.seq for e in rec.events if e.kind == "handled")
    assert [render_func(rec, f.site) for f in session_of(rec).index.state_at(handled).stacks[1].frames] == [
        "<module>",
        "main",
        "guard",
    ]
    # From guard's call line, next steps over middle and risky to where guard catches it.
    session.goto(54)
    assert rec.sites[session.event.site or 0].line == 22 and session.next().seq == handled


def render_func(rec: Recording, site: int | None) -> str:
    return rec.sites[site].func if site is not None else "?"


def test_a_generator_keeps_its_locals_while_suspended(recordings: dict[str, Recording]) -> None:
    rec = recordings["prog"]
    commands = Commands(session_of(rec))
    session = commands.session
    yields = [e.seq for e in rec.events if e.kind == "return" and rec.data_dict(e)["how"] == "yield"]
    resumes = [e.seq for e in rec.events if e.kind == "call" and rec.data_dict(e)["how"] == "resume"]
    assert len(yields) == 3 and len(resumes) == 3
    session.goto(yields[0])
    assert (
        commands.run("where")
        .text.splitlines()[1]
        .endswith("squares(k=3) at prog.py:10 · frame 8, called at seq 30 · yielding 0")
    )
    assert (
        run(commands, "next", "next")
        == [
            'seq 34/69 · T1 "MainThread" · +0.000034s · line · prog.py:29 main  sq=0',
            'seq 35/69 · T1 "MainThread" · +0.000035s · line · prog.py:28 main',
        ]
        and session.next().seq == 40
    )  # over the whole resumed activation of squares
    session.goto(resumes[1])
    assert (
        commands.run("where").text.splitlines()[1]
        == "-> #0  squares(k=3) at prog.py:10 · frame 8, called at seq 30, resumed at seq 42"
    )
    assert dict(session.frame_locals()[1].values) == {"k": 3, "i": 1}  # type: ignore[index]
    assert session.finish().seq == yields[2]  # where it leaves the stack again: its next yield
    assert session.reverse_finish().seq == resumes[1]  # where it came back on


# -- tasks and threads ----------------------------------------------------------------


def test_a_suspended_task_shows_the_coroutines_it_waits_in(recordings: dict[str, Recording]) -> None:
    commands = Commands(session_of(recordings["aio"]))
    session = commands.session
    run(commands, "task worker-a", "goto 20")  # its task.suspend: fetch and worker have yielded
    assert commands.run("where").text == (
        "task 2 is suspended; the coroutines it waits in at seq 20:\n"
        "-> #0  fetch(n=1) at aio.py:4 · frame 4, called at seq 16\n"
        "   #1  worker(name='a', n=1) at aio.py:8 · frame 3, called at seq 14"
    )
    assert commands.run("where").data["suspended"] is True
    assert commands.run("locals").text.endswith("n = 1")
    run(commands, "up")
    assert commands.run("print (name, n)").text == "('a', 1)"
    # Resumed: the same frames, running again, with what they had.
    session.goto(32)
    view = session.stack()
    assert not view.suspended and [(f.id, f.seq, f.locals) for f in view.frames] == [
        (4, 31, {"n": 1}),
        (3, 30, {"name": "a", "n": 1}),
    ]
    # The thread shows every frame on it, whichever task pushed it.
    session.set_focus("all")
    assert [f.id for f in session.stack().frames] == [4, 3, 1]


def test_moves_in_a_task_focus_walk_that_task(recordings: dict[str, Recording]) -> None:
    session = session_of(recordings["aio"])
    session.set_focus("task", "worker-a")
    session.goto(15)  # worker's `got = await fetch(n)`
    assert [session.next().seq for _ in range(3)] == [19, 20, 29]  # its yield, its suspension, its next step
    session.goto(15)
    assert session.finish().seq == 19  # a coroutine leaves the stack where it yields
    session.goto(32)  # fetch resumed, at `return n * 10`
    session.select_frame(1)
    assert session.finish().seq == 35  # worker returns 11
    session.goto(32)
    assert session.reverse_finish().seq == 31 and session.reverse_finish().seq == 30
    # The other worker's events are never visited.
    session.goto(15)
    assert session.next(50).seq == 36 and session.next(50, forward=False).seq == 13


def test_threads_have_a_stack_each(recordings: dict[str, Recording]) -> None:
    rec = recordings["threads"]
    commands = Commands(session_of(rec))
    session = commands.session
    run(commands, "goto 15", "thread b")  # the cursor on a's lock.acquire, the focus on b
    assert commands.run("where").text == (
        "stack of thread 3 at seq 15:\n"
        "-> #0  bump(name='b', times=2) at threads_lines.py:8 · frame 5, called at seq 11\n"
        "   #1  run(name='b') at threads_lines.py:13 · frame 4, called at seq 9"
    )
    assert session.next().seq == 16 and session.event.thread == 3
    # At a's lock event, which sampled bump's locals, `print` in run's frame reads run's.
    run(commands, "goto 15", "thread a")
    assert commands.run("print i").text == "0"
    run(commands, "up")
    with pytest.raises(ChronoError, match="no local or field named 'i'"):
        commands.run("print i")
    assert commands.run("print name").text == "'a'"
    run(commands, "focus all", "goto 13")
    assert session.next().seq == 15 and session.event.thread == 2  # the current event's thread
    assert session.next(forward=False).seq == 13


def test_at_level_calls_locals_come_from_samples_or_the_arguments(recordings: dict[str, Recording]) -> None:
    rec = recordings["threads_calls"]
    index = Index(rec, checkpoint_every=EVERY)
    assert index.code_level == "calls"
    commands = Commands(Session(index))
    session = commands.session
    session.goto(7)  # b's call of bump: only its arguments are known
    assert commands.run("locals").text == (
        "locals of #0 bump at threads_calls.py:6 (thread 3, frame 5):\n"
        "  (its arguments, as called at seq 7: nothing sampled in it since)\n"
        "  name = 'b'\n"
        "  times = 2"
    )
    session.goto(15)  # a's lock.release in its second turn: what was sampled there
    assert commands.run("locals").text.splitlines()[1:] == [
        "  (sampled at seq 15: no line events in this recording)", "  name = 'a'", "  times = 2", "  i = 1",
    ]  # fmt: skip
    # A sync event tells the line of the frame it happens in; run's line is its def's.
    assert commands.run("where").text.splitlines()[1:] == [
        "-> #0  bump(name='a', times=2) at threads_calls.py:9 · frame 3, called at seq 5",
        "   #1  run(name='a') at threads_calls.py:12 · frame 2, called at seq 4",
    ]
    run(commands, "up")
    assert session.frame_locals()[1].source == "args"  # type: ignore[index]
    assert commands.run("print name").text == "'a'"
    session.goto(16)
    session.set_focus("thread", 2)  # a's latest sample in bump (seq 15) is within the same activation
    assert dict(session.frame_locals()[1].values)["i"] == 1  # type: ignore[index]
    # Watches use the samples, as without call events.
    assert session.watch_local("i").changes == [8, 13]


# -- breakpoints and watches ------------------------------------------------------------


def stops(session: Session, forward: bool = True) -> list[int]:
    seqs = []
    while (stop := session.cont(forward)).reason.startswith(("breakpoint", "watch")):
        seqs.append(stop.seq)
    return seqs


def line_at(rec: Recording, seq: int) -> int:
    site = rec.site_of(rec.events[seq - 1])
    return site.line if site else 0


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        (
            "fib",
            lambda rec, e, names: (
                e.kind == "call" and e.data[:2] == (e.data[0], "call") and rec.site_of(e).func == "fib"
            ),
        ),
        ("fib if n == 0", lambda rec, e, names: e.kind == "call" and rec.site_of(e).func == "fib" and names["n"] == 0),
        (
            "squares",
            lambda rec, e, names: e.kind == "call" and e.data[1] == "call" and rec.site_of(e).func == "squares",
        ),
        ("call func=squares if how == 'resume'", lambda rec, e, names: e.kind == "call" and e.data[1] == "resume"),
        ("prog.py:10 if i == 2", lambda rec, e, names: line_at(rec, e.seq) == 10 and names.get("i") == 2),
        ("prog.py:2 if n == 1", lambda rec, e, names: line_at(rec, e.seq) == 2 and names.get("n") == 1),
        (
            "return func=fib if value == 1 and n == 1",
            lambda rec, e, names: (
                e.kind == "return" and rec.site_of(e).func == "fib" and e.data[2] == 1 and names["n"] == 1
            ),
        ),
        ("line if total > 2", lambda rec, e, names: e.kind == "line" and names.get("total", 0) > 2),
        ("func=fib if a == 1", lambda rec, e, names: rec.site_of(e).func == "fib" and names.get("a") == 1),
    ],
)
def test_code_breakpoints_stop_exactly_where_the_brute_force_says_both_ways(
    recordings: dict[str, Recording], text: str, matches: Any
) -> None:
    rec = recordings["prog"]
    expected = [e.seq for e in rec.events if matches(rec, e, brute_locals(rec, e.seq))]
    assert 0 < len(expected) < len(rec.events) - 2
    session = session_of(rec)
    bp = session.add_breakpoint(text)
    assert stops(session) == [s for s in expected if s > 1] and session.cursor == len(rec.events)
    assert stops(session, forward=False) == [s for s in expected if s < len(rec.events)][::-1] and session.cursor == 1
    assert bp.hits == 2 * len(expected) - (expected[0] == 1) - (expected[-1] == len(rec.events))


def test_break_function_is_its_calls_only_where_calls_are_recorded(
    recordings: dict[str, Recording], tmp_path: Path
) -> None:
    rec = recordings["prog"]
    session = session_of(rec)
    assert session.add_breakpoint("fib").text == "fib"
    assert session.breakpoints[1].candidates is not None and len(session.breakpoints[1].candidates) == 5
    session.add_breakpoint("squares", temporary=True)
    assert stops(session) == [5, 8, 11, 16, 23, 30] and 2 not in session.breakpoints
    odd = crafted_odd(tmp_path)
    with pytest.raises(
        UsageError, match=r"^no recorded call of 'main' \(break FUNC stops at its calls; func=main alone"
    ):
        session_of(odd).add_breakpoint("main")
    assert session_of(odd).add_breakpoint("func=main").candidates == [1, 6]
    # A recording without call events: a function is any event in it, as always.
    sample = Session(Index(read_log(str(SAMPLES / "two_locks-v2.cgr"))))
    assert stops(sample) == [] and sample.add_breakpoint("move").candidates == [
        e.seq for e in sample.rec.events if e.site is not None and sample.rec.sites[e.site].func == "move"
    ]


@pytest.mark.parametrize(
    ("name", "focus", "watched"), [("prog", None, "total"), ("prog", None, "sq"), ("threads", "b", "i")]
)
def test_watch_stops_line_by_line_where_the_local_changes(
    recordings: dict[str, Recording], name: str, focus: str | None, watched: str
) -> None:
    rec = recordings[name]
    session = session_of(rec)
    if focus is not None:
        session.set_focus("thread", focus)
    tid = session.code_focus().id
    expected = []
    for event in rec.events:
        if event.thread == tid and event.kind in ("line", "call"):
            pairs = rec.data_dict(event)["changed" if event.kind == "line" else "args"] or ()
            if watched in dict(pairs):
                expected.append(event.seq)
    watch = session.watch_local(watched)
    assert watch.changes == expected and len(expected) >= 2
    assert stops(session) == expected and stops(session, forward=False) == expected[::-1]
    with pytest.raises(UsageError, match="never has a local named 'nosuch'"):
        session.watch_local("nosuch")


# -- without call events, and the front end ----------------------------------------------

SAMPLES = Path(__file__).parent.parent / "recordings" / "samples"


def test_without_call_events_everything_is_as_before() -> None:
    rec = read_log(str(SAMPLES / "two_locks-v2.cgr"))
    index = Index(rec)
    assert index.depths is None and index.code_level == "sync" and index.state_at(len(rec.events)).stacks == {}
    commands = Commands(Session(index))
    session = commands.session
    session.set_focus("thread", 3)
    for seq in range(1, len(rec.events) + 1):
        session.goto(seq)
        mine = [e.seq for e in rec.events if e.thread == rec.events[seq - 1].thread]
        later = [s for s in mine if s > seq]
        assert session.next().seq == (later[0] if later else mine[-1])  # the current event's thread, not the focus
    session.goto(11)
    assert commands.run("where").text == "#0 /tmp/sample/two_locks.py:21 move" and session.stack().frames == ()
    assert commands.run("locals").text.startswith("locals of thread 3:\n  (sampled at seq 8")
    for line in ("up", "down", "finish", "reverse-finish", "rf"):
        with pytest.raises(UsageError, match="needs call events, and this recording has none"):
            commands.run(line)


def test_json_replies_of_the_code_commands(recordings: dict[str, Recording]) -> None:
    from replay_tests.conftest import chronodbg

    proc = chronodbg(
        "replay",
        recordings["prog"].path,
        "--json",
        "-c",
        "goto 20",
        "-c",
        "where",
        "-c",
        "up",
        "-c",
        "locals",
        "-c",
        "finish",
    )
    replies = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert proc.returncode == 0 and all(reply["ok"] for reply in replies)
    where, up, local_values, finish = (reply["result"] for reply in replies[1:])
    assert where["focus"] == "thread 1" and where["selected"] == 0 and not where["suspended"]
    assert [(f["frame"], f["func"], f["line"], f["call_seq"]) for f in where["frames"]] == [
        (4, "fib", 6, 8), (3, "fib", 4, 5), (2, "main", 27, 3), (1, "<module>", 33, 1),
    ]  # fmt: skip
    assert up["selected"] == 1 and up["frame"]["frame"] == 3
    assert local_values == {"seq": 20, "index": 1, "frame": 3, "source": "rebuilt", "as_of": None, "locals": {"n": 3}}
    assert (
        finish["seq"] == 28
        and finish["reason"] == "finish"
        and finish["event"]["data"] == {"frame": 3, "how": "return", "value": 2}
    )


def test_help_and_completion_know_the_code_commands(recordings: dict[str, Recording]) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from chronodbg.repl.completer import ReplayCompleter

    commands = Commands(session_of(recordings["prog"]))
    for name, usage in (("finish", "finish  — "), ("reverse-finish", "reverse-finish  — "), ("rf", "reverse-finish  — "),
                        ("up", "up [N]  — "), ("down", "down [N]  — "), ("next", "next [N]  — step over calls")):  # fmt: skip
        assert commands.run(f"help {name}").text.startswith(usage)
    assert "reverse-finish  — " in commands.run("help").text and "rf=reverse-finish" in commands.run("help").text
    completer = ReplayCompleter(commands)

    def complete(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]

    assert complete("fin") == ["finish"] and complete("reverse-f") == ["reverse-finish"] and "up" in complete("u")
    commands.run("goto 20")
    assert complete("print ") == ["a", "b", "n"] and complete("watch ") == ["obj", "a", "b", "n"]
    assert {"fib", "squares", "main"} <= set(complete("break ")) and complete("break squ") == ["squares"]


# -- real recordings ---------------------------------------------------------------------

REAL_PROGRAM = """\
import asyncio
import threading


def fib(n):
    if n < 2:
        return n
    a = fib(n - 1)
    b = fib(n - 2)
    return a + b


def squares(k):
    for i in range(k):
        yield i * i


def risky(x):
    if x > 1:
        raise ValueError(x)
    return x


def middle(x):
    return risky(x) + 1


def guard(x):
    try:
        return middle(x)
    except ValueError:
        return -1


async def fetch(n):
    await asyncio.sleep(0)
    return n * 10


async def worker(n):
    got = await fetch(n)
    return got + 1


async def gathered():
    return sum(await asyncio.gather(worker(1), worker(2)))


lock = threading.Lock()


def bump(name, times):
    total = 0
    for i in range(times):
        with lock:
            total += i
    return total


def main():
    total = fib(4)
    for sq in squares(3):
        total += sq
    total += guard(5)
    total += asyncio.run(gathered())
    first = threading.Thread(target=bump, args=("a", 2), name="a")
    first.start()
    first.join()
    second = threading.Thread(target=bump, args=("b", 3), name="b")
    second.start()
    second.join()
    return total


print(main())
"""


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Recording]:
    from replay_tests.conftest import record

    tmp = tmp_path_factory.mktemp("real")
    program = tmp / "real.py"
    program.write_text(REAL_PROGRAM)
    recordings = {}
    for level in ("lines", "calls"):
        folder = tmp / level
        folder.mkdir()
        run = record(folder, program, options=("--level", level))
        assert run.returncode == 0 and run.stdout == b"39\n", run.stderr
        recordings[level] = read_log(str(run.path))
    return recordings


def first_seq(rec: Recording, kind: str, func: str, **data: Any) -> int:
    """The first event of `kind` in function `func` whose data has these values."""
    for event in rec.events:
        site = rec.site_of(event)
        if event.kind == kind and site is not None and site.func == func:
            fields = rec.data_dict(event)
            if all(fields.get(name) == value for name, value in data.items()):
                return event.seq
    raise AssertionError(f"no {kind} in {func} with {data}")


def funcs(session: Session) -> list[str]:
    return [session.rec.sites[f.site].func for f in session.stack().frames if f.site is not None]


@pytest.mark.parametrize("level", ["lines", "calls"])
def test_real_recordings_rebuild_the_stacks_the_brute_force_does(real: dict[str, Recording], level: str) -> None:
    rec = real[level]
    index = Index(rec, checkpoint_every=EVERY)
    assert index.code_level == level
    state = State()
    for event in rec.events:
        index.applier.apply(state, event)
        assert engine_stacks(state) == brute_stacks(rec, event.seq), f"seq {event.seq}"
    assert index.state_at(len(rec.events)) == state
    stepping, jumping = session_of(rec), session_of(rec)
    seen = {1: list(views(stepping))}
    while stepping.step().reason == "step":
        seen[stepping.cursor] = list(views(stepping))
    for seq in range(len(rec.events), 0, -1):
        jumping.goto(seq)
        assert list(views(jumping)) == seen[seq], f"seq {seq}"


def test_real_recursion_generator_and_exception(real: dict[str, Recording]) -> None:
    rec = real["lines"]
    commands = Commands(session_of(rec))
    session = commands.session
    session.goto(first_seq(rec, "call", "fib", args=(("n", 0),)))
    assert funcs(session)[:5] == ["fib", "fib", "fib", "fib", "main"]
    assert [f.locals["n"] for f in session.stack().frames[:4]] == [0, 2, 3, 4]
    # next from main's first line steps over the whole of fib(4).
    session.goto(first_seq(rec, "line", "main"))
    assert session.next().seq == first_seq(rec, "line", "main", changed=(("total", 3),))
    # break FUNC: calls only, so squares once, not at its resumes.
    session.goto(1)
    commands.run("break squares")
    assert stops(session) == [first_seq(rec, "call", "squares")]
    commands.run("delete 1")
    # The exception raised in risky is caught two frames up, in guard.
    session.goto(1)
    commands.run("break risky")
    session.cont()
    assert funcs(session)[:4] == ["risky", "middle", "guard", "main"]
    assert session.finish().seq == first_seq(rec, "unwind", "risky")
    session.select_frame(2)
    stop = session.finish()
    assert rec.data_dict(session.event)["value"] == -1 and stop.reason == "finish"
    handled = first_seq(rec, "handled", "guard")
    session.goto(handled)
    assert funcs(session)[:3] == ["guard", "main", "<module>"]
    # A watch line by line: main's total.
    session.goto(1)
    watch = session.watch_local("total")
    main_total = [s for s in watch.changes if rec.site_of(rec.events[s - 1]).func == "main"]  # type: ignore[union-attr]
    values = [dict(session.index.state_at(s).stacks[1].frames[-1].locals)["total"] for s in main_total]
    assert values == [3, 4, 8, 7, 39]


def test_real_coroutines_in_a_task_focus(real: dict[str, Recording]) -> None:
    rec = real["lines"]
    commands = Commands(session_of(rec))
    session = commands.session
    worker = next(t.id for t in rec.tasks.values() if t.coro == "worker")
    session.set_focus("task", worker)
    suspend = next(e.seq for e in rec.events if e.kind == "task.suspend" and e.task == worker)
    session.goto(suspend)
    view = session.stack()
    assert view.suspended and funcs(session) == ["fetch", "worker"]
    assert commands.run("locals").text.endswith("n = 1")
    # From worker's first line: over the await of fetch, to where worker yields, then where the task suspends.
    session.goto(first_seq(rec, "line", "worker"))
    assert session.next().seq == first_seq(rec, "return", "worker", how="yield")
    assert session.next().seq == suspend
    resumed = first_seq(rec, "call", "fetch", how="resume")
    session.goto(resumed)
    assert funcs(session) == ["fetch", "worker"] and not session.stack().suspended
    session.select_frame(1)
    assert session.finish().seq == first_seq(rec, "return", "worker", how="return")


def test_real_threads_each_have_their_stack(real: dict[str, Recording]) -> None:
    rec = real["lines"]
    session = session_of(rec)
    a = next(t.id for t in rec.threads.values() if t.name == "a")
    b = next(t.id for t in rec.threads.values() if t.name == "b")
    acquire = next(e.seq for e in rec.events if e.kind == "lock.acquire" and e.thread == b)
    session.goto(acquire)
    assert funcs(session) == ["bump"] and session.stack().frames[0].locals["name"] == "b"
    session.set_focus("thread", 1)
    assert funcs(session)[:2] == ["main", "<module>"]
    session.set_focus("thread", a)
    assert funcs(session) == []  # a has ended
    session.set_focus("thread", b)
    session.goto(first_seq(rec, "line", "bump", changed=(("total", 0),)))
    assert session.event.thread in (a, b)
    assert session.watch_local("total").changes == [
        e.seq
        for e in rec.events
        if e.thread == b
        and e.kind in ("line", "call")
        and "total" in dict(rec.data_dict(e).get("changed") or rec.data_dict(e).get("args") or ())
    ]


def test_real_level_calls_reads_locals_from_samples(real: dict[str, Recording]) -> None:
    rec = real["calls"]
    commands = Commands(session_of(rec))
    session = commands.session
    b = next(t.id for t in rec.threads.values() if t.name == "b")
    releases = [e.seq for e in rec.events if e.kind == "lock.release" and e.thread == b]
    session.goto(releases[-1])
    found = session.frame_locals()
    assert found is not None and found[1].source == "sampled" and dict(found[1].values)["i"] == 2
    assert commands.run("where").text.splitlines()[1].startswith("-> #0  bump(name='b', times=3) at real.py:")
    session.goto(first_seq(rec, "call", "bump", args=(("name", "b"), ("times", 3))))
    found = session.frame_locals()
    assert found is not None and found[1].source == "args" and dict(found[1].values) == {"name": "b", "times": 3}


# -- the transcripts of docs/replay.md -----------------------------------------------------

DOCS = Path(__file__).parent.parent / "docs"


def _transcripts() -> list[tuple[str, list[str], list[str]]]:
    """The replay sessions of docs/replay.md's "Stepping through code": (program, commands, the lines they print)."""
    text = (DOCS / "replay.md").read_text()
    section = text[text.index("## Stepping through code") : text.index("## Looking at the state")]
    sessions: list[tuple[str, list[str], list[str]]] = []
    for block in re.findall(r"```\n(.*?)```", section, re.S):
        lines = block.splitlines()
        if not any(line.startswith("(chronodbg) ") for line in lines):
            continue
        program = "aio_prodcons" if "aio_prodcons" in block else "orders"
        if not sessions or sessions[-1][0] != program:
            sessions.append((program, [], []))
        first = next(i for i, line in enumerate(lines) if line.startswith("(chronodbg) "))
        sessions[-1][1].extend(
            line.removeprefix("(chronodbg) ") for line in lines[first:] if line.startswith("(chronodbg) ")
        )
        sessions[-1][2].extend(lines[first:])
    return sessions


def _masked(lines: list[str]) -> list[str]:
    """Without what differs from run to run: times, seqs, frame ids, object ids."""
    patterns = (
        (r"\+\d+\.\d+s", "+T"),
        (r"\bseq \d+(/\d+)?", "seq N"),
        (r"\bframe \d+", "frame N"),
        (r"#[0-9a-f]{8,}", "#ID"),
    )
    masked = []
    for line in lines:
        for pattern, replacement in patterns:
            line = re.sub(pattern, replacement, line)
        masked.append(line)
    return masked


def test_the_docs_transcripts_are_what_replay_prints(tmp_path: Path) -> None:
    from replay_tests.conftest import PROGRAMS, chronodbg, record

    sessions = _transcripts()
    assert [program for program, _, _ in sessions] == ["orders", "aio_prodcons"]
    paths = {
        "orders": (DOCS / "examples" / "orders.py", ()),
        "aio_prodcons": (PROGRAMS / "aio_prodcons.py", ("3",)),
    }
    for program, commands, expected in sessions:
        path, args = paths[program]
        folder = tmp_path / program
        folder.mkdir()
        run = record(folder, path, *args, options=("--level", "lines"))
        assert run.returncode == 0, run.stderr
        batch = folder / "commands.txt"
        batch.write_text("\n".join(commands) + "\n")
        proc = chronodbg("replay", str(run.path), "--batch", str(batch))
        assert _masked(proc.stdout.decode().splitlines()) == _masked(expected), program
