"""A task that fails and is dropped: asyncio reports it when the task is freed, at once.

The task's exception keeps its coroutine's frame alive, and that frame's
caller: if the recorder's step hook held the task there, the report would
wait for a garbage collection (the GC is off here to show it).
"""

import asyncio
import contextvars
import gc

gc.disable()
name = contextvars.ContextVar("name", default="outside")
reports = []


def report(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    reports.append((name.get(), type(context["exception"]).__name__))


async def failing() -> None:
    name.set("inside")
    raise ZeroDivisionError


async def main() -> None:
    asyncio.get_running_loop().set_exception_handler(report)
    asyncio.create_task(failing())
    await asyncio.sleep(0)
    print("reported at once:", reports)


asyncio.run(main())
