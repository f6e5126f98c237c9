"""Everyone blocks for a while, but main's waits have a timeout: no deadlock, it ends by itself."""

import queue
import threading

jobs: queue.Queue[int | None] = queue.Queue()
never = threading.Event()


def consume() -> None:
    while jobs.get() is not None:
        pass


consumer = threading.Thread(target=consume, name="consumer")
consumer.start()
for _ in range(15):
    never.wait(0.1)  # blocked with a timeout: it will go on by itself
jobs.put(None)
consumer.join()
print("finished", flush=True)
