"""Lock contention and queue high-water marks, counted during analysis.report's pass.

Plain counters per object (and per acquiring site), ranked at the end: the
pass tells them about each lock or queue event, with what the replay state
knew just before it (the lock's owner, the queue's waiters).
"""

from __future__ import annotations

from typing import Any

from chronodbg.analysis.blocking import Resolver
from chronodbg.analysis.findings import LockContention, QueueMark, SiteContention
from chronodbg.logfile.reader import Event
from chronodbg.replay.state import Actor


class _LockStats:
    __slots__ = ("acquisitions", "waited", "failed", "wait_ns", "max_wait_ns", "max_seq", "max_actor", "max_holder", "sites")

    def __init__(self) -> None:
        self.acquisitions = self.waited = self.failed = self.wait_ns = self.max_wait_ns = 0
        self.max_seq: int | None = None
        self.max_actor: Actor | None = None
        self.max_holder: Actor | None = None
        #: site -> [acquisitions, waited, wait_ns, max_wait_ns]
        self.sites: dict[int | None, list[int]] = {}


class Contention:
    """Per lock: acquisitions, how many had to wait and for how long, by site; the longest wait and who held the lock then."""

    def __init__(self) -> None:
        self.locks: dict[int, _LockStats] = {}
        #: (actor, lock) -> the lock's owner when the actor began waiting for it.
        self.pending: dict[tuple[Actor, int], Actor | None] = {}

    def _stats(self, lock: int) -> _LockStats:
        stats = self.locks.get(lock)
        if stats is None:
            stats = self.locks[lock] = _LockStats()
        return stats

    def waits(self, actor: Actor, lock: int, owner: Actor | None) -> None:
        self.pending[(actor, lock)] = owner

    def is_waiting(self, actor: Actor, lock: int) -> bool:
        return (actor, lock) in self.pending

    def acquired(self, actor: Actor, lock: int, event: Event, data: dict[str, Any]) -> None:
        stats = self._stats(lock)
        at_site = stats.sites.get(event.site)
        if at_site is None:
            at_site = stats.sites[event.site] = [0, 0, 0, 0]
        stats.acquisitions += 1
        at_site[0] += 1
        key = (actor, lock)
        if key not in self.pending:
            return
        holder = self.pending.pop(key)
        waited = data.get("waited_ns")
        waited = waited if isinstance(waited, int) and waited > 0 else 0
        stats.waited += 1
        stats.wait_ns += waited
        at_site[1] += 1
        at_site[2] += waited
        at_site[3] = max(at_site[3], waited)
        if stats.max_seq is None or waited > stats.max_wait_ns:
            stats.max_wait_ns, stats.max_seq, stats.max_actor, stats.max_holder = waited, event.seq, actor, holder

    def failed(self, actor: Actor, lock: int) -> None:
        self.pending.pop((actor, lock), None)
        self._stats(lock).failed += 1

    def report(self, names: Resolver, top: int) -> list[LockContention]:
        """The `top` locks that made someone wait (or fail), most waits first."""
        ranked = sorted(
            ((oid, stats) for oid, stats in self.locks.items() if stats.waited or stats.failed),
            key=lambda item: (-item[1].waited, -item[1].wait_ns, -item[1].failed, item[0]),
        )
        result = []
        for oid, stats in ranked[:top]:
            by_site = sorted(stats.sites.items(), key=lambda item: (-item[1][1], -item[1][2], item[0] or 0))
            lock = names.obj(oid)
            assert lock is not None
            result.append(
                LockContention(
                    lock=lock,
                    acquisitions=stats.acquisitions,
                    waited=stats.waited,
                    failed=stats.failed,
                    wait_ns=stats.wait_ns,
                    max_wait_ns=stats.max_wait_ns,
                    max_wait_seq=stats.max_seq,
                    max_wait_actor=names.actor(stats.max_actor) if stats.max_actor else None,
                    max_wait_holder=names.actor(stats.max_holder) if stats.max_holder else None,
                    sites=[SiteContention(names.site(site), *counts) for site, counts in by_site],
                )
            )
        return result


class _QueueStats:
    __slots__ = ("high", "high_seq", "high_site", "maxsize", "puts", "gets", "blocked_puts", "blocked_gets")

    def __init__(self) -> None:
        self.high = self.puts = self.gets = self.blocked_puts = self.blocked_gets = 0
        self.high_seq: int | None = None
        self.high_site: int | None = None
        self.maxsize: int | None = None


class QueueMarks:
    """Per queue: the largest size a put left it at (and where), its bound when known, puts, gets, blocked calls."""

    def __init__(self) -> None:
        self.queues: dict[int, _QueueStats] = {}

    def _stats(self, queue: int | None) -> _QueueStats:
        assert queue is not None
        stats = self.queues.get(queue)
        if stats is None:
            stats = self.queues[queue] = _QueueStats()
        return stats

    def put(self, event: Event, data: dict[str, Any]) -> None:
        stats = self._stats(event.obj)
        stats.puts += 1
        size = data.get("size")
        if isinstance(size, int) and (size > stats.high or stats.high_seq is None):
            stats.high, stats.high_seq, stats.high_site = size, event.seq, event.site

    def get(self, event: Event) -> None:
        self._stats(event.obj).gets += 1

    def wait(self, event: Event, data: dict[str, Any], again: bool) -> None:
        """A queue.wait; `again` when the same call already waited (a get that blocks again records another)."""
        stats = self._stats(event.obj)
        self.bound(event, data)
        if not again:
            if data.get("op") == "put":
                stats.blocked_puts += 1
            else:
                stats.blocked_gets += 1

    def bound(self, event: Event, data: dict[str, Any]) -> None:
        """queue.wait and queue.full carry the queue's maxsize (0 or less: unbounded)."""
        maxsize = data.get("maxsize")
        if isinstance(maxsize, int) and not isinstance(maxsize, bool):
            self._stats(event.obj).maxsize = max(maxsize, 0)

    def report(self, names: Resolver) -> list[QueueMark]:
        """Every queue that was used, highest mark first."""
        result = []
        for oid, s in sorted(self.queues.items(), key=lambda item: (-item[1].high, item[0])):
            queue = names.obj(oid)
            assert queue is not None
            result.append(
                QueueMark(queue, s.high, s.high_seq, names.site(s.high_site), s.maxsize, s.puts, s.gets, s.blocked_puts, s.blocked_gets)
            )
        return result
