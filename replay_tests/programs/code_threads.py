"""Two threads run user code in turns forced by Events, then meet at a Barrier; each marks its stack."""

import threading
import traceback

import chronodbg

turn_a, turn_b = threading.Event(), threading.Event()
barrier = threading.Barrier(2)


def here(tag):
    stack = []
    for f in traceback.extract_stack()[:-1]:
        if f.filename == __file__:
            stack.append(f.name)
    chronodbg.mark("stack", tag=tag, stack=stack)


def square(x):
    here("square")
    return x * x


def left():
    turn_a.wait()
    r = square(2)
    turn_b.set()
    barrier.wait()
    return r


def right():
    r = square(3)
    turn_a.set()
    turn_b.wait()
    barrier.wait()
    return r


a = threading.Thread(target=left, name="left")
b = threading.Thread(target=right, name="right")
a.start()
b.start()
a.join()
b.join()
print("done")
