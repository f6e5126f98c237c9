"""The program's code run from inside the recorder's wrappers of library methods.

A queue subclass's own storage, a condition's user-made lock, a barrier's
action, a future's done-callback, an event loop's callbacks and coroutine
steps, an asyncio queue subclass's storage: each is called by a library
method the recorder wraps.
Every function of the program counts its own calls and the program prints
the counts, so a test can check that each call was recorded, and that the
recorder made none of its own (a queue's size from its `_qsize`, a
condition's ownership check calling its lock's `acquire`).
"""

import asyncio
import collections
import concurrent.futures
import json
import queue
import threading

counts = collections.Counter()


def counted(function):
    def counting(*args, **kwargs):
        counts[function.__name__] += 1
        return function(*args, **kwargs)

    return counting


class Stack(queue.Queue):
    @counted
    def _init(self, maxsize):
        self.queue = []

    @counted
    def _qsize(self):
        return len(self.queue)

    @counted
    def _put(self, item):
        self.queue.append(item)

    @counted
    def _get(self):
        return self.queue.pop()


class OwnLock:
    def __init__(self):
        self.inner = threading.Lock()

    @counted
    def acquire(self, blocking=True, timeout=-1):
        return self.inner.acquire(blocking, timeout)

    @counted
    def release(self):
        self.inner.release()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


@counted
def arrived():
    pass


@counted
def done(future):
    pass


class Pile(asyncio.Queue):
    @counted
    def _put(self, item):
        self._queue.append(item)

    @counted
    def _get(self):
        return self._queue.pop()


@counted
def later(value):
    return value


@counted
async def step(pile, gate):
    await pile.put(1)
    async with gate:
        await asyncio.sleep(0)
    return await pile.get()


async def tasks():
    loop = asyncio.get_running_loop()
    pile, gate = Pile(), asyncio.Lock()
    loop.call_soon(later, 1)
    results = await asyncio.gather(step(pile, gate), step(pile, gate))
    loop.call_soon(later, 2)
    await asyncio.sleep(0)
    return results


def main():
    stack = Stack()
    stack.put(1)
    stack.put(2)
    assert stack.get() == 2
    condition = threading.Condition(OwnLock())
    with condition:
        condition.wait(0)
        condition.notify()
    threading.Barrier(1, action=arrived).wait()
    future = concurrent.futures.Future()
    future.add_done_callback(done)
    future.set_result(3)
    assert future.result() == 3
    assert asyncio.run(tasks()) == [1, 1]
    print(json.dumps(dict(sorted(counts.items()))))


main()
