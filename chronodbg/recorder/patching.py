"""Replacing attributes of the runtime and putting them back."""

from __future__ import annotations

import _thread
import sys
from collections.abc import Callable
from types import FrameType, FunctionType, ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from chronodbg.recorder.core import Recorder

F = TypeVar("F", bound=Callable[..., Any])

_MISSING = object()
_OWN_PREFIX = __file__.rsplit("/recorder/", 1)[0]
_HOOKS = "chronodbg.recorder._hooks"


def _brackets(rec: Recorder) -> Any:
    """The C hooks, when the settrace tracer records and they are built; else None."""
    return rec.hooks if rec.tracer_name == "settrace" else None


def untraced(rec: Recorder, function: F) -> F:
    """`function`, run with the thread's tracing paused under the settrace tracer (see recorder/_untraced.c).

    For the recorder's own wrappers: under sys.settrace every Python frame
    of the thread pays for tracing, the recorder's too. What such a wrapper
    calls that may run the program's code goes through `traced`. With
    sys.monitoring, no tracer or no C hooks, `function` itself.
    """
    hooks = _brackets(rec)
    return function if hooks is None else hooks.Untraced(function)


def traced(rec: Recorder, function: F) -> F:
    """`function`, run with the tracing an enclosing `untraced` paused resumed (or `function` itself, as there)."""
    hooks = _brackets(rec)
    return function if hooks is None else hooks.Traced(function)


class Patches:
    """Remembers every attribute it replaces, so `restore()` undoes them in reverse."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []
        #: id of a saved entry -> the value `set` put there (see restore).
        self._ours: dict[int, Any] = {}

    def set(self, owner: Any, name: str, value: Any) -> Any:
        """Put `value` in place of `owner.name`; a function of chronodbg's takes the original's names.

        So a bound method's repr ("Exception ignored in atexit callback:
        <bound method Thread.join of ...>"), `__doc__` and pickling by
        reference read as unrecorded.
        """
        old = _current(owner, name)
        # An Untraced wrapper reads its names from the function it calls.
        function = value.__wrapped__ if type(value).__qualname__ == "Untraced" and type(value).__module__ == _HOOKS else value
        if isinstance(function, FunctionType) and isinstance(old, FunctionType) and function.__code__.co_filename.startswith(_OWN_PREFIX):
            for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
                setattr(function, attr, getattr(old, attr))
        entry = (owner, name, old)
        self._saved.append(entry)
        self._ours[id(entry)] = value
        setattr(owner, name, value)
        return old

    def set_signal(self, signum: int, handler: Any) -> None:
        import signal

        self._saved.append((signal, f"signal:{signum}", (signal.signal(signum, handler), handler)))

    def after_import(self, name: str, active: Callable[[], bool], patch: Callable[[ModuleType], None]) -> None:
        """Call `patch(module)` each time module `name` executes while `active()`, until restored.

        For modules imported after recording began (asyncio is only patched
        if the program uses it) and modules executed again (reload,
        test.support's import_fresh_module): both make new classes.
        """
        finder = _AfterImport(name, active, patch)
        sys.meta_path.insert(0, finder)

        def remove() -> None:
            if finder in sys.meta_path:
                sys.meta_path.remove(finder)

        self.on_restore(remove)

    def on_restore(self, undo: Any) -> None:
        """Call `undo()` when restoring, in order with the other patches."""
        self._saved.append((undo, "call:", None))

    def restore(self) -> None:
        """Undo every change in reverse; a value the program put over one of ours stays.

        A program that replaced `threading.Lock` or `sys.stdout` itself (or
        monkeypatched like gevent) keeps its replacement after recording.
        """
        while self._saved:
            entry = self._saved.pop()
            owner, name, old = entry
            ours = self._ours.pop(id(entry), _MISSING)
            if ours is not _MISSING and _current(owner, name) is not ours:
                continue
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


def _current(owner: Any, name: str) -> Any:
    return owner.__dict__.get(name, _MISSING) if isinstance(owner, type) else getattr(owner, name, _MISSING)


class _AfterImport:
    """A finder first on `sys.meta_path`: lets the others find the module, then patches it once executed."""

    def __init__(self, name: str, active: Callable[[], bool], patch: Callable[[ModuleType], None]) -> None:
        self.name = name
        self.active = active
        self.patch = patch
        self._finding: set[int] = set()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != self.name or not self.active():
            return None
        me = _thread.get_ident()
        if me in self._finding:
            return None
        self._finding.add(me)
        try:
            for finder in list(sys.meta_path):
                find = getattr(finder, "find_spec", None)
                if finder is self or find is None:
                    continue
                spec = find(name, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._finding.discard(me)
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchAfterExec(spec.loader, self)
        return spec


class _PatchAfterExec:
    """The real loader, patching the module once it has executed."""

    def __init__(self, loader: Any, hook: _AfterImport) -> None:
        self._loader = loader
        self._hook = hook

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        loader = self._loader
        # The module shows its own loader, as it does unrecorded.
        module.__loader__ = loader
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = loader
        loader.exec_module(module)
        if self._hook.active():
            try:
                self._hook.patch(module)
            except Exception:
                # Recording less is better than breaking the program's import.
                pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


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
