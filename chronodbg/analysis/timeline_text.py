"""The `timeline` command's picture: one row per lane, one column per event, fitted to a width.

When the range has more events than there are columns, each column stands
for a bucket of consecutive events and shows the most telling status in it
(blocked, then suspended, then an event of the lane's own, then running,
ready, finished, not started): a brief wait for a lock is what one is
looking for, so it must not vanish between two busy stretches.

Plain ASCII glyphs, so that columns line up on any terminal and in
transcripts; names from the recording have their control characters
replaced, since a hostile recording could otherwise drive the terminal.
"""

from __future__ import annotations

import math
import textwrap
import unicodedata
from dataclasses import dataclass

from chronodbg.analysis.lanes import BLOCKED, FINISHED, NOT_STARTED, READY, RUNNING, SUSPENDED, Lane, Status, Timeline

#: The widest a lane's name may be in the left column.
NAME_MAX = 24
#: Fewer columns than this is no picture: narrower widths still get these.
MIN_COLUMNS = 10
HOLDS = "  holds"

EVENT = "*"
_STATE_GLYPHS = {RUNNING: "=", READY: ":", FINISHED: ".", NOT_STARTED: " "}
_BLOCKED_GLYPHS = {
    "lock": "L", "condition": "C", "semaphore": "S", "event": "E", "barrier": "B",
    "queue": "Q", "queue get": "Q", "queue put": "Q", "queue join": "Q", "future": "F", "join": "J",
}  # fmt: skip
_SUSPENDED_GLYPHS = {
    "sleep": "z", "task": "t", "gather": "g", "taskgroup": "g", "wait": "w", "wait_for": "w", "shield": "h",
    "executor": "x", "future": "f", "yield": "y", "lock": "l", "condition": "c", "semaphore": "s",
    "event": "e", "barrier": "b", "queue": "q",
}  # fmt: skip
#: How telling a status is when several share a column (higher wins).
_RANK = {BLOCKED: 5, SUSPENDED: 4, RUNNING: 2, READY: 1, FINISHED: 0, NOT_STARTED: -1}
_LOCK_KEYS = "123456789abcdefghijklmnopqrstuvwxyz"
_SEVERAL = "+"


@dataclass
class Picture:
    lines: list[str]
    #: Per lane (in the timeline's order): its state row and its holds row (None if it held nothing).
    rows: list[tuple[str, str | None]]
    per_column: int


def glyph(status: Status) -> str:
    if status.state == BLOCKED:
        return _BLOCKED_GLYPHS.get(status.what or "", "!")
    if status.state == SUSPENDED:
        return _SUSPENDED_GLYPHS.get(status.what or "", "~")
    return _STATE_GLYPHS[status.state]


def name_width(names: list[str]) -> int:
    return min(NAME_MAX, max([len(HOLDS), *(_width(n) for n in names)]))


def columns_for(width: int, names: list[str]) -> int:
    """How many event columns fit beside the names."""
    return max(MIN_COLUMNS, width - name_width(names) - 1)


def window(cursor: int, last: int, columns: int) -> tuple[int, int]:
    """A range of `columns` events (fewer if the recording is shorter) with the cursor in its middle."""
    first = max(1, min(cursor - columns // 2, last - columns + 1))
    return first, min(last, first + columns - 1)


def render(timeline: Timeline, total: int, cursor: int | None, width: int) -> Picture:
    first, last = timeline.first, timeline.last
    names = [lane.name for lane in timeline.lanes]
    left = name_width(names)
    count = last - first + 1
    per = math.ceil(count / columns_for(width, names))
    ncols = math.ceil(count / per)
    keys = {oid: _LOCK_KEYS[i] if i < len(_LOCK_KEYS) else "#" for i, oid in enumerate(timeline.locks)}
    inside = cursor is not None and first <= cursor <= last
    where = f"cursor at seq {cursor}" + ("" if inside else " (outside)") if cursor is not None else ""
    bucket = "1 event per column" if per == 1 else f"{per} events per column"
    lines = _wrap(f"timeline seq {first}..{last} of {total}, {bucket}" + (f", {where}" if where else ""), width)
    lines.append(_ruler(first, last, per, ncols, left))
    rows: list[tuple[str, str | None]] = []
    used: dict[str, set[str]] = {}
    for lane in timeline.lanes:
        row, holds = _lane_row(lane, first, per, ncols, keys, used)
        rows.append((row, holds))
        lines.append(f"{_fit(lane.name, left)} {row}")
        if holds is not None:
            lines.append(f"{HOLDS:<{left}} {holds}")
    if inside:
        assert cursor is not None
        column = (cursor - first) // per
        mark = f"^ seq {cursor}"
        lines.append(" " * (left + 1 + column) + mark if left + 1 + column + len(mark) <= width else f"{f'seq {cursor} ^':>{left + 2 + column}}")
    lines += _legend(used, keys, timeline, width)
    return Picture(lines, rows, per)


def _lane_row(lane: Lane, first: int, per: int, ncols: int, keys: dict[int, str], used: dict[str, set[str]]) -> tuple[str, str | None]:
    best: list[Status | None] = [None] * ncols
    held: list[set[int]] = [set() for _ in range(ncols)]
    for segment in lane.segments:
        status = segment.status
        for column in range((segment.first - first) // per, (segment.last - first) // per + 1):
            shown = best[column]
            if shown is None or _RANK[status.state] > _RANK[shown.state]:
                best[column] = status
            held[column].update(status.holds)
    with_event = [False] * ncols
    for seq in lane.events:
        with_event[(seq - first) // per] = True
    glyphs = []
    for column, telling in enumerate(best):
        assert telling is not None  # the segments cover the whole range
        if with_event[column] and telling.state not in (BLOCKED, SUSPENDED):
            used.setdefault(EVENT, set()).add("event")
            glyphs.append(EVENT)
            continue
        mark = glyph(telling)
        if telling.state in (BLOCKED, SUSPENDED):
            used.setdefault(mark, set()).add(f"{'blocked on' if telling.state == BLOCKED else 'awaiting'} {telling.what}")
        elif telling.state != NOT_STARTED:
            used.setdefault(mark, set()).add(telling.state)
        glyphs.append(mark)
    if not any(held):
        return "".join(glyphs), None
    holds = "".join(" " if not h else _SEVERAL if len(h) > 1 else keys.get(next(iter(h)), "#") for h in held)
    if _SEVERAL in holds:
        used.setdefault(_SEVERAL, set()).add("several")
    return "".join(glyphs), holds


def _ruler(first: int, last: int, per: int, ncols: int, left: int) -> str:
    """Seq numbers every ten columns (where they fit), above the columns they start."""
    cells = [" "] * ncols
    free = 0
    for column in range(0, ncols, 10):
        label = str(first + column * per)
        if column >= free and column + len(label) <= ncols:
            cells[column : column + len(label)] = label
            free = column + len(label) + 1
    return f"{'seq':<{left}} {''.join(cells)}".rstrip()


def _legend(used: dict[str, set[str]], keys: dict[int, str], timeline: Timeline, width: int) -> list[str]:
    order = [EVENT, "=", ":", "."]
    marks = [m for m in order if m in used] + sorted(m for m in used if m not in order and m != _SEVERAL)
    lines = _pack("legend:", [f"{mark} {_joined(sorted(used[mark]))}" for mark in marks], width) if marks else []
    if keys:
        held = [f"{keys[oid]} {_clean(label)}" for oid, label in timeline.locks.items()]
        lines += _pack("holds:", held + ([f"{_SEVERAL} several"] if _SEVERAL in used else []), width)
    return lines


def _pack(heading: str, items: list[str], width: int) -> list[str]:
    """Items after a heading, two spaces apart, wrapped between items (not inside one) to the width."""
    lines = [heading]
    fresh = True  # the last line has no item yet
    for item in items:
        joined = lines[-1] + (" " if lines[-1] == heading else "" if fresh else "  ") + item
        if len(joined) > width and not fresh:
            lines.append("  " + item)
        else:
            lines[-1] = joined
        fresh = False
    return lines


def _joined(meanings: list[str]) -> str:
    """`blocked on queue get/queue put`: what one glyph means, the shared words said once."""
    for prefix in ("blocked on ", "awaiting "):
        if len(meanings) > 1 and all(m.startswith(prefix) for m in meanings):
            return prefix + "/".join(m[len(prefix) :] for m in meanings)
    return "/".join(meanings)


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width=max(width, 20), subsequent_indent="  ", break_on_hyphens=False) or [""]


def _clean(text: str) -> str:
    """The text with control and other unprintable characters shown as `?`."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _char_width(c: str) -> int:
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 0 if unicodedata.combining(c) else 1


def _width(text: str) -> int:
    return sum(_char_width(c) for c in _clean(text))


def _fit(text: str, width: int) -> str:
    """`text` cut (marked `~`) or padded to exactly `width` terminal cells."""
    text = _clean(text)
    if _width(text) <= width:
        return text + " " * (width - _width(text))
    out, used = [], 0
    for c in text:
        if used + _char_width(c) > width - 1:
            break
        out.append(c)
        used += _char_width(c)
    return "".join(out) + " " * (width - 1 - used) + "~"
