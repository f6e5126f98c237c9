"""threading.local with per-thread values across many threads, and a local subclass with __init__."""

import threading

HANG_GUARD = 60.0
N = 16
plain = threading.local()
plain.value = "main"


class Counter(threading.local):
    created = 0

    def __init__(self, start):
        # Runs once per thread that touches the object, with the creation arguments.
        Counter.created += 1
        self.count = start
        self.owner = threading.current_thread().name


counter = Counter(100)
everyone = threading.Barrier(N)
lock = threading.Lock()
seen = {}


def work(n):
    plain.value = n
    everyone.wait(HANG_GUARD)  # every thread has set its own value before any reads
    for _ in range(n):
        counter.count += 1
    with lock:
        seen[n] = (plain.value, counter.count, counter.owner == threading.current_thread().name)
    everyone.wait(HANG_GUARD)


threads = [threading.Thread(target=work, args=(n,), name=f"t{n}") for n in range(N)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("each thread saw its own:", all(seen[n] == (n, 100 + n, True) for n in range(N)))
print("main still sees:", plain.value, counter.count, counter.owner, "inits:", Counter.created)
print("local type:", type(plain).__name__, isinstance(counter, threading.local))
try:
    Counter(1, 2)
except TypeError as exc:
    print("TypeError:", exc)
