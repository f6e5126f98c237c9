"""Keeps four threads trading items and locks until killed."""

import queue
import threading
import time

q: "queue.Queue[int]" = queue.Queue(maxsize=50)
lock = threading.Lock()
count = 0


def producer() -> None:
    i = 0
    while True:
        q.put(i)
        i += 1


def consumer() -> None:
    global count
    while True:
        q.get()
        with lock:
            count += 1


for target in (producer, producer, consumer, consumer):
    threading.Thread(target=target, daemon=True).start()
print("running", flush=True)
while True:
    # A timed sleep, not an untimed wait: a signal the kernel hands to
    # another thread only reaches Python's handler when the main thread runs.
    time.sleep(0.05)
