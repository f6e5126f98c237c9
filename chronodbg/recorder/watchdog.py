"""The live deadlock watchdog: notices a recorded program that can never go on.

The writer thread feeds it every batch of events it writes (`feed`, under the
writer's lock), so it knows who holds which lock and who waits on what as of
the last write, without a cost on the program's own threads. After each
write it looks (`check`) for a cycle of waits with no timeout (T1 waits for
Lock#1 held by T2, T2 for Lock#2 held by T1; tasks on asyncio locks alike)
or for every live thread blocked with no timeout (unless the program
handles a signal itself: its handler may be what ends the wait). A finding counts only
when it has stayed the same for GRACE seconds and the threads in it have not
moved (their Python frames are the same), so a wait that was about to end
when the events were written is never reported.

The rules are analysis.waitgraph's, the same ones `info waits` uses in replay.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from chronodbg.analysis.waitgraph import Actor, Wait, WaitGraph, describe_deadlock, targets_of
from chronodbg.kinds import Kind

# Kind's members as module constants: on 3.11 each `Kind.X` goes through EnumType.__getattr__ (about 190 ns).
BARRIER_BROKEN = Kind.BARRIER_BROKEN
BARRIER_PASS = Kind.BARRIER_PASS
BARRIER_WAIT = Kind.BARRIER_WAIT
COND_NOTIFY = Kind.COND_NOTIFY
COND_WAIT = Kind.COND_WAIT
COND_WAKE = Kind.COND_WAKE
EVENT_SET = Kind.EVENT_SET
EVENT_WAIT = Kind.EVENT_WAIT
EVENT_WAKE = Kind.EVENT_WAKE
FUTURE_SET = Kind.FUTURE_SET
FUTURE_WAIT = Kind.FUTURE_WAIT
FUTURE_WAKE = Kind.FUTURE_WAKE
LOCK_ACQUIRE = Kind.LOCK_ACQUIRE
LOCK_FAIL = Kind.LOCK_FAIL
LOCK_RELEASE = Kind.LOCK_RELEASE
LOCK_WAIT = Kind.LOCK_WAIT
QUEUE_EMPTY = Kind.QUEUE_EMPTY
QUEUE_FULL = Kind.QUEUE_FULL
QUEUE_GET = Kind.QUEUE_GET
QUEUE_JOIN = Kind.QUEUE_JOIN
QUEUE_JOINED = Kind.QUEUE_JOINED
QUEUE_PUT = Kind.QUEUE_PUT
QUEUE_TASK_DONE = Kind.QUEUE_TASK_DONE
QUEUE_WAIT = Kind.QUEUE_WAIT
SEM_ACQUIRE = Kind.SEM_ACQUIRE
SEM_FAIL = Kind.SEM_FAIL
SEM_RELEASE = Kind.SEM_RELEASE
SEM_WAIT = Kind.SEM_WAIT
TASK_DONE = Kind.TASK_DONE
TASK_RESUME = Kind.TASK_RESUME
TASK_SUSPEND = Kind.TASK_SUSPEND
TASK_WAKE = Kind.TASK_WAKE
THREAD_END = Kind.THREAD_END
THREAD_JOIN = Kind.THREAD_JOIN
THREAD_JOINED = Kind.THREAD_JOINED

#: How long a deadlock must stay unchanged before it is reported.
GRACE = 0.5
#: The exit status of a program that `--on-deadlock=stop` ended.
DEADLOCK_EXIT = 86

#: Thread waits: kind -> (what, index of the timeout in the event's data or None).
_STARTS: dict[int, tuple[str, int | None]] = {
    LOCK_WAIT: ("lock", 0),
    COND_WAIT: ("condition", 0),
    SEM_WAIT: ("semaphore", 1),
    EVENT_WAIT: ("event", 1),
    BARRIER_WAIT: ("barrier", 2),
    QUEUE_WAIT: ("queue", 3),
    QUEUE_JOIN: ("queue join", None),
    FUTURE_WAIT: ("future", 0),
    THREAD_JOIN: ("join", 1),
}
_ENDS = frozenset(
    {
        LOCK_ACQUIRE, LOCK_FAIL, COND_WAKE, SEM_ACQUIRE, SEM_FAIL, EVENT_WAKE,
        BARRIER_PASS, BARRIER_BROKEN, QUEUE_PUT, QUEUE_GET, QUEUE_FULL, QUEUE_EMPTY,
        QUEUE_JOINED, FUTURE_WAKE, THREAD_JOINED,
    }
)  # fmt: skip
#: What wakes the waiters of its object (a lock's release is followed through its owner instead).
_WAKERS = frozenset(
    {
        QUEUE_PUT, QUEUE_GET, QUEUE_TASK_DONE, EVENT_SET, COND_NOTIFY, SEM_RELEASE,
        BARRIER_PASS, BARRIER_BROKEN, FUTURE_SET,
    }
)  # fmt: skip
#: The kinds `feed` handles in its loop (recorder/_watch.c takes them in this order); the rest go to `_other`.
_INLINE = (LOCK_ACQUIRE, LOCK_RELEASE, QUEUE_PUT, QUEUE_GET, TASK_RESUME, TASK_SUSPEND, TASK_WAKE, TASK_DONE)
_WATCHED = frozenset(_STARTS) | _ENDS | _WAKERS | {THREAD_END} | frozenset(_INLINE)


class _Pending(NamedTuple):
    """A finding seen once, waiting to be confirmed."""

    key: tuple[Any, ...]
    since: float
    frames: dict[int, tuple[int, int]]


class Finding(NamedTuple):
    waits: list[Wait]
    cycle: bool
    #: The thread the deadlock event is recorded on.
    thread: int
    lines: list[str]


#: Objects whose last wake-up the watchdog remembers before it forgets those nobody waits on.
_WOKEN_KEPT = 4096


class Watchdog:
    def __init__(self, recorder: Any) -> None:
        # The Recorder (not imported: core imports this module).
        self.rec = recorder
        #: tid -> (what, obj, since, site, timed, detail, joined tid)
        self.thread_waits: dict[int, tuple[str, int | None, int, int | None, bool, str, int | None]] = {}
        #: task -> (awaits, obj, since, site, timed, target, thread)
        self.task_waits: dict[int, tuple[str, int | None, int, int | None, bool, Any, int]] = {}
        #: lock -> the event that took it (depth 1), and that event's seq.
        self.holder: dict[int, tuple[Any, ...]] = {}
        self.held_since: dict[int, int] = {}
        #: object -> seq of the last event that woke its waiters; threads that ended.
        #: A waiter woken after its wait began is not blocked, only not yet
        #: scheduled (on a loaded machine that can last a while).
        self.woken_at: dict[int, int] = {}
        self.ended: set[int] = set()
        self.sites: dict[int, tuple[int, int, int]] = {}
        self.task_names: dict[int, tuple[str | None, str]] = {}
        self.done_task_names: dict[int, tuple[str | None, str]] = {}
        self._pending: _Pending | None = None
        self._reported: set[tuple[Any, ...]] = set()
        #: object -> whether it is an asyncio primitive (ids are never reused).
        self._asyncio_memo: dict[int | None, bool] = {}
        #: feed's loop in C (recorder/_watch.c), where the recorder's hooks are C.
        hooks = getattr(recorder, "hooks", None)
        self._feed_c: Any = None if hooks is None else hooks.watch_feed

    # -- the model (writer thread, under the recorder's io lock) ---------------

    def feed(self, batch: Sequence[tuple[Any, ...]], defs: dict[str, list[Any]], first_seq: int) -> None:
        for sid, file, line, func in defs.get("sites", ()):
            self.sites[sid] = (file, line, func)
        for task, name, coro, _parent in defs.get("tasks", ()):
            self.task_names[task] = (name, coro)
        if self._feed_c is not None and type(batch) is list:
            self._feed_c(self, batch, first_seq, _INLINE, _WATCHED)
            self._bound_woken()
            return
        watched = _WATCHED
        acquire, release, put, get = LOCK_ACQUIRE, LOCK_RELEASE, QUEUE_PUT, QUEUE_GET
        resume, suspend, wake, done = TASK_RESUME, TASK_SUSPEND, TASK_WAKE, TASK_DONE
        holder, held_since, woken_at = self.holder, self.held_since, self.woken_at
        thread_waits, task_waits = self.thread_waits, self.task_waits
        # Lock, queue and task traffic is most of a busy program's events and
        # runs on the writer thread, which holds the GIL: a dict write or two,
        # nothing built, unless the thread was waiting (then _apply ends its wait).
        # Calls, returns and lines (most events at those levels) leave at the first test.
        for seq, event in enumerate(batch, first_seq):
            kind = event[3]
            if kind not in watched:
                continue
            if kind is acquire:
                if event[6][1] == 1:
                    holder[event[4]] = event
                    held_since[event[4]] = seq
                if event[1] in thread_waits:
                    self._apply(event, seq)
            elif kind is release:
                if not event[6][0]:
                    holder.pop(event[4], None)
                    held_since.pop(event[4], None)
            elif kind is put or kind is get:
                if event[1] in thread_waits:
                    self._apply(event, seq)
                elif event[4] is not None:
                    woken_at[event[4]] = seq
            elif kind is resume:
                if event[2] is not None:
                    task_waits.pop(event[2], None)
            elif kind is wake:
                task_waits.pop(event[6][0], None)
            elif kind is suspend:
                task = event[2]
                if task is not None:
                    awaits, target, timeout = (tuple(event[6]) + (None, None, None))[:3]
                    task_waits[task] = (awaits or "?", event[4], seq, event[5], timeout is not None, target, event[1])
            elif kind is done:
                self._task_done(event[2])
            else:
                self._other(event, seq)
        self._bound_woken()

    def _bound_woken(self) -> None:
        """Keep `woken_at` to the objects waited on now, once it holds more than _WOKEN_KEPT.

        Only a wait going on now asks when its object last woke someone: a
        long run with many short-lived queues and events keeps no more. Done
        where it grows, after each batch: the writer, which checks, wakes only
        every BUSY_FLUSH_INTERVAL while the program packs its own events.
        """
        if len(self.woken_at) > _WOKEN_KEPT:
            waited_on = {wait[1] for wait in self.thread_waits.values()} | {wait[1] for wait in self.task_waits.values()}
            self.woken_at = {obj: seq for obj, seq in self.woken_at.items() if obj in waited_on}

    def _other(self, event: tuple[Any, ...], seq: int) -> None:
        """A watched event that feed's loop does not handle itself."""
        if event[3] in _STARTS and event[2] is not None and self._on_asyncio(event[4]):
            return  # a task's wait: its task.suspend names what it waits on
        self._apply(event, seq)

    def _on_asyncio(self, obj: int | None) -> bool:
        known = self._asyncio_memo.get(obj)
        if known is None:
            if len(self._asyncio_memo) > _WOKEN_KEPT:
                self._asyncio_memo.clear()
            known = self._asyncio_memo[obj] = self.rec.objects.is_asyncio(obj)
        return known

    def _task_done(self, task: int | None) -> None:
        if task is None:
            return
        self.task_waits.pop(task, None)
        if task in self.task_names:
            # A finished task is named only if a report needs it (it ended
            # holding a lock): keep the latest few, not all.
            done = self.done_task_names
            done[task] = self.task_names.pop(task)
            if len(done) > _WOKEN_KEPT:
                del done[next(iter(done))]

    def _apply(self, event: tuple[Any, ...], seq: int) -> None:
        _t, tid, task, kind, obj, site, data, _snap = event
        if kind in _WAKERS and obj is not None:
            self.woken_at[obj] = seq
        if kind == LOCK_ACQUIRE:
            if data[1] == 1 or obj not in self.holder:
                self.holder[obj], self.held_since[obj] = event, seq
        elif kind == THREAD_END:
            self.thread_waits.pop(data[0], None)
            self.ended.add(data[0])
            return
        if task is not None and self._on_asyncio(obj):
            return  # a task's wait: its task.suspend names what it waits on
        start = _STARTS.get(kind)
        if start is not None:
            what, at = start
            if kind == EVENT_WAIT and data[0]:
                return  # already set: no wait
            timeout = data[at] if at is not None else None
            detail = data[0] if kind == QUEUE_WAIT else ""
            joined = data[0] if kind == THREAD_JOIN else None
            self.thread_waits[tid] = (what, obj, seq, site, timeout is not None, detail or "", joined)
        elif kind in _ENDS:
            wait = self.thread_waits.get(tid)
            if wait is not None and (wait[1] == obj or kind == THREAD_JOINED):
                del self.thread_waits[tid]

    def graph(self) -> WaitGraph:
        waits = []
        for tid, (what, obj, since, site, timed, detail, joined) in self.thread_waits.items():
            if (joined is not None and joined in self.ended) or (obj is not None and self.woken_at.get(obj, 0) > since):
                continue  # woken, not yet running again
            on: tuple[Actor, ...] = (("thread", joined),) if joined is not None else ()
            waits.append(self._wait(("thread", tid), what, obj, since, site, timed, on, detail))
        for task, (awaits, obj, since, site, timed, target, _thread) in self.task_waits.items():
            waits.append(self._wait(("task", task), awaits, obj, since, site, timed, targets_of(awaits, target), ""))
        return WaitGraph(waits)

    def _wait(
        self, actor: Actor, what: str, obj: int | None, since: int, site: int | None, timed: bool, on: tuple[Actor, ...], detail: str
    ) -> Wait:
        if what == "lock" and obj is not None:
            taken = self.holder.get(obj)
            if taken is not None:
                _t, tid, task, _kind, _obj, at, _data, _snap = taken
                owner: Actor = ("task", task) if task is not None and self.rec.objects.is_asyncio(obj) else ("thread", tid)
                return Wait(actor, what, obj, since, site, timed, (owner,), self.held_since.get(obj), at, detail)
        return Wait(actor, what, obj, since, site, timed, on, detail=detail)

    # -- the check (writer thread) ----------------------------------------------

    def check(self, now: float | None = None) -> Finding | None:
        """A deadlock confirmed by this call, once per deadlock; None otherwise."""
        if not self.thread_waits and not self.task_waits:
            self._pending = None
            return None
        now = time.monotonic() if now is None else now
        frames = sys._current_frames()
        try:
            return self._check(frames, now)
        finally:
            # The dict holds this very frame, whose locals hold the dict: a
            # cycle that would keep every thread's frame, and all their
            # locals reference, alive until the cyclic GC finds it.
            frames.clear()

    def _check(self, frames: dict[int, Any], now: float) -> Finding | None:
        graph = self.graph()
        waits: list[Wait] | None = None
        cycles = graph.cycles()
        cycle = bool(cycles)
        if cycles:
            waits = cycles[0]
        else:
            alive = self._alive(frames, graph)
            waits = graph.stuck(alive) if alive is not None else None
            if waits is not None and _signal_may_wake():
                waits = None
            if waits is not None:
                waits = self._with_tasks(waits, graph)
        if waits is None:
            self._pending = None
            return None
        key = tuple((w.actor, w.since) for w in waits)
        idents = {tid: ident for ident, tid in self.rec.thread_ids.items()}
        positions = {}
        for wait in waits:
            ident = idents.get(wait.actor[1]) if wait.actor[0] == "thread" else None
            frame = frames.get(ident) if ident is not None else None
            if frame is not None:
                positions[wait.actor[1]] = (id(frame), frame.f_lasti)
        pending = self._pending
        if pending is None or pending.key != key or pending.frames != positions:
            self._pending = _Pending(key, now, positions)
            return None
        if now - pending.since < GRACE or key in self._reported:
            return None
        self._reported.add(key)
        thread = next((w.actor[1] for w in waits if w.actor[0] == "thread"), None)
        if thread is None:
            thread = self.task_waits[waits[0].actor[1]][6]
        return Finding(waits, cycle, thread, describe_deadlock(waits, _LiveNames(self), cycle))

    def _alive(self, frames: dict[int, Any], graph: WaitGraph) -> list[Actor] | None:
        """Every live thread of the program, or None when one is unknown (it might be running).

        Threads blocked where no event records it get a wait of their own in
        `graph`: the main thread waiting at interpreter exit for the other
        threads, an idle executor worker, an event loop with nothing to do.
        """
        alive: list[Actor] = []
        writer = self.rec.writer_ident
        loops = {getattr(loop, "_thread_id", None): loop for loop in list(self.rec.loops)}
        for ident, frame in frames.items():
            if ident == writer:
                continue
            tid = self.rec.thread_ids.get(ident)
            if tid is None:
                return None
            actor = ("thread", tid)
            if actor not in graph.waits:
                if _in_shutdown(frame):
                    graph.waits[actor] = Wait(actor, "join", None, 0, None, False)
                elif _idle_worker(frame):
                    graph.waits[actor] = Wait(actor, "executor", None, 0, None, False, detail="an idle worker")
                elif ident in loops and _idle_loop(loops[ident]):
                    graph.waits[actor] = Wait(actor, "event loop", None, 0, None, False)
            alive.append(actor)
        return alive

    def _with_tasks(self, waits: list[Wait], graph: WaitGraph) -> list[Wait]:
        """An idle loop's thread, followed by what its tasks await."""
        if not any(w.what == "event loop" for w in waits):
            return waits
        tasks = sorted((w for w in graph.waits.values() if w.actor[0] == "task"), key=lambda w: w.actor[1])
        return waits + tasks


def _signal_may_wake() -> bool:
    """True when the program handles a signal itself: its handler may set the event they all wait for."""
    for signum in signal.valid_signals():
        try:
            handler = signal.getsignal(signum)
        except (OSError, ValueError):
            continue
        if callable(handler) and handler is not signal.default_int_handler:
            # Ours finish the log; asyncio.run's SIGINT handler (a partial of
            # Runner._on_sigint) interrupts as the default one does.
            function = getattr(handler, "func", handler)
            if getattr(function, "__module__", "") not in ("chronodbg.recorder.control", "asyncio.runners"):
                return True
    return False


def _idle_worker(frame: Any) -> bool:
    """A ThreadPoolExecutor worker waiting for work (in a C queue: no event records it)."""
    code = frame.f_code
    return bool(code.co_name == "_worker" and code.co_filename.endswith(os.path.join("concurrent", "futures", "thread.py")))


def _idle_loop(loop: Any) -> bool:
    """An asyncio loop with nothing to run, no timer, no I/O and no signal handler: only another thread can wake it.

    Read from the writer thread while the loop blocks in select(); the finding
    is confirmed only if this holds twice, GRACE apart, with its thread unmoved.
    """
    try:
        if not loop.is_running() or loop._ready or loop._scheduled or getattr(loop, "_signal_handlers", None):
            return False
        selector = loop._selector
        own = loop._ssock.fileno()
        return all(key.fd == own for key in list(selector.get_map().values()))
    except Exception:
        # Another loop implementation: it may be waiting for anything.
        return False


def _in_shutdown(frame: Any) -> bool:
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_shutdown" and code.co_filename == threading.__file__:
            return True
        frame = frame.f_back
    return False


class _LiveNames:
    """Names as the recorder knows them, in replay's words (`T2 "worker"`, `abba.py:14 in take`)."""

    def __init__(self, dog: Watchdog) -> None:
        self.dog = dog
        self.strings = {sid: text for text, sid in dog.rec._strings.items()}

    def actor(self, actor: Actor) -> str:
        kind, ident = actor
        if kind == "thread":
            name = self.dog.rec.thread_names.get(ident)
            return f'T{ident} "{name}"' if name else f"T{ident}"
        name, coro = self.dog.task_names.get(ident) or self.dog.done_task_names.get(ident, (None, "?"))
        return f"task {ident} " + (f"'{name}' " if name else "") + f"({coro})"

    def obj(self, oid: int | None) -> str:
        if oid is None:
            return "-"
        return self.dog.rec.objects.get(oid) or f"#{oid}"

    def site(self, site: int | None) -> str:
        info = self.dog.sites.get(site) if site is not None else None
        if info is None:
            return "?"
        file, line, func = info
        return f"{os.path.basename(self.strings.get(file, '?'))}:{line} in {self.strings.get(func, '?')}"


def event_data(finding: Finding) -> tuple[Any, ...]:
    """The deadlock event's data: reason, the actors in it (a list summary of `thread:2`, `task:5`), the text."""
    actors = [f"{kind}:{ident}" for kind, ident in (w.actor for w in finding.waits)]
    return ("cycle" if finding.cycle else "stuck", ("list", len(actors), actors), "\n".join(finding.lines))
