"""Benchmark workload: 4 threads, each building and evaluating N small expression trees by recursive calls.

Where the other workloads are made of synchronisation, this one is made of
function calls: tree i of thread k is built from a seed by a recursive
`build` (through the small constructors `leaf` and `node`) and evaluated by a
recursive `evaluate` (through `apply`), about 440 pure-Python calls of a few
lines each per tree, and a thread takes the shared lock once per tree to
add the value to a shared total (through a small function, as in locks.py).
So it measures what recording calls and lines costs on code that calls a
lot, with a few sync events in between. The amount of work is fixed by N
(argv[1]); which thread runs when is not, and does not change the result.

Prints `trees total`, which every variant of a benchmark round must print
alike.
"""

import sys
import threading

THREADS = 4
DEPTH = 6  # 2**6 leaves and 2**6 - 1 operators per tree
N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000
MODULUS = 1_000_003

lock = threading.Lock()
total = 0


def leaf(value):
    return ("num", value)


def node(op, left, right):
    return (op, left, right)


def build(depth, seed):
    if depth == 0:
        return leaf(seed % 7 + 1)
    op = "+-*"[seed % 3]
    left = build(depth - 1, (seed * 3 + 1) % MODULUS)
    right = build(depth - 1, (seed * 5 + 2) % MODULUS)
    return node(op, left, right)


def apply(op, a, b):
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    return a * b % 10_007


def evaluate(tree):
    if tree[0] == "num":
        return tree[1]
    left = evaluate(tree[1])
    right = evaluate(tree[2])
    return apply(tree[0], left, right)


def add(value, step):
    return value + step


def worker(k, n):
    global total
    for i in range(n):
        value = evaluate(build(DEPTH, k * n + i))
        with lock:
            total = add(total, value)


def main():
    threads = [threading.Thread(target=worker, args=(k, N), name=f"worker-{k}") for k in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(THREADS * N, total)


if __name__ == "__main__":
    main()
