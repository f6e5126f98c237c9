"""Deadlocks: the recorder's watchdog ends them, and replay finds and shows them.

Every deadlock here is forced (Barriers, Events, a queue nobody fills), so it
happens on every run; the watchdog's only freedom is how soon it notices.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chronodbg.analysis.waitgraph import Wait, WaitGraph, targets_of
from chronodbg.logfile import read_log
from chronodbg.recorder.watchdog import DEADLOCK_EXIT, GRACE
from replay_tests.conftest import PROGRAMS, Run, built_extension, chronodbg, env, record, skip_unless_c_can_build


def _ended_by_watchdog(run: Run) -> str:
    """The stderr of a run the watchdog ended; checks the exit status and the log's end."""
    err = run.stderr.decode()
    assert run.returncode == DEADLOCK_EXIT, err
    rec = read_log(str(run.path))
    assert rec.complete and rec.footer is not None
    assert rec.footer["exit_code"] == DEADLOCK_EXIT and rec.footer["exit_how"] == "deadlock"
    kinds = [e.kind for e in rec.events]
    assert kinds[-2:] == ["deadlock", "process.exit"]
    assert kinds.count("deadlock") == 1
    assert f"ended the program (exit status {DEADLOCK_EXIT}); the recording is complete: {run.path}" in err
    return err


def _deadlock_event(path: Path) -> dict[str, object]:
    rec = read_log(str(path))
    event = next(e for e in rec.events if e.kind == "deadlock")
    return rec.data_dict(event)


def test_abba_is_ended_with_both_threads_both_locks_and_their_sites(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "abba.py")
    err = _ended_by_watchdog(run)
    assert "deadlock: 2 threads wait for each other in a cycle and can never go on:" in err
    # Each thread: the lock it waits for, where it waits, who holds that lock and where it took it.
    assert 'T2 "left" waits for Lock#2 at abba.py:13 in left, since seq' in err
    assert '; held by T3 "right", taken at abba.py:18 in right (seq' in err
    assert 'T3 "right" waits for Lock#1 at abba.py:20 in right, since seq' in err
    assert '; held by T2 "left", taken at abba.py:11 in left (seq' in err
    data = _deadlock_event(run.path)
    assert data["reason"] == "cycle"
    actors = data["actors"]
    assert isinstance(actors, (list, tuple)) and list(actors[2]) == ["thread:2", "thread:3"]
    # The program's own output before the end is kept.
    assert run.stdout.decode() == "started\n"


def test_task_cycle_on_asyncio_locks_is_ended(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "aio_deadlock.py")
    err = _ended_by_watchdog(run)
    assert "deadlock: 2 tasks wait for each other in a cycle and can never go on:" in err
    assert "task 2 'ab' (take) waits for asyncio.Lock#2 at aio_deadlock.py:14 in take" in err
    assert "held by task 3 'ba' (take), taken at aio_deadlock.py:11 in take" in err
    assert "task 3 'ba' (take) waits for asyncio.Lock#1 at aio_deadlock.py:14 in take" in err
    assert "held by task 2 'ab' (take), taken at aio_deadlock.py:11 in take" in err
    assert _deadlock_event(run.path)["reason"] == "cycle"


def test_consumer_on_an_empty_queue_with_main_joining_it_is_ended(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "stuck_queue.py")
    err = _ended_by_watchdog(run)
    assert "deadlock: every live thread is blocked with no timeout and nothing is left to wake them:" in err
    assert 'T3 "consumer" waits for Queue#1 (get) at stuck_queue.py:16 in consume' in err
    assert 'T1 "MainThread" waits to join T3 "consumer" at stuck_queue.py:25 in <module>' in err
    assert "producer" not in err.split("nothing is left to wake them:")[1].split("chronodbg:")[0]
    assert run.stdout.decode() == "done 0\ndone 1\ndone 2\n"
    assert _deadlock_event(run.path)["reason"] == "stuck"


def test_tasks_stuck_on_an_asyncio_queue_with_an_idle_loop_are_ended(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "stuck_aio_queue.py")
    err = _ended_by_watchdog(run)
    assert "deadlock: every live thread is blocked with no timeout and nothing is left to wake them:" in err
    assert 'T1 "MainThread" runs an event loop with nothing left to do (no ready callback, timer, I/O or signal handler)' in err
    assert "task 1 'Task-1' (main) awaits task 2 'consumer' (consume) at stuck_aio_queue.py:25 in main" in err
    assert "task 2 'consumer' (consume) waits for asyncio.Queue#1 at stuck_aio_queue.py:17 in consume" in err
    assert run.stdout.decode() == "done 0\ndone 1\ndone 2\n"


def test_an_idle_loop_with_a_timer_is_no_deadlock(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "timed_aio_waits.py")
    assert run.returncode == 0 and run.stdout.decode() == "finished\n", run.stderr.decode()
    assert not any(e["kind"] == "deadlock" for e in run.events)


def test_main_waiting_at_interpreter_exit_counts_as_blocked(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "stuck_at_exit.py")
    err = _ended_by_watchdog(run)
    assert 'T1 "MainThread" has finished and waits, at interpreter exit, for the other threads to end' in err
    assert 'T2 "waiter" waits for Queue#1 (get)' in err


def test_a_thread_taking_a_lock_it_holds_waits_for_itself(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "self_lock.py")
    err = _ended_by_watchdog(run)
    assert 'deadlock: T2 "again" waits for itself and can never go on:' in err
    assert 'T2 "again" waits for Lock#1 at self_lock.py:10 in again' in err


def test_continue_reports_and_lets_the_program_end_its_own_way(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "clerks_give_up.py", options=("--on-deadlock=continue",))
    err = run.stderr.decode()
    # Its own ending: main gave up after its timed waits.
    assert run.returncode == 1 and run.stdout.decode() == "gave up: still stuck\n"
    assert "deadlock: 2 threads wait for each other in a cycle" in err
    assert "recording goes on (--on-deadlock=continue)" in err
    rec = read_log(str(run.path))
    assert rec.complete and rec.footer is not None and rec.footer["exit_how"] == "os._exit"
    assert [e.kind for e in rec.events].count("deadlock") == 1


def test_timed_waits_are_no_deadlock(tmp_path: Path) -> None:
    """Main waits with timeouts for longer than the watchdog's grace: never reported."""
    run = record(tmp_path, PROGRAMS / "timed_waits.py")
    assert run.returncode == 0 and run.stdout.decode() == "finished\n", run.stderr.decode()
    assert "deadlock" not in run.stderr.decode()
    assert not any(e["kind"] == "deadlock" for e in run.events)


def test_a_program_that_handles_signals_is_never_called_stuck(tmp_path: Path) -> None:
    out = tmp_path / "run.cgr"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chronodbg", "record", "-q", "-o", str(out), str(PROGRAMS / "signal_wake.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(),
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"waiting for SIGUSR1\n"
        # Long enough for the watchdog to have confirmed a stuck program, twice over.
        time.sleep(4 * GRACE)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
        proc.send_signal(signal.SIGUSR1)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and stdout == b"stopped\n", stderr
    assert b"deadlock" not in stderr


# -- replay ------------------------------------------------------------------


def _replay(path: Path, *commands: str) -> str:
    args: list[str] = ["replay", str(path)]
    for command in commands:
        args += ["-c", command]
    proc = chronodbg(*args)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def test_goto_deadlock_lands_where_the_cycle_closed(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "abba.py")
    rec = read_log(str(run.path))
    waits = [e for e in rec.events if e.kind == "lock.wait"]
    assert len(waits) == 2
    closing = waits[-1]  # the second wait closes the cycle
    out = _replay(run.path, "goto deadlock", "info waits")
    assert f"seq {closing.seq}/{len(rec.events)}" in out
    assert "deadlock: 2 threads wait for each other in a cycle and can never go on:" in out
    assert "the recorder's watchdog reported" not in out  # that comes later than the cursor
    # Before the cycle closed: one thread waits, nothing is deadlocked.
    before = _replay(run.path, f"goto {closing.seq - 1}", "info waits")
    assert "deadlock" not in before
    at_end = _replay(run.path, "goto last", "info waits")
    assert "the recorder's watchdog reported at seq" in at_end


def test_info_waits_json_has_the_graph(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "aio_deadlock.py")
    proc = chronodbg("replay", str(run.path), "--json", "-c", "goto deadlock", "-c", "info deadlock")
    assert proc.returncode == 0, proc.stderr.decode()
    reply = json.loads(proc.stdout.decode().splitlines()[1])
    data = reply["result"]
    (cycle,) = data["cycles"]
    rec = read_log(str(run.path))
    by_name = {t.name: t.id for t in rec.tasks.values()}
    ab, ba = by_name["ab"], by_name["ba"]
    assert {tuple(w["actor"]) for w in cycle} == {("task", ab), ("task", ba)}
    for wait in cycle:
        other = ba if wait["actor"][1] == ab else ab
        assert wait["what"] == "lock" and wait["on"] == [["task", other]] and wait["timed"] is False
    # main awaits the gather of both.
    main = next(w for w in data["waits"] if w["what"] == "gather")
    assert sorted(a[1] for a in main["on"]) == sorted([ab, ba])


def test_goto_deadlock_on_a_stuck_program_lands_on_the_last_wait(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "stuck_queue.py")
    rec = read_log(str(run.path))
    waits = [e for e in rec.events if e.kind in ("queue.wait", "thread.join") and e.seq < len(rec.events)]
    last_wait = max(e.seq for e in waits)
    out = _replay(run.path, "goto deadlock", "info waits")
    assert f"seq {last_wait}/" in out
    assert "deadlock: every live thread is blocked with no timeout" in out


def test_goto_deadlock_without_one_says_so(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "timed_waits.py")
    proc = chronodbg("replay", str(run.path), "-c", "goto deadlock")
    assert proc.returncode == 1
    assert "goto deadlock: no deadlock in this recording" in proc.stdout.decode()
    assert b"Traceback" not in proc.stderr


# -- the graph's rules ---------------------------------------------------------


def _wait(actor: tuple[str, int], on: tuple[tuple[str, int], ...] = (), timed: bool = False, what: str = "lock") -> Wait:
    return Wait(actor, what, 1, 1, None, timed, on)


def test_a_timeout_anywhere_breaks_the_cycle() -> None:
    a, b, c = ("thread", 1), ("thread", 2), ("task", 3)
    assert WaitGraph([_wait(a, (b,)), _wait(b, (c,)), _wait(c, (a,), what="task")]).cycles()
    assert not WaitGraph([_wait(a, (b,)), _wait(b, (c,), timed=True), _wait(c, (a,))]).cycles()


def test_a_chain_into_a_cycle_is_not_part_of_it() -> None:
    a, b, c = ("thread", 1), ("thread", 2), ("thread", 3)
    (cycle,) = WaitGraph([_wait(a, (b,)), _wait(b, (c,)), _wait(c, (b,))]).cycles()
    assert {w.actor for w in cycle} == {b, c}


def test_gather_waits_for_every_target_but_wait_only_for_a_single_one() -> None:
    summary = ("list", 2, [4, 5])
    assert targets_of("gather", summary) == (("task", 4), ("task", 5))
    assert targets_of("wait", summary) == ()
    assert targets_of("wait", ("list", 1, [4])) == (("task", 4),)
    assert targets_of("task", 7) == (("task", 7),)
    assert targets_of("sleep", 0.5) == ()
    assert targets_of("gather", ("list", 2, ["junk", None])) == ()


def test_stuck_needs_every_live_actor_blocked_for_good() -> None:
    a, b = ("thread", 1), ("thread", 2)
    graph = WaitGraph([_wait(a, what="queue"), _wait(b, what="join", on=(a,))])
    assert graph.stuck([a, b]) is not None
    assert graph.stuck([a, b, ("thread", 3)]) is None
    assert WaitGraph([_wait(a, what="queue", timed=True), _wait(b, what="join")]).stuck([a, b]) is None


def test_a_wait_for_a_free_lock_is_not_stuck() -> None:
    """Everyone waiting on a lock nobody holds is a moment of a busy program, not a deadlock."""
    a, b = ("thread", 1), ("thread", 2)
    assert WaitGraph([_wait(a), _wait(b, what="join", on=(a,))]).stuck([a, b]) is None
    assert WaitGraph([_wait(a, on=(b,)), _wait(b, what="queue")]).stuck([a, b]) is not None


@pytest.mark.parametrize("loop", ["c", "python"])
def test_what_woke_whom_stays_bounded_after_every_batch(loop: str) -> None:
    """`woken_at` (object -> when it last woke a waiter) keeps only what is waited on, once past _WOKEN_KEPT entries.

    Pruned after each batch fed: the writer's check, which pruned it before, may come only every 0.25 s while the
    program packs its own events, and a run making events and queues by the thousand grew it by megabytes meanwhile.
    """
    from chronodbg.kinds import Kind
    from chronodbg.recorder import watchdog

    hooks = None
    if loop == "c":
        skip_unless_c_can_build()
        hooks = built_extension("chronodbg.recorder._hooks")
        assert hooks is not None, "chronodbg.recorder._hooks was not built (see pip install -v)"

    class Rec:
        thread_ids: dict[int, int] = {}

    Rec.hooks = hooks  # type: ignore[attr-defined]
    dog = watchdog.Watchdog(Rec())
    assert (dog._feed_c is not None) == (loop == "c")
    waiting = (0, 2, None, Kind.QUEUE_WAIT, 3, None, ("get", 0, 0, None), None)
    dog.feed([waiting], {}, 1)
    puts = [(0, 1, None, Kind.QUEUE_PUT, obj, None, (1, 1), None) for obj in range(4, 4 + watchdog._WOKEN_KEPT)]
    dog.feed(puts, {}, 2)
    assert len(dog.woken_at) == watchdog._WOKEN_KEPT  # not past the bound yet
    dog.feed([(0, 1, None, Kind.QUEUE_PUT, 3, None, (1, 1), None)] + puts[:1], {}, 2 + len(puts))
    # Past it: only queue 3, which thread 2 waits on, is kept (its put woke the waiter meanwhile).
    assert set(dog.woken_at) <= {3}


def test_a_waiter_already_woken_is_not_stuck() -> None:
    """A consumer woken by a put but not yet scheduled (a loaded machine) is not blocked for good."""
    from chronodbg.kinds import Kind
    from chronodbg.recorder.watchdog import Watchdog

    class Rec:
        thread_ids: dict[int, int] = {}

    dog = Watchdog(Rec())
    get_wait = (0, 2, None, Kind.QUEUE_WAIT, 7, None, ("get", 0, 0, None), None)
    join = (0, 1, None, Kind.THREAD_JOIN, None, None, (2, None), None)
    dog.feed([get_wait, join], {}, 1)
    assert dog.graph().stuck([("thread", 1), ("thread", 2)]) is not None
    put = (0, 3, None, Kind.QUEUE_PUT, 7, None, (1, 1), None)
    dog.feed([put], {}, 3)
    assert dog.graph().stuck([("thread", 1), ("thread", 2)]) is None
    # A new wait after the put is a wait again.
    dog.feed([(0, 2, None, Kind.QUEUE_GET, 7, None, (1, 0), None), get_wait], {}, 4)
    assert dog.graph().stuck([("thread", 1), ("thread", 2)]) is not None
