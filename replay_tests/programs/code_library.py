"""User code called from library code (sorted's key, json's default), library code calling library code, and a helper module."""

import functools
import json
import threading

import code_helper

lock = threading.Lock()


def key(item):
    return -item


def default(obj):
    return sorted(obj)


def main():
    ordered = sorted([1, 3, 2], key=key)
    text = json.dumps({"s": {1}}, default=default)
    total = functools.reduce(code_helper.plus, ordered)
    with lock:
        total = code_helper.twice(total)
    print(ordered, text, total)


main()
