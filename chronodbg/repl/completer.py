"""Tab completion for the replay prompt: commands, then what each command takes.

`break` completes event kinds and the recording's functions; `print` and
`watch` the locals `print` would read (the selected frame's in a recording
with call events, else the latest sampled ones).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from chronodbg import kinds
from chronodbg.repl.commands import ALIASES, Commands

_INFO = ("threads", "tasks", "locks", "queues", "objects", "waits", "deadlock", "breakpoints")
_FILTERS = ("thread=", "task=", "obj=", "at=", "func=", "if ")


class ReplayCompleter(Completer):
    def __init__(self, commands: Commands) -> None:
        self.commands = commands
        rec = commands.rec
        self.threads = sorted({str(t) for t in rec.threads} | {t.name for t in rec.threads.values()})
        self.tasks = sorted({str(t) for t in rec.tasks} | {t.name for t in rec.tasks.values() if t.name})
        self.objects = sorted(o.label for o in rec.objects.values())
        self.kind_names = sorted(kinds.BY_NAME) + sorted({name.split(".")[0] + ".*" for name in kinds.BY_NAME if "." in name})
        self.functions = sorted({site.func for site in rec.sites.values()})

    def _locals(self) -> list[str]:
        return sorted(name for name, _ in self.commands.local_pairs())

    def _words(self, command: str, before: list[str], word: str) -> Iterable[str]:
        if command in ("break", "tbreak"):
            if not before:
                return self.kind_names + self.functions
            if word.startswith("thread="):
                return ["thread=" + t for t in self.threads]
            if word.startswith("task="):
                return ["task=" + t for t in self.tasks]
            if word.startswith("obj="):
                return ["obj=" + o for o in self.objects]
            return _FILTERS
        if command == "thread":
            return self.threads
        if command == "task":
            return self.tasks
        if command == "info" and not before:
            return _INFO
        if command == "watch":
            return ["obj", *self._locals()] if not before else self.objects if before == ["obj"] else []
        if command == "print":
            return self._locals()
        if command == "goto" and not before:
            return ("first", "last", "cause", "effect", "deadlock")
        if command == "timeline":
            return ("all", "width=")
        if command == "help" and not before:
            return self.commands.names()
        return ()

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        words = text.split()
        word = "" if not words or text.endswith(" ") else words[-1]
        done = words if not word else words[:-1]
        if not done:
            candidates: Iterable[str] = self.commands.names() + sorted(ALIASES)
        else:
            command = ALIASES.get(done[0], done[0])
            candidates = self._words(command, done[1:], word)
        for candidate in candidates:
            if candidate.startswith(word) and candidate != word:
                yield Completion(candidate, start_position=-len(word))
