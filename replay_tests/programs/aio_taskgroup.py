"""A TaskGroup whose one failing child makes the group cancel its sleeping siblings."""

import asyncio


async def sleeper(started: asyncio.Event) -> None:
    started.set()
    await asyncio.sleep(3600)


async def failing(started: asyncio.Event) -> None:
    await started.wait()
    raise ValueError("bad input")


async def main() -> None:
    started = asyncio.Event()
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(sleeper(started), name="sleeper-1")
            group.create_task(sleeper(asyncio.Event()), name="sleeper-2")
            group.create_task(failing(started), name="failing")
    except* ValueError as errors:
        print("group failed:", [str(e) for e in errors.exceptions])


asyncio.run(main())
