"""Benchmark workload: 4 producers and 4 consumers pass M items through a bounded queue.

Producers each put M/4 integers into one `queue.Queue(maxsize=100)`; after
they finish, the main thread puts one sentinel per consumer. The number of
puts and gets is fixed by M (argv[1]); which consumer gets which item is not.
Prints `checksum`, the item count and their sum. The benchmark suite's W2 is
this file with M = 200,000.
"""

import queue
import sys
import threading

PRODUCERS = 4
CONSUMERS = 4
M = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
STOP = None

items = queue.Queue(maxsize=100)
totals = [0] * CONSUMERS


def produce(start, count):
    for value in range(start, start + count):
        items.put(value)


def consume(slot):
    total = 0
    while True:
        value = items.get()
        if value is STOP:
            break
        total += value
    totals[slot] = total


def main():
    per = M // PRODUCERS
    producers = [threading.Thread(target=produce, args=(k * per, per), name=f"producer-{k}") for k in range(PRODUCERS)]
    consumers = [threading.Thread(target=consume, args=(k,), name=f"consumer-{k}") for k in range(CONSUMERS)]
    for thread in consumers + producers:
        thread.start()
    for thread in producers:
        thread.join()
    for _ in consumers:
        items.put(STOP)
    for thread in consumers:
        thread.join()
    expected = sum(range(per * PRODUCERS))
    if sum(totals) != expected:
        sys.exit(f"lost items: {sum(totals)} != {expected}")
    print("checksum", per * PRODUCERS, sum(totals))


if __name__ == "__main__":
    main()
