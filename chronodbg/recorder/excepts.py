"""Where a code object's `except` clauses catch: read once from its bytecode, for the `handled` event.

Neither tracing API says "an except clause caught this": sys.monitoring's
EXCEPTION_HANDLED fires whenever control enters any handler (a `finally`, a
`with` block's cleanup, an `except` that will not match, the compiler's own
clean-up code), and settrace says nothing at all. What does say it is the
bytecode (3.11 to 3.13 compile every `except` the same way):

    PUSH_EXC_INFO                  the handler's entry (an exception-table target)
    <the type expression>          LOAD_GLOBAL ValueError, a tuple, mod.Error
    CHECK_EXC_MATCH
    POP_JUMP_IF_FALSE <next>       to the next clause, or to a RERAISE when none matched
    <body>                         POP_TOP or STORE_FAST e: the clause has caught it
    ...
  next:
    POP_TOP                        a bare `except:` catches anything
    <body>

So a clause has caught the exception once its body's first instruction (the
"catch offset") runs. The monitoring tracer sees that as the BRANCH of the
match jump that falls through; the settrace tracer as an `opcode` (or, on
3.12, `line`) event at or past the catch offset. `except*` clauses
(CHECK_EG_MATCH) are not followed: they split exception groups.
"""

from __future__ import annotations

import bisect
import dis
from types import CodeType
from typing import Any

#: Instructions that may make up an except clause's type expression.
_EXPRESSION = frozenset(
    {"BUILD_TUPLE", "BUILD_LIST", "PUSH_NULL", "CALL", "PRECALL", "KW_NAMES", "NOP", "EXTENDED_ARG", "CACHE",
     "BINARY_SUBSCR", "BINARY_OP", "COPY", "SWAP", "CALL_KW", "CALL_FUNCTION_EX"}
)  # fmt: skip

OP = dis.opmap
RESUME = OP["RESUME"]
RETURN_VALUE = OP["RETURN_VALUE"]
YIELD_VALUE = OP["YIELD_VALUE"]
POP_EXCEPT = OP["POP_EXCEPT"]
RERAISE = OP["RERAISE"]
RAISE_VARARGS = OP["RAISE_VARARGS"]
#: What a frame returns by (RETURN_CONST is 3.12+).
RETURNS = frozenset(op for op in (RETURN_VALUE, OP.get("RETURN_CONST")) if op is not None)
#: Where a `for` or `yield from`/`await` meets the end of what it iterates: settrace
#: reports the StopIteration that ends it as an exception there, sys.monitoring does not.
ITERATION_ENDS = frozenset(OP[name] for name in ("FOR_ITER", "SEND", "END_SEND", "END_FOR", "CLEANUP_THROW") if name in OP)


class Handlers:
    """The except clauses of one code object."""

    __slots__ = ("catches", "jumps", "entries", "table", "bodies")

    def __init__(self) -> None:
        #: catch offset -> the line of its `except` clause.
        self.catches: dict[int, int] = {}
        #: offset of a clause's match jump -> (where it jumps when the clause does not match, its catch offset).
        self.jumps: dict[int, tuple[int, int]] = {}
        #: handler entry offset -> the catch offset of a bare `except:` it starts with,
        #: or -1 for one that starts with a typed clause. Other handlers are clean-up.
        self.entries: dict[int, int] = {}
        #: (start, end, target) of every exception-table entry.
        self.table: tuple[tuple[int, int, int], ...] = ()
        #: Sorted (catch offset, end of that clause's body) ranges.
        self.bodies: list[tuple[int, int]] = []

    def covered(self, offset: int) -> bool:
        """Whether an exception raised at `offset` goes to a handler in this code."""
        return any(start <= offset < end for start, end, _ in self.table)

    def catch_at(self, offset: int) -> int | None:
        """The line of the except clause whose body `offset` lies in (None outside every body)."""
        i = bisect.bisect_right(self.bodies, (offset, 1 << 62)) - 1
        if i >= 0:
            start, end = self.bodies[i]
            if start <= offset < end:
                return self.catches[start]
        return None


def analyse(code: CodeType) -> Handlers:
    handlers = Handlers()
    # (start, end, target, depth, lasti) of each entry of the exception table (3.11+).
    entries: list[Any] = getattr(dis.Bytecode(code), "exception_entries", [])
    if not entries:
        return handlers
    handlers.table = tuple((e.start, e.end, e.target) for e in entries)
    instructions = list(dis.get_instructions(code))
    index = {ins.offset: i for i, ins in enumerate(instructions)}
    fallback = code.co_firstlineno

    def line_of(i: int) -> int:
        positions = instructions[i].positions
        lineno = positions.lineno if positions is not None else None
        return lineno if lineno is not None else fallback

    targets = sorted({e.target for e in entries})
    ends = set(targets)
    for target in targets:
        start = index.get(target)
        if start is None or instructions[start].opname != "PUSH_EXC_INFO":
            continue
        i = start + 1
        first = True
        while i < len(instructions):
            if instructions[i].opname == "POP_TOP":
                catch = instructions[i].offset
                handlers.catches[catch] = line_of(i)
                if first:
                    handlers.entries[target] = catch
                break
            j = i
            while j < len(instructions) and (instructions[j].opname.startswith("LOAD_") or instructions[j].opname in _EXPRESSION):
                j += 1
            if j + 2 >= len(instructions) or instructions[j].opname != "CHECK_EXC_MATCH":
                break
            jump = instructions[j + 1]
            if not jump.opname.startswith("POP_JUMP") or not isinstance(jump.argval, int):
                break
            catch = instructions[j + 2].offset
            handlers.catches[catch] = line_of(j + 2)
            handlers.jumps[jump.offset] = (jump.argval, catch)
            ends.add(instructions[i].offset)
            ends.add(jump.argval)
            if first:
                handlers.entries[target] = -1
                first = False
            nxt = index.get(jump.argval)
            if nxt is None:
                break
            i = nxt
    # A clause's body runs from its catch offset to the next clause, handler or chain end.
    bounds = sorted(ends)
    size = len(code.co_code)
    for catch in sorted(handlers.catches):
        k = bisect.bisect_right(bounds, catch)
        handlers.bodies.append((catch, bounds[k] if k < len(bounds) else size))
    return handlers


class HandlerIndex:
    """Handlers per code object, analysed when an exception first reaches it (kept by id: see UserCode)."""

    def __init__(self) -> None:
        self._known: dict[int, Handlers] = {}

    def get(self, code: CodeType) -> Handlers:
        found = self._known.get(id(code))
        if found is None:
            try:
                found = analyse(code)
            except Exception:  # bytecode this version of dis cannot read: no handled events for it
                found = Handlers()
            self._known[id(code)] = found
        return found
