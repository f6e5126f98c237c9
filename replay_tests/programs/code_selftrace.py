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


def own_lines():
    # Traces a frame already running, as bdb.set_trace does (its f_trace, then
    # the thread's trace function): its lines reach the program's tracer
    # whatever chronodbg set on the frame at its call. One line each way, so
    # that no line runs with one set and not the other.
    frame = sys._getframe()
    frame.f_trace = tracer; sys.settrace(tracer)  # noqa: E702
    x = 1
    y = x + 1
    sys.settrace(None); frame.f_trace = None  # noqa: E702
    return y


print("before", sys.gettrace() is None, threading.gettrace() is None)
untraced(1)
sys.settrace(tracer)
print("set", sys.gettrace() is tracer)
traced(1)
sys.settrace(None)
print("after", sys.gettrace() is None)
untraced(2)
own_lines()
print(seen)
