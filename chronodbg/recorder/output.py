"""`output` events: what the program writes to sys.stdout and sys.stderr."""

from __future__ import annotations

import sys
from typing import Any

from chronodbg.kinds import Kind
from chronodbg.recorder.core import Recorder
from chronodbg.recorder.patching import Patches
from chronodbg.recorder.snapshot import clean_str

# Kind's members as module constants: on 3.11 each `Kind.X` goes through EnumType.__getattr__ (about 190 ns).
OUTPUT = Kind.OUTPUT

MAX_TEXT = 1000
_getframe = sys._getframe


class RecordedStream:
    """Forwards everything to the real stream and records each text write.

    `__class__` answers with the real stream's class so `isinstance` checks in
    user code see what they would see unrecorded.
    """

    __slots__ = ("_cgr_stream", "_cgr_name", "_cgr_rec")

    def __init__(self, stream: Any, name: str, rec: Recorder) -> None:
        object.__setattr__(self, "_cgr_stream", stream)
        object.__setattr__(self, "_cgr_name", name)
        object.__setattr__(self, "_cgr_rec", rec)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._cgr_stream)

    def write(self, text: Any) -> Any:
        rec = self._cgr_rec
        if rec.active and type(text) is str and text:
            rec.emit(
                OUTPUT,
                None,
                (self._cgr_name, clean_str(text[:MAX_TEXT]), len(text)),
                _getframe().f_back,
            )
        return self._cgr_stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cgr_stream, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._cgr_stream, name, value)

    def __iter__(self) -> Any:
        return iter(self._cgr_stream)

    def __enter__(self) -> Any:
        return self._cgr_stream.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self._cgr_stream.__exit__(*exc)

    def __repr__(self) -> str:
        return repr(self._cgr_stream)


def install(rec: Recorder, patches: Patches) -> None:
    """Wrap sys.stdout and sys.stderr, and sys.__stdout__ / sys.__stderr__ when they are the same object.

    `sys.__stdout__` is wrapped too when it is the same stream, so
    `sys.stdout is sys.__stdout__` holds as without recording and a program restoring
    `sys.stdout = sys.__stdout__` goes on being recorded. On restore, a
    stream the program installed itself (and left in place) stays: the
    interpreter flushes and finalises the program's own object at exit, as it
    would unrecorded.
    """
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            continue
        wrapper = RecordedStream(stream, name, rec)
        dunder = f"__{name}__"
        names = (name, dunder) if getattr(sys, dunder, None) is stream else (name,)
        for attr in names:
            setattr(sys, attr, wrapper)
        patches.on_restore(_restorer(names, stream, wrapper))


def _restorer(names: tuple[str, ...], stream: Any, wrapper: RecordedStream) -> Any:
    def restore() -> None:
        for attr in names:
            if getattr(sys, attr, None) is wrapper:
                setattr(sys, attr, stream)

    return restore
