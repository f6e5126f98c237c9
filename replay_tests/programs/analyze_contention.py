"""Forced contention: the holder keeps the lock until both other threads are blocked on it.

A thread blocked on a recorded lock sits in the recorder's `_contended`,
which it enters right after recording `lock.wait`: the holder looks at the
others' frames (polling, bounded) until both are there, then lets go.
"""

import sys
import threading
import time

lock = threading.Lock()
holding = threading.Event()


def blocked_on_lock(thread: threading.Thread) -> bool:
    frame = sys._current_frames().get(thread.ident or 0)
    return frame is not None and frame.f_code.co_name == "_contended"


def holder(waiters: list[threading.Thread]) -> None:
    with lock:  # holder takes the lock
        holding.set()
        deadline = time.monotonic() + 60
        while not all(blocked_on_lock(t) for t in waiters):
            if time.monotonic() > deadline:
                raise RuntimeError("the waiters never blocked")
            time.sleep(0.001)


def waiter() -> None:
    holding.wait()
    with lock:  # waiters take the lock
        pass


waiters = [threading.Thread(target=waiter, name=f"waiter-{i}") for i in range(2)]
first = threading.Thread(target=holder, args=(waiters,), name="holder")
for t in [first, *waiters]:
    t.start()
for t in [first, *waiters]:
    t.join()
