"""Values that fight back, held as locals, arguments, return values, container items, dict keys and globals.

Every dunder of the hostile classes counts its calls once ARMED (before that
the program itself hashes some of them into dicts). The program never calls
them after arming, so at the end every count is what the recorder made the
program run: the test compares them with a plain run. Blocking dunders block
for good: if the recorder calls one the recording never ends.

HOSTILE_BLOCKING_REPR=1 makes Blocking.__repr__ block too (for runs without
--repr, where nothing may call it); otherwise it counts and returns.
"""

import array
import asyncio
import collections
import ctypes
import decimal
import os
import re
import sqlite3
import threading
import weakref

CALLS: dict[str, int] = {}
ARMED = False
NEVER = threading.Event()  # never set: what Blocking waits for
BLOCKING_REPR = os.environ.get("HOSTILE_BLOCKING_REPR") == "1"
LOCK = threading.Lock()


def hit(name: str) -> None:
    if ARMED:
        CALLS[name] = CALLS.get(name, 0) + 1


DUNDERS = ("__len__", "__iter__", "__eq__", "__ne__", "__lt__", "__hash__", "__bool__", "__str__",
           "__format__", "__getitem__", "__contains__", "__sizeof__", "__reduce_ex__", "__index__", "__dir__")


def unarmed(base: type, name: str, self: object, args: tuple) -> object:  # type: ignore[type-arg]
    """Before arming, a dunder does what the base class's does."""
    method = getattr(base, name, None)
    return NotImplemented if method is None else method(self, *args)


def raising(cls_name: str, name: str, base: type):  # type: ignore[no-untyped-def]
    def method(self, *args):  # type: ignore[no-untyped-def]
        if not ARMED:
            return unarmed(base, name, self, args)
        hit(f"{cls_name}.{name}")
        raise RuntimeError(f"{cls_name}.{name} fights back")
    return method


def recursing(cls_name: str, name: str, base: type):  # type: ignore[no-untyped-def]
    def method(self, *args):  # type: ignore[no-untyped-def]
        if not ARMED:
            return unarmed(base, name, self, args)
        hit(f"{cls_name}.{name}")
        return method(self, *args)
    return method


def blocking(cls_name: str, name: str, base: type):  # type: ignore[no-untyped-def]
    def method(self, *args):  # type: ignore[no-untyped-def]
        if not ARMED:
            return unarmed(base, name, self, args)
        hit(f"{cls_name}.{name}")
        NEVER.wait()
    return method


def hostile(cls_name: str, make, repr_too: bool = True, bases: tuple = (object,)) -> type:  # type: ignore[no-untyped-def, type-arg]
    base = bases[0]
    namespace = {name: make(cls_name, name, base) for name in DUNDERS}
    if repr_too:
        namespace["__repr__"] = make(cls_name, "__repr__", base)
    else:
        def __repr__(self) -> str:  # noqa: N807
            hit(f"{cls_name}.__repr__")
            return f"<{cls_name} that only counts>"
        namespace["__repr__"] = __repr__
    getattr_ = make(cls_name, "__getattr__", base)

    def __getattr__(self, name):  # type: ignore[no-untyped-def]  # noqa: N807
        if not ARMED:
            raise AttributeError(name)
        return getattr_(self, name)
    namespace["__getattr__"] = __getattr__
    klass = make(cls_name, "__class__", base)
    namespace["__class__"] = property(lambda self: klass(self) if ARMED else type(self))
    return type(cls_name, bases, namespace)


Raising = hostile("Raising", raising)
Recursing = hostile("Recursing", recursing)
Blocking = hostile("Blocking", blocking, repr_too=BLOCKING_REPR)
RaisingList = hostile("RaisingList", raising, bases=(list,))
RaisingDict = hostile("RaisingDict", raising, bases=(dict,))
RaisingStr = hostile("RaisingStr", raising, bases=(str,))
RaisingInt = hostile("RaisingInt", raising, bases=(int,))


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self) -> None:
        self.a = 1  # b stays unset

    def __repr__(self) -> str:
        hit("Slotted.__repr__")
        return "<Slotted a=1>"


class LyingProxy:
    """Forwards everything to its target and claims to be an int."""

    __slots__ = ("_target",)

    def __init__(self, target: object) -> None:
        object.__setattr__(self, "_target", target)

    def __getattribute__(self, name: str) -> object:
        hit("LyingProxy.__getattribute__")
        if name == "__class__":
            return int
        return getattr(object.__getattribute__(self, "_target"), name)

    def __getattr__(self, name: str) -> object:
        hit("LyingProxy.__getattr__")
        raise AttributeError(name)

    def __repr__(self) -> str:
        hit("LyingProxy.__repr__")
        return "42"


class HostileMeta(type):
    """A metaclass that fights back: hashing, comparing or reading attributes of its classes."""

    def __hash__(cls) -> int:
        hit("HostileMeta.__hash__")
        if ARMED:
            raise RuntimeError("metaclass hash")
        return type.__hash__(cls)

    def __eq__(cls, other: object) -> bool:
        hit("HostileMeta.__eq__")
        if ARMED:
            raise RuntimeError("metaclass eq")
        return cls is other

    def __getattribute__(cls, name: str) -> object:
        hit("HostileMeta.__getattribute__")
        return type.__getattribute__(cls, name)

    def __repr__(cls) -> str:
        hit("HostileMeta.__repr__")
        return "<a class>"


class OfHostileMeta(metaclass=HostileMeta):
    __module__ = Raising()  # type: ignore[assignment]  # a class whose module is not a str


class SneakyThread(threading.Thread):
    """A Thread subclass whose __dict__ is a property (never started)."""

    @property  # type: ignore[misc]
    def __dict__(self) -> object:  # type: ignore[override]
        hit("SneakyThread.__dict__")
        raise RuntimeError("sneaky __dict__")


class SneakyEvent(threading.Event):
    def __getattribute__(self, name: str) -> object:
        if ARMED:
            hit("SneakyEvent.__getattribute__")
        return object.__getattribute__(self, name)


class ReentrantRepr:
    """A __repr__ that takes a recorded lock (under --repr: an event inside the recorder's repr call)."""

    def __repr__(self) -> str:
        hit("ReentrantRepr.__repr__")
        with REPR_LOCK:
            return "<ReentrantRepr>"


REPR_LOCK = threading.Lock()


class Point(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_double)]


def self_referential() -> dict[str, object]:
    loop_list: list[object] = [1]
    loop_list.append(loop_list)
    loop_dict: dict[str, object] = {"k": 1}
    loop_dict["self"] = loop_dict
    inner: list[object] = []
    loop_tuple = (inner, "t")
    inner.append(loop_tuple)
    loop_deque: collections.deque[object] = collections.deque([0])
    loop_deque.append(loop_deque)
    deep: list[object] = []
    cursor = deep
    for _ in range(2_000):
        cursor.append([])
        cursor = cursor[0]  # type: ignore[assignment]
    return {"loop_list": loop_list, "loop_dict": loop_dict, "loop_tuple": loop_tuple, "loop_deque": loop_deque, "deep": deep}


def huge() -> dict[str, object]:
    return {
        "huge_list": [0] * 10**7,
        "huge_str": "x" * 10**8,
        "huge_bytes": b"\xff" * 10**7,
        "huge_bytearray": bytearray(10**7),
        "huge_dict": dict.fromkeys(range(10**6), "v"),
        "huge_set": set(range(10**6)),
        "huge_int": 10**5000,
        "huge_array": array.array("d", bytes(8 * 10**6)),
        "huge_tuple": tuple(range(10**6)),
    }


def odd_text() -> dict[str, object]:
    return {
        "non_utf8": b"\xff\xfe\x80abc\x00",
        "lone_surrogate": "a\udcffb\ud800",
        "escapes": "\x1b[2J\x1b]0;pwned\x07\nsecond line\r\x00",
        "surrogate_keys": {"\udc80": b"\x80", b"\x80": "\udc80", ("\ud800",): None},
        "long_surrogates": "\udcff" * 1000,
    }


def c_objects(conn: sqlite3.Connection, closed: sqlite3.Connection) -> dict[str, object]:
    buffer = bytearray(b"memory")
    released = memoryview(b"gone")
    released.release()
    return {
        "c_array": array.array("i", range(10)),
        "c_decimal": decimal.Decimal("3.14"),
        "c_decimal_nan": decimal.Decimal("sNaN"),
        "c_decimal_huge": decimal.Decimal("1e999999"),
        "c_lock": threading._allocate_lock(),  # type: ignore[attr-defined]
        "c_pattern": re.compile(r"(?P<x>a+)b"),
        "c_memoryview": memoryview(buffer),
        "c_released": released,
        "c_int": ctypes.c_int(7),
        "c_buffer": ctypes.create_string_buffer(b"\xff\x00", 10**6),
        "c_struct": Point(1, 2.5),
        "c_pointer": ctypes.pointer(ctypes.c_int(3)),
        "c_conn": conn,
        "c_closed": closed,
        "c_counter": __import__("itertools").count(),
    }


def hostile_values(live: object) -> dict[str, object]:
    dead_target = Raising()
    dead = weakref.proxy(dead_target)
    del dead_target
    return {
        "raising": Raising(),
        "recursing": Recursing(),
        "blocking": Blocking(),
        "raising_list": RaisingList([1, 2]),
        "raising_dict": RaisingDict(a=1),
        "raising_str": RaisingStr("text"),
        "raising_int": RaisingInt(5),
        "slotted": Slotted(),
        "lying_proxy": LyingProxy(Raising()),
        "weak_proxy": weakref.proxy(live),
        "dead_proxy": dead,
        "meta_instance": OfHostileMeta(),
        "meta_class": OfHostileMeta,
        "sneaky_thread": SneakyThread(),
        "sneaky_event": SneakyEvent(),
        "reentrant": ReentrantRepr(),
    }


async def through_a_queue(item: object) -> bool:
    """An asyncio queue's put and get summarise the item (the task's result must not be it: asyncio reprs that)."""
    queue: asyncio.Queue[object] = asyncio.Queue()
    await queue.put(item)
    return await queue.get() is item


def hold_hostile(bag: dict[str, object]) -> None:
    """Each group of values is held as locals of its own function: a snapshot keeps at most 32 names."""
    raising, recursing, blocking, raising_list, raising_dict, raising_str, raising_int, slotted = (
        bag[k] for k in ("raising", "recursing", "blocking", "raising_list", "raising_dict", "raising_str", "raising_int", "slotted"))
    lying_proxy, weak_proxy, dead_proxy, meta_instance, meta_class, sneaky_thread, sneaky_event, reentrant = (
        bag[k] for k in ("lying_proxy", "weak_proxy", "dead_proxy", "meta_instance", "meta_class", "sneaky_thread", "sneaky_event", "reentrant"))
    in_list = [raising, recursing, blocking, lying_proxy, dead_proxy, meta_instance, slotted, weak_proxy]  # noqa: F841 - held for the sample
    nested = {"a": [{"b": (raising, [recursing, {"c": blocking}])}], "d": {"e": (lying_proxy, meta_instance)}}  # noqa: F841 - held for the sample
    hostile_keys = KEYED  # noqa: F841 - held for the sample
    with LOCK:
        pass
    try:
        raise ValueError(raising, recursing, blocking, lying_proxy)
    except ValueError:
        pass


def hold_loops(bag: dict[str, object]) -> None:
    loop_list, loop_dict, loop_tuple, loop_deque, deep = (bag[k] for k in ("loop_list", "loop_dict", "loop_tuple", "loop_deque", "deep"))
    with LOCK:
        pass


def hold_huge(bag: dict[str, object]) -> None:
    huge_list, huge_str, huge_bytes, huge_bytearray, huge_dict, huge_set, huge_int, huge_array, huge_tuple = (
        bag[k] for k in ("huge_list", "huge_str", "huge_bytes", "huge_bytearray", "huge_dict", "huge_set", "huge_int", "huge_array", "huge_tuple"))
    with LOCK:
        pass


def hold_text(bag: dict[str, object]) -> None:
    non_utf8, lone_surrogate, escapes, surrogate_keys, long_surrogates = (
        bag[k] for k in ("non_utf8", "lone_surrogate", "escapes", "surrogate_keys", "long_surrogates"))
    with LOCK:
        pass


def hold_c(bag: dict[str, object]) -> None:
    c_array, c_decimal, c_decimal_nan, c_decimal_huge, c_lock, c_pattern, c_memoryview, c_released = (
        bag[k] for k in ("c_array", "c_decimal", "c_decimal_nan", "c_decimal_huge", "c_lock", "c_pattern", "c_memoryview", "c_released"))
    c_int, c_buffer, c_struct, c_pointer, c_conn, c_closed, c_counter = (
        bag[k] for k in ("c_int", "c_buffer", "c_struct", "c_pointer", "c_conn", "c_closed", "c_counter"))
    numpy_array = bag.get("numpy_array")  # noqa: F841 - held for the sample
    with LOCK:
        pass


def worker(number: int, bag: dict[str, object], first: object, *rest: object, **named: object) -> object:
    """Hostile arguments and return value; each group of values held as locals while an event samples them."""
    for hold in (hold_hostile, hold_loops, hold_huge, hold_text, hold_c):
        hold(bag)
    return (number, first, rest, named)


def main() -> None:
    global ARMED, G_RAISING, G_RECURSING, G_BLOCKING, G_PROXY, G_HUGE, G_SURROGATE, KEYED
    anchor = Raising()
    conn = sqlite3.connect(":memory:")
    closed = sqlite3.connect(":memory:")
    closed.close()
    bag = {**hostile_values(anchor), **self_referential(), **huge(), **odd_text(), **c_objects(conn, closed)}
    try:
        import numpy  # type: ignore[import-not-found]

        bag["numpy_array"] = numpy.zeros(10**6)
    except ImportError:
        pass
    # Dict keys need hashing, which the program does before arming.
    KEYED = {bag["raising"]: 1, bag["recursing"]: bag["blocking"], bag["blocking"]: bag["lying_proxy"], bag["meta_instance"]: 2}
    G_RAISING, G_RECURSING, G_BLOCKING, G_PROXY = bag["raising"], bag["recursing"], bag["blocking"], bag["lying_proxy"]
    G_HUGE, G_SURROGATE = bag["huge_list"], bag["lone_surrogate"]
    globals()["\udcffname"] = "a global whose name is not UTF-8"
    globals()[1] = "a global whose name is not a str"
    ARMED = True
    threads = [
        threading.Thread(target=worker, args=(n, bag, bag["raising"], bag["blocking"], bag["huge_str"]),
                         kwargs={"kw": bag["lying_proxy"]}, name=f"worker-{n}")
        for n in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = worker(9, bag, bag["recursing"])
    got = asyncio.run(through_a_queue(bag["raising"]))
    ARMED = False
    print("done", result[0], got, len(bag))
    for name, count in sorted(CALLS.items()):
        print("called", name, count)
    conn.close()


G_RAISING = G_RECURSING = G_BLOCKING = G_PROXY = G_HUGE = G_SURROGATE = KEYED = None
main()
with LOCK:  # the module frame's globals, sampled
    pass
