"""The encoding of value summaries, and how to show them as text or JSON.

A summary is what the recorder keeps of a live value (never the value
itself): None, bool, int, float, str and bytes stand for themselves; every
other summary is a tuple whose first item is one of the tags below. The
recorder builds them (recorder/snapshot.py); the reader, `dump` and the replay
engine render them here.
"""

from __future__ import annotations

import math
from typing import Any

Summary = Any

TAG_STR = "str"  # (tag, prefix, full_length): a truncated str
TAG_BYTES = "bytes"  # (tag, prefix, full_length): truncated bytes
TAG_INT = "int"  # (tag, bit_length): an int too large to store
TAG_OBJ = "obj"  # (tag, type_name, id[, repr]): anything else
TAG_REDACTED = "redacted"  # (tag,): a value whose name looks secret
TAG_ERROR = "error"  # (tag, message): the value could not be summarised
TAG_UNBOUND = "unbound"  # (tag,): a local that was bound and no longer is (line events' `changed`)
#: (tag, length, items-or-None); items of a dict are (key, value) pairs.
CONTAINER_TAGS = frozenset({"list", "tuple", "set", "frozenset", "dict", "deque"})
REDACTED_TEXT = "<redacted>"


_CONTROLS = {c: "?" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}


def printable(text: str) -> str:
    """A name from a recording (thread, task, label, file, function) safe for a terminal.

    Names are the program's own strings: a control character in one (an
    escape sequence in a thread name) must not drive the user's terminal,
    and a lone surrogate (a log is read with surrogatepass) must not make
    writing the line fail: it shows as its escape.
    """
    text = text.translate(_CONTROLS)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def to_text(value: Summary) -> str:
    """A short, repr-like rendering for terminals (any input: logs can be crafted)."""
    try:
        return _to_text(value)
    except Exception:
        return "<malformed value>"


def to_json(value: Summary) -> Any:
    """A JSON-safe rendering (stable: `dump --json` prints it), for any input."""
    try:
        return _to_json(value)
    except Exception:
        return {"type": "malformed"}


def _to_text(value: Summary) -> str:
    if not isinstance(value, (tuple, list)):
        return repr(value)
    if not value:
        return "?"
    tag = value[0]
    if tag == TAG_STR or tag == TAG_BYTES:
        return f"{value[1]!r}…({value[2]} {'chars' if tag == TAG_STR else 'bytes'})"
    if tag == TAG_INT:
        return f"<int of {value[1]} bits>"
    if tag == TAG_OBJ:
        # The type's name and its repr are the program's text: one line, no escape sequences.
        if len(value) > 3 and value[3] is not None:
            return printable(str(value[3]))
        name = printable(str(value[1]))
        return f"<{name} object #{value[2]:x}>" if isinstance(value[2], int) else f"<{name}>"
    if tag == TAG_REDACTED:
        return REDACTED_TEXT
    if tag == TAG_ERROR:
        return f"<unreadable: {value[1]}>"
    if tag == TAG_UNBOUND:
        return "<unbound>"
    if tag in CONTAINER_TAGS and len(value) == 3:
        length, items = value[1], value[2]
        if items is None:
            return f"<{tag} of {length}>"
        if tag == "dict":
            parts = [f"{_to_text(k)}: {_to_text(v)}" for k, v in _pairs(items)]
        else:
            parts = [_to_text(item) for item in items]
        more = ", …" if length > len(parts) else ""
        inner = ", ".join(parts) + more
        opening, closing = _BRACKETS.get(tag, ("{", "}"))
        if tag == "tuple" and length == 1 and len(parts) == 1:
            inner += ","
        text = f"{opening}{inner}{closing}"
        if tag in ("set", "frozenset", "deque"):
            text = f"{tag}({text})"
        return f"{text} (len {length})" if more else text
    return repr(value)


_BRACKETS = {"list": ("[", "]"), "tuple": ("(", ")"), "dict": ("{", "}"), "deque": ("[", "]")}


def _pairs(items: Any) -> list[tuple[Any, Any]]:
    return [(pair[0], pair[1]) for pair in items if isinstance(pair, (tuple, list)) and len(pair) == 2]


def _to_json(value: Summary) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"type": "float", "repr": repr(value)}
    if isinstance(value, bytes):
        return {"type": "bytes", "hex": value.hex(), "len": len(value)}
    if not isinstance(value, (tuple, list)) or not value:
        return {"type": "unknown"}
    tag = value[0]
    if tag == TAG_STR and len(value) == 3:
        return {"type": "str", "value": value[1], "len": value[2], "truncated": True}
    if tag == TAG_BYTES and len(value) == 3:
        prefix = value[1] if isinstance(value[1], bytes) else b""
        return {"type": "bytes", "hex": prefix.hex(), "len": value[2], "truncated": value[2] > len(prefix)}
    if tag == TAG_INT:
        return {"type": "int", "bits": value[1]}
    if tag == TAG_OBJ:
        out = {"type": "obj", "class": value[1], "id": value[2] if len(value) > 2 else None}
        if len(value) > 3 and value[3] is not None:
            out["repr"] = value[3]
        return out
    if tag == TAG_REDACTED:
        return REDACTED_TEXT
    if tag == TAG_ERROR:
        return {"type": "error", "message": value[1] if len(value) > 1 else ""}
    if tag == TAG_UNBOUND:
        return {"type": "unbound"}
    if tag in CONTAINER_TAGS and len(value) == 3:
        items = value[2]
        rendered: Any = None
        if items is not None:
            if tag == "dict":
                rendered = [[_to_json(k), _to_json(v)] for k, v in _pairs(items)]
            else:
                rendered = [_to_json(item) for item in items]
        return {"type": tag, "len": value[1], "items": rendered}
    return {"type": "unknown"}
