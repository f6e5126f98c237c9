"""Condition hand-off: the consumer waits until the producer notifies."""

import threading

cond = threading.Condition()
box: list[str] = []
waiting = threading.Event()


def consumer() -> None:
    with cond:
        waiting.set()
        while not box:
            cond.wait()
        print("got", box.pop())


def producer() -> None:
    waiting.wait()
    with cond:
        box.append("parcel")
        cond.notify()


threads = [threading.Thread(target=consumer, name="consumer"), threading.Thread(target=producer, name="producer")]
for t in threads:
    t.start()
for t in threads:
    t.join()
