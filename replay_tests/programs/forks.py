"""Forks a child while recording; neither process may warn or corrupt the parent's log."""

import os
import threading

lock = threading.Lock()
with lock:
    pass
pid = os.fork()
if pid == 0:
    with lock:
        print("child ran", flush=True)
    os._exit(0)
_, status = os.waitpid(pid, 0)
with lock:
    print("parent saw child exit", os.waitstatus_to_exitcode(status), flush=True)
