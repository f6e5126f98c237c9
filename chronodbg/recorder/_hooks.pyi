# Types of the C extension chronodbg/recorder/_hooks.c (see recorder/aio.py and recorder/queues.py).
from collections.abc import Callable
from types import FrameType
from typing import Any

def await_frames(
    coro: Any, by_code: dict[int, bool], code_is_user: Callable[[Any], bool], /
) -> tuple[FrameType | None, FrameType | None]: ...

class CallSoon:
    """BaseEventLoop.call_soon, recording a task's wakeup (task.wake) first."""

    def __init__(
        self,
        original: Callable[..., Any],
        rec: Any,
        step_types: dict[type, bool],
        is_step_type: Callable[[type], bool],
        task_types: dict[type, bool],
        is_task: Callable[[Any], bool],
        running: dict[int, int],
        future_types: frozenset[type],
        wake_kind: Any,
        /,
    ) -> None: ...
    def __call__(self, loop: Any, callback: Any, *args: Any, context: Any = ...) -> Any: ...
    def __get__(self, obj: Any, owner: Any = ...) -> Any: ...

class StorageHook:
    """A queue class's own `_put` or `_get`, recording queue.put / queue.get after the original."""

    def __init__(
        self, original: Callable[..., Any], rec: Any, kind: Any, gets: bool, guarded: bool, sizes: set[Any] | None, /
    ) -> None: ...
    def __call__(self, queue: Any, *args: Any) -> Any: ...
    def __get__(self, obj: Any, owner: Any = ...) -> Any: ...

class Gate:
    """A method: the original for objects whose own `_cgr_oid` is 0 (decided not the user's), else the wrapper."""

    def __init__(self, original: Callable[..., Any], wrapper: Callable[..., Any], /) -> None: ...
    def __call__(self, obj: Any, *args: Any, **kwargs: Any) -> Any: ...
    def __get__(self, obj: Any, owner: Any = ...) -> Any: ...

def watch_feed(watchdog: Any, batch: list[tuple[Any, ...]], first_seq: int, kinds: tuple[Any, ...], watched: frozenset[Any], /) -> None:
    """Watchdog.feed's loop over a batch (kinds: acquire, release, put, get, resume, suspend, wake, done)."""

class Untraced:
    """f, called with this thread's trace and profile functions paused (see recorder/_untraced.c)."""

    def __init__(self, function: Callable[..., Any], /) -> None: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
    def __get__(self, obj: Any, owner: Any = ...) -> Any: ...

class Traced:
    """g, called with the tracing an enclosing Untraced paused resumed."""

    def __init__(self, function: Callable[..., Any], /) -> None: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
    def __get__(self, obj: Any, owner: Any = ...) -> Any: ...
