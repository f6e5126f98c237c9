"""asyncio.run ends while a task still waits (asyncio.run cancels it), and a task fails with nobody awaiting it."""

import asyncio


async def forever(never: asyncio.Event) -> None:
    await never.wait()  # left waits until asyncio.run cancels it


async def fail() -> None:
    raise ValueError("nobody looks")


async def main() -> None:
    never = asyncio.Event()
    asyncio.create_task(forever(never), name="left")
    asyncio.create_task(fail(), name="fails")
    await asyncio.sleep(0)
    await asyncio.sleep(0)


asyncio.run(main())
