"""Moves and questions over code-level events: next, finish, a frame's locals, watches line by line.

The index gives every event its stack depth (in its thread and in its task),
so stepping over a call is a walk along the focus's timeline to the next
event no deeper than the selected frame, and finishing a frame is a walk to
the next `return` or `unwind` no deeper than it: integer comparisons, no
state rebuilt on the way. Only breakpoint conditions over a code event's
locals need states, and `FrameScope` moves one private state along the scan
for them.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chronodbg.replay.index import Index
from chronodbg.replay.seqs import Timeline
from chronodbg.replay.stacks import CODE_KINDS, LEAVING_KINDS, StackView, event_frame, is_unbound
from chronodbg.replay.state import State
from chronodbg.values import Summary


@dataclass(frozen=True)
class CodeTimeline:
    """The events a code move walks (one thread's or one task's) and their depths there."""

    timeline: Timeline
    depths: array[int]


def nearest(
    code: CodeTimeline, cursor: int, depth: int, forward: bool, leaving_only: bool = False, events: Any = None
) -> int | None:
    """The first seq of the timeline after (before) `cursor` at `depth` or shallower; None if there is none.

    `leaving_only`: only a `return` or `unwind` (what `finish` looks for; `events` is the index's event list).
    """
    timeline, depths = code.timeline, code.depths
    if forward:
        seqs: Iterable[int] = timeline.islice(timeline.bisect_right(cursor), None)
    else:
        seqs = timeline.islice(0, timeline.bisect_left(cursor), reverse=True)
    for seq in seqs:
        if depths[seq - 1] <= depth and (not leaving_only or events[seq - 1].kind in LEAVING_KINDS):
            return int(seq)
    return None


@dataclass(frozen=True)
class FrameLocals:
    """A frame's locals and where they come from."""

    values: tuple[tuple[str, Summary], ...]
    #: "rebuilt" (its arguments, then every line's changes: level lines),
    #: "sampled" (the locals snapshot of an event in it, at `seq`: level calls),
    #: "args" (its arguments as called: level calls, nothing sampled in it since).
    source: str
    seq: int | None = None


def frame_locals(index: Index, code: CodeTimeline, view: StackView, selected: int, cursor: int) -> FrameLocals:
    """The locals of frame `selected` of `view` at `cursor`.

    With line events the rebuilt locals are exact as each line starts. At
    level calls only the arguments are rebuilt, so the latest snapshot a
    sync event sampled in this very activation (same depth, since it was
    entered) is newer when there is one.
    """
    frame = view.frames[selected]
    if index.code_level == "lines":
        return FrameLocals(tuple(frame.locals.items()), "rebuilt")
    depth = len(view.frames) - selected
    timeline, depths, events = code.timeline, code.depths, index.events
    for seq in timeline.islice(0, timeline.bisect_right(cursor), reverse=True):
        if seq < frame.seq:
            break
        event = events[seq - 1]
        if depths[seq - 1] == depth and event.kind not in CODE_KINDS and event.locals is not None:
            return FrameLocals(tuple(event.locals), "sampled", int(seq))
    return FrameLocals(tuple(frame.locals.items()), "args", frame.seq)


def local_changes(index: Index, timeline: Iterable[int], name: str) -> tuple[list[int], bool]:
    """Where local `name` changes, line by line: (seqs, whether the name is ever bound).

    A change is a `line` whose `changed` has the name (a new value, or
    unbound) or a `call` that binds it as an argument: in any frame of the
    timeline, each frame's own value compared with its own previous one.
    """
    fields = index.rec.fields
    changed_at = _position(fields.get("line", ()), "changed")
    args_at = _position(fields.get("call", ()), "args")
    events = index.events
    changes: list[int] = []
    seen = False
    for seq in timeline:
        event = events[seq - 1]
        kind = event.kind
        if kind == "line":
            pairs = _field(event.data, changed_at)
        elif kind == "call":
            pairs = _field(event.data, args_at)
        else:
            continue
        if not isinstance(pairs, tuple):
            continue
        for pair in pairs:
            if isinstance(pair, tuple) and len(pair) == 2 and pair[0] == name:
                changes.append(seq)
                seen = seen or not is_unbound(pair[1])
                break
    return changes, seen


def _position(names: tuple[str, ...], name: str) -> int | None:
    return names.index(name) if name in names else None


def _field(data: tuple[Any, ...], position: int | None) -> Any:
    return data[position] if position is not None and position < len(data) else None


class FrameScope:
    """The locals of each code event's frame at that event, for breakpoint conditions.

    Called with events in ascending seq order (a forward scan, or a backward
    scan one checkpoint block at a time), it moves one private state forward
    event by event, and jumps from a checkpoint only when the next event is
    further than a checkpoint interval ahead or behind.
    """

    def __init__(self, index: Index) -> None:
        self.index = index
        self.state: State | None = None

    def __call__(self, event: Any) -> Mapping[str, Summary] | None:
        if event.kind not in CODE_KINDS:
            return None  # a sync event has its own sampled locals
        frame = event_frame(self._at(event.seq), event)
        return frame.locals if frame is not None else None

    def _at(self, seq: int) -> State:
        index, state = self.index, self.state
        if state is None or seq < state.seq or seq - state.seq > index.checkpoint_every:
            state = self.state = index.state_at(seq)
            return state
        index.advance(state, seq)
        return state
