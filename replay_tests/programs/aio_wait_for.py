"""asyncio.wait_for times out on an Event that is never set."""

import asyncio


async def main() -> None:
    never = asyncio.Event()
    try:
        await asyncio.wait_for(never.wait(), 0.2)
    except TimeoutError:
        print("timed out")


asyncio.run(main())
