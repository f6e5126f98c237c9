"""An asyncio loop busy trading items, then quiet until killed.

Prints "running", trades N items (argv[1], default 20,000) over a small
asyncio.Queue, prints "quiet", and waits on a future nobody sets.
"""

import asyncio
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000


async def produce(items: asyncio.Queue[int]) -> None:
    for i in range(N):
        await items.put(i)


async def consume(items: asyncio.Queue[int]) -> None:
    for _ in range(N):
        await items.get()


async def main() -> None:
    print("running", flush=True)
    items: asyncio.Queue[int] = asyncio.Queue(maxsize=10)
    await asyncio.gather(produce(items), consume(items))
    print("quiet", flush=True)
    await asyncio.get_running_loop().create_future()


asyncio.run(main())
