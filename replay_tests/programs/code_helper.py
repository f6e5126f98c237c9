"""A helper module of code_library.py (a second file of user code, for --include/--exclude)."""


def plus(a, b):
    return a + b


def twice(x):
    return plus(x, x)
