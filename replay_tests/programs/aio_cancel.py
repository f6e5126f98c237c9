"""A task is cancelled while it awaits an empty asyncio.Queue."""

import asyncio


async def wait_for_item(queue: asyncio.Queue) -> None:
    await queue.get()


async def main() -> None:
    queue: asyncio.Queue = asyncio.Queue()
    waiter = asyncio.create_task(wait_for_item(queue), name="waiter")
    await asyncio.sleep(0)  # the waiter runs and suspends on the queue
    waiter.cancel("no more items")
    try:
        await waiter
    except asyncio.CancelledError:
        print("waiter cancelled:", waiter.cancelled())


asyncio.run(main())
