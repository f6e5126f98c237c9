"""`analyze(rec)`: one pass over a recording, with the replay engine's state, to a `Report`.

The events are applied to one `State` by the replay engine's `Applier`, so
who holds a lock, who waits on what and what a task awaits mean exactly what
they mean in a replay; the collectors here look at the state around the
events that concern them. One pass, no index: the cost is the replay
engine's `apply` per event plus a dictionary lookup, whatever the size.

The findings and their rules are described in docs/analyze.md. The
collectors live beside this module: the lock-order graph in
analysis.lockorder, blocked intervals and lost wake-ups in analysis.blocking,
contention and queue marks in analysis.counters; the report's shape in
analysis.findings. Tasks and threads left over at the end are read here,
from the final state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chronodbg import values
from chronodbg.analysis.blocking import AWAITS_TASKS, BlockedTracker, LostWakeups
from chronodbg.analysis.counters import Contention, QueueMarks
from chronodbg.analysis.findings import ActorRef, AliveThread, Inversion, InversionEdge, ObjRef, Report, TaskFinding
from chronodbg.analysis.lockorder import Cycle, LockOrder
from chronodbg.errors import LogError
from chronodbg.logfile.reader import Event, Recording, Site
from chronodbg.replay.applier import Applier
from chronodbg.replay.state import WAIT_ENDS, WAIT_STARTS, Actor, State, Waiting

#: task.cancel's `via` when asyncio.run cancels the tasks left at its end.
_LOOP_SHUTDOWN = "_cancel_all_tasks"
#: Kinds that can start or end a thread's wait in the replay state: the
#: engine's own tables, so a wait kind added there is watched here too.
_WAITING_KINDS = frozenset(WAIT_STARTS) | WAIT_ENDS | {"thread.join", "thread.joined", "thread.end"}


def analyze(rec: Recording, top: int = 10, per_actor: int = 3) -> Report:
    """Everything `chronodbg analyze` reports; `top` bounds the ranked sections, `per_actor` the intervals per actor."""
    return _Pass(rec, per_actor).run(top)


class _Pass:
    def __init__(self, rec: Recording, per_actor: int) -> None:
        self.rec = rec
        self.applier = Applier(rec)
        self.state = State()
        self.order = LockOrder()
        self.blocked = BlockedTracker(per_actor)
        self.lost = LostWakeups()
        self.contention = Contention()
        self.queues = QueueMarks()
        self.task_created: dict[int, tuple[int, int | None]] = {}
        #: task -> who last asked it to cancel (task.cancel's `via`; "user" when the program did).
        self.cancelled_by: dict[int, str] = {}
        #: Tasks some task suspended waiting for; tasks whose awaited list was cut short in the recording.
        self.awaited: set[int] = set()
        self.awaited_children_of: set[int] = set()
        #: thread id -> (seq, site, daemon, parent thread) of its thread.start.
        self.started: dict[int, tuple[int, int | None, bool, int]] = {}
        self.ended: set[int] = set()
        self.exit: Event | None = None
        self._actors: dict[Actor, ActorRef] = {}
        hooks: dict[str, Callable[[Event, dict[str, Any]], None]] = {
            "lock.wait": self._lock_wait,
            "lock.acquire": self._lock_acquire,
            "lock.fail": self._lock_fail,
            "lock.release": self._lock_release,
            "cond.notify": self._signal,
            "event.set": self._signal,
            "event.clear": self._clear,
            "cond.wait": self._wait,
            "event.wait": self._wait,
            "cond.wake": self._wake,
            "event.wake": self._wake,
            "queue.put": self._queue_put,
            "queue.get": self._queue_get,
            "queue.wait": self._queue_wait,
            "queue.full": self._queue_full,
            "task.create": self._task_create,
            "task.suspend": self._task_suspend,
            "task.resume": self._task_resume,
            "task.cancel": self._task_cancel,
            "thread.start": self._thread_start,
            "thread.end": self._thread_end,
            "process.exit": self._process_exit,
        }
        for kind in _WAITING_KINDS:
            hooks.setdefault(kind, self._apply)
        self.hooks = hooks

    def run(self, top: int) -> Report:
        hooks, apply, data_of, state = self.hooks, self.applier.apply, self.applier.data, self.state
        event: Event | None = None
        try:
            for event in self.rec.events:
                data = data_of(event)
                hook = hooks.get(event.kind)
                if hook is None:
                    apply(state, event, data)
                else:
                    hook(event, data)
        except (TypeError, KeyError, AttributeError):
            # The reader checks a log's structure, not what its fields hold: a
            # crafted value (a dict for a task id) fails here, as one line.
            seq = event.seq if event is not None else 0
            raise LogError(self.rec.path, f"malformed event {seq} ({event.kind if event else '?'})") from None
        return self._report(top)

    # -- applying, with the threads' waits watched -----------------------------

    def _apply(self, event: Event, data: dict[str, Any]) -> None:
        """Apply an event that may begin or end a thread's wait, and tell the blocked-interval tracker."""
        kind = event.kind
        tid = data.get("thread") if kind == "thread.end" else event.thread
        if not isinstance(tid, int):
            tid = event.thread
        thread = self.state.threads.get(tid)
        before: Waiting | None = thread.waiting if thread is not None else None
        self.applier.apply(self.state, event, data)
        thread = self.state.threads.get(tid)
        after = thread.waiting if thread is not None else None
        if after is before:
            return
        if before is not None:
            if after is not None and after.what == before.what and after.obj == before.obj:
                return  # the same wait goes on (a get that blocks again records another queue.wait)
            self.blocked.end(("thread", tid), event)
        if after is not None and not (kind == "event.wait" and data.get("flag")):
            self.blocked.begin(("thread", tid), after.what, after.obj, after.detail, event)

    # -- locks -----------------------------------------------------------------

    def _lock_wait(self, event: Event, data: dict[str, Any]) -> None:
        assert event.obj is not None
        actor = self.applier.actor(event)
        lock = self.state.locks.get(event.obj)
        owner = lock.owner if lock is not None else None
        self.contention.waits(actor, event.obj, owner)
        if owner != actor:
            self.order.wants(actor, event.obj, event.seq, event.site)
        self._apply(event, data)

    def _lock_acquire(self, event: Event, data: dict[str, Any]) -> None:
        oid = event.obj
        assert oid is not None
        actor = self.applier.actor(event)
        lock = self.state.locks.get(oid)
        reentry = lock is not None and lock.owner == actor and bool(lock.depth)
        self._apply(event, data)
        if not reentry:
            if not self.contention.is_waiting(actor, oid):  # a wait already drew the edges
                self.order.wants(actor, oid, event.seq, event.site)
            self.order.acquired(actor, oid, event.seq, event.site)
        self.contention.acquired(actor, oid, event, data)

    def _lock_fail(self, event: Event, data: dict[str, Any]) -> None:
        assert event.obj is not None
        self.contention.failed(self.applier.actor(event), event.obj)
        self._apply(event, data)

    def _lock_release(self, event: Event, data: dict[str, Any]) -> None:
        assert event.obj is not None
        lock = self.state.locks.get(event.obj)
        owner = lock.owner if lock is not None else None
        self.applier.apply(self.state, event, data)
        if owner is not None and self.state.locks[event.obj].owner is None:
            self.order.released(owner, event.obj)

    # -- conditions and events -------------------------------------------------

    def _signal(self, event: Event, data: dict[str, Any]) -> None:
        self.lost.signal(event, data, self.applier.actor(event))
        self.applier.apply(self.state, event, data)

    def _clear(self, event: Event, data: dict[str, Any]) -> None:
        self.lost.clear(event)
        self.applier.apply(self.state, event, data)

    def _wait(self, event: Event, data: dict[str, Any]) -> None:
        self.lost.wait(event, data, self.applier.actor(event))
        self._apply(event, data)

    def _wake(self, event: Event, data: dict[str, Any]) -> None:
        self.lost.wake(event, data, self.applier.actor(event))
        self._apply(event, data)

    # -- queues ------------------------------------------------------------------

    def _queue_put(self, event: Event, data: dict[str, Any]) -> None:
        self.queues.put(event, data)
        self._apply(event, data)

    def _queue_get(self, event: Event, data: dict[str, Any]) -> None:
        self.queues.get(event)
        self._apply(event, data)

    def _queue_wait(self, event: Event, data: dict[str, Any]) -> None:
        actor = self.applier.actor(event)
        queue = self.state.queues.get(event.obj) if event.obj is not None else None
        self.queues.wait(event, data, again=queue is not None and any(waiter == actor for waiter, _ in queue.waiters))
        self._apply(event, data)

    def _queue_full(self, event: Event, data: dict[str, Any]) -> None:
        self.queues.bound(event, data)
        self._apply(event, data)

    # -- tasks and threads -------------------------------------------------------

    def _task_create(self, event: Event, data: dict[str, Any]) -> None:
        task = data.get("task")
        if isinstance(task, int):
            self.task_created[task] = (event.seq, event.site)
        self.applier.apply(self.state, event, data)

    def _task_suspend(self, event: Event, data: dict[str, Any]) -> None:
        self.applier.apply(self.state, event, data)
        if event.task is None:
            return
        awaits = data.get("awaits")
        targets, complete = _task_ids(data.get("target"))
        if isinstance(awaits, str) and awaits in AWAITS_TASKS:
            self.awaited.update(targets)
            if not complete:
                self.awaited_children_of.add(event.task)
        self.blocked.suspend(event.task, awaits, event.obj, targets, event)

    def _task_resume(self, event: Event, data: dict[str, Any]) -> None:
        self.applier.apply(self.state, event, data)
        if event.task is not None:
            self.blocked.end(("task", event.task), event)

    def _task_cancel(self, event: Event, data: dict[str, Any]) -> None:
        task, via = data.get("task"), data.get("via")
        if isinstance(task, int):
            self.cancelled_by[task] = via if isinstance(via, str) else "user"
        self.applier.apply(self.state, event, data)

    def _thread_start(self, event: Event, data: dict[str, Any]) -> None:
        tid = data.get("thread")
        if isinstance(tid, int):
            self.started[tid] = (event.seq, event.site, bool(data.get("daemon")), event.thread)
        self.applier.apply(self.state, event, data)

    def _thread_end(self, event: Event, data: dict[str, Any]) -> None:
        tid = data.get("thread")
        if isinstance(tid, int):
            self.ended.add(tid)
        self._apply(event, data)

    def _process_exit(self, event: Event, data: dict[str, Any]) -> None:
        self.exit = event
        self.applier.apply(self.state, event, data)

    # -- the report ----------------------------------------------------------------

    def actor(self, actor: Actor) -> ActorRef:
        ref = self._actors.get(actor)
        if ref is None:
            kind, ident = actor
            if kind == "task":
                task = self.rec.tasks.get(ident)
                ref = ActorRef("task", ident, task.name if task else None, task.coro if task else None)
            else:
                thread = self.rec.threads.get(ident)
                ref = ActorRef("thread", ident, thread.name if thread else None)
            self._actors[actor] = ref
        return ref

    def obj(self, oid: int | None) -> ObjRef | None:
        if oid is None:
            return None
        info = self.rec.objects.get(oid)
        return ObjRef(oid, info.label if info else f"#{oid}")

    def site(self, site: int | None) -> Site | None:
        return self.rec.sites.get(site) if site is not None else None

    def _report(self, top: int) -> Report:
        rec = self.rec
        exit_data = self.applier.data(self.exit) if self.exit is not None else {}
        report = Report(
            path=rec.path,
            events=len(rec.events),
            complete=rec.complete,
            exit_seq=self.exit.seq if self.exit is not None else None,
            exit_how=exit_data.get("how") if isinstance(exit_data.get("how"), str) else None,
            top=top,
            per_actor=self.blocked.keep,
        )
        report.inversions = [self._inversion(cycle) for cycle in self.order.inversions()]
        report.inversions_truncated = self.order.truncated
        report.lost_wakeups = self.lost.findings(self)
        report.contention = self.contention.report(self, top)
        last = rec.events[-1] if rec.events else None
        report.blocked = self.blocked.report(self, last, top)
        report.queues = self.queues.report(self)
        report.tasks = self._tasks()
        report.threads = self._threads()
        return report

    def _inversion(self, cycle: Cycle) -> Inversion:
        locks = [self.obj(lock) for lock in cycle.locks]
        edges = []
        for i, witness in enumerate(cycle.witnesses):
            held, acquired = cycle.locks[i], cycle.locks[(i + 1) % len(cycle.locks)]
            edges.append(
                InversionEdge(
                    held=_known(self.obj(held)),
                    acquired=_known(self.obj(acquired)),
                    actor=self.actor(witness.actor),
                    held_seq=witness.held_seq,
                    held_site=self.site(witness.held_site),
                    seq=witness.seq,
                    site=self.site(witness.site),
                    count=witness.count,
                )
            )
        return Inversion([_known(lock) for lock in locks], edges, [_known(self.obj(gate)) for gate in cycle.gates])

    def _tasks(self) -> list[TaskFinding]:
        found = []
        for tid, info in sorted(self.rec.tasks.items()):
            task = self.state.tasks.get(tid)
            if task is None:
                continue
            cancelled_by = self.cancelled_by.get(tid) if task.outcome == "cancelled" else None
            # asyncio.run cancels what is still pending when main ends: that task never finished its work.
            never_finished = task.status != "done" or cancelled_by == _LOOP_SHUTDOWN
            # A task created outside any task (asyncio.run's main task) is awaited by the loop itself.
            never_awaited = (
                info.parent is not None and tid not in self.awaited and info.parent not in self.awaited_children_of
            )
            if not (never_finished or never_awaited):
                continue
            created_seq, created_site = self.task_created.get(tid, (None, None))
            suspended = task.status in ("suspended", "ready")
            awaits_tasks = suspended and isinstance(task.awaits, str) and task.awaits in AWAITS_TASKS
            targets, _ = _task_ids(task.target) if awaits_tasks else ([], True)
            found.append(
                TaskFinding(
                    task=self.actor(("task", tid)),
                    parent=self.actor(("task", info.parent)) if info.parent is not None else None,
                    created_seq=created_seq,
                    created_site=self.site(created_site),
                    never_finished=never_finished,
                    never_awaited=never_awaited,
                    finding=never_finished or (never_awaited and task.outcome == "exception"),
                    cancelled_by=cancelled_by,
                    exception=_text(task.result, "?") if task.outcome == "exception" else None,
                    status=_text(task.outcome, "done") if task.status == "done" else task.status,
                    awaits=_text(task.awaits, "?") if suspended else None,
                    awaits_obj=self.obj(task.obj) if suspended else None,
                    awaits_tasks=[self.actor(("task", t)) for t in targets],
                    last_seq=task.last_seq,
                    site=self.site(task.site),
                )
            )
        return found

    def _threads(self) -> list[AliveThread]:
        found = []
        for tid, (seq, site, daemon, parent) in sorted(self.started.items()):
            if tid in self.ended:
                continue
            thread = self.state.threads.get(tid)
            waiting = thread.waiting if thread is not None else None
            holder = None
            if waiting is not None and waiting.what == "lock" and waiting.obj in self.state.locks:
                owner = self.state.locks[waiting.obj].owner
                holder = self.actor(owner) if owner is not None else None
            found.append(
                AliveThread(
                    thread=self.actor(("thread", tid)),
                    daemon=daemon,
                    started_seq=seq,
                    started_by=self.actor(("thread", parent)),
                    start_site=self.site(site),
                    status=thread.status if thread is not None else "started",
                    waiting=waiting.what if waiting is not None else None,
                    waiting_obj=self.obj(waiting.obj) if waiting is not None else None,
                    waiting_since=waiting.since if waiting is not None else None,
                    holder=holder,
                    last_seq=thread.last_seq if thread is not None else seq,
                    site=self.site(thread.site) if thread is not None else None,
                )
            )
        return found


def _text(value: Any, default: str) -> str:
    """A field that should hold a name, as one (a crafted log can put anything there)."""
    return value if isinstance(value, str) else default


def _known(ref: ObjRef | None) -> ObjRef:
    assert ref is not None
    return ref


def _task_ids(target: Any) -> tuple[list[int], bool]:
    """The task ids in a task.suspend target (an id, or a list summary of ids), and whether the list was complete."""
    if isinstance(target, bool):
        return [], True
    if isinstance(target, int):
        return [target], True
    if isinstance(target, (tuple, list)) and len(target) == 3 and target[0] in values.CONTAINER_TAGS:
        length, items = target[1], target[2]
        if not isinstance(items, (tuple, list)):
            return [], False
        ids = [item for item in items if isinstance(item, int) and not isinstance(item, bool)]
        return ids, not (isinstance(length, int) and length > len(items))
    return [], True
