"""The C tracers' table of frame records (recorder/_frame_table.c) behaves as the dict it replaces.

CodeEvents.frames is a dict on the Python path and a FrameTable where the C
tracers run: records by the frame's address, read and written by id(frame)
from Python. Random runs of the operations the recorder uses (set, get, pop,
`in`, del, len) must give what a dict gives, through growth and deletions
inside long probe runs; a record's release may run code that uses the table.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replay_tests.conftest import built_extension

SAMPLER = built_extension("chronodbg.recorder._sampler")
pytestmark = pytest.mark.skipif(SAMPLER is None, reason="chronodbg.recorder._sampler was not built for this Python")

#: Keys as frames' addresses are (16-byte aligned), a few that are not, and a narrow range so that probe runs collide.
keys = st.one_of(st.integers(1, 300).map(lambda n: n * 16), st.integers(1, 5000), st.integers(2**40, 2**40 + 64))
operations = st.lists(
    st.one_of(
        st.tuples(st.just("set"), keys),
        st.tuples(st.just("get"), keys),
        st.tuples(st.just("pop"), keys),
        st.tuples(st.just("in"), keys),
        st.tuples(st.just("del"), keys),
    ),
    max_size=400,
)


@settings(max_examples=200, deadline=None)
@given(ops=operations)
def test_random_operations_give_what_a_dict_gives(ops: list[tuple[str, int]]) -> None:
    assert SAMPLER is not None
    table, model = SAMPLER.FrameTable(), {}
    for n, (op, key) in enumerate(ops):
        if op == "set":
            table[key] = model[key] = [n, None, None]
        elif op == "get":
            assert table.get(key) is model.get(key)
            assert table.get(key, "none") is model.get(key, "none")
        elif op == "pop":
            assert table.pop(key, None) is model.pop(key, None)
        elif op == "in":
            assert (key in table) == (key in model)
        elif key in model:
            del table[key]
            del model[key]
        else:
            with pytest.raises(KeyError):
                del table[key]
        assert len(table) == len(model)
    for key, record in model.items():
        assert table[key] is record


def test_many_records_grow_the_table_and_all_of_them_are_found_after_half_are_gone() -> None:
    assert SAMPLER is not None
    table = SAMPLER.FrameTable()
    records = {key * 16: [key] for key in range(1, 20_001)}
    for key, record in records.items():
        table[key] = record
    for key in list(records)[::2]:
        assert table.pop(key) is records.pop(key)
    assert len(table) == len(records) == 10_000
    assert all(table[key] is record for key, record in records.items())
    assert all(table.get(key) is None for key in range(16, 320_001, 32))


def test_missing_keys_and_wrong_keys_fail_as_they_should() -> None:
    assert SAMPLER is not None
    table = SAMPLER.FrameTable()
    with pytest.raises(KeyError):
        table[16]
    with pytest.raises(KeyError):
        table.pop(16)
    for wrong in ("16", 1.5, None):
        with pytest.raises(TypeError):
            table[wrong] = []
        with pytest.raises(TypeError):
            table.get(wrong)
    with pytest.raises(ValueError):
        table[0] = []
    with pytest.raises(TypeError):
        table.get()


class _Records:
    """A record whose release records another frame in the same table, as a finaliser traced by the recorder would."""

    def __init__(self, table: Any, key: int) -> None:
        self.table, self.key = table, key

    def __del__(self) -> None:
        self.table[self.key] = ["recorded while releasing"]


def test_a_records_release_can_use_the_table() -> None:
    assert SAMPLER is not None
    table = SAMPLER.FrameTable()
    for key in range(1, 40):  # the 40th set grows the table from inside the release
        table[key * 16] = [key]
    table[5000 * 16] = _Records(table, 7000 * 16)  # type: ignore[assignment]
    table[5000 * 16] = [0]  # replaced: the old one is released last
    assert table[7000 * 16] == ["recorded while releasing"] and table[5000 * 16] == [0]
    table[6000 * 16] = _Records(table, 8000 * 16)  # type: ignore[assignment]
    del table[6000 * 16]
    assert table[8000 * 16] == ["recorded while releasing"] and 6000 * 16 not in table
    assert all(table[key * 16] == [key] for key in range(1, 40))


class _Marker:
    pass


def test_a_cycle_through_the_table_is_collected() -> None:
    assert SAMPLER is not None
    table = SAMPLER.FrameTable()
    held = _Marker()
    table[16] = [table, held]
    gone = weakref.ref(held)
    del table, held
    gc.collect()
    assert gone() is None


def test_the_recorder_keeps_its_frames_in_a_table_where_the_c_tracers_run() -> None:
    from chronodbg.recorder import hotpath
    from chronodbg.recorder.code_events import CodeEvents
    from chronodbg.recorder.core import Options, Recorder

    if hotpath.forced_python():
        pytest.skip("CHRONODBG_PURE_PYTHON: the Python tracers, and a dict")
    events = CodeEvents(Recorder(Options(level="calls")), "calls")
    assert events.fast is not None and type(events.frames) is SAMPLER.FrameTable
