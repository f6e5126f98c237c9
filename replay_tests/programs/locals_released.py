"""Sampling a frame's locals keeps nothing alive and changes no variable.

Prints what the program sees; run plain and recorded, the output must match.
"""

import gc
import sys
import threading
import weakref

lock = threading.Lock()


class Payload:
    pass


def deleted_names_die() -> None:
    payload = Payload()
    ref = weakref.ref(payload)
    with lock:  # the recorder samples this frame's locals here
        pass
    del payload
    # No gc.collect(): plain Python frees it at once, and so must a recorded run.
    print("deleted local freed:", ref() is None)


def deleted_argument_dies(payload: Payload) -> None:
    # At level calls the call event reads the arguments, and nothing else reads this frame.
    ref = weakref.ref(payload)
    del payload
    print("deleted argument freed:", ref() is None)


def held_locals_dict_stays() -> None:
    first = 1
    seen = locals()
    second = 2
    with lock:
        pass
    # A dict the program holds is the program's: sampling never empties it
    # (before 3.13 reading f_locals brings it up to date, as pdb's reads do).
    print("held locals() dict keeps its names:", seen.get("first") == 1, second)


def under_a_trace_function() -> None:
    def tracer(frame, event, arg):  # noqa: ANN001, ANN202
        return tracer

    sys.settrace(tracer)
    try:
        value = Payload()
        ref = weakref.ref(value)
        with lock:
            pass
        print("variable intact under settrace:", type(value).__name__)
        del value
    finally:
        sys.settrace(None)
    gc.collect()
    print("freed after collect:", ref() is None)


def in_a_thread() -> None:
    results = []

    def work() -> None:
        payload = Payload()
        ref = weakref.ref(payload)
        with lock:
            pass
        del payload
        results.append(ref() is None)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    print("freed in a thread:", results)


deleted_names_die()
deleted_argument_dies(Payload())
held_locals_dict_stays()
under_a_trace_function()
in_a_thread()
