"""The settrace tracer (Python 3.11, or CHRONODBG_TRACER=settrace): code events from sys.settrace.

Installed in the thread that starts recording and, through the patched
`Thread._bootstrap_inner`, first thing in every thread started afterwards
with `threading`; threads already running and `_thread` threads are not
traced. The global trace function sees every call; for user code it returns
the local one (with `f_trace_lines` off at level calls), for the rest None
(with `f_trace_lines` off: no line event would find a function to call).

What settrace reports is normalised to what sys.monitoring reports:

- 'call' is a start or a resume: a generator's frame is starting when it
  stands on its first RESUME instruction (operand 0).
- 'exception' fires in every frame the exception passes through: the first
  is the raise, the others arrive from a callee (recorder.code_events).
- 'return' is a return, a yield (the frame stands on YIELD_VALUE, or on
  3.13 on the RESUME after it) or an unwind (an exception is in flight in
  the frame and it did not stop at a return); its value is None then.
- `handled`: settrace has no such event. When an exception reaches a frame
  whose code has except clauses covering the raising instruction, the frame
  is stepped opcode by opcode (`f_trace_opcodes`) until an except clause's
  body starts (handled), handling ends without one (a `with` that
  suppressed it), or the frame exits. On 3.12 setting `f_trace_opcodes`
  from a trace function takes effect only at the next sys.settrace, and
  then for every frame of the process: there the frame's line events are
  used instead, so an except clause whose whole body sits on its `except`
  line is not reported.
- A bare `raise` fires no 'exception': it is reported when it unwinds the frame.

On 3.11 with the C sampler, a C trace function (SettraceHook, in
_settrace_hook.c) is installed with PyEval_SetTrace in place of
global_trace: it does the calls of code already judged, and the returns
and lines of user frames with no exception in flight, itself, and passes
the rest to these Python functions. Unlike sys.settrace's trampoline it
does not copy every frame's variables into its locals dict around each
event, and library code costs no Python call.

The program's own use of sys.settrace wins, as it would unrecorded:
`sys.gettrace()` returns what the program installed (None when it
installed nothing); `sys.settrace(f)` installs `f` in place of chronodbg's
in that thread, whose new frames are then not recorded; `sys.settrace(None)`
puts chronodbg's back. Installing one also turns `f_trace_lines` back on in
the frames of every thread that chronodbg does not trace (lines_back_on),
as CPython leaves it: the program's trace function may trace frames already
running (`bdb.set_trace` sets their `f_trace` first), and expects their
lines. A frame chronodbg traces keeps `f_trace_lines` off at level calls,
so one whose `f_trace` the program sets only after its own sys.settrace
reports no lines to it there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from chronodbg.recorder.code_events import CodeEvents
from chronodbg.recorder.core import Recorder
from chronodbg.recorder.excepts import (
    ITERATION_ENDS,
    POP_EXCEPT,
    RAISE_VARARGS,
    RERAISE,
    RESUME,
    RETURNS,
    YIELD_VALUE,
    HandlerIndex,
)
from chronodbg.recorder.patching import Patches

SettraceHook: Any
try:
    from chronodbg.recorder._sampler import SettraceHook
except ImportError:  # no C, or a Python that has none (3.12+)
    SettraceHook = None

TraceFunction = Callable[[FrameType, str, Any], Any]


def lines_back_on(ours: TraceFunction) -> None:
    """The frames of every thread that chronodbg does not trace trace their lines again, as CPython makes them.

    A frame whose f_trace is `ours` keeps its setting: CPython goes on
    calling chronodbg's function there, under the program's trace
    function, and a line event would make the trampoline copy the frame's
    variables into its locals dict, where a deleted one would stay alive.
    """
    for top in sys._current_frames().values():
        frame: FrameType | None = top
        while frame is not None:
            if frame.f_trace is not ours:
                frame.f_trace_lines = True
            frame = frame.f_back

#: co_flags of generator, coroutine and async generator code.
_SUSPENDABLE = 0x20 | 0x80 | 0x100 | 0x200
#: Where a 'return' event is a yield (3.13 reports the RESUME after the YIELD_VALUE).
_YIELDS = frozenset({YIELD_VALUE, RESUME})
#: How many opcodes of one frame are stepped looking for the except clause that catches.
STEP_LIMIT = 10_000
#: 3.12 enables opcode events only globally (see above).
OPCODE_STEPPING = sys.version_info[:2] != (3, 12)


class SettraceTracer:
    name = "settrace"

    def __init__(self, rec: Recorder, level: str) -> None:
        self.rec = rec
        self.events = CodeEvents(rec, level)
        self.handlers = HandlerIndex()
        self.running = False
        self.patches = Patches()
        #: id(frame) -> [exception type, id(exception), f_lasti where it arrived,
        #: opcodes stepped, caught, summary of its args] while one is in flight
        #: in that frame (and after it was caught there, for a bare `raise`).
        self.flight: dict[int, list[Any]] = {}
        self._settrace = sys.settrace
        self._gettrace = sys.gettrace
        self._global, self._local = self._trace_functions()
        #: The C trace function, or None: then sys.settrace(global_trace).
        self.hook: Any = self._make_hook()
        #: What sys.gettrace() returns in a thread we trace.
        self._ours: Any = self.hook if self.hook is not None else self._global

    def _make_hook(self) -> Any:
        if SettraceHook is None or self.events.fast is None:
            return None
        try:
            return SettraceHook(
                self.events.fast, self._global, self._local, self.flight, RETURNS, _YIELDS, ITERATION_ENDS, RESUME
            )
        except RuntimeError:  # frame objects laid out otherwise than it was built for
            return None

    def _trace_here(self) -> None:
        if self.hook is not None:
            self.hook.install()
        else:
            self._settrace(self._global)

    def start(self) -> None:
        self.running = True
        if self.hook is not None:
            self.hook.start()
        real_settrace, real_gettrace, ours, local_trace = self._settrace, self._gettrace, self._ours, self._local

        def settrace(function: Any) -> None:
            if function is None and self.running:
                self._trace_here()
            else:
                if function is not None:
                    lines_back_on(local_trace)
                real_settrace(function)

        def gettrace() -> Any:
            current = real_gettrace()
            return None if current is ours else current

        for name, function in (("settrace", settrace), ("gettrace", gettrace)):
            original = getattr(sys, name)
            function.__doc__, function.__name__, function.__qualname__ = original.__doc__, name, name
            self.patches.set(sys, name, function)
        self.rec.thread_started = self.install
        self.install()

    def install(self) -> None:
        """Trace the calling thread, unless the program traces it itself."""
        if self.running and self._gettrace() is None:
            self._trace_here()

    def stop(self) -> None:
        """Other threads drop the trace function at their next event."""
        self.running = False
        if self.hook is not None:
            self.hook.stop()
        self.rec.thread_started = None
        if self._gettrace() is self._ours:
            self._settrace(None)
        self.patches.restore()

    def _trace_functions(self) -> tuple[TraceFunction, TraceFunction]:
        rec = self.rec
        events = self.events
        lines_in = events.lines_in
        traced = events.traced
        traces = events.traces
        handlers = self.handlers
        flight = self.flight
        real_settrace = self._settrace
        tracer = self
        args_of = BaseException.__dict__["args"].__get__

        def global_trace(frame: FrameType, event: str, arg: Any) -> Any:
            try:
                if not tracer.running:
                    real_settrace(None)
                    return None
                code = frame.f_code
                known = traced.get(id(code))
                if known is None:
                    known = traces(code, frame)
                if not known:
                    # No line events for it either (see lines_back_on).
                    frame.f_trace_lines = False
                    return None
                resumed = False
                if code.co_flags & _SUSPENDABLE:
                    raw, lasti = code.co_code, frame.f_lasti
                    resumed = lasti >= 0 and not (raw[lasti] == RESUME and (raw[lasti + 1] & 3) == 0)
                frame.f_trace_lines = lines_in(code)
                events.enter(frame, resumed)
                return local_trace
            except Exception:
                rec.dropped += 1
                return None

        def local_trace(frame: FrameType, event: str, arg: Any) -> Any:
            try:
                if not tracer.running:
                    frame.f_trace = None
                    return None
                if event == "line":
                    if flight:
                        # Before the line: it may be the first of an except clause's body.
                        stepped(frame, OPCODE_STEPPING)
                    if lines_in(frame.f_code):
                        events.line(frame, frame.f_lineno)
                elif event == "opcode":
                    stepped(frame, True)
                elif event == "return":
                    returned(frame, arg)
                elif event == "exception":
                    arrived(frame, arg[1])
            except Exception:
                rec.dropped += 1
            return local_trace

        def arrived(frame: FrameType, exc: Any) -> None:
            code = frame.f_code
            lasti = frame.f_lasti
            if not isinstance(exc, BaseException) or events.ends_iteration(exc, code, lasti):
                return
            events.raised(frame, exc)
            found = handlers.get(code)
            if not (found.catches and found.covered(lasti)):
                flight[id(frame)] = [type(exc), id(exc), lasti, 0, False, None]
                return
            args = rec.summariser.safe_value(args_of(exc))
            flight[id(frame)] = [type(exc), id(exc), lasti, 0, False, args]
            if OPCODE_STEPPING:
                frame.f_trace_opcodes = True
            else:
                frame.f_trace_lines = True

        def stepped(frame: FrameType, opcode: bool) -> None:
            """An opcode (or a line) of a frame with an exception in flight: has an except clause caught it?"""
            state = flight.get(id(frame))
            if state is None or state[4]:
                if opcode:
                    frame.f_trace_opcodes = False
                return
            code = frame.f_code
            found = handlers.get(code)
            lasti = frame.f_lasti
            line = found.catches.get(lasti) if opcode else found.catch_at(lasti)
            if line is not None:
                state[4] = True
                stop_stepping(frame)
                events.handled(frame, state[0], line)
                return
            if opcode:
                raw = code.co_code
                if raw[lasti] == POP_EXCEPT and raw[lasti + 2] != RERAISE:
                    # Handling ended without an except clause: a `with` swallowed it.
                    del flight[id(frame)]
                    frame.f_trace_opcodes = False
                    return
                state[3] += 1
                if state[3] > STEP_LIMIT:
                    frame.f_trace_opcodes = False

        def stop_stepping(frame: FrameType) -> None:
            if OPCODE_STEPPING:
                frame.f_trace_opcodes = False
            elif not lines_in(frame.f_code):
                frame.f_trace_lines = False

        def returned(frame: FrameType, value: Any) -> None:
            state = flight.pop(id(frame), None) if flight else None
            code = frame.f_code
            lasti = frame.f_lasti
            raw = code.co_code
            op = raw[lasti] if lasti >= 0 else RESUME
            if op in RETURNS:
                events.leave(frame, value, False)
            elif state is None:
                if op in _YIELDS:
                    events.leave(frame, value, True)
                else:
                    events.unwound(frame, None, 0)  # an exception this frame never saw arrive
            elif state[4]:
                if op in _YIELDS:
                    flight[id(frame)] = state  # still caught when it resumes: a bare `raise` may follow
                    events.leave(frame, value, True)
                else:
                    fid = events.frames.get(id(frame))
                    if op == RAISE_VARARGS and raw[lasti + 1] == 0 and fid is not None:
                        events.raise_event(frame, fid[0], state[0], state[5])  # a bare `raise`
                    events.unwound(frame, state[0], state[1])
            elif lasti == state[2] or op not in _YIELDS:
                events.unwound(frame, state[0], state[1])
            else:
                events.leave(frame, value, True)

        return global_trace, local_trace
