"""A large recording for the replay benchmarks, crafted event by event instead of recorded, so it is quick to make.

    python replay_tests/benchmarks/gen_recording.py OUT.cgr 1e6

`generate(path, n)` writes exactly n events through the LogWriter the
recorder uses, streaming one chunk at a time, so ten million events need
little memory to write. The program it pretends to record: eight worker
threads take turns at one Lock (acquire with locals `i` and `total`, a put
into a bounded Queue, release; every fourth turn the next worker waits for
the lock first), a consumer thread gets every item, and an event-loop thread
steps 200 asyncio tasks that get from an asyncio.Queue under an asyncio.Lock.
At the end the workers end, the main thread joins them and the process
exits: the first `thread.end` is within the last few dozen events, a
breakpoint for `continue` across the whole recording. Definitions
(strings, sites, threads, tasks, objects) come from crafted_code.Craft.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chronodbg import kinds
from chronodbg.logfile.writer import LogWriter, RawEvent
from replay_tests.crafted_code import Craft

WORKERS = 8
TASKS = 200
CHUNK = 4096
K = kinds.Kind


class Script:
    """The events of the pretended program, in order, as (thread, task, kind, obj, site, data, snapshot)."""

    def __init__(self, craft: Craft) -> None:
        self.craft = craft
        self.main = craft.thread("MainThread").tid
        self.workers = [craft.thread(f"worker-{k}").tid for k in range(WORKERS)]
        self.consumer = craft.thread("consumer").tid
        self.loop = craft.thread("event-loop").tid
        self.tasks = [craft.task(f"Task-{k + 1}", "handle") for k in range(TASKS)]
        self.lock = craft.obj("Lock")
        self.queue = craft.obj("Queue")
        self.aqueue = craft.obj("asyncio.Queue")
        self.alock = craft.obj("asyncio.Lock")
        self.sites = {name: craft.site(line, func) for name, (line, func) in SITES.items()}

    def start(self) -> Iterator[tuple[Any, ...]]:
        s = self.sites
        for k, tid in enumerate([*self.workers, self.consumer, self.loop]):
            yield self.main, None, K.THREAD_START, None, s["start"], (tid, f"thread-{k}", "worker", False), None
        for task in self.tasks:
            yield self.loop, None, K.TASK_CREATE, None, s["create"], (task, f"Task-{task}", "handle", False), None

    def turn(self, i: int) -> Iterator[tuple[Any, ...]]:
        """One worker's turn at the lock and the queue; every eighth turn an asyncio task's step too."""
        s, w = self.sites, self.workers
        tid, after = w[i % WORKERS], w[(i + 1) % WORKERS]
        snap = (("i", i), ("total", 3 * i), ("name", f"job-{i % 100}"))
        yield tid, None, K.LOCK_ACQUIRE, self.lock, s["acquire"], (250 if i % 4 == 1 else 0, 1), snap
        if i % 4 == 0:
            yield after, None, K.LOCK_WAIT, self.lock, s["acquire"], (None,), None
        yield tid, None, K.QUEUE_PUT, self.queue, s["put"], (i, 1), snap
        yield tid, None, K.LOCK_RELEASE, self.lock, s["release"], (0,), None
        yield self.consumer, None, K.QUEUE_GET, self.queue, s["get"], (i, 0), (("item", i),)
        if i % 8 == 0:
            task = self.tasks[(i // 8) % TASKS]
            yield self.loop, task, K.TASK_RESUME, None, s["resume"], (), None
            yield self.loop, task, K.LOCK_ACQUIRE, self.alock, s["alock"], (0, 1), (("msg", i),)
            yield self.loop, task, K.QUEUE_GET, self.aqueue, s["aget"], (i, 0), None
            yield self.loop, task, K.LOCK_RELEASE, self.alock, s["alock"], (0,), None
            yield self.loop, task, K.TASK_SUSPEND, self.aqueue, s["aget"], ("queue", None, None), None

    def end(self) -> Iterator[tuple[Any, ...]]:
        s = self.sites
        for k, tid in enumerate([*self.workers, self.consumer, self.loop]):
            yield tid, None, K.THREAD_END, None, s["end"], (tid, f"thread-{k}", None), None
            yield self.main, None, K.THREAD_JOINED, None, s["join"], (tid, False, 1000), None
        yield self.main, None, K.PROCESS_EXIT, None, s["exit"], (0, "exit"), None


#: Where the pretended program's events happen: name -> (line, function).
SITES = {
    name: (int(line), func)
    for name, line, func in (entry.split(":") for entry in (
        "start:40:main create:41:serve acquire:12:worker put:13:worker release:14:worker get:20:consume"
        " resume:30:handle alock:31:handle aget:32:handle end:15:worker join:42:main exit:43:main"
    ).split())
}  # fmt: skip


def events(script: Script, n: int) -> Iterator[tuple[Any, ...]]:
    """Exactly n events: the start, as many turns as fit, the end."""
    head, tail = list(script.start()), list(script.end())
    if n < len(head) + len(tail) + 16:
        raise ValueError(f"a crafted recording needs at least {len(head) + len(tail) + 16} events")
    yield from head
    room, i = n - len(head) - len(tail), 0
    while True:
        turn = list(script.turn(i))
        if len(turn) > room:
            break
        room -= len(turn)
        yield from turn
        i += 1
    for _ in range(room):  # pad with consumer gets of nothing new, so the count is exact
        yield script.consumer, None, K.QUEUE_EMPTY, script.queue, script.sites["get"], (0,), None
    yield from tail


def generate(path: Path, n: int) -> None:
    """Write a recording of exactly n events to path."""
    craft = Craft(path.with_suffix(".py"), level="sync")
    script = Script(craft)
    with path.open("wb") as out:
        writer = LogWriter(out.fileno())
        writer.write_header({
            "format_version": 2, "chronodbg": "0.1.0", "program": craft.file, "argv": [craft.file],
            "python": "3.11.0", "implementation": "cpython", "platform": "linux", "pid": 1, "start_time": 0.0,
            "backend": "patch", "tracer": None, "kinds": kinds.kind_table(),
            "options": {"include": [], "exclude": [], "locals": "events", "redact": None, "repr": False, "level": "sync"},
        })  # fmt: skip
        batch: list[RawEvent] = []
        seq = 1
        for thread, task, kind, obj, site, data, snap in events(script, n):
            batch.append((1000 * (seq + len(batch)), thread, task, int(kind), obj, site, data, snap))
            if len(batch) == CHUNK:
                writer.write_chunk(seq, batch, dict(craft.defs) if seq == 1 else {})
                seq += len(batch)
                batch = []
        if batch:
            writer.write_chunk(seq, batch, dict(craft.defs) if seq == 1 else {})
        writer.write_footer({
            "events": n, "kinds": {}, "threads": len(craft.threads), "tasks": craft.tasks, "dropped": 0,
            "exit_code": 0, "exit_how": "exit", "end_ns": 1000 * (n + 1),
        })  # fmt: skip


def main(argv: list[str]) -> int:
    out, count = Path(argv[0]), int(float(argv[1]))
    start = time.perf_counter()
    generate(out, count)
    print(f"{count:,} events, {out.stat().st_size:,} bytes in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
