"""Suite workload W5, a mixed app: a ThreadPoolExecutor-driven job with Conditions, Events and logging.

J jobs (J = 10,000) go to a `ThreadPoolExecutor(max_workers=4)`. Each job
computes a small result through helper calls, logs it at DEBUG through a
handler that keeps the records in memory (as a service logs to a buffer),
and hands it to a batcher thread under a `threading.Condition`; the batcher
wakes on `notify`, takes the batch, and once every job is in, sets a
`threading.Event` the main thread waits on. A second Event gates the start,
as a service waits for its configuration. argv[1] overrides J. Prints
`checksum` with the job count, the sum of results and the logged record count.
"""

import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

J = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
WORKERS = 4


class Memory(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record):
        self.format(record)
        self.count += 1


log = logging.getLogger("w5")
log.setLevel(logging.DEBUG)
handler = Memory()
log.addHandler(handler)
log.propagate = False

ready = threading.Event()
done = threading.Event()
cond = threading.Condition()
pending = []
collected = []


def score(job, i):
    return (job * 7 + i * i) % 1009


def compute(job):
    value = 0
    for i in range(40):
        value += score(job, i)
    return value


def run_job(job):
    ready.wait()
    value = compute(job)
    log.debug("job %d -> %d", job, value)
    with cond:
        pending.append(value)
        cond.notify()
    return value


def batcher(expected):
    while len(collected) < expected:
        with cond:
            while not pending:
                cond.wait()
            batch = pending[:]
            pending.clear()
        collected.extend(batch)
    done.set()


def main():
    collector = threading.Thread(target=batcher, args=(J,), name="batcher")
    collector.start()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(run_job, job) for job in range(J)]
        ready.set()
        results = [f.result() for f in futures]
    done.wait()
    collector.join()
    if sorted(results) != sorted(collected):
        sys.exit("batcher lost results")
    print("checksum", len(results), sum(results), handler.count)


if __name__ == "__main__":
    main()
