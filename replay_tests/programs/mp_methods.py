"""multiprocessing under one start method: Process, Queue, Lock, Pool, Manager, ProcessPoolExecutor.

    python mp_methods.py fork|spawn|forkserver

Children print, flushed, before the parent joins them; the parent prints,
flushed, after: the output is the same bytes on every run. `tally` is a
lock of the parent's program that children (forked or spawned) take too:
only the parent's own acquires may show in its recording.
"""

import concurrent.futures
import multiprocessing as mp
import sys
import threading
from typing import Any

tally = threading.Lock()
count = 0


def bump() -> None:
    global count
    with tally:
        count += 1


def square(x: int) -> int:
    bump()
    return x * x


def child(q: Any, lock: Any, name: str) -> None:
    bump()
    with lock:
        print(f"child {name} ran", flush=True)
    q.put(name)


def shared(d: Any, items: Any, lock: Any) -> None:
    with lock:
        d["hits"] = d.get("hits", 0) + 1
        items.append(len(items))


def fail() -> None:
    raise ValueError("a child fails")


def main(method: str) -> None:
    ctx = mp.get_context(method)
    q = ctx.Queue()
    lock = ctx.Lock()
    p = ctx.Process(target=child, args=(q, lock, "one"))
    p.start()
    got = q.get()
    p.join()
    print("process", got, "exit", p.exitcode, flush=True)

    with ctx.Pool(2) as pool:
        print("pool", pool.map(square, range(6)), flush=True)

    with ctx.Manager() as manager:
        d = manager.dict()
        items = manager.list()
        mlock = manager.Lock()
        procs = [ctx.Process(target=shared, args=(d, items, mlock)) for _ in range(3)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        print("manager", dict(d), list(items), [proc.exitcode for proc in procs], flush=True)

    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as executor:
        print("executor", list(executor.map(square, range(5))), flush=True)

    p = ctx.Process(target=fail)
    p.start()
    p.join()
    print("failed child exit", p.exitcode, flush=True)
    bump()
    print("parent count", count, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
