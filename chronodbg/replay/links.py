"""Causal links between events: what made an event possible, and what it made possible.

Computed once, when a recording is indexed, from the events alone:

| effect | its cause |
|---|---|
| `lock.acquire` | the last `lock.release` of that lock before it (the one that let it in) |
| `sem.acquire` | the last `sem.release` of that semaphore, if any |
| `queue.get` | the `queue.put` of that item (the oldest equal one; the newest for a LIFO queue) |
| `event.wake` (woken, not timed out) | the last `event.set` of that event |
| `cond.wake` (notified) | the last `cond.notify` of that condition |
| `barrier.pass` | the `barrier.wait` that completed the party |
| `future.wake` | the `future.set` of that future |
| `queue.joined` | the last `queue.task_done` of that queue |
| `thread.joined` | the `thread.end` of the joined thread |
| a thread's first event | the `thread.start` that started it (when none of the above applies) |
| `task.resume` (not the first) | the `task.wake` that made the task ready |
| `task.wake` | the waker's event just before it, when it is one that wakes (a `queue.get` making room, a `lock.release`, an `event.set`, a `task.cancel`, …) |
| `loop.callback` | the `loop.call` that scheduled it (same call number) |

A front end walks them with `goto cause` / `goto effect`; an editor
integration can draw them from `Links.cause` and `Links.effects`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from operator import itemgetter
from typing import Any

from chronodbg.logfile.reader import Event, Recording
from chronodbg.replay.state import taken

#: Events whose call wakes a waiting task (recorded just before the wake it causes).
_WAKERS = frozenset(
    {"queue.get", "queue.put", "lock.release", "sem.release", "event.set", "cond.notify", "task.cancel", "loop.callback"}
)
#: effect kind -> the kind of the last event on the same object that caused it.
_LAST_ON_OBJECT = {
    "lock.acquire": "lock.release",
    "sem.acquire": "sem.release",
    "event.wake": "event.set",
    "cond.wake": "cond.notify",
    "barrier.pass": "barrier.wait",
    "future.wake": "future.set",
    "queue.joined": "queue.task_done",
}


class Links:
    """Built event by event (`add`), in seq order: the index does it in its one pass over the events."""

    def __init__(self, rec: Recording) -> None:
        #: effect seq -> cause seq
        self.cause: dict[int, int] = {}
        #: cause seq -> effect seqs, in order
        self.effects: dict[int, list[int]] = defaultdict(list)
        self._lifo = {oid for oid, info in rec.objects.items() if "Lifo" in info.kind}
        self._last: dict[tuple[int, str], int] = {}
        self._puts: dict[int, list[tuple[Any, int]]] = defaultdict(list)
        self._thread_started: dict[int, int] = {}
        self._thread_seen: set[int] = set()
        self._thread_ended: dict[int, int] = {}
        self._task_woken: dict[int, int] = {}
        self._calls: dict[Any, int] = {}
        self._previous: dict[int, Event] = {}

    @classmethod
    def of(cls, rec: Recording, events: Iterable[Event] | None = None) -> Links:
        """The links of a whole recording (`events`: its events, when the caller has them at hand)."""
        links = cls(rec)
        fields = rec.fields
        for event in rec.events if events is None else events:
            links.add(event, dict(zip(fields.get(event.kind, ()), event.data, strict=False)))
        return links

    def add(self, event: Event, data: dict[str, Any]) -> None:
        """Link the next event (`data`: its fields by name) to what made it possible."""
        kind, seq, obj = event.kind, event.seq, event.obj
        cause_kind = _LAST_ON_OBJECT.get(kind)
        if cause_kind is not None and obj is not None and _happened(kind, data):
            cause = self._last.get((obj, cause_kind))
            if cause is not None:
                self._link(cause, seq)
        if obj is not None:
            self._last[(obj, kind)] = seq
        if kind == "queue.put" and obj is not None:
            self._puts[obj].append((data.get("item"), seq))
        elif kind == "queue.get" and obj is not None:
            put = _take(self._puts[obj], data.get("item"), obj in self._lifo)
            if put is not None:
                self._link(put, seq)
        elif kind == "thread.start":
            self._thread_started[data.get("thread")] = seq  # type: ignore[index]
        elif kind == "thread.end":
            self._thread_ended[data.get("thread")] = seq  # type: ignore[index]
        elif kind == "thread.joined" and data.get("thread") in self._thread_ended:
            self._link(self._thread_ended[data["thread"]], seq)
        elif kind == "task.wake":
            self._task_woken[data.get("task")] = seq  # type: ignore[index]
            before = self._previous.get(event.thread)
            if before is not None and before.kind in _WAKERS and before.task == event.task:
                self._link(before.seq, seq)
        elif kind == "task.resume" and event.task in self._task_woken:
            self._link(self._task_woken.pop(event.task), seq)
        elif kind == "loop.call":
            self._calls[data.get("call")] = seq
        elif kind == "loop.callback" and data.get("call") in self._calls:
            self._link(self._calls.pop(data["call"]), seq)
        if event.thread not in self._thread_seen:
            self._thread_seen.add(event.thread)
            # A thread's first event was made possible by its start, unless
            # something more particular (the put its first get took) did.
            if event.thread in self._thread_started and seq not in self.cause:
                self._link(self._thread_started[event.thread], seq)
        self._previous[event.thread] = event

    def _link(self, cause: int, effect: int) -> None:
        self.cause[effect] = cause
        self.effects[cause].append(effect)


def _happened(kind: str, data: dict[str, Any]) -> bool:
    """A wake that really was one: not a timeout, not a cancellation."""
    if kind == "event.wake":
        return bool(data.get("result"))
    if kind == "cond.wake":
        return bool(data.get("notified"))
    return True


def _take(puts: list[tuple[Any, int]], item: Any, lifo: bool) -> int | None:
    """The seq of the put whose item a get took (the one the replay state removes), removed from `puts`."""
    i = taken(puts, item, lifo, key=itemgetter(0))
    return None if i is None else puts.pop(i)[1]
