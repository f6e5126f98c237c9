"""The C chunk packer (logfile/_packer.c) writes exactly the bytes the Python path writes.

`LogWriter.pack_chunk` hands a chunk to the extension when it was built (and
CHRONODBG_PURE_PYTHON does not say otherwise); the extension packs exact
builtin types and declines anything else, and then the Python path packs the
chunk. Either way a chunk's body, its per-kind counts (in their order) and
its last time must be what the Python path gives: random chunks through both,
each way of declining, and a real recording packed both ways chunk by chunk.
"""

from __future__ import annotations

import collections
import collections.abc
import enum
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronodbg.kinds import Kind
from chronodbg.logfile import read_log, writer
from chronodbg.logfile.writer import LogWriter, PackedChunk, RawEvent

from .conftest import PROGRAMS, TIMEOUT, built_extension, env, skip_unless_c_can_build

EXTENSION = built_extension("chronodbg.logfile._packer")
#: The C emit's buffered events (recorder/_event.h), which the packer reads by their fields.
EVENTS = built_extension("chronodbg.recorder._hotpath")
needs_extension = pytest.mark.skipif(EXTENSION is None, reason="chronodbg.logfile._packer was not built for this Python")

#: How the Python path packs (writer.py's own Packer).
PACKER = msgpack.Packer(default=writer._default, unicode_errors="surrogatepass")

INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
#: Every boundary between two msgpack int encodings, and the ends of the range.
INT_EDGES = sorted(
    {v + d for v in (0, 127, 255, 65535, 2**32 - 1, -32, -128, -32768, -(2**31)) for d in (-1, 0, 1)}
    | {INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX + 1, UINT64_MAX - 1, UINT64_MAX}
)
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d\ude00"]


def _both(first_seq: int, events: Any, defs: Any, last_t: int = 0) -> tuple[PackedChunk, PackedChunk, LogWriter]:
    """The chunk as each path packs it, after a chunk that left `last_t`; the C writer comes third."""
    packed = []
    c_writer = LogWriter(lambda data: None, packer="c")
    for w in (c_writer, LogWriter(lambda data: None, packer="python")):
        w._last_t = last_t
        packed.append(w.pack_chunk(first_seq, events, defs))
    return packed[0], packed[1], c_writer


def _same(c: PackedChunk, py: PackedChunk) -> None:
    assert c.body == py.body
    assert list(c.counts.items()) == list(py.counts.items())
    assert type(c.last_t) is int and c.last_t == py.last_t
    assert (c.first_seq, c.count, c.defs) == (py.first_seq, py.count, py.defs)


# -- random chunks ------------------------------------------------------------------

ints = st.one_of(st.integers(INT64_MIN, UINT64_MAX), st.sampled_from(INT_EDGES), st.integers(-40, 300))
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, float("nan"), float("inf"), -float("inf"), 5e-324, 1e308]))
texts = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(min_codepoint=0x80), max_size=20),
    st.lists(st.one_of(st.sampled_from(SURROGATES), st.characters()), max_size=12).map("".join),
    st.integers(0, 300).map(lambda n: "é" * n),
)
scalars = st.one_of(st.none(), st.booleans(), ints, floats, texts, st.binary(max_size=40))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6).map(tuple),
        st.lists(inner, max_size=6),
        st.dictionaries(st.one_of(texts, st.integers(-5, 5)), inner, max_size=5),
    ),
    max_leaves=20,
)
#: Times: mostly increasing, some going back, anywhere in 64 bits.
times = st.one_of(st.integers(0, 10**6), st.integers(INT64_MIN, INT64_MAX), st.sampled_from([INT64_MIN, INT64_MAX, 0]))
#: The recorder's kinds are Kind members (an IntEnum), or plain ints.
kinds = st.one_of(st.integers(0, 60), st.sampled_from(list(Kind)), st.integers(250, 260), st.integers(INT64_MIN, INT64_MAX))


@st.composite
def chunks(draw: st.DrawFn) -> tuple[list[RawEvent], dict[str, list[Any]], int]:
    # Snapshots: equal tuples that are distinct objects, and some used again.
    shapes = draw(st.lists(st.lists(st.tuples(texts, values), max_size=4), max_size=5))
    pool: list[tuple[Any, ...]] = []
    for shape in shapes:
        pool.append(tuple(shape))
        pool.append(tuple(list(shape)))  # equal, but not the same object (unless empty)
    n = draw(st.integers(1, 25))
    events = []
    t = draw(times)
    for _ in range(n):
        step = draw(st.one_of(st.integers(0, 1000), st.integers(-1000, -1), st.just(0)))
        t = max(INT64_MIN, min(INT64_MAX, t + step))
        when = draw(st.one_of(st.just(t), times))
        snap = draw(st.one_of(st.none(), st.sampled_from(pool))) if pool else None
        events.append(
            (
                when,
                draw(st.integers(1, 300)),
                draw(st.one_of(st.none(), st.integers(1, 70000))),
                draw(kinds),
                draw(st.one_of(st.none(), ints)),
                draw(st.one_of(st.none(), st.integers(0, 2**40))),
                draw(st.lists(values, max_size=5).map(tuple)),
                snap,
            )
        )
    defs = draw(
        st.dictionaries(
            st.sampled_from(["strings", "sites", "objects", "threads", "tasks", "snapshots"]),
            st.lists(st.lists(values, max_size=4).map(tuple), max_size=4),
            max_size=4,
        )
    )
    return events, defs, draw(times)


@needs_extension
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(chunk=chunks(), first_seq=st.sampled_from([1, 2, 127, 128, 4097, 2**31, 2**40]))
def test_random_chunks_pack_to_the_same_bytes(chunk: tuple[list[RawEvent], dict[str, list[Any]], int], first_seq: int) -> None:
    events, defs, last_t = chunk
    c, py, c_writer = _both(first_seq, events, defs, last_t)
    _same(c, py)
    packable = all(EXTENSION.packb(e[1:3] + e[4:7]) is not None for e in events) and EXTENSION.packb(defs) is not None
    packable = packable and all(EXTENSION.packb(e[7]) is not None for e in events if e[7] is not None)
    # Only ints beyond 64 bits (which msgpack hands to `default`) send these to Python.
    assert c_writer.python_chunks == (0 if packable else 1)
    if EVENTS is not None:
        # The same events as the C emit buffers them, some of them, or all: the same bytes either way.
        for mixed in ([EVENTS.Event(*e) if i % 2 else e for i, e in enumerate(events)], [EVENTS.Event(*e) for e in events]):
            c_mixed, py_mixed, c_mixed_writer = _both(first_seq, mixed, defs, last_t)
            _same(c_mixed, py)
            _same(py_mixed, py)
            assert c_mixed_writer.python_chunks == (0 if packable else 1)


@needs_extension
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=values)
def test_random_values_pack_as_msgpack_packs_them(value: Any) -> None:
    packed = EXTENSION.packb(value)
    expected = PACKER.pack(value)
    if packed is None:
        # Declined: only for an int msgpack cannot hold (it packs "<unpackable int>").
        assert b"<unpackable int>" in expected
    else:
        assert packed == expected


@needs_extension
@pytest.mark.parametrize("n", [0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536, 70000])
def test_every_length_header(n: int) -> None:
    """fix/8/16/32 headers for str (ASCII and not), bytes, arrays and maps, at each boundary."""
    for value in ("a" * n, "é" * n, "\udc80" * n, "😀" * n, b"x" * n, tuple(range(n)), [None] * n, {i: i for i in range(n)}):
        assert EXTENSION.packb(value) == PACKER.pack(value), (type(value), n)


@needs_extension
def test_int_and_float_edges() -> None:
    for v in INT_EDGES:
        expected = PACKER.pack(v)
        assert EXTENSION.packb(v) == (expected if INT64_MIN <= v <= UINT64_MAX else None), v
    for v in (2**64, 2**100, INT64_MIN - 1, -(2**100)):
        assert EXTENSION.packb(v) is None
    nan_payload = __import__("struct").unpack(">d", bytes.fromhex("7ff8000000000123"))[0]
    for f in (0.0, -0.0, 1.5, float("nan"), -float("nan"), nan_payload, float("inf"), -float("inf"), 5e-324, 1.7976931348623157e308):
        assert EXTENSION.packb(f) == PACKER.pack(f), f


@needs_extension
def test_time_is_clamped_and_counted_like_python() -> None:
    snap = (("n", 1),)
    other = tuple([("n", 1)])  # equal, but another object
    assert other == snap and other is not snap
    events = [
        (100, 1, None, 3, None, 5, (), snap),
        (90, 1, None, 300, None, 5, (), snap),  # earlier: clamped to 100
        (2**62, 2, 1, 3, 7, None, ("x",), other),
        (5, 2, 1, -4, 7, None, ("x",), snap),
        (2**62 + 1, 2, 1, 300, 7, None, (1.5, b"\x00"), None),
    ]
    for last_t in (0, 50, 150, INT64_MAX, INT64_MIN):
        c, py, c_writer = _both(1, events, {"snapshots": []}, last_t)
        _same(c, py)
        assert c_writer.python_chunks == 0
    assert list(c.counts.items()) == [(3, 2), (300, 2), (-4, 1)]
    decoded = msgpack.unpackb(c.body, use_list=False)
    records = msgpack.unpackb(decoded[4], use_list=False)
    assert [r[7] for r in records] == [0, 0, 1, 0, None] and decoded[5] == 2


@needs_extension
def test_kind_members_count_and_pack_as_their_values() -> None:
    """Kind (an IntEnum) is what the recorder hands over: packed in C, counted under the first object seen."""
    events = [
        (1, 1, None, 3, None, None, (), None),
        (2, 1, None, Kind(3), None, None, (), None),
        (3, 1, None, Kind.OUTPUT, None, None, ("text",), None),
        (4, 1, None, int(Kind.OUTPUT), None, None, (), None),
    ]
    c, py, c_writer = _both(1, events, {}, 0)
    _same(c, py)
    assert c_writer.python_chunks == 0
    assert [type(k) for k in c.counts] == [int, Kind] and list(c.counts.values()) == [2, 2]


@needs_extension
def test_many_distinct_snapshots_and_kinds() -> None:
    """Past the identity table's first size and past the small-kind table."""
    snaps = [(("i", i),) for i in range(5000)]
    events = [(i, 1, None, i % 700 - 100, None, None, (), snaps[(i * 7) % 5000] if i % 3 else None) for i in range(20000)]
    c, py, c_writer = _both(1, events, {}, 0)
    _same(c, py)
    assert c_writer.python_chunks == 0


# -- what the C path declines, and the Python path packs ------------------------------


class MyInt(int):
    pass


class MyStr(str):
    pass


class MyFloat(float):
    pass


class MyDict(dict):  # type: ignore[type-arg]
    pass


class MyList(list):  # type: ignore[type-arg]
    pass


class Pair(NamedTuple):
    a: int
    b: int


class Events(collections.abc.Sequence[RawEvent]):
    """A sequence that is neither a list nor a tuple."""

    def __init__(self, events: list[RawEvent]) -> None:
        self._events = events

    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, index: Any) -> Any:
        return self._events[index]


class Colour(enum.IntEnum):
    RED = 1


class HashedKind(int):
    def __hash__(self) -> int:
        return 7


class ComparedKind(int):
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = int.__hash__


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = (value,)
    return value


def _data(value: Any) -> Callable[[list[RawEvent]], None]:
    """Puts `value` in the first event's data."""

    def change(events: list[RawEvent]) -> None:
        events[0] = events[0][:6] + ((1, value), None)

    return change


def _field(index: int, value: Any) -> Callable[[list[RawEvent]], None]:
    """Sets field `index` of the second event."""

    def change(events: list[RawEvent]) -> None:
        events[1] = events[1][:index] + (value,) + events[1][index + 1 :]

    return change


def _listed(events: list[RawEvent]) -> None:
    events[1] = list(events[1])  # type: ignore[call-overload]


DECLINED: dict[str, Callable[[list[RawEvent]], None]] = {
    "int subclass in data": _data(MyInt(3)),
    "IntEnum as obj": _field(4, Colour.RED),
    "bool as kind": _field(3, True),
    "kind with its own __hash__": _field(3, HashedKind(4)),
    "kind with its own __eq__": _field(3, ComparedKind(4)),
    "str subclass": _data(MyStr("x")),
    "float subclass": _data(MyFloat(1.5)),
    "dict subclass": _data(MyDict(a=1)),
    "OrderedDict": _data(collections.OrderedDict(a=1)),
    "list subclass": _data(MyList([1])),
    "namedtuple": _data(Pair(1, 2)),
    "int of 2**64": _data(2**64),
    "int below -2**63": _data(-(2**63) - 1),
    "unknown type": _data(object()),
    "bytearray": _data(bytearray(b"ab")),
    "memoryview": _data(memoryview(b"ab")),
    "set": _data({1}),
    "deeper than MAX_DEPTH": _data(_nested(600)),
    "unpackable snapshot": _field(7, (("x", object()),)),
    "an event as a list": _listed,
    "float time": _field(0, 5.5),
    "time beyond 64 bits": _field(0, 2**64),
    "str kind": _field(3, "k"),
    "huge kind": _field(3, 2**63),
}


@needs_extension
@pytest.mark.parametrize("case", sorted(DECLINED))
def test_declined_chunks_are_packed_by_python(case: str) -> None:
    events: list[RawEvent] = [(10, 1, None, 3, None, 5, (1, "a"), None), (20, 1, None, 4, 2, 6, (), ((("n", 1),)))]
    DECLINED[case](events)
    c, py, c_writer = _both(1, events, {}, 0)
    _same(c, py)
    assert c_writer.python_chunks == 1


@pytest.mark.parametrize(
    "case",
    ["defs subclass", "defs huge int", "first_seq huge", "last_t huge", "events a deque", "events a Sequence"],
)
@needs_extension
def test_declined_arguments(case: str) -> None:
    events: Any = [(10, 1, None, 3, None, 5, (1, "a"), None)]
    defs: Any = {"strings": [(1, "a")]}
    first_seq, last_t = 1, 0
    if case == "defs subclass":
        defs = MyDict(defs)
    elif case == "defs huge int":
        defs = {"strings": [(2**70, "a")]}
    elif case == "first_seq huge":
        first_seq = 2**64
    elif case == "last_t huge":
        last_t = 2**64
    elif case == "events a deque":
        events = collections.deque(events)
    else:
        events = Events(events)
    c, py, c_writer = _both(first_seq, events, defs, last_t)
    _same(c, py)
    assert c_writer.python_chunks == 1


@needs_extension
def test_the_depth_limit() -> None:
    """As deep as MAX_DEPTH packs in C; deeper is declined, and msgpack's own limit still raises in Python."""
    limit = EXTENSION.MAX_DEPTH
    # A record's data is at depth 2 of the records array, its items at 3.
    for depth, declined in ((limit - 2, False), (limit - 1, True)):
        events = [(10, 1, None, 3, None, 5, _nested(depth), None)]
        c, py, c_writer = _both(1, events, {}, 0)
        _same(c, py)
        assert c_writer.python_chunks == int(declined), depth
    events = [(10, 1, None, 3, None, 5, _nested(3000), None)]
    for packer in ("c", "python"):
        with pytest.raises(ValueError, match="recursion limit"):
            LogWriter(lambda data: None, packer=packer).pack_chunk(1, events, {})


@needs_extension
def test_an_empty_chunk_fails_as_in_python() -> None:
    for packer in ("c", "python"):
        with pytest.raises(IndexError):
            LogWriter(lambda data: None, packer=packer).pack_chunk(1, [], {})


@needs_extension
def test_packb_declines_what_it_does_not_pack() -> None:
    for value in (MyInt(1), True.__class__, object(), bytearray(), {1}, frozenset(), Pair(1, 2), 2**64, _nested(EXTENSION.MAX_DEPTH + 1)):
        assert EXTENSION.packb(value) is None, value
    assert EXTENSION.packb(_nested(EXTENSION.MAX_DEPTH)) == PACKER.pack(_nested(EXTENSION.MAX_DEPTH))


# -- choosing the path --------------------------------------------------------------


@needs_extension
def test_the_environment_chooses_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("1", "yes"):
        monkeypatch.setenv(writer.PURE_PYTHON_ENV, value)
        w = LogWriter(lambda data: None)
        assert w.packer == "python"
        w.pack_chunk(1, [(1, 1, None, 3, None, None, (), None)], {})
        assert w.python_chunks == 0  # the C path was not even asked
    for value in ("", "0"):
        monkeypatch.setenv(writer.PURE_PYTHON_ENV, value)
        assert LogWriter(lambda data: None).packer == "c"
    monkeypatch.delenv(writer.PURE_PYTHON_ENV)
    assert LogWriter(lambda data: None).packer == "c"
    assert LogWriter(lambda data: None, packer="python").packer == "python"


def test_packer_c_needs_the_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "_native_pack_chunk", None)
    assert writer.native_packer() is None
    assert LogWriter(lambda data: None).packer == "python"
    with pytest.raises(RuntimeError, match="not built"):
        LogWriter(lambda data: None, packer="c")


def test_the_extension_is_built_where_it_can_be() -> None:
    """A CPython with a C compiler and its headers has the packer: a broken build must not pass unnoticed."""
    skip_unless_c_can_build()
    assert EXTENSION is not None, "chronodbg.logfile._packer was not built (see pip install -v for the compiler's error)"
    assert writer.PACKER == "c" or os.environ.get(writer.PURE_PYTHON_ENV, "") not in ("", "0")


# -- a whole file, and a real recording -----------------------------------------------


@needs_extension
def test_files_written_both_ways_are_identical_and_read(tmp_path: Path) -> None:
    snap_a, snap_b = (("n", 1), ("s", "é\udc80")), (("n", 2),)
    outputs = []
    for packer in ("c", "python"):
        path = tmp_path / f"{packer}.cgr"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        w = LogWriter(fd, packer=packer)
        w.write_header({"format": 4})
        seq = 1
        for chunk in range(3):
            events = [(chunk * 1000 + i * 10 - (15 if i % 4 == 3 else 0), 1, None, 1 + i % 3, None, None, (i, "x" * i), snap_a if i % 2 else snap_b) for i in range(50)]
            w.write_chunk(seq, events, {"snapshots": []})
            seq += len(events)
        w.write_footer({"events": seq - 1})
        os.close(fd)
        assert w.python_chunks == 0
        outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1]


WRAPPER = """\
import runpy, sys
from chronodbg.logfile import writer
original = writer.LogWriter.pack_chunk
out_path = sys.argv[1]
stats = {"chunks": 0, "events": 0, "declined": 0}
def checked(self, first_seq, events, defs):
    chunk = original(self, first_seq, events, defs)
    python = self._pack_chunk_python(first_seq, events, defs)
    same = (chunk.body, list(chunk.counts.items()), chunk.last_t) == (python.body, list(python.counts.items()), python.last_t)
    if not same:
        with open(out_path + ".mismatch", "wb") as out:
            out.write(repr(list(events)).encode("utf-8", "surrogatepass"))
    stats["chunks"] += 1
    stats["events"] += len(events)
    stats["declined"] = self.python_chunks
    with open(out_path + ".stats", "w") as out:
        out.write(repr((stats, self.packer)))
    return chunk
writer.LogWriter.pack_chunk = checked
sys.argv = ["chronodbg", "record", "-q", "--level", "lines", "-o", sys.argv[1], sys.argv[2]]
runpy.run_module("chronodbg", run_name="__main__")
"""


@needs_extension
@pytest.mark.parametrize("program", ["hostile_values.py", "aio_prodcons.py", "code_locals.py"])
def test_a_real_recording_packs_the_same_both_ways(tmp_path: Path, program: str) -> None:
    """Every chunk a real recording writes (locals, asyncio, hostile values) is checked against the Python path."""
    script = tmp_path / "wrapper.py"
    script.write_text(WRAPPER)
    out = tmp_path / "rec.cgr"
    environment = env()
    environment.pop(writer.PURE_PYTHON_ENV, None)
    run = subprocess.run([sys.executable, str(script), str(out), str(PROGRAMS / program)], env=environment, cwd=tmp_path, capture_output=True, timeout=TIMEOUT)
    assert Path(str(out) + ".stats").exists(), run.stderr.decode(errors="replace")[-3000:]
    assert not Path(str(out) + ".mismatch").exists(), Path(str(out) + ".mismatch").read_text()[:2000]
    stats, packer = eval(Path(str(out) + ".stats").read_text())  # noqa: S307 - our own repr
    assert packer == "c" and stats["chunks"] >= 1 and stats["events"] > 10
    assert stats["declined"] == 0  # the C path packed every chunk
    assert len(read_log(str(out)).events) == stats["events"]
