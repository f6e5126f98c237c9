"""A recording as Chrome Trace Event JSON, the format Perfetto UI and chrome://tracing open.

What goes where (docs/export.md is the user's view):

- Tracks. The recorded threads are the threads (tids) of process 1, tid = the
  thread id; asyncio tasks, when there are any, are the threads of a second
  process. Each thread or task (an *owner*) can have more tracks: "locks" for
  the locks it holds, and extra lanes when its intervals overlap without nesting.
- Marks. Every recorded event is a mark on its track (its task's when it ran
  inside a task step, else its thread's) at its own timestamp, with its seq,
  kind, object, site and data as args: an instant ("i"), or a zero-length
  complete slice ("X") when a flow arrow starts or ends there.
- Intervals ("X"): task steps (also on the thread that ran them), blocked waits,
  function calls, and lock holds (outermost acquire to the release at depth 0).
  One still open when the recording ends is closed at its last timestamp with
  `args.unfinished`.
- Flows: one arrow ("s" then "f" with `"bp": "e"`) per causal link of
  replay/links.py, from the cause's mark to the effect's.

Why these choices:

- Complete slices, not B/E pairs: Perfetto's importer orders events of equal
  timestamps E first, then X longest first, then the rest in file order, so a
  B/E slice that begins and ends at the same nanosecond loses its E. X slices of
  any length sort correctly, and a zero-length one nests inside a longer one
  starting at the same time.
- Lanes: a track's slices must nest. Lock holds often do not (take A, take B,
  release A), nor do an asyncio task's waits and its steps (a wait starts in one
  step and ends in a later one). Each owner's intervals are dealt greedily onto
  lanes, each lane a track of its own where they nest; most owners need one.
- Flows bind to a slice, not an instant: both Perfetto and chrome://tracing
  attach a v1 flow event to the slice open on its track at its timestamp, and
  Perfetto pops a slice only when a later one starts, so the top of a track's
  stack can be a slice long over. A zero-length slice exactly at the event,
  written after the longer slices starting then and just before the event's own
  flow ends, is the innermost open slice when each of them is read.
- Unique tids across both processes: Perfetto moves a tid it sees under another
  pid to a new thread, so thread 2 and task 2 must not share tid 2.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chronodbg import values
from chronodbg.logfile.reader import Event, Recording
from chronodbg.replay.applier import Applier
from chronodbg.replay.index import Index
from chronodbg.replay.links import Links
from chronodbg.replay.state import Actor

Nanos = int
#: ("thread", id) or ("task", id), as replay.state.Actor.
Owner = Actor

THREADS_PID = 1
#: Track groups of an owner: "main" holds steps, waits and calls; "locks" the holds.
MAIN, LOCKS = "main", "locks"

#: Wait start kind -> the kinds that end it (by the same owner on the same object).
WAIT_ENDS: dict[str, frozenset[str]] = {
    "lock.wait": frozenset({"lock.acquire", "lock.fail"}),
    "cond.wait": frozenset({"cond.wake"}),
    "sem.wait": frozenset({"sem.acquire", "sem.fail"}),
    "event.wait": frozenset({"event.wake"}),
    "queue.wait": frozenset({"queue.get", "queue.put", "queue.full", "queue.empty"}),
    "queue.join": frozenset({"queue.joined"}),
    "barrier.wait": frozenset({"barrier.pass", "barrier.broken"}),
    "future.wait": frozenset({"future.wake"}),
    "thread.join": frozenset({"thread.joined"}),
}
_STARTS_OF: dict[str, tuple[str, ...]] = {}
for _start, _ends in WAIT_ENDS.items():
    for _end in _ends:
        _STARTS_OF[_end] = (*_STARTS_OF.get(_end, ()), _start)


@dataclass
class Span:
    """An interval on one of an owner's track groups; `lane` is set when tracks are dealt."""

    owner: Owner
    group: str
    start: Nanos
    end: Nanos
    name: str
    cat: str
    args: dict[str, Any]
    lane: int = 0


@dataclass
class _Open:
    """An interval whose end has not been seen yet."""

    owner: Owner
    event: Event
    depth: int = 1


@dataclass
class _Builder:
    rec: Recording
    applier: Applier
    spans: list[Span] = field(default_factory=list)
    waits: dict[tuple[Owner, str, Any], _Open] = field(default_factory=dict)
    holds: dict[int, _Open] = field(default_factory=dict)
    steps: dict[int, _Open] = field(default_factory=dict)
    calls: dict[Owner, list[Event]] = field(default_factory=dict)

    def add(self, event: Event, data: dict[str, Any]) -> None:
        track = track_of(event)
        kind = event.kind
        for start_kind in _STARTS_OF.get(kind, ()):
            opened = self.waits.pop((track, start_kind, _waited_on(event, data)), None)
            if opened is not None:
                self.close_wait(opened, event.t_ns, event)
        if kind in WAIT_ENDS:
            key = (track, kind, _waited_on(event, data))
            stale = self.waits.pop(key, None)
            if stale is not None:
                self.close_wait(stale, event.t_ns, None)
            self.waits[key] = _Open(track, event)
        elif kind == "lock.acquire" and event.obj is not None:
            self.acquire(event, data)
        elif kind == "lock.release" and event.obj is not None:
            depth = data.get("depth")
            held = self.holds.pop(event.obj, None) if not (isinstance(depth, int) and depth > 0) else None
            if held is not None:
                self.close_hold(held, event.t_ns, event)
        elif kind == "task.resume" and event.task is not None:
            stale = self.steps.pop(event.task, None)
            if stale is not None:
                self.close_step(stale, event.t_ns, None)
            self.steps[event.task] = _Open(track, event)
        elif kind in ("task.suspend", "task.done") and event.task is not None:
            step = self.steps.pop(event.task, None)
            if step is not None:
                self.close_step(step, event.t_ns, event)
        elif kind == "call":
            self.calls.setdefault(track, []).append(event)
        elif kind == "return":
            stack = self.calls.get(track)
            if stack:
                call = stack.pop()
                self.spans.append(Span(track, MAIN, call.t_ns, event.t_ns, _call_name(self.rec, call), "call", self.ended(call, event)))

    def acquire(self, event: Event, data: dict[str, Any]) -> None:
        assert event.obj is not None
        owner = self.applier.actor(event)
        depth = data.get("depth")
        depth = depth if isinstance(depth, int) and depth > 0 else 1
        held = self.holds.get(event.obj)
        if held is not None and held.owner == owner:
            held.depth = max(held.depth, depth)  # an RLock taken again: the same hold
            return
        if held is not None:  # its release was not recorded
            self.close_hold(held, event.t_ns, None)
        self.holds[event.obj] = _Open(owner, event, depth)

    def ended(self, start: Event, end: Event | None) -> dict[str, Any]:
        args = event_args(self.rec, start)
        if end is None:
            args["unfinished"] = True
        else:
            args["end"] = event_args(self.rec, end)
        return args

    def close_wait(self, opened: _Open, t_ns: Nanos, end: Event | None) -> None:
        start = opened.event
        joined = _waited_on(start, self.rec.data_dict(start))
        target = owner_label(self.rec, ("thread", joined)) if start.kind == "thread.join" else object_label(self.rec, start)
        name = f"{start.kind} {target}" if target else start.kind
        self.spans.append(Span(opened.owner, MAIN, start.t_ns, t_ns, name, "wait", self.ended(start, end)))

    def close_hold(self, held: _Open, t_ns: Nanos, end: Event | None) -> None:
        args = self.ended(held.event, end)
        if held.depth > 1:
            args["max_depth"] = held.depth
        self.spans.append(Span(held.owner, LOCKS, held.event.t_ns, t_ns, f"hold {object_label(self.rec, held.event)}", "lock", args))

    def close_step(self, step: _Open, t_ns: Nanos, end: Event | None) -> None:
        start = step.event
        args = self.ended(start, end)
        self.spans.append(Span(step.owner, MAIN, start.t_ns, t_ns, "step", "task", args))
        # The thread that ran it shows the step too: what its event loop was busy with.
        self.spans.append(Span(("thread", start.thread), MAIN, start.t_ns, t_ns, owner_label(self.rec, step.owner), "task", dict(args)))

    def finish(self, last: Nanos) -> None:
        """Close what the recording left open (a deadlocked wait, a lock never released) at its last timestamp."""
        for opened in self.waits.values():
            self.close_wait(opened, last, None)
        for held in self.holds.values():
            self.close_hold(held, last, None)
        for step in self.steps.values():
            self.close_step(step, last, None)
        for owner, stack in self.calls.items():
            for call in stack:
                self.spans.append(Span(owner, MAIN, call.t_ns, last, _call_name(self.rec, call), "call", self.ended(call, None)))
        self.waits, self.holds, self.steps, self.calls = {}, {}, {}, {}


def track_of(event: Event) -> Owner:
    """Whose track an event is marked on: its task's when it ran in a task step, else its thread's."""
    return ("task", event.task) if event.task is not None else ("thread", event.thread)


def _waited_on(event: Event, data: dict[str, Any]) -> Any:
    """What a wait is keyed on besides its owner: the object, or the joined thread (any value a log holds: made hashable)."""
    if event.kind not in ("thread.join", "thread.joined"):
        return event.obj
    joined = data.get("thread")
    return joined if isinstance(joined, (int, str, type(None))) else repr(joined)


def _call_name(rec: Recording, event: Event) -> str:
    data = rec.data_dict(event)
    for key in ("func", "function", "name", "qualname"):
        if isinstance(data.get(key), str):
            return str(data[key])
    site = rec.site_of(event)
    return site.func if site is not None else "call"


def owner_label(rec: Recording, owner: Owner) -> str:
    what, ident = owner
    if what == "thread":
        thread = rec.threads.get(ident)
        return f"T{ident} {thread.name}" if thread is not None else f"T{ident}"
    task = rec.tasks.get(ident)
    if task is None:
        return f"task {ident}"
    return f"task {ident} {task.name} ({task.coro})" if task.name is not None else f"task {ident} ({task.coro})"


def object_label(rec: Recording, event: Event) -> str:
    info = rec.objects.get(event.obj) if event.obj is not None else None
    return info.label if info is not None else ""


def event_args(rec: Recording, event: Event) -> dict[str, Any]:
    """What a mark or an interval end shows of its event."""
    args: dict[str, Any] = {"seq": event.seq, "kind": event.kind}
    label = object_label(rec, event)
    if label:
        args["object"] = label
    site = rec.site_of(event)
    if site is not None:
        args["site"] = f"{site.file}:{site.line} {site.func}"
    if event.task is not None:
        args["thread"] = owner_label(rec, ("thread", event.thread))
    data = rec.data_dict(event)
    if data:
        args["data"] = {name: values.to_json(value) for name, value in data.items()}
    return args


def deal_lanes(spans: Iterable[Span]) -> None:
    """Give each span the first lane of its owner's group where it nests; a lane is one track.

    Spans are dealt in start order, longest first, which is the order viewers
    stack them in; on a lane a span fits when it ends no later than the
    innermost span still open there. Touching spans (one ends where the next
    starts) are disjoint, as in Perfetto.
    """
    stacks: dict[tuple[Owner, str], list[list[Nanos]]] = {}
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        lanes = stacks.setdefault((span.owner, span.group), [])
        for lane, ends in enumerate(lanes):
            while ends and ends[-1] <= span.start:
                ends.pop()
            if not ends or ends[-1] >= span.end:
                ends.append(span.end)
                span.lane = lane
                break
        else:
            lanes.append([span.end])
            span.lane = len(lanes) - 1


class _Tracks:
    """Pids and tids of every (owner, group, lane), and the metadata naming them."""

    def __init__(self, rec: Recording) -> None:
        self.rec = rec
        largest = max([*rec.threads, *rec.tasks, 1])
        #: Tasks are tids base+1.., a second lane or group adds multiples of 2*base.
        self.base = 10 ** max(3, len(str(largest)))
        self.used: dict[tuple[int, int], tuple[Owner, str, int]] = {}

    def pid_tid(self, owner: Owner, group: str = MAIN, lane: int = 0) -> tuple[int, int]:
        what, ident = owner
        slot = 2 * lane + (group == LOCKS)
        pid = THREADS_PID if what == "thread" else self.base
        tid = ident + (self.base if what == "task" else 0) + slot * 2 * self.base
        self.used[(pid, tid)] = (owner, group, lane)
        return pid, tid

    def metadata(self) -> list[dict[str, Any]]:
        program = os.path.basename(str(self.rec.header.get("program") or "recording"))
        out: list[dict[str, Any]] = []
        for pid in sorted({pid for pid, _ in self.used}):
            name = f"{program} threads" if pid == THREADS_PID else f"{program} asyncio tasks"
            out.append(_meta("process_name", pid, pid, {"name": name}))
            out.append(_meta("process_sort_index", pid, pid, {"sort_index": 0 if pid == THREADS_PID else 1}))
        order = sorted(self.used.items(), key=lambda item: (item[0][0], item[1][0][1], item[1][2], item[1][1] == LOCKS))
        for index, ((pid, tid), (owner, group, lane)) in enumerate(order):
            name = owner_label(self.rec, owner) + (" locks" if group == LOCKS else "") + (f" lane {lane + 1}" if lane else "")
            out.append(_meta("thread_name", pid, tid, {"name": name}))
            out.append(_meta("thread_sort_index", pid, tid, {"sort_index": index}))
        return out


def _meta(name: str, pid: int, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"ph": "M", "ts": 0, "pid": pid, "tid": tid, "name": name, "args": args}


def _us(t_ns: Nanos) -> float:
    """Microseconds, the format's unit; Perfetto rounds them back to the exact nanosecond."""
    return t_ns / 1000


def perfetto_trace(source: Index | Recording) -> dict[str, Any]:
    """The recording as a Chrome Trace Event JSON object (`traceEvents` plus `metadata`)."""
    if isinstance(source, Index):
        rec, links = source.rec, source.links
    else:
        rec, links = source, Links.of(source)
    builder = _Builder(rec, Applier(rec))
    for event in rec.events:
        builder.add(event, rec.data_dict(event))
    last = rec.events[-1].t_ns if rec.events else 0
    builder.finish(last)
    deal_lanes(builder.spans)

    tracks = _Tracks(rec)
    keyed: list[tuple[tuple[int, int, int, int, int, int], dict[str, Any]]] = []

    def put(ph: str, t_ns: Nanos, where: tuple[int, int], name: str, cat: str, extra: dict[str, Any], order: tuple[int, int, int, int]) -> None:
        entry = {"ph": ph, "ts": _us(t_ns), "pid": where[0], "tid": where[1], "name": name, "cat": cat, **extra}
        keyed.append(((t_ns, *order, len(keyed)), entry))

    # Order at one time: longer slices first (they enclose), then zero-length
    # intervals, then each event's mark followed by its own flow ends, in seq
    # order; so a flow end's innermost open slice is its event's mark even when
    # several events share a nanosecond on one track.
    for span in builder.spans:
        dur = span.end - span.start
        where = tracks.pid_tid(span.owner, span.group, span.lane)
        put("X", span.start, where, span.name, span.cat, {"dur": _us(dur), "args": span.args}, (-dur, 0, span.args["seq"], 0))
    linked = set(links.cause) | set(links.cause.values())
    for event in rec.events:
        where = tracks.pid_tid(track_of(event))
        args = {"args": event_args(rec, event)}
        order = (0, 1, event.seq, 0)
        if event.seq in linked:
            put("X", event.t_ns, where, event.kind, "event", {"dur": 0.0, **args}, order)
        else:
            put("i", event.t_ns, where, event.kind, "event", {"s": "t", **args}, order)
    for effect, cause in sorted(links.cause.items()):
        source_event, target = rec.events[cause - 1], rec.events[effect - 1]
        name = f"{source_event.kind} -> {target.kind}"
        put("s", source_event.t_ns, tracks.pid_tid(track_of(source_event)), name, "event", {"id": effect}, (0, 1, cause, 1))
        put("f", target.t_ns, tracks.pid_tid(track_of(target)), name, "event", {"id": effect, "bp": "e"}, (0, 1, effect, 1))
    keyed.sort(key=lambda item: item[0])
    return {"traceEvents": tracks.metadata() + [entry for _, entry in keyed], "metadata": recording_metadata(rec, len(links.cause))}


def recording_metadata(rec: Recording, flows: int) -> dict[str, Any]:
    """What was recorded, and how: the header's informational fields, JSON-safe whatever a log holds."""
    header, footer = rec.header, rec.footer or {}
    info = {key: values.to_json(header.get(key)) for key in ("program", "python", "implementation", "platform", "pid", "start_time", "chronodbg", "format_version")}
    return {
        "source": "chronodbg",
        "recording": os.path.basename(rec.path),
        **info,
        "argv": [values.to_json(arg) for arg in header.get("argv") or ()],
        "events": len(rec.events),
        "flows": flows,
        "complete": rec.complete,
        "exit_code": values.to_json(footer.get("exit_code")),
    }


def to_json_text(trace: dict[str, Any]) -> str:
    """The trace as JSON text, one trace event per line (diffable, greppable); `traceEvents` first.

    Perfetto's streaming reader skips everything after a top-level key it does
    not know, so the events come first. Every event starts with `ph` and `ts`.
    """
    lines = ",\n".join(json.dumps(entry, separators=(",", ":")) for entry in trace["traceEvents"])
    rest = "".join(f',\n"{key}":{json.dumps(value, separators=(",", ":"))}' for key, value in trace.items() if key != "traceEvents")
    return '{"traceEvents":[\n' + lines + "\n]" + rest + "}\n"
