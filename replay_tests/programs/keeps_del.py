"""Finalizers and shutdown: a raising __del__, a __del__ taking a lock, threads dying at shutdown.

Modes: del_raises, del_lock, thread_at_shutdown, daemon.
"""

import sys
import threading
import time

mode = sys.argv[1]
lock = threading.Lock()
HANG_GUARD = 60.0


class Raises:
    def __del__(self):
        raise ValueError("raised in __del__")


class TakesLock:
    def __init__(self, name):
        self.name = name

    def __del__(self):
        with lock:
            print("finalised", self.name, "holding the lock:", lock.locked())


if mode == "del_raises":
    obj = Raises()
    del obj  # "Exception ignored in: <function Raises.__del__ ...>" on stderr
    print("after del")
    cycle = Raises()
    cycle.me = cycle
    del cycle
    import gc

    gc.collect()
    print("after collect")
    leftover = Raises()  # finalised at interpreter exit
elif mode == "del_lock":
    TakesLock("one")
    holder = TakesLock("two")

    def drop():
        global holder
        del holder

    t = threading.Thread(target=drop, name="dropper")
    t.start()
    t.join()
    last = TakesLock("three")  # finalised at exit, after the atexit handlers
    print("main done")
elif mode == "thread_at_shutdown":
    # A non-daemon thread still running when main returns: it raises while
    # the interpreter waits for it in threading._shutdown.
    def late():
        threading.main_thread().join(HANG_GUARD)  # returns once the main thread is shutting down
        print("main thread alive:", threading.main_thread().is_alive())
        with lock:
            raise RuntimeError("raised while the interpreter shuts down")

    threading.Thread(target=late, name="late").start()
    print("main returns")
elif mode == "daemon":
    # Daemon threads still blocked (on a lock, a queue, an event) or looping when the interpreter exits.
    import queue

    q = queue.Queue()
    gate = threading.Event()
    started = threading.Barrier(4)
    lock.acquire()

    def on_lock():
        started.wait(HANG_GUARD)
        lock.acquire()

    def on_queue():
        started.wait(HANG_GUARD)
        q.get()

    def spinning():
        started.wait(HANG_GUARD)
        while True:
            time.sleep(0.001)

    for target in (on_lock, on_queue, spinning):
        threading.Thread(target=target, name=target.__name__, daemon=True).start()
    started.wait(HANG_GUARD)
    print("daemons running:", sorted(t.name for t in threading.enumerate() if t.daemon))
print("end of", mode)
