"""The code-level events (call, return, raise, unwind, handled, line), whichever tracer saw them.

Both tracers (tracer_monitoring, tracer_settrace) call this with the user
frame concerned; it numbers frames, keeps what `line` events compare
against, and writes the events. The tracers differ in what CPython tells
them; this module holds what they must agree on:

- A frame gets an id the first time it starts (a generator or coroutine
  keeps it across resumes) and loses it when it returns or unwinds. A frame
  already running when recording began never gets one and produces nothing;
  what it calls does. One exception: a generator started before recording
  gets an id at its first resume.
- An exception is `raise`d once, in the frame where it is raised; arriving
  in a caller as it propagates is not a raise (the callee's `unwind` says
  it). The tracers report every arrival; `raised` tells them apart.
- `line` is written when a frame moves to a different line than the one it
  last reported (settrace also fires on a backward jump within one line).
- `changed` holds the locals whose summaries differ from the frame's last
  snapshot (the call's arguments, then each line's), ("unbound",) for a
  name no longer bound. Values are compared by summary (never with the
  program's `==`), an unchanged immutable or plain object by identity.

Per event this allocates the event's tuples and little else: the recorder's
allocations move the program's garbage collections.
"""

from __future__ import annotations

import _thread
import fnmatch
import itertools
import os
from collections.abc import Callable
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

from chronodbg import values as V
from chronodbg.kinds import Kind
from chronodbg.recorder.core import Recorder
from chronodbg.recorder.excepts import ITERATION_ENDS
from chronodbg.recorder.snapshot import _HIDDEN_GLOBALS, _IMMUTABLE, _REDACTED, Sampler, empty_cached_locals

# Kind's members as module constants: on 3.11 each `Kind.X` goes through EnumType.__getattr__ (about 190 ns).
CALL = Kind.CALL
HANDLED = Kind.HANDLED
LINE = Kind.LINE
RAISE = Kind.RAISE
RETURN = Kind.RETURN
UNWIND = Kind.UNWIND

if TYPE_CHECKING:
    from chronodbg.recorder._sampler import FrameTable as FrameTableType

FrameEvents: Any
FrameTable: Any
try:
    from chronodbg.recorder._sampler import FrameEvents, FrameTable
except ImportError:  # no C: the Python methods
    FrameEvents = FrameTable = None

# Plain ints, not the enum: an event tuple holding only ints, strings and
# such tuples is untracked by the garbage collector at its first collection;
# one holding an enum member stays tracked (and gets scanned) until written.
_CALL, _RETURN, _RAISE, _UNWIND, _HANDLED, _LINE = map(int, (CALL, RETURN, RAISE, UNWIND, HANDLED, LINE))
_UNBOUND = (V.TAG_UNBOUND,)
_NOTHING = ()
_NOT_HELD: Any = object()
_args_of = BaseException.__dict__["args"].__get__
#: co_flags bits: *args, **kwargs.
_VARARGS, _VARKEYWORDS = 0x04, 0x08


def _parameters(code: CodeType) -> tuple[str, ...]:
    flags = code.co_flags
    count = code.co_argcount + code.co_kwonlyargcount + bool(flags & _VARARGS) + bool(flags & _VARKEYWORDS)
    return tuple(code.co_varnames[:count])


class CodeEvents:
    def __init__(self, rec: Recorder, level: str) -> None:
        self.rec = rec
        #: Every user frame records lines (level lines); else only those whose
        #: file matches a `--lines` glob (see lines_in).
        self.lines = level == "lines"
        self._line_globs = tuple(rec.options.lines) if level == "calls" else ()
        self._lines_in: dict[int, bool] = {}
        self.emit = rec.emit_code
        self.summariser = rec.summariser
        self._frame_counter = itertools.count(1)
        self._next_frame = self._frame_counter.__next__
        #: id(frame) -> [frame id, last line, {name: (held value, type, id, summary)}]
        #: for each frame that started and has not ended. Where the C tracers run, a
        #: FrameTable (_frame_table.c): the same records, kept by the frame's address.
        self.frames: dict[int, list[Any]] | FrameTableType = {}
        #: thread ident -> (id of the exception, id of the user frame it is
        #: propagating into) after a user frame unwound.
        self.unwinding: dict[int, tuple[int, int]] = {}
        #: id(code) -> whether its frames make events (see traces).
        self.traced: dict[int, bool] = {}
        #: id(code) -> the names of its parameters.
        self._parameters: dict[int, tuple[str, ...]] = {}
        self._get_ident = _thread.get_ident
        #: `enter(frame, resumed)` and `leave(frame, value, yielded)`: the C
        #: ones where the sampler is C (the same steps on the same dicts).
        self.enter: Callable[[FrameType, bool], None] = self.python_enter
        self.leave: Callable[[FrameType, Any, bool], None] = self.python_leave
        #: `line(frame, line)`: likewise.
        self.line: Callable[[FrameType, int], None] = self.python_line
        #: The C object, whose sys.monitoring callbacks tracer_monitoring registers as they are.
        self.fast: Any = None
        sampler = self.summariser.frame_locals
        if FrameEvents is not None and type(sampler) is Sampler:
            self.frames = FrameTable()
            self.fast = FrameEvents(
                self, sampler, _parameters, _CALL, _RETURN, _NOTHING, _LINE, _UNBOUND, _HIDDEN_GLOBALS
            )
            self.enter, self.leave, self.line = self.fast.enter, self.fast.leave, self.fast.line

    # -- frames --------------------------------------------------------------

    def traces(self, code: CodeType, frame: FrameType) -> bool:
        """Whether frames of `code` (`frame` being one) make events; decided once per code object.

        User code, as for every event; but code compiled from a string
        (`<string>`) only when user code is what runs it first: the standard
        library generates `<string>` functions for its own namedtuples,
        dataclasses and enums, which would otherwise show up as the user's.
        """
        known = self.traced.get(id(code))
        if known is None:
            user = self.rec.user
            known = user.code_is_user(code)
            if known and code.co_filename.startswith("<"):
                caller = frame.f_back
                known = caller is not None and user.code_is_user(caller.f_code)
            self.traced[id(code)] = known
        return known

    def lines_in(self, code: CodeType) -> bool:
        """Whether frames of `code` record line events (decided once per code object)."""
        if self.lines:
            return True
        if not self._line_globs:
            return False
        known = self._lines_in.get(id(code))
        if known is None:
            filename = code.co_filename
            path = os.path.abspath(filename)
            known = self._lines_in[id(code)] = any(
                fnmatch.fnmatch(path, glob) or fnmatch.fnmatch(filename, glob) for glob in self._line_globs
            )
        return known

    def python_enter(self, frame: FrameType, resumed: bool) -> None:
        code = frame.f_code
        if resumed:
            record = self.frames.get(id(frame))
            if record is None:
                record = self.frames[id(frame)] = [self._next_frame(), None, {} if self.lines_in(code) else None]
            self.emit(_CALL, (record[0], "resume", None), code, frame.f_lineno or code.co_firstlineno)
            return
        fid = self._next_frame()
        known: dict[str, Any] | None = {} if self.lines_in(code) else None
        self.frames[id(frame)] = [fid, None, known]
        names = self._parameters.get(id(code))
        if names is None:
            names = self._parameters[id(code)] = _parameters(code)
        # The line a function starts at is its first (its first decorator's, if any).
        self.emit(_CALL, (fid, "call", self._arguments(frame, names, known) if names else _NOTHING), code, code.co_firstlineno)

    def python_leave(self, frame: FrameType, value: Any, yielded: bool) -> None:
        key = id(frame)
        record = self.frames.get(key) if yielded else self.frames.pop(key, None)
        if record is None:
            return
        code = frame.f_code
        self.emit(
            _RETURN,
            (record[0], "yield" if yielded else "return", self.summariser.safe_value(value)),
            code,
            frame.f_lineno or code.co_firstlineno,
        )

    # -- exceptions ------------------------------------------------------------

    @staticmethod
    def ends_iteration(exc: BaseException, code: CodeType, offset: int) -> bool:
        """Whether `exc` is the StopIteration with which a `for`, `yield from` or `await` meets its end.

        CPython reports some of those as raised (sys.monitoring when an await
        ends on a future, settrace at every await and some loops): they are
        not the program raising anything.
        """
        return type(exc) is StopIteration and code.co_code[offset] in ITERATION_ENDS

    def raised(self, frame: FrameType, exc: BaseException) -> None:
        """An exception is raised in `frame`, or arrives there from a callee that unwound."""
        came = self.unwinding.pop(self._get_ident(), None)
        record = self.frames.get(id(frame))
        if record is None or (came is not None and came[0] == id(exc) and came[1] == id(frame)):
            return
        self.raise_event(frame, record[0], type(exc), self.summariser.safe_value(_args_of(exc)))

    def raise_event(self, frame: FrameType, fid: int, kind: type, args: Any) -> None:
        code = frame.f_code
        self.emit(_RAISE, (fid, self.summariser.type_name(kind), args), code, frame.f_lineno or code.co_firstlineno)

    def unwound(self, frame: FrameType, kind: type | None, exc_id: int) -> None:
        """`frame` exits by an exception of type `kind` (whose id() is `exc_id`; None: not known)."""
        record = self.frames.pop(id(frame), None)
        if record is None:
            return
        caller = self.rec.user_frame(frame.f_back)
        self.unwinding[self._get_ident()] = (exc_id, id(caller) if caller is not None else 0)
        code = frame.f_code
        name = self.summariser.type_name(kind) if kind is not None else "?"
        self.emit(_UNWIND, (record[0], name), code, frame.f_lineno or code.co_firstlineno)

    def handled(self, frame: FrameType, kind: type, line: int) -> None:
        """An except clause at `line` of `frame` caught an exception of type `kind`."""
        record = self.frames.get(id(frame))
        if record is not None:
            self.emit(_HANDLED, (record[0], self.summariser.type_name(kind)), frame.f_code, line)

    def known(self, frame: FrameType) -> bool:
        return id(frame) in self.frames

    # -- lines -----------------------------------------------------------------

    def python_line(self, frame: FrameType, line: int) -> None:
        record = self.frames.get(id(frame))
        if record is None or record[1] == line:
            return
        record[1] = line
        self.emit(_LINE, (record[0], self._changed(frame, record[2])), frame.f_code, line)

    def _arguments(self, frame: FrameType, names: tuple[str, ...], known: dict[str, Any] | None) -> tuple[tuple[str, Any], ...]:
        """The frame's arguments as (name, summary) pairs; at level lines also its first snapshot."""
        summariser = self.summariser
        secret = summariser._secret
        try:
            local = frame.f_locals
            pairs = []
            for name in names:
                if name in local:
                    value = local[name]
                    is_secret = secret.get(name)
                    if is_secret is None:
                        is_secret = summariser.is_secret(name)
                    summary = _REDACTED if is_secret else summariser.safe_value(value)
                    if known is not None:
                        known[name] = (value if summary is value else _NOT_HELD, type(value), id(value), summary)
                    pairs.append((name, summary))
            empty_cached_locals(frame.f_code, local, False)
            return tuple(pairs)
        except Exception as exc:
            return (("<locals>", (V.TAG_ERROR, type(exc).__name__)),)

    def _changed(self, frame: FrameType, known: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
        summariser = self.summariser
        try:
            items = list(frame.f_locals.items())
        except Exception as exc:
            return (("<locals>", (V.TAG_ERROR, type(exc).__name__)),)
        module_level = frame.f_code.co_name == "<module>"
        plain = summariser._plain_objects
        limit = summariser.max_names
        changed: list[tuple[str, Any]] | None = None
        seen = 0
        for name, value in items:
            if seen >= limit:
                break
            if type(name) is not str:
                continue
            cls = type(value)
            try:
                if module_level and (name.startswith("__") or cls in _HIDDEN_GLOBALS):
                    continue
                entry = known.get(name)
                # Hashing cls runs a metaclass __hash__, which may raise: then it is summarised (as unreadable) anew.
                same = entry is not None and (
                    entry[0] is value or (entry[1] is cls and entry[2] == id(value) and cls in plain and not summariser.use_repr)
                )
            except Exception:
                entry, same = known.get(name), False
            seen += 1
            if same:
                continue
            if summariser.is_secret(name):
                summary: Any = _REDACTED
            else:
                summary = summariser.safe_value(value)
            held = value if summary is value and cls in _IMMUTABLE else _NOT_HELD
            if entry is not None and entry[1] is cls and (entry[3] is summary or entry[3] == summary):
                known[name] = (held, cls, id(value), entry[3])
                continue
            known[name] = (held, cls, id(value), summary)
            if changed is None:
                changed = []
            changed.append((name, summary))
        if len(known) > seen:
            present = {name for name, _ in items}
            for name in [name for name in known if name not in present]:
                del known[name]
                if changed is None:
                    changed = []
                changed.append((name, _UNBOUND))
        return tuple(changed) if changed is not None else _NOTHING
