"""Exceptions in the shapes CPython compiles differently: bare re-raise, finally, with, a new exception in an except, throw()."""

import contextlib


def fail(kind):
    raise kind("x")


def reraiser():
    try:
        fail(KeyError)
    except KeyError:
        note = 1  # noqa: F841
        raise


def catcher():
    try:
        reraiser()
    except (TypeError, KeyError) as e:
        got = type(e).__name__
    try:
        fail(IndexError)
    except:  # noqa: E722
        got += "!"
    try:
        with contextlib.suppress(ValueError):
            fail(ValueError)
    except ValueError:
        got = "never"
    try:
        try:
            fail(TypeError)
        except TypeError:
            raise RuntimeError("wrapped") from None
    except RuntimeError:
        got += "?"
    try:
        try:
            fail(LookupError)
        finally:
            got += "."
    except LookupError:
        got += "+"
    return got


def gen():
    try:
        yield 1
    except KeyError:
        yield 2


def thrower():
    g = gen()
    next(g)
    got = g.throw(KeyError)
    try:
        g.throw(ValueError)
    except ValueError:
        got += 1
    return got


print(catcher(), thrower())
