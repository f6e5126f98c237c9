"""Summaries of live values and frame locals, safe to take from any thread.

Never calls code the user wrote: dispatch is on the exact type of builtins,
anything else is kept as its type name and id (unless `use_repr` is asked
for). The encoding is defined in chronodbg/values.py.

Values that fight back (docs/reliability.md): attributes of types and
objects are read through the interpreter's own descriptors (`type.__dict__`,
`object.__getattribute__`), never by attribute access, which a metaclass or
a class could redefine. The one user hook left is a metaclass `__hash__`:
looking a type up in a set hashes it, and checking for such a metaclass
first would cost every ordinary value; if that hash raises, the value shows
as unreadable and its event is kept.

With `use_repr` only `__repr__` runs, under these rules: a repr in progress
on a thread summarises whatever it makes the recorder sample (an event from
a lock the repr takes, a nested value) without repr, so a repr never
re-enters itself; a type whose repr failed once (raised, recursed, returned
a non-str) is not asked again; an object whose length is known without user
code (a builtin container's `__len__`, subclasses and array.array included)
and exceeds REPR_MAX_LEN is not rendered, as its repr would cost time and
memory in proportion; any exception but
KeyboardInterrupt is kept as the summary. A repr that blocks (waits for a
lock its own thread holds, say) blocks the program: pure Python cannot
interrupt it, which is why repr is off by default.
"""

from __future__ import annotations

import collections
import math
import os
import re
import sys
import types
from _thread import get_ident
from collections.abc import Callable, Iterable, Set
from typing import Any

from chronodbg import values as V
from chronodbg.recorder.objects import ObjectTable

Sampler: Any
try:
    from chronodbg.recorder._sampler import Sampler
except ImportError:  # built without a compiler: the Python method does the same
    Sampler = None


def sampler_path() -> str:
    """Whether a new Summariser samples and summarises in C ("c") or in Python ("python").

    CHRONODBG_PURE_PYTHON (any value but empty or "0") forces Python where C
    was built, as for the recorder's emit (see recorder.hotpath); read when a
    Summariser is made, so a test can set it before recording.
    """
    forced = os.environ.get("CHRONODBG_PURE_PYTHON", "") not in ("", "0")
    return "c" if Sampler is not None and not forced else "python"


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
_type_mro = type.__dict__["__mro__"].__get__
_type_dict = type.__dict__["__dict__"].__get__
#: Longer objects (by a builtin container's `__len__`) are not rendered by `use_repr`.
REPR_MAX_LEN = 10_000


def clean_str(text: str) -> str:
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate would make the whole chunk unpackable.
        return text.encode("utf-8", "backslashreplace").decode("ascii")
    return text


#: The Summariser attributes the C sampler reads as limits.
_LIMITS = frozenset({"use_repr", "max_str", "max_items", "max_depth", "max_names"})


class Summariser:
    def __init__(
        self,
        redact: str | None = DEFAULT_REDACT,
        use_repr: bool = False,
        max_str: int = 120,
        max_items: int = 8,
        max_depth: int = 2,
        max_names: int = 32,
        labels: ObjectTable | None = None,
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
        self.labels = labels if labels is not None else ObjectTable()
        self._recorded: dict[type, str | None] = {}
        #: Types known to be neither builtins nor recorded objects.
        self._plain_objects: set[type] = set()
        #: use_repr: thread idents inside a repr call, types whose repr failed,
        #: and whether a type's length is readable without user code.
        self._in_repr: set[int] = set()
        self._bad_repr: set[type] = set()
        self._c_len: dict[type, bool] = {}
        #: What the last sample of each (thread, code) left: `sample_locals`'
        #: entries under (thread, code id) keys; the C sampler keeps its own,
        #: laid out by position, under int keys (see _sampler.c).
        self._frames: dict[Any, tuple[Any, ...]] = {}
        #: `frame_locals(frame, calling=False)`: the C sampler when it was
        #: built, which gives the snapshots `sample_locals` gives.
        self.frame_locals: Callable[..., tuple[tuple[str, Any], ...]] = self.sample_locals
        #: `safe_value(value)`: likewise the C summary where it was built.
        self.safe_value: Callable[[Any], Any] = self.python_safe_value
        #: "c" or "python": which of the two does (the recording header says).
        self.path = sampler_path()
        if self.path == "c":
            sampler = Sampler(self, self.sample_locals, _gettrace, _REDACTED, V.TAG_ERROR)
            self.frame_locals, self.safe_value = sampler, sampler.summary
            self._sampler = sampler

    def __setattr__(self, name: str, value: Any) -> None:
        # The C sampler keeps the limits it read (five attribute reads a
        # sample otherwise): tell it when one changes.
        object.__setattr__(self, name, value)
        if name in _LIMITS:
            sampler = self.__dict__.get("_sampler")
            if sampler is not None:
                sampler.forget_limits()
            # Summaries kept for reuse were made under the old limits.
            frames = self.__dict__.get("_frames")
            if frames is not None:
                frames.clear()

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
                # A class body can set __module__ to anything: only an exact str is read.
                name = qual if type(module) is not str or module in ("builtins", "__main__") else f"{module}.{qual}"
                name = clean_str(name)
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
            try:
                for key, item in value.items():
                    if len(pairs) >= self.max_items:
                        break
                    if type(key) is str and self.is_secret(key):
                        pairs.append((clean_str(key), _REDACTED))
                    else:
                        pairs.append((self.value(key, depth + 1), self.value(item, depth + 1)))
            except Exception:
                # Some key or item cannot be summarised: it alone shows so.
                return ("dict", len(value), self._each_pair(value, depth + 1))
            return ("dict", len(value), tuple(pairs))
        tag = _SEQUENCES.get(cls)
        if tag is not None:
            if depth >= self.max_depth:
                return (tag, len(value), None)
            if cls is list or cls is tuple:
                head = value[: self.max_items]
                try:
                    kinds: Set[type] = set(map(type, head))
                except Exception:  # a metaclass __hash__
                    kinds = _UNKNOWN_KINDS
                # The common case, a short run of plain numbers, in C (None
                # among ints makes min() raise: then item by item).
                if kinds <= _PLAIN_NUMBERS and (
                    int not in kinds or (type(None) not in kinds and min(head) >= _INT_MIN and max(head) <= _INT_MAX)
                ):
                    return (tag, len(value), tuple(head))
            items: list[Any] = []
            try:
                for item in value:
                    if len(items) >= self.max_items:
                        break
                    items.append(self.value(item, depth + 1))
            except Exception:
                return (tag, len(value), self._each_item(value, depth + 1))
            return (tag, len(value), tuple(items))
        label = self._label(value, cls) if cls not in self._plain_objects else None
        if label is not None:
            return (V.TAG_OBJ, self.type_name(cls), id(value), label)
        if self.use_repr and cls not in self._bad_repr:
            text = self._repr(value, cls)
            if text is not None:
                return (V.TAG_OBJ, self.type_name(cls), id(value), text)
        return (V.TAG_OBJ, self.type_name(cls), id(value))

    def _each_pair(self, value: dict[Any, Any], depth: int) -> tuple[Any, ...]:
        """A dict's first pairs, each summarised on its own (the slow path, after one raised)."""
        pairs: list[Any] = []
        for key, item in value.items():
            if len(pairs) >= self.max_items:
                break
            if type(key) is str and self.is_secret(key):
                pairs.append((clean_str(key), _REDACTED))
            else:
                pairs.append((self._item(key, depth), self._item(item, depth)))
        return tuple(pairs)

    def _each_item(self, value: Iterable[Any], depth: int) -> tuple[Any, ...]:
        items: list[Any] = []
        for item in value:
            if len(items) >= self.max_items:
                break
            items.append(self._item(item, depth))
        return tuple(items)

    def _item(self, value: Any, depth: int) -> Any:
        """A container's item: one that cannot be summarised spoils only itself."""
        try:
            return self.value(value, depth)
        except Exception as exc:
            return (V.TAG_ERROR, type(exc).__name__)

    def _repr(self, value: Any, cls: type) -> str | None:
        """`repr(value)` cut to max_str, or why there is none; None: summarise without it."""
        ident = get_ident()
        in_repr = self._in_repr
        if ident in in_repr:
            return None
        c_len = self._c_len.get(cls)
        if c_len is None:
            c_len = self._c_len[cls] = _has_c_len(cls)
        if c_len:
            try:
                length = len(value)
            except Exception:
                length = 0
            if length > REPR_MAX_LEN:
                return f"<{self.type_name(cls)} of {length} items, not rendered>"
        in_repr.add(ident)
        try:
            text = repr(value)
        except KeyboardInterrupt:
            # The program's Ctrl-C, arrived while its repr ran: it is the program's.
            raise
        except BaseException as exc:  # noqa: B036 - SystemExit from a __repr__ must not end the program
            self._bad_repr.add(cls)
            return f"<repr failed: {self.type_name(type(exc))}>"
        finally:
            in_repr.discard(ident)
        if type(text) is not str:  # a str subclass: slicing it could run its code
            self._bad_repr.add(cls)
            return "<repr returned non-str>"
        return clean_str(text[: self.max_str])

    def _kind_of(self, cls: type) -> str | None:
        """How objects of `cls` carry their recorded id (_recorded_kind), remembered per type."""
        how = self._recorded.get(cls, "")
        if how == "":
            how = self._recorded[cls] = _recorded_kind(cls)
        return how

    def _label(self, value: Any, cls: type) -> str | None:
        how = self._kind_of(cls)
        if how is None:
            self._plain_objects.add(cls)
            return None
        if how == "task":
            # A task's id, not an object id; read past any __getattr__ of a user subclass.
            try:
                task = object.__getattribute__(value, "_cgr_task")
            except AttributeError:
                return None
            return f"Task#{task}" if type(task) is int and task > 0 else None
        elif how == "thread":
            # Its thread id and current name, as replay names threads.
            attrs = object.__getattribute__(value, "__dict__")
            if type(attrs) is not dict:
                return None
            tid, name = attrs.get("_cgr_tid"), attrs.get("_name")
            if type(tid) is not int:
                return None
            return f'Thread T{tid} "{clean_str(name[: self.max_str])}"' if type(name) is str else f"Thread T{tid}"
        oid = _oid_of(value, how)
        return self.labels.get(oid) if oid is not None else None

    def recorded_key(self, value: Any) -> tuple[type, int, int] | None:
        """(type, id, object id) of a recorded object that is summarised as its label; else None.

        Its summary is a function of that key (an object id's label never
        changes), so a sample reuses it while the key stays the same (see
        `_same_recorded`); containers and reprs have no such key.
        """
        cls = type(value)
        try:
            oid = _oid_of(value, self._kind_of(cls))
            if oid is None or cls in self._plain_objects or self._label(value, cls) is None:
                return None
        except Exception:
            return None
        return (cls, id(value), oid)

    def _same_recorded(self, seen: tuple[Any, Any, Any] | None, value: Any, cls: type) -> bool:
        """Whether `seen` is the entry of a recorded object whose key `value` still has."""
        if seen is None:
            return False
        key = seen[0]
        if type(key) is not tuple or len(key) != 3 or key[0] is not cls or key[1] != id(value):
            return False
        try:
            return bool(_oid_of(value, self._recorded.get(cls)) == key[2])
        except Exception:
            return False

    def python_safe_value(self, value: Any) -> Any:
        try:
            return self.value(value)
        except Exception as exc:  # a dict changed size under us, a RecursionError…
            return (V.TAG_ERROR, type(exc).__name__)

    def sample_locals(self, frame: types.FrameType, calling: bool = False) -> tuple[tuple[str, Any], ...]:
        """The frame's locals as (name, summary) pairs, secrets redacted.

        `calling`: the frame itself made the call that records (so no trace
        function's callback for it can be in progress: see below).

        A frame sampled again with nothing changed costs few new summaries: per
        thread and code object the last snapshot is kept with the immutable
        scalars it summarised, a scalar that is still the same object reuses
        its summary, a recorded object with the same key reuses its label, a
        container (whose contents can change under the same id) is summarised
        again and keeps its old summary if the new one is the same encoding
        (`same_summary`), and an unchanged snapshot is returned as the very
        same tuple, which the writer stores once per chunk by identity.
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
            namespace = frame.f_locals
            items = list(namespace.items())
        except Exception as exc:
            return (("<locals>", (V.TAG_ERROR, type(exc).__name__)),)
        empty_cached_locals(code, namespace, calling)
        del namespace
        for name, value in items:
            if len(pairs) >= self.max_names:
                break
            if type(name) is not str:
                continue
            cls = type(value)
            if module_level:
                try:
                    if name.startswith("__") or cls in _HIDDEN_GLOBALS:
                        continue
                except Exception as exc:  # hashing a type whose metaclass __hash__ raises
                    unchanged = False
                    pairs.append((name, (V.TAG_ERROR, type(exc).__name__)))
                    continue
                if not name.isidentifier():
                    # Only globals() can hold such a name: a control character or a lone surrogate in it.
                    name = ascii(name)
            is_secret = secret.get(name)
            if is_secret is None:
                is_secret = self.is_secret(name)
            if is_secret:
                # Whatever its value, even one whose type cannot be looked up.
                pairs.append((name, _REDACTED))
                if name not in known:
                    unchanged = False
                # A redacted name is kept with no value: present is all that matters.
                scalars[name] = (None, _REDACTED, None)
                continue
            try:
                immutable = cls in _IMMUTABLE
                plain = immutable or (cls in self._plain_objects and not self.use_repr)
            except Exception as exc:  # that metaclass __hash__ again
                unchanged = False
                pairs.append((name, (V.TAG_ERROR, type(exc).__name__)))
                continue
            if plain:
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
                scalars[name] = (identity, summary, value if immutable else None)
                pairs.append((name, summary))
            else:
                # Containers' contents or a repr can change while the id stays;
                # a recorded object's label cannot while its key stays.
                seen = known.get(name)
                if self._same_recorded(seen, value, cls):
                    assert seen is not None
                    scalars[name] = seen
                    pairs.append((name, seen[1]))
                    continue
                summary = self.safe_value(value)
                if seen is not None and _by_value_of(seen[0], cls) and same_summary(seen[1], summary):
                    # Compared by value: a container summarised as before keeps
                    # its entry, so an unchanged frame keeps its snapshot.
                    scalars[name] = seen
                    pairs.append((name, seen[1]))
                    continue
                unchanged = False
                pairs.append((name, summary))
                recorded = self.recorded_key(value) if self._recorded.get(cls, "") is not None else None
                if recorded is not None:
                    scalars[name] = (recorded, summary, None)
                    continue
                try:
                    if cls in self._plain_objects and not self.use_repr:
                        # Its type was first seen just now: reusable from the next sample on.
                        scalars[name] = ((cls, id(value)), summary, None)
                        continue
                except Exception:  # that metaclass __hash__ again
                    pass
                # Compared by value at the next sample; the key is a 1-tuple,
                # which no identity or recorded key (2 and 3 items) equals.
                scalars[name] = ((cls,), summary, None)
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


def _by_value_of(key: Any, cls: type) -> bool:
    """Whether a frame cache entry's key marks a `cls` value compared by value (never calls `==` on a type)."""
    return type(key) is tuple and len(key) == 1 and key[0] is cls


def same_summary(a: Any, b: Any) -> bool:
    """Whether two summaries are the same encoding: equal, item by item, with equal types.

    Not `==`, for which 1, True and 1.0 agree and 0.0 equals -0.0; a NaN
    is never the same (a new summary is written, which is only bigger).
    """
    if a is b:
        return True
    cls = type(a)
    if cls is not type(b):
        return False
    if cls is tuple:
        return len(a) == len(b) and all(map(same_summary, a, b))
    if cls is float:
        return bool(a == b) and _copysign(1.0, a) == _copysign(1.0, b)
    if cls is int or cls is str or cls is bytes:
        return bool(a == b)
    return False

_UNKNOWN_KINDS = frozenset({object})
_KNOWN_LENGTHS = frozenset(
    {list, tuple, dict, set, frozenset, str, bytes, bytearray, collections.deque, collections.OrderedDict}
)
_IMMUTABLE = frozenset({int, str, float, bool, type(None), bytes})
_FRAME_CACHE_LIMIT = 4096
_CACHED_LOCALS = sys.version_info < (3, 13)
_CO_OPTIMIZED = 0x0001
_getrefcount = sys.getrefcount
_gettrace = sys.gettrace
_copysign = math.copysign


def empty_cached_locals(code: types.CodeType, namespace: Any, calling: bool) -> None:
    """Empty the dict `namespace` (the frame's f_locals, just read) where that is safe: before 3.13 it is cached
    on the frame, and keeps every value it saw alive, deleted names' too, until the frame's next sample or its
    end, so that a weakref the program expects dead stays alive.

    Safe when nobody else holds it (the next f_locals or locals() fills it again from the frame's variables), and
    not inside a trace function's callback for this frame: when that returns, the interpreter copies the dict back
    into the frame's variables, and an empty one would delete them. A frame that is making a call (`calling`) is
    not in such a callback; an outer frame may be.
    """
    if (
        _CACHED_LOCALS
        and code.co_flags & _CO_OPTIMIZED
        # Held by the frame and by the caller alone (plus this call's argument and getrefcount's).
        and _getrefcount(namespace) == 4
        and (calling or _gettrace() is None)
    ):
        namespace.clear()


def _has_c_len(cls: type) -> bool:
    """Whether `len()` of a `cls` object runs no user code: its `__len__` is that of a builtin container.

    A C `__len__` alone is not enough: a weakref proxy's, a mappingproxy's
    forward to the object behind them.
    """
    try:
        for klass in _type_mro(cls):
            if "__len__" in _type_dict(klass):
                # array.array only if the program imported it: importing it here would show in sys.modules.
                array = sys.modules.get("array")
                array_type = array.__dict__.get("array") if type(array) is types.ModuleType else None
                return klass in _KNOWN_LENGTHS or (array_type is not None and klass is array_type)
    except Exception:
        pass
    return False


def _plain_dict(cls: type) -> bool:
    """Whether `__dict__` of a `cls` object is the interpreter's own slot (a property would run user code)."""
    for klass in _type_mro(cls):
        descriptor = _type_dict(klass).get("__dict__")
        if descriptor is not None:
            return type(descriptor) is types.GetSetDescriptorType
    return False


def _oid_of(value: Any, how: str | None) -> int | None:
    """The id that names a recorded object of kind `how` (_recorded_kind), or None; may raise."""
    if how == "slot":
        oid = value._oid
    elif how == "dict":
        oid = object.__getattribute__(value, "__dict__").get("_cgr_oid")
    elif how == "task":
        oid = object.__getattribute__(value, "_cgr_task")
    else:
        return None
    return oid if type(oid) is int else None


def _recorded_kind(cls: type) -> str | None:
    """How objects of `cls` carry their recorded id: 'slot', 'dict', 'task', 'thread', or None."""
    import queue
    import threading

    from chronodbg.recorder import locks

    if cls in locks.WRAPPERS:
        return "slot"
    if issubclass(cls, threading.Thread):
        return "thread" if _plain_dict(cls) else None
    bases: tuple[type, ...] = (
        threading.Condition,
        threading.Semaphore,
        threading.Event,
        threading.Barrier,
        queue.Queue,
        queue.SimpleQueue,
    )
    # concurrent.futures and asyncio are never imported here: their objects exist only if the program imported them.
    futures = sys.modules.get("concurrent.futures._base")
    if futures is not None and hasattr(futures, "Future"):
        bases += (futures.Future,)
    asyncio = sys.modules.get("asyncio")
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
    return "dict" if _plain_dict(cls) else None
