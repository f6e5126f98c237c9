"""A recording indexed for replay: timelines of sequence numbers and state checkpoints.

Built once when a recording is opened. Every timeline is a sorted list of
sequence numbers (events are numbered from 1 in recording order): the whole
recording, each thread, each task, each object, each kind, each code site.
`times` maps seq to its timestamp, so a time finds its event by bisection.
The derived state is copied every `checkpoint_every` events, so the state at
any seq costs one copy and at most that many `apply` calls.

In a recording with code events (level calls or lines) every event also gets
its stack depth, in its thread and in its task (replay/stacks.py `depths`):
`next` and `finish` then walk a timeline comparing small integers, with no
state to rebuild.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable
from typing import Any

from sortedcontainers import SortedList

from chronodbg.errors import LogError, UsageError
from chronodbg.logfile.reader import Event, Recording
from chronodbg.replay.links import Links
from chronodbg.replay.stacks import CODE_KINDS, depths
from chronodbg.replay.state import Applier, State
from chronodbg.replay.waits import Deadlock, DeadlockFinder

CHECKPOINT_EVERY = 2048
Progress = Callable[[int, int], None]


class Index:
    def __init__(self, rec: Recording, progress: Progress | None = None, checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.rec = rec
        self.events: list[Event] = rec.events
        self.checkpoint_every = checkpoint_every
        self.applier = Applier(rec)
        by_thread: dict[int, list[int]] = {}
        by_task: dict[int, list[int]] = {}
        by_object: dict[int, list[int]] = {}
        by_kind: dict[str, list[int]] = {}
        by_site: dict[int, list[int]] = {}
        times: list[int] = []
        checkpoints: list[State] = [State()]
        state = State()
        apply, fields_of = self.applier.apply, self.applier.data
        links = Links(rec)
        finder = DeadlockFinder()
        total = len(self.events)
        #: Filled from the first code event on (every event before it is at depth 0).
        thread_depths: array[int] | None = None
        task_depths: array[int] | None = None
        event: Event | None = None
        try:
            for event in self.events:
                seq = event.seq
                by_thread.setdefault(event.thread, []).append(seq)
                if event.task is not None:
                    by_task.setdefault(event.task, []).append(seq)
                if event.obj is not None:
                    by_object.setdefault(event.obj, []).append(seq)
                by_kind.setdefault(event.kind, []).append(seq)
                if event.site is not None:
                    by_site.setdefault(event.site, []).append(seq)
                times.append(event.t_ns)
                data = fields_of(event)
                apply(state, event, data)
                links.add(event, data)
                finder.add(state, event)
                if thread_depths is not None or event.kind in CODE_KINDS:
                    if thread_depths is None or task_depths is None:
                        thread_depths, task_depths = array("i", [0]) * (seq - 1), array("i", [0]) * (seq - 1)
                    depth, task_depth = depths(state, event)
                    thread_depths.append(depth)
                    task_depths.append(task_depth)
                if seq % checkpoint_every == 0:
                    checkpoints.append(state.copy())
                    if progress is not None:
                        progress(seq, total)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, AssertionError):
            # The reader checks each field's type, not that an event fits its kind
            # (a crafted kind table or data tuple): refuse it in one line.
            what = f"event {event.seq} does not fit its kind {event.kind!r}" if event is not None else "malformed events"
            raise LogError(rec.path, what) from None
        if progress is not None:
            progress(total, total)
        # Built as lists (appended in seq order), then frozen into sorted timelines.
        self.by_thread = {k: SortedList(v) for k, v in by_thread.items()}
        self.by_task = {k: SortedList(v) for k, v in by_task.items()}
        self.by_object = {k: SortedList(v) for k, v in by_object.items()}
        self.by_kind = {k: SortedList(v) for k, v in by_kind.items()}
        self.by_site = {k: SortedList(v) for k, v in by_site.items()}
        #: Timestamps can repeat (clamped), never go backwards.
        self.times = times
        self.checkpoints = checkpoints
        #: Causal links (goto cause / goto effect), built in the same pass.
        self.links = links
        #: Where threads or tasks became unable to go on (goto deadlock).
        self.deadlocks = _with_recorded(finder.found(), self)
        #: Each event's stack depth in its thread and in its task, by seq - 1
        #: (None when the recording has no code event).
        self.depths = thread_depths
        self.task_depths = task_depths
        self._entry_sites: frozenset[int] | None = None

    @property
    def code_level(self) -> str:
        """What the recording shows of the code: "lines", "calls" (frames, no lines) or "sync" (neither)."""
        if "line" in self.by_kind:
            return "lines"
        return "calls" if self.depths is not None else "sync"

    def entry_sites(self) -> frozenset[int]:
        """The sites of `call how=call` events: where a function starts (its `def` line)."""
        if self._entry_sites is None:
            fields = self.rec.fields.get("call", ())
            how = fields.index("how") if "how" in fields else None
            sites = set()
            for seq in self.by_kind.get("call", ()):
                event = self.events[seq - 1]
                if how is not None and how < len(event.data) and event.data[how] == "call" and event.site is not None:
                    sites.add(event.site)
            self._entry_sites = frozenset(sites)
        return self._entry_sites

    @property
    def last(self) -> int:
        return len(self.events)

    def event(self, seq: int) -> Event:
        if not 1 <= seq <= len(self.events):
            raise UsageError(f"no event {seq}: the recording has events 1 to {len(self.events)}")
        return self.events[seq - 1]

    def state_at(self, seq: int) -> State:
        """The state after event `seq` (0: before the first event)."""
        seq = max(0, min(seq, len(self.events)))
        base = self.checkpoints[seq // self.checkpoint_every]
        state = base.copy()
        apply = self.applier.apply
        for i in range(base.seq, seq):
            apply(state, self.events[i])
        return state

    def seq_at_time(self, t_ns: int) -> int:
        """The last event at or before `t_ns` (the first event if the time is before it)."""
        if not self.events:
            raise UsageError("the recording has no events")
        i = bisect.bisect_right(self.times, t_ns)
        return max(1, i)

    def output_until(self, seq: int) -> str:
        """Everything written to stdout/stderr up to event `seq`, in order."""
        outputs = self.by_kind.get("output")
        if not outputs:
            return ""
        fields = self.rec.fields.get("output", ())
        pos = fields.index("text") if "text" in fields else 1
        end = outputs.bisect_right(seq)
        parts: list[str] = []
        for s in outputs.islice(0, end):
            text = self.events[s - 1].data[pos] if len(self.events[s - 1].data) > pos else ""
            parts.append(text if isinstance(text, str) else "")
        return "".join(parts)

    def locals_at(self, timeline: Any, seq: int) -> Event | None:
        """The latest event at or before `seq` on a timeline that carries sampled locals."""
        end = timeline.bisect_right(seq)
        for s in timeline.islice(0, end, reverse=True):
            event: Event = self.events[s - 1]
            if event.locals is not None:
                return event
        return None


def _with_recorded(found: list[Deadlock], index: Index) -> list[Deadlock]:
    """Add the watchdog's own `deadlock` events that name actors no found point covers.

    The watchdog sees what the events cannot show (a main thread waiting at
    interpreter exit), so its report is kept where replay found nothing.
    """
    merged = list(found)
    for seq in index.by_kind.get("deadlock", ()):
        data = index.rec.data_dict(index.events[seq - 1])
        actors = _actors(data.get("actors"))
        if any(set(actors) <= set(d.actors) and d.seq <= seq for d in found):
            continue
        reason = data.get("reason")
        merged.append(Deadlock(seq, reason if isinstance(reason, str) else "recorded", actors))
    return sorted(merged, key=lambda d: d.seq)


def _actors(summary: Any) -> tuple[tuple[str, int], ...]:
    """`("list", n, ["thread:2", "task:5"])` (the deadlock event's actors) as actors; junk is skipped."""
    items = summary[2] if isinstance(summary, (list, tuple)) and len(summary) == 3 and isinstance(summary[2], (list, tuple)) else ()
    actors = []
    for item in items:
        kind, _, ident = item.partition(":") if isinstance(item, str) else ("", "", "")
        if kind in ("thread", "task") and ident.isdigit():
            actors.append((kind, int(ident)))
    return tuple(actors)
