"""A program with a trace function of its own: it must see what it would see unrecorded."""

import sys
import threading

seen = []


def tracer(frame, event, arg):
    if frame.f_code.co_filename == __file__:
        seen.append((event, frame.f_code.co_name))
    return tracer


def traced(x):
    return x + 1


def untraced(x):
    return x * 2


print("before", sys.gettrace() is None, threading.gettrace() is None)
untraced(1)
sys.settrace(tracer)
print("set", sys.gettrace() is tracer)
traced(1)
sys.settrace(None)
print("after", sys.gettrace() is None)
untraced(2)
print(seen)
