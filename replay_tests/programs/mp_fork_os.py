"""os.fork while threads hold recorded locks; children that end by os._exit, by returning, by an exception.

Every line is printed, and flushed, by one process while the other waits for
it (an Event, a join, a waitpid): the output is the same bytes on every run.
"""

import os
import queue
import sys
import threading

held = threading.Lock()  # held by another thread when the first child is forked
mine = threading.Lock()  # held by the forking thread then
rmine = threading.RLock()
guard = threading.Lock()  # taken around every fork by at-fork hooks, as logging does
os.register_at_fork(before=guard.acquire, after_in_parent=guard.release, after_in_child=guard.release)
ready = threading.Event()
go = threading.Event()
q: "queue.Queue[str]" = queue.Queue()


def holder() -> None:
    with held:
        ready.set()
        go.wait()


def os_threads() -> int:
    """The process's threads as the kernel counts them (CPython's fork warning counts these)."""
    with open("/proc/self/stat", "rb") as stat:
        return int(stat.read().rpartition(b")")[2].split()[17])


# Before any thread of ours: under the recorder this counts its writer too.
BASELINE = os_threads()


def status(pid: int) -> int:
    _, raw = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(raw)


t = threading.Thread(target=holder, name="holder")
t.start()
ready.wait()
mine.acquire()
rmine.acquire()
print("parent forks with", threading.active_count(), "threads", flush=True)
pid = os.fork()
if pid == 0:
    # The holder thread does not exist here: its lock stays held for good.
    print("child 1: held is", "free" if held.acquire(False) else "busy", flush=True)
    mine.release()
    rmine.release()
    with mine, rmine, guard:
        q.put("through a queue")
        print("child 1:", q.get(), flush=True)
    print("child 1: threads", threading.active_count(), flush=True)
    os._exit(3)
mine.release()
rmine.release()
print("parent: child 1 exit", status(pid), flush=True)
go.set()
t.join()
# join() returns before the OS thread is gone: fork only once it is, or
# whether fork warns would depend on that race (plain or recorded alike).
while os_threads() > BASELINE:
    pass

pid = os.fork()
if pid == 0:
    with held:
        print("child 2: held is free now", flush=True)
    # Not flushed: the child's normal exit flushes it.
    sys.stdout.write("child 2 returns\n")
else:
    print("parent: child 2 exit", status(pid), flush=True)
    pid = os.fork()
    if pid == 0:
        with held:
            raise RuntimeError("child 3 fails")
    print("parent: child 3 exit", status(pid), flush=True)
    with held, mine:
        print("parent done", flush=True)
