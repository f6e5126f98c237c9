"""A consumer waits on queue.get() after the last producer left, and main joins it: nothing can wake either."""

import queue
import threading

jobs: queue.Queue[int] = queue.Queue()


def produce() -> None:
    for job in range(3):
        jobs.put(job)


def consume() -> None:
    while True:
        job = jobs.get()
        print("done", job, flush=True)


producer = threading.Thread(target=produce, name="producer")
consumer = threading.Thread(target=consume, name="consumer")
producer.start()
consumer.start()
producer.join()
consumer.join()
