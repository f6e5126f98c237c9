"""Which per-event path the recorder runs: the C extension's or the Python closures.

`Recorder.emit` and `Recorder.emit_code` run for every recorded event, so
their cost is most of the recorder's own (issue 8). `chronodbg.recorder._hotpath`
does what the closures in `Recorder._make_emit` / `_make_emit_code` do, in C,
and calls back into Python for the rest. It is an optional extension: an
install without a C compiler has no `_hotpath`, and the closures run.

CHRONODBG_PURE_PYTHON=1 (any value but empty or "0") forces the closures even
where the extension was built: the test suite runs once that way, so the
fallback stays tested, and a suspected C bug can be ruled out in the field.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chronodbg.recorder._hotpath import Emit, EmitCode

#: The environment variable that forces the pure-Python path.
PURE_PYTHON_ENV = "CHRONODBG_PURE_PYTHON"


def forced_python() -> bool:
    """Whether the environment asks for the pure-Python path."""
    return os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0")


def native() -> tuple[type[Emit], type[EmitCode]] | None:
    """The C extension's Emit and EmitCode types, or None for the Python closures.

    Read each time a recorder is made, not once at import, so that a test or
    a library user can set the variable before recording.
    """
    if forced_python():
        return None
    try:
        from chronodbg.recorder import _hotpath
    except ImportError:
        # Not built (no compiler at install time) or built for another Python.
        return None
    return _hotpath.Emit, _hotpath.EmitCode


def events_freer(emit: object) -> Callable[[list[Any]], None]:
    """How a drain frees the events it packed: the extension's `free_events` when `emit` is the C one, else `list.clear`.

    The C emit leaves the garbage collector's count as it found it (see
    _gc_count.c); `free_events` does the same when the events go, so that
    freeing them does not take the program's own allocations off the count.
    """
    if path_of(emit) == "c":
        from chronodbg.recorder import _hotpath

        return _hotpath.free_events
    return list.clear


def built_locks() -> Any:
    """The extension with the lock wrappers' C cores (`chronodbg.recorder._locks`), or None where it was not built.

    Whether it is used is each recorder's choice (`lock_path`): see `locks_path`.
    """
    try:
        from chronodbg.recorder import _locks
    except ImportError:
        return None
    return _locks


def locks_path() -> str:
    """"c" when a recorder made now would wrap locks with the C cores, else "python"."""
    return "python" if forced_python() or built_locks() is None else "c"


def built_hooks() -> Any:
    """The extension with the busiest hooks in C (`chronodbg.recorder._hooks`), or None where it is not to be used.

    Its CallSoon and await_frames serve recorder.aio; its StorageHook the
    queues' `_put` / `_get` (recorder.queues, recorder.aio_sync).
    """
    if forced_python():
        return None
    try:
        from chronodbg.recorder import _hooks
    except ImportError:
        return None
    return _hooks


def path_of(emit: object) -> str:
    """"c" when `emit` is the extension's, else "python"."""
    return "c" if type(emit).__module__ == "chronodbg.recorder._hotpath" else "python"


def header_fields(parts: dict[str, str]) -> dict[str, Any]:
    """The header's `hot_path` ("c", "python", or "mixed" when only some parts were built) and `hot_path_parts`.

    `parts` says, for each part of the per-event path (emit, locals, pack, locks, hooks),
    which ran: one of them can fail to build where the others did.
    """
    paths = set(parts.values())
    return {"hot_path": paths.pop() if len(paths) == 1 else "mixed", "hot_path_parts": dict(parts)}
