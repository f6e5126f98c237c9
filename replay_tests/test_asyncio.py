"""Real asyncio programs recorded end to end: task lives, what each suspension awaits, the asyncio primitives.

asyncio runs one task at a time, so these programs force their own
interleaving: the exact sequences asserted below do not depend on timing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from replay_tests.conftest import (
    POLL_LIMIT,
    PROGRAMS,
    Run,
    check_invariants,
    chronodbg,
    record,
    run_plain,
    start_recording,
    task_names,
)

#: The programs that end by themselves (aio_deadlock hangs until killed).
AIO_PROGRAMS = sorted(p for p in PROGRAMS.glob("aio_*.py") if p.stem != "aio_deadlock")


def _recorded(tmp_path: Path, name: str, *args: str) -> tuple[Run, dict[str, int]]:
    run = record(tmp_path, PROGRAMS / name, *args)
    assert run.returncode == 0, run.stderr.decode()
    check_invariants(run)
    return run, task_names(run.path)


def _of_task(run: Run, task: int) -> list[dict[str, Any]]:
    return [e for e in run.events if e["task"] == task]


def _suspends(run: Run, task: int) -> list[dict[str, Any]]:
    return [e for e in _of_task(run, task) if e["kind"] == "task.suspend"]


@pytest.mark.parametrize("program", AIO_PROGRAMS, ids=lambda p: p.stem)
def test_output_and_exit_code_unchanged(tmp_path: Path, program: Path) -> None:
    plain = run_plain(program, cwd=tmp_path)
    run = record(tmp_path, program)
    assert (run.returncode, run.stdout) == (plain.returncode, plain.stdout)
    if plain.returncode:
        # The traceback the user sees is the same, line for line.
        assert run.stderr.decode().splitlines() == plain.stderr.decode().splitlines()
    check_invariants(run)


def test_bounded_queue_suspensions_name_the_queue(tmp_path: Path) -> None:
    run, tasks = _recorded(tmp_path, "aio_prodcons.py", "10")
    producer, consumer = tasks["producer"], tasks["consumer"]
    queue = next(e for e in run.events if e["kind"] == "queue.put")["obj_label"]
    assert queue.startswith("asyncio.Queue#")
    waits = run.by_kind("queue.wait")
    full = [e for e in waits if e["data"]["op"] == "put"]
    empty = [e for e in waits if e["data"]["op"] == "get"]
    assert full and all(e["task"] == producer and e["data"]["size"] == e["data"]["maxsize"] == 2 for e in full)
    assert empty and all(e["task"] == consumer and e["data"]["size"] == 0 for e in empty)
    # Each wait is followed by its task's suspension on that queue, at the await in the program.
    for wait in waits:
        suspend = next(e for e in run.events[wait["seq"] :] if e["task"] == wait["task"])
        assert suspend["kind"] == "task.suspend" and suspend["data"]["awaits"] == "queue"
        assert suspend["obj_label"] == queue and suspend["func"] in ("produce", "consume")
        assert suspend["line"] == wait["line"]
    items = [e["data"]["item"] for e in run.by_kind("queue.get")]
    assert items == [*range(10), None]
    # Every suspension on the queue ends with a wake by the other task (its put or get made room),
    # then the resume: "what woke me" is on record.
    for task, other in ((producer, consumer), (consumer, producer)):
        for suspend in (e for e in _suspends(run, task) if e["data"]["awaits"] == "queue"):
            later = run.events[suspend["seq"] :]
            resume = next(e for e in later if e["task"] == task and e["kind"] == "task.resume")
            wakes = [e for e in later if e["kind"] == "task.wake" and e["data"]["task"] == task and e["seq"] < resume["seq"]]
            assert len(wakes) == 1 and wakes[0]["task"] == other, (suspend, wakes)
            assert run.events[wakes[0]["seq"] - 2]["kind"] in ("queue.put", "queue.get")
    assert all(e["task"] == producer for e in run.by_kind("queue.put"))
    # The consumer's result is in its done event; main's parent-child links are in the creates.
    done = next(e for e in _of_task(run, consumer) if e["kind"] == "task.done")
    assert done["data"]["state"] == "finished" and done["data"]["result"]["len"] == 10
    main = tasks["Task-1"]
    creates = {e["data"]["task"]: e for e in run.by_kind("task.create")}
    assert creates[producer]["task"] == creates[consumer]["task"] == main
    assert creates[producer]["data"]["coro"] == "produce" and creates[producer]["line"] == 29
    # Locals show asyncio objects and tasks by their labels.
    waiting = next(e for e in run.events if e["task"] == main and e["kind"] == "task.suspend" and e["locals"])
    assert waiting["locals"]["queue"]["repr"] == queue
    assert waiting["locals"]["producer"]["repr"] == f"Task#{producer}"
    assert waiting["locals"]["consumer"]["repr"] == f"Task#{consumer}"


def test_every_acquire_after_a_wait_follows_the_release_it_waited_for(tmp_path: Path) -> None:
    run, tasks = _recorded(tmp_path, "aio_lock.py")
    workers = [tasks[f"Task-{n}"] for n in (2, 3, 4)]
    lock_events = [e for e in run.events if e["kind"].startswith("lock.")]
    assert {e["obj_label"] for e in lock_events} == {"asyncio.Lock#1"}
    assert len(run.by_kind("lock.acquire")) == 9 and len(run.by_kind("lock.release")) == 9
    waited = 0
    for i, event in enumerate(lock_events):
        if event["kind"] != "lock.acquire":
            continue
        earlier = [e for e in lock_events[:i] if e["task"] == event["task"]]
        if earlier and earlier[-1]["kind"] == "lock.wait":
            waited += 1
            # The lock went straight from the releasing task to this waiter
            # (other tasks may start waiting in between).
            previous = next(e for e in reversed(lock_events[:i]) if e["kind"] != "lock.wait")
            assert previous["kind"] == "lock.release" and previous["task"] != event["task"], (previous, event)
            assert event["data"]["waited_ns"] > 0
    assert waited >= 6
    for worker in workers:
        on_lock = [e for e in _suspends(run, worker) if e["data"]["awaits"] == "lock"]
        assert on_lock and all(e["obj_label"] == "asyncio.Lock#1" for e in on_lock)
    main_suspend = _suspends(run, tasks["Task-1"])[0]
    assert main_suspend["data"]["awaits"] == "gather" and sorted(main_suspend["data"]["target"]["items"]) == sorted(workers)


def test_cancelled_while_awaiting(tmp_path: Path) -> None:
    run, tasks = _recorded(tmp_path, "aio_cancel.py")
    waiter, main = tasks["waiter"], tasks["Task-1"]
    cancel = run.by_kind("task.cancel")
    assert len(cancel) == 1
    assert cancel[0]["task"] == main and cancel[0]["data"] == {"task": waiter, "message": "no more items", "via": None}
    assert cancel[0]["func"] == "main" and cancel[0]["line"] == 14
    life = [(e["kind"], e["obj_label"], e["data"].get("awaits")) for e in _of_task(run, waiter)]
    assert life == [
        ("task.resume", None, None),
        ("queue.wait", "asyncio.Queue#1", None),
        ("task.suspend", "asyncio.Queue#1", "queue"),
        ("task.resume", None, None),
        ("queue.empty", "asyncio.Queue#1", None),
        # Its end wakes main, which awaits it: inside its last step, so before its task.done.
        ("task.wake", None, None),
        ("task.done", None, None),
    ]
    assert _of_task(run, waiter)[-2]["data"] == {"task": main}
    assert _of_task(run, waiter)[-1]["data"]["state"] == "cancelled"
    # The cancel woke the waiter: main made it ready.
    wakes = [e for e in run.by_kind("task.wake") if e["data"]["task"] == waiter]
    assert len(wakes) == 1 and wakes[0]["task"] == main and cancel[0]["seq"] < wakes[0]["seq"]
    # The cancel came while the waiter was suspended on the queue.
    suspend_seq = _suspends(run, waiter)[0]["seq"]
    assert suspend_seq < cancel[0]["seq"] < _of_task(run, waiter)[-1]["seq"]


def test_taskgroup_failure_cancels_the_siblings(tmp_path: Path) -> None:
    run, tasks = _recorded(tmp_path, "aio_taskgroup.py")
    main, failing = tasks["Task-1"], tasks["failing"]
    siblings = {tasks["sleeper-1"], tasks["sleeper-2"]}
    done = {e["task"]: e["data"] for e in run.by_kind("task.done")}
    assert done[failing]["state"] == "exception" and done[failing]["exception"] == "ValueError"
    assert done[failing]["args"]["items"] == ["bad input"]
    assert done[failing]["traceback"]["items"][-1].endswith("in failing")
    assert all(done[s]["state"] == "cancelled" for s in siblings)
    cancels = run.by_kind("task.cancel")
    by_group = {e["data"]["task"] for e in cancels if e["data"]["via"] == "TaskGroup._abort"}
    assert by_group == siblings
    # Cancelled after the failure, before their own ends.
    failed_at = next(e["seq"] for e in run.by_kind("task.done") if e["task"] == failing)
    assert all(failed_at < e["seq"] for e in cancels)
    group_wait = _suspends(run, main)[0]["data"]
    assert group_wait["awaits"] == "taskgroup" and set(group_wait["target"]["items"]) == siblings | {failing}
    assert {e["data"]["awaits"] for s in siblings for e in _suspends(run, s)} <= {"sleep", "event"}


def test_to_thread_links_the_task_to_the_worker_thread(tmp_path: Path) -> None:
    run, tasks = _recorded(tmp_path, "aio_to_thread.py")
    main = tasks["Task-1"]
    suspend = next(e for e in _suspends(run, main) if e["data"]["awaits"] == "executor")
    future = suspend["obj"]
    assert suspend["obj_label"].startswith("Future#") and suspend["func"] == "main"
    setter = next(e for e in run.by_kind("future.set") if e["obj"] == future)
    assert setter["data"] == {"state": "FINISHED", "value": 42} and setter["task"] is None
    worker = setter["thread"]
    assert worker != suspend["thread"]
    work = [e for e in run.events if e["func"] == "blocking_work"]
    assert [e["kind"] for e in work] == ["lock.acquire", "lock.release"]
    assert all(e["thread"] == worker and e["task"] is None for e in work)
    resume = next(e for e in _of_task(run, main) if e["kind"] == "task.resume" and e["seq"] > suspend["seq"])
    assert resume["seq"] > setter["seq"]


def test_wait_for_timing_out(tmp_path: Path) -> None:
    run, tasks = _recorded(tmp_path, "aio_wait_for.py")
    assert run.stdout == b"timed out\n"
    on_event = [e for e in run.events if e["kind"] == "task.suspend" and e["data"]["awaits"] in ("event", "wait_for")]
    assert on_event
    left = on_event[0]["data"]["timeout"]
    assert left is not None and 0 <= left <= 0.2
    cancels = run.by_kind("task.cancel")
    assert len(cancels) == 1 and cancels[0]["data"]["via"] in ("Timeout._on_timeout", "_cancel_and_wait")
    waits = run.by_kind("event.wait")
    wakes = run.by_kind("event.wake")
    assert len(waits) == len(wakes) == 1 and wakes[0]["data"]["result"] is False


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks are new in Python 3.12")
def test_eager_task_first_step_runs_inside_create_task(tmp_path: Path) -> None:
    run, tasks = _recorded(tmp_path, "aio_eager.py")
    printed = run.stdout.decode().splitlines()[0].split()[1]
    assert printed in tasks, "the eager task's real name is in the task table"
    child, named, main = tasks[printed], tasks["named"], tasks["Task-1"]
    creates = {e["data"]["task"]: e for e in run.by_kind("task.create")}
    assert creates[child]["data"]["eager"] is True and creates[child]["data"]["name"] is None
    # create_task names a factory's task only after the factory returns (its first step ran unnamed).
    assert creates[named]["data"]["name"] in (None, "named") and creates[named]["data"]["eager"] is True
    # Between create and main's next event: the child's whole first step.
    start = creates[child]["seq"]
    after = [e for e in run.events if e["seq"] > start]
    first_step = [(e["kind"], e["task"]) for e in after[:5]]
    assert first_step == [
        ("task.resume", child),
        ("lock.acquire", child),
        ("lock.release", child),
        ("task.suspend", child),
        ("output", main),
    ]


def test_call_soon_threadsafe_links_the_thread_to_the_loop(tmp_path: Path) -> None:
    run, tasks = _recorded(tmp_path, "aio_threadsafe.py")
    call = run.by_kind("loop.call")
    callback = run.by_kind("loop.callback")
    assert len(call) == len(callback) == 1
    assert call[0]["thread_name"] == "helper" and call[0]["func"] == "main.<locals>.from_thread"
    assert call[0]["data"]["callback"] == "Future.set_result" and call[0]["obj_label"].startswith("asyncio.Future#")
    assert callback[0]["thread_name"] == "MainThread" and callback[0]["data"] == call[0]["data"]
    assert callback[0]["obj"] == call[0]["obj"] and callback[0]["seq"] > call[0]["seq"]
    main = tasks["Task-1"]
    suspend = next(e for e in _suspends(run, main) if e["data"]["awaits"] == "future")
    assert suspend["obj"] == call[0]["obj"]
    resume = next(e for e in _of_task(run, main) if e["kind"] == "task.resume" and e["seq"] > suspend["seq"])
    assert resume["seq"] > callback[0]["seq"]


def test_every_event_inside_a_task_names_it_in_dump_json(tmp_path: Path) -> None:
    run, tasks = _recorded(tmp_path, "aio_prodcons.py", "5")
    proc = chronodbg("dump", "--json", "--task", "consumer", str(run.path))
    assert proc.returncode == 0, proc.stderr
    import json

    lines = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert lines and all(line["task"] == tasks["consumer"] and line["task_name"] == "consumer" for line in lines)
    # Outside tasks only: the loop's start and the exit.
    untasked = {e["kind"] for e in run.events if e["task"] is None}
    assert untasked <= {"task.create", "process.exit"}
    info = chronodbg("info", str(run.path))
    assert b"'consumer' (consume)" in info.stdout
    missing = chronodbg("dump", "--task", "nosuch", str(run.path))
    assert missing.returncode == 2 and missing.stderr == f"chronodbg: dump: no task 'nosuch' in {run.path}\n".encode()


def test_loop_internals_are_not_recorded(tmp_path: Path) -> None:
    run, tasks = _recorded(tmp_path, "aio_prodcons.py", "3")
    # asyncio.run's own tasks (shutdown_asyncgens, shutdown_default_executor) stay out.
    assert set(tasks) == {"Task-1", "producer", "consumer"}
    assert all((e["obj_label"] or "").startswith("asyncio.") for e in run.events if e["obj"] is not None)


def _brief(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(e["kind"], e["obj_label"]) for e in events]


def test_every_asyncio_primitive(tmp_path: Path) -> None:
    run, tasks = _recorded(tmp_path, "aio_primitives.py")
    assert run.stdout.decode().splitlines() == ["bounded", "full", "empty", "kept 1 LifoQueue"]
    main = tasks["Task-1"]
    cond, cond_lock, sem, event = "asyncio.Condition#1", "asyncio.Lock#2", "asyncio.BoundedSemaphore#3", "asyncio.Event#4"
    lock, small, jobs = "asyncio.Lock#5", "asyncio.Queue#6", "asyncio.PriorityQueue#7"
    # Condition: its own lock is recorded, released while waiting, taken back on the wake.
    on_cond = [e for e in run.events if e["obj_label"] in (cond, cond_lock)]
    assert [(e["kind"], e["obj_label"], e["task"] == main) for e in on_cond] == [
        ("lock.acquire", cond_lock, True),
        ("cond.wait", cond, True),
        ("lock.release", cond_lock, True),
        ("task.suspend", cond, True),
        ("lock.acquire", cond_lock, False),
        ("cond.notify", cond, False),
        ("lock.release", cond_lock, False),
        ("lock.acquire", cond_lock, True),
        ("cond.wake", cond, True),
        ("lock.release", cond_lock, True),
    ]
    assert on_cond[1]["data"]["lock"] == 2 and on_cond[5]["data"]["waiters"] == 1
    # BoundedSemaphore: one release event per real release; the one past the bound raised unrecorded.
    on_sem = [(e["kind"], e["task"]) for e in run.events if e["obj_label"] == sem]
    holder, waiter = tasks["holder"], tasks["sem-waiter"]
    assert on_sem == [
        ("sem.acquire", holder),
        ("sem.wait", waiter),
        ("task.suspend", waiter),
        ("sem.release", holder),
        ("sem.acquire", waiter),
        ("sem.release", main),
    ]
    assert [e["data"]["awaits"] for e in _suspends(run, holder)] == ["event"]
    on_event = [(e["kind"], e["task"], e["data"]) for e in run.events if e["obj_label"] == event and e["kind"] != "task.suspend"]
    assert [(kind, task) for kind, task, _ in on_event] == [("event.wait", holder), ("event.set", main), ("event.wake", holder)]
    assert on_event[1][2] == {"waiters": 1} and on_event[2][2]["result"] is True
    # A lock wait ended by cancellation.
    locked_out = tasks["locked-out"]
    assert _brief(_of_task(run, locked_out)) == [
        ("task.resume", None),
        ("lock.wait", lock),
        ("task.suspend", lock),
        ("task.resume", None),
        ("lock.fail", lock),
        ("task.done", None),
    ]
    # Non-blocking puts and gets that fail.
    assert [(e["kind"], e["data"]) for e in run.events if e["obj_label"] == small] == [
        ("queue.put", {"item": "a", "size": 1}),
        ("queue.full", {"size": 1, "maxsize": 1}),
        ("queue.get", {"item": "a", "size": 0}),
        ("queue.empty", {"size": 0}),
    ]
    # PriorityQueue: items leave in priority order; join brackets the work.
    on_jobs = [e for e in run.events if e["obj_label"] == jobs]
    assert [e["data"]["item"] for e in on_jobs if e["kind"] == "queue.get"] == [1, 2, 3]
    assert [e["data"]["unfinished"] for e in on_jobs if e["kind"] == "queue.task_done"] == [2, 1, 0]
    kinds = [e["kind"] for e in on_jobs]
    assert kinds.index("queue.join") < kinds.index("queue.task_done") and kinds.index("queue.joined") > len(kinds) - 5
    # shield and wait name the tasks they wait for.
    creates = {e["data"]["task"]: e for e in run.by_kind("task.create")}
    shield = next(e for e in _suspends(run, main) if e["data"]["awaits"] == "shield")
    assert creates[shield["data"]["target"]]["data"]["coro"] == "sleep"
    assert creates[shield["data"]["target"]]["task"] == main and creates[shield["data"]["target"]]["func"] == "main"
    waited = next(e for e in _suspends(run, main) if e["data"]["awaits"] == "wait")
    assert waited["data"]["target"]["items"] == [tasks["waited"]]


def test_deadlocked_tasks_show_what_each_waits_for(tmp_path: Path) -> None:
    """Two tasks stuck forever on each other's asyncio.Lock: killed, the log says who holds what and who waits."""
    import signal
    import time

    from chronodbg.errors import LogError
    from chronodbg.logfile import read_log
    proc, out = start_recording(tmp_path, "aio_deadlock.py", "--on-deadlock=continue")
    try:
        deadline = time.monotonic() + POLL_LIMIT
        waiting = 0
        while waiting < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
            try:
                waiting = sum(1 for e in read_log(str(out)).events if e.kind == "lock.wait")
            except LogError:
                pass
        # Stuck: the writer thread alone put the waits on disk.
        assert waiting == 2 and proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    log = read_log(str(out))
    assert log.complete and log.footer is not None and log.footer["exit_how"] == "SIGTERM"
    tasks = {t.name: t.id for t in log.tasks.values()}
    labels = {o.id: o.label for o in log.objects.values()}
    holds = {e.task: labels[e.obj] for e in log.events if e.kind == "lock.acquire"}
    last_suspend = {e.task: e for e in log.events if e.kind == "task.suspend"}
    ab, ba = tasks["ab"], tasks["ba"]
    assert holds == {ab: "asyncio.Lock#1", ba: "asyncio.Lock#2"}
    for task, other in ((ab, ba), (ba, ab)):
        stuck = last_suspend[task]
        assert stuck.data[0] == "lock" and labels[stuck.obj] == holds[other]
        site = log.site_of(stuck)
        assert site is not None and site.func == "take"
