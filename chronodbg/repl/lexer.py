"""Highlighting for the replay prompt's replies: labels, threads, tasks, values, states.

A small pygments lexer over the text render.py produces (not Python: `#` in
`Lock#3` is part of a label, not a comment). The prompt uses it only on a
terminal with colours allowed; `list` output is lexed as Python instead.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer
from pygments.token import Comment, Keyword, Name, Number, Operator, String, Text

#: Words that say what a thread, task or lock is doing.
_STATES = (
    r"\b(blocked on|held by|waiting on|waiting|joining|running|finished|free|awaiting|done|created|"
    r"cancel requested|breakpoint \d+|watch \d+|end|start|error)\b"
)


class ReplyLexer(RegexLexer):  # type: ignore[misc]
    name = "chronodbg reply"
    aliases: list[str] = []
    filenames: list[str] = []
    tokens = {
        "root": [
            (r"\(sampled at seq \d+[^)]*\)", Comment),
            (r"\b(?:asyncio\.)?[A-Z][A-Za-z]*#\d+\b", Name.Class),  # object labels: Lock#3, asyncio.Queue#1
            (r"\bTask#\d+\b", Name.Class),
            (r'\bT\d+(?: "[^"]*")?', Name.Function),  # threads: T2 "clerk-1"
            (r"\btask \d+(?: '[^']*')?(?: \([^)]*\))?", Name.Function),
            (r"\bseq \d+(?:/\d+)?", Keyword.Pseudo),
            (_STATES, Keyword),
            (r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", String),
            (r"[+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?s?\b", Number),
            (r"\b(?:None|True|False)\b", Keyword.Constant),
            (r"[=·:;,\[\]{}()]", Operator),
            (r"\s+", Text),
            (r"[^\s=·:;,\[\]{}()'\"]+", Text),
        ]
    }
