"""Three workers meet at a Barrier twice."""

import threading

barrier = threading.Barrier(3)
log_lock = threading.Lock()
order = []


def worker(n: int) -> None:
    for phase in range(2):
        with log_lock:
            order.append((phase, n))
        barrier.wait()


threads = [threading.Thread(target=worker, args=(n,), name=f"w{n}") for n in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert all(p == 0 for p, _ in order[:3]) and all(p == 1 for p, _ in order[3:])
print("phases ok")
