"""Two asyncio tasks take turns, forced by Events; a coroutine awaits another; one raises and the other catches."""

import asyncio


async def step(name, n):
    await asyncio.sleep(0)
    return f"{name}{n}"


async def bad():
    await asyncio.sleep(0)
    raise KeyError("bad")


async def ping(mine, theirs):
    await mine.wait()
    mine.clear()
    got = await step("ping", 1)
    theirs.set()
    await mine.wait()
    return got


async def pong(mine, theirs):
    await mine.wait()
    got = await step("pong", 1)
    try:
        await bad()
    except KeyError:
        got += "!"
    theirs.set()
    return got


async def main():
    a, b = asyncio.Event(), asyncio.Event()
    t1 = asyncio.create_task(ping(a, b), name="ping")
    t2 = asyncio.create_task(pong(b, a), name="pong")
    a.set()
    print(await asyncio.gather(t1, t2))


asyncio.run(main())
