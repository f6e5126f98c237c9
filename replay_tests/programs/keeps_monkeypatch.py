"""gevent-style monkeypatching, simulated: the program replaces threading.Lock / RLock, time.sleep and socket.socket.

Modes:
  after   the program patches at its top; under `chronodbg record` that is
          after recording started (the program never runs before it).
  before  the program patches, then starts recording itself with
          `chronodbg.start(PATH)` when given a PATH argument (plain without).

Either way the program's own classes must be what it gets and uses, and the
workload (threads, a Queue, a Condition, an Event) must give the same output.
In mode before, the program also patches sys.stdout and threading.Event.set
while recording and stops the recording: what it patched stays.
"""

import _thread
import os
import queue
import socket
import sys
import threading
import time

mode = sys.argv[1]
record_to = sys.argv[2] if len(sys.argv) > 2 else None
HANG_GUARD = 60.0
uses = {"Lock": 0, "RLock": 0, "sleep": 0, "socket": 0}
real_sleep = time.sleep


class GreenLock:
    """Stands for a cooperative lock: counts what it does, locks with a real lock underneath."""

    def __init__(self):
        self._lock = _thread.allocate_lock()
        uses["Lock"] += 1

    def acquire(self, blocking=True, timeout=-1):
        return self._lock.acquire(blocking, timeout)

    def release(self):
        self._lock.release()

    def locked(self):
        return self._lock.locked()

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()

    def _at_fork_reinit(self):
        self._lock = _thread.allocate_lock()


class GreenRLock(GreenLock):
    def __init__(self):
        super().__init__()
        uses["Lock"] -= 1
        uses["RLock"] += 1
        self._lock = _thread.RLock()

    def _is_owned(self):
        return self._lock._is_owned()

    def _release_save(self):
        return self._lock._release_save()

    def _acquire_restore(self, state):
        self._lock._acquire_restore(state)


def green_sleep(seconds):
    uses["sleep"] += 1
    real_sleep(seconds)


class GreenSocket(socket.socket):
    def __init__(self, *args, **kwargs):
        uses["socket"] += 1
        super().__init__(*args, **kwargs)


def patch_all():
    threading.Lock = GreenLock
    threading.RLock = GreenRLock
    threading._allocate_lock = GreenLock
    time.sleep = green_sleep
    socket.socket = GreenSocket


patch_all()
if mode == "before" and record_to is not None:
    sys.path.insert(0, os.environ["CHRONODBG_ROOT"])
    import chronodbg

    chronodbg.start(record_to)


class Tee:
    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()


def counting(original):
    def set(self):
        uses["set"] = uses.get("set", 0) + 1
        original(self)

    return set


if mode == "before":
    # Patched while recording (when recording): stays after the recording stops.
    sys.stdout = Tee(sys.stdout)
    threading.Event.set = counting(threading.Event.set)

# The workload, written against the patched modules.
lock = threading.Lock()
rlock = threading.RLock()
cond = threading.Condition()
q = queue.Queue()
done = threading.Event()
total = []


def producer():
    for n in range(5):
        q.put(n)
        time.sleep(0)
    q.put(None)


def consumer():
    while (item := q.get()) is not None:
        with lock, rlock:
            total.append(item)
    with cond:
        cond.notify_all()
    done.set()


threads = [threading.Thread(target=producer, name="producer"), threading.Thread(target=consumer, name="consumer")]
for t in threads:
    t.start()
with cond:
    cond.wait_for(done.is_set, HANG_GUARD)
for t in threads:
    t.join()
a, b = socket.socketpair()
with a, b:
    a.sendall(b"ping")
    echoed = b.recv(4)
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.close()
print("total", sum(total), "echo", echoed)
print("lock types:", type(lock).__name__, type(rlock).__name__, type(cond._lock).__name__, type(q.mutex).__name__)
print("threading names the program's:", threading.Lock is GreenLock, threading.RLock is GreenRLock, time.sleep is green_sleep)
print("uses: Lock", uses["Lock"] >= 2, "RLock", uses["RLock"] >= 2, "sleep", uses["sleep"], "socket", uses["socket"])
if mode == "before":
    if record_to is not None:
        chronodbg.stop()
    print("after the recording: stdout", type(sys.stdout).__name__, "Event.set counted", uses["set"],
          "Lock", threading.Lock is GreenLock, "sleep", time.sleep is green_sleep)
    threading.Event().set()
    print("Event.set still counts:", uses["set"])
