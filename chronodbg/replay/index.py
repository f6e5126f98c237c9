"""A recording indexed for replay: timelines of sequence numbers and state checkpoints.

Built once when a recording is opened, in one pass over the event columns
(logfile/events.py). Every timeline is a sorted array of sequence numbers
(replay/seqs.py; events are numbered from 1 in recording order): each
thread, each task, each object, each kind, each code site. `times` maps
seq to its timestamp, so a time finds its event by bisection. The derived
state is copied every `checkpoint_every` events, so the state at any seq
costs one copy and at most that many `apply` calls. The causal links wait
for their first use (`links`).

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

from chronodbg.errors import LogError, UsageError
from chronodbg.logfile.events import NONE, Event, EventList
from chronodbg.logfile.reader import Recording
from chronodbg.replay.applier import Applier
from chronodbg.replay.links import Links
from chronodbg.replay.seqs import Timelines, typecode_for
from chronodbg.replay.stacks import CODE_KINDS, depths
from chronodbg.replay.state import State
from chronodbg.replay.waits import WATCHED, Deadlock, DeadlockFinder

CHECKPOINT_EVERY = 2048
Progress = Callable[[int, int], None]


class Index:
    def __init__(self, rec: Recording, progress: Progress | None = None, checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.rec = rec
        # A recording read from a file holds its events as columns already;
        # one built in memory (a list of Events) is put into columns once.
        events = rec.events if isinstance(rec.events, EventList) else EventList.of(rec.events)
        self.events: EventList = events
        self.checkpoint_every = checkpoint_every
        self.applier = Applier(rec)
        total = len(events)
        code = typecode_for(total)
        add_thread, add_task, add_object, add_kind, add_site = (Timelines(code) for _ in range(5))
        checkpoints: list[State] = [State()]
        state = State()
        step = self.applier.step
        finder = DeadlockFinder()
        find, watched = finder.add, {i for i, name in enumerate(events.kinds) if name in WATCHED}
        kinds = events.kinds
        #: Each kind's rule by the kind column's value (`advance` uses them too).
        self._rules = rules = [self.applier.rule(name) for name in kinds]
        code_kinds = {i for i, name in enumerate(kinds) if name in CODE_KINDS}
        #: Filled from the first code event on (every event before it is at depth 0).
        thread_depths: array[int] | None = None
        task_depths: array[int] | None = None
        seq = 0
        task: int | None
        obj: int | None
        site: int | None
        # No Event per event: the applier, the deadlock finder and `depths`
        # take the columns' values (building a million objects, or refilling
        # one, cost more than much of the state they update).
        try:
            for seq, _, thread, task, kind, obj, site, data in events.rows(0, total):
                add_thread[thread](seq)
                add_kind[kind](seq)
                # The columns hold NONE where the applier takes None.
                if task == NONE:
                    task = None
                else:
                    add_task[task](seq)
                if obj == NONE:
                    obj = None
                else:
                    add_object[obj](seq)
                if site == NONE:
                    site = None
                else:
                    add_site[site](seq)
                step(state, seq, thread, task, rules[kind], obj, site, data)
                if kind in watched or finder.stuck is not None:
                    find(state, seq, kinds[kind], thread, task, obj)
                if thread_depths is not None or kind in code_kinds:
                    if thread_depths is None or task_depths is None:
                        thread_depths, task_depths = array("i", [0]) * (seq - 1), array("i", [0]) * (seq - 1)
                    depth, task_depth = depths(state, thread, task)
                    thread_depths.append(depth)
                    task_depths.append(task_depth)
                if seq % checkpoint_every == 0:
                    checkpoints.append(state.copy())
                    if progress is not None:
                        progress(seq, total)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, AssertionError):
            # The reader checks each field's type, not that an event fits its kind
            # (a crafted kind table or data tuple): refuse it in one line.
            what = f"event {seq} does not fit its kind {kinds[events.kind[seq - 1]]!r}" if seq else "malformed events"
            raise LogError(rec.path, what) from None
        if progress is not None:
            progress(total, total)
        self.by_thread = add_thread.lines
        self.by_task = add_task.lines
        self.by_object = add_object.lines
        self.by_kind = {kinds[k]: line for k, line in add_kind.lines.items()}
        self.by_site = add_site.lines
        #: Each event's timestamp by seq - 1. Timestamps can repeat (clamped), never go backwards.
        self.times = events.t
        self.checkpoints = checkpoints
        self._links: Links | None = None
        #: Where threads or tasks became unable to go on (goto deadlock).
        self.deadlocks = _with_recorded(finder.found(), self)
        #: Each event's stack depth in its thread and in its task, by seq - 1
        #: (None when the recording has no code event).
        self.depths = thread_depths
        self.task_depths = task_depths
        self._entry_sites: frozenset[int] | None = None

    @property
    def links(self) -> Links:
        """Causal links (goto cause / goto effect), built when first asked for.

        A pass of their own over the events: most sessions never follow a
        link, so opening a recording does not wait for them.
        """
        if self._links is None:
            self._links = Links.of(self.rec, self.events)
        return self._links

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
        self.advance(state, seq)
        return state

    def advance(self, state: State, seq: int) -> None:
        """Move `state` forward over the events after it up to `seq`, reading the columns directly."""
        events, step, rules = self.events, self.applier.step, self._rules
        for k, _, thread, task, kind, obj, site, data in events.rows(state.seq, min(seq, len(events))):
            step(
                state, k, thread, None if task == NONE else task, rules[kind], None if obj == NONE else obj,
                None if site == NONE else site, data,
            )  # fmt: skip

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
