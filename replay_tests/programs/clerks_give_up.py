"""Two threads deadlock on two locks; main joins them with a timeout, gives up and exits with status 1."""

import os
import threading

first = threading.Lock()
second = threading.Lock()
both_hold_one = threading.Barrier(2)


def take(a: threading.Lock, b: threading.Lock) -> None:
    with a:
        both_hold_one.wait()
        with b:
            pass


clerks = [threading.Thread(target=take, args=(first, second), name="one"), threading.Thread(target=take, args=(second, first), name="two")]
for clerk in clerks:
    clerk.start()
done = threading.Event()
for _ in range(20):
    if done.wait(0.1):  # never set: 2 s in which the watchdog can report
        break
for clerk in clerks:
    clerk.join(timeout=0.1)
print("gave up: still stuck", flush=True)
os._exit(1)
