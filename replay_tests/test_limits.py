"""Bounded recording: --max-size (stop or ring), a disk that fills or refuses, a disk slower than the program."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chronodbg.logfile import read_log
from replay_tests.conftest import POLL_LIMIT, PROGRAMS, TIMEOUT, chronodbg, env, run_plain

COUNTER = PROGRAMS / "limits_counter.py"
ROUNDS = "20000"


def seqs_contiguous(path: Path) -> list[int]:
    seqs = [event.seq for event in read_log(str(path)).events]
    assert seqs == list(range(1, len(seqs) + 1))
    return seqs


def test_max_size_stops_recording_and_the_program_goes_on(tmp_path: Path) -> None:
    plain = run_plain(COUNTER, ROUNDS)
    out = tmp_path / "run.cgr"
    proc = chronodbg("record", "-o", str(out), "--max-size", "128K", str(COUNTER), ROUNDS, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == plain.stdout == b"total 80000\n"
    assert out.stat().st_size <= 128 * 1024
    stderr = proc.stderr.decode()
    assert f"chronodbg: {out} reached --max-size 128.0 KiB at event " in stderr
    assert "recording stopped, the program goes on" in stderr
    rec = read_log(str(out))
    assert rec.complete and rec.footer is not None
    assert rec.footer["stopped"]["reason"] == "max-size"
    # Far fewer than the run's 160,000 lock events, and still ending with how it ended.
    assert 1000 < len(rec.events) < 100_000
    assert rec.events[-1].kind == "process.exit" and rec.footer["exit_code"] == 0
    seqs_contiguous(out)
    info = chronodbg("info", str(out))
    assert info.returncode == 0
    assert "limit       recording stopped at --max-size after seq" in info.stdout.decode()


def ring_rounds(path: Path) -> dict[int, list[int]]:
    """Per thread, the `round_no` local of each lock acquire in the file."""
    rec = read_log(str(path))
    rounds: dict[int, list[int]] = {}
    for event in rec.events:
        if event.kind == "lock.acquire":
            values = dict(event.locals or ())
            rounds.setdefault(event.thread, []).append(values["round_no"])
    return rounds


@pytest.mark.parametrize("level", ["sync", "calls"])
def test_ring_keeps_the_newest_events_within_the_cap(tmp_path: Path, level: str) -> None:
    out = tmp_path / "run.cgr"
    proc = chronodbg(
        "record", "-o", str(out), "--max-size", "256K", "--ring", "--level", level, str(COUNTER), ROUNDS, cwd=tmp_path
    )
    assert proc.returncode == 0 and proc.stdout == b"total 80000\n", proc.stderr.decode()
    assert out.stat().st_size <= 256 * 1024
    assert not list(tmp_path.glob("*.ring-*")), "the rewrite's temporary file is gone"
    rec = read_log(str(out))
    assert rec.complete and rec.footer is not None
    dropped = rec.header["ring"]["dropped_events"]
    assert dropped > 0 and rec.footer["ring"]["rewrites"] >= 1
    assert "the ring dropped the oldest" in proc.stderr.decode()
    seqs_contiguous(out)
    assert rec.events[-1].kind == "process.exit"
    # The window is the end of the run: every thread seen in it ran its last
    # round in it, and its rounds there follow each other without a gap.
    rounds = ring_rounds(out)
    assert rounds
    for seen in rounds.values():
        assert seen == list(range(seen[0], int(ROUNDS))), "a thread's rounds in the window are its last ones"
    assert min(seen[0] for seen in rounds.values()) > 0, "the oldest events were dropped"
    replay = chronodbg("replay", str(out), "-c", "goto 1", "-c", "back", "-c", "info locks", "-c", "continue", "-c", "info threads")
    assert replay.returncode == 0, replay.stderr.decode()
    assert f"the run's first {dropped} events were dropped, seq 1 here is event {dropped + 1} of the run" in replay.stderr.decode()


def test_signed_ring_verifies(tmp_path: Path) -> None:
    out = tmp_path / "run.cgr"
    environment = dict(env(), RING_KEY="k3y")
    proc = subprocess.run(
        [sys.executable, "-m", "chronodbg", "record", "-q", "-o", str(out), "--max-size", "192K", "--ring",
         "--sign-key-env", "RING_KEY", str(COUNTER), ROUNDS],
        capture_output=True, timeout=TIMEOUT, env=environment, cwd=tmp_path, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    rec = read_log(str(out), key=b"k3y")
    assert rec.verified and rec.header["ring"]["dropped_events"] > 0
    with pytest.raises(Exception, match="signature"):
        read_log(str(out), key=b"other")


def test_sigkill_during_a_ring_leaves_a_readable_window(tmp_path: Path) -> None:
    out = tmp_path / "run.cgr"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chronodbg", "record", "-q", "-o", str(out), "--max-size", "128K", "--ring",
         str(COUNTER), "10000000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env(), cwd=tmp_path, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + POLL_LIMIT
        while time.monotonic() < deadline:
            # A rewrite has happened once the header in the file carries the ring.
            if out.exists() and b"dropped_events" in out.read_bytes()[:65536]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the ring never rewrote the file")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(TIMEOUT)
    rec = read_log(str(out))
    assert rec.header["ring"]["dropped_events"] > 0
    assert len(rec.events) > 0
    seqs_contiguous(out)
    assert out.stat().st_size <= 128 * 1024 + 64 * 1024, "at most one flush over the cap"


def test_file_size_limit_hit_while_running(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the kernel refuse the write (EFBIG), as a full disk refuses with ENOSPC."""
    limit = 150_000
    out = tmp_path / "run.cgr"

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [sys.executable, "-m", "chronodbg", "record", "-o", str(out), str(COUNTER), ROUNDS],
        capture_output=True, timeout=TIMEOUT, env=env(), cwd=tmp_path, stdin=subprocess.DEVNULL, preexec_fn=limit_files,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stdout == b"total 80000\n"
    stderr = proc.stderr.decode()
    assert f"chronodbg: cannot write {out}: File too large; recording stopped\n" in stderr
    assert out.stat().st_size <= limit
    check = chronodbg("info", str(out))
    assert check.returncode == 0, check.stderr.decode()
    assert "recovered, no footer" in check.stderr.decode()
    assert len(seqs_contiguous(out)) > 1000


DISK_FULL = """
import errno, os, sys, threading
import chronodbg

real_write = os.write
written = [0]

def write(fd, data):
    # The disk fills once the log holds 100 kB, as a kernel would: the write
    # that reaches the end is short, the next one fails. The program's own
    # output still goes out.
    if fd > 2:
        room = 100_000 - written[0]
        if room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real_write(fd, bytes(data[:room]))
        written[0] += n
        return n
    return real_write(fd, data)

real_writev = os.writev

def writev(fd, parts):
    return write(fd, b"".join(parts)) if fd > 2 else real_writev(fd, parts)

os.write, os.writev = write, writev
chronodbg.start(sys.argv[1])
lock = threading.Lock()
total = 0
def count():
    global total
    for round_no in range(20000):
        with lock:
            total += 1
threads = [threading.Thread(target=count) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
chronodbg.stop()
print("total", total)
"""


def test_disk_full_while_running(tmp_path: Path) -> None:
    program = tmp_path / "disk_full.py"
    program.write_text(DISK_FULL)
    out = tmp_path / "run.cgr"
    proc = run_plain(program, str(out), cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == b"total 80000\n", proc.stderr.decode()
    assert proc.stderr.decode() == f"chronodbg: cannot write {out}: {os.strerror(errno.ENOSPC)}; recording stopped\n"
    rec = read_log(str(out))
    assert rec.recovery is not None and len(rec.events) > 100
    seqs_contiguous(out)


STARTED_AFTER_THE_STOP = """
import sys, threading
import chronodbg
from chronodbg.recorder import control

chronodbg.start(sys.argv[1])
early = threading.Thread(target=lambda: None)
early.start()
early.join()
control.current()._stop_hooks()  # what a write error does: the hooks pass through, the patches stay
late = threading.Thread(target=lambda: None)
late.start()
late.join()
chronodbg.stop()
print("done")
"""


def test_a_thread_started_after_a_write_error_stopped_recording_ends_cleanly(tmp_path: Path) -> None:
    # It has no thread id; its end once took the entry of an unknown thread off the table: a KeyError
    # printed as "Exception ignored in thread started by" (seen when a full disk stopped W1-like runs).
    program = tmp_path / "late_thread.py"
    program.write_text(STARTED_AFTER_THE_STOP)
    proc = run_plain(program, str(tmp_path / "run.cgr"), cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == b"done\n", proc.stderr.decode()
    assert proc.stderr == b""


SLOW_DISK = """
import sys, threading
import chronodbg
from chronodbg.recorder import control, core

core.BUFFER_LIMIT = 2000
chronodbg.start(sys.argv[1])
buffer = control.current().buffer
lock = threading.Lock()
done = threading.Event()
peak = 0

def watch():
    global peak
    while not done.is_set():
        peak = max(peak, len(buffer))

def count():
    for round_no in range(15000):
        with lock:
            pass

watcher = threading.Thread(target=watch)
watcher.start()
threads = [threading.Thread(target=count) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
done.set()
watcher.join()
chronodbg.stop()
print("peak", peak)
"""


def test_a_slow_disk_holds_the_program_back_instead_of_growing_the_buffer(tmp_path: Path) -> None:
    program = tmp_path / "slow_disk.py"
    program.write_text(SLOW_DISK)
    fifo = tmp_path / "run.fifo"
    os.mkfifo(fifo)
    copy = tmp_path / "run.cgr"
    received = bytearray()

    def slow_reader() -> None:
        with open(fifo, "rb", buffering=0) as pipe:
            while True:
                data = pipe.read(8192)
                if not data:
                    return
                received.extend(data)
                time.sleep(0.002)

    reader = threading.Thread(target=slow_reader)
    reader.start()
    proc = subprocess.run(
        [sys.executable, str(program), str(fifo)], capture_output=True, timeout=TIMEOUT * 3, env=env(), cwd=tmp_path
    )
    reader.join(TIMEOUT)
    assert proc.returncode == 0, proc.stderr.decode()
    peak = int(proc.stdout.split()[1])
    # Each of the five threads may add one event past the limit before it waits.
    assert peak <= 2000 + 16, f"the buffer grew to {peak} events"
    copy.write_bytes(bytes(received))
    rec = read_log(str(copy))
    assert rec.complete and rec.footer is not None and rec.footer["dropped"] == 0
    assert sum(1 for e in rec.events if e.kind == "lock.acquire") == 60000
    seqs_contiguous(copy)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ring",), "chronodbg: record: --ring goes with --max-size SIZE (the cap the ring keeps under)\n"),
        (("--max-size", "1K"), "chronodbg: record: --max-size must be at least 64K\n"),
        (("--max-size", "lots"), "not a size: 'lots' (try 100M)"),
    ],
)
def test_bad_size_options_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    proc = chronodbg("record", "-o", str(tmp_path / "x.cgr"), *args, str(COUNTER), "1", cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr.decode() and proc.stderr.decode().count("\n") == 1
    assert not (tmp_path / "x.cgr").exists()


def test_ring_needs_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "run.fifo"
    os.mkfifo(fifo)
    opened = threading.Thread(target=lambda: open(fifo, "rb").close())
    opened.start()
    proc = chronodbg("record", "-o", str(fifo), "--max-size", "1M", "--ring", str(COUNTER), "1", cwd=tmp_path)
    opened.join(TIMEOUT)
    assert proc.returncode != 0
    assert proc.stderr.decode() == f"chronodbg: cannot keep a ring in {fifo}: --ring needs a regular file\n"


LONG_RUN = """
import asyncio, gc, sys, threading, tracemalloc
import chronodbg
from chronodbg.recorder import control

chronodbg.start(sys.argv[1], locals="none")


async def job(i):
    lock = asyncio.Lock()
    async with lock:
        await asyncio.sleep(0)


async def tasks(n):
    for _ in range(n // 100):
        await asyncio.gather(*(job(i) for i in range(100)))


def churn(n):
    # A lock, a queue-like event and a short task per request, as a server makes them.
    for i in range(n):
        lock = threading.Lock()
        with lock:
            pass
        event = threading.Event()
        event.set()
        event.wait()
    asyncio.run(tasks(n // 4))
    for _ in range(n // 1000):
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()


def ours():
    # Events not yet written are not what the recorder keeps: write them first
    # (a writer running late on a loaded machine would otherwise count).
    control.current().drain()
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, "*chronodbg*")])
    return sum(stat.size for stat in snapshot.statistics("filename"))


tracemalloc.start()
churn(40_000)
before = ours()
churn(40_000)
after = ours()
chronodbg.stop()
print(before, after)
"""


def test_a_long_run_does_not_grow_the_recorders_memory(tmp_path: Path) -> None:
    """Twice as many locks, events, tasks and threads: what the recorder keeps grows by two bytes an object."""
    program = tmp_path / "long_run.py"
    program.write_text(LONG_RUN)
    proc = subprocess.run(
        [sys.executable, str(program), str(tmp_path / "run.cgr")], capture_output=True, timeout=TIMEOUT * 5, env=env()
    )
    assert proc.returncode == 0, proc.stderr.decode()
    before, after = map(int, proc.stdout.split())
    # The second round makes 90,000 more objects (two bytes each in the
    # object table), 10,000 tasks and 40 threads; its caches are full already.
    assert before > 0 and after - before < 1_000_000, f"the recorder kept {after - before} more bytes ({before} after round 1)"
