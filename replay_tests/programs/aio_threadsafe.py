"""Another thread completes the task's future with loop.call_soon_threadsafe."""

import asyncio
import threading


async def main() -> None:
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def from_thread() -> None:
        loop.call_soon_threadsafe(future.set_result, 7)

    thread = threading.Thread(target=from_thread, name="helper")
    thread.start()
    value = await future
    thread.join()
    print("value", value)


asyncio.run(main())
