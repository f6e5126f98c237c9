"""asyncio findings: a lock-order inversion between tasks, a lost notify, tasks never awaited or never finished.

One loop, so the order is the tasks' scheduling order: `ab` runs to its end
before `ba` starts (ba awaits ab's Event), so nothing deadlocks. The loop is
closed without cancelling what is left (not asyncio.run), so `orphan` stays
pending at the end.
"""

import asyncio


async def take(first: asyncio.Lock, second: asyncio.Lock, after: asyncio.Event | None, done: asyncio.Event) -> None:
    if after is not None:
        await after.wait()
    async with first:  # task holds first
        async with second:  # task takes second
            pass
    done.set()


async def notify(cond: asyncio.Condition) -> None:
    async with cond:
        cond.notify()  # notify: nobody waits


async def forgotten(never: asyncio.Event) -> None:
    await never.wait()  # orphan waits forever


async def quick() -> int:
    return 1


async def main() -> None:
    a, b = asyncio.Lock(), asyncio.Lock()
    ab_done, ba_done = asyncio.Event(), asyncio.Event()
    ab = asyncio.create_task(take(a, b, None, ab_done), name="ab")
    ba = asyncio.create_task(take(b, a, ab_done, ba_done), name="ba")
    await asyncio.gather(ab, ba)

    cond = asyncio.Condition()
    await asyncio.create_task(notify(cond), name="notifier")
    async with cond:
        try:
            await asyncio.wait_for(cond.wait(), 0.01)  # cond wait: gives up
        except TimeoutError:
            pass

    never = asyncio.Event()
    asyncio.create_task(forgotten(never), name="orphan")
    asyncio.create_task(quick(), name="fire-and-forget")
    awaited = asyncio.create_task(quick(), name="awaited")
    await awaited
    await asyncio.sleep(0)


loop = asyncio.new_event_loop()
loop.run_until_complete(main())
loop.close()
print("closed with orphan pending")
