"""Plain calls, recursion, a generator, and an exception raised two frames down and caught two frames up.

Marks its own stack (user frames, as traceback sees them) at chosen points,
so a test can rebuild the stack from the recorded calls and compare.
"""

import traceback

import chronodbg


def here(tag):
    # A loop, not a comprehension: 3.11 runs comprehensions in frames of their own.
    stack = []
    for f in traceback.extract_stack()[:-1]:
        if f.filename == __file__:
            stack.append(f"{f.name}:{f.lineno}")
    chronodbg.mark("stack", tag=tag, stack=stack)


def add(a, b):
    return a + b


def fact(n):
    if n <= 1:
        here("fact-bottom")
        return 1
    return n * fact(n - 1)


def countdown(n):
    while n > 0:
        yield n
        n -= 1
    here("countdown-end")


def fail(what):
    raise ValueError(what)


def middle(what):
    return fail(what)


def outer(what):
    try:
        middle(what)
    except ValueError as exc:
        here("caught")
        return str(exc)
    return "not raised"


def main():
    total = add(1, 2)
    total += fact(3)
    for n in countdown(2):
        total += n
    message = outer("boom")
    print(total, message)


main()
