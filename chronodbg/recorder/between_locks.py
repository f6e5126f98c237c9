"""Packing between locks: a program thread packs the buffered events right after it frees the last recorded lock held.

Why: when several threads make events, the writer thread gets a share of
the GIL no larger than theirs, so it packs slower than they add events;
the buffer then grows to tens of megabytes of event tuples, whose pages
the allocator faults in and hands back at every drain. A thread that packs
a chunk's worth of events itself, and threads that wait for it before they
go on, keep the buffer near a chunk: W1 (eight threads on one lock) records
14-16% faster and its peak memory falls from about 80 MB to 25 MB
(docs/performance.md, the tenth pass).

Where: only right after a release that leaves no recorded lock held by any
thread. Packing (or waiting for the thread that packs) while holding a lock
would lengthen that lock's critical section, and every thread wanting it
would queue behind (a convoy: the queue's own mutex in W2 tripled its
recorded time when its events triggered the packing).

The count of held locks lives in `_locks.c` for the C classes and here for
the Python ones (`CHRONODBG_PURE_PYTHON`, or no compiler); a lock counts
from a recorded acquire to the release that frees it, whichever thread
releases it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chronodbg.recorder.core import Recorder

try:
    from chronodbg.recorder import _locks as _built
except ImportError:  # not built
    _built = None  # type: ignore[assignment]


class _State:
    """The Python classes' count and the packer they call."""

    __slots__ = ("locks", "buffer", "pack", "every", "next")

    def __init__(self) -> None:
        #: id() of each lock of the Python classes held now.
        self.locks: set[int] = set()
        self.buffer: list[Any] | None = None
        self.pack: Callable[[], None] | None = None
        #: Pack once the buffer holds `next` events: `every`, or later after a call that left it full.
        self.every = 0
        self.next = 0

    @property
    def held(self) -> int:
        """How many locks of the Python classes are held now."""
        return len(self.locks)


STATE = _State()


def count(lock: Any, held: bool) -> None:
    """Whether `lock` (a Python-class wrapper) counts as held now."""
    # A set's add and discard are each one step under the GIL, and repeating
    # one changes nothing. A release counts after the lock is free, so the
    # next owner's acquire can count in between: a flag tested and then set
    # lost that race (the switch after its test let both threads take the
    # lock off the count, which then stayed one short for good). Here the
    # late discard only leaves the next owner's hold uncounted until its
    # own release, and the count is right again from there.
    if held:
        STATE.locks.add(id(lock))
    else:
        STATE.locks.discard(id(lock))


def after_release() -> None:
    """Pack between locks, if none is held and a chunk's worth is buffered (the C release's `pack_between_locks`)."""
    state = STATE
    buffer, pack = state.buffer, state.pack
    if state.held > 0 or buffer is None or pack is None:
        return
    size = len(buffer)
    if size < state.every:
        state.next = state.every
        return
    if size < state.next:
        return
    pack()
    # Not packed (recording stopped, or this thread is the packer): not again at every release.
    left = len(buffer)
    state.next = state.every if left < state.every else left + state.every // 4


def start(rec: Recorder, every: int) -> None:
    """Pack `rec`'s events between locks, once `every` are buffered."""
    _set(rec.buffer, rec.pack_a_chunk, every)


def stop() -> None:
    _set(None, None, 0)


def _set(buffer: list[Any] | None, pack: Callable[[], None] | None, every: int) -> None:
    STATE.buffer, STATE.pack, STATE.every, STATE.next = buffer, pack, every, every
    if _built is not None:
        _built.set_packer(buffer, pack, every)
