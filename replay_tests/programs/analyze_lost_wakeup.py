"""Lost wake-ups: a notify and a set that come before anyone waits, and the waits that then time out.

The producer thread runs to its end before the consumer starts (join), so
the order is fixed: notify (nobody waiting), set then clear, and a sticky
set; then the consumer's waits: the condition's and the cleared event's
time out, the sticky event's returns at once.
"""

import threading

cond = threading.Condition()
ready = threading.Event()
sticky = threading.Event()
box: list[int] = []


def producer() -> None:
    with cond:
        box.append(1)
        cond.notify()  # notify: nobody waits yet
    ready.set()  # set: nobody waits yet
    ready.clear()  # clear
    sticky.set()


def consumer() -> None:
    with cond:
        cond.wait(timeout=0.01)  # cond wait: times out
    ready.wait(timeout=0.01)  # event wait: times out
    sticky.wait(timeout=5)


for target in (producer, consumer):
    thread = threading.Thread(target=target, name=target.__name__)
    thread.start()
    thread.join()
print("box", box)
