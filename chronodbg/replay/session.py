"""A replay session: a cursor on one event, a focus, and the moves between events.

Like bdb under pdb, this knows nothing of the terminal: every move returns a
`Stop` (where the cursor landed and why) or raises a `ChronoError`; the REPL,
batch mode and any later front end print what they get. The cursor is a
sequence number; the state "at" it is the state after that event happened.

The focus (all, one thread, one task) decides which events `step` and `back`
visit. `continue` and `reverse-continue` visit every event and stop at the
nearest breakpoint hit or watched change, or at either end of the recording
(finding those: replay/stops.py).

A recording with code events (level calls or lines) also has call stacks:
the focus's stack at the cursor (`stack`), a selected frame in it (`up`,
`down`; every move selects the innermost again), and the moves over calls
(`next`, `finish`, `reverse_finish`; replay/codemoves.py). Without code
events all of these behave as they did before there were any.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chronodbg.errors import UsageError
from chronodbg.logfile.reader import Event
from chronodbg.replay import codemoves, stops
from chronodbg.replay.codemoves import CodeTimeline, FrameLocals
from chronodbg.replay.index import Index
from chronodbg.replay.seqs import empty
from chronodbg.replay.stacks import Frame, StackView, task_view, thread_view
from chronodbg.replay.state import State
from chronodbg.replay.stops import Breakpoint, Watch


@dataclass(frozen=True)
class Stop:
    """Where a move left the cursor, and why: `step`, `back`, `goto`, `breakpoint N`, `watch N`, `start`, `end`."""

    seq: int
    reason: str


@dataclass(frozen=True)
class Focus:
    """Whose events `step` and `back` visit: everyone's, one thread's or one task's."""

    kind: str = "all"
    id: int = 0

    def __str__(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind} {self.id}"


_EMPTY = empty()
_TIME = re.compile(r"^([+@-])(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s)?$")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, None: 1_000_000_000}


class Session:
    def __init__(self, index: Index) -> None:
        if not index.events:
            raise UsageError(f"{index.rec.path}: the recording has no events")
        self.index = index
        self.rec = index.rec
        self.cursor = 1
        self.focus = Focus()
        self.history: list[int] = []
        self.breakpoints: dict[int, Breakpoint] = {}
        self.watches: dict[int, Watch] = {}
        self._next_number = 1
        self._state: State | None = None
        #: The state at the focus's event before the cursor, when `state()` passed it (see there).
        self._behind: State | None = None
        #: The selected frame of the focus's stack at the cursor: 0 is the innermost.
        self.frame = 0

    # -- where -------------------------------------------------------------

    @property
    def event(self) -> Event:
        return self.index.event(self.cursor)

    def state(self) -> State:
        """The state after the cursor's event (shared: do not change it; copy it to keep it)."""
        cached, cursor = self._state, self.cursor
        if cached is not None and cached.seq == cursor:
            return cached
        behind = self._behind
        if behind is not None and behind.seq == cursor:
            # A `back`: the state kept on the way here.
            self._state, self._behind = behind, None
            return behind
        index = self.index
        base = (cursor // index.checkpoint_every) * index.checkpoint_every
        if cached is not None and base <= cached.seq < cursor:
            state = cached  # forward from the state we have: cheaper than a checkpoint's copy
        else:
            state = index.state_at(base)
        # On the way, keep a copy of the state at the focus's previous event:
        # stepping back there then costs nothing (one copy now, ~0.2 ms, instead
        # of replaying up to a checkpoint interval of events).
        previous = self._previous(cursor)
        if previous is not None and previous >= state.seq:
            index.advance(state, previous)
            self._behind = state.copy()
        index.advance(state, cursor)
        self._state = state
        return state

    def _previous(self, cursor: int) -> int | None:
        """The event `back` goes to from `cursor` in the focus, if there is one."""
        timeline = self._timeline(self.focus)
        if timeline is None:
            return cursor - 1 if cursor > 1 else None
        i = bisect.bisect_left(timeline, cursor) - 1
        return timeline[i] if i >= 0 else None

    def _timeline(self, focus: Focus) -> Sequence[int] | None:
        """The focus's seqs, sorted; None for all events (seq arithmetic)."""
        timelines: dict[int, Any]
        if focus.kind == "thread":
            timelines = self.index.by_thread
        elif focus.kind == "task":
            timelines = self.index.by_task
        else:
            return None
        timeline: Sequence[int] = timelines.get(focus.id, [])
        return timeline

    def _move(self, seq: int, reason: str) -> Stop:
        if seq != self.cursor:
            self.history.append(self.cursor)
        self.cursor = seq
        self.frame = 0
        return Stop(seq, reason)

    # -- focus ---------------------------------------------------------------

    def set_focus(self, kind: str, ident: int | str | None = None) -> Focus:
        """Focus on `all`, a thread (id or name) or a task (id or name)."""
        self.frame = 0
        if kind == "all":
            self.focus = Focus()
            return self.focus
        if kind == "thread":
            table: dict[int, Any] = self.rec.threads
        elif kind == "task":
            table = self.rec.tasks
        else:
            raise UsageError(f"cannot focus on {kind!r}: use all, thread N or task N")
        found = [i for i, info in table.items() if str(i) == str(ident) or info.name == ident or f"T{i}" == ident]
        if not found:
            raise UsageError(f"no {kind} {ident!r} in this recording")
        self.focus = Focus(kind, found[0])
        return self.focus

    # -- moves ---------------------------------------------------------------

    def step(self, n: int = 1) -> Stop:
        """The n-th next event in the focus; the last one there is, with reason `end`."""
        return self._walk(n, forward=True)

    def back(self, n: int = 1) -> Stop:
        """The n-th previous event in the focus; the first one there is, with reason `start`."""
        return self._walk(n, forward=False)

    def _walk(self, n: int, forward: bool) -> Stop:
        if n < 1:
            raise UsageError("the count must be 1 or more")
        timeline = self._timeline(self.focus)
        if timeline is None:
            target = self.cursor + n if forward else self.cursor - n
            if 1 <= target <= self.index.last:
                return self._move(target, "step" if forward else "back")
            return self._move(self.index.last if forward else 1, "end" if forward else "start")
        if forward:
            i = bisect.bisect_right(timeline, self.cursor) + n - 1
            if i < len(timeline):
                return self._move(timeline[i], "step")
            return self._move(timeline[-1] if timeline else self.cursor, "end")
        i = bisect.bisect_left(timeline, self.cursor) - n
        if i >= 0:
            return self._move(timeline[i], "back")
        return self._move(timeline[0] if timeline else self.cursor, "start")

    def next(self, n: int = 1, forward: bool = True) -> Stop:
        """Step over calls: the n-th next (previous) event of the code focus no deeper than the selected frame.

        The code focus is the thread or task in focus, or the cursor event's
        thread. Without code events there is no call to step over: the n-th
        next (previous) event of the cursor event's thread, whatever the focus.
        """
        if self.index.depths is None:
            saved = self.focus
            self.focus = Focus("thread", self.event.thread)
            try:
                return self._walk(n, forward)
            finally:
                self.focus = saved
        if n < 1:
            raise UsageError("the count must be 1 or more")
        code = self._code_timeline()
        start = seq = self.cursor
        found: int | None = None
        try:
            for count in range(n):
                if count:
                    # The depth is the stack's at each stop (a suspended task shows
                    # the coroutines it waits in, deeper than its own events there).
                    self.cursor, self.frame = seq, 0
                found = codemoves.nearest(code, seq, self._depth(), forward)
                if found is None:
                    break
                seq = found
        finally:
            self.cursor = start
        if found is None:
            timeline = code.timeline
            return self._move(int((timeline[-1] if forward else timeline[0]) if timeline else start), "end" if forward else "start")
        return self._move(seq, "step" if forward else "back")

    # -- stacks (recordings with code events) ------------------------------------

    def code_focus(self) -> Focus:
        """Whose stack the code commands look at: the thread or task in focus, else the cursor event's thread."""
        return self.focus if self.focus.kind != "all" else Focus("thread", self.event.thread)

    def _code_timeline(self, command: str = "this") -> CodeTimeline:
        index, focus = self.index, self.code_focus()
        if index.depths is None or index.task_depths is None:
            raise UsageError(f"{command} needs call events, and this recording has none (record with --level calls or --level lines)")
        timelines = index.by_task if focus.kind == "task" else index.by_thread
        depths = index.task_depths if focus.kind == "task" else index.depths
        return CodeTimeline(timelines.get(focus.id, _EMPTY), depths)

    def stack(self) -> StackView:
        """The code focus's user frames at the cursor, innermost first (empty without code events)."""
        if self.index.depths is None:
            return StackView()
        focus = self.code_focus()
        state = self.state()
        return task_view(state, focus.id) if focus.kind == "task" else thread_view(state, focus.id)

    def _depth(self) -> int:
        """The selected frame's depth in the code focus (0: no frame)."""
        return max(0, len(self.stack().frames) - self.frame)

    def selected(self) -> tuple[StackView, Frame | None]:
        """The stack at the cursor and its selected frame (None when the focus runs no recorded frame)."""
        view = self.stack()
        if not view.frames:
            return view, None
        self.frame = min(self.frame, len(view.frames) - 1)
        return view, view.frames[self.frame]

    def select_frame(self, n: int, outward: bool = True) -> Frame:
        """`up` (outward, toward the outermost frame) or `down` n frames from the selected one."""
        if n < 1:
            raise UsageError("the count must be 1 or more")
        self._code_timeline("up" if outward else "down")
        view, frame = self.selected()
        if frame is None:
            raise UsageError(f"no frame: {self.code_focus()} runs no recorded frame at seq {self.cursor}")
        target = self.frame + n if outward else self.frame - n
        if not 0 <= target < len(view.frames):
            raise UsageError("the outermost frame is selected" if outward else "the innermost frame is selected")
        self.frame = target
        return view.frames[target]

    def finish(self) -> Stop:
        """Run to where the selected frame leaves the stack: its `return`, `unwind`, or a generator's yield."""
        code = self._code_timeline("finish")
        view, frame = self.selected()
        if frame is None:
            raise UsageError(f"finish: {self.code_focus()} runs no recorded frame at seq {self.cursor}")
        if view.leaving and self.frame == 0:
            raise UsageError("finish: the frame leaves at this event already (up selects its caller)")
        found = codemoves.nearest(code, self.cursor, len(view.frames) - self.frame, True, True, self.index.events)
        if found is None:
            return self._move(int(code.timeline[-1]), "end")
        return self._move(found, "finish")

    def reverse_finish(self) -> Stop:
        """Back to where the selected frame was entered (its call, or its latest resume); from there, to its caller."""
        code = self._code_timeline("reverse-finish")
        view, frame = self.selected()
        if frame is None:
            raise UsageError(f"reverse-finish: {self.code_focus()} runs no recorded frame at seq {self.cursor}")
        if frame.seq < self.cursor:
            return self._move(frame.seq, "reverse-finish")
        found = codemoves.nearest(code, self.cursor, len(view.frames) - self.frame - 1, False)
        if found is None:
            return self._move(int(code.timeline[0]) if code.timeline else self.cursor, "start")
        return self._move(found, "reverse-finish")

    def frame_locals(self) -> tuple[Frame, FrameLocals] | None:
        """The selected frame's locals at the cursor; None when there is no frame (then `locals` is what was sampled)."""
        view, frame = self.selected()
        if frame is None:
            return None
        return frame, codemoves.frame_locals(self.index, self._code_timeline(), view, self.frame, self.cursor)

    def goto(self, where: str | int) -> Stop:
        """`goto SEQ`, `first`, `last`, `+1.5s` / `-200ms` (from the cursor's time), `@2.25s` (since the start),
        `cause` / `effect` (along the causal links, see replay.links)."""
        reason = where.strip() if isinstance(where, str) and where.strip() in ("cause", "effect") else "goto"
        return self._move(self.resolve(where), reason)

    def resolve(self, where: str | int) -> int:
        if isinstance(where, int):
            self.index.event(where)
            return where
        text = where.strip()
        if text == "first":
            return 1
        if text == "last":
            return self.index.last
        if text == "cause":
            cause = self.index.links.cause.get(self.cursor)
            if cause is None:
                raise UsageError(f"goto cause: nothing recorded made seq {self.cursor} ({self.event.kind}) possible")
            return cause
        if text == "effect":
            effects = self.index.links.effects.get(self.cursor)
            if not effects:
                raise UsageError(f"goto effect: seq {self.cursor} ({self.event.kind}) made nothing recorded possible")
            return effects[0]
        if text == "deadlock":
            points = self.index.deadlocks
            if not points:
                raise UsageError("goto deadlock: no deadlock in this recording (no cycle of waits, never every thread blocked for good)")
            later = [d.seq for d in points if d.seq > self.cursor]
            return later[0] if later else points[0].seq
        if text.isdigit():
            if not text.isascii() or len(text) > 18:  # int() refuses "²" and 5,000 digits
                raise UsageError(f"goto: no event {text[:24]!r}: the recording has events 1 to {self.index.last}")
            return self.resolve(int(text))
        match = _TIME.match(text)
        if match is None:
            raise UsageError(f"goto: {where!r} is not a seq, first, last, cause, effect, deadlock, +TIME, -TIME or @TIME (e.g. +1.5s, @200ms)")
        sign, number, unit = match.groups()
        ns = round(float(number) * _UNITS[unit])
        now = self.event.t_ns
        if sign == "+":
            # Forward in time: the first event at or after that time.
            i = bisect.bisect_left(self.index.times, now + ns)
            return min(i + 1, self.index.last)
        # A time since the start, or back in time: the state then, i.e. the last event at or before it.
        return self.index.seq_at_time(ns if sign == "@" else now - ns)

    def undo(self) -> Stop:
        """Back to where the cursor was before the last move."""
        if not self.history:
            raise UsageError("nothing to undo")
        self.cursor = self.history.pop()
        self.frame = 0
        return Stop(self.cursor, "undo")

    # -- breakpoints and watches ----------------------------------------------

    def add_breakpoint(self, text: str, temporary: bool = False) -> Breakpoint:
        from chronodbg.replay.predicates import parse_breakpoint

        entries = self.index.entry_sites() if self.index.depths is not None else None
        predicate = parse_breakpoint(self.rec, text, entries)
        bp = Breakpoint(self._number(), text.strip(), predicate, temporary, candidates=stops.candidates(self.index, predicate))
        self.breakpoints[bp.number] = bp
        return bp

    def _number(self) -> int:
        number = self._next_number
        self._next_number += 1
        return number

    def _breakpoint(self, number: int) -> Breakpoint:
        bp = self.breakpoints.get(number)
        if bp is None:
            raise UsageError(f"no breakpoint {number}")
        return bp

    def delete(self, number: int) -> None:
        if number in self.watches:
            del self.watches[number]
            return
        self._breakpoint(number)
        del self.breakpoints[number]

    def enable(self, number: int, enabled: bool = True) -> None:
        self._breakpoint(number).enabled = enabled

    def watch_local(self, name: str) -> Watch:
        """Stop where local `name` of the focus (or the cursor's thread) takes a new value.

        With line events: wherever a line or a call binds, rebinds or unbinds
        it in any frame of the focus. Otherwise: wherever the locals sampled
        at the focus's events show it with another value than the previous
        sample did.
        """
        focus = self.code_focus()
        timeline = self._timeline(focus) or []
        if self.index.code_level == "lines":
            changes, seen = codemoves.local_changes(self.index, timeline, name)
        else:
            changes, seen = stops.sampled_changes(self.index, timeline, name)
        if not seen:
            raise UsageError(f"watch: {focus} never has a local named {name!r}")
        watch = Watch(self._number(), f"{name} in {focus}", changes)
        self.watches[watch.number] = watch
        return watch

    def watch_object(self, label: str) -> Watch:
        """Stop where an object's observable state changes: a lock's owner, a queue's size, an event's flag, …"""
        found = [o for o in self.rec.objects.values() if o.label == label or str(o.id) == label]
        if not found:
            raise UsageError(f"watch: no object {label!r} in this recording")
        info = found[0]
        watch = Watch(self._number(), f"obj {info.label}", stops.object_changes(self.index, info.id))
        self.watches[watch.number] = watch
        return watch

    def cont(self, forward: bool = True) -> Stop:
        """Run to the nearest breakpoint hit or watched change; `end` / `start` if there is none."""
        index = self.index
        # The nearest watched change settles how far the scan for breakpoints must go.
        limit, reason = (index.last + 1, "end") if forward else (0, "start")
        for watch in self.watches.values():
            if forward:
                i = bisect.bisect_right(watch.changes, self.cursor)
                if i < len(watch.changes) and watch.changes[i] < limit:
                    limit, reason = watch.changes[i], f"watch {watch.number}"
            else:
                i = bisect.bisect_left(watch.changes, self.cursor) - 1
                if i >= 0 and watch.changes[i] > limit:
                    limit, reason = watch.changes[i], f"watch {watch.number}"
        hit, hit_by = limit, list[Breakpoint]()
        for bp in self.breakpoints.values():
            if bp.enabled:
                seq = stops.first_hit(self.index, bp, self.cursor, forward, hit)
                if seq is not None:
                    if seq != hit:
                        hit, hit_by = seq, []
                    hit_by.append(bp)
        if hit_by:
            for bp in hit_by:
                bp.hits += 1
                if bp.temporary:
                    del self.breakpoints[bp.number]
            return self._move(hit, f"breakpoint {hit_by[0].number}")
        if reason in ("end", "start"):
            return self._move(index.last if forward else 1, reason)
        return self._move(limit, reason)

    # -- what is there ----------------------------------------------------------

    def locals(self) -> tuple[Event | None, Focus]:
        """The latest sampled locals of the focus at or before the cursor (the event that holds them)."""
        focus = self.code_focus()
        timeline = self._timeline(focus)
        if not timeline:
            return None, focus
        return self.index.locals_at(timeline, self.cursor), focus

    def output(self) -> str:
        return self.index.output_until(self.cursor)
