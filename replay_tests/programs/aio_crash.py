"""An asyncio program whose main task fails: exit code 1 and the traceback, recorded or not."""

import asyncio


async def child() -> None:
    raise KeyError("missing")


async def main() -> None:
    print("starting")
    await asyncio.create_task(child(), name="child")


asyncio.run(main())
