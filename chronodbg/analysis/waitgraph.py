"""The wait-for graph: who waits for whom, and the deadlocks in it.

Both the recorder's live watchdog and replay's `info waits` build one of
these from what they know (the watchdog from the events it has written, replay
from the state at the cursor), so both find deadlocks by the same rules and
describe them in the same words. This module imports nothing from the
recorder or replay.

An actor waits for another when only that other can end the wait: a lock's
owner, a joined thread, an awaited task. Waits on a queue, an event, a
condition or a semaphore have no such actor (anyone may put, set, notify or
release), so they never make a cycle; they still count when every actor is
blocked (`stuck`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

#: ("thread", id) or ("task", id).
Actor = tuple[str, int]

#: What a task awaits when its wait ends only once every target is done
#: (a single-target `wait` too: see Wait.on).
_ALL_TARGETS = frozenset({"task", "gather", "taskgroup", "shield", "wait_for"})


class Wait(NamedTuple):
    """One actor blocked: on what, since which event, and who alone can end it."""

    actor: Actor
    #: "lock", "condition", "semaphore", "event", "barrier", "queue",
    #: "queue join", "future", "join", or for a task what its suspension awaits.
    what: str
    obj: int | None
    #: The seq of the event that began the wait, and its site.
    since: int
    site: int | None
    #: True when the wait ends by itself (a timeout): such a wait is no deadlock.
    timed: bool
    #: The actors whose progress alone ends the wait (empty when anyone could).
    on: tuple[Actor, ...] = ()
    #: For a lock: where and when its owner took it.
    held_since: int | None = None
    held_at: int | None = None
    #: Extra words for the description ("get", "put", the queue's size, ...).
    detail: str = ""


class Names(Protocol):
    """How a caller names actors, objects and sites for a description."""

    def actor(self, actor: Actor) -> str: ...

    def obj(self, oid: int | None) -> str: ...

    def site(self, site: int | None) -> str: ...


class WaitGraph:
    def __init__(self, waits: Iterable[Wait]) -> None:
        self.waits: dict[Actor, Wait] = {wait.actor: wait for wait in waits}

    def blocked_for_good(self, actor: Actor) -> bool:
        wait = self.waits.get(actor)
        return wait is not None and not wait.timed

    def cycle_from(self, start: Actor) -> list[Wait] | None:
        """The cycle of untimed waits that `start` is part of, in order from `start`, if any."""
        path: list[Wait] = []
        on_path: set[Actor] = set()
        found = self._search(start, start, path, on_path, set())
        return found

    def _search(self, actor: Actor, start: Actor, path: list[Wait], on_path: set[Actor], dead: set[Actor]) -> list[Wait] | None:
        wait = self.waits.get(actor)
        if wait is None or wait.timed or actor in dead:
            return None
        path.append(wait)
        on_path.add(actor)
        for other in wait.on:
            if other == start:
                return list(path)
            if other not in on_path:
                found = self._search(other, start, path, on_path, dead)
                if found is not None:
                    return found
        path.pop()
        on_path.discard(actor)
        dead.add(actor)
        return None

    def cycles(self) -> list[list[Wait]]:
        """Every cycle of untimed waits, each once, starting from its smallest actor."""
        seen: set[Actor] = set()
        found = []
        for actor in sorted(self.waits):
            if actor in seen:
                continue
            cycle = self.cycle_from(actor)
            if cycle is not None:
                seen.update(wait.actor for wait in cycle)
                found.append(cycle)
        return found

    def stuck(self, alive: Iterable[Actor]) -> list[Wait] | None:
        """The waits of `alive` when every one of them is blocked with no timeout, else None.

        That is a deadlock with no cycle needed: nobody is left to put, set,
        notify or release.
        """
        waits = []
        for actor in alive:
            wait = self.waits.get(actor)
            if wait is None or wait.timed or (wait.what == "lock" and not wait.on):
                # (A free lock: its waiter is about to take it.)
                return None
            waits.append(wait)
        return waits or None


def targets_of(awaits: str | None, target: object) -> tuple[Actor, ...]:
    """The tasks a suspended task waits for, from its task.suspend's `awaits` and `target`."""
    ids: list[int] = []
    if isinstance(target, int) and not isinstance(target, bool):
        ids = [target]
    elif isinstance(target, (list, tuple)) and len(target) == 3 and target[0] in ("list", "tuple"):
        # A list summary (values.py): ("list", length, first items).
        items = target[2] if isinstance(target[2], (list, tuple)) else ()
        ids = [t for t in items if isinstance(t, int) and not isinstance(t, bool)]
    if awaits in _ALL_TARGETS or (awaits == "wait" and len(ids) == 1):
        return tuple(("task", t) for t in ids)
    return ()


def describe_wait(wait: Wait, names: Names) -> str:
    """`T2 "a" waits for Lock#2 (acquire) at abba.py:14 in a, since seq 31; held by T3 "b", taken at abba.py:21 in b`."""
    who = names.actor(wait.actor)
    if wait.what == "join" and wait.since == 0:
        return f"{who} has finished and waits, at interpreter exit, for the other threads to end"
    if wait.what == "event loop":
        return f"{who} runs an event loop with nothing left to do (no ready callback, timer, I/O or signal handler)"
    if wait.what == "executor" and wait.since == 0:
        return f"{who} is an executor worker waiting for work"
    if wait.what == "join":
        target = names.actor(wait.on[0]) if wait.on else "a thread"
        text = f"{who} waits to join {target}"
    elif wait.actor[0] == "task" and wait.what not in _PRIMITIVES:
        targets = ", ".join(names.actor(a) for a in wait.on)
        if wait.what == "task" and targets:
            text = f"{who} awaits {targets}"
        else:
            text = f"{who} awaits {wait.what}" + (f" of {targets}" if targets else "")
        if wait.obj is not None:
            text += f" {names.obj(wait.obj)}"
    else:
        text = f"{who} waits for {names.obj(wait.obj)}"
    if wait.detail:
        text += f" ({wait.detail})"
    text += f" at {names.site(wait.site)}, since seq {wait.since}"
    if wait.what == "lock":
        if wait.on:
            text += f"; held by {names.actor(wait.on[0])}"
            if wait.held_at is not None or wait.held_since is not None:
                text += f", taken at {names.site(wait.held_at)}"
                if wait.held_since is not None:
                    text += f" (seq {wait.held_since})"
        else:
            text += "; free (the waiter is about to take it)"
    if wait.timed:
        text += "; ends by timeout"
    return text


def describe_deadlock(waits: Sequence[Wait], names: Names, cycle: bool) -> list[str]:
    """The heading and one line per wait, as the recorder prints it and `info waits` shows it."""
    count = len(waits)
    kinds = {w.actor[0] for w in waits}
    noun = "threads" if kinds == {"thread"} else "tasks" if kinds == {"task"} else "threads and tasks"
    if cycle and count == 1:
        head = f"deadlock: {names.actor(waits[0].actor)} waits for itself and can never go on:"
    elif cycle:
        head = f"deadlock: {count} {noun} wait for each other in a cycle and can never go on:"
    else:
        head = f"deadlock: every live thread is blocked with no timeout and nothing is left to wake {'it' if count == 1 else 'them'}:"
    return [head] + ["  " + describe_wait(w, names) for w in waits]


_PRIMITIVES = frozenset({"lock", "condition", "semaphore", "event", "barrier", "queue", "queue join", "future"})
