"""Locals that change line by line; at chosen lines the program marks its real locals (scalars only)."""

import chronodbg


def show():
    # The caller's locals, as the program sees them, as a mark of the caller's.
    import sys

    frame = sys._getframe(1)
    chronodbg.mark("locals", **frame.f_locals)


def work(a, b=2, *rest, key=None):
    total = a + b
    show()
    label = "x" * 3
    total = total * 10
    show()
    del label
    flag = None  # noqa: F841 (read through the frame)
    show()
    for i in range(2):
        total += i
    show()
    return total


def gen(limit):
    count = 0
    while count < limit:
        got = yield count  # noqa: F841 (read through the frame)
        count += 1
        show()
    show()


def main():
    result = work(1, 3, 4, key="k")
    g = gen(2)
    first = next(g)
    second = g.send("hello")
    for _ in g:
        pass
    print(result, first, second)


main()
