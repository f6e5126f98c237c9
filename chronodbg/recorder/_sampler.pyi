# The C locals sampler (_sampler.c): Summariser.sample_locals in C, sharing its cache.
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

class Sampler:
    def __init__(
        self,
        summariser: Any,
        fallback: Callable[..., tuple[tuple[str, Any], ...]],
        gettrace: Callable[[], Any],
        redacted: tuple[str],
        tag_error: str,
    ) -> None: ...
    def __call__(self, frame: FrameType, calling: bool = ..., /) -> tuple[tuple[str, Any], ...]: ...
    def summary(self, value: object, /) -> Any: ...
    def forget_limits(self) -> None: ...

class FrameEvents:
    def __init__(
        self,
        events: Any,
        sampler: Sampler,
        parameters_of: Callable[[Any], tuple[str, ...]],
        call: int,
        return_: int,
        nothing: tuple[()],
        line: int,
        unbound: Any,
        hidden_globals: frozenset[type],
        /,
    ) -> None: ...
    def enter(self, frame: FrameType, resumed: bool, /) -> None: ...
    def leave(self, frame: FrameType, value: Any, yielded: bool, /) -> None: ...
    def on_return(self, code: Any, offset: int, value: Any, /) -> None: ...
    def on_yield(self, code: Any, offset: int, value: Any, /) -> None: ...
    def on_resume(self, code: Any, offset: int, /) -> None: ...
    def on_start(self, code: Any, offset: int, /) -> Any: ...
    def use_start(self, local: dict[int, int], fallback: Callable[[Any, int], Any], /) -> None: ...

class SettraceHook:
    """tracer_settrace's trace functions in C (CPython 3.11 only)."""

    def __init__(
        self,
        events: FrameEvents,
        global_trace: Callable[..., Any],
        local_trace: Callable[..., Any],
        flight: dict[int, list[Any]],
        returns: Iterable[int],
        yields: Iterable[int],
        iteration_ends: Iterable[int],
        resume: int,
        /,
    ) -> None: ...
    def install(self) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...

class UserOnly:
    def __init__(self, traced: dict[int, bool], callback: Callable[..., Any], /) -> None: ...
    def __call__(self, code: Any, *args: Any) -> Any: ...
