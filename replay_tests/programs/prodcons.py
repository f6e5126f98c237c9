"""Bounded producer/consumer over queue.Queue: the producer must wait when the queue is full."""

import queue
import threading

q: "queue.Queue[int | None]" = queue.Queue(maxsize=2)
consumer_may_start = threading.Event()
received = []


def producer() -> None:
    for i in range(5):
        q.put(i)
        if i == 1:
            # The queue is full now: let the consumer go; put(2) has to wait.
            consumer_may_start.set()
    q.put(None)


def consumer() -> None:
    consumer_may_start.wait()
    while (item := q.get()) is not None:
        received.append(item)
        q.task_done()
    q.task_done()


threads = [threading.Thread(target=producer, name="producer"), threading.Thread(target=consumer, name="consumer")]
for t in threads:
    t.start()
q.join()
for t in threads:
    t.join()
print("received", received)
