"""Replacing attributes of the runtime and putting them back."""

from __future__ import annotations

import sys
from types import FrameType, TracebackType
from typing import Any

_MISSING = object()
_OWN_PREFIX = __file__.rsplit("/recorder/", 1)[0]


class Patches:
    """Remembers every attribute it replaces, so `restore()` undoes them in reverse."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> Any:
        old = owner.__dict__.get(name, _MISSING) if isinstance(owner, type) else getattr(owner, name, _MISSING)
        self._saved.append((owner, name, old))
        setattr(owner, name, value)
        return old

    def set_signal(self, signum: int, handler: Any) -> None:
        import signal

        self._saved.append((signal, f"signal:{signum}", (signal.signal(signum, handler), handler)))

    def on_restore(self, undo: Any) -> None:
        """Call `undo()` when restoring, in order with the other patches."""
        self._saved.append((undo, "call:", None))

    def restore(self) -> None:
        while self._saved:
            owner, name, old = self._saved.pop()
            try:
                if name == "call:":
                    owner()
                elif name.startswith("signal:"):
                    signum = int(name.split(":", 1)[1])
                    previous, ours = old
                    # Leave a handler the program installed over ours alone.
                    if owner.getsignal(signum) is ours:
                        owner.signal(signum, previous)
                elif old is _MISSING:
                    delattr(owner, name)
                else:
                    setattr(owner, name, old)
            except (AttributeError, TypeError, ValueError):
                pass


def caller(depth: int = 2) -> FrameType | None:
    """The frame `depth` levels above the caller of this function, or None."""
    try:
        return sys._getframe(depth)
    except ValueError:
        return None


def without_own_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback without chronodbg's wrapper frames, as the user would see it unrecorded."""
    entries = []
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_OWN_PREFIX):
            entries.append(tb)
        tb = tb.tb_next
    rebuilt: TracebackType | None = None
    for entry in reversed(entries):
        rebuilt = TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return rebuilt
