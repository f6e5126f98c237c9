"""A queue's high-water mark, and a daemon thread still blocked on an Event when the program exits."""

import queue
import sys
import threading
import time

jobs: "queue.Queue[int]" = queue.Queue(maxsize=5)
log: "queue.Queue[str]" = queue.Queue()
never = threading.Event()


def stuck() -> None:
    never.wait()  # stuck waits forever


for i in range(5):
    jobs.put(i)  # fills the queue
try:
    jobs.put_nowait(5)
except queue.Full:
    pass
for _ in range(5):
    jobs.get()
for i in range(3):
    jobs.put(i)
log.put("one")
log.put("two")

thread = threading.Thread(target=stuck, name="stuck", daemon=True)
thread.start()
# Exit only once the daemon is inside Event.wait (its condition has a waiter): polling, bounded.
deadline = time.monotonic() + 60
while not never._cond._waiters:  # type: ignore[attr-defined]
    if time.monotonic() > deadline:
        sys.exit("the daemon never waited")
    time.sleep(0.001)
print("exiting with the daemon blocked")
