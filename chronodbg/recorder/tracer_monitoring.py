"""The sys.monitoring tracer (Python 3.12+): code events at full speed outside user code.

Globally it asks only for PY_START (to meet each code object once) and for
the exception events, which sys.monitoring cannot switch on per code object.
The first PY_START of a code object decides whether it is user code: if not,
it returns DISABLE and that code never calls back again (until another
tool's `restart_events()`, after which it is switched off again the same
way); if so, PY_RESUME, PY_RETURN, PY_YIELD (and LINE at level lines) are
switched on for that code object alone. BRANCH is switched on for a code
object the first time one of its typed `except` clauses is entered, to see
which clause matches (see recorder.excepts); its other branches are switched
off at their first event.

It uses a tool id of its own (DEBUGGER_ID if free, else another free one;
never one in use), frees it on stop, and never lets an exception out of a
callback: sys.monitoring would raise it in the program's code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import CodeType
from typing import Any

from chronodbg.errors import RecordError
from chronodbg.recorder.code_events import CodeEvents
from chronodbg.recorder.core import Recorder
from chronodbg.recorder.excepts import RAISE_VARARGS, HandlerIndex

UserOnly: Any
try:
    from chronodbg.recorder._sampler import UserOnly
except ImportError:  # no C: the Python callbacks judge every exception's code
    UserOnly = None

_mon: Any = getattr(sys, "monitoring", None)
_getframe = sys._getframe


class MonitoringTracer:
    name = "sys.monitoring"

    def __init__(self, rec: Recorder, level: str) -> None:
        self.rec = rec
        self.events = CodeEvents(rec, level)
        self.handlers = HandlerIndex()
        #: id(code) -> the local events switched on for it; the code objects themselves, to switch them off.
        self._local: dict[int, int] = {}
        self._codes: list[CodeType] = []
        #: id(frame) -> type of the exception its typed except clauses are matching.
        self._pending: dict[int, type] = {}
        self.tool: int | None = self._claim()
        self._registered: list[int] = []

    @staticmethod
    def _claim() -> int:
        ids = _mon
        for tool in (ids.DEBUGGER_ID, 3, 4, ids.PROFILER_ID, ids.OPTIMIZER_ID, ids.COVERAGE_ID):
            if ids.get_tool(tool) is None:
                try:
                    ids.use_tool_id(tool, "chronodbg")
                except ValueError:  # taken in between
                    continue
                return int(tool)
        raise RecordError("sys.monitoring: every tool id is in use")

    def start(self) -> None:
        tool = self.tool
        if tool is None:
            return
        E = _mon.events
        for event, callback in self._callbacks().items():
            _mon.register_callback(tool, event, callback)
            self._registered.append(event)
        _mon.set_events(tool, E.PY_START | E.PY_THROW | E.PY_UNWIND | E.RAISE | E.RERAISE | E.EXCEPTION_HANDLED)

    def stop(self) -> None:
        tool, self.tool = self.tool, None
        if tool is None:
            return
        try:
            _mon.set_events(tool, 0)
            for code in self._codes:
                _mon.set_local_events(tool, code, 0)
            for event in self._registered:
                _mon.register_callback(tool, event, None)
        finally:
            _mon.free_tool_id(tool)

    def _enable(self, code: CodeType, events: int) -> None:
        tool = self.tool
        if tool is None:
            return
        if id(code) not in self._local:
            self._codes.append(code)
        self._local[id(code)] = events
        _mon.set_local_events(tool, code, events)

    def _callbacks(self) -> dict[int, Callable[..., Any]]:
        rec = self.rec
        events = self.events
        traced = events.traced
        traces = events.traces
        local = self._local
        enable = self._enable
        pending = self._pending
        handlers = self.handlers
        E = _mon.events
        DISABLE = _mon.DISABLE
        BRANCH = E.BRANCH
        base = E.PY_RESUME | E.PY_RETURN | E.PY_YIELD
        lines_in = events.lines_in

        def user(code: CodeType) -> bool:
            known = traced.get(id(code))
            return traces(code, _getframe(2)) if known is None else known

        def on_start(code: CodeType, offset: int) -> Any:
            try:
                known = traced.get(id(code))
                if known is None:
                    known = traces(code, _getframe(1))
                if not known:
                    return DISABLE
                if id(code) not in local:
                    enable(code, base | E.LINE if lines_in(code) else base)
                events.enter(_getframe(1), False)
            except Exception:
                rec.dropped += 1
            return None

        def on_resume(code: CodeType, offset: int) -> None:
            try:
                events.enter(_getframe(1), True)
            except Exception:
                rec.dropped += 1

        def on_throw(code: CodeType, offset: int, exc: BaseException) -> None:
            try:
                if user(code):
                    events.enter(_getframe(1), True)
            except Exception:
                rec.dropped += 1

        def on_return(code: CodeType, offset: int, value: Any) -> None:
            try:
                events.leave(_getframe(1), value, False)
            except Exception:
                rec.dropped += 1

        def on_yield(code: CodeType, offset: int, value: Any) -> None:
            try:
                events.leave(_getframe(1), value, True)
            except Exception:
                rec.dropped += 1

        def on_line(code: CodeType, line: int) -> None:
            try:
                events.line(_getframe(1), line)
            except Exception:
                rec.dropped += 1

        def on_raise(code: CodeType, offset: int, exc: BaseException) -> None:
            try:
                if user(code) and not events.ends_iteration(exc, code, offset):
                    frame = _getframe(1)
                    pending.pop(id(frame), None)
                    events.raised(frame, exc)
            except Exception:
                rec.dropped += 1

        def on_reraise(code: CodeType, offset: int, exc: BaseException) -> None:
            # The compiler's RERAISEs (end of a finally, no clause matched) pass
            # the exception on; a bare `raise` statement raises it again.
            try:
                if user(code):
                    frame = _getframe(1)
                    pending.pop(id(frame), None)
                    if code.co_code[offset] == RAISE_VARARGS:
                        events.raised(frame, exc)
            except Exception:
                rec.dropped += 1

        def on_handled(code: CodeType, offset: int, exc: BaseException) -> None:
            try:
                if not user(code):
                    return
                found = handlers.get(code)
                entry = found.entries.get(offset)
                if entry is None:
                    return  # finally, with, the compiler's clean-up: nothing caught
                frame = _getframe(1)
                if not events.known(frame):
                    return
                if entry >= 0:
                    events.handled(frame, type(exc), found.catches[entry])
                    return
                pending[id(frame)] = type(exc)
                switched = local.get(id(code), 0)
                if not switched & BRANCH:
                    enable(code, switched | BRANCH)
            except Exception:
                rec.dropped += 1

        def on_branch(code: CodeType, source: int, destination: int) -> Any:
            try:
                found = handlers.get(code)
                jump = found.jumps.get(source)
                if jump is None:
                    return DISABLE
                frame = _getframe(1)
                kind = pending.get(id(frame))
                if kind is None:
                    return None
                miss, catch = jump
                if destination == miss:
                    if miss not in found.catches:
                        return None  # on to the next clause
                    catch = miss  # a bare except: after the typed ones
                del pending[id(frame)]
                events.handled(frame, kind, found.catches[catch])
            except Exception:
                rec.dropped += 1
            return None

        def on_unwind(code: CodeType, offset: int, exc: BaseException) -> None:
            try:
                if user(code):
                    frame = _getframe(1)
                    pending.pop(id(frame), None)
                    events.unwound(frame, type(exc), id(exc))
            except Exception:
                rec.dropped += 1

        fast = events.fast
        if fast is not None:
            # The same callbacks in C: one Python frame fewer per call, return, yield,
            # resume and line. PY_START of code met before with its events on is recorded there;
            # the first meeting and the rest go to on_start above.
            fast.use_start(local, on_start)
            on_start, on_resume, on_return, on_yield = fast.on_start, fast.on_resume, fast.on_return, fast.on_yield
            on_line = fast.on_line
            if UserOnly is not None:
                # Every exception of every code reaches these (they cannot be switched on per
                # code, nor disabled); library code's, most of them, are answered in C.
                on_raise, on_reraise, on_handled, on_unwind, on_throw = (
                    UserOnly(traced, callback) for callback in (on_raise, on_reraise, on_handled, on_unwind, on_throw)
                )
        return {
            E.PY_START: on_start,
            E.PY_RESUME: on_resume,
            E.PY_THROW: on_throw,
            E.PY_RETURN: on_return,
            E.PY_YIELD: on_yield,
            E.LINE: on_line,
            E.RAISE: on_raise,
            E.RERAISE: on_reraise,
            E.EXCEPTION_HANDLED: on_handled,
            E.BRANCH: on_branch,
            E.PY_UNWIND: on_unwind,
        }
