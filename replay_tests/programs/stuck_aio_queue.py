"""A consumer task awaits queue.get() after the producer task finished; main awaits the consumer.

Nothing is left to put, and the loop has no timer and no I/O: asyncio.run
would wait forever.
"""

import asyncio


async def produce(queue: asyncio.Queue[int]) -> None:
    for job in range(3):
        await queue.put(job)


async def consume(queue: asyncio.Queue[int]) -> None:
    while True:
        job = await queue.get()
        print("done", job, flush=True)


async def main() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    consumer = asyncio.create_task(consume(queue), name="consumer")
    await asyncio.create_task(produce(queue), name="producer")
    await consumer


asyncio.run(main())
