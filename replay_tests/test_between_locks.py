"""Packing between locks (between_locks.py): the count of recorded locks held, the trigger after a release, and
Recorder.pack_a_chunk; each for the C lock classes where built and for the Python ones.

Nothing here waits on the clock: the recorder's writer is kept away with a period of an hour, and a thread that
must be blocked is only checked to be still alive (under load it may not even have started, which passes too).
"""

from __future__ import annotations

import _thread
import gc
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import chronodbg
from chronodbg.kinds import Kind
from chronodbg.logfile import read_log
from chronodbg.recorder import between_locks, control, core, locks
from chronodbg.recorder.core import PACK_LIMIT, Options, Recorder
from replay_tests.conftest import Emits, run_plain

_built = between_locks._built


# (Lock class, RLock class, the count they keep)
PATHS: list[tuple[str, Any, Any, Callable[[], int]]] = [
    ("python", locks.RecordedLock, locks.RecordedRLock, lambda: between_locks.STATE.held)
]
if _built is not None:
    PATHS.append(("c", locks.CRecordedLock, locks.CRecordedRLock, _built.held))


@pytest.fixture(params=PATHS, ids=[p[0] for p in PATHS])
def path(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any, Callable[[], int]]]:
    _, lock_class, rlock_class, held = request.param
    before = held()
    yield lock_class, rlock_class, lambda: held() - before
    assert held() == before, "a test left a lock counted"


@pytest.fixture
def packer() -> Iterator[tuple[list[Any], list[int]]]:
    """A buffer and a packer standing in for a recorder's: each call empties the buffer and notes its length."""
    buffer: list[Any] = []
    calls: list[int] = []

    def pack() -> None:
        calls.append(len(buffer))
        buffer.clear()

    between_locks._set(buffer, pack, 8)
    yield buffer, calls
    between_locks.stop()


def test_a_lock_counts_from_its_recorded_acquire_to_its_release(path: Any) -> None:
    lock_class, _, held = path
    rec = Emits()
    a, b = lock_class(rec, 1), lock_class(rec, 2)
    with a:
        assert held() == 1
        with b:
            assert held() == 2
        assert held() == 1
    assert held() == 0
    assert a.acquire(timeout=5) and held() == 1  # the Python method, on the C class too
    a.release()
    assert held() == 0 and len(rec.events) == 6


def test_a_lock_freed_by_another_thread_or_taken_unrecorded_counts_right(path: Any) -> None:
    lock_class, _, held = path
    rec = Emits()
    lock = lock_class(rec, 1)
    lock.acquire()
    other = threading.Thread(target=lock.release)
    other.start()
    other.join()
    assert held() == 0 and not lock.locked()
    # Taken while nothing recorded, freed while recording: it never counted, and the count stays at 0.
    rec.active = False
    lock.acquire()
    rec.active = True
    lock.release()
    assert held() == 0


def test_the_count_stays_right_while_threads_hand_a_lock_to_each_other(path: Any) -> None:
    """Threads taking one lock in turn, switched as often as the interpreter allows: a lock held by the main
    thread all along counts all along, and the count ends where it began."""
    lock_class, _, held = path
    rec = Emits()
    lock, other = lock_class(rec, 1), lock_class(rec, 2)
    start = threading.Barrier(4)
    low: list[int] = []

    def worker() -> None:
        start.wait()
        for _ in range(3000):
            with lock:
                pass
            if held() < 1:
                low.append(held())

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with other:
            threads = [threading.Thread(target=worker) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert held() == 1 and low == []
    finally:
        sys.setswitchinterval(interval)
    assert held() == 0


def test_an_rlock_counts_once_at_any_depth_and_not_while_a_condition_waits(path: Any) -> None:
    _, rlock_class, held = path
    rec = Emits()
    rlock = rlock_class(rec, 1)
    with rlock:
        with rlock:
            assert held() == 1
        assert held() == 1
    assert held() == 0
    rlock.acquire()
    rlock.acquire()
    state = rlock._release_save()  # what Condition.wait does before it waits
    assert held() == 0
    rlock._acquire_restore(state)
    assert held() == 1 and rlock._recursion_count() == 2
    rlock.release()
    rlock.release()
    assert held() == 0


def test_a_release_that_frees_the_last_lock_packs_a_full_buffer(path: Any, packer: Any) -> None:
    lock_class, rlock_class, _ = path
    buffer, calls = packer
    rec = Emits()
    lock, outer = lock_class(rec, 1), rlock_class(rec, 2)
    buffer.extend(range(7))
    with lock:
        pass
    assert calls == []  # below a chunk's worth
    buffer.extend(range(7))
    with outer:
        with lock:
            pass
        assert calls == []  # another lock is still held
    assert calls == [14]
    with lock:
        buffer.extend(range(9))
    assert calls == [14, 9]


def test_a_packer_that_leaves_the_buffer_full_is_not_called_at_every_release(path: Any) -> None:
    lock_class, _, _ = path
    buffer: list[Any] = list(range(8))
    calls: list[int] = []
    between_locks._set(buffer, lambda: calls.append(len(buffer)), 8)
    try:
        rec = Emits()
        lock = lock_class(rec, 1)
        for _ in range(3):
            with lock:
                pass
        assert calls == [8]
        buffer.extend(range(2))  # a quarter of a chunk more: tried again
        with lock:
            pass
        assert calls == [8, 10]
        del buffer[:]  # packed by someone else, and a release sees it so
        with lock:
            pass
        buffer.extend(range(8))  # a chunk's worth again: tried at once
        with lock:
            pass
        assert calls == [8, 10, 8]
    finally:
        between_locks.stop()


def _recording(path: Path | None = None) -> Recorder:
    """A recorder started by hand (no hooks, no writer thread), in memory or to `path`."""
    rec = Recorder(Options(path=None if path is None else str(path)))
    rec.open()
    rec.active = True
    # The test's thread may well be the process's only one: no packing as the events come.
    rec._alone = lambda: False  # type: ignore[method-assign]
    return rec


def _fill(rec: Recorder, n: int) -> None:
    for _ in range(n):
        rec.emit(Kind.MARK, None, (), None)


def test_the_recorder_packs_one_chunk_with_the_gc_paused(tmp_path: Path) -> None:
    rec = _recording(tmp_path / "run.cgr")
    _fill(rec, PACK_LIMIT - 1)
    rec.pack_a_chunk()
    assert rec.events_written == 0  # less than a chunk: left to the writer
    _fill(rec, 11)
    packed: list[tuple[int | None, bool]] = []
    real_pack = rec._pack

    def spy(most: int | None = None) -> None:
        packed.append((most, gc.isenabled()))
        real_pack(most)

    rec._pack = spy  # type: ignore[method-assign]
    assert gc.isenabled()
    rec.pack_a_chunk()
    assert packed == [(PACK_LIMIT, False)] and gc.isenabled()
    assert rec.events_written == PACK_LIMIT and len(rec.buffer) == 10 and not rec._io_lock.locked()
    rec.active = False
    rec.close(0, "exit")
    events = read_log(str(tmp_path / "run.cgr")).events
    assert [e.seq for e in events] == list(range(1, PACK_LIMIT + 12))


def test_the_recorder_waits_for_another_packer_and_then_finds_nothing_to_do() -> None:
    rec = _recording()
    _fill(rec, PACK_LIMIT)
    rec._io_lock.acquire()  # another thread is packing
    done = threading.Event()

    def release_point() -> None:
        rec.pack_a_chunk()
        done.set()

    waiter = threading.Thread(target=release_point)
    waiter.start()
    waiter.join(0.05)
    assert waiter.is_alive() and not done.is_set()
    rec._drain_held(False, False)  # the other packer takes everything and lets go
    waiter.join()
    assert done.is_set() and rec.events_written == PACK_LIMIT and not rec.buffer


def test_a_failure_while_packing_between_locks_never_reaches_the_program() -> None:
    rec = _recording()
    _fill(rec, PACK_LIMIT)

    def broken(most: int | None = None) -> None:
        raise RuntimeError("a bug in packing")

    rec._pack = broken  # type: ignore[method-assign]
    rec.pack_a_chunk()
    assert rec.dropped == 1 and len(rec.buffer) == PACK_LIMIT and not rec._io_lock.locked()


def test_a_stopped_recorder_or_a_thread_already_packing_does_not_pack() -> None:
    rec = _recording()
    _fill(rec, PACK_LIMIT)
    rec.active = False
    rec.pack_a_chunk()
    assert rec.events_written == 0
    rec.active = True
    rec._draining = threading.get_ident()  # called from inside this thread's own drain
    rec.pack_a_chunk()
    assert rec.events_written == 0 and not rec._io_lock.locked()


@pytest.fixture
def writer_away(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer thread wakes only when recording stops: during the run, only the program's threads pack."""
    monkeypatch.setattr(core, "FLUSH_INTERVAL", 3600.0)
    monkeypatch.setattr(core, "BUSY_FLUSH_INTERVAL", 3600.0)


def _run_threads(rounds: int, hold: bool) -> tuple[list[tuple[int | None, str]], list[Any]]:
    """Four threads each taking one recorded lock `rounds` times; with `hold`, the main thread holds that one throughout.

    Returns the packs made during the run (how many events at most, on which thread) and the recording's events.
    """
    packs: list[tuple[int | None, str]] = []
    with chronodbg.record(None) as log:
        rec = control.current()
        assert rec is not None
        real_pack = rec._pack

        def spy(most: int | None = None) -> None:
            packs.append((most, threading.current_thread().name))
            real_pack(most)

        rec._pack = spy  # type: ignore[method-assign]
        lock = threading.Lock()
        other = threading.Lock() if hold else None
        start = threading.Barrier(4)

        def worker() -> None:
            start.wait()
            for _ in range(rounds):
                with lock:
                    pass

        threads = [threading.Thread(target=worker, name=f"worker-{k}") for k in range(4)]
        if other is not None:
            other.acquire()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        during = list(packs)
        if other is not None:
            other.release()
    return during, log.events


def test_threads_pack_between_locks_and_every_event_is_kept_in_order(writer_away: None) -> None:
    packs, events = _run_threads(3 * PACK_LIMIT // 8 + 1, False)
    # 4 threads x 2 events x rounds: more than 3 chunks, all packed by the workers, one chunk at a time.
    assert len(packs) >= 2 and all(most == PACK_LIMIT and name.startswith("worker-") for most, name in packs)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    kinds = [e.kind for e in events if e.kind in ("lock.acquire", "lock.release")]
    assert kinds == ["lock.acquire", "lock.release"] * (4 * (3 * PACK_LIMIT // 8 + 1))


def test_no_thread_packs_while_another_recorded_lock_is_held(writer_away: None) -> None:
    packs, events = _run_threads(3 * PACK_LIMIT // 8 + 1, True)
    assert packs == []
    assert sum(1 for e in events if e.kind == "lock.acquire") == 4 * (3 * PACK_LIMIT // 8 + 1) + 1


ONE_THREAD = """
import sys, threading
import chronodbg
from chronodbg.recorder import control, core

core.FLUSH_INTERVAL = core.BUSY_FLUSH_INTERVAL = 3600  # the writer wakes only at the end
chronodbg.start(sys.argv[1])
rec = control.current()
packs = []
real_pack = rec._pack


def spy(most=None):
    packs.append((most, threading.current_thread().name))
    real_pack(most)


rec._pack = spy
gate = threading.Event()
other = threading.Thread(target=gate.wait) if sys.argv[2] == "two" else None
if other is not None:
    other.start()
for i in range(3 * core.PACK_LIMIT):
    chronodbg.mark("step", i=i)
during = list(packs)
gate.set()
if other is not None:
    other.join()
chronodbg.stop()
print(len(during), all(most == core.PACK_LIMIT and name == "MainThread" for most, name in during))
"""


@pytest.mark.parametrize("threads", ["one", "two"])
def test_a_program_on_one_thread_packs_its_own_events(tmp_path: Path, threads: str) -> None:
    program = tmp_path / "one_thread.py"
    program.write_text(ONE_THREAD)
    out = tmp_path / "run.cgr"
    proc = run_plain(program, str(out), threads, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    packed, on_main = proc.stdout.split()
    if threads == "one":
        # 3 chunks' worth of marks: packed a chunk at a time by the program's thread, the writer away.
        assert int(packed) >= 2 and on_main == b"True"
    else:
        # Another thread alive, blocked or not: only the writer packs (here, only at the end).
        assert int(packed) == 0
    events = read_log(str(out)).events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert sum(1 for e in events if e.kind == "mark") == 3 * PACK_LIMIT



class _OwnRLock(_thread.RLock):  # type: ignore[misc,name-defined]
    """A subclass of the C RLock: its methods are the C type's, but its class can change them."""


def test_the_methods_of_a_lock_whose_class_can_change_are_looked_up_each_time(path: Any) -> None:
    _, rlock_class, held = path
    rec = Emits()
    lock = rlock_class(rec, 1)
    with lock:  # the _thread RLock's own methods first, found once for its type in C
        pass
    lock._lock = _OwnRLock()
    with lock:  # the subclass's, inherited from the C type
        pass
    calls: list[str] = []
    original = _OwnRLock.release

    def counted_release(self: Any) -> None:
        calls.append("release")
        original(self)

    _OwnRLock.release = counted_release
    try:
        with lock:
            pass
    finally:
        _OwnRLock.release = original
    assert calls == ["release"]
    assert held() == 0 and len(rec.events) == 6
