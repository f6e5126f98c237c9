"""Plain-text renderings of what a replay session shows: positions, state, locals, source.

The front ends (the interactive REPL, batch mode) print these; the JSON mode
prints the `*_json` twins. No colour here: highlighting is the REPL's
concern, over this text.
"""

from __future__ import annotations

import linecache
from collections.abc import Sequence
from typing import Any

from chronodbg import values
from chronodbg.logfile.reader import Event, Recording
from chronodbg.replay.codemoves import FrameLocals
from chronodbg.replay.index import Index
from chronodbg.replay.session import Session
from chronodbg.replay.stacks import CODE_KINDS, Frame, StackView
from chronodbg.replay.state import Actor, State


def thread_label(rec: Recording, tid: int) -> str:
    info = rec.threads.get(tid)
    return f'T{tid} "{values.printable(info.name)}"' if info else f"T{tid}"


def task_label(rec: Recording, task: int) -> str:
    info = rec.tasks.get(task)
    if info is None:
        return f"task {task}"
    name = f"'{values.printable(info.name)}' " if info.name else ""
    return f"task {task} {name}({values.printable(info.coro)})"


def actor_label(rec: Recording, actor: Actor) -> str:
    kind, ident = actor
    return thread_label(rec, ident) if kind == "thread" else task_label(rec, ident)


def obj_label(rec: Recording, oid: int | None) -> str:
    if oid is None:
        return "-"
    info = rec.objects.get(oid)
    return values.printable(info.label) if info else f"#{oid}"


def site_text(rec: Recording, site: int | None) -> str:
    info = rec.sites.get(site) if site is not None else None
    return values.printable(f"{info.file}:{info.line} {info.func}") if info else "-"


def short_site(rec: Recording, site: int | None) -> str:
    info = rec.sites.get(site) if site is not None else None
    return values.printable(f"{info.file.rsplit('/', 1)[-1]}:{info.line} {info.func}") if info else "-"


def position(session: Session) -> str:
    """Where the cursor is: `seq 12/345 · T2 "worker" · t3 · +0.123456s · lock.acquire Lock#3 · app.py:7 work`."""
    rec, event = session.rec, session.event
    parts = [f"seq {event.seq}/{session.index.last}", thread_label(rec, event.thread)]
    if event.task is not None:
        parts.append(f"t{event.task}")
    parts.append(f"+{event.t_ns / 1e9:.6f}s")
    if event.kind in CODE_KINDS:
        kind, data = _code_event(rec, event)
    else:
        kind = event.kind if event.obj is None else f"{event.kind} {obj_label(rec, event.obj)}"
        data = " ".join(f"{k}={values.to_text(v)}" for k, v in rec.data_dict(event).items())
    parts += [kind, short_site(rec, event.site)]
    return " · ".join(parts) + (f"  {data}" if data else "")


def _pairs_text(pairs: Any) -> str:
    """`n=3 acc=[]` from (name, summary) pairs (a call's args, a line's changes)."""
    if not isinstance(pairs, (tuple, list)):
        return ""
    return " ".join(
        f"{values.printable(str(pair[0]))}={values.to_text(pair[1])}" for pair in pairs if isinstance(pair, (tuple, list)) and len(pair) == 2
    )


def _code_event(rec: Recording, event: Event) -> tuple[str, str]:
    """(kind, data) of a code event for the position line: what it means rather than its raw fields.

    A call shows its arguments, a line the locals that changed since the
    frame's previous line, a return its value, an exception event its type.
    """
    data = rec.data_dict(event)
    kind, how = event.kind, data.get("how")
    if kind == "call":
        return ("call (resume)", "") if how == "resume" else ("call", _pairs_text(data.get("args")))
    if kind == "return":
        return ("return (yield)" if how == "yield" else "return"), f"value={values.to_text(data.get('value'))}"
    if kind == "line":
        return "line", _pairs_text(data.get("changed"))
    name = data.get("type")
    kind = f"{kind} {name}" if isinstance(name, str) else kind
    return kind, (f"args={values.to_text(data.get('args'))}" if event.kind == "raise" else "")


def event_json(session: Session, event: Event) -> dict[str, Any]:
    from chronodbg.inspect_cmd import event_json as dump_json

    return dump_json(session.rec, event)


def threads(rec: Recording, state: State) -> list[str]:
    lines = []
    for tid in sorted(rec.threads):
        thread = state.threads.get(tid)
        if thread is None:
            lines.append(f"  {thread_label(rec, tid)}: not started")
            continue
        lines.append(f"  {thread_label(rec, tid)}: {_thread_status(rec, state, tid)} at {short_site(rec, thread.site)}")
    return lines


def _thread_status(rec: Recording, state: State, tid: int) -> str:
    thread = state.threads[tid]
    if thread.status in ("finished", "started"):
        return "finished" if thread.status == "finished" else "started, no event of its own yet"
    waiting = thread.waiting
    if waiting is None:
        return "running"
    if waiting.what == "join":
        return f"joining {thread_label(rec, waiting.detail)}" if isinstance(waiting.detail, int) else "joining"
    what = f"waiting on {obj_label(rec, waiting.obj)}"
    if waiting.what == "lock" and waiting.obj in state.locks:
        owner = state.locks[waiting.obj].owner
        what = f"blocked on {obj_label(rec, waiting.obj)}" + (f" held by {actor_label(rec, owner)}" if owner else "")
    elif waiting.what == "queue" and waiting.detail:
        what += f" ({waiting.detail})"
    return what + f" since seq {waiting.since}"


def tasks(rec: Recording, state: State) -> list[str]:
    lines = []
    for task_id in sorted(rec.tasks):
        task = state.tasks.get(task_id)
        label = task_label(rec, task_id)
        if task is None:
            lines.append(f"  {label}: not created yet")
            continue
        if task.status in ("suspended", "ready"):
            target = f" {values.to_text(task.target)}" if task.target is not None else ""
            obj = f" {obj_label(rec, task.obj)}" if task.obj is not None else ""
            left = f", timeout in {task.timeout}s" if task.timeout is not None else ""
            status = f"awaiting {task.awaits}{obj}{target}{left}"
            if task.status == "ready":
                status = f"ready (woken at seq {task.woken_at}), was {status}"
        elif task.status == "running":
            status = f"running on {thread_label(rec, task.thread)}" if task.thread else "running"
        elif task.status == "done":
            status = f"done ({task.outcome}" + (f": {values.to_text(task.result)}" if task.result is not None else "") + ")"
        else:
            status = "created, not started"
        if task.cancel_requested and task.status != "done":
            status += ", cancel requested"
        lines.append(f"  {label}: {status} at {short_site(rec, task.site)}")
    return lines


def locks(rec: Recording, state: State) -> list[str]:
    lines = []
    for oid in sorted(state.locks):
        lock = state.locks[oid]
        held = f"held by {actor_label(rec, lock.owner)}" + (f" (depth {lock.depth})" if lock.depth > 1 else "") if lock.owner else "free"
        waiters = ", ".join(actor_label(rec, w) for w in lock.waiters)
        lines.append(f"  {obj_label(rec, oid)}: {held}" + (f"; waiting: {waiters}" if waiters else ""))
    return lines


def queues(rec: Recording, state: State) -> list[str]:
    lines = []
    for oid in sorted(state.queues):
        queue = state.queues[oid]
        shown = ", ".join(values.to_text(item) for item in queue.items[:10])
        more = f", … {len(queue.items) - 10} more" if len(queue.items) > 10 else ""
        waiters = ", ".join(f"{actor_label(rec, actor)} ({op})" for actor, op in queue.waiters)
        line = f"  {obj_label(rec, oid)}: {len(queue.items)} item{'s' if len(queue.items) != 1 else ''} [{shown}{more}]"
        lines.append(line + (f"; waiting: {waiters}" if waiters else ""))
    return lines


def objects(rec: Recording, state: State) -> list[str]:
    lines = []
    for oid in sorted(state.objects):
        obj = state.objects[oid]
        parts = [] if obj.value is None else [f"value={values.to_text(obj.value)}"]
        if obj.waiters:
            parts.append("waiting: " + ", ".join(actor_label(rec, w) for w in obj.waiters))
        lines.append(f"  {obj_label(rec, oid)}: {'; '.join(parts) or 'idle'}")
    return lines


class _Names:
    """analysis.waitgraph's Names over a recording, in this module's words."""

    def __init__(self, rec: Recording) -> None:
        self.rec = rec

    def actor(self, actor: Actor) -> str:
        return actor_label(self.rec, actor)

    def obj(self, oid: int | None) -> str:
        return obj_label(self.rec, oid)

    def site(self, site: int | None) -> str:
        info = self.rec.sites.get(site) if site is not None else None
        return values.printable(f"{info.file.rsplit('/', 1)[-1]}:{info.line} in {info.func}") if info else "?"


def waits(index: Index, state: State) -> tuple[list[str], dict[str, Any]]:
    """The wait-for graph at `state`: every wait, every cycle, whether all threads are stuck; and its JSON."""
    from chronodbg.analysis.waitgraph import describe_deadlock, describe_wait
    from chronodbg.replay.waits import graph_at, live_threads

    rec = index.rec
    names = _Names(rec)
    graph = graph_at(state)
    ordered = sorted(graph.waits.values(), key=lambda w: (w.actor[0] != "thread", w.actor[1]))
    lines = [f"  {describe_wait(w, names)}" for w in ordered] or ["  (nobody waits)"]
    cycles = graph.cycles()
    stuck = None if cycles else graph.stuck(live_threads(state))
    for cycle in cycles:
        lines += [""] + describe_deadlock(cycle, names, cycle=True)
    if stuck:
        lines += [""] + describe_deadlock(stuck, names, cycle=False)
    recorded = [s for s in index.by_kind.get("deadlock", ()) if s <= state.seq]
    if recorded:
        text = rec.data_dict(index.events[recorded[-1] - 1]).get("text")
        lines += ["", f"the recorder's watchdog reported at seq {recorded[-1]}:"]
        lines += ["  " + line for line in str(text).splitlines()]
    data = {
        "seq": state.seq,
        "waits": [_wait_json(w) for w in ordered],
        "cycles": [[_wait_json(w) for w in cycle] for cycle in cycles],
        "stuck": [_wait_json(w) for w in stuck] if stuck else None,
        "reported_at": recorded[-1] if recorded else None,
    }
    return lines, data


def _wait_json(wait: Any) -> dict[str, Any]:
    return {
        "actor": list(wait.actor),
        "what": wait.what,
        "obj": wait.obj,
        "since": wait.since,
        "site": wait.site,
        "timed": wait.timed,
        "on": [list(a) for a in wait.on],
        "held_since": wait.held_since,
    }


def locals_lines(rec: Recording, holder: Event | None) -> list[str]:
    if holder is None or holder.locals is None:
        return ["  (no locals sampled)"]
    lines = [f"  (sampled at seq {holder.seq}, {short_site(rec, holder.site)})"]
    lines += [f"  {values.printable(str(name))} = {values.to_text(value)}" for name, value in holder.locals]
    return lines


def source(rec: Recording, site: int | None, context: int = 5) -> list[str]:
    info = rec.sites.get(site) if site is not None else None
    if info is None:
        return ["  (no source site for this event)"]
    lines = []
    for number in range(max(1, info.line - context), info.line + context + 1):
        text = linecache.getline(info.file, number)
        if not text and number > info.line:
            break
        marker = "->" if number == info.line else "  "
        lines.append(f"{marker}{number:5} {text.rstrip()}")
    return lines or [f"  (cannot read {info.file})"]


def _call_args(rec: Recording, events: Sequence[Event], frame: Frame) -> str:
    """`fib(n=2)`: the function and the names of the arguments it was called with, at their values now."""
    site = rec.sites.get(frame.site) if frame.site is not None else None
    name = site.func if site is not None else "?"
    call = events[frame.call_seq - 1] if 0 < frame.call_seq <= len(events) else None
    args = rec.data_dict(call).get("args") if call is not None and call.kind == "call" else None
    names = [pair[0] for pair in args if isinstance(pair, (tuple, list)) and len(pair) == 2] if isinstance(args, tuple) else []
    shown = []
    for arg in names:
        text = values.to_text(frame.locals[arg]) if arg in frame.locals else "?"
        shown.append(f"{arg}={text if len(text) <= 40 else text[:39] + '…'}")
    return f"{name}({', '.join(shown)})"


def leaving_text(index: Index, state: State, view: StackView) -> str:
    """How frame #0 of a view leaves at its thread's latest event: `returning 3`, `yielding 'a'`, `unwinding KeyError`."""
    thread = state.threads.get(view.thread) if view.thread is not None else None
    if thread is None or not 0 < thread.last_seq <= index.last:
        return "leaving"
    event = index.events[thread.last_seq - 1]
    data = index.rec.data_dict(event)
    if event.kind == "unwind":
        return f"unwinding {data.get('type')}"
    verb = "yielding" if data.get("how") == "yield" else "returning"
    return f"{verb} {values.to_text(data.get('value'))}"


def frame_line(index: Index, view: StackView, number: int, state: State, tasks: bool = False) -> str:
    """`#1  fib(n=2) at fib.py:6 · frame 4, called at seq 30` (`tasks`: say which task each frame runs in)."""
    frame, events = view.frames[number], index.events
    called = "called" if 0 < frame.call_seq <= len(events) and events[frame.call_seq - 1].kind == "call" else "first seen"
    parts = [f"frame {frame.id}, {called} at seq {frame.call_seq}"]
    if frame.seq != frame.call_seq:
        parts.append(f"resumed at seq {frame.seq}")
    if tasks and frame.task is not None:
        parts.append(f"in task {frame.task}")
    text = f"#{number:<2} {_call_args(index.rec, events, frame)} at {_file_line(index.rec, frame.site)} · {', '.join(parts)}"
    if number == 0 and view.leaving:
        text += f" · {leaving_text(index, state, view)}"
    return text


def _file_line(rec: Recording, site: int | None) -> str:
    info = rec.sites.get(site) if site is not None else None
    return f"{info.file.rsplit('/', 1)[-1]}:{info.line}" if info else "?"


def frame_json(index: Index, view: StackView, number: int) -> dict[str, Any]:
    frame = view.frames[number]
    info = index.rec.sites.get(frame.site) if frame.site is not None else None
    return {
        "index": number,
        "frame": frame.id,
        "func": info.func if info else None,
        "file": info.file if info else None,
        "line": info.line if info else None,
        "call_seq": frame.call_seq,
        "entered_seq": frame.seq,
        "task": frame.task,
        "leaving": number == 0 and view.leaving,
    }


def source_line(rec: Recording, site: int | None) -> str | None:
    """The text of a site's line, as `list` shows it (None if the file cannot be read)."""
    info = rec.sites.get(site) if site is not None else None
    text = linecache.getline(info.file, info.line) if info else ""
    return f"{info.line:7} {text.rstrip()}" if info and text else None


def frame_name(rec: Recording, frame: Frame) -> str:
    """`fib at fib.py:4`."""
    info = rec.sites.get(frame.site) if frame.site is not None else None
    return f"{info.func} at {_file_line(rec, frame.site)}" if info else "?"


def frame_locals_lines(known: FrameLocals) -> list[str]:
    if known.source == "rebuilt":
        head = "  (rebuilt from its call and its lines, as its current line starts)"
    elif known.source == "sampled":
        head = f"  (sampled at seq {known.seq}: no line events in this recording)"
    else:
        head = f"  (its arguments, as called at seq {known.seq}: nothing sampled in it since)"
    return [head] + ([f"  {values.printable(str(name))} = {values.to_text(value)}" for name, value in known.values] or ["  (none)"])
