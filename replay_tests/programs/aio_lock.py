"""Three worker tasks contend on one asyncio.Lock, three rounds each.

Each holds the lock across an `await asyncio.sleep(0)`, so the others find
it held and wait: every round after the first has waiters.
"""

import asyncio

ROUNDS = 3


async def worker(name: str, lock: asyncio.Lock, log: list) -> None:
    for round_ in range(ROUNDS):
        async with lock:
            log.append((name, round_))
            await asyncio.sleep(0)


async def main() -> None:
    lock = asyncio.Lock()
    log: list = []
    await asyncio.gather(*(worker(f"w{i}", lock, log) for i in range(3)))
    print(len(log), "turns")


asyncio.run(main())
