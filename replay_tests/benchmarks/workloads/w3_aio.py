"""Suite workload W3, asyncio: 200 tasks exchange M messages over asyncio.Queue, an asyncio.Lock around a shared dict (M = 200,000).

100 producer tasks put M/100 messages each into one `asyncio.Queue(maxsize=100)`;
100 consumer tasks get them and, under one `asyncio.Lock`, add each to a shared
dict keyed by the message modulo 64 (with an `await asyncio.sleep(0)` inside
the lock, a stand-in for I/O that makes the lock necessary, every 16th
message). One sentinel per consumer ends them. On one loop the schedule is
fixed, but the checksum does not rely on it: it is the dict's sum and size
and the message count. argv[1] overrides M.
"""

import asyncio
import sys

PRODUCERS = 100
CONSUMERS = 100
M = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
STOP = None


def merge(shared, key, value):
    shared[key] = shared.get(key, 0) + value


async def produce(items, start, count):
    for value in range(start, start + count):
        await items.put(value)


async def consume(items, lock, shared, counts, slot):
    while True:
        value = await items.get()
        if value is STOP:
            break
        async with lock:
            if value % 16 == 0:
                await asyncio.sleep(0)
            merge(shared, value % 64, value)
        counts[slot] += 1


async def main():
    items = asyncio.Queue(maxsize=100)
    lock = asyncio.Lock()
    shared = {}
    counts = [0] * CONSUMERS
    per = M // PRODUCERS
    consumers = [asyncio.create_task(consume(items, lock, shared, counts, k)) for k in range(CONSUMERS)]
    producers = [asyncio.create_task(produce(items, k * per, per)) for k in range(PRODUCERS)]
    await asyncio.gather(*producers)
    for _ in consumers:
        await items.put(STOP)
    await asyncio.gather(*consumers)
    expected = sum(range(per * PRODUCERS))
    if sum(shared.values()) != expected or sum(counts) != per * PRODUCERS:
        sys.exit(f"lost messages: {sum(shared.values())} != {expected}")
    print("checksum", sum(counts), len(shared), sum(shared.values()))


if __name__ == "__main__":
    asyncio.run(main())
