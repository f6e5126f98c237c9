"""Every recorded asyncio primitive once, in an order asyncio makes deterministic."""

import asyncio


async def notifier(cond: asyncio.Condition) -> None:
    async with cond:
        cond.notify_all()


async def holder(sem: asyncio.Semaphore, release: asyncio.Event) -> None:
    async with sem:
        await release.wait()


async def locked_out(lock: asyncio.Lock) -> None:
    async with lock:
        pass


async def worker(jobs: asyncio.Queue) -> None:
    while True:
        await jobs.get()
        jobs.task_done()


async def main() -> None:
    cond = asyncio.Condition()
    async with cond:
        task = asyncio.create_task(notifier(cond), name="notifier")
        await cond.wait()
    await task

    sem = asyncio.BoundedSemaphore(1)
    release = asyncio.Event()
    task = asyncio.create_task(holder(sem, release), name="holder")
    await asyncio.sleep(0)
    waiting = asyncio.create_task(sem.acquire(), name="sem-waiter")
    await asyncio.sleep(0)
    release.set()
    await waiting
    sem.release()
    await task
    try:
        sem.release()
    except ValueError:
        print("bounded")

    lock = asyncio.Lock()
    await lock.acquire()
    blocked = asyncio.create_task(locked_out(lock), name="locked-out")
    await asyncio.sleep(0)
    blocked.cancel()
    await asyncio.gather(blocked, return_exceptions=True)
    lock.release()

    small: asyncio.Queue = asyncio.Queue(maxsize=1)
    small.put_nowait("a")
    try:
        small.put_nowait("b")
    except asyncio.QueueFull:
        print("full")
    small.get_nowait()
    try:
        small.get_nowait()
    except asyncio.QueueEmpty:
        print("empty")

    jobs: asyncio.Queue = asyncio.PriorityQueue()
    for job in (3, 1, 2):
        jobs.put_nowait(job)
    task = asyncio.create_task(worker(jobs), name="worker")
    await jobs.join()
    task.cancel()
    shielded = await asyncio.shield(asyncio.sleep(0, "kept"))
    done, _ = await asyncio.wait([asyncio.create_task(asyncio.sleep(0.001), name="waited")])
    print(shielded, len(done), [item for item in asyncio.LifoQueue().__class__.__mro__[:1]][0].__name__)


asyncio.run(main())
