"""The replay commands, shared by every front end: one `do_<name>` method per command.

As in pdb, each command is a method whose docstring's first line is its
usage (`help` is built from them) and aliases map the gdb / rr / pdb short
forms onto them. Unlike pdb, a command prints nothing: it returns a `Reply`
(text for people, data for `--json`) or raises a `ChronoError` whose
one-line message the front end shows. The interactive REPL, batch mode and
any later front end differ only in how they read commands and show replies.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chronodbg import values
from chronodbg.errors import UsageError
from chronodbg.repl import render
from chronodbg.replay.evaluator import compile_expr
from chronodbg.replay.predicates import event_names
from chronodbg.replay.session import Session, Stop


@dataclass
class Reply:
    text: str
    data: Any = None


ALIASES = {
    "s": "step",
    "rs": "back",
    "reverse-step": "back",
    "n": "next",
    "rn": "reverse-next",
    "rf": "reverse-finish",
    "c": "continue",
    "rc": "reverse-continue",
    "b": "break",
    "p": "print",
    "bt": "where",
    "l": "list",
    "q": "quit",
    "exit": "quit",
}


def _is_number(text: str) -> bool:
    """A decimal number `int()` takes: `isdigit()` alone also passes "²" and 5,000-digit strings."""
    return text.isascii() and text.isdigit() and len(text) <= 18


class Quit(Exception):
    """Raised by `quit`: the front end ends the session."""


class Commands:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.rec = session.rec

    # -- dispatch ------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(name[3:].replace("_", "-") for name in dir(self) if name.startswith("do_"))

    def run(self, line: str) -> Reply:
        """Run one command line; raise ChronoError for a user error, Quit for `quit`."""
        line = line.strip()
        if not line or line.startswith("#"):
            return Reply("")
        word, _, arg = line.partition(" ")
        name = ALIASES.get(word, word)
        method: Callable[[str], Reply] | None = getattr(self, "do_" + name.replace("-", "_"), None)
        if method is None:
            close = difflib.get_close_matches(word, self.names() + list(ALIASES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else " (try help)"
            raise UsageError(f"unknown command {word!r}{hint}")
        return method(arg.strip())

    def _moved(self, stop: Stop) -> Reply:
        position = render.position(self.session)
        text = position if stop.reason in ("step", "back", "goto", "undo") else f"{stop.reason}: {position}"
        return Reply(text, {"seq": stop.seq, "reason": stop.reason, "event": render.event_json(self.session, self.session.event)})

    @staticmethod
    def _count(arg: str) -> int:
        if not arg:
            return 1
        if not _is_number(arg) or int(arg) < 1:
            raise UsageError(f"expected a count of 1 or more, not {arg!r}")
        return int(arg)

    # -- moves -----------------------------------------------------------------

    def do_step(self, arg: str) -> Reply:
        """step [N]  — the next (N-th next) event in the focus (alias s)."""
        return self._moved(self.session.step(self._count(arg)))

    def do_back(self, arg: str) -> Reply:
        """back [N]  — the previous (N-th previous) event in the focus (aliases reverse-step, rs)."""
        return self._moved(self.session.back(self._count(arg)))

    def do_next(self, arg: str) -> Reply:
        """next [N]  — step over calls: the next event no deeper than the selected frame (alias n).

        It walks the thread or task in focus (with focus all: the current
        event's thread). In a recording without call events there is no call
        to step over: the next event of the current event's thread.
        """
        return self._moved(self.session.next(self._count(arg)))

    def do_reverse_next(self, arg: str) -> Reply:
        """reverse-next [N]  — back over calls: the previous event no deeper than the selected frame (alias rn).

        Without call events: the previous event of the current event's thread.
        """
        return self._moved(self.session.next(self._count(arg), forward=False))

    def do_finish(self, arg: str) -> Reply:
        """finish  — run to where the selected frame leaves: its return, its unwind, or a generator's yield."""
        return self._moved(self.session.finish())

    def do_reverse_finish(self, arg: str) -> Reply:
        """reverse-finish  — back to the call of the selected frame (its latest resume for a generator) (alias rf).

        At that call already: back to its caller, before the call.
        """
        return self._moved(self.session.reverse_finish())

    def do_up(self, arg: str) -> Reply:
        """up [N]  — select the frame N levels out (toward the outermost caller)."""
        self.session.select_frame(self._count(arg))
        return self._frame_reply()

    def do_down(self, arg: str) -> Reply:
        """down [N]  — select the frame N levels in (toward the innermost)."""
        self.session.select_frame(self._count(arg), outward=False)
        return self._frame_reply()

    def _frame_reply(self) -> Reply:
        session = self.session
        view, frame = session.selected()
        assert frame is not None
        lines = [render.frame_line(session.index, view, session.frame, session.state())]
        shown = render.source_line(self.rec, frame.site)
        if shown is not None:
            lines.append(shown)
        return Reply("\n".join(lines), {"selected": session.frame, "frame": render.frame_json(session.index, view, session.frame)})

    def do_continue(self, arg: str) -> Reply:
        """continue  — run forward to the next breakpoint or watched change, or the end (alias c)."""
        return self._moved(self.session.cont())

    def do_reverse_continue(self, arg: str) -> Reply:
        """reverse-continue  — run backward to the previous breakpoint or watched change, or the start (alias rc)."""
        return self._moved(self.session.cont(forward=False))

    def do_goto(self, arg: str) -> Reply:
        """goto SEQ|first|last|cause|effect|deadlock|+TIME|-TIME|@TIME  — jump to an event, a causal link, a deadlock, or a time.

        `goto deadlock`: the next point after the cursor (else the first) where
        threads or tasks closed a cycle of waits, or from which every live thread
        stayed blocked for good.
        """
        if not arg:
            raise UsageError("goto needs a target: a seq, first, last, cause, effect, +1.5s, -200ms or @2.25s")
        return self._moved(self.session.goto(arg))

    def do_undo(self, arg: str) -> Reply:
        """undo  — back to where the cursor was before the last move."""
        return self._moved(self.session.undo())

    def do_when(self, arg: str) -> Reply:
        """when  — where the cursor is: seq, thread, task, time, event."""
        return Reply(render.position(self.session), render.event_json(self.session, self.session.event))

    # -- focus -----------------------------------------------------------------

    def do_thread(self, arg: str) -> Reply:
        """thread N|NAME  — focus step/back on one thread."""
        if not arg:
            raise UsageError("thread needs a thread id or name (see info threads)")
        focus = self.session.set_focus("thread", arg)
        return Reply(f"focus: {render.thread_label(self.rec, focus.id)}", {"focus": str(focus)})

    def do_task(self, arg: str) -> Reply:
        """task N|NAME  — focus step/back on one asyncio task."""
        if not arg:
            raise UsageError("task needs a task id or name (see info tasks)")
        focus = self.session.set_focus("task", arg)
        return Reply(f"focus: {render.task_label(self.rec, focus.id)}", {"focus": str(focus)})

    def do_focus(self, arg: str) -> Reply:
        """focus [all]  — show the focus, or focus on every event again."""
        if arg == "all":
            self.session.set_focus("all")
        elif arg:
            raise UsageError("focus takes no argument but all (use thread N or task N)")
        return Reply(f"focus: {self.session.focus}", {"focus": str(self.session.focus)})

    # -- breakpoints and watches --------------------------------------------------

    def do_break(self, arg: str) -> Reply:
        """break SPEC  — stop at events: KIND|FILE:LINE|FUNC [thread=… task=… obj=… at=… func=…] [if COND] (alias b).

        FILE:LINE is any event at that line, its `line` events included. FUNC
        is any event in the function; in a recording with call events, the
        calls that start it (`break call func=NAME if how == 'resume'` for a
        generator's resumes).
        """
        if not arg:
            return self.do_info("breakpoints")
        bp = self.session.add_breakpoint(arg)
        return Reply(f"breakpoint {bp.number}: {bp.text}", {"breakpoint": bp.number, "text": bp.text})

    def do_tbreak(self, arg: str) -> Reply:
        """tbreak SPEC  — like break, deleted after its first hit."""
        if not arg:
            raise UsageError("tbreak needs a breakpoint spec (see help break)")
        bp = self.session.add_breakpoint(arg, temporary=True)
        return Reply(f"temporary breakpoint {bp.number}: {bp.text}", {"breakpoint": bp.number, "text": bp.text})

    def _numbers(self, arg: str) -> list[int]:
        if not arg or not all(_is_number(word) for word in arg.split()):
            raise UsageError("expected breakpoint or watch numbers (see info breakpoints)")
        return [int(word) for word in arg.split()]

    def do_delete(self, arg: str) -> Reply:
        """delete N…  — delete breakpoints or watches."""
        numbers = self._numbers(arg)
        for number in numbers:
            self.session.delete(number)
        return Reply(f"deleted {', '.join(map(str, numbers))}", {"deleted": numbers})

    def do_disable(self, arg: str) -> Reply:
        """disable N…  — keep breakpoints but skip them."""
        numbers = self._numbers(arg)
        for number in numbers:
            self.session.enable(number, False)
        return Reply(f"disabled {', '.join(map(str, numbers))}", {"disabled": numbers})

    def do_enable(self, arg: str) -> Reply:
        """enable N…  — use disabled breakpoints again."""
        numbers = self._numbers(arg)
        for number in numbers:
            self.session.enable(number)
        return Reply(f"enabled {', '.join(map(str, numbers))}", {"enabled": numbers})

    def do_watch(self, arg: str) -> Reply:
        """watch NAME | watch obj LABEL  — stop where a local of the focus, or an object's state, changes.

        With line events a local is watched line by line, in every frame of
        the focus; otherwise through the locals sampled at its events.
        """
        word, _, rest = arg.partition(" ")
        if not word:
            raise UsageError("watch needs a local's name, or obj and an object's label")
        watch = self.session.watch_object(rest.strip()) if word == "obj" and rest.strip() else self.session.watch_local(word)
        return Reply(
            f"watch {watch.number}: {watch.text} ({len(watch.changes)} change{'' if len(watch.changes) == 1 else 's'} in the recording)",
            {"watch": watch.number, "text": watch.text, "changes": len(watch.changes)},
        )

    # -- what is there ---------------------------------------------------------

    def do_print(self, arg: str) -> Reply:
        """print EXPR  — evaluate over the event's fields, then the selected frame's locals (alias p).

        Without call events, or where the focus runs no recorded frame: the
        focus's latest sampled locals, as `locals` shows them.
        """
        if not arg:
            raise UsageError("print needs an expression, e.g. print balance < 0")
        expr = compile_expr(arg, "expression")
        found = self.session.frame_locals()
        if found is not None:
            # The selected frame's locals, not those the event sampled (from the innermost frame).
            frame_values = dict(found[1].values)
            names = event_names(self.rec, self.session.event, expr.names, lambda event: frame_values)
        else:
            names = dict(event_names(self.rec, self.session.event, expr.names))
            for name, value in self.local_pairs():
                names.setdefault(name, value)
        value = expr.evaluate(names)
        return Reply(repr(value), {"value": repr(value)})

    def local_pairs(self) -> tuple[tuple[str, Any], ...]:
        """What `print` and completion read: the selected frame's locals, else the latest sampled ones."""
        found = self.session.frame_locals()
        if found is not None:
            return found[1].values
        holder, _ = self.session.locals()
        return holder.locals if holder is not None and holder.locals else ()

    def do_locals(self, arg: str) -> Reply:
        """locals  — the selected frame's locals; without call events, the focus's latest sampled locals.

        At level lines they are rebuilt exactly, as the frame's current line
        starts; at level calls they are the latest sampled in that frame, else
        its arguments.
        """
        found = self.session.frame_locals()
        if found is not None:
            frame, known = found
            lines = [f"locals of #{self.session.frame} {render.frame_name(self.rec, frame)} ({self.session.code_focus()}, frame {frame.id}):"]
            lines += render.frame_locals_lines(known)
            frame_data = {
                "seq": self.session.cursor, "index": self.session.frame, "frame": frame.id, "source": known.source,
                "as_of": known.seq, "locals": {name: values.to_json(v) for name, v in known.values},
            }  # fmt: skip
            return Reply("\n".join(lines), frame_data)
        holder, focus = self.session.locals()
        data = None if holder is None or holder.locals is None else {
            "seq": holder.seq, "locals": {name: values.to_json(v) for name, v in holder.locals}
        }  # fmt: skip
        return Reply("\n".join([f"locals of {focus}:", *render.locals_lines(self.rec, holder)]), data)

    def do_where(self, arg: str) -> Reply:
        """where  — the call stack of the focus at the cursor, innermost first, the selected frame marked (alias bt).

        Without call events (or where the focus runs no recorded frame): the
        site of the focus's latest event.
        """
        session = self.session
        view, frame = session.selected()
        if frame is not None:
            state = session.state()
            focus = session.code_focus()
            head = f"stack of {focus} at seq {session.cursor}"
            if view.suspended:
                head = f"{focus} is suspended; the coroutines it waits in at seq {session.cursor}"
            lines = [head + ":"] + [
                ("-> " if number == session.frame else "   ")
                + render.frame_line(session.index, view, number, state, tasks=focus.kind == "thread")
                for number in range(len(view.frames))
            ]
            data = {
                "focus": str(focus), "seq": session.cursor, "selected": session.frame, "suspended": view.suspended,
                "frames": [render.frame_json(session.index, view, number) for number in range(len(view.frames))],
            }  # fmt: skip
            return Reply("\n".join(lines), data)
        holder, focus = self.session.locals()
        event = self.session.event
        site = holder.site if holder is not None and holder.seq == event.seq else event.site
        return Reply(f"#0 {render.site_text(self.rec, site)}", {"site": render.site_text(self.rec, site)})

    def do_list(self, arg: str) -> Reply:
        """list  — the source around the selected frame's line (alias l); without call events, the current event's line."""
        _, frame = self.session.selected()
        site = frame.site if frame is not None else self.session.event.site
        return Reply("\n".join(render.source(self.rec, site)))

    def do_output(self, arg: str) -> Reply:
        """output  — everything the program printed up to the cursor."""
        text = self.session.output()
        return Reply(text.rstrip("\n") if text else "(nothing printed yet)", {"output": text})

    def do_timeline(self, arg: str) -> Reply:
        """timeline [SEQ..SEQ|all] [width=N]  — swimlanes of threads and tasks (default: around the cursor)."""
        import shutil

        from chronodbg.analysis import lanes, timeline_text

        words = arg.split()
        sizes = [w for w in words if w.startswith("width=")]
        ranges = [w for w in words if not w.startswith("width=")]
        if len(ranges) > 1 or len(sizes) > 1:
            raise UsageError("timeline takes one range (e.g. 10..60) and at most one width=N")
        if sizes:
            if not _is_number(sizes[0][6:]) or int(sizes[0][6:]) < 20:
                raise UsageError(f"timeline: {sizes[0]!r}: the width must be a number of columns, 20 or more")
            width = int(sizes[0][6:])
        else:
            # COLUMNS, else the terminal's width, else 80 (batch output to a pipe).
            width = shutil.get_terminal_size((80, 24)).columns
        index, cursor = self.session.index, self.session.cursor
        if ranges:
            first, last = lanes.parse_range(ranges[0], index.last)
        else:
            names = [lanes.lane_name(self.rec, ("thread", t)) for t in self.rec.threads]
            names += [lanes.lane_name(self.rec, ("task", t)) for t in self.rec.tasks]
            first, last = timeline_text.window(cursor, index.last, timeline_text.columns_for(width, names))
        timeline = lanes.build(index, first, last)
        picture = timeline_text.render(timeline, index.last, cursor, width)
        data = lanes.to_json(timeline)
        data.update(cursor=cursor, events_per_column=picture.per_column)
        for lane, (row, holds) in zip(data["lanes"], picture.rows, strict=True):
            lane.update(row=row, holds_row=holds)
        return Reply("\n".join(picture.lines), data)

    def do_info(self, arg: str) -> Reply:
        """info threads|tasks|locks|queues|objects|waits|breakpoints  — the state at the cursor.

        `info waits` (alias `info deadlock`): who waits for whom at the cursor
        (threads, tasks, locks, conditions, queues, events, futures), the
        cycles in that graph and whether every live thread is blocked for good.
        """
        what = arg.strip()
        state = self.session.state()
        if what in ("waits", "deadlock"):
            lines, data = render.waits(self.session.index, state)
            return Reply("\n".join([f"waits at seq {state.seq}:", *lines]), data)
        listings = {
            "threads": render.threads,
            "tasks": render.tasks,
            "locks": render.locks,
            "queues": render.queues,
            "objects": render.objects,
        }
        if what in listings:
            lines = listings[what](self.rec, state) or [f"  (no {what})"]
            return Reply("\n".join([f"{what} at seq {state.seq}:", *lines]), {"seq": state.seq, what: [line.strip() for line in lines]})
        if what in ("breakpoints", "break", "watches"):
            rows = [
                f"  {bp.number:<4} {'on ' if bp.enabled else 'off'} {'once ' if bp.temporary else ''}{bp.text}  ({bp.hits} hits)"
                for bp in self.session.breakpoints.values()
            ] + [f"  {w.number:<4} watch {w.text}" for w in self.session.watches.values()]
            return Reply("\n".join(rows) or "no breakpoints or watches", {"breakpoints": [r.strip() for r in rows]})
        raise UsageError("info what? threads, tasks, locks, queues, objects, waits or breakpoints")

    def do_help(self, arg: str) -> Reply:
        """help [COMMAND]  — the commands, or one command's usage."""
        if arg:
            name = ALIASES.get(arg, arg)
            method = getattr(self, "do_" + name.replace("-", "_"), None)
            if method is None:
                raise UsageError(f"no command {arg!r} (try help)")
            return Reply((method.__doc__ or "").strip())
        lines = [(getattr(self, "do_" + n.replace("-", "_")).__doc__ or "").strip().splitlines()[0] for n in self.names()]
        aliases = ", ".join(f"{a}={c}" for a, c in sorted(ALIASES.items()))
        return Reply("\n".join(lines + [f"aliases: {aliases}"]))

    def do_quit(self, arg: str) -> Reply:
        """quit  — leave the replay (alias q, Ctrl-D)."""
        raise Quit
