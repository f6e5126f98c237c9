"""asyncio.to_thread: a task waits while a worker thread does the work."""

import asyncio
import threading

counter_lock = threading.Lock()
counter = 0


def blocking_work(n: int) -> int:
    global counter
    with counter_lock:
        counter += n
    return n * 2


async def main() -> None:
    result = await asyncio.to_thread(blocking_work, 21)
    print("result", result, "counter", counter)


asyncio.run(main())
