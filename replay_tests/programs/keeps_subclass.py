"""Subclassing threading and queue classes, wrapping a lock (has-a), and subclasses the originals refuse."""

import queue
import sys
import threading

HANG_GUARD = 60.0


class Worker(threading.Thread):
    def __init__(self, n, out):
        super().__init__(name=f"worker-{n}")
        self.n = n
        self.out = out

    def run(self):
        self.out.put((self.n, self.n * self.n))


class CountingCondition(threading.Condition):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.notifies = 0

    def notify(self, n=1):
        self.notifies += 1
        super().notify(n)


class NamedSemaphore(threading.Semaphore):
    def __init__(self, name, value):
        super().__init__(value)
        self.name = name


class Bounded(threading.BoundedSemaphore):
    pass


class Flag(threading.Event):
    def set(self):
        self.was_set_by = threading.current_thread().name
        super().set()


class Gate(threading.Barrier):
    pass


class LoggedQueue(queue.Queue):
    def _put(self, item):
        self.log.append(("put", item))
        super()._put(item)

    def _init(self, maxsize):
        super()._init(maxsize)
        self.log = []


class Pri(queue.PriorityQueue):
    pass


class Lifo(queue.LifoQueue):
    pass


class Guarded:
    """Has a lock rather than being one."""

    def __init__(self):
        self._lock = threading.Lock()
        self.value = 0

    def __enter__(self):
        self._lock.acquire()
        return self

    def __exit__(self, *exc):
        self._lock.release()

    def bump(self):
        with self:
            self.value += 1


results = queue.Queue()
workers = [Worker(n, results) for n in range(4)]
for w in workers:
    w.start()
for w in workers:
    w.join()
print("Thread subclass results:", sorted(results.get() for _ in workers), [w.name for w in workers])

fired = threading.Event()
timer = threading.Timer(0.01, fired.set)
timer.start()
print("Timer fired:", fired.wait(HANG_GUARD), type(timer).__name__, isinstance(timer, threading.Thread))
timer.join()
cancelled = threading.Timer(HANG_GUARD, print, args=("never",))
cancelled.start()
cancelled.cancel()
cancelled.join()
print("Timer cancelled:", not cancelled.is_alive())

cond = CountingCondition()
ready = []


def producer():
    with cond:
        ready.append(1)
        cond.notify()


t = threading.Thread(target=producer)
with cond:
    t.start()
    print("Condition subclass woke:", cond.wait_for(lambda: ready, HANG_GUARD), "notifies:", cond.notifies)
t.join()

sem = NamedSemaphore("pool", 2)
with sem:
    print("Semaphore subclass:", sem.name, sem.acquire(False), sem.acquire(False))
    sem.release()
bounded = Bounded(1)
bounded.acquire()
bounded.release()
try:
    bounded.release()
except ValueError as exc:
    print("BoundedSemaphore subclass over-release:", exc)

flag = Flag()
t = threading.Thread(target=flag.set, name="setter")
t.start()
print("Event subclass:", flag.wait(HANG_GUARD), flag.was_set_by)
t.join()

gate = Gate(2)
t = threading.Thread(target=gate.wait, args=(HANG_GUARD,))
t.start()
print("Barrier subclass index in", {0, 1}, ":", gate.wait(HANG_GUARD) in (0, 1))
t.join()

lq = LoggedQueue()
for item in "abc":
    lq.put(item)
print("Queue subclass:", [lq.get() for _ in range(3)], lq.log)
pq = Pri()
for item in (3, 1, 2):
    pq.put(item)
lifo = Lifo()
for item in (3, 1, 2):
    lifo.put(item)
print("PriorityQueue subclass:", [pq.get() for _ in range(3)], "LifoQueue subclass:", [lifo.get() for _ in range(3)])

guarded = Guarded()
threads = [threading.Thread(target=guarded.bump) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("has-a lock:", guarded.value, guarded._lock.locked())

# What the originals refuse must be refused the same way.
for name in ("Lock", "RLock"):
    try:
        Sub = type("Sub" + name, (getattr(threading, name),), {})
        obj = Sub()
        with obj:
            print(f"subclass of threading.{name} works:", type(obj).__name__)
    except TypeError as exc:
        print(f"subclass of threading.{name}: TypeError:", exc)
try:
    class MyLock(threading.Lock):
        pass
    print("class statement subclassing threading.Lock works")
except TypeError as exc:
    print("class statement subclassing threading.Lock: TypeError:", exc)
try:
    class SubLockType(type(threading.Lock())):
        pass
except TypeError as exc:
    print("subclass of type(Lock()): TypeError:", exc)
try:
    class SubRLockType(type(threading.RLock())):
        pass
    with SubRLockType():
        print("subclass of type(RLock()) works")
except TypeError as exc:
    print("subclass of type(RLock()): TypeError:", exc)
sys.stdout.flush()
