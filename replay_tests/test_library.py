"""The library API (record/start/stop/mark, in-memory logs) and the value summaries."""

from __future__ import annotations

import collections
import queue
import threading
from pathlib import Path
from typing import Any

import pytest

import chronodbg
from chronodbg import values
from chronodbg.errors import RecordError
from chronodbg.logfile import read_log
from chronodbg.recorder.snapshot import Summariser


def test_in_memory_recording_with_marks_and_locals() -> None:
    api_key = "abc123"  # noqa: F841 - sampled, must come out redacted
    with chronodbg.record(None) as rec:
        lock = threading.Lock()
        items = [1, 2, 3]  # noqa: F841 - a local for the snapshot
        with lock:
            chronodbg.mark("phase", n=3, password="pw")
        q: queue.Queue[str] = queue.Queue()
        q.put("x")
        assert q.get() == "x"
    kinds = [e.kind for e in rec.events]
    assert kinds == ["lock.acquire", "mark", "lock.release", "queue.put", "queue.get", "process.exit"]
    mark = rec.events[1]
    assert mark.data[0] == "phase"
    assert values.to_json(mark.data[1]) == {"type": "dict", "len": 2, "items": [["n", 3], ["password", "<redacted>"]]}
    local = dict(mark.locals or ())
    assert local["api_key"] == (values.TAG_REDACTED,)
    assert local["items"] == ("list", 3, (1, 2, 3))
    assert values.to_text(local["lock"]) == "Lock#1"
    assert rec.events[3].data == ("x", 1)
    # Recording stopped: the runtime is back to normal.
    assert not isinstance(threading.Lock(), chronodbg.recorder.locks.RecordedLock)  # type: ignore[attr-defined]


def test_start_stop_to_file(tmp_path: Path) -> None:
    path = tmp_path / "lib.cgr"
    handle = chronodbg.start(str(path))
    with pytest.raises(RecordError):
        chronodbg.start(None)
    done = threading.Event()
    worker = threading.Thread(target=done.set, name="setter")
    worker.start()
    worker.join()
    stopped = chronodbg.stop()
    assert stopped is not None and chronodbg.stop() is None
    log = read_log(str(path))
    assert log.complete and log.footer is not None and log.footer["exit_how"] == "stop"
    names = {t.name for t in log.threads.values()}
    assert {"MainThread", "setter"} <= names
    assert [e.kind for e in log.events if log.threads[e.thread].name == "setter"] == ["event.set", "thread.end"]
    assert handle.path == str(path)


def test_objects_created_by_the_standard_library_are_not_recorded() -> None:
    with chronodbg.record(None) as rec:
        t = threading.Thread(target=lambda: None)
        t.start()  # Thread's own Event/Condition/locks are internal
        t.join()
        q: queue.Queue[int] = queue.Queue()  # its mutex and conditions are internal
        q.put(1)
        q.get()
    labels = {e.kind for e in rec.events}
    assert labels == {"thread.start", "thread.end", "thread.join", "thread.joined", "queue.put", "queue.get", "process.exit"}


def test_subclassed_queue_with_own_storage() -> None:
    class Stack(queue.Queue):  # type: ignore[type-arg]
        def _init(self, maxsize: int) -> None:
            self.items: list[Any] = []

        def _qsize(self) -> int:
            return len(self.items)

        def _put(self, item: Any) -> None:
            self.items.append(item)

        def _get(self) -> Any:
            return self.items.pop()

    class Counting(queue.LifoQueue):  # type: ignore[type-arg]
        def _put(self, item: Any) -> None:
            super()._put(item)

    with chronodbg.record(None) as rec:
        s = Stack()
        s.put(1)
        s.put(2)
        assert s.get() == 2
        c = Counting()
        c.put("a")
        assert c.get() == "a"
    moves = [(e.kind, e.data[0]) for e in rec.events if e.kind.startswith("queue.")]
    assert moves == [("queue.put", 1), ("queue.put", 2), ("queue.get", 2), ("queue.put", "a"), ("queue.get", "a")]


def test_isinstance_and_condition_on_recorded_locks() -> None:
    with chronodbg.record(None) as rec:
        lock = threading.Lock()
        rlock = threading.RLock()
        # threading.Lock is a type since 3.13 (before, `isinstance` with it raises TypeError, recorded or not).
        assert not isinstance(threading.Lock, type) or isinstance(lock, threading.Lock)
        cond = threading.Condition(lock)
        rcond = threading.Condition(rlock)
        with cond:
            assert not cond.wait(timeout=0.001)
        with rcond:
            with rcond:
                assert not rcond.wait(timeout=0.001)
        assert lock.acquire(blocking=False)
        assert not lock.acquire(blocking=False)
        lock.release()
        with pytest.raises(RuntimeError):
            lock.release()
        with pytest.raises(RuntimeError):
            rlock.release()
    kinds = [(e.kind, e.data) for e in rec.events if e.kind.startswith(("lock", "cond"))]
    # cond.wait on a plain Lock releases and re-acquires it; on an RLock
    # every level goes at once and comes back at the same depth.
    assert [k for k, _ in kinds[:6]] == ["lock.acquire", "cond.wait", "lock.release", "lock.acquire", "cond.wake", "lock.release"]
    rlock_id = next(e.obj for e in rec.events if e.kind == "lock.acquire" and e.data == (0, 2))
    rlock_events = [(e.kind, e.data) for e in rec.events if e.obj == rlock_id]
    assert rlock_events == [
        ("lock.acquire", (0, 1)),
        ("lock.acquire", (0, 2)),
        ("lock.release", (0,)),
        ("lock.acquire", (0, 2)),
        ("lock.release", (1,)),
        ("lock.release", (0,)),
    ]
    assert ("lock.fail", (0, None)) in kinds


def test_semaphore_event_timeouts() -> None:
    with chronodbg.record(None) as rec:
        sem = threading.BoundedSemaphore(1)
        assert sem.acquire()
        assert not sem.acquire(timeout=0.001)
        sem.release()
        with pytest.raises(ValueError):
            sem.release()
        ev = threading.Event()
        assert not ev.wait(0.001)
        ev.set()
        ev.clear()
    kinds = [(e.kind, e.data[0] if e.data else None) for e in rec.events if e.kind.startswith(("sem", "event"))]
    assert kinds == [
        ("sem.acquire", 0),
        ("sem.wait", 0),
        ("sem.fail", 0),
        ("sem.release", 1),
        ("event.wait", False),
        ("event.wake", False),
        ("event.set", 0),
        ("event.clear", None),
    ]


class Hostile:
    def __repr__(self) -> str:
        raise AssertionError("repr must not be called")

    def __len__(self) -> int:
        raise AssertionError("len must not be called")

    def __eq__(self, other: object) -> bool:
        raise AssertionError("eq must not be called")

    __hash__ = object.__hash__

    def __getattr__(self, name: str) -> Any:
        raise AssertionError("getattr must not be called")


def test_summaries_never_call_user_code() -> None:
    s = Summariser()
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    cases = {
        "big": 10**40,
        "long": "x" * 500,
        "surrogate": "a\udc80b",
        "bytes": b"\xff" * 300,
        "nested": {"a": [1, {"b": (2, 3)}], "token": "t"},
        "hostile": Hostile(),
        "cyclic": cyclic,
        "deque": collections.deque([1, 2]),
        "nan": float("nan"),
    }
    out = {name: s.value(v) for name, v in cases.items()}
    assert out["big"] == (values.TAG_INT, (10**40).bit_length())
    assert out["long"] == (values.TAG_STR, "x" * 120, 500)
    assert out["surrogate"] == "a\\udc80b"
    assert out["bytes"][0] == values.TAG_BYTES and out["bytes"][2] == 300
    assert out["nested"] == ("dict", 2, (("a", ("list", 2, (1, ("dict", 1, None)))), ("token", (values.TAG_REDACTED,))))
    assert out["hostile"][0] == values.TAG_OBJ and out["hostile"][1].endswith(".Hostile")
    assert out["cyclic"] == ("list", 2, (1, ("list", 2, (1, ("list", 2, None)))))[:3] or out["cyclic"][1] == 2
    assert out["deque"] == ("deque", 2, (1, 2))
    import json

    json.dumps([values.to_json(v) for v in out.values()])  # every summary renders as JSON
    assert [values.to_text(v) for v in out.values()]


def test_redaction_can_be_extended_and_disabled() -> None:
    assert Summariser(redact="session").is_secret("user_session")
    assert not Summariser(redact=None).is_secret("password")
    assert Summariser().is_secret("DB_PASSWORD") and Summariser().is_secret("privateKey")
    assert Summariser().is_secret("private_key")


def test_locals_distinguish_equal_values_of_other_types() -> None:
    def flip() -> None:
        x: object = 1
        chronodbg.mark("int")
        x = True
        chronodbg.mark("bool")
        x = 1.0
        chronodbg.mark("float")
        del x

    with chronodbg.record(None) as rec:
        flip()
    marks = [e for e in rec.events if e.kind == "mark"]
    assert [dict(e.locals or ())["x"] for e in marks] == [1, True, 1.0]
    assert [type(dict(e.locals or ())["x"]) for e in marks] == [int, bool, float]


def test_unchanged_frame_reuses_its_snapshot() -> None:
    def loop() -> None:
        n = 5
        for _ in range(3):
            chronodbg.mark("tick", n=n)

    with chronodbg.record(None) as rec:
        loop()
    snaps = [e.locals for e in rec.events if e.kind == "mark"]
    assert snaps[0] == (("n", 5), ("_", 0)) and snaps[2] == (("n", 5), ("_", 2))


def test_thread_definitions_carry_their_ident() -> None:
    seen: list[int] = []
    with chronodbg.record(None) as rec:
        t = threading.Thread(target=lambda: seen.append(threading.get_ident()), name="identified")
        t.start()
        t.join()
    info = [t for t in rec.log().threads.values() if t.name == "identified"][0]
    assert info.ident == seen[0] and info.parent == 1


def test_snapshot_of_an_unchanged_frame_is_the_same_object() -> None:
    import sys
    from types import FrameType

    def sample(n: int) -> FrameType:
        count, name, helper = n, "x", Hostile()  # noqa: F841 - locals to sample
        return sys._getframe()

    s = Summariser()
    frame = sample(3)
    first = s.frame_locals(frame)
    assert s.frame_locals(frame) is first
    changed = s.frame_locals(sample(4))
    assert changed is not first and dict(changed)["count"] == 4 and dict(changed)["name"] == "x"


def test_queue_failures_and_other_queue_kinds() -> None:
    with chronodbg.record(None) as rec:
        full: queue.Queue[int] = queue.Queue(maxsize=1)
        full.put(1)
        with pytest.raises(queue.Full):
            full.put_nowait(2)
        with pytest.raises(queue.Full):
            full.put(3, timeout=0.001)
        assert full.get() == 1
        with pytest.raises(queue.Empty):
            full.get_nowait()
        lifo: queue.LifoQueue[str] = queue.LifoQueue()
        lifo.put("a")
        lifo.put("b")
        assert lifo.get() == "b"
        prio: queue.PriorityQueue[int] = queue.PriorityQueue()
        prio.put(5)
        prio.put(1)
        assert prio.get() == 1
        simple: queue.SimpleQueue[str] = queue.SimpleQueue()
        simple.put("s")
        assert simple.get() == "s"
        with pytest.raises(queue.Empty):
            simple.get(timeout=0.001)
    moves = [(e.kind, e.data[0] if e.kind in ("queue.put", "queue.get") else e.data) for e in rec.events if e.kind.startswith("queue.")]
    # A timed put or get waits for what is left of its timeout.
    waits = [i for i, (kind, _) in enumerate(moves) if kind == "queue.wait"]
    for i in waits:
        op, size, maxsize, timeout = moves[i][1]
        assert 0 < timeout <= 0.001
        moves[i] = ("queue.wait", (op, size, maxsize, 0.001))
    assert moves == [
        ("queue.put", 1),
        ("queue.full", (1, 1)),
        ("queue.wait", ("put", 1, 1, 0.001)),
        ("queue.full", (1, 1)),
        ("queue.get", 1),
        ("queue.empty", (0,)),
        ("queue.put", "a"),
        ("queue.put", "b"),
        ("queue.get", "b"),
        ("queue.put", 5),
        ("queue.put", 1),
        ("queue.get", 1),
        ("queue.put", "s"),
        ("queue.get", "s"),
        ("queue.wait", ("get", 0, 0, 0.001)),
        ("queue.empty", (0,)),
    ]
    labels = {rec.log().objects[e.obj].label for e in rec.events if e.kind.startswith("queue.")}
    assert labels == {"Queue#1", "LifoQueue#2", "PriorityQueue#3", "SimpleQueue#4"}
    assert isinstance(simple, queue.SimpleQueue)


def test_barrier_broken_and_repr_option() -> None:
    class Shown:
        def __repr__(self) -> str:
            return "<Shown ok>"

    shown = Shown()  # noqa: F841 - sampled with use_repr
    with chronodbg.record(None, use_repr=True) as rec:
        barrier = threading.Barrier(2)
        with pytest.raises(threading.BrokenBarrierError):
            barrier.wait(timeout=0.001)
    kinds = [e.kind for e in rec.events if e.kind.startswith("barrier")]
    assert kinds == ["barrier.wait", "barrier.broken"]
    local = dict(rec.events[0].locals or ())
    assert values.to_text(local["shown"]) == "<Shown ok>"


def test_threads_started_while_importing_are_recorded(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "starts_at_import.py").write_text(
        "import threading\nready = threading.Event()\nthreading.Thread(target=ready.set, name='import-time').start()\n"
    )
    app = tmp_path / "app.py"
    app.write_text("import starts_at_import\nstarts_at_import.ready.wait()\n")
    out = tmp_path / "imp.cgr"
    from replay_tests.conftest import env

    subprocess.run([sys.executable, "-m", "chronodbg", "record", "-q", "-o", str(out), str(app)], check=True, cwd=tmp_path, env=env())
    log = read_log(str(out))
    mine = [e for e in log.events if log.threads[e.thread].name == "import-time"]
    assert [e.kind for e in mine] == ["event.set", "thread.end"]
    start = [e for e in log.events if e.kind == "thread.start"][0]
    assert log.sites[start.site].file.endswith("starts_at_import.py")


def test_objects_from_before_recording_are_decided_by_their_first_use() -> None:
    sem = threading.Semaphore(1)
    cond = threading.Condition()
    with chronodbg.record(None) as rec:
        with sem:
            pass
        with cond:
            cond.notify_all()
    labels = [(e.kind, rec.log().objects[e.obj].label) for e in rec.events if e.obj is not None]
    assert labels == [
        ("sem.acquire", "Semaphore#1"),
        ("sem.release", "Semaphore#1"),
        ("cond.notify", "Condition#2"),
    ]


def test_recording_started_inside_a_running_task() -> None:
    """Tasks that existed before recording began are numbered at their next step; asyncio is restored after."""
    import asyncio

    async def worker(q: asyncio.Queue[int]) -> None:
        await q.put(1)

    async def main() -> tuple[chronodbg.Recording, int]:
        with chronodbg.record(None) as rec:
            q: asyncio.Queue[int] = asyncio.Queue()
            task = asyncio.create_task(worker(q), name="worker")
            await asyncio.sleep(0)
            item = await q.get()
            await task
        return rec, item

    plain_task = asyncio.Task
    rec, item = asyncio.run(main())
    assert item == 1 and asyncio.Task is plain_task and asyncio.tasks.Task is plain_task
    log = rec.log()
    worker_id = next(t.id for t in log.tasks.values() if t.name == "worker")
    main_id = next(t.id for t in log.tasks.values() if t.coro.endswith("main"))
    steps = [(e.kind, e.task) for e in rec.events if e.kind.startswith(("task.", "queue."))]
    # The worker is created by the step that started the recording (main is not known yet),
    # runs and finishes; main is numbered when it resumes after the sleep.
    assert steps[:4] == [("task.create", None), ("task.resume", worker_id), ("queue.put", worker_id), ("task.done", worker_id)]
    assert ("task.create", None) in steps[4:] and ("queue.get", main_id) in steps
    assert log.tasks[main_id].parent is None and log.tasks[worker_id].parent is None


def test_locals_are_decoded_when_first_looked_at(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each chunk keeps its locals packed until an event's locals are read; few chunks stay decoded."""
    from chronodbg.logfile import reader
    from chronodbg.recorder import control

    with chronodbg.record(None) as rec:
        lock = threading.Lock()
        for phase in range(4):  # noqa: B007 - locals for the snapshots
            for i in range(3):  # noqa: B007 - locals for the snapshots
                with lock:
                    pass
            recorder = control.current()
            assert recorder is not None
            recorder.drain()  # one chunk per phase
    log = rec.log()
    assert len({id(e._chunk) for e in log.events}) >= 4
    assert not log.decoded_locals
    monkeypatch.setattr(reader, "DECODED_CHUNKS", 2)
    sampled = [dict(e.locals or ()) for e in log.events if e.kind == "lock.acquire"]
    assert [s["phase"] for s in sampled] == [p for p in range(4) for _ in range(3)]
    assert len(log.decoded_locals) == 2


def test_threads_in_locals_are_named_as_replay_names_them() -> None:
    def work() -> None:
        pass

    with chronodbg.record(None) as rec:
        worker = threading.Thread(target=work, name="worker")
        worker.start()
        worker.name = "renamed"
        worker.join()
        chronodbg.mark("after")
    log = rec.log()
    tid = next(t.id for t in log.threads.values() if t.name == "worker")
    mark = next(e for e in log.events if e.kind == "mark")
    shown = dict((name, values.to_text(value)) for name, value in mark.locals or ())
    assert shown["worker"] == f'Thread T{tid} "renamed"'


def test_recorded_locks_check_their_arguments_as_the_originals_do() -> None:
    with chronodbg.record(None):
        lock, rlock, sem = threading.Lock(), threading.RLock(), threading.Semaphore()
        for acquire in (lock.acquire, rlock.acquire):
            with pytest.raises(ValueError):
                acquire(False, 1)
            with pytest.raises(ValueError):
                acquire(timeout=-100)
            with pytest.raises(OverflowError):
                acquire(timeout=threading.TIMEOUT_MAX + 1)
            assert acquire(timeout=threading.TIMEOUT_MAX)
        with pytest.raises(ValueError):
            sem.acquire(False, timeout=1.0)
        if isinstance(threading.Lock, type):
            # 3.13+: the lock type makes locks, as unrecorded.
            assert not type(lock)().locked()
        else:
            with pytest.raises(TypeError, match=r"cannot create '_thread\.lock' instances"):
                type(lock)()
        lock.release()
        rlock.release()
    assert not lock.locked()


def test_recorded_lock_cannot_be_subclassed_as_the_original() -> None:
    def subclass() -> str:
        try:

            class MyLock(threading.Lock):  # type: ignore[misc,valid-type]
                pass

        except TypeError as exc:
            return str(exc)
        return "no error"

    plain = subclass()
    with chronodbg.record(None):
        recorded = subclass()
    assert recorded == plain != "no error"
