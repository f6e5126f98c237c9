"""Event predicates: what a breakpoint stops at, as small composable objects.

As in hunter, a predicate is an object called with an event that answers
yes or no, and predicates compose with `&`, `|` and `~`. A session checks
every enabled breakpoint against every event it steps over, millions of
times in a long `continue`, so the per-event test is a handful of set
lookups: `parse_breakpoint` resolves thread names, task names, object
labels, files and functions to ids once, when the breakpoint is set, and the
condition is evaluated only at events that pass those cheap filters.

Breakpoint syntax (`break`, `tbreak`):

    KIND [FILTER...] [if COND]      lock.*  queue.put,queue.get  task.done  exception
    FILE:LINE [FILTER...] [if COND] bank.py:17 — any event at that line
    FUNC [FILTER...] [if COND]      transfer or Account.deposit — any event in it;
                                    with code events, its calls (see below)

    FILTER:  thread=N|name  task=N|name  obj=ID|label  at=FILE:LINE  func=NAME

The first word is read as a kind when it names kinds (a glob or a comma
list), as a location when it looks like `x.py:N`, and as a function
otherwise. A file matches by basename or path suffix, a function by its
qualified name or that name's last dotted part. A filter given twice
accepts either value (`thread=1 thread=2`); different filters must all
hold. A filter naming what the recording does not have (an unknown kind,
thread, task, object, file, line or function) is a one-line `UsageError`
now rather than a breakpoint that silently never fires.

In a recording with code events (`record --level calls|lines`), a
function as the first word means its `call` events that start it
(`how="call"`), not every event in it: at level lines that would be every
line it runs. A generator's or coroutine's resumes are `call` events too,
reached with `call func=NAME if how == "resume"`.

Names in COND (see evaluator.py for the language) resolve in this order:

1. the event's data fields (kinds.FIELDS: `amount` is not one, `size` of
   queue.put is, `thread` of thread.start is the started thread's id);
2. the special names `thread` (the event's thread id), `thread_name`,
   `task` (id), `task_name`, `kind`, `seq`, `obj` (the object's label),
   `line`, `func`, `file`;
3. the locals: those sampled from the user frame that caused the event,
   unless a scope gives others. A code event (call, line, return, …) has
   none sampled: the session's scope rebuilds its frame's locals there;
   `print` passes the selected frame's.

Fields come first because they are what the event is about, and a local
cannot change what an event means; a local hidden behind a field or special
name of the same spelling cannot be reached from a condition (on code
events: `frame`, `how`, `args`, `value`, `type`, `changed`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from chronodbg import kinds as K
from chronodbg.errors import UsageError
from chronodbg.logfile.reader import Event, Recording
from chronodbg.replay.evaluator import Expr, compile_expr
from chronodbg.values import Summary

#: The locals an expression sees at an event instead of its sampled ones (None: those).
Scope = Callable[[Event], Mapping[str, Summary] | None]

FILTERS: Final = ("thread", "task", "obj", "at", "func")
_LOCATION: Final = re.compile(r"(.+):(\d+)")
_CONDITION: Final = re.compile(r"(?:^|\s)if(?:\s|$)")
_GLOB_CHARS: Final = frozenset("*?[")
#: How many known names an error message lists before "…".
_HINTS: Final = 8


def _site_field(rec: Recording, event: Event, field: str) -> Any:
    site = rec.site_of(event)
    return getattr(site, field) if site is not None else None


def _task_name(rec: Recording, event: Event) -> str | None:
    task = rec.tasks.get(event.task) if event.task is not None else None
    return task.name if task is not None else None


def _thread_name(rec: Recording, event: Event) -> str | None:
    thread = rec.threads.get(event.thread)
    return thread.name if thread is not None else None


def _obj_label(rec: Recording, event: Event) -> str | None:
    obj = rec.objects.get(event.obj) if event.obj is not None else None
    return obj.label if obj is not None else None


#: The special names, after data fields and before locals (see the module docstring).
SPECIAL_NAMES: Final[dict[str, Callable[[Recording, Event], Any]]] = {
    "thread": lambda rec, event: event.thread,
    "thread_name": _thread_name,
    "task": lambda rec, event: event.task,
    "task_name": _task_name,
    "kind": lambda rec, event: event.kind,
    "seq": lambda rec, event: event.seq,
    "obj": _obj_label,
    "line": lambda rec, event: _site_field(rec, event, "line"),
    "func": lambda rec, event: _site_field(rec, event, "func"),
    "file": lambda rec, event: _site_field(rec, event, "file"),
}


def event_names(
    rec: Recording, event: Event, wanted: Iterable[str] | None = None, scope: Scope | None = None
) -> dict[str, Summary]:
    """The names an expression sees at `event` (all of them, or just `wanted`), by precedence.

    Breakpoint conditions ask only for the names they use; `print` can ask
    for all. Every value is a summary, as `Expr.evaluate` takes them.
    `scope` is asked for the locals only when a wanted name is neither a
    field nor a special name (rebuilding a frame's locals costs a state).
    """
    fields = rec.fields.get(event.kind, ())
    if wanted is None:
        names: dict[str, Summary] = dict(_locals_of(event, scope))
        names.update((name, special(rec, event)) for name, special in SPECIAL_NAMES.items())
        names.update(rec.data_dict(event))
        return names
    found: dict[str, Summary] = {}
    local_values: Mapping[str, Summary] | None = None
    for name in wanted:
        if name in fields:
            index = fields.index(name)
            found[name] = event.data[index] if index < len(event.data) else None
        elif name in SPECIAL_NAMES:
            found[name] = SPECIAL_NAMES[name](rec, event)
        else:
            if local_values is None:
                local_values = _locals_of(event, scope)
            if name in local_values:
                found[name] = local_values[name]
    return found


def _locals_of(event: Event, scope: Scope | None) -> Mapping[str, Summary]:
    if scope is not None:
        given = scope(event)
        if given is not None:
            return given
    snapshot = event.locals  # once: each look finds the chunk's decoded locals again
    return dict(snapshot) if snapshot else {}


class Predicate:
    """A yes/no question about one event of a recording; `&`, `|`, `~` compose them."""

    __slots__ = ()

    def __call__(self, rec: Recording, event: Event, scope: Scope | None = None) -> bool:
        raise NotImplementedError

    def __and__(self, other: Predicate) -> Predicate:
        return And(self, other)

    def __or__(self, other: Predicate) -> Predicate:
        return Or(self, other)

    def __invert__(self) -> Predicate:
        return Not(self)


def _grouped(predicate: Predicate) -> str:
    text = str(predicate)
    return f"({text})" if " " in text and not isinstance(predicate, Not) else text


class And(Predicate):
    """All parts hold (checked in order, stopping at the first that does not)."""

    __slots__ = ("parts",)

    def __init__(self, *parts: Predicate) -> None:
        self.parts: tuple[Predicate, ...] = tuple(q for p in parts for q in (p.parts if isinstance(p, And) else (p,)))

    def __call__(self, rec: Recording, event: Event, scope: Scope | None = None) -> bool:
        for part in self.parts:
            if not part(rec, event, scope):
                return False
        return True

    def __str__(self) -> str:
        return " & ".join(_grouped(part) for part in self.parts)


class Or(Predicate):
    """Any part holds (checked in order, stopping at the first that does)."""

    __slots__ = ("parts",)

    def __init__(self, *parts: Predicate) -> None:
        self.parts: tuple[Predicate, ...] = tuple(q for p in parts for q in (p.parts if isinstance(p, Or) else (p,)))

    def __call__(self, rec: Recording, event: Event, scope: Scope | None = None) -> bool:
        for part in self.parts:
            if part(rec, event, scope):
                return True
        return False

    def __str__(self) -> str:
        return " | ".join(_grouped(part) for part in self.parts)


class Not(Predicate):
    __slots__ = ("part",)

    def __init__(self, part: Predicate) -> None:
        self.part = part

    def __call__(self, rec: Recording, event: Event, scope: Scope | None = None) -> bool:
        return not self.part(rec, event, scope)

    def __invert__(self) -> Predicate:
        return self.part

    def __str__(self) -> str:
        return f"~({self.part})"


class Match(Predicate):
    """One breakpoint: id sets resolved up front (None: any), then an optional condition.

    The sets are public so a session can walk only the matching timelines
    (per kind, thread, object or site) instead of every event.
    """

    __slots__ = ("text", "kinds", "threads", "tasks", "objects", "sites", "data", "condition")

    def __init__(
        self,
        text: str,
        *,
        kinds: frozenset[str] | None = None,
        threads: frozenset[int] | None = None,
        tasks: frozenset[int] | None = None,
        objects: frozenset[int] | None = None,
        sites: frozenset[int] | None = None,
        data: tuple[tuple[str, Any], ...] = (),
        condition: Expr | None = None,
    ) -> None:
        self.text = text
        self.kinds = kinds
        self.threads = threads
        self.tasks = tasks
        self.objects = objects
        self.sites = sites
        #: (field, value) pairs the event's data must hold (`break FUNC` on calls: how == "call").
        self.data = data
        self.condition = condition

    def __call__(self, rec: Recording, event: Event, scope: Scope | None = None) -> bool:
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        if self.threads is not None and event.thread not in self.threads:
            return False
        if self.tasks is not None and event.task not in self.tasks:
            return False
        if self.objects is not None and event.obj not in self.objects:
            return False
        if self.sites is not None and event.site not in self.sites:
            return False
        if self.data:
            fields = rec.fields.get(event.kind, ())
            for name, value in self.data:
                index = fields.index(name) if name in fields else len(event.data)
                if index >= len(event.data) or event.data[index] != value:
                    return False
        condition = self.condition
        return condition is None or condition.holds(event_names(rec, event, condition.names, scope))

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Match({self.text!r})"


def parse_breakpoint(rec: Recording, text: str, entries: frozenset[int] | None = None) -> Match:
    """The predicate `text` describes in `rec` (syntax in the module docstring); `UsageError` if it is wrong.

    `entries`: in a recording with code events, the sites where functions
    start (`Index.entry_sites`); a function as the first word then means
    its calls.
    """
    head, condition_text = _split_condition(text)
    try:
        words = shlex.split(head)
    except ValueError as exc:
        raise UsageError(f"cannot read {head.strip()!r}: {exc}") from None
    if not words and condition_text is None:
        raise UsageError("say what to stop at: KIND [FILTER...] [if COND], FILE:LINE or FUNC")
    found: dict[str, frozenset[int]] = {}
    kinds: frozenset[str] | None = None
    head_sites: frozenset[int] | None = None
    data: tuple[tuple[str, Any], ...] = ()
    for position, word in enumerate(words):
        key, eq, value = word.partition("=")
        if eq:
            if key not in FILTERS:
                raise UsageError(f"unknown filter {key + '='!r} (filters: {', '.join(f + '=' for f in FILTERS)})")
            if not value:
                raise UsageError(f"{key}= needs a value")
            found[key] = found.get(key, frozenset()) | _RESOLVERS[key](rec, value)
        elif position == 0:
            kinds, head_sites = _head(rec, word)
            if entries is not None and kinds is None and _LOCATION.fullmatch(word) is None:
                kinds, head_sites, data = _calls_of(word, head_sites, entries)
        else:
            raise UsageError(f"unexpected {word!r}: filters look like thread=N, obj=LABEL, at=FILE:LINE")
    sites = _intersect(_intersect(head_sites, found.get("at")), found.get("func"))
    condition = compile_expr(condition_text) if condition_text is not None else None
    canonical = " ".join(_quoted(word) for word in words)
    if condition is not None:
        canonical = f"{canonical} if {condition.text}".strip()
    return Match(
        canonical,
        kinds=kinds,
        threads=found.get("thread"),
        tasks=found.get("task"),
        objects=found.get("obj"),
        sites=sites,
        data=data,
        condition=condition,
    )


def _split_condition(text: str) -> tuple[str, str | None]:
    """(head, condition): split at the first `if` word outside quotes."""
    for match in _CONDITION.finditer(text):
        head = text[: match.start()]
        try:
            shlex.split(head)
        except ValueError:
            continue  # inside a quoted filter value
        return head, text[match.end() :]
    return text, None


def _intersect(a: frozenset[int] | None, b: frozenset[int] | None) -> frozenset[int] | None:
    if a is None:
        return b
    return a if b is None else a & b


def _quoted(word: str) -> str:
    return shlex.quote(word) if any(c.isspace() or c in "'\"" for c in word) else word


def _some(items: Iterable[str]) -> str:
    listed = list(items)
    shown = ", ".join(listed[:_HINTS])
    return shown + (", …" if len(listed) > _HINTS else "")


def _head(rec: Recording, word: str) -> tuple[frozenset[str] | None, frozenset[int] | None]:
    """(kinds, sites) of the first word: a kind glob or list, FILE:LINE, or a function."""
    parts = word.split(",")
    matched = [K.match_kinds(part) for part in parts]
    if all(matched):
        return frozenset(name for names in matched for name in names), None
    location = _LOCATION.fullmatch(word)
    if location is not None:
        return None, _sites_at(rec, location.group(1), int(location.group(2)))
    functions = _function_sites(rec, word)
    if functions:
        return None, functions
    families = {name.split(".")[0] for name in K.BY_NAME}
    if any(matched) or _GLOB_CHARS & set(word) or any(part.split(".")[0] in families for part in parts):
        bad = next(part for part, names in zip(parts, matched, strict=True) if not names)
        raise UsageError(f"no event kind matches {bad!r} (kinds: {_kind_hint()})")
    raise UsageError(f"no function named {word!r} in the recording, nor an event kind (break KIND, FILE:LINE or FUNC)")


def _calls_of(
    name: str, sites: frozenset[int] | None, entries: frozenset[int]
) -> tuple[frozenset[str], frozenset[int], tuple[tuple[str, Any], ...]]:
    """`break FUNC` in a recording with calls: the `call` events that start the function."""
    started = (sites or frozenset()) & entries
    if not started:
        raise UsageError(
            f"no recorded call of {name!r} (break FUNC stops at its calls; func={name} alone stops at any event in it)"
        )
    return frozenset({"call"}), started, (("how", "call"),)


def _kind_hint() -> str:
    families: dict[str, list[str]] = {}
    for name in K.BY_NAME:
        families.setdefault(name.split(".")[0], []).append(name)
    return ", ".join(f"{family}.*" if len(names) > 1 else names[0] for family, names in families.items())


def _file_matches(path: str, file: str) -> bool:
    path = path.replace("\\", "/")
    file = file.replace("\\", "/").removeprefix("./")
    return path == file or path.endswith("/" + file)


def _sites_at(rec: Recording, file: str, line: int) -> frozenset[int]:
    files = {site.file for site in rec.sites.values() if _file_matches(site.file, file)}
    if not files:
        raise UsageError(f"no file matching {file!r} in the recording")
    sites = frozenset(sid for sid, site in rec.sites.items() if site.line == line and site.file in files)
    if not sites:
        lines = sorted({site.line for site in rec.sites.values() if site.file in files})
        raise UsageError(f"nothing recorded at {file}:{line} (recorded lines: {_some(map(str, lines))})")
    return sites


def _function_sites(rec: Recording, name: str) -> frozenset[int]:
    return frozenset(
        sid for sid, site in rec.sites.items() if site.func == name or site.func.rsplit(".", 1)[-1] == name
    )


def _resolve_at(rec: Recording, value: str) -> frozenset[int]:
    location = _LOCATION.fullmatch(value)
    if location is None:
        raise UsageError(f"at= takes FILE:LINE, not {value!r}")
    return _sites_at(rec, location.group(1), int(location.group(2)))


def _resolve_func(rec: Recording, value: str) -> frozenset[int]:
    sites = _function_sites(rec, value)
    if not sites:
        raise UsageError(f"no function named {value!r} in the recording")
    return sites


def _resolve_thread(rec: Recording, value: str) -> frozenset[int]:
    ids = frozenset(t.id for t in rec.threads.values() if value in (str(t.id), f"T{t.id}", t.name))
    if not ids:
        known = _some(f"{t.id} {t.name}" for t in rec.threads.values())
        raise UsageError(f"no thread {value!r} in the recording (threads: {known})")
    return ids


def _resolve_task(rec: Recording, value: str) -> frozenset[int]:
    ids = frozenset(t.id for t in rec.tasks.values() if value == str(t.id) or value == t.name)
    if not ids:
        known = _some(f"{t.id} {t.name or '(unnamed)'}" for t in rec.tasks.values()) or "none"
        raise UsageError(f"no task {value!r} in the recording (tasks: {known})")
    return ids


def _resolve_obj(rec: Recording, value: str) -> frozenset[int]:
    ids = frozenset(o.id for o in rec.objects.values() if value == str(o.id) or value == o.label)
    if not ids:
        known = _some(o.label for o in rec.objects.values()) or "none"
        raise UsageError(f"no object {value!r} in the recording (objects: {known})")
    return ids


_RESOLVERS: Final[dict[str, Callable[[Recording, str], frozenset[int]]]] = {
    "thread": _resolve_thread,
    "task": _resolve_task,
    "obj": _resolve_obj,
    "at": _resolve_at,
    "func": _resolve_func,
}
