"""chronodbg: a time-travel replay debugger for concurrent Python programs.

Library use (the command line is `chronodbg record app.py`):

    with chronodbg.record("run.cgr"):
        ...                      # everything here is recorded
    with chronodbg.record(None) as rec:
        ...
    rec.events                   # decoded events, kept in memory
    chronodbg.mark("phase", n=3) # an event of your own

Importing chronodbg is cheap: the recorder loads on first use.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from chronodbg.logfile.reader import Event
    from chronodbg.logfile.reader import Recording as Log
    from chronodbg.recorder.core import Recorder

__all__ = ["Recording", "__version__", "mark", "record", "start", "stop"]


class Recording:
    """A handle on one recording made through the library."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    @property
    def path(self) -> str | None:
        return self._recorder.options.path

    @property
    def dropped(self) -> int:
        return self._recorder.dropped

    def log(self) -> Log:
        """The recording as the reader sees it (flushing first if still running)."""
        from chronodbg.logfile.reader import read_bytes, read_log

        rec = self._recorder
        if not rec.closed:
            rec.drain()
        if rec.memory is not None:
            return read_bytes(bytes(rec.memory))
        assert rec.options.path is not None
        return read_log(rec.options.path)

    @property
    def events(self) -> Sequence[Event]:
        return self.log().events


def start(
    path: str | None,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    locals: str = "events",
    redact: str | None = "default",
    use_repr: bool = False,
    on_deadlock: str = "continue",
    level: str = "sync",
    lines: Sequence[str] = (),
    sign_key: bytes | None = None,
    max_size: int | None = None,
    ring: bool = False,
) -> Recording:
    """Start recording this process into `path` (None keeps the log in memory).

    `on_deadlock`: when the watchdog finds threads or tasks that can never go
    on (recording to a file only), "continue" records a `deadlock` event and
    reports it on stderr; "stop" also ends the process with status 86.
    `level`: "sync" (synchronisation events), "calls" (also calls, returns
    and exceptions of user code started from now on) or "lines" (also lines
    and the locals they change). `lines`: with level "calls", globs of the
    files whose code also records lines. `sign_key`: sign every part of
    the log with HMAC-SHA256 under this key (replay verifies it with
    `--verify-key-env`); the key itself is never written. `max_size`: cap
    the file at this many bytes: recording then stops (the program goes on),
    or with `ring=True` the oldest events are dropped instead.
    """
    from chronodbg.recorder import control
    from chronodbg.recorder.core import Options
    from chronodbg.recorder.snapshot import DEFAULT_REDACT

    options = Options(
        path=path,
        include=tuple(include),
        exclude=tuple(exclude),
        locals=locals,
        redact=DEFAULT_REDACT if redact == "default" else redact,
        use_repr=use_repr,
        on_deadlock=on_deadlock,
        level=level,
        lines=tuple(lines),
        sign_key=sign_key,
        max_size=max_size,
        ring=ring,
        program=sys.argv[0] if sys.argv else "",
        argv=tuple(sys.argv),
    )
    return Recording(control.start(options))


def stop() -> Recording | None:
    """Stop the running recording and finish its log; None if none was running."""
    from chronodbg.recorder import control

    rec = control.stop()
    return Recording(rec) if rec is not None else None


@contextmanager
def record(path: str | None, **options: Any) -> Iterator[Recording]:
    """Record the body of a `with` block; see `start` for the options."""
    handle = start(path, **options)
    try:
        yield handle
    finally:
        from chronodbg.recorder import control

        if control.current() is handle._recorder:
            control.stop()


def mark(name: str, **data: Any) -> None:
    """Record an event of your own (a phase, a request id…); no-op when not recording."""
    from chronodbg.kinds import Kind

    control = sys.modules.get("chronodbg.recorder.control")
    rec = control.current() if control is not None else None
    if rec is None or not rec.active:
        return
    summary = rec.summariser.safe_value(data)
    rec.emit(Kind.MARK, None, (str(name), summary), sys._getframe(1))
