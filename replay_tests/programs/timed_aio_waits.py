"""A consumer task awaits an empty queue while main sleeps: the loop has a timer, so it is not stuck."""

import asyncio


async def consume(queue: asyncio.Queue[int | None]) -> None:
    while await queue.get() is not None:
        pass


async def main() -> None:
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    consumer = asyncio.create_task(consume(queue), name="consumer")
    await asyncio.sleep(1.5)  # longer than the watchdog's grace: it sees an idle loop with a timer
    await queue.put(None)
    await consumer
    print("finished", flush=True)


asyncio.run(main())
