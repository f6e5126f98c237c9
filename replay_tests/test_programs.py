"""Real threaded programs recorded end to end: exact sequences where the program
forces the interleaving, invariants everywhere."""

from __future__ import annotations

from pathlib import Path

from replay_tests.conftest import PROGRAMS, Run, check_invariants, record, run_plain


def _compact(run: Run, thread: str) -> list[tuple[str, str | None]]:
    return [(e["kind"], e["obj_label"]) for e in run.of_thread(thread)]


def test_bank_forced_phase_exact_and_free_phase_invariants(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "bank.py", "300")
    assert run.returncode == 0, run.stderr
    check_invariants(run)
    labels = {e["obj_label"] for e in run.by_kind("lock.acquire")}
    lock_a, lock_b, lock_c = "Lock#1", "Lock#2", "Lock#3"
    assert labels == {lock_a, lock_b, lock_c}
    assert _compact(run, "alice") == [
        ("lock.acquire", lock_a),
        ("lock.acquire", lock_b),
        ("lock.release", lock_b),
        ("lock.release", lock_a),
        ("event.set", "Event#4"),
        ("thread.end", None),
    ]
    assert _compact(run, "bob") == [
        ("event.wait", "Event#4"),
        ("event.wake", "Event#4"),
        ("lock.acquire", lock_a),
        ("lock.acquire", lock_b),
        ("lock.release", lock_b),
        ("lock.release", lock_a),
        ("thread.end", None),
    ]
    bob_transfer = next(e for e in run.of_thread("bob") if e["kind"] == "lock.acquire")
    assert bob_transfer["func"] == "transfer" and bob_transfer["file"].endswith("bank.py")
    assert bob_transfer["locals"]["amount"] == 5
    assert bob_transfer["locals"]["src"] == {"type": "obj", "class": "Account", "id": bob_transfer["locals"]["src"]["id"]}
    # Every churn thread did all its transfers: two acquires and two releases each.
    for i in range(4):
        kinds = run.kinds_of(f"churn-{i}")
        assert kinds.count("lock.acquire") == kinds.count("lock.release") == 600
    starts = [e["data"]["name"] for e in run.by_kind("thread.start")]
    assert starts == ["alice", "bob", "churn-0", "churn-1", "churn-2", "churn-3"]


def test_bounded_queue_producer_waits_when_full(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "prodcons.py")
    assert run.returncode == 0, run.stderr
    check_invariants(run)
    producer = run.of_thread("producer")
    # put(0), put(1), then the event lets the consumer start, and put(2) must wait.
    assert [(e["kind"], e["data"].get("item")) for e in producer[:4]] == [
        ("queue.put", 0),
        ("queue.put", 1),
        ("event.set", None),
        ("queue.wait", None),
    ]
    assert producer[3]["data"] == {"op": "put", "size": 2, "maxsize": 2, "timeout": None}
    gets = [e["data"]["item"] for e in run.by_kind("queue.get")]
    puts = [e["data"]["item"] for e in run.by_kind("queue.put")]
    assert puts == gets == [0, 1, 2, 3, 4, None]
    # Each get comes after the put of the same item (FIFO, log order is causal).
    put_seq = [e["seq"] for e in run.by_kind("queue.put")]
    get_seq = [e["seq"] for e in run.by_kind("queue.get")]
    assert all(p < g for p, g in zip(put_seq, get_seq, strict=True))
    assert all(e["data"]["size"] <= 2 for e in run.by_kind("queue.put"))
    assert len(run.by_kind("queue.task_done")) == 6
    assert run.by_kind("queue.join") and run.by_kind("queue.joined")


def test_condition_handoff(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "handoff.py")
    assert run.returncode == 0, run.stderr
    check_invariants(run)
    consumer = [e["kind"] for e in run.of_thread("consumer") if e["kind"] != "output"]
    assert consumer == ["event.set", "cond.wait", "cond.wake", "thread.end"]
    producer = [e["kind"] for e in run.of_thread("producer")]
    assert producer == ["event.wait", "event.wake", "cond.notify", "thread.end"]
    notify = run.by_kind("cond.notify")[0]
    wake = run.by_kind("cond.wake")[0]
    assert notify["data"] == {"n": 1, "waiters": 1}
    assert wake["data"]["notified"] is True
    assert notify["seq"] < wake["seq"]
    assert run.by_kind("cond.wait")[0]["obj_label"] == notify["obj_label"] == "Condition#1"


def test_barrier_two_phases(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "barrier.py")
    assert run.returncode == 0, run.stderr
    check_invariants(run)
    waits = run.by_kind("barrier.wait")
    passes = run.by_kind("barrier.pass")
    assert len(waits) == len(passes) == 6
    assert all(w["data"]["parties"] == 3 for w in waits)
    # Nobody passes phase 0 before all three arrived.
    first_pass = passes[0]["seq"]
    assert sum(1 for w in waits if w["seq"] < first_pass) == 3
    assert sorted(p["data"]["index"] for p in passes) == [0, 0, 1, 1, 2, 2]
    for n in range(3):
        kinds = [k for k in run.kinds_of(f"w{n}") if k.startswith("barrier")]
        assert kinds == ["barrier.wait", "barrier.pass"] * 2


def test_thread_pool_map_and_future_wait(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "pool.py")
    assert run.returncode == 0, run.stderr
    check_invariants(run)
    assert run.stdout.decode().splitlines() == ["[0, 1, 4, 9, 16, 25]", "done"]
    workers = {e["data"]["name"] for e in run.by_kind("thread.start")}
    assert workers <= {"pool_0", "pool_1"} and workers
    work_queue = {e["obj_label"] for e in run.by_kind("queue.put")}
    assert len(work_queue) == 1 and next(iter(work_queue)).startswith("SimpleQueue#")
    sets = [e["data"]["value"] for e in run.by_kind("future.set")]
    assert sorted(v for v in sets if isinstance(v, int)) == [0, 1, 4, 9, 16, 25]
    assert "done" in sets
    # result() on the slow future waited, and woke FINISHED after it was set.
    waits = run.by_kind("future.wait")
    assert waits, "future.result() should have been recorded as a wait"
    slow = [e for e in run.by_kind("future.set") if e["data"]["value"] == "done"][0]
    wake = [e for e in run.by_kind("future.wake") if e["obj"] == slow["obj"]]
    assert wake and wake[0]["seq"] > slow["seq"] and wake[0]["data"]["state"] == "FINISHED"
    # Seven work items, then shutdown wakes each started worker with None.
    items = [e["data"]["item"] for e in run.by_kind("queue.get")]
    work = [i for i in items if isinstance(i, dict) and i["class"] == "concurrent.futures.thread._WorkItem"]
    assert len(work) == 7
    assert len(items) - len(work) == items.count(None) == len(workers)
    # Workers pass the None on to wake each other; leftovers stay in the queue.
    put_items = [e["data"]["item"] for e in run.by_kind("queue.put")]
    assert len(put_items) >= len(items) and put_items.count(None) == len(put_items) - 7


def test_rlock_recursion_depth_and_redaction(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "rlock.py")
    assert run.returncode == 0, run.stderr
    check_invariants(run)
    main = [(e["kind"], e["data"].get("depth")) for e in run.of_thread("MainThread") if e["kind"].startswith("lock.")]
    assert main == [
        ("lock.acquire", 1),
        ("lock.acquire", 2),
        ("lock.acquire", 3),
        ("lock.release", 2),
        ("lock.release", 1),
        ("lock.release", 0),
    ]
    other = [(e["kind"], e["data"].get("depth")) for e in run.of_thread("other") if e["kind"].startswith("lock.")]
    assert other == [("lock.acquire", 1), ("lock.release", 0)]
    deepest = [e for e in run.by_kind("lock.acquire") if e["data"]["depth"] == 3][0]
    assert deepest["locals"]["depth"] == 3
    # Module-level events see the module's globals: the secret is redacted.
    module_events = [e for e in run.events if e["func"] == "<module>" and e["locals"]]
    assert module_events
    for e in module_events:
        assert e["locals"]["secret_token"] == "<redacted>"
        assert e["locals"]["rlock"] == {"type": "obj", "class": "RLock", "id": e["locals"]["rlock"]["id"]} or e[
            "locals"
        ]["rlock"]["repr"] == "RLock#1"


def test_programs_behave_the_same_recorded(tmp_path: Path) -> None:
    for name in ("bank.py", "prodcons.py", "handoff.py", "barrier.py", "pool.py", "rlock.py"):
        plain = run_plain(PROGRAMS / name, cwd=tmp_path)
        recorded = record(tmp_path, PROGRAMS / name)
        assert recorded.stdout == plain.stdout, name
        assert recorded.stderr == plain.stderr, name
        assert recorded.returncode == plain.returncode == 0, name
