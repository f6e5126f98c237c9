"""Blocked intervals and possible lost wake-ups, collected during analysis.report's pass.

Both are told about events in seq order and keep only what the report needs:
the few longest intervals per actor (a small heap each), and the waits that
began right after a notify or set nobody was waiting for.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from itertools import count
from typing import Any, Protocol

from chronodbg.analysis.findings import ActorBlocked, ActorRef, Blocked, LostWakeup, ObjRef
from chronodbg.logfile.reader import Event, Site
from chronodbg.replay.state import Actor

#: What a suspended task awaits when it waits for other tasks (task.suspend's `awaits`).
AWAITS_TASKS = frozenset({"task", "gather", "wait", "wait_for", "shield", "taskgroup"})
#: Suspensions that are no blocked interval: the task asked for the delay itself.
_NOT_BLOCKED = frozenset({"sleep", "yield"})


class Resolver(Protocol):
    """Turns ids into what a report shows (analysis.report's pass is one)."""

    def actor(self, actor: Actor) -> ActorRef: ...

    def obj(self, oid: int | None) -> ObjRef | None: ...

    def site(self, site: int | None) -> Site | None: ...


@dataclass
class _Open:
    what: str
    obj: int | None
    op: str | None
    targets: list[Actor]
    seq: int
    t_ns: int
    site: int | None


class BlockedTracker:
    """Per actor: the `keep` longest blocked intervals, their number and total length."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.open: dict[Actor, _Open] = {}
        #: actor -> min-heap of (duration, -start seq, tiebreak, interval, end seq or None)
        self.longest: dict[Actor, list[tuple[int, int, int, _Open, int | None]]] = {}
        self.totals: dict[Actor, list[int]] = {}
        self._tiebreak = count()

    def begin(self, actor: Actor, what: str, obj: int | None, detail: Any, event: Event) -> None:
        """A thread's wait began (from the replay state's `Waiting`: `detail` is a queue op or a joined thread)."""
        op = detail if what == "queue" and isinstance(detail, str) else None
        targets: list[Actor] = [("thread", detail)] if what == "join" and isinstance(detail, int) else []
        self.open[actor] = _Open(what, obj, op, targets, event.seq, event.t_ns, event.site)

    def suspend(self, task: int, awaits: Any, obj: int | None, targets: list[int], event: Event) -> None:
        """A task suspended: blocked until it resumes, unless it only sleeps or yields."""
        if not isinstance(awaits, str) or awaits in _NOT_BLOCKED:
            return
        self.open[("task", task)] = _Open(awaits, obj, None, [("task", t) for t in targets], event.seq, event.t_ns, event.site)

    def end(self, actor: Actor, event: Event) -> None:
        interval = self.open.pop(actor, None)
        if interval is not None:
            self._keep(actor, interval, event.t_ns, event.seq)

    def _keep(self, actor: Actor, interval: _Open, end_ns: int, end_seq: int | None) -> None:
        duration = max(0, end_ns - interval.t_ns)
        totals = self.totals.get(actor)
        if totals is None:
            totals = self.totals[actor] = [0, 0]
        totals[0] += 1
        totals[1] += duration
        heap = self.longest.get(actor)
        if heap is None:
            heap = self.longest[actor] = []
        item = (duration, -interval.seq, next(self._tiebreak), interval, end_seq)
        if len(heap) < self.keep:
            heapq.heappush(heap, item)
        elif item > heap[0]:
            heapq.heapreplace(heap, item)

    def report(self, names: Resolver, last: Event | None, top: int) -> list[ActorBlocked]:
        """The `top` actors with the longest intervals; waits still open at the end count up to the last event."""
        if last is not None:
            for actor, interval in sorted(self.open.items()):
                self._keep(actor, interval, last.t_ns, None)
            self.open.clear()
        result = []
        for actor, heap in self.longest.items():
            ref = names.actor(actor)
            longest = [
                Blocked(
                    actor=ref,
                    what=interval.what,
                    obj=names.obj(interval.obj),
                    op=interval.op,
                    targets=[names.actor(target) for target in interval.targets],
                    start_seq=interval.seq,
                    end_seq=end_seq,
                    duration_ns=duration,
                    site=names.site(interval.site),
                )
                for duration, _, _, interval, end_seq in sorted(heap, reverse=True)
            ]
            totals = self.totals[actor]
            result.append(ActorBlocked(ref, totals[0], totals[1], longest))
        result.sort(key=lambda a: (-a.longest[0].duration_ns, a.actor.kind != "thread", a.actor.id))
        return result[:top]


@dataclass
class _Signal:
    kind: str
    seq: int
    waiters: int
    actor: Actor
    site: int | None


@dataclass
class _Wait:
    seq: int
    site: int | None
    timeout: Any
    signal: _Signal
    cleared: int | None


class LostWakeups:
    """Pairs each wait that failed with the notify/set before it, when that one had nobody to wake."""

    def __init__(self) -> None:
        #: obj -> its last cond.notify / event.set not yet seen by a successful wake
        self.signals: dict[int, _Signal] = {}
        self.cleared: dict[int, int] = {}
        #: (actor, obj) -> a wait that began after a signal nobody waited for
        self.waits: dict[tuple[Actor, int], _Wait] = {}
        #: (obj, wait, outcome, end seq, waiter)
        self.found: list[tuple[int, _Wait, str, int | None, Actor]] = []

    def signal(self, event: Event, data: dict[str, Any], actor: Actor) -> None:
        if event.obj is None:
            return
        waiters = data.get("waiters")
        self.signals[event.obj] = _Signal(event.kind, event.seq, waiters if isinstance(waiters, int) else -1, actor, event.site)

    def clear(self, event: Event) -> None:
        if event.obj is not None:
            self.cleared[event.obj] = event.seq

    def wait(self, event: Event, data: dict[str, Any], actor: Actor) -> None:
        oid = event.obj
        if oid is None or (event.kind == "event.wait" and data.get("flag")):
            return  # an Event already set: no wait at all
        signal = self.signals.get(oid)
        # A notify nobody waited for was meant for someone else than its own sender.
        if signal is None or signal.waiters != 0 or signal.actor == actor:
            return
        cleared = self.cleared.get(oid)
        self.waits[(actor, oid)] = _Wait(event.seq, event.site, data.get("timeout"), signal, cleared if cleared and cleared > signal.seq else None)

    def wake(self, event: Event, data: dict[str, Any], actor: Actor) -> None:
        oid = event.obj
        if oid is None:
            return
        woken = data.get("notified") if event.kind == "cond.wake" else data.get("result")
        wait = self.waits.pop((actor, oid), None)
        if woken:
            # Someone saw the signal (an Event's set stays visible): it was not lost.
            self.signals.pop(oid, None)
        elif wait is not None:
            self.found.append((oid, wait, "cancelled" if actor[0] == "task" else "timed out", event.seq, actor))

    def findings(self, names: Resolver) -> list[LostWakeup]:
        found = list(self.found)
        found += [(oid, wait, "never returned", None, actor) for (actor, oid), wait in self.waits.items()]
        found.sort(key=lambda item: item[1].seq)
        result = []
        for oid, wait, outcome, end_seq, waiter in found:
            signal = wait.signal
            obj = names.obj(oid)
            assert obj is not None
            result.append(
                LostWakeup(
                    obj=obj,
                    signal=signal.kind,
                    signal_seq=signal.seq,
                    signaller=names.actor(signal.actor),
                    signal_site=names.site(signal.site),
                    cleared_seq=wait.cleared,
                    wait_seq=wait.seq,
                    waiter=names.actor(waiter),
                    wait_site=names.site(wait.site),
                    timeout=_seconds(wait.timeout),
                    outcome=outcome,
                    end_seq=end_seq,
                )
            )
        return result


def _seconds(value: Any) -> float | None:
    """A timeout as JSON can carry it: a finite number of seconds, else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None
