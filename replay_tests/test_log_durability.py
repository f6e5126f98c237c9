"""The log survives the process: kills, hangs, truncation, corruption and hostile bytes."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chronodbg.errors import LogError
from chronodbg.kinds import Kind
from chronodbg.logfile import format as fmt
from chronodbg.logfile import read_log
from chronodbg.logfile.reader import Recording
from chronodbg.recorder import core
from chronodbg.recorder.core import Options, Recorder
from chronodbg.recorder.watchdog import Watchdog
from replay_tests.conftest import POLL_LIMIT, PROGRAMS, chronodbg, env, record, run_plain, start_recording


def _events_on_disk(path: Path, kind: str) -> int:
    try:
        rec = read_log(str(path))
    except LogError:
        return 0
    return sum(1 for e in rec.events if e.kind == kind)


def test_deadlocked_program_has_its_last_events_on_disk(tmp_path: Path) -> None:
    # The watchdog would end it: here the program must stay stuck.
    proc, out = start_recording(tmp_path, "abba.py", "--on-deadlock=continue")
    try:
        deadline = time.monotonic() + POLL_LIMIT
        # Both threads block in lock.wait and nothing else ever happens: the
        # writer thread alone must put those events on disk.
        while _events_on_disk(out, "lock.wait") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the program should still be deadlocked"
    finally:
        proc.kill()
        proc.wait()
    rec = read_log(str(out))
    assert not rec.complete and rec.recovery is not None
    waits = [(rec.threads[e.thread].name, rec.objects[e.obj].label) for e in rec.events if e.kind == "lock.wait"]
    assert sorted(waits) == [("left", "Lock#2"), ("right", "Lock#1")]


def _killed_once_on_disk(proc: subprocess.Popen[bytes], out: Path, kind: str, count: int) -> Recording:
    """SIGKILL a recorded program once `count` events of `kind` are on disk (or POLL_LIMIT has passed); its log."""
    try:
        deadline = time.monotonic() + POLL_LIMIT
        while _events_on_disk(out, kind) < count and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    rec = read_log(str(out))
    assert not rec.complete
    assert [e.seq for e in rec.events] == list(range(1, len(rec.events) + 1))
    return rec


def test_sigkill_leaves_a_readable_prefix(tmp_path: Path) -> None:
    proc, out = start_recording(tmp_path, "busy.py")
    rec = _killed_once_on_disk(proc, out, "queue.get", 2000)
    assert len(rec.events) >= 2000
    info = chronodbg("info", str(out))
    assert info.returncode == 0
    assert b"recovered, no footer" in info.stdout


def test_a_busy_asyncio_loop_killed_once_quiet_has_every_event_on_disk(tmp_path: Path) -> None:
    # While busy the loop packs and writes its own events, and the writer wakes
    # less often; once the loop is quiet, the writer must still write the rest.
    proc, out = start_recording(tmp_path, "busy_aio.py")
    assert proc.stdout is not None
    said = proc.stdout.readline()  # "quiet" (or b"" if it died: then it is killed all the same)
    rec = _killed_once_on_disk(proc, out, "queue.get", 20_000)
    assert said == b"quiet\n"
    assert sum(1 for e in rec.events if e.kind == "queue.get") == 20_000


LOOP_PACKS = """
import _thread, asyncio, sys
import chronodbg
from chronodbg.recorder import control, core

core.FLUSH_INTERVAL = core.BUSY_FLUSH_INTERVAL = 3600  # the writer never wakes while the loop runs
core.OUT_LIMIT = 4096  # the loop writes what it packed (FLUSH_INTERVAL never passes)
chronodbg.start(sys.argv[1])
rec = control.current()
on_disk = rec.bytes_on_disk
packers = set()
drain_held = type(rec)._drain_held


def spy(self, *args):
    packers.add(_thread.get_ident())
    drain_held(self, *args)


type(rec)._drain_held = spy


async def produce(items):
    for i in range(6000):
        await items.put(i)


async def consume(items):
    for _ in range(6000):
        await items.get()


async def main():
    items = asyncio.Queue(maxsize=10)
    await asyncio.gather(produce(items), consume(items))
    return rec.events_written, rec.bytes_on_disk > on_disk, packers == {_thread.get_ident()}, rec.packed_at > 0


result = asyncio.run(main())
chronodbg.stop()
print(result[0] > 0, *result[1:])
"""


def test_an_asyncio_loop_packs_and_writes_its_own_events_between_callbacks(tmp_path: Path) -> None:
    program = tmp_path / "loop_packs.py"
    program.write_text(LOOP_PACKS)
    out = tmp_path / "run.cgr"
    proc = run_plain(program, str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    # Packed and written on the loop's thread alone (the writer never woke), and it said so for the writer.
    assert proc.stdout == b"True True True True\n"
    rec = read_log(str(out))
    assert rec.complete and rec.footer is not None and rec.footer["dropped"] == 0
    assert [e.seq for e in rec.events] == list(range(1, len(rec.events) + 1))
    assert sum(1 for e in rec.events if e.kind == "queue.put") == 6000


def _recording(path: Path | None = None) -> Recorder:
    """A recorder started by hand (no hooks, no writer thread), in memory or to `path`, with one event buffered."""
    rec = Recorder(Options(path=None if path is None else str(path)))
    rec.open()
    rec.active = True
    rec.emit(Kind.MARK, None, (), None)
    return rec


def test_packing_on_the_loop_never_raises_into_it(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = _recording()

    def broken(most: int | None = None) -> None:
        raise RuntimeError("a bug in packing")

    monkeypatch.setattr(rec, "_pack", broken)
    rec.pack_here()
    # Failed before taking the event: it stays for the next try, and the failure counts one.
    assert rec.dropped == 1 and len(rec.buffer) == 1 and rec.program_packs(time.monotonic())
    assert not rec._io_lock.locked() and rec._draining is None

    def broken_midway(most: int | None = None) -> None:
        del rec.buffer[:]
        raise RuntimeError("a bug in packing, the batch taken")

    rec.emit(Kind.MARK, None, (), None)
    monkeypatch.setattr(rec, "_pack", broken_midway)
    rec.pack_here()
    assert rec.dropped == 1 + 2 and not rec.buffer and not rec._io_lock.locked()


def test_packing_on_the_loop_leaves_it_to_the_writer_when_the_writer_is_at_it() -> None:
    rec = _recording()
    rec._io_lock.acquire()
    rec.pack_here()
    # Still offered: the writer's next wake-up leaves the packing to the program.
    assert len(rec.buffer) == 1 and rec.events_written == 0 and rec.program_packs(time.monotonic())
    rec._io_lock.release()
    rec.pack_here()
    assert not rec.buffer and rec.events_written == 1


def test_packing_on_the_loop_writes_when_a_flush_interval_has_passed(tmp_path: Path) -> None:
    rec = _recording(tmp_path / "run.cgr")
    on_disk = rec.bytes_on_disk
    rec.written_at = time.monotonic()
    rec.pack_here()
    # Packed, not written: the last write was just now, and far less than OUT_LIMIT waits.
    assert rec.events_written == 1 and rec.bytes_on_disk == on_disk and rec._out
    # No event since: the writer's drain still writes what the loop packed.
    rec.drain(True)
    assert rec.bytes_on_disk > on_disk and not rec._out
    on_disk = rec.bytes_on_disk
    rec.emit(Kind.MARK, None, (), None)
    rec.written_at -= core.FLUSH_INTERVAL
    rec.pack_here()
    assert rec.events_written == 2 and rec.bytes_on_disk > on_disk and not rec._out
    rec.active = False
    rec.close(0, "exit")


def test_a_loop_about_to_wait_writes_what_is_pending(tmp_path: Path) -> None:
    rec = _recording(tmp_path / "run.cgr")
    on_disk = rec.bytes_on_disk
    now = time.monotonic()
    # Not packing its own events lately: the writer, on its 0.05 s period, has it.
    rec.idle_here()
    assert rec.buffer and rec.bytes_on_disk == on_disk
    # Packing them, but it wrote less than IDLE_WRITE_GAP ago: not yet.
    rec.packed_at = rec.written_at = now
    rec.idle_here()
    assert rec.buffer and rec.bytes_on_disk == on_disk
    rec.written_at = now - core.IDLE_WRITE_GAP
    rec.idle_here()
    assert not rec.buffer and not rec._out and rec.bytes_on_disk > on_disk and rec.events_written == 1
    rec.active = False
    rec.close(0, "exit")


def test_a_write_error_counts_what_the_loop_packed_as_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = _recording(tmp_path / "run.cgr")
    for _ in range(2):
        rec.emit(Kind.MARK, None, (), None)
    rec.written_at = time.monotonic()
    rec.pack_here()
    assert rec.events_written == 3 and rec._out
    real_writev = os.writev

    def full(fd: int, parts: list[bytes]) -> int:
        if fd == rec._fd:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_writev(fd, parts)

    monkeypatch.setattr(os, "writev", full)
    rec.emit(Kind.MARK, None, (), None)
    rec.drain()
    # The three packed by the loop and the one packed now: none reached the file.
    assert rec.error == os.strerror(errno.ENOSPC)
    assert (rec.dropped, rec.events_written) == (4, 0)


def test_the_watchdog_does_not_wait_for_whoever_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = _recording()
    rec.watchdog = Watchdog(rec)

    def not_now() -> None:
        raise AssertionError("checked while the events were being packed")

    monkeypatch.setattr(rec.watchdog, "check", not_now)
    rec._io_lock.acquire()
    assert rec._watch() is None
    rec._io_lock.release()


def test_the_writer_wakes_less_often_while_the_program_packs() -> None:
    rec = Recorder(Options())
    now = time.monotonic()
    assert rec._flush_period() == core.FLUSH_INTERVAL and not rec.program_packs(now)
    rec.packed_at = now
    assert rec._flush_period() == core.BUSY_FLUSH_INTERVAL > core.FLUSH_INTERVAL
    # A program quiet for a whole FLUSH_INTERVAL since its last offer has its events written by the writer again.
    assert rec.program_packs(now + core.FLUSH_INTERVAL / 2) and not rec.program_packs(now + core.FLUSH_INTERVAL * 1.5)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_terminating_signals_leave_a_complete_log(tmp_path: Path, signum: int) -> None:
    proc, out = start_recording(tmp_path, "busy.py")
    deadline = time.monotonic() + POLL_LIMIT
    while _events_on_disk(out, "queue.get") < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signum)
    proc.communicate(timeout=60)
    rec = read_log(str(out))
    assert rec.complete, rec.recovery
    assert rec.footer is not None
    if signum == signal.SIGTERM:
        assert proc.returncode == -signal.SIGTERM
        assert rec.footer["exit_how"] == "SIGTERM" and rec.footer["exit_code"] == 143
    else:
        assert proc.returncode == -signal.SIGINT
        assert rec.footer["exit_how"] == "KeyboardInterrupt"
    assert rec.events[-1].kind == "process.exit"


@pytest.fixture
def small_log(tmp_path: Path) -> bytes:
    run = record(tmp_path, PROGRAMS / "handoff.py")
    assert run.returncode == 0
    return run.path.read_bytes()


def _error_line(path: Path) -> tuple[int, str]:
    proc = chronodbg("info", str(path))
    return proc.returncode, proc.stderr.decode()


def test_truncated_header_is_a_one_line_error(tmp_path: Path, small_log: bytes) -> None:
    bad = tmp_path / "cut.cgr"
    bad.write_bytes(small_log[:20])
    code, err = _error_line(bad)
    assert code == 2
    assert err == f"chronodbg: {bad}: truncated header at byte 8\n"


def test_truncated_inside_a_chunk_is_recovered_and_says_where(tmp_path: Path, small_log: bytes) -> None:
    cut = tmp_path / "cut.cgr"
    full = read_log_bytes(tmp_path, small_log)
    first_chunk = full.footer["chunks"][0][0] if full.footer else 0
    cut.write_bytes(small_log[: first_chunk + 30])
    proc = chronodbg("info", "--json", str(cut))
    assert proc.returncode == 0
    assert proc.stderr.decode() == f"chronodbg: {cut}: recovered, no footer; incomplete chunk at byte {first_chunk} ignored\n"


def read_log_bytes(tmp_path: Path, data: bytes):  # type: ignore[no-untyped-def]
    path = tmp_path / "whole.cgr"
    path.write_bytes(data)
    return read_log(str(path))


def test_bit_flip_is_a_one_line_error(tmp_path: Path, small_log: bytes) -> None:
    full = read_log_bytes(tmp_path, small_log)
    assert full.footer is not None
    chunk_at = full.footer["chunks"][0][0]
    damaged = bytearray(small_log)
    damaged[chunk_at + fmt.FRAME.size + 10] ^= 0x40
    bad = tmp_path / "flip.cgr"
    bad.write_bytes(bytes(damaged))
    code, err = _error_line(bad)
    assert code == 2
    assert err == f"chronodbg: {bad}: checksum mismatch at byte {chunk_at}\n"


def test_hostile_lengths_and_garbage(tmp_path: Path, small_log: bytes) -> None:
    bad = tmp_path / "huge.cgr"
    header_end = len(fmt.MAGIC)
    bad.write_bytes(small_log[:header_end] + fmt.FRAME.pack(fmt.TAG_HEADER, 0xFFFFFFF0, 0) + b"x" * 64)
    code, err = _error_line(bad)
    assert code == 2 and err.startswith(f"chronodbg: {bad}: frame claims") and err.endswith("at byte 8\n")
    garbage = tmp_path / "garbage.cgr"
    garbage.write_bytes(os.urandom(4096))
    code, err = _error_line(garbage)
    assert code == 2 and err == f"chronodbg: {garbage}: not a chronodbg recording (bad magic) at byte 0\n"
    missing = tmp_path / "missing.cgr"
    code, err = _error_line(missing)
    assert code == 2 and err == f"chronodbg: {missing}: no such file\n"


def test_recording_files_are_private(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "handoff.py")
    assert (run.path.stat().st_mode & 0o777) == 0o600


def test_fork_neither_warns_nor_corrupts_the_parents_log(tmp_path: Path) -> None:
    out = tmp_path / "fork.cgr"
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-m", "chronodbg", "record", "-q", "-o", str(out), str(PROGRAMS / "forks.py")],
        capture_output=True,
        env=env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    assert sorted(proc.stdout.decode().splitlines()) == ["child ran", "parent saw child exit 0"]
    rec = read_log(str(out))
    assert rec.complete
    assert [e.kind for e in rec.events if e.kind.startswith("lock.")] == ["lock.acquire", "lock.release"] * 2
    assert {e.thread for e in rec.events} == {1}


def test_process_exit_stays_last_when_a_thread_appends_during_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A daemon thread inside a hook while the recording closes: its event goes before process.exit, never after."""
    from chronodbg.kinds import Kind
    from chronodbg.recorder import control
    from chronodbg.recorder.core import Options, Recorder

    real_stop_writer = Recorder.stop_writer

    def stop_writer_while_a_thread_appends(self: Recorder) -> None:
        # What a daemon thread past its `active` check does while the writer makes its last drain.
        self.emit(Kind.MARK, None, ("late", None), None)
        real_stop_writer(self)
        self.emit(Kind.MARK, None, ("later", None), None)

    monkeypatch.setattr(Recorder, "stop_writer", stop_writer_while_a_thread_appends)
    path = tmp_path / "late.cgr"
    control.start(Options(path=str(path)))
    control.stop(0, "stop")
    events = read_log(str(path)).events
    assert [e.kind for e in events][-3:] == ["mark", "mark", "process.exit"]
    assert [e.data[0] for e in events if e.kind == "mark"] == ["late", "later"]
