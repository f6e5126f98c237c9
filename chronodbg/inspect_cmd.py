"""`chronodbg info` and `chronodbg dump`: what a recording holds, as text or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

from chronodbg import kinds, values
from chronodbg.errors import UsageError
from chronodbg.logfile.reader import Event, Recording, TaskInfo, read_log
from chronodbg.replay_cmd import add_verify_flag, verify_key


def add_parsers(sub: Any) -> None:
    info = sub.add_parser("info", help="summary of a recording")
    info.add_argument("path")
    info.add_argument("--json", action="store_true", help="one JSON object")
    add_verify_flag(info)
    info.set_defaults(run=run_info)

    dump = sub.add_parser("dump", help="the events of a recording")
    dump.add_argument("path")
    dump.add_argument("--thread", action="append", help="thread id or name (repeatable)")
    dump.add_argument("--task", action="append", help="asyncio task id or name (repeatable)")
    dump.add_argument("--kind", action="append", help="event kind or glob such as lock.* (repeatable)")
    dump.add_argument("--from", dest="first", type=int, metavar="SEQ", help="first seq to show")
    dump.add_argument("--to", dest="last", type=int, metavar="SEQ", help="last seq to show")
    dump.add_argument("--locals", action="store_true", help="show sampled locals in text output")
    dump.add_argument("--json", action="store_true", help="one JSON object per event")
    add_verify_flag(dump)
    dump.set_defaults(run=run_dump)


def open_recording(path: str, key: bytes | None = None, progress: Callable[[int, int], None] | None = None) -> Recording:
    """Read a recording for a command, saying on stderr when it was recovered from a cut-off file."""
    rec = read_log(path, progress, key)
    if rec.recovery is not None:
        sys.stderr.write(f"chronodbg: {path}: recovered, {rec.recovery}\n")
    for note in limit_notes(rec):
        sys.stderr.write(f"chronodbg: {path}: {note}\n")
    return rec


def limit_notes(rec: Recording) -> list[str]:
    """What --max-size left out: the events a ring dropped, and where recording stopped."""
    notes = []
    ring = rec.header.get("ring")
    if isinstance(ring, dict) and isinstance(ring.get("dropped_events"), int) and ring["dropped_events"] > 0:
        notes.append(
            f"a ring under --max-size: the run's first {ring['dropped_events']} events were dropped, "
            f"seq 1 here is event {ring['dropped_events'] + 1} of the run"
        )
    stopped = (rec.footer or {}).get("stopped")
    if isinstance(stopped, dict):
        last = rec.events[-2].seq if len(rec.events) > 1 else 0
        notes.append(f"recording stopped at --max-size after seq {last}; the program went on unrecorded")
    return notes


def _open(path: str, ns: argparse.Namespace) -> Recording:
    return open_recording(path, verify_key(ns))


def info_dict(rec: Recording) -> dict[str, Any]:
    header = rec.header
    counts = Counter(event.kind for event in rec.events)
    footer = rec.footer or {}
    return {
        "path": rec.path,
        "format_version": header.get("format_version"),
        "chronodbg": header.get("chronodbg"),
        "program": header.get("program"),
        "argv": header.get("argv"),
        "python": header.get("python"),
        "backend": header.get("backend"),
        "tracer": header.get("tracer"),
        "hot_path": header.get("hot_path"),
        "hot_path_parts": header.get("hot_path_parts"),
        "start_time": header.get("start_time"),
        "options": header.get("options"),
        "events": len(rec.events),
        "duration_ns": rec.events[-1].t_ns if rec.events else 0,
        "complete": rec.complete,
        "recovery": rec.recovery,
        "exit_code": footer.get("exit_code"),
        "exit_how": footer.get("exit_how"),
        "dropped": footer.get("dropped"),
        "stopped": footer.get("stopped"),
        "ring": header.get("ring"),
        "threads": [{"id": t.id, "name": t.name, "parent": t.parent, "events": t.events} for t in rec.threads.values()],
        "tasks": [
            {"id": t.id, "name": t.name, "coro": t.coro, "parent": t.parent, "events": t.events} for t in rec.tasks.values()
        ],
        "objects": [{"id": o.id, "label": o.label, "kind": o.kind, "site": _site_text(rec, o.site)} for o in rec.objects.values()],
        "kinds": dict(sorted(counts.items())),
        "signed": rec.signed,
        "verified": rec.verified,
    }


def _level(data: dict[str, Any]) -> str:
    options = data["options"] if isinstance(data["options"], dict) else {}
    level = options.get("level", "sync")
    return level if isinstance(level, str) else "?"


def task_label(task: TaskInfo) -> str:
    """`'worker-1' (consume)`: the task's name and its coroutine."""
    return f"{task.name!r} ({task.coro})" if task.name is not None else f"({task.coro})"


def _site_text(rec: Recording, site_id: int | None) -> str | None:
    site = rec.sites.get(site_id) if site_id is not None else None
    return f"{site.file}:{site.line}" if site is not None else None


def run_info(ns: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    rec = _open(ns.path, ns)
    data = info_dict(rec)
    if ns.json:
        out.write(json.dumps(data) + "\n")
        return 0
    state = "complete" if rec.complete else f"recovered, {rec.recovery}"
    lines = [
        f"recording   {rec.path}  (format {data['format_version']}, {state})",
        f"program     {' '.join(str(a) for a in data['argv'] or [data['program']])}",
        f"python      {data['python']}  backend {data['backend']}  level {_level(data)}"
        + (f"  tracer {data['tracer']}" if data["tracer"] else "")
        # Absent in recordings made before the C hot path (issue 8).
        + (f"  hot path {data['hot_path']}" if data["hot_path"] else "")
        + _hot_path_parts(data),
        f"events      {data['events']} over {data['duration_ns'] / 1e9:.6f}s",
    ]
    if rec.signed:
        check = "verified" if rec.verified else "not verified (open it with --verify-key-env VAR)"
        if rec.verified and not rec.complete:
            check = "verified as far as it goes; the signed end is missing"
        lines.append(f"signature   {rec.signed}, {check}")
    if rec.complete:
        lines.append(f"exit        {data['exit_code']} ({data['exit_how']}), {data['dropped']} dropped")
    lines.extend(f"limit       {note}" for note in limit_notes(rec))
    lines.append(f"threads     {len(rec.threads)}")
    for t in rec.threads.values():
        parent = f", started by T{t.parent}" if t.parent else ""
        lines.append(f"  T{t.id:<4} {t.name!r}: {t.events} events{parent}")
    if rec.tasks:
        lines.append(f"tasks       {len(rec.tasks)}")
        for task in rec.tasks.values():
            parent = f", created by task {task.parent}" if task.parent else ""
            lines.append(f"  task {task.id:<4} {task_label(task)}: {task.events} events{parent}")
    lines.append(f"objects     {len(rec.objects)}")
    for o in rec.objects.values():
        where = _site_text(rec, o.site)
        lines.append(f"  {o.label:<20} created at {where}" if where else f"  {o.label}")
    lines.append("kinds")
    for name, count in data["kinds"].items():
        lines.append(f"  {name:<16} {count}")
    out.write("\n".join(lines) + "\n")
    return 0


class EventFilter:
    def __init__(self, rec: Recording, ns: argparse.Namespace) -> None:
        self.threads: set[int] | None = None
        if ns.thread:
            self.threads = set()
            for value in ns.thread:
                matched: set[int] = {t.id for t in rec.threads.values() if str(t.id) == value or f"T{t.id}" == value or t.name == value}
                if not matched:
                    raise UsageError(f"dump: no thread {value!r} in {rec.path}")
                self.threads |= matched
        self.tasks: set[int] | None = None
        if getattr(ns, "task", None):
            self.tasks = set()
            for value in ns.task:
                found = {t.id for t in rec.tasks.values() if str(t.id) == value or t.name == value}
                if not found:
                    raise UsageError(f"dump: no task {value!r} in {rec.path}")
                self.tasks |= found
        self.kinds: set[str] | None = None
        if ns.kind:
            self.kinds = set()
            for pattern in ns.kind:
                for part in pattern.split(","):
                    names = kinds.match_kinds(part.strip())
                    if not names:
                        raise UsageError(f"dump: no event kind matches {part!r} (try lock.*, queue.put, thread.*)")
                    self.kinds |= names
        self.first = ns.first
        self.last = ns.last

    def __call__(self, event: Event) -> bool:
        return (
            (self.first is None or event.seq >= self.first)
            and (self.last is None or event.seq <= self.last)
            and (self.threads is None or event.thread in self.threads)
            and (self.tasks is None or event.task in self.tasks)
            and (self.kinds is None or event.kind in self.kinds)
        )


def event_json(rec: Recording, event: Event) -> dict[str, Any]:
    site = rec.site_of(event)
    obj = rec.objects.get(event.obj) if event.obj is not None else None
    thread = rec.threads.get(event.thread)
    return {
        "seq": event.seq,
        "t_ns": event.t_ns,
        "thread": event.thread,
        "thread_name": thread.name if thread else None,
        "task": event.task,
        "task_name": rec.tasks[event.task].name if event.task is not None else None,
        "kind": event.kind,
        "obj": event.obj,
        "obj_label": obj.label if obj else None,
        "file": site.file if site else None,
        "line": site.line if site else None,
        "func": site.func if site else None,
        "data": {name: _field_json(event.kind, name, value) for name, value in rec.data_dict(event).items()},
        "locals": None if event.locals is None else {name: values.to_json(value) for name, value in event.locals},
    }


def event_text(rec: Recording, event: Event, with_locals: bool = False) -> str:
    site = rec.site_of(event)
    obj = rec.objects.get(event.obj) if event.obj is not None else None
    thread = rec.threads.get(event.thread)
    where = values.printable(f"{_short(site.file)}:{site.line} {site.func}") if site else "-"
    data = " ".join(f"{k}={_field_text(event.kind, k, v)}" for k, v in rec.data_dict(event).items())
    tname = values.printable(thread.name) if thread else "?"
    label = values.printable(obj.label) if obj else ""
    # A task column only in recordings that have tasks.
    task = (f"t{event.task}" if event.task is not None else "").ljust(5) if rec.tasks else ""
    line = f"{event.seq:>7} +{event.t_ns / 1e9:.6f}s T{event.thread} {tname:<12.12} {task}{event.kind:<15} {label:<14} {where}  {data}".rstrip()
    if with_locals and event.locals:
        line += "\n" + " " * 9 + "locals: " + ", ".join(f"{values.printable(str(n))}={values.to_text(v)}" for n, v in event.locals)
    return line


def _pairs(value: Any) -> list[tuple[Any, Any]] | None:
    if not isinstance(value, (list, tuple)):
        return None
    if not all(isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str) for pair in value):
        return None
    return [(pair[0], pair[1]) for pair in value]


def _field_text(kind: str, name: str, value: Any) -> str:
    """A field's value as text; (name, summary) pairs (a call's args, a line's changes) as `(a=1, b=<unbound>)`."""
    pairs = _pairs(value) if (kind, name) in kinds.NAMED_VALUES else None
    if pairs is None:
        return values.to_text(value)
    return "(" + ", ".join(f"{values.printable(str(n))}={values.to_text(v)}" for n, v in pairs) + ")"


def _field_json(kind: str, name: str, value: Any) -> Any:
    """A field's value as JSON; (name, summary) pairs as an object (in order), like `locals`."""
    pairs = _pairs(value) if (kind, name) in kinds.NAMED_VALUES else None
    if pairs is None:
        return values.to_json(value)
    return {n: values.to_json(v) for n, v in pairs}


def _short(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def run_dump(ns: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    rec = _open(ns.path, ns)
    keep = EventFilter(rec, ns)
    write = out.write
    for event in rec.events:
        if keep(event):
            if ns.json:
                write(json.dumps(event_json(rec, event)) + "\n")
            else:
                write(event_text(rec, event, ns.locals) + "\n")
    out.flush()
    return 0


def _hot_path_parts(data: dict[str, Any]) -> str:
    """` (emit c, locals c, pack python)` when only some parts of the per-event path were C."""
    parts = data.get("hot_path_parts")
    if data.get("hot_path") != "mixed" or not isinstance(parts, dict):
        return ""
    return " (" + ", ".join(f"{part} {path}" for part, path in parts.items()) + ")"
