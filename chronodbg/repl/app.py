"""The interactive replay prompt: prompt_toolkit over the shared commands.

One concern here: reading lines and showing replies. Completion is in
completer.py, the commands and their texts in commands.py and render.py.
Input and output are injectable (tests drive the prompt through a pipe).
Colours (the source listing, errors) are off when the output is not a
terminal or `NO_COLOR` is set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import FormattedText, PygmentsTokens
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.shortcuts import print_formatted_text

from chronodbg.errors import ChronoError
from chronodbg.repl import render
from chronodbg.repl.commands import Commands, Quit
from chronodbg.repl.completer import ReplayCompleter

PROMPT = "(chronodbg) "


def history() -> History:
    """Persistent history under $XDG_STATE_HOME/chronodbg/ (in memory if that cannot be written)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    folder = Path(base) / "chronodbg"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "history"
        path.touch(exist_ok=True)
        return FileHistory(str(path))
    except OSError:
        return InMemoryHistory()


def run_app(commands: Commands, input: Any = None, output: Any = None) -> int:
    """Read commands until quit or Ctrl-D; return the exit status (0)."""
    colour = output is None and os.environ.get("NO_COLOR") is None and _is_tty()
    session: PromptSession[str] = PromptSession(
        completer=ReplayCompleter(commands),
        history=history() if input is None else InMemoryHistory(),
        bottom_toolbar=lambda: render.position(commands.session),
        input=input,
        output=output,
        complete_while_typing=False,
    )

    def show(text: str, style: str = "", source: bool = False) -> None:
        if not text:
            return
        if colour and not style:
            import pygments
            from pygments.lexers import PythonLexer

            from chronodbg.repl.lexer import ReplyLexer

            lexer = PythonLexer() if source else ReplyLexer()
            print_formatted_text(PygmentsTokens(list(pygments.lex(text + "\n", lexer))), output=output, end="")
        elif style and colour:
            print_formatted_text(FormattedText([(style, text)]), output=output)
        else:
            print_formatted_text(text, output=output)

    show(f"{commands.rec.path}: {commands.session.index.last} events, {len(commands.rec.threads)} threads"
         f"{f', {len(commands.rec.tasks)} tasks' if commands.rec.tasks else ''}. help lists the commands.")  # fmt: skip
    show(render.position(commands.session))
    while True:
        try:
            line = session.prompt(PROMPT)
        except KeyboardInterrupt:
            continue
        except EOFError:
            return 0
        word = line.strip().split(" ", 1)[0]
        try:
            reply = commands.run(line)
        except Quit:
            return 0
        except KeyboardInterrupt:
            # A long continue stopped by Ctrl-C: the cursor did not move.
            show("interrupted", "ansiyellow")
            continue
        except ChronoError as exc:
            show(f"error: {exc}", "ansired")
            continue
        show(reply.text, source=word in ("list", "l"))


def _is_tty() -> bool:
    try:
        return os.isatty(1)
    except (OSError, ValueError):
        return False
