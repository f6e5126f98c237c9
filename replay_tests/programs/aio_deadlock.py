"""Two tasks take two asyncio.Locks in opposite orders and hang forever.

An Event makes sure each holds its first lock before it asks for the
second, so the deadlock happens every time.
"""

import asyncio


async def take(first: asyncio.Lock, second: asyncio.Lock, holding: asyncio.Event, other: asyncio.Event) -> None:
    async with first:
        holding.set()
        await other.wait()
        async with second:
            pass


async def main() -> None:
    a, b = asyncio.Lock(), asyncio.Lock()
    a_holds, b_holds = asyncio.Event(), asyncio.Event()
    print("starting", flush=True)
    await asyncio.gather(
        asyncio.create_task(take(a, b, a_holds, b_holds), name="ab"),
        asyncio.create_task(take(b, a, b_holds, a_holds), name="ba"),
    )


asyncio.run(main())
