"""Running the target exactly as `python app.py` / `python -m mod` would.

A fresh `__main__` module with an absolute `__file__` and a real loader,
`sys.argv` and `sys.path[0]` as the interpreter sets them, SystemExit left
to propagate so the exit status is the program's own, and an uncaught
exception printed through `sys.excepthook` without chronodbg's frames.
"""

from __future__ import annotations

import builtins
import importlib.machinery
import os
import runpy
import sys
import types
from collections.abc import Sequence
from typing import NamedTuple

from chronodbg.errors import RecordError
from chronodbg.recorder.core import Recorder
from chronodbg.recorder.threads import exit_by, record_uncaught


class Target(NamedTuple):
    """A script path or a module name, with its arguments."""

    name: str
    args: Sequence[str]
    is_module: bool = False

    @property
    def stem(self) -> str:
        if self.is_module:
            return self.name.rsplit(".", 1)[-1]
        return os.path.splitext(os.path.basename(self.name))[0] or "program"


def compile_script(path: str) -> types.CodeType:
    """Read and compile a script, or say why it cannot run (before recording starts)."""
    try:
        with open(path, "rb") as stream:
            source = stream.read()
    except OSError as exc:
        raise RecordError(f"can't open file {os.path.abspath(path)!r}: {exc.strerror or exc}") from None
    return compile(source, os.path.abspath(path), "exec", dont_inherit=True)


def _fresh_main(file: str | None) -> types.ModuleType:
    module = types.ModuleType("__main__")
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    module.__annotations__ = {}
    if file is not None:
        module.__file__ = file
        module.__cached__ = None  # type: ignore[attr-defined]
        module.__loader__ = importlib.machinery.SourceFileLoader("__main__", file)
    sys.modules["__main__"] = module
    return module


def run(rec: Recorder, target: Target, code: types.CodeType | None) -> None:
    """Run the target under `rec`; record how it ended, then let that propagate."""
    try:
        if target.is_module:
            sys.argv = [target.name, *target.args]
            if not sys.flags.safe_path:
                sys.path[0] = os.getcwd()
            _fresh_main(None)
            runpy._run_module_as_main(target.name, alter_argv=True)  # type: ignore[attr-defined]
        else:
            assert code is not None
            path = os.path.abspath(target.name)
            sys.argv = [target.name, *target.args]
            if not sys.flags.safe_path:
                sys.path[0] = os.path.dirname(os.path.realpath(path))
            # A launcher that is itself a script (the `chronodbg` console
            # script) is flushed by python once it ends, as the script would be.
            outer = sys.modules.get("__main__")
            launcher_flushes = getattr(outer, "__spec__", None) is None and hasattr(outer, "__file__")
            module = _fresh_main(path)
            try:
                exec(code, module.__dict__)
            finally:
                if not launcher_flushes:
                    _flush_io()
    except SystemExit as exc:
        rec.exit_code = _exit_status(exc.code)
        rec.exit_how = "sys.exit"
        raise
    except BaseException as exc:
        record_uncaught(rec, exc)
        exit_by(rec, exc)
        try:
            sys.excepthook(type(exc), exc, exc.__traceback__)
        except BaseException:
            # Imported only here: it is about 2 ms of every recorded program's start.
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__)
        sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, exc.__traceback__
        raise SystemExit(1) from None
    rec.exit_code = 0
    rec.exit_how = "exit"


def _flush_io() -> None:
    """Flush sys.stderr, then sys.stdout, ignoring what that raises.

    `python app.py` does this once the script's code returns or raises
    (`python -m` and `python -c` do not): a stream the program installed
    sees this flush before the interpreter's own at exit. Under `python -m
    chronodbg` nothing else would do it; under the `chronodbg` script,
    python does it when that script ends.
    """
    for name in ("stderr", "stdout"):
        stream = getattr(sys, name, None)
        if stream is not None:
            try:
                stream.flush()
            except BaseException:
                # As CPython, which clears whatever the flush raised.
                pass


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    return 1
