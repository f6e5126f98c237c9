"""What the recorder allocates leaves the program's garbage collections alone (_gc_count.c): the C emit, the C code
events and the drains put the collector's young count back as they found it, so a recorded program collects as
often as it does unrecorded. The C path's promise: these run with the extensions whatever CHRONODBG_PURE_PYTHON says.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chronodbg.kinds import Kind
from chronodbg.recorder import hotpath
from chronodbg.recorder.core import Options, Recorder
from replay_tests.conftest import built_extension, env, skip_unless_c_can_build

EXTENSION = built_extension("chronodbg.recorder._hotpath")
VERSION_KNOWN = (3, 11) <= sys.version_info[:2] <= (3, 13)

COUNTS_ITS_COLLECTIONS = """
import gc, sys, threading
collections = [0]
gc.callbacks.append(lambda phase, info: collections.__setitem__(0, collections[0] + (phase == "start")))
lock = threading.Lock()
total = 0


def work(n):
    global total
    for i in range(n):
        with lock:
            total += i


thread = threading.Thread(target=work, args=(int(sys.argv[1]),))
thread.start()
thread.join()
print(collections[0])
"""


@pytest.fixture(autouse=True)
def c_path(monkeypatch: pytest.MonkeyPatch) -> None:
    skip_unless_c_can_build()
    assert EXTENSION is not None, "chronodbg.recorder._hotpath was not built (see pip install -v for the compiler's error)"
    monkeypatch.setattr(hotpath, "forced_python", lambda: False)


@pytest.fixture
def no_collections() -> Iterator[None]:
    """The collector off, so that a count that grows is seen to grow (it counts while off)."""
    was = gc.isenabled()
    gc.disable()
    yield
    if was:
        gc.enable()


def _recorder() -> Recorder:
    rec = Recorder(Options(path=None))
    rec.open()
    rec.active = True
    assert hotpath.path_of(rec.emit) == "c"
    return rec


def _young() -> int:
    return gc.get_count()[0]


def _sampled_frame(n: int) -> Any:
    items = [n, n + 1]  # noqa: F841 - locals that change at every event, sampled
    label = f"item {n}"  # noqa: F841
    return sys._getframe()


@pytest.mark.skipif(not VERSION_KNOWN, reason="the count is read only on the CPython versions _gc_count.c knows")
def test_the_emit_leaves_the_young_count_as_it_found_it(no_collections: None) -> None:
    rec = _recorder()
    frames = [_sampled_frame(n) for n in range(50)]
    data = [("step", n) for n in range(3000)]  # made beforehand: the program's allocations count
    before = _young()
    for n in range(3000):
        # With the locals changing, a new snapshot at each event: tuples the emit allocates.
        rec.emit(Kind.MARK, None, data[n], frames[n % 50])
    assert len(rec.buffer) == 3000
    assert _young() == before


@pytest.mark.skipif(not VERSION_KNOWN, reason="the count is read only on the CPython versions _gc_count.c knows")
def test_freeing_the_packed_events_leaves_the_count_too(no_collections: None) -> None:
    rec = _recorder()
    for n in range(3000):
        rec.emit(Kind.MARK, None, ("step", n), _sampled_frame(n))
    program_objects = [[n] for n in range(500)]  # the program's own allocations, counted (but for the list free list's)
    counted = _young()
    assert counted >= 400
    rec.drain(True)
    assert rec.events_written == 3000 and not rec.buffer
    # Freeing 3,000 events (and their data) would have taken the program's 500 off the count.
    assert _young() >= counted - 20
    del program_objects


def test_free_events_empties_the_list() -> None:
    assert EXTENSION is not None
    batch = [("a", n) for n in range(10)]
    EXTENSION.free_events(batch)
    assert batch == []
    with pytest.raises(TypeError):
        EXTENSION.free_events(("not", "a", "list"))  # type: ignore[arg-type]


@pytest.mark.skipif(not VERSION_KNOWN, reason="the count is read only on the CPython versions _gc_count.c knows")
@pytest.mark.parametrize("level", ["sync", "calls"])
def test_a_recorded_program_collects_as_often_as_unrecorded(tmp_path: Path, level: str) -> None:
    program = tmp_path / "counts_collections.py"
    program.write_text(COUNTS_ITS_COLLECTIONS)
    environment = {k: v for k, v in env().items() if k != hotpath.PURE_PYTHON_ENV}
    plain = subprocess.run([sys.executable, str(program), "20000"], capture_output=True, env=environment, cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr.decode()
    out = tmp_path / "run.cgr"
    cmd = [sys.executable, "-m", "chronodbg", "record", "-q", "--level", level, "-o", str(out), str(program), "20000"]
    recorded = subprocess.run(cmd, capture_output=True, env=environment, cwd=tmp_path)
    assert recorded.returncode == 0, recorded.stderr.decode()
    # 40,000 events: before, each pushed the count, about 85 collections in this run; the loop itself allocates
    # nothing the collector counts, so unrecorded it collects (almost) never.
    assert int(recorded.stdout) <= int(plain.stdout) + 2, (plain.stdout, recorded.stdout)
    assert os.path.getsize(out) > 0
