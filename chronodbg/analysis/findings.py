"""What `chronodbg analyze` concludes, as plain data: the report and its findings.

Everything here is resolved (labels, names, sites), so a front end renders a
report without the recording, and `dataclasses.asdict(report)` is its JSON
form: field order is the stable key order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chronodbg.logfile.reader import Site


@dataclass(frozen=True)
class ActorRef:
    """A thread (`kind` "thread") or an asyncio task ("task", with its coroutine)."""

    kind: str
    id: int
    name: str | None
    coro: str | None = None


@dataclass(frozen=True)
class ObjRef:
    id: int
    label: str


@dataclass
class InversionEdge:
    """`actor` took `acquired` while holding `held`: the order one edge of the cycle stands for."""

    held: ObjRef
    acquired: ObjRef
    actor: ActorRef
    #: Where and when `held` was taken.
    held_seq: int
    held_site: Site | None
    #: Where and when `acquired` was taken while holding it (the first time this actor did).
    seq: int
    site: Site | None
    #: How many times this actor took this order.
    count: int


@dataclass
class Inversion:
    """A cycle in the lock-order graph: `locks[0]` -> `locks[1]` -> … -> `locks[0]`."""

    locks: list[ObjRef]
    edges: list[InversionEdge]
    #: Locks held on every occurrence of every edge: if any, the cycle cannot deadlock.
    gates: list[ObjRef]


@dataclass
class LostWakeup:
    """A notify/set nobody was waiting for, then a wait on the same object that never got one."""

    obj: ObjRef
    #: "cond.notify" or "event.set".
    signal: str
    signal_seq: int
    signaller: ActorRef
    signal_site: Site | None
    #: An event.clear between the set and the wait (an Event stays set until cleared).
    cleared_seq: int | None
    wait_seq: int
    waiter: ActorRef
    wait_site: Site | None
    timeout: float | None
    #: "timed out" (a threading wait), "cancelled" (an asyncio wait) or "never returned".
    outcome: str
    #: The wake that ended the wait, None if it never returned.
    end_seq: int | None


@dataclass
class SiteContention:
    site: Site | None
    acquisitions: int
    waited: int
    wait_ns: int
    max_wait_ns: int


@dataclass
class LockContention:
    lock: ObjRef
    acquisitions: int
    #: Acquisitions that had to wait (a lock.wait came first).
    waited: int
    #: Acquires that gave up (non-blocking, timed out, cancelled).
    failed: int
    wait_ns: int
    max_wait_ns: int
    #: The acquisition that waited longest, who waited and who held the lock when the wait began.
    max_wait_seq: int | None
    max_wait_actor: ActorRef | None
    max_wait_holder: ActorRef | None
    #: Per acquiring site, most waiting first.
    sites: list[SiteContention]


@dataclass
class Blocked:
    """One interval an actor spent blocked: from the event that began the wait to the one that ended it."""

    actor: ActorRef
    #: The wait's family ("lock", "condition", "queue", "join", …) or, for a task, what it awaited.
    what: str
    obj: ObjRef | None
    #: A queue wait's operation ("put" / "get").
    op: str | None
    #: The joined thread, or the tasks awaited.
    targets: list[ActorRef]
    start_seq: int
    #: None when the wait had not returned when the recording ended.
    end_seq: int | None
    duration_ns: int
    site: Site | None


@dataclass
class ActorBlocked:
    actor: ActorRef
    #: How many blocked intervals, and their total length.
    count: int
    total_ns: int
    #: The longest, longest first.
    longest: list[Blocked]


@dataclass
class QueueMark:
    queue: ObjRef
    high: int
    #: The put that first reached the high-water mark.
    high_seq: int | None
    high_site: Site | None
    #: The bound when the recording shows it (a queue.wait or queue.full carries it), 0 when unbounded, None if unknown.
    maxsize: int | None
    puts: int
    gets: int
    #: Times a put / get had to block.
    blocked_puts: int
    blocked_gets: int


@dataclass
class TaskFinding:
    """A task that never finished, or that no other task ever waited for while it ran."""

    task: ActorRef
    parent: ActorRef | None
    created_seq: int | None
    created_site: Site | None
    #: No task.done, or cancelled only by the loop's shutdown (asyncio.run's `_cancel_all_tasks`).
    never_finished: bool
    never_awaited: bool
    #: A problem (never finished, or never awaited and ended by an exception), not just a note:
    #: a task that finished normally may have been awaited after it ended, which records nothing.
    finding: bool
    #: Who cancelled it (task.cancel's `via`, "user" for the program's own cancel()), if it was cancelled.
    cancelled_by: str | None
    #: The type of the exception that ended it, if one did.
    exception: str | None
    #: At the end: "created", "running", "suspended", "ready", or the outcome of a done task
    #: ("finished", "exception", "cancelled").
    status: str
    #: While suspended: what it awaited, on which object, for which tasks.
    awaits: str | None
    awaits_obj: ObjRef | None
    awaits_tasks: list[ActorRef]
    last_seq: int
    site: Site | None


@dataclass
class AliveThread:
    thread: ActorRef
    daemon: bool
    started_seq: int
    started_by: ActorRef | None
    start_site: Site | None
    #: "started" (no event of its own), "running" or "waiting".
    status: str
    #: While waiting: the family ("lock", "event", "join", …), the object, since when, the holder of a lock.
    waiting: str | None
    waiting_obj: ObjRef | None
    waiting_since: int | None
    holder: ActorRef | None
    last_seq: int
    site: Site | None


@dataclass
class Report:
    path: str
    events: int
    #: The recording has its footer (it ended cleanly).
    complete: bool
    #: The process.exit event (None if the recording has none: a killed process).
    exit_seq: int | None
    exit_how: str | None
    #: How many entries the ranked sections keep, and how many blocked intervals per actor.
    top: int
    per_actor: int
    inversions: list[Inversion] = field(default_factory=list)
    #: Set when the cycle search stopped before listing them all.
    inversions_truncated: bool = False
    lost_wakeups: list[LostWakeup] = field(default_factory=list)
    contention: list[LockContention] = field(default_factory=list)
    blocked: list[ActorBlocked] = field(default_factory=list)
    queues: list[QueueMark] = field(default_factory=list)
    tasks: list[TaskFinding] = field(default_factory=list)
    threads: list[AliveThread] = field(default_factory=list)

    @property
    def findings(self) -> int:
        """Problems (not statistics or notes): ungated inversions, lost wake-ups, task findings, threads alive at exit."""
        inversions = sum(1 for i in self.inversions if not i.gates)
        return inversions + len(self.lost_wakeups) + sum(1 for t in self.tasks if t.finding) + len(self.threads)
