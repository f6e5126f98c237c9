"""Ends in the way argv[1] says, with a daemon thread still running and an atexit handler."""

import atexit
import os
import sys
import threading

stop = threading.Event()
threading.Thread(target=stop.wait, name="daemon", daemon=True).start()
atexit.register(lambda: print("atexit ran", flush=True))
print("argv", sys.argv[1:], "name", __name__, "file", os.path.basename(__file__))
print("path0", os.path.basename(sys.path[0]))
how = sys.argv[1] if len(sys.argv) > 1 else "normal"
if how == "exit3":
    sys.exit(3)
if how == "raise":
    def inner() -> None:
        raise ValueError("boom")
    inner()
if how == "interrupt":
    raise KeyboardInterrupt
if how == "os_exit":
    sys.stdout.flush()
    os._exit(7)
if how == "stdin":
    print("read", sys.stdin.read().upper())
print("normal end")
