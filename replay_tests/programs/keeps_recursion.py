"""Deep recursion while holding recorded locks, caught and uncaught, in the main thread and in a thread.

Modes: caught, uncaught, thread_caught, thread_uncaught, rlock_caught.
Prints how deep the recursion got and that every lock is free afterwards.
"""

import sys
import threading

mode = sys.argv[1]
lock = threading.Lock()
sem = threading.BoundedSemaphore(1)
rlock = threading.RLock()
cond = threading.Condition()
reached = [0]


def down(n):
    reached[0] = n
    with lock:
        with sem:
            pass
    return down(n + 1)


def down_rlock(n):
    reached[0] = n
    with rlock:
        with cond:
            return down_rlock(n + 1)


def report(where):
    # The exact depth depends on how many frames sit below the first call;
    # what matters is that the recursion got deep and every lock is usable.
    print(where, "deep:", reached[0] > 500)
    print("lock free:", lock.acquire(False))
    lock.release()
    print("rlock free:", rlock.acquire(False), rlock._is_owned())
    rlock.release()
    print("sem free:", sem.acquire(False))
    sem.release()
    print("cond usable:", cond.acquire(False))
    cond.release()


def caught(start):
    try:
        start(0)
    except RecursionError as exc:
        print("caught", type(exc).__name__, exc)
    report(threading.current_thread().name)


if mode == "caught":
    caught(down)
elif mode == "rlock_caught":
    caught(down_rlock)
elif mode == "uncaught":
    down(0)
elif mode == "thread_caught":
    t = threading.Thread(target=caught, args=(down,), name="deep")
    t.start()
    t.join()
elif mode == "thread_uncaught":
    t = threading.Thread(target=down, args=(0,), name="deep")
    t.start()
    t.join()
    report("main")
