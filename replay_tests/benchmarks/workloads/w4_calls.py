"""Suite workload W4, call-heavy: one thread, recursive and helper calls only (pure function-call cost).

R rounds (R = 24) of: a recursive Fibonacci through a helper (`fib(21)`,
35,421 calls of `fib` and 17,710 of `add`), and a recursive Ackermann-like
descent through small helpers (`walk`, `step`, `clamp`, and `add` again),
about 33k more: 90,170 calls a round in all. No threads, no locks, no I/O: what a recorder adds
is what it costs per call and line. argv[1] overrides R. Prints `checksum`.
"""

import sys

R = int(sys.argv[1]) if len(sys.argv) > 1 else 24
MODULUS = 1_000_003


def add(a, b):
    return (a + b) % MODULUS


def fib(n):
    if n < 2:
        return n
    return add(fib(n - 1), fib(n - 2))


def clamp(value):
    return value % 97


def step(value, depth):
    return clamp(value * 31 + depth)


def walk(depth, value):
    if depth == 0:
        return step(value, 0)
    left = walk(depth - 1, step(value, depth))
    right = walk(depth - 1, step(left, depth))
    return add(left, right)


def main():
    total = 0
    for r in range(R):
        total = add(total, fib(21))
        total = add(total, walk(12, r))
    print("checksum", R, total)


if __name__ == "__main__":
    main()
