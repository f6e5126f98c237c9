"""Signal handlers that take a recorded lock or set an Event while the main thread waits on it.

Modes: usr1 (os.kill to self), alarm (signal.alarm), itimer
(signal.setitimer), interrupt (a handler raising KeyboardInterrupt into a main
thread blocked waiting for another thread, caught), interrupt_uncaught (the same, not caught).
"""

import os
import signal
import sys
import threading

mode = sys.argv[1]
lock = threading.Lock()
rlock = threading.RLock()
fired = threading.Event()
counts = {"handled": 0}
HANG_GUARD = 60.0


def handler(signum, frame):
    with lock:
        with rlock:
            counts["handled"] += 1
    print("handler ran for", signal.Signals(signum).name, "in", threading.current_thread().name)
    fired.set()


if mode == "usr1":
    signal.signal(signal.SIGUSR1, handler)
    # A thread holds the lock until the main thread has sent the signal: the
    # handler may have to wait for it.
    held = threading.Event()
    sent = threading.Event()

    def holder():
        with lock:
            held.set()
            sent.wait(HANG_GUARD)

    t = threading.Thread(target=holder, name="holder")
    t.start()
    held.wait(HANG_GUARD)
    sent.set()
    os.kill(os.getpid(), signal.SIGUSR1)
    print("woke:", fired.wait(HANG_GUARD))
    t.join()
elif mode in ("alarm", "itimer"):
    signal.signal(signal.SIGALRM, handler)
    if mode == "alarm":
        signal.alarm(1)
    else:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
    print("woke:", fired.wait(HANG_GUARD))
    signal.setitimer(signal.ITIMER_REAL, 0)
elif mode.startswith("interrupt"):
    def interrupt(signum, frame):
        with lock:
            counts["handled"] += 1
        raise KeyboardInterrupt("from the handler")

    release = threading.Event()
    running = threading.Event()
    finished = threading.Event()

    def waiter():
        running.set()
        release.wait(HANG_GUARD)
        print("waiter released")
        finished.set()

    t = threading.Thread(target=waiter, name="waiter")
    t.start()
    running.wait(HANG_GUARD)
    # CPython runs handlers in the main thread: the KeyboardInterrupt comes
    # out of the Event.wait main is blocked in. (Not join: on 3.11 an
    # interrupted join marks a running thread stopped, bpo-45274.)
    signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    try:
        finished.wait(HANG_GUARD)
        print("never interrupted")
    except KeyboardInterrupt as exc:
        print("main interrupted:", repr(exc), "finished:", finished.is_set())
        release.set()
        t.join()
        if mode == "interrupt_uncaught":
            raise
print("handled", counts["handled"], "lock free", not lock.locked())
