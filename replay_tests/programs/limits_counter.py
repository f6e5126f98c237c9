"""Four threads count under one lock; each event's locals carry the thread's round.

argv: rounds per thread (default 20000). Prints the total, so a run whose
recording stopped early shows the program itself still ran to its end.
"""

import sys
import threading

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
lock = threading.Lock()
total = 0


def count(worker: int) -> None:
    global total
    for round_no in range(ROUNDS):
        with lock:
            # round_no is in the event's locals: a ring's window shows which rounds it kept.
            total += 1 if round_no >= 0 else 0


threads = [threading.Thread(target=count, args=(k,), name=f"counter-{k}") for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("total", total, flush=True)
