# Types of the C extension chronodbg/recorder/_hotpath.c (see hotpath.py).
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

class Emit:
    """Recorder.emit in C; odd calls go to `fallback`, the Python closure."""

    def __init__(
        self,
        fallback: Callable[..., None],
        recorder: Any,
        buffer: list[tuple[Any, ...]],
        limit: int,
        relieve: Callable[[], None],
        thread_ids: dict[int, int],
        current_thread_id: Callable[[], int],
        now: Callable[[], int],
        t0: int,
        running_tasks: dict[int, int],
        sites: dict[tuple[int, int], int],
        site_id: Callable[[Any, int], int],
        by_code: dict[int, bool],
        code_is_user: Callable[[Any], bool],
        stop_codes: set[int],
        frame_locals: Callable[[FrameType, bool], Any],
        sample: bool,
        offer_every: int = 0,
    ) -> None: ...
    def __call__(self, kind: int, obj: int | None, data: tuple[Any, ...], frame: FrameType | None, with_locals: bool = True) -> None: ...
    @property
    def fallback(self) -> Callable[..., None] | None: ...

class EmitCode:
    """Recorder.emit_code in C; odd calls go to `fallback`, the Python closure."""

    def __init__(
        self,
        fallback: Callable[[int, tuple[Any, ...], Any, int], None],
        recorder: Any,
        buffer: list[tuple[Any, ...]],
        limit: int,
        relieve: Callable[[], None],
        thread_ids: dict[int, int],
        current_thread_id: Callable[[], int],
        now: Callable[[], int],
        t0: int,
        running_tasks: dict[int, int],
        sites: dict[tuple[int, int], int],
        site_id: Callable[[Any, int], int],
        offer_every: int = 0,
    ) -> None: ...
    def __call__(self, kind: int, data: tuple[Any, ...], code: Any, line: int) -> None: ...
    @property
    def fallback(self) -> Callable[..., None] | None: ...

class Event:
    """A buffered event (_event.h): reads as the tuple (t, thread, task, kind, obj, site, data, locals)."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...

def free_events(batch: list[Any], /) -> None: ...
