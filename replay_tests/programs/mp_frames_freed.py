"""What a thread's locals hold is freed when the thread's function returns, not at the next GC.

ProcessPoolExecutor's threads hold multiprocessing queues whose semaphores
must be unlinked before the resource tracker stops; the recorder's watchdog
once kept every thread's frames alive in a reference cycle (found by
CPython's test_concurrent_futures). The GC is off here, so anything kept
alive by a cycle stays alive. The pause lets the watchdog look at the
waiting threads: if it does not run in time, nothing is left to find.
"""

import gc
import threading
import time

gc.disable()
freed = threading.Event()
started = threading.Event()
go = threading.Event()


class Resource:
    def __del__(self) -> None:
        freed.set()


def worker() -> None:
    resource = Resource()
    started.set()
    go.wait()
    # `resource` goes with this frame, unless something still holds the frame.
    assert resource is not None


t = threading.Thread(target=worker, name="worker")
t.start()
started.wait()
time.sleep(0.5)
go.set()
t.join()
print("freed when the thread ended:", freed.is_set())
