"""Processes the program starts, and `fork()` as the program would see it unrecorded.

A recording covers one process. A child made by `os.fork()` (so also by
multiprocessing's "fork" start method) inherits the recorder mid-flight,
without its writer thread: it stops recording at once (recorder.control
installs the `os.register_at_fork` hook), drops the parent's buffered events,
never writes to the parent's file and puts the runtime back, so it runs
unrecorded and the parent's log holds the parent's events only. Children of
the "spawn" and "forkserver" methods run a fresh interpreter that chronodbg
never enters (it sets no environment variable and installs no startup hook):
they are unrecorded too.

What is left is `fork()` itself. Since 3.12 it warns, in the parent, when
the process has other threads (DeprecationWarning, counted from the threads
the OS reports). The recorder's writer thread is one of them, and a Python
wrapper around fork would be the frame the warning is attributed to (so the
default filter, which shows DeprecationWarning in `__main__` only, would hide
it). `quiet_fork` therefore silences the real warning and issues the one the
program would have had: only if the threads other than the writer would have
made fork() warn, attributed to the caller, and, as CPython does, never
letting it raise (under `-W error` fork() neither warns nor raises).
"""

from __future__ import annotations

import _thread
import os
import re
import sys
import threading
import warnings
from collections.abc import Callable
from types import FrameType
from typing import Any

from chronodbg.kinds import Kind
from chronodbg.recorder.core import Recorder
from chronodbg.recorder.patching import Patches

#: Whether fork() warns about threads (3.12+).
FORK_WARNS = sys.version_info >= (3, 12)
_MESSAGE = re.compile(r"This process \(pid=\d+\) is multi-threaded, use of \w+\(\) may lead to deadlocks in the child\.")
#: A warnings filter entry (action, message, category, module, lineno) silencing the real warning.
_SILENCE = ("ignore", _MESSAGE, DeprecationWarning, None, 0)


def program_threads(ours: int) -> int:
    """The process's threads as CPython counts them before warning, less the recorder's `ours`."""
    try:
        fd = os.open("/proc/self/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        fd = -1
    if fd >= 0:
        try:
            stat = os.read(fd, 4096)
        except OSError:
            stat = b""
        finally:
            os.close(fd)
        # Field 20 (num_threads), the 18th after the parenthesised command name.
        fields = stat.rpartition(b")")[2].split()
        if len(fields) > 17 and fields[17].isdigit():
            return int(fields[17]) - ours
    # CPython's fallback: the threads the threading module knows, which never include the writer.
    return len(threading._active) + len(threading._limbo)  # type: ignore[attr-defined]


def quiet_fork(
    real: Callable[[], Any], name: str, ours: Callable[[], int], started: Callable[[int, str, FrameType | None], None]
) -> Callable[[], Any]:
    """`real` (os.fork or os.forkpty) warning as it would without the `ours()` threads of the recorder.

    `started(pid, name, frame)` is called in the parent once the child exists.
    """

    def fork() -> Any:
        filters: list[Any] = warnings.filters  # type: ignore[assignment]  # a list, typed Sequence
        if FORK_WARNS:
            # In place, not catch_warnings(): that marks the filters changed, and
            # "default" warnings shown once would then be shown again.
            filters.insert(0, _SILENCE)
        try:
            result = real()
        finally:
            if FORK_WARNS:
                try:
                    filters.remove(_SILENCE)
                except ValueError:
                    pass
        pid = result[0] if isinstance(result, tuple) else result
        if pid != 0:
            started(pid, name, sys._getframe(1))
            if FORK_WARNS and program_threads(ours()) > 1:
                try:
                    warnings.warn(
                        f"This process (pid={os.getpid()}) is multi-threaded, use of {name}() may lead to deadlocks in the child.",
                        DeprecationWarning,
                        stacklevel=2,
                    )
                except Exception:
                    # CPython clears the exception a warning filter turned it into.
                    pass
        return result

    fork.__name__ = fork.__qualname__ = name
    fork.__doc__ = real.__doc__
    return fork


def install(rec: Recorder, patches: Patches, ours: Callable[[], int]) -> None:
    """Wrap os.fork and os.forkpty, and multiprocessing's Process.start once it is imported: each records process.start."""
    starting: set[int] = set()

    def forked(pid: int, name: str, frame: FrameType | None) -> None:
        # A multiprocessing child is recorded by Process.start, with its name.
        if rec.active and _thread.get_ident() not in starting:
            rec.emit(Kind.PROCESS_START, None, (pid, name, None), frame)

    for name in ("fork", "forkpty"):
        real = getattr(os, name, None)
        if real is not None:
            patches.set(os, name, quiet_fork(real, name, ours, forked))

    def patch(module: Any) -> None:
        base = module.BaseProcess
        original_start = base.start

        def start(self: Any) -> None:
            ident = _thread.get_ident()
            starting.add(ident)
            try:
                original_start(self)
            finally:
                starting.discard(ident)
            popen = getattr(self, "_popen", None)
            if rec.active and popen is not None:
                rec.emit(Kind.PROCESS_START, None, (popen.pid, getattr(popen, "method", None), self.name), sys._getframe(1))

        start.__doc__ = original_start.__doc__
        patches.set(base, "start", start)

    module = sys.modules.get("multiprocessing.process")
    if module is not None and hasattr(module, "BaseProcess"):
        patch(module)
    patches.after_import("multiprocessing.process", lambda: rec.active, patch)
