"""One function left by three different returns in turn, and a generator resumed at three yields.

The recorder keeps the line of a return, yield or resume per code object and
instruction offset (two of them per code object): each event must still carry
its own line when a function has more places to leave or resume than that.
"""


def pick(k):
    if k == 0:
        return "zero"  # return-0
    if k == 1:
        return "one"  # return-1
    return "two"  # return-2


def steps():
    yield 1  # yield-0
    yield 2  # yield-1
    yield 3  # yield-2


def main():
    for k in [0, 1, 2, 2, 1, 0, 1, 2, 0]:
        pick(k)
    for _round in range(2):
        for _value in steps():
            pass


main()
