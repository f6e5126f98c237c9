"""A producer and a consumer task over a bounded asyncio.Queue.

The queue holds 2 items: the producer fills it and suspends on a full queue,
the consumer drains it and suspends on an empty one, so both kinds of
suspension happen whatever the timing (asyncio runs one task at a time).
"""

import asyncio
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10


async def produce(queue: asyncio.Queue) -> None:
    for item in range(N):
        await queue.put(item)
    await queue.put(None)


async def consume(queue: asyncio.Queue) -> list:
    got = []
    while (item := await queue.get()) is not None:
        got.append(item)
    return got


async def main() -> None:
    queue: asyncio.Queue = asyncio.Queue(maxsize=2)
    producer = asyncio.create_task(produce(queue), name="producer")
    consumer = asyncio.create_task(consume(queue), name="consumer")
    got = await consumer
    await producer
    print("got", got)


asyncio.run(main())
