"""Ends the way argv[1] says, with threads at work; reports its progress on fd 1 with os.write.

signal [VARIANT] main takes a lock in a loop, printing `main N` after each round,
                 until a signal ends it; VARIANT own: its own SIGTERM handler
                 (chaining to the previous one) exits 5; restored: that handler
                 is installed, then the previous one put back
shutdown_wait    main returns while a non-daemon thread waits on a queue until a signal
sigwait          main blocks SIGTERM, and takes it with signal.sigwait() once pending
os_exit_thread   a worker calls os._exit(7) while main joins it
sys_exit_thread  a worker calls sys.exit(3) (that thread ends, the program goes on)
raise_main       main raises while a non-daemon worker still has work to do
daemon_mid_lock  main returns while daemon threads hold, wait on and spin on locks
wait WHAT        main blocks on a lock / event / queue / join until SIGINT

`ready` is printed once the program is where the test may end it. Every lock
round is recorded with the round number in a local (`step`, `mark`), so the
test can tell which rounds the recording kept.
"""

import os
import queue
import signal
import sys
import threading
import time

HANG_GUARD = 60.0
lock = threading.Lock()
how = sys.argv[1]


def say(text):
    os.write(1, text.encode() + b"\n")


def tick(rounds, who):
    for step in range(rounds):  # noqa: B007 (`step` is in the locals of each recorded acquire and release)
        with lock:
            pass
    say(f"{who} ticked {rounds}")


def wait_until_blocked(ident, code):
    """Return once thread `ident` has sat in a frame of `code` for five looks in a row (it is blocked there).

    Between looks this thread sleeps, so a thread that was only waiting for
    the GIL gets it and moves on into the blocking call.
    """
    seen = 0
    deadline = time.monotonic() + HANG_GUARD
    while seen < 5 and time.monotonic() < deadline:
        frame = sys._current_frames().get(ident)
        while frame is not None and frame.f_code is not code:
            frame = frame.f_back
        seen = seen + 1 if frame is not None else 0
        time.sleep(0.02)


if how == "signal":
    variant = sys.argv[2] if len(sys.argv) > 2 else "default"
    if variant != "default":

        def on_term(signum, frame):
            # Chains to what was there before, as careful handlers do.
            if callable(previous):
                previous(signum, frame)
            say("own handler ran")
            sys.exit(5)

        previous = signal.signal(signal.SIGTERM, on_term)
        say(f"previous {previous!r} SIGHUP {signal.getsignal(signal.SIGHUP)!r}")
        if variant == "restored":
            signal.signal(signal.SIGTERM, previous)
    done = threading.Event()

    def worker():
        tick(50, "worker")
        done.set()
        threading.Event().wait()  # parked until the end

    threading.Thread(target=worker, name="worker", daemon=True).start()
    done.wait(HANG_GUARD)
    rounds = 0
    while True:
        with lock:
            mark = rounds
        say(f"main {mark}")
        rounds += 1
        if rounds == 3:
            say("ready")
        time.sleep(0.001)

elif how == "sigwait":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    tick(5, "main")
    say("ready")
    deadline = time.monotonic() + HANG_GUARD
    # Pending for the process: no thread of the program takes it before sigwait.
    while signal.SIGTERM not in signal.sigpending() and time.monotonic() < deadline:
        time.sleep(0.01)
    say(f"got {signal.Signals(signal.sigwait({signal.SIGTERM})).name}")

elif how == "shutdown_wait":
    jobs = queue.Queue()

    def take():
        jobs.get()

    def waiter():
        tick(5, "waiter")
        take()

    def watch():
        # Main has returned and the interpreter waits for `waiter`, which waits on the queue.
        wait_until_blocked(threading.main_thread().ident, threading._shutdown.__code__)
        wait_until_blocked(worker.ident, take.__code__)
        say("ready")

    worker = threading.Thread(target=waiter, name="waiter")
    worker.start()
    threading.Thread(target=watch, name="watcher", daemon=True).start()

elif how == "os_exit_thread":

    def quitter():
        tick(30, "quitter")
        wait_until_blocked(threading.main_thread().ident, join.__code__)
        os._exit(7)

    def join(thread):
        thread.join()

    t = threading.Thread(target=quitter, name="quitter")
    t.start()
    join(t)
    say("not reached")

elif how == "sys_exit_thread":

    def leaver():
        tick(30, "leaver")
        sys.exit(3)

    t = threading.Thread(target=leaver, name="leaver")
    t.start()
    t.join()
    tick(5, "main")
    say("main done")

elif how == "raise_main":
    dying = threading.Event()
    printed = sys.excepthook

    def excepthook(kind, exc, tb):
        printed(kind, exc, tb)
        dying.set()

    # The worker's rounds happen after main's exception was reported, while
    # the interpreter waits for the non-daemon thread.
    sys.excepthook = excepthook

    def survivor():
        dying.wait(HANG_GUARD)
        tick(20, "survivor")

    threading.Thread(target=survivor, name="survivor").start()
    tick(5, "main")

    def fail():
        raise ValueError("main failed")

    fail()

elif how == "daemon_mid_lock":
    held = threading.Event()
    other = threading.Lock()
    spins = [0]

    def holder():
        with lock:
            held.set()
            threading.Event().wait()

    def blocked():
        lock.acquire()

    def spinner():
        while True:
            with other:
                spins[0] += 1

    threading.Thread(target=holder, name="holder", daemon=True).start()
    held.wait(HANG_GUARD)
    stuck = threading.Thread(target=blocked, name="blocked", daemon=True)
    stuck.start()
    threading.Thread(target=spinner, name="spinner", daemon=True).start()
    deadline = time.monotonic() + HANG_GUARD
    while spins[0] < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    wait_until_blocked(stuck.ident, blocked.__code__)
    say("main done")

elif how == "wait":
    what = sys.argv[2]
    never = threading.Event()
    q = queue.Queue()
    held = threading.Event()

    def holder():
        with lock:
            held.set()
            never.wait()

    sleeper = threading.Thread(target=never.wait, name="sleeper", daemon=True)
    sleeper.start()
    threading.Thread(target=holder, name="holder", daemon=True).start()
    held.wait(HANG_GUARD)

    def wait_on(what):
        if what == "lock":
            lock.acquire()
        elif what == "event":
            never.wait()
        elif what == "queue":
            q.get()
        elif what == "join":
            sleeper.join()

    def watch():
        wait_until_blocked(threading.main_thread().ident, wait_on.__code__)
        say("ready")

    threading.Thread(target=watch, name="watcher", daemon=True).start()
    wait_on(what)
    say("not reached")
