"""Summaries of live values and frame locals, safe to take from any thread.

Never calls code the user wrote: dispatch is on the exact type of builtins,
anything else is kept as its type name and id (unless `use_repr` is asked
for). The encoding is defined in chronodbg/values.py.
"""

from __future__ import annotations

import collections
import re
import sys
import types
from _thread import get_ident
from typing import Any

from chronodbg import values as V

DEFAULT_REDACT = r"passw(or)?d|passwd|secret|token|api_?key|credential|private_?key"

_INT_MIN = -(1 << 63)
_INT_MAX = (1 << 64) - 1
_SCALARS = frozenset({float, bool, type(None)})
_SEQUENCES: dict[type, str] = {list: "list", tuple: "tuple", set: "set", frozenset: "frozenset", collections.deque: "deque"}
_PLAIN_NUMBERS = frozenset({int, float, bool, type(None)})
_HIDDEN_GLOBALS = frozenset(
    {types.ModuleType, types.FunctionType, type, types.BuiltinFunctionType, types.MethodType}
)
_type_qualname = type.__dict__["__qualname__"].__get__
_type_module = type.__dict__["__module__"].__get__


def clean_str(text: str) -> str:
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate would make the whole chunk unpackable.
        return text.encode("utf-8", "backslashreplace").decode("ascii")
    return text


class Summariser:
    def __init__(
        self,
        redact: str | None = DEFAULT_REDACT,
        use_repr: bool = False,
        max_str: int = 120,
        max_items: int = 8,
        max_depth: int = 2,
        max_names: int = 32,
    ) -> None:
        self.redact = re.compile(redact, re.IGNORECASE) if redact else None
        self.use_repr = use_repr
        self.max_str = max_str
        self.max_items = max_items
        self.max_depth = max_depth
        self.max_names = max_names
        self._secret: dict[str, bool] = {}
        self._type_names: dict[type, str] = {}
        #: Labels of recorded objects by object id, so a local holding a
        #: lock shows as `Lock#3`, the name every event uses.
        self.labels: dict[int, str] = {}
        self._recorded: dict[type, str | None] = {}
        #: Types known to be neither builtins nor recorded objects.
        self._plain_objects: set[type] = set()
        self._frames: dict[tuple[int, int], tuple[dict[str, tuple[Any, Any, Any]], Any]] = {}

    def is_secret(self, name: str) -> bool:
        known = self._secret.get(name)
        if known is None:
            known = self._secret[name] = bool(self.redact and self.redact.search(name))
            if len(self._secret) > 10000:
                self._secret.clear()
        return known

    def type_name(self, cls: type) -> str:
        name = self._type_names.get(cls)
        if name is None:
            try:
                qual = _type_qualname(cls)
                module = _type_module(cls)
                name = qual if module in ("builtins", "__main__") or not isinstance(module, str) else f"{module}.{qual}"
            except Exception:
                name = "?"
            self._type_names[cls] = name
        return name

    def value(self, value: Any, depth: int = 0) -> Any:
        cls = type(value)
        if cls is int:
            return value if _INT_MIN <= value <= _INT_MAX else (V.TAG_INT, value.bit_length())
        if cls is str:
            if len(value) <= self.max_str:
                return clean_str(value)
            return (V.TAG_STR, clean_str(value[: self.max_str]), len(value))
        if cls in _SCALARS:
            return value
        if cls is bytes or cls is bytearray:
            if cls is bytes and len(value) <= self.max_str:
                return value
            return (V.TAG_BYTES, bytes(value[: self.max_str]), len(value))
        if cls is dict:
            if depth >= self.max_depth:
                return ("dict", len(value), None)
            pairs: list[Any] = []
            for key, item in value.items():
                if len(pairs) >= self.max_items:
                    break
                if type(key) is str and self.is_secret(key):
                    pairs.append((key, (V.TAG_REDACTED,)))
                else:
                    pairs.append((self.value(key, depth + 1), self.value(item, depth + 1)))
            return ("dict", len(value), tuple(pairs))
        tag = _SEQUENCES.get(cls)
        if tag is not None:
            if depth >= self.max_depth:
                return (tag, len(value), None)
            if cls is list or cls is tuple:
                head = value[: self.max_items]
                kinds = set(map(type, head))
                # The common case, a short run of plain numbers, in C.
                if kinds <= _PLAIN_NUMBERS and (int not in kinds or (min(head) >= _INT_MIN and max(head) <= _INT_MAX)):
                    return (tag, len(value), tuple(head))
            items: list[Any] = []
            for item in value:
                if len(items) >= self.max_items:
                    break
                items.append(self.value(item, depth + 1))
            return (tag, len(value), tuple(items))
        label = self._label(value, cls) if cls not in self._plain_objects else None
        if label is not None:
            return (V.TAG_OBJ, self.type_name(cls), id(value), label)
        if self.use_repr:
            try:
                text = repr(value)
            except Exception as exc:
                text = f"<repr failed: {type(exc).__name__}>"
            if type(text) is not str:
                text = "<repr returned non-str>"
            return (V.TAG_OBJ, self.type_name(cls), id(value), clean_str(text[: self.max_str]))
        return (V.TAG_OBJ, self.type_name(cls), id(value))

    def _label(self, value: Any, cls: type) -> str | None:
        how = self._recorded.get(cls, "")
        if how == "":
            how = self._recorded[cls] = _recorded_kind(cls)
        if how is None:
            self._plain_objects.add(cls)
            return None
        if how == "slot":
            oid = value._oid
        elif how == "task":
            # A task's id, not an object id; read past any __getattr__ of a user subclass.
            try:
                task = object.__getattribute__(value, "_cgr_task")
            except AttributeError:
                return None
            return f"Task#{task}" if type(task) is int and task > 0 else None
        elif how == "thread":
            # Its thread id and current name, as replay names threads.
            attrs = object.__getattribute__(value, "__dict__")
            tid, name = attrs.get("_cgr_tid"), attrs.get("_name")
            if type(tid) is not int:
                return None
            return f'Thread T{tid} "{clean_str(name[: self.max_str])}"' if type(name) is str else f"Thread T{tid}"
        else:
            oid = object.__getattribute__(value, "__dict__").get("_cgr_oid")
        return self.labels.get(oid) if type(oid) is int else None

    def safe_value(self, value: Any) -> Any:
        try:
            return self.value(value)
        except Exception as exc:  # a dict changed size under us, a RecursionError…
            return (V.TAG_ERROR, type(exc).__name__)

    def frame_locals(self, frame: types.FrameType) -> tuple[tuple[str, Any], ...]:
        """The frame's locals as (name, summary) pairs, secrets redacted.

        A frame sampled again with nothing changed costs no new summaries: per
        thread and code object the last snapshot is kept with the immutable
        scalars it summarised, a scalar that is still the same object reuses
        its summary, and an unchanged snapshot is returned as the very same
        tuple, which the writer stores once per chunk by identity.
        """
        code = frame.f_code
        # By id (hashing a long module's code object is slow); the recorder's
        # UserCode keeps every sampled code object alive, so ids stay unique.
        key = (get_ident(), id(code))
        cache = self._frames
        previous = cache.get(key)
        known: dict[str, tuple[Any, Any, Any]] = previous[0] if previous is not None else {}
        module_level = code.co_name == "<module>"
        secret = self._secret
        pairs: list[tuple[str, Any]] = []
        scalars: dict[str, tuple[Any, Any, Any]] = {}
        # Unchanged means: the same names, each an immutable scalar that is
        # still the very same object (never `==`, for which 1, True and 1.0 agree).
        unchanged = previous is not None
        try:
            items = list(frame.f_locals.items())
        except Exception as exc:
            return (("<locals>", (V.TAG_ERROR, type(exc).__name__)),)
        for name, value in items:
            if len(pairs) >= self.max_names:
                break
            if type(name) is not str:
                continue
            cls = type(value)
            if module_level and (name.startswith("__") or cls in _HIDDEN_GLOBALS):
                continue
            is_secret = secret.get(name)
            if is_secret is None:
                is_secret = self.is_secret(name)
            if is_secret:
                pairs.append((name, _REDACTED))
                if name not in known:
                    unchanged = False
                # A redacted name is kept with no value: present is all that matters.
                scalars[name] = (None, _REDACTED, None)
            elif cls in _IMMUTABLE or (cls in self._plain_objects and not self.use_repr):
                # Summarised by value (scalars) or by type and id alone (plain
                # objects): the same type and id mean the same summary. Scalars
                # are held so their id stays theirs; plain objects are not, as
                # holding them would delay their finalizers.
                identity = (cls, id(value))
                seen = known.get(name)
                if seen is not None and seen[0] == identity:
                    summary = seen[1]
                else:
                    summary = self.safe_value(value)
                    unchanged = False
                scalars[name] = (identity, summary, value if cls in _IMMUTABLE else None)
                pairs.append((name, summary))
            else:
                # Containers' contents, a repr, or a recorded object's label can
                # change while the id stays.
                unchanged = False
                summary = self.safe_value(value)
                pairs.append((name, summary))
                if cls in self._plain_objects and not self.use_repr:
                    # Its type was first seen just now: reusable from the next sample on.
                    scalars[name] = ((cls, id(value)), summary, None)
        snapshot: tuple[tuple[str, Any], ...]
        if unchanged and previous is not None and len(pairs) == len(previous[1]):
            snapshot = previous[1]
        else:
            snapshot = tuple(pairs)
        if len(cache) >= _FRAME_CACHE_LIMIT and previous is None:
            cache.clear()
        cache[key] = (scalars, snapshot)
        return snapshot


_REDACTED = (V.TAG_REDACTED,)
_IMMUTABLE = frozenset({int, str, float, bool, type(None), bytes})
_FRAME_CACHE_LIMIT = 4096


def _recorded_kind(cls: type) -> str | None:
    """How objects of `cls` carry their recorded id: 'slot', 'dict', 'task', 'thread', or None."""
    import concurrent.futures
    import queue
    import threading

    from chronodbg.recorder import locks

    if cls is locks.RecordedLock or cls is locks.RecordedRLock:
        return "slot"
    if issubclass(cls, threading.Thread):
        return "thread"
    bases: tuple[type, ...] = (
        threading.Condition,
        threading.Semaphore,
        threading.Event,
        threading.Barrier,
        queue.Queue,
        queue.SimpleQueue,
        concurrent.futures.Future,
    )
    asyncio = sys.modules.get("asyncio")  # never imported here: only if the program has it
    if asyncio is not None and hasattr(asyncio, "tasks"):
        try:
            if issubclass(cls, asyncio.tasks._CTask) or issubclass(cls, asyncio.tasks._PyTask):
                return "task"
        except TypeError:
            return None
        bases += (asyncio.Lock, asyncio.Event, asyncio.Condition, asyncio.Semaphore, asyncio.Queue)
    try:
        if not issubclass(cls, bases):
            return None
    except TypeError:
        return None
    for klass in cls.__mro__:
        descriptor = vars(klass).get("__dict__")
        if descriptor is not None:
            # Only the interpreter's own __dict__ slot: a property would run user code.
            return "dict" if type(descriptor) is types.GetSetDescriptorType else None
    return None
