"""Main returns while a non-daemon thread waits on a queue nobody fills: the interpreter waits for it at exit."""

import queue
import threading

jobs: queue.Queue[int] = queue.Queue()
threading.Thread(target=jobs.get, name="waiter").start()
print("main is done", flush=True)
