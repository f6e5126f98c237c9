"""Tracebacks the program prints itself, of errors raised by recorded objects: the same frames as unrecorded.

Each error is caught and its traceback printed to stdout (addresses and all).
"""

import asyncio
import concurrent.futures
import queue
import threading
import traceback

HANG_GUARD = 60.0


def attempt(label, action):
    try:
        action()
    except BaseException:
        print(f"--- {label}")
        print(traceback.format_exc(), end="")


def start_twice():
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    t.start()


def join_self():
    threading.current_thread().join()


def broken_barrier():
    barrier = threading.Barrier(2)
    barrier.abort()
    barrier.wait(HANG_GUARD)


def worker_fails():
    raise KeyError("from the worker")


def future_result():
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(worker_fails)
        # Done before result() looks: which of its lines raises depends on
        # that, and the scheduling would decide it otherwise.
        concurrent.futures.wait([future], HANG_GUARD)
        future.result(HANG_GUARD)


def over_release():
    sem = threading.BoundedSemaphore(1)
    sem.release()


def wait_unheld():
    threading.Condition().wait(0)


def notify_unheld():
    threading.Condition().notify()


def full():
    q = queue.Queue(1)
    q.put(1)
    q.put_nowait(2)


def full_timeout():
    q = queue.Queue(1)
    q.put(1)
    q.put(2, timeout=0)


attempt("release an unheld Lock", threading.Lock().release)
attempt("release an unheld RLock", threading.RLock().release)
attempt("bad timeout", lambda: threading.Lock().acquire(False, 1))
attempt("start a thread twice", start_twice)
attempt("join the current thread", join_self)
attempt("broken barrier", broken_barrier)
attempt("future result", future_result)
attempt("over-release a BoundedSemaphore", over_release)
attempt("wait on an unheld Condition", wait_unheld)
attempt("notify an unheld Condition", notify_unheld)
attempt("empty Queue", queue.Queue().get_nowait)
attempt("empty Queue, timeout", lambda: queue.Queue().get(timeout=0))
attempt("full Queue", full)
attempt("full Queue, timeout", full_timeout)
attempt("empty SimpleQueue", queue.SimpleQueue().get_nowait)
attempt("task_done too often", queue.Queue().task_done)
attempt("Event.wait bad timeout", lambda: threading.Event().wait("soon"))


async def asyncio_errors():
    def over_put():
        q = asyncio.Queue(1)
        q.put_nowait(1)
        q.put_nowait(2)

    attempt("release an unheld asyncio.Lock", asyncio.Lock().release)
    attempt("empty asyncio.Queue", asyncio.Queue().get_nowait)
    attempt("full asyncio.Queue", over_put)
    attempt("asyncio task_done too often", asyncio.Queue().task_done)
    attempt("over-release an asyncio.BoundedSemaphore", asyncio.BoundedSemaphore(1).release)
    lock = asyncio.Lock()
    await lock.acquire()
    waiter = asyncio.ensure_future(lock.acquire())
    await asyncio.sleep(0)  # the waiter blocks on the held lock
    waiter.cancel()
    try:
        await waiter
    except asyncio.CancelledError:
        print("--- cancelled asyncio.Lock.acquire")
        print(traceback.format_exc(), end="")
    try:
        await asyncio.wait_for(asyncio.Event().wait(), 0.001)
    except TimeoutError:
        print("--- asyncio.Event.wait timed out by wait_for")
        print(traceback.format_exc(), end="")


asyncio.run(asyncio_errors())
