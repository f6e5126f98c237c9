"""Benchmark workload: 8 threads, each doing N lock-protected counter increments.

Every increment calls a small function inside the critical section, so the
recorder sees one acquire and one release (plus a wait when contended) per
iteration, attributed to `worker`. The amount of work is fixed by N
(argv[1]); the interleaving is not, and does not need to be. Prints
`checksum` and the counter. The benchmark suite's W1 is this file with N = 20,000.
"""

import sys
import threading

THREADS = 8
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000

lock = threading.Lock()
counter = 0


def bump(value, step):
    return value + step


def worker(n):
    global counter
    for i in range(n):  # noqa: B007 (a changing local for the snapshots)
        with lock:
            counter = bump(counter, 1)


def main():
    threads = [threading.Thread(target=worker, args=(N,), name=f"worker-{k}") for k in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if counter != THREADS * N:
        sys.exit(f"lost updates: {counter} != {THREADS * N}")
    print("checksum", counter)


if __name__ == "__main__":
    main()
