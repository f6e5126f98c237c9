"""atexit handlers that start and join a thread, use a Lock, a Condition and a Queue, or are their bound methods.

Modes: thread, primitives, failing (a handler raises: "Exception ignored in
atexit callback" on stderr), exit_code, bound (methods of recorded objects
registered directly: the interpreter calls them with no Python frame on the
stack).
"""

import atexit
import queue
import sys
import threading

mode = sys.argv[1] if len(sys.argv) > 1 else "thread"
lock = threading.Lock()
q = queue.Queue()


def start_and_join():
    results = []

    def work(n):
        with lock:
            results.append(n * n)

    threads = [threading.Thread(target=work, args=(n,), name=f"exit-{n}") for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("atexit threads:", sorted(results), "alive:", [t.is_alive() for t in threads])


def use_primitives():
    cond = threading.Condition(lock)
    ready = []

    def producer():
        for n in range(3):
            q.put(n)
        with cond:
            ready.append(True)
            cond.notify()

    t = threading.Thread(target=producer, name="exit-producer")
    try:
        t.start()
    except RuntimeError as exc:
        # 3.12: "can't create new thread at interpreter shutdown"; produce here instead.
        print("atexit thread refused:", exc)
        producer()
    with cond:
        cond.wait_for(lambda: ready, timeout=60)
    print("atexit queue:", [q.get() for _ in range(3)], "empty:", q.empty())
    if t.ident is not None:
        t.join()
    for _ in range(3):
        q.task_done()
    q.join()
    rlock = threading.RLock()
    with rlock, rlock:
        print("atexit rlock reentered, lock free:", not lock.locked())


def failing():
    raise RuntimeError("an atexit handler fails")


if mode == "thread":
    atexit.register(start_and_join)
elif mode == "primitives":
    atexit.register(use_primitives)
elif mode == "failing":
    atexit.register(start_and_join)
    atexit.register(failing)  # runs first (LIFO); the traceback goes to stderr, the status stays 0
elif mode == "exit_code":
    atexit.register(use_primitives)
    print("main exits with 3")
    sys.exit(3)
elif mode == "bound":
    sem = threading.Semaphore(0)
    event = threading.Event()
    rlock = threading.RLock()
    worker = threading.Thread(target=event.wait, args=(60,), name="exit-waiter")

    def report():
        print("at the end: lock", lock.locked(), "event", event.is_set(), "queue", q.qsize(),
              "sem", sem.acquire(False), "worker alive", worker.is_alive())

    atexit.register(report)  # registered first: runs last
    atexit.register(worker.join)
    atexit.register(lock.release)
    atexit.register(rlock.release)
    atexit.register(event.set)
    atexit.register(q.put, "bye")
    atexit.register(sem.release)
    atexit.register(worker.start)
    atexit.register(lock.acquire)
    atexit.register(rlock.acquire)
    atexit.register(sys.stdout.write, "written by atexit\n")
print("main done")
