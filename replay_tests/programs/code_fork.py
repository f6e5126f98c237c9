"""Forks while code is traced: the child must run untraced, as it runs unrecorded."""

import os
import sys


def clean():
    monitoring = getattr(sys, "monitoring", None)
    tools = [monitoring.get_tool(i) for i in range(6)] if monitoring else []
    return sys.gettrace() is None and "chronodbg" not in tools


def work(n):
    return n + 1


pid = os.fork()
if pid == 0:
    work(1)
    print("child clean", clean(), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print("parent", work(2), flush=True)
