"""The C locals sampler gives exactly the snapshots of the Python method it replaces (snapshot.py)."""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronodbg.recorder import snapshot
from chronodbg.recorder.snapshot import Summariser

from .conftest import skip_unless_c_can_build

needs_c = pytest.mark.skipif(snapshot.Sampler is None, reason="the C sampler did not build here (no compiler at install)")


def test_c_sampler_built_where_it_can_be() -> None:
    """A CPython with a C compiler and its headers has the sampler: a broken build must not pass unnoticed."""
    skip_unless_c_can_build()
    assert snapshot.Sampler is not None, "chronodbg.recorder._sampler was not built (see pip install -v for the compiler's error)"


def test_pure_python_switch_is_honoured() -> None:
    forced = os.environ.get("CHRONODBG_PURE_PYTHON", "") not in ("", "0")
    summariser = Summariser()
    if forced or snapshot.Sampler is None:
        assert summariser.path == "python"
        assert summariser.frame_locals == summariser.sample_locals
        assert summariser.safe_value == summariser.python_safe_value
    else:
        assert summariser.path == "c"
        assert type(summariser.frame_locals) is snapshot.Sampler


def test_pure_python_switch_read_per_summariser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHRONODBG_PURE_PYTHON", "1")
    assert Summariser().path == "python"
    monkeypatch.setenv("CHRONODBG_PURE_PYTHON", "0")
    assert Summariser().path == ("c" if snapshot.Sampler is not None else "python")


def _pair() -> tuple[Summariser, Callable[..., Any], Summariser, Callable[..., Any]]:
    python = Summariser()
    # All Python: its samples summarise values in Python too.
    python.frame_locals = python.sample_locals
    python.safe_value = python.python_safe_value
    c = Summariser()
    assert snapshot.Sampler is not None
    sampler = snapshot.Sampler(c, c.sample_locals, sys.gettrace, snapshot._REDACTED, "error")
    c.frame_locals, c.safe_value = sampler, sampler.summary
    # So that setting a limit reaches the sampler in use (Summariser.__setattr__).
    c._sampler = sampler
    return python, python.sample_locals, c, sampler


class Plain:
    pass


class Loud:
    def __repr__(self) -> str:
        return "loud"


class BadHash(type):
    def __hash__(cls) -> int:
        raise ValueError("no hash")


class Unhashable(metaclass=BadHash):
    pass


VALUES: list[Any] = [
    0, -1, 2**70, 1.5, float("nan"), True, None, "text", "x" * 500, "\ud800", b"bytes",
    [1, 2], {"k": [1]}, (1, (2, 3)), {1, 2}, Plain(), Loud(), Unhashable(), threading.Lock(), Plain,
    {"password": "hunter2", "caf\u00e9": 2, 3: [4, {"deep": [5]}]}, [2**65, -(2**63), 2**64 - 1, 2**64, None, 1.5],
    list(range(20)), {i: str(i) for i in range(20)}, ((("x" * 200,),),), [Plain(), b"b" * 300, "\u00e9"],
    (None, True, 2.5), [{1: 2}] * 3, frozenset({1}),
]


_DELETE = object()


def _run(script: list[list[tuple[str, Any]]], calling: bool, use_repr: bool = False) -> None:
    python, python_sample, c, c_sample = _pair()
    python.use_repr = c.use_repr = use_repr
    got: dict[str, list[Any]] = {"python": [], "c": []}
    for label, sample in (("python", python_sample), ("c", c_sample)):
        # The sampler comes in as a global: a local holding it would differ between the two.
        namespace: dict[str, Any] = {"sample": sample}
        code = "def f(steps, out, calling):\n"
        names = sorted({name for step in script for name, _ in step})
        code += "    for step in steps:\n"
        for name in names:
            code += f"        if {name!r} in step:\n            {name} = step[{name!r}]\n"
            code += f"        elif {name!r} + '-del' in step:\n            try:\n                del {name}\n            except NameError:\n                pass\n"
        code += "        out.append(sample(__import__('sys')._getframe(), calling))\n"
        exec(code, namespace)
        steps = []
        for step in script:
            d: dict[str, Any] = {}
            for name, value in step:
                if value is _DELETE:
                    d[name + "-del"] = True
                else:
                    d[name] = value
            steps.append(d)
        namespace["f"](steps, got[label], calling)
    assert len(got["python"]) == len(got["c"])
    for i, (a, b) in enumerate(zip(got["python"], got["c"], strict=True)):
        assert _comparable(a) == _comparable(b), (i, a, b)
        if i:
            # An unchanged frame gives the very same tuple on both paths.
            assert (a is got["python"][i - 1]) == (b is got["c"][i - 1]), i


def _comparable(snap: Any) -> Any:
    # Object ids differ between the two runs' summaries of the same object: compare their shape.
    if isinstance(snap, tuple):
        if len(snap) in (3, 4) and snap[0] == "obj":
            return ("obj", snap[1], *snap[3:])
        return tuple(_comparable(item) for item in snap)
    if isinstance(snap, float) and snap != snap:
        return "nan"
    return snap


NAMES = ["a", "b", "password", "token_id", "x", "self"]


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(range(len(VALUES) + 1))), max_size=5),
        min_size=1,
        max_size=8,
    ),
    st.booleans(),
    st.booleans(),
)
def test_same_snapshots_as_python(raw: list[list[tuple[str, int]]], calling: bool, use_repr: bool) -> None:
    script = [[(name, _DELETE if index == len(VALUES) else VALUES[index]) for name, index in step] for step in raw]
    _run(script, calling, use_repr)


@needs_c
def test_unchanged_frame_gives_same_tuple_on_each_path() -> None:
    python, python_sample, c, c_sample = _pair()

    def frame_of_scalars() -> tuple[list[Any], list[Any]]:
        a, b = 1, "two"
        frame = sys._getframe()
        # No comprehension: inlined (3.12+), its variable would be one of the frame's locals.
        in_c = [c_sample(frame, True), c_sample(frame, True), c_sample(frame, True)]
        # The Python method keeps its own memory of the frame, in the same dict.
        in_python = [c.sample_locals(frame, True), c.sample_locals(frame, True), c.sample_locals(frame, True)]
        del a, b
        return in_c, in_python

    in_c, in_python = frame_of_scalars()
    for snaps in (in_c, in_python):
        assert all(snap is snaps[0] for snap in snaps)
        assert ("a", 1) in snaps[0] and ("b", "two") in snaps[0]
    assert len(c._frames) == 2
    c.max_str = 10  # a limit set: what either kept is forgotten
    assert not c._frames


#: The sampler and the samples of _frames_of_every_shape: globals, so that no frame sampled holds them as variables.
_shape_sample: Callable[..., Any] = print
_shape_out: list[Any] = []


def _shape_plain(first: int, *rest: int, **named: int) -> None:
    later = first + 1
    _shape_out.append(_shape_sample(sys._getframe(), False))
    del later
    _shape_out.append(_shape_sample(sys._getframe(), True))


def _shape_with_cell(shared: list[int]) -> Callable[[], int]:
    mine = 3

    def inner() -> int:
        # A free variable of this frame, a cell of the outer one.
        _shape_out.append(_shape_sample(sys._getframe(), False))
        return len(shared) + mine

    _shape_out.append(_shape_sample(sys._getframe(), False))
    return inner


def _shape_argument_in_a_cell(shared: int) -> Callable[[], int]:
    # Its one variable is a plain local and a cell: the frame holds the cell.
    _shape_out.append(_shape_sample(sys._getframe(), False))
    return lambda: shared


def _shape_generator(limit: int) -> Any:
    for step in range(limit):
        _shape_out.append(_shape_sample(sys._getframe(), False))
        yield step


def _shape_comprehension(values: list[int]) -> None:
    # Inlined from 3.12: `item` is one of this frame's (hidden) variables.
    _shape_out.append([_shape_sample(sys._getframe(), False) for item in values if item])
    _shape_out.append(_shape_sample(sys._getframe(), False))


def _shape_names_added_by_hand() -> None:
    known = 1
    namespace = sys._getframe().f_locals
    namespace["by_hand"] = 2  # kept in the frame's dict (before 3.13) or its extra locals
    _shape_out.append(_shape_sample(sys._getframe(), False))
    _shape_out.append(_shape_sample(sys._getframe(), True))
    del namespace, known


def _shape_tracer(frame: Any, event: str, arg: Any) -> Any:
    return _shape_tracer


def _shape_under_a_trace_function() -> None:
    value = "traced"
    previous = sys.gettrace()
    sys.settrace(_shape_tracer)
    try:
        _shape_out.append(_shape_sample(sys._getframe(), False))
    finally:
        sys.settrace(previous)
    later = value
    _shape_out.append(_shape_sample(sys._getframe(), False))
    del later


#: More variables than the sampler reads on its stack (LOCALS_ON_STACK).
exec(
    "def _shape_many():\n"
    + "".join(f"    v{i} = {i}\n" for i in range(80))
    + "    _shape_out.append(_shape_sample(sys._getframe(), False))\n"
)


def _frames_of_every_shape(sample: Callable[..., Any]) -> list[Any]:
    """Samples of frames whose variables are read directly (plain locals) and of those that are not."""
    global _shape_sample, _shape_out
    _shape_sample, _shape_out = sample, []
    _shape_plain(1, 2, 3, key=4)
    _shape_with_cell([1, 2])()
    _shape_argument_in_a_cell(5)()
    list(_shape_generator(2))
    _shape_comprehension([0, 1, 2])
    _shape_names_added_by_hand()
    _shape_under_a_trace_function()
    _shape_many()  # type: ignore[name-defined]  # noqa: F821
    return _shape_out


@needs_c
def test_frames_of_every_shape_give_the_same_snapshots_on_each_path() -> None:
    """The C sampler reads a function's plain variables without its namespace (_fast_locals.c); elsewhere it reads
    the namespace. Either way the snapshots are the Python method's, names in the same order."""
    python, python_sample, c, c_sample = _pair()
    in_python, in_c = _frames_of_every_shape(python_sample), _frames_of_every_shape(c_sample)
    assert [_comparable(tuple(s) if isinstance(s, list) else s) for s in in_c] == [
        _comparable(tuple(s) if isinstance(s, list) else s) for s in in_python
    ]
    names = [[name for name, _ in snap] for snap in in_c if isinstance(snap, tuple)]
    assert names[:2] == [["first", "rest", "named", "later"], ["first", "rest", "named"]]
    assert ["shared", "inner", "mine"] in names and ["mine", "shared"] in names
    assert (("shared", 5),) in in_c
    # Before 3.13 in the dict's order (`by_hand` went in before `namespace` was bound), from 3.13 variables first.
    assert sum(sorted(n) == ["by_hand", "known", "namespace"] for n in names) == 2
    assert ["value", "previous"] in names and ["value", "previous", "later"] in names
    assert [f"v{i}" for i in range(80)][: c.max_names] in names


@needs_c
def test_module_level_frame_goes_to_python() -> None:
    python, python_sample, c, c_sample = _pair()
    namespace: dict[str, Any] = {"__name__": "mod", "sample": c_sample, "sys": sys}
    exec("value = 3\n_hidden_ok = 1\nsnap = sample(sys._getframe(), True)\n", namespace)
    names = [name for name, _ in namespace["snap"]]
    assert "value" in names and "__name__" not in names and "sample" in names


@needs_c
def test_max_names_and_errors() -> None:
    python, python_sample, c, c_sample = _pair()
    python.max_names = c.max_names = 3
    v1, v2, v3, v4, v5 = 1, 2, 3, 4, 5
    frame = sys._getframe()
    assert _comparable(python_sample(frame, True)) == _comparable(c_sample(frame, True))
    assert len(c_sample(frame, True)) == 3
    with pytest.raises(TypeError):
        c_sample("not a frame")
    with pytest.raises(TypeError):
        c_sample()
    del v1, v2, v3, v4, v5


@needs_c
def test_keyboard_interrupt_from_a_summary_propagates() -> None:
    class Stop:
        def __repr__(self) -> str:
            raise KeyboardInterrupt

    python, python_sample, c, c_sample = _pair()
    python.use_repr = c.use_repr = True
    value = Stop()
    frame = sys._getframe()
    with pytest.raises(KeyboardInterrupt):
        python_sample(frame, True)
    with pytest.raises(KeyboardInterrupt):
        c_sample(frame, True)
    del value


_leaves = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.text(max_size=140),
    st.binary(max_size=140),
    st.sampled_from(VALUES),
)
_values = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=12),
        st.lists(inner, max_size=12).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=12), st.sampled_from(["password", "api_key", "x"]), st.integers()), inner, max_size=12),
    ),
    max_leaves=40,
)


@needs_c
@settings(max_examples=400, deadline=None)
@given(_values, st.booleans(), st.integers(min_value=0, max_value=3), st.integers(min_value=1, max_value=9))
def test_summary_is_python_safe_value(value: Any, use_repr: bool, depth: int, items: int) -> None:
    python, _, c, _ = _pair()
    for s in (python, c):
        s.use_repr, s.max_depth, s.max_items = use_repr, depth, items
    # Twice: the second time types are known plain (the memo the first summary fills).
    for _ in range(2):
        assert _comparable(c.safe_value(value)) == _comparable(python.python_safe_value(value))


@needs_c
def test_summary_of_a_dict_changing_under_it() -> None:
    class Grows:
        def __init__(self, target: dict[Any, Any]) -> None:
            self.target = target

        def __repr__(self) -> str:
            self.target[len(self.target)] = 0
            return "grows"

    python, _, c, _ = _pair()
    for s in (python, c):
        s.use_repr = True
    a: dict[Any, Any] = {}
    a["g"] = Grows(a)
    b: dict[Any, Any] = {}
    b["g"] = Grows(b)
    assert _comparable(c.safe_value(a)) == _comparable(python.python_safe_value(b))


def test_header_names_each_part_and_info_shows_a_mix() -> None:
    from chronodbg.inspect_cmd import _hot_path_parts
    from chronodbg.recorder.hotpath import header_fields

    assert header_fields({"emit": "c", "locals": "c", "pack": "c"})["hot_path"] == "c"
    assert header_fields({"emit": "python", "locals": "python", "pack": "python"})["hot_path"] == "python"
    mixed = header_fields({"emit": "c", "locals": "python", "pack": "c"})
    assert mixed == {"hot_path": "mixed", "hot_path_parts": {"emit": "c", "locals": "python", "pack": "c"}}
    assert _hot_path_parts(mixed) == " (emit c, locals python, pack c)"
    assert _hot_path_parts(header_fields({"emit": "c", "locals": "c", "pack": "c"})) == ""


def _holding(value: Any, sample: Callable[..., Any]) -> Any:
    held = value  # noqa: F841 (the local sampled)
    return sample(sys._getframe())


def _held(snapshot: Any) -> Any:
    return _comparable(dict(snapshot)["held"])


@needs_c
def test_a_recorded_object_keeps_its_summary_while_its_key_stays() -> None:
    """A recorded object's summary (its label) is reused while its type, id and object id stay; a new id is read."""
    import queue

    from chronodbg.recorder import locks

    python, python_sample, c, c_sample = _pair()
    for s in (python, c):
        s.labels.add(5, "Queue")
        s.labels.add(6, "Queue")
        s.labels.add(7, "Lock")
    q: Any = queue.Queue()
    q._cgr_oid = 5
    other: Any = queue.Queue()
    other._cgr_oid = 6
    wrappers = [cls(locks._IDLE, 7) for cls in locks._LOCK_CLASSES]
    for summariser, sample in ((python, python_sample), (c, c_sample)):
        first = _holding(q, sample)
        assert _held(first) == ("obj", "queue.Queue", "Queue#5")
        assert _holding(q, sample) is first, "the same key: the very same snapshot"
        q._cgr_oid = 6
        assert _held(_holding(q, sample)) == ("obj", "queue.Queue", "Queue#6")
        moved = _holding(other, sample)
        assert _held(moved) == ("obj", "queue.Queue", "Queue#6") and dict(moved)["held"][2] == id(other)
        del q._cgr_oid
        assert _held(_holding(q, sample)) == ("obj", "queue.Queue")
        q._cgr_oid = 5
        for wrapper in wrappers:
            once = _holding(wrapper, sample)
            assert _held(once) == ("obj", "_thread.lock", "Lock#7")
            assert _holding(wrapper, sample) is once
        assert summariser._recorded[type(q)] == "dict"


@needs_c
def test_a_container_summarised_as_before_keeps_the_snapshot() -> None:
    """A container is summarised again at each sample, and an equal encoding keeps the last snapshot (both paths)."""
    python, python_sample, c, c_sample = _pair()
    for summariser, sample in ((python, python_sample), (c, c_sample)):
        shared = {1: 2, "k": "v"}
        first = _holding(shared, sample)
        assert _holding(shared, sample) is first
        assert _holding(dict(shared), sample) is first, "another dict, the same encoding"
        shared[1] = 3
        changed = _holding(shared, sample)
        assert changed is not first and _held(changed) == ("dict", 2, ((1, 3), ("k", "v")))
        assert _holding(shared, sample) is changed
        nested: dict[int, list[Any]] = {1: [1]}
        before = _holding(nested, sample)
        nested[1].append(2)  # the dict itself is unchanged, its value is not
        assert _held(_holding(nested, sample)) == ("dict", 1, ((1, ("list", 2, (1, 2))),))
        assert _held(before) == ("dict", 1, ((1, ("list", 1, (1,))),))
        # The same encoding means equal types too: 1, True and 1.0 differ, and so do 0.0 and -0.0.
        items: list[Any] = [1, 0.0]
        snaps = [_holding(items, sample)]
        for index, value in ((0, True), (0, 1.0), (1, -0.0), (1, 0.0), (1, float("nan"))):
            items[index] = value
            snaps.append(_holding(items, sample))
        assert len({id(s) for s in snaps}) == len(snaps), [_held(s) for s in snaps]
        items[1] = float("nan")
        assert _holding(items, sample) is not snaps[-1], "another NaN is never the same encoding"
        # Only what the summary shows counts: an item past max_items, or an equal item that is another object.
        numbers = [1000, *range(19)]
        shown = _holding(numbers, sample)
        numbers[15] = -1
        numbers[0] = int("1000")
        assert _holding(numbers, sample) is shown
        numbers.append(0)
        assert _holding(numbers, sample) is not shown
        # The same for a dict (its version moves at every change, shown or not).
        counters = {i: 1000 + i for i in range(20)}
        shown = _holding(counters, sample)
        counters[15] = -1
        counters[0] = int("1000")
        counters[1] = counters[1]
        assert _holding(counters, sample) is shown
        counters[2] = 7
        moved = _holding(counters, sample)
        assert moved is not shown and _held(moved)[2][2] == (2, 7)
        del counters[19]
        assert _held(_holding(counters, sample))[1] == 19
        counters[19] = 0  # back to 20 entries, the last one new
        assert _held(_holding(counters, sample)) == _held(moved)
        guarded = {"token": "abc", "n": 1, **{i: i for i in range(12)}}
        hidden = _holding(guarded, sample)
        guarded[11] = -1
        assert _holding(guarded, sample) is hidden and _held(hidden)[2][0] == ("token", _comparable(snapshot._REDACTED))
        guarded["token"] = "xyz"
        assert _holding(guarded, sample) is hidden, "a secret's new value is never shown"
        # Summaries kept for reuse were made under the limits of their time.
        longer = {i: i for i in range(6)}
        assert len(_held(_holding(longer, sample))[2]) == 6
        summariser.max_items = 2
        assert _held(_holding(longer, sample)) == ("dict", 6, ((0, 0), (1, 1)))
        summariser.max_items = 8


@needs_c
def test_an_entry_is_changed_in_place_only_while_nothing_else_holds_it() -> None:
    _, _, c, c_sample = _pair()

    def changing() -> tuple[list[Any], Any, tuple[Any, ...], int, Any]:
        x = 1
        frame = sys._getframe()
        snaps = [c_sample(frame, True)]
        (entry,) = c._frames.values()
        kept = tuple(entry)  # what it holds while we hold it
        x = 2
        snaps.append(c_sample(frame, True))
        (second,) = c._frames.values()
        second_id = id(second)
        del second  # held by the sampler's dict alone from here
        x = 3
        snaps.append(c_sample(frame, True))
        (third,) = c._frames.values()
        del x
        return snaps, entry, kept, second_id, third

    snaps, entry, kept, second_id, third = changing()
    assert [dict(snap)["x"] for snap in snaps] == [1, 2, 3]
    # Held here: a new entry took its place, and it still holds what it held.
    assert tuple(entry) == kept and entry[0] is snaps[0]
    # Held by the dict alone: it took the new snapshot itself.
    assert id(third) == second_id and third[0] is snaps[2]


@needs_c
def test_a_pair_of_a_name_and_a_scalar_summary_is_made_once() -> None:
    _, _, c, c_sample = _pair()

    def first() -> Any:
        x, items = 5, [1, 2]
        return c_sample(sys._getframe(), True), (x, items)

    def second() -> Any:
        x, items = 5, [1, 2]
        return c_sample(sys._getframe(), True), (x, items)

    def third() -> Any:
        x, items = 6, [1, 2]
        return c_sample(sys._getframe(), True), (x, items)

    one, two, three = first()[0], second()[0], third()[0]
    assert dict(one) == dict(two) and dict(three)["x"] == 6 and dict(three)["items"] == dict(one)["items"]
    pairs = [{pair[0]: pair for pair in snap} for snap in (one, two, three)]
    # Another frame's x summarised as the same int: the pair made for the first serves again.
    assert pairs[1]["x"] is pairs[0]["x"]
    assert pairs[2]["x"] is not pairs[0]["x"] and pairs[2]["x"] == ("x", 6)
    # A container's summary is made anew each time, and so is its pair.
    assert pairs[1]["items"] is not pairs[0]["items"]


@needs_c
def test_samples_interleaved_across_codes_threads_and_replaced_entries_are_python_s() -> None:
    """The C sampler's entry of its last (code, thread) never serves another frame, thread or a replaced entry."""
    python, python_sample, c, c_sample = _pair()

    def stepping(label: str) -> Any:
        n = 0
        while True:
            n += 1
            text = f"{label}{n}"  # noqa: F841 (a local that changes at each step)
            frame = sys._getframe()
            yield c_sample(frame, True), python_sample(frame, True)

    def other(label: str) -> Any:
        m = 0
        while True:
            m += 10
            name = label  # noqa: F841
            frame = sys._getframe()
            yield c_sample(frame, True), python_sample(frame, True)

    jobs: queue.Queue[Any] = queue.Queue()
    results: queue.Queue[Any] = queue.Queue()

    def worker() -> None:
        while (job := jobs.get()) is not None:
            results.put(job())

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        a, b, o, elsewhere = stepping("a"), stepping("b"), other("o"), stepping("t")
        # Python's entry put over the C one (the module-level fallback shares the dict).
        replace = ("replace", lambda: c.sample_locals(a.gi_frame, True))
        steps: list[Any] = [a, a, b, a, o, o, a, "thread", a, "clear", a, "thread", "thread", a, replace, a, o, b, b, a]
        seen = 0
        for step in steps:
            if step == "clear":
                c._frames.clear()
                continue
            if isinstance(step, tuple):
                step[1]()
                continue
            if step == "thread":
                jobs.put(lambda: next(elsewhere))
                got, want = results.get(timeout=60)
            else:
                got, want = next(step)
            assert _comparable(got) == _comparable(want), (seen, got, want)
            seen += 1
        assert seen == 18
    finally:
        jobs.put(None)
        thread.join(60)


@needs_c
def test_an_entry_taken_out_of_the_dict_is_not_served_again() -> None:
    _, _, c, c_sample = _pair()

    def cleared_between() -> tuple[Any, Any]:
        x = 1
        frame = sys._getframe()
        c_sample(frame, True)
        (entry,) = c._frames.values()
        c._frames.clear()
        x = 2  # noqa: F841
        return entry, c_sample(frame, True)

    entry, snap = cleared_between()
    assert dict(snap)["x"] == 2
    # A new entry in the dict; the one taken out (held here) left as it was.
    (fresh,) = c._frames.values()
    assert fresh is not entry and fresh[0] is snap
    assert dict(entry[0])["x"] == 1


@needs_c
def test_a_sample_inside_a_summary_of_the_same_frame_leaves_the_remembered_entry_right() -> None:
    """With --repr a summary runs the program's code, which may sample the same code and thread again and replace its entry.

    The outer sample then holds an entry the dict no longer does: it may change it in place (nothing
    else holds it but whoever kept it, here the test), but must not remember it as the dict's.
    """
    _, _, c, c_sample = _pair()
    c.use_repr = True

    class Box:
        """Shared state whose repr (the default one) never changes."""

    box = Box()
    box.again, box.snaps, box.kept = None, [], None

    class Reentrant:
        def __repr__(self) -> str:
            frame, box.again = box.again, None
            if frame is not None:
                c_sample(frame, True)  # finds x changed too: stores a new entry over the one the outer holds
            return "outer"

    def sampled() -> None:
        x = 1
        obj = Reentrant()  # noqa: F841
        box.frame = sys._getframe()
        box.snaps.append(c_sample(box.frame, True))
        (box.kept,) = c._frames.values()
        x = 2
        box.again = box.frame
        box.snaps.append(c_sample(box.frame, True))
        x = 3  # noqa: F841
        box.snaps.append(c_sample(box.frame, True))

    sampled()
    snaps = box.snaps
    assert [dict(snap)["x"] for snap in snaps] == [1, 2, 3]
    (entry,) = c._frames.values()
    assert entry is not box.kept and entry[0] is snaps[2]
