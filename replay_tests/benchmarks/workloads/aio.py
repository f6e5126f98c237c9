"""Benchmark workload: 8 producer and 8 consumer asyncio tasks pass M messages through a bounded queue.

One event loop, one thread. Producers each put M/8 integers into one
`asyncio.Queue(maxsize=100)`; consumers get them and add each to a shared
total under one `asyncio.Lock`: read the total, `await asyncio.sleep(0)` (a
stand-in for I/O, and what makes the lock necessary), write it back through a
small function call as in locks.py. After every producer has finished, main
puts one sentinel per consumer. The number of puts, gets and lock acquires is
fixed by M (argv[1]). So, on one loop, is the order the tasks run in: the
awaiting consumers take turns at the lock, and each message costs a few task
steps (a lock wait and its wake-up, the sleep, a full or empty queue).

Prints `messages total checksum`; the checksum weights each consumer's
message count by its index, so a change in which task got what shows up when
the plain and recorded outputs are compared.
"""

import asyncio
import sys

PRODUCERS = 8
CONSUMERS = 8
M = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
STOP = None

total = 0


def bump(value, step):
    return value + step


async def produce(items, start, count):
    for value in range(start, start + count):
        await items.put(value)


async def consume(items, lock, slot, counts):
    global total
    while True:
        value = await items.get()
        if value is STOP:
            break
        async with lock:
            current = total
            await asyncio.sleep(0)
            total = bump(current, value)
        counts[slot] += 1


async def main():
    items = asyncio.Queue(maxsize=100)
    lock = asyncio.Lock()
    counts = [0] * CONSUMERS
    per = M // PRODUCERS
    consumers = [asyncio.create_task(consume(items, lock, k, counts), name=f"consumer-{k}") for k in range(CONSUMERS)]
    producers = [asyncio.create_task(produce(items, k * per, per), name=f"producer-{k}") for k in range(PRODUCERS)]
    await asyncio.gather(*producers)
    for _ in consumers:
        await items.put(STOP)
    await asyncio.gather(*consumers)
    expected = sum(range(per * PRODUCERS))
    if total != expected or sum(counts) != per * PRODUCERS:
        sys.exit(f"lost messages: total {total} != {expected} or count {sum(counts)} != {per * PRODUCERS}")
    checksum = sum((k + 1) * n for k, n in enumerate(counts))
    print(per * PRODUCERS, total, checksum)


if __name__ == "__main__":
    asyncio.run(main())
