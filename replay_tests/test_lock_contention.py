"""A recorded lock's contended acquire (`locks._contended`): it sleeps beside the lock and tries again
SPINS times before it blocks in it, unless the acquire has a timeout; what it records is the same.

The lock is a stand-in around a real `_thread` lock that logs each acquire and can let go of the real
lock at a chosen moment, and `time.sleep` is replaced by a counter: nothing here waits on the clock.
"""

from __future__ import annotations

import _thread
import sys

import pytest

from chronodbg.kinds import Kind
from chronodbg.recorder import locks
from replay_tests.conftest import Emits


class HeldLock:
    """A real lock, taken at the start; `free_at_try` lets it go before that non-blocking try (1-based)."""

    def __init__(self, free_at_try: int | None = None) -> None:
        self.real = _thread.allocate_lock()
        self.real.acquire()
        self.free_at_try = free_at_try
        self.calls: list[tuple[bool, float]] = []

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        self.calls.append((blocking, timeout))
        tries = sum(1 for b, _ in self.calls if not b)
        if (not blocking and tries == self.free_at_try) or blocking:
            # Blocking: let go first, as another thread would, so the test never waits.
            if self.real.locked():
                self.real.release()
        return self.real.acquire(blocking, timeout)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(locks, "_sleep", slept.append)
    return slept


def test_a_lock_freed_while_sleeping_beside_it_is_taken_without_blocking(sleeps: list[float]) -> None:
    rec, lock = Emits(), HeldLock(free_at_try=3)
    waited = locks._contended(rec, 7, lock, True, -1, sys._getframe())  # type: ignore[arg-type]
    assert waited is not None and waited >= 0
    assert lock.calls == [(False, -1)] * 3
    assert sleeps == [locks.SPIN_SLEEP] * 3
    assert rec.events == [(Kind.LOCK_WAIT, 7, (None,))]
    assert lock.real.locked()


def test_a_lock_still_held_after_every_try_is_waited_for_in_the_lock(sleeps: list[float]) -> None:
    rec, lock = Emits(), HeldLock()
    waited = locks._contended(rec, 7, lock, True, -1, sys._getframe())  # type: ignore[arg-type]
    assert waited is not None and waited >= 0
    assert lock.calls == [(False, -1)] * locks.SPINS + [(True, -1)]
    assert len(sleeps) == locks.SPINS
    assert rec.events == [(Kind.LOCK_WAIT, 7, (None,))]


def test_an_acquire_with_a_timeout_blocks_at_once(sleeps: list[float]) -> None:
    rec, lock = Emits(), HeldLock()
    waited = locks._contended(rec, 7, lock, True, 5.0, sys._getframe())  # type: ignore[arg-type]
    assert waited is not None
    assert lock.calls == [(True, 5.0)] and sleeps == []
    assert rec.events == [(Kind.LOCK_WAIT, 7, (5.0,))]


def test_a_non_blocking_acquire_fails_at_once(sleeps: list[float]) -> None:
    rec, lock = Emits(), HeldLock()
    assert locks._contended(rec, 7, lock, False, -1, sys._getframe()) is None  # type: ignore[arg-type]
    assert lock.calls == [] and sleeps == []
    assert rec.events == [(Kind.LOCK_FAIL, 7, (0, None))]
