"""Call stacks rebuilt from code-level events (`record --level calls|lines`).

A recording made at level calls or lines has, per thread, a `call` where a
user frame starts or a generator / coroutine frame resumes, and a `return`
or `unwind` where it leaves; at level lines also a `line` before each line,
with the locals that changed since the frame's previous snapshot. These nest
exactly per thread, so replay rebuilds each thread's stack of user frames,
with each frame's current line and locals, as part of the `State`:
checkpoints carry it, and `goto` anywhere gets it the way it gets the rest.

A generator or coroutine frame that yields (`return how=yield`) leaves the
stack but is kept, locals and all, in `State.suspended` until it resumes
(`call how=resume`) or ends. A task's frames are the frames of its thread's
stack pushed while the task ran; when the task suspends, the chain of
coroutines that yielded to suspend it is kept as its `parked` stack, so a
suspended task still has a stack to show.

Recordings can be cut short, start inside a running frame (a recorder
attached to a thread already running) or be crafted, so nothing here trusts
the nesting: a `line` for a frame that is not on top pushes it (or pops what
lies above it), a `return` for a frame deeper in the stack pops what lies
above it too, and one for a frame nobody saw changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from chronodbg.logfile.reader import Event, Recording
from chronodbg.values import TAG_UNBOUND, Summary

if TYPE_CHECKING:
    from chronodbg.replay.state import State

CODE_KINDS: Final = frozenset({"call", "return", "raise", "unwind", "handled", "line"})
#: The kinds that take a frame off its thread's stack.
LEAVING_KINDS: Final = frozenset({"return", "unwind"})


@dataclass(slots=True)
class Frame:
    """One activation of a user frame, as the events tell it."""

    #: The recording's frame id (a generator keeps its id across resumes).
    id: int
    #: The asyncio task that ran when this activation started (None outside tasks).
    task: int | None
    #: The seq of its `call how=call` (of the first event seen of it, if the call was not recorded).
    call_seq: int
    #: The seq of the event that put it on the stack this time: its call, or its latest resume.
    seq: int
    #: Where it is: its `def` line at the call, then each line it runs (or a sync event's line in it).
    site: int | None
    #: Its locals as summaries: the call's arguments, then every line's changes.
    locals: dict[str, Summary]
    #: Its depth among the running frames of its task (1: the task's outermost), what a task focus counts.
    tdepth: int = 1

    def __deepcopy__(self, memo: dict[int, Any]) -> Frame:
        # Checkpoints deep-copy the state; summaries are immutable (the reader
        # makes tuples and scalars), so copying the dict is a deep copy, and
        # far cheaper than deepcopy walking every summary.
        copied = Frame(self.id, self.task, self.call_seq, self.seq, self.site, dict(self.locals), self.tdepth)
        memo[id(self)] = copied
        return copied


@dataclass(slots=True)
class Stack:
    """One thread's user frames, outermost first."""

    frames: list[Frame] = field(default_factory=list)
    #: The frame the thread's latest event took off the stack (a return, an
    #: unwind, a yield): at that event it is still shown, on top.
    leaving: Frame | None = None
    #: Frames taken off by yields since the thread's last other event,
    #: innermost first: when they empty a task's part of the stack, they are
    #: the chain of coroutines the task suspended in.
    yielded: tuple[Frame, ...] = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> Stack:
        # Through copy.deepcopy so a frame shared with `suspended` or `parked` stays shared in the copy.
        copied = Stack(
            [copy.deepcopy(f, memo) for f in self.frames],
            copy.deepcopy(self.leaving, memo),
            tuple(copy.deepcopy(f, memo) for f in self.yielded),
        )
        memo[id(self)] = copied
        return copied


@dataclass(frozen=True)
class StackView:
    """The stack a focus shows at a point: innermost frame first."""

    frames: tuple[Frame, ...] = ()
    #: The thread whose stack this is (None: a suspended task's coroutines, or no frame at all).
    thread: int | None = None
    #: frames[0] is leaving at its thread's latest event (the event returns, unwinds or yields from it).
    leaving: bool = False
    #: A task that does not run there: `frames` are the coroutines it suspended in.
    suspended: bool = False


def code_sites(rec: Recording) -> dict[int, tuple[str, str]]:
    """Site id -> (file, function): two sites with the same pair are lines of the same code."""
    return {sid: (site.file, site.func) for sid, site in rec.sites.items()}


def _pairs(value: Any) -> Iterator[tuple[str, Summary]]:
    """(name, summary) pairs of a call's `args` or a line's `changed`; anything malformed is skipped."""
    if isinstance(value, (tuple, list)):
        for pair in value:
            if isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[0], str):
                yield pair[0], pair[1]


def is_unbound(summary: Summary) -> bool:
    """The summary a line's `changed` gives a local that was bound and no longer is."""
    return isinstance(summary, tuple) and len(summary) == 1 and summary[0] == TAG_UNBOUND


def apply_code(
    state: State, seq: int, thread: int, task: int | None, kind: str, site: int | None, data: dict[str, Any]
) -> None:
    """Move the stacks over one code event, given its values (`data`: its fields by name)."""
    fid = data.get("frame")
    stack = state.stacks.get(thread)
    if stack is None:
        stack = state.stacks[thread] = Stack()
    if type(fid) is not int:
        stack.leaving, stack.yielded = None, ()
        return
    if kind in LEAVING_KINDS:
        _leave(state, stack, kind, site, fid, data)
        return
    if stack.leaving is not None or stack.yielded:
        stack.leaving, stack.yielded = None, ()
    if kind == "call":
        _enter(state, stack, seq, task, site, fid, data)
        return
    # A line (most code events), a raise or a handled: in the top frame, as a rule.
    frames = stack.frames
    frame = frames[-1] if frames and frames[-1].id == fid else _running(state, stack, seq, task, site, fid)
    if site is not None:
        frame.site = site
    if kind == "line":
        changed = data.get("changed")
        if changed and type(changed) is tuple:
            # Inline rather than through _pairs: this loop runs for most events of a recording at level lines.
            local_values = frame.locals
            for pair in changed:
                if type(pair) is tuple and len(pair) == 2 and type(pair[0]) is str:
                    summary = pair[1]
                    if type(summary) is tuple and len(summary) == 1 and summary[0] == TAG_UNBOUND:
                        local_values.pop(pair[0], None)
                    else:
                        local_values[pair[0]] = summary


def _push(state: State, stack: Stack, frame: Frame) -> None:
    frames = stack.frames
    top = frames[-1] if frames else None
    frame.tdepth = top.tdepth + 1 if top is not None and top.task == frame.task else 1
    frames.append(frame)
    if frame.task is not None:
        # The task runs again: the chain it was suspended in is on the stack now.
        state.parked.pop(frame.task, None)


def _enter(
    state: State, stack: Stack, seq: int, task: int | None, site: int | None, fid: int, data: dict[str, Any]
) -> None:
    kept = state.suspended.pop(fid, None)
    if data.get("how") == "resume" and kept is not None:
        kept.task, kept.seq, kept.site = task, seq, site
        frame = kept
    elif data.get("how") == "resume":
        frame = Frame(fid, task, seq, seq, site, {})  # suspended before the recording started
    else:
        frame = Frame(fid, task, seq, seq, site, dict(_pairs(data.get("args"))))
    _push(state, stack, frame)


def _running(state: State, stack: Stack, seq: int, task: int | None, site: int | None, fid: int) -> Frame:
    """The frame of a line, raise or handled event that is not the top one."""
    frames = stack.frames
    for depth in range(len(frames) - 2, -1, -1):
        if frames[depth].id == fid:
            # The frames above left without a return the recorder saw.
            del frames[depth + 1 :]
            return frames[depth]
    # A frame whose start was not recorded (it ran before the recording began).
    frame = state.suspended.pop(fid, None)
    if frame is None:
        frame = Frame(fid, task, seq, seq, site, {})
    else:
        frame.task, frame.seq = task, seq
    _push(state, stack, frame)
    return frame


def _leave(state: State, stack: Stack, kind: str, site: int | None, fid: int, data: dict[str, Any]) -> None:
    frames = stack.frames
    depth = len(frames) - 1
    while depth >= 0 and frames[depth].id != fid:
        depth -= 1
    if depth < 0:
        # A frame that started before the recording and was never seen: nothing to take off.
        stack.leaving, stack.yielded = None, ()
        return
    frame = frames[depth]
    del frames[depth:]
    if site is not None:
        frame.site = site
    stack.leaving = frame
    if kind == "return" and data.get("how") == "yield":
        state.suspended[fid] = frame
        stack.yielded = (*stack.yielded, frame)
        task = frame.task
        if task is not None and not (frames and frames[-1].task == task):
            state.parked[task] = stack.yielded
    else:
        stack.yielded = ()


def note_event(
    state: State, thread: int, task: int | None, site: int | None, code_of: dict[int, tuple[str, str]]
) -> None:
    """A sync event of a thread that has a stack: it ends the moment of the frame that left, and tells the line.

    At level calls no `line` event says where a frame is; a lock or queue
    event in the top frame (same code, same task) does.
    """
    stack = state.stacks.get(thread)
    if stack is None:
        return
    if stack.leaving is not None or stack.yielded:
        stack.leaving, stack.yielded = None, ()
    frames = stack.frames
    if site is not None and frames:
        top = frames[-1]
        if top.site != site and top.task == task and top.site is not None:
            code = code_of.get(site)
            if code is not None and code == code_of.get(top.site):
                top.site = site


def depths(state: State, thread: int, task: int | None) -> tuple[int, int]:
    """(thread depth, task depth) of an event of `thread` and `task`, from the state just after it.

    An event happens in its thread's top frame (a return or unwind in the
    frame it takes off), so its depth is that frame's depth: 1 for the
    outermost, 0 outside any frame. The task depth counts only the frames of
    the event's task (0 for an event outside any task).
    """
    stack = state.stacks.get(thread)
    if stack is None:
        return 0, 0
    frames = stack.frames
    frame = stack.leaving
    depth = len(frames)
    if frame is not None:
        depth += 1
    elif frames:
        frame = frames[-1]
    return depth, frame.tdepth if frame is not None and task is not None and frame.task == task else 0


def event_frame(state: State, event: Event) -> Frame | None:
    """The frame a code event happened in, from the state just after it (None for other events)."""
    if event.kind not in CODE_KINDS:
        return None
    stack = state.stacks.get(event.thread)
    if stack is None:
        return None
    if event.kind in LEAVING_KINDS:
        return stack.leaving
    return stack.frames[-1] if stack.frames else None


def thread_view(state: State, thread: int) -> StackView:
    stack = state.stacks.get(thread)
    if stack is None:
        return StackView()
    frames = tuple(reversed(stack.frames))
    if stack.leaving is not None:
        return StackView((stack.leaving, *frames), thread, leaving=True)
    return StackView(frames, thread)


def task_view(state: State, task: int) -> StackView:
    """A running task's frames on its thread, or the coroutines a suspended one waits in."""
    for thread, stack in state.stacks.items():
        leaving = stack.leaving is not None and stack.leaving.task == task
        if not leaving and not (stack.frames and stack.frames[-1].task == task):
            continue
        mine: list[Frame] = [stack.leaving] if stack.leaving is not None and leaving else []
        for frame in reversed(stack.frames):
            if frame.task != task:
                break
            mine.append(frame)
        return StackView(tuple(mine), thread, leaving=leaving)
    parked = state.parked.get(task)
    return StackView(parked, suspended=True) if parked else StackView()
