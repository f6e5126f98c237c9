"""Eager tasks (3.12+): the child's first step runs inside create_task."""

import asyncio

lock = None


async def child(n: int) -> int:
    async with lock:  # before the first suspension: runs eagerly
        pass
    await asyncio.sleep(0)
    return n


async def main() -> None:
    global lock
    lock = asyncio.Lock()
    asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
    task = asyncio.create_task(child(1))
    print("created", task.get_name())
    named = asyncio.create_task(child(2), name="named")
    print("results", await task, await named)


asyncio.run(main())
