"""Recordings with code events crafted for the replay tests, and a brute-force rebuild of their stacks.

`Craft` writes a valid .cgr with chosen events through the LogWriter the
recorder uses; a `ThreadScript` writes one thread's events as its code
would run, knowing its frames, so each event gets its site. The programs'
sources are written next to their recordings, so `list` can show them.
`brute_stacks` replays well-nested code events the naive way, for the
tests to check the engine against (test_replay_code.py).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from chronodbg import kinds
from chronodbg.logfile import read_log
from chronodbg.logfile.reader import Recording
from chronodbg.logfile.writer import LogWriter, RawEvent
from chronodbg.replay.state import State

UNBOUND = ("unbound",)


class Craft:
    """A recording with chosen events, written as the recorder writes one."""

    def __init__(self, program: Path, level: str = "lines") -> None:
        self.file = str(program)
        self.level = level
        self.defs: dict[str, list[Any]] = defaultdict(list)
        self.strings: dict[str, int] = {}
        self.sites: dict[tuple[int, str], int] = {}
        self.events: list[RawEvent] = []
        self.frames = 0
        self.threads: dict[int, ThreadScript] = {}
        self.tasks = 0
        self.objects = 0

    def string(self, text: str) -> int:
        if text not in self.strings:
            self.strings[text] = len(self.strings) + 1
            self.defs["strings"].append((self.strings[text], text))
        return self.strings[text]

    def site(self, line: int, func: str) -> int:
        key = (line, func)
        if key not in self.sites:
            self.sites[key] = len(self.sites) + 1
            self.defs["sites"].append((self.sites[key], self.string(self.file), line, self.string(func)))
        return self.sites[key]

    def thread(self, name: str) -> ThreadScript:
        tid = len(self.threads) + 1
        self.defs["threads"].append((tid, name, 1000 + tid, None if tid == 1 else 1))
        self.threads[tid] = ThreadScript(self, tid)
        return self.threads[tid]

    def task(self, name: str, coro: str) -> int:
        self.tasks += 1
        self.defs["tasks"].append((self.tasks, name, coro, None))
        return self.tasks

    def obj(self, kind: str) -> int:
        self.objects += 1
        self.defs["objects"].append((self.objects, kind, f"{kind}#{self.objects}", None))
        return self.objects

    def emit(self, thread: int, task: int | None, kind: str, data: tuple[Any, ...], site: int | None,
             obj: int | None = None, snap: tuple[tuple[str, Any], ...] | None = None) -> int:  # fmt: skip
        code = kinds.BY_NAME[kind]
        self.events.append((1000 * (len(self.events) + 1), thread, task, int(code), obj, site, data, snap))
        return len(self.events)

    def write(self, path: Path, chunk: int = 4096) -> Recording:
        out = bytearray()
        writer = LogWriter(out.extend)
        options: dict[str, Any] = {
            "include": [], "exclude": [], "locals": "events", "redact": None, "repr": False, "level": self.level,
        }  # fmt: skip
        writer.write_header({
            "format_version": 2, "chronodbg": "0.1.0", "program": self.file, "argv": [self.file], "python": "3.11.0",
            "implementation": "cpython", "platform": "linux", "pid": 1, "start_time": 0.0, "backend": "patch",
            "tracer": "settrace", "options": options, "kinds": kinds.kind_table(),
        })  # fmt: skip
        for start in range(0, len(self.events), chunk):
            writer.write_chunk(start + 1, self.events[start : start + chunk], dict(self.defs) if start == 0 else {})
        writer.write_footer({
            "events": len(self.events), "kinds": {}, "threads": len(self.threads), "tasks": self.tasks, "dropped": 0,
            "exit_code": 0, "exit_how": "exit", "end_ns": 1000 * (len(self.events) + 1),
        })  # fmt: skip
        path.write_bytes(bytes(out))
        return read_log(str(path))


class ThreadScript:
    """One thread's events, written as its code runs: it knows its frames, so each event gets its site."""

    def __init__(self, craft: Craft, tid: int) -> None:
        self.craft = craft
        self.tid = tid
        #: (frame id, function) of the running frames, outermost first.
        self.stack: list[tuple[int, str]] = []
        #: Generator frames that yielded: frame id -> function.
        self.kept: dict[int, str] = {}
        #: The asyncio task whose step runs (its events carry it).
        self.task: int | None = None

    def _emit(self, kind: str, data: tuple[Any, ...], line: int, func: str, **extra: Any) -> int:
        return self.craft.emit(self.tid, self.task, kind, data, self.craft.site(line, func), **extra)

    @property
    def top(self) -> tuple[int, str]:
        return self.stack[-1]

    def call(self, func: str, line: int, **args: Any) -> int:
        self.craft.frames += 1
        fid = self.craft.frames
        self.stack.append((fid, func))
        self._emit("call", (fid, "call", tuple(args.items())), line, func)
        return fid

    def resume(self, fid: int, line: int) -> None:
        func = self.kept.pop(fid)
        self.stack.append((fid, func))
        self._emit("call", (fid, "resume", None), line, func)

    def line(self, line: int, **changed: Any) -> int:
        fid, func = self.top
        return self._emit("line", (fid, tuple(changed.items())), line, func)

    def ret(self, line: int, value: Any = None) -> int:
        fid, func = self.stack.pop()
        return self._emit("return", (fid, "return", value), line, func)

    def yield_(self, line: int, value: Any = None) -> int:
        fid, func = self.stack.pop()
        self.kept[fid] = func
        return self._emit("return", (fid, "yield", value), line, func)

    def raise_(self, line: int, kind: str, *args: Any) -> int:
        fid, func = self.top
        return self._emit("raise", (fid, kind, ("tuple", len(args), args)), line, func)

    def unwind(self, line: int, kind: str) -> int:
        fid, func = self.stack.pop()
        return self._emit("unwind", (fid, kind), line, func)

    def handled(self, line: int, kind: str) -> int:
        fid, func = self.top
        return self._emit("handled", (fid, kind), line, func)

    def sync(self, kind: str, line: int, data: tuple[Any, ...] = (), obj: int | None = None,
             snap: dict[str, Any] | None = None, func: str | None = None) -> int:  # fmt: skip
        name = func if func is not None else self.top[1] if self.stack else "<module>"
        return self._emit(kind, data, line, name, obj=obj, snap=tuple(snap.items()) if snap is not None else None)


# -- the programs ----------------------------------------------------------------

PROGRAM = """\
def fib(n):
    if n < 2:
        return n
    a = fib(n - 1)
    b = fib(n - 2)
    return a + b

def squares(k):
    for i in range(k):
        yield i * i

def risky(x):
    if x > 1:
        raise ValueError(x)
    return x

def middle(x):
    return risky(x) + 1

def guard(x):
    try:
        return middle(x)
    except ValueError:
        return -1

def main():
    total = fib(3)
    for sq in squares(3):
        total += sq
    total += guard(5)
    return total

main()
"""


def _fib(t: ThreadScript, n: int) -> int:
    t.call("fib", 1, n=n)
    t.line(2)
    if n < 2:
        t.line(3)
        t.ret(3, n)
        return n
    t.line(4)
    a = _fib(t, n - 1)
    t.line(5, a=a)
    b = _fib(t, n - 2)
    t.line(6, b=b)
    t.ret(6, a + b)
    return a + b


def crafted_program(tmp: Path) -> Recording:
    """PROGRAM as a tracer at level lines would record it: recursion, a generator, an exception caught two frames up."""
    program = tmp / "prog.py"
    program.write_text(PROGRAM)
    craft = Craft(program)
    t = craft.thread("MainThread")
    t.call("<module>", 1)
    t.line(33)
    t.call("main", 26)
    t.line(27)
    total = _fib(t, 3)
    t.line(28, total=total)
    gen = 0
    for i in range(4):
        if i == 0:
            gen = t.call("squares", 8, k=3)
        else:
            t.resume(gen, 10)
        t.line(9)
        if i == 3:
            t.ret(9, None)
            break
        t.line(10, i=i)
        t.yield_(10, i * i)
        t.line(29, sq=i * i)
        total += i * i
        t.line(28, **({"total": total} if i else {}))
    t.line(30)
    t.call("guard", 20, x=5)
    t.line(21)
    t.line(22)
    t.call("middle", 17, x=5)
    t.line(18)
    t.call("risky", 12, x=5)
    t.line(13)
    t.line(14)
    t.raise_(14, "ValueError", 5)
    t.unwind(14, "ValueError")
    t.unwind(18, "ValueError")
    t.handled(22, "ValueError")
    t.line(23)
    t.line(24)
    t.ret(24, -1)
    t.line(31, total=total - 1, sq=UNBOUND)
    t.ret(31, total - 1)
    t.ret(33, None)
    return craft.write(tmp / "prog.cgr")


AIO_PROGRAM = """\
import asyncio

async def fetch(n):
    await asyncio.sleep(0)
    return n * 10

async def worker(name, n):
    got = await fetch(n)
    return got + 1

async def main():
    a = asyncio.create_task(worker("a", 1))
    b = asyncio.create_task(worker("b", 2))
    return await a + await b

asyncio.run(main())
"""


def crafted_aio(tmp: Path) -> Recording:
    """AIO_PROGRAM: three tasks, coroutines suspended two deep and resumed."""
    program = tmp / "aio.py"
    program.write_text(AIO_PROGRAM)
    craft = Craft(program)
    t = craft.thread("MainThread")
    t.call("<module>", 1)
    t.line(16)
    main = craft.task("Task-1", "main")
    t.sync("task.create", 16, (main, "Task-1", "main", False))
    t.task = main
    t.sync("task.resume", 11, func="main")
    main_frame = t.call("main", 11)
    t.line(12)
    workers = {}
    for name, line in (("a", 12), ("b", 13)):
        workers[name] = craft.task(f"worker-{name}", "worker")
        t.sync("task.create", line, (workers[name], f"worker-{name}", "worker", False))
        t.line(line + 1, **{name: ("obj", "Task", workers[name])})
    t.yield_(14)
    t.sync("task.suspend", 14, ("task", workers["a"], None), func="main")
    frames: dict[str, tuple[int, int]] = {}
    for name, n in (("a", 1), ("b", 2)):
        t.task = workers[name]
        t.sync("task.resume", 7, func="worker")
        outer = t.call("worker", 7, name=name, n=n)
        t.line(8)
        inner = t.call("fetch", 3, n=n)
        t.line(4)
        t.yield_(4)
        t.yield_(8)
        t.sync("task.suspend", 4, ("sleep", 0, None), func="fetch")
        frames[name] = (outer, inner)
    for name, n in (("a", 1), ("b", 2)):
        outer, inner = frames[name]
        t.task = workers[name]
        t.sync("task.resume", 4, func="fetch")
        t.resume(outer, 8)
        t.resume(inner, 4)
        t.line(5)
        t.ret(5, n * 10)
        t.line(9, got=n * 10)
        t.ret(9, n * 10 + 1)
        t.sync("task.done", 9, ("finished", n * 10 + 1, None, None, None), func="worker")
    t.task = main
    t.sync("task.resume", 14, func="main")
    t.resume(main_frame, 14)
    t.ret(14, 32)
    t.sync("task.done", 14, ("finished", 32, None, None, None), func="main")
    t.task = None
    t.ret(16)
    return craft.write(tmp / "aio.cgr")


THREADS_PROGRAM = """\
import threading

lock = threading.Lock()
counts = {}

def bump(name, times):
    for i in range(times):
        with lock:
            counts[name] = i
    return times

def run(name):
    return bump(name, 2)

workers = [threading.Thread(target=run, args=(n,), name=n) for n in "ab"]
for w in workers:
    w.start()
for w in workers:
    w.join()
"""


def crafted_threads(tmp: Path, level: str = "lines") -> Recording:
    """THREADS_PROGRAM: two threads in the same functions, interleaved, taking turns at a lock.

    At level calls, the same without the line events: the frames' lines and
    locals then come from the lock events' sampled locals.
    """
    program = tmp / f"threads_{level}.py"
    program.write_text(THREADS_PROGRAM)
    craft = Craft(program, level)
    main, a, b = craft.thread("MainThread"), craft.thread("a"), craft.thread("b")
    lines = level == "lines"

    def line(t: ThreadScript, number: int, **changed: Any) -> None:
        if lines:
            t.line(number, **changed)

    lock = craft.obj("Lock")
    main.call("<module>", 1)
    line(main, 15)
    for t in (a, b):
        main.sync("thread.start", 17, (t.tid, "ab"[t.tid - 2], "run", False))
    for t in (a, b):
        t.call("run", 12, name="ab"[t.tid - 2])
        line(t, 13)
        t.call("bump", 6, name="ab"[t.tid - 2], times=2)
        line(t, 7)
    for i in range(2):
        for t in (a, b):
            line(t, 8, i=i)
        a.sync("lock.acquire", 8, (0, 1), lock, snap={"name": "a", "times": 2, "i": i})
        b.sync("lock.wait", 8, (None,), lock, snap={"name": "b", "times": 2, "i": i})
        line(a, 9)
        a.sync("lock.release", 9, (0,), lock, snap={"name": "a", "times": 2, "i": i})
        b.sync("lock.acquire", 8, (0, 1), lock, snap={"name": "b", "times": 2, "i": i})
        line(a, 7)
        line(b, 9)
        b.sync("lock.release", 9, (0,), lock, snap={"name": "b", "times": 2, "i": i})
        line(b, 7)
    for t in (a, b):
        line(t, 10)
        t.ret(10, 2)
        t.ret(13, 2)
        t.sync("thread.end", 13, (t.tid, "ab"[t.tid - 2], None), func="run")
    line(main, 19)
    main.ret(19)
    return craft.write(tmp / f"threads_{level}.cgr")


def crafted_odd(tmp: Path) -> Recording:
    """What a recorder attached to running code, or a stranger, can write: frames never called, missing returns, junk."""
    program = tmp / "odd.py"
    program.write_text(PROGRAM)
    craft = Craft(program)
    t = craft.thread("MainThread")
    site = craft.site
    # A line in a frame whose call came before the recording (frame 40), then a call under it.
    craft.emit(1, None, "line", (40, (("x", 1),)), site(27, "main"))
    craft.emit(1, None, "call", (41, "call", (("n", 3),)), site(1, "fib"))
    craft.emit(1, None, "call", (42, "call", (("n", 2),)), site(1, "fib"))
    # Frame 42 left without a return the recorder saw: a line of 41 pops it.
    craft.emit(1, None, "line", (41, (("a", 1), ("zz", UNBOUND))), site(5, "fib"))
    craft.emit(1, None, "call", (43, "call", ()), site(12, "risky"))
    # The return of 40 takes 43 and 41 with it.
    craft.emit(1, None, "return", (40, "return", None), site(31, "main"))
    # Returns and resumes of frames nobody saw, junk fields, a malformed `changed`.
    craft.emit(1, None, "return", (99, "return", 1), site(3, "fib"))
    craft.emit(1, None, "call", (44, "resume", None), site(10, "squares"))
    craft.emit(1, None, "line", ("junk", ()), site(9, "squares"))
    craft.emit(1, None, "line", (44, "not pairs"), site(9, "squares"))
    craft.emit(1, None, "line", (44, (("ok", 2), ("bad",), (3, 4))), site(10, "squares"))
    craft.emit(1, None, "return", (44, "yield", 0), site(10, "squares"))
    craft.emit(1, None, "unwind", (), site(10, "squares"))
    t.sync("mark", 33, ("end", None))
    return craft.write(tmp / "odd.cgr")


# -- a brute-force rebuild, to check the engine against ------------------------------


BruteFrame = tuple[int, int | None, dict[str, Any], int | None, int]


def brute_stacks(rec: Recording, seq: int) -> dict[int, list[BruteFrame]]:
    """Each thread's frames after event `seq` as (id, site, locals, task, entered at), replaying well-nested code events naively."""
    stacks: dict[int, list[list[Any]]] = defaultdict(list)
    kept: dict[int, list[Any]] = {}
    for event in rec.events[:seq]:
        data, stack = rec.data_dict(event), stacks[event.thread]
        if event.kind == "call":
            if data["how"] == "resume":
                frame = kept.pop(data["frame"])
                frame[1], frame[3], frame[4] = event.site, event.task, event.seq
            else:
                frame = [data["frame"], event.site, dict(data["args"]), event.task, event.seq]
            stack.append(frame)
        elif event.kind in ("line", "raise", "handled"):
            stack[-1][1] = event.site
            for name, value in data.get("changed") or ():
                if value == UNBOUND:
                    stack[-1][2].pop(name, None)
                else:
                    stack[-1][2][name] = value
        elif event.kind in ("return", "unwind"):
            frame = stack.pop()
            if data.get("how") == "yield":
                kept[frame[0]] = frame
        elif stack and stack[-1][3] == event.task and event.site is not None:
            # A sync event in the top frame's function tells its line.
            site, top = rec.sites[event.site], rec.sites[stack[-1][1]]
            if (site.file, site.func) == (top.file, top.func):
                stack[-1][1] = event.site
    return {tid: [(f[0], f[1], dict(f[2]), f[3], f[4]) for f in frames] for tid, frames in stacks.items() if frames}


def brute_depths(rec: Recording, seq: int) -> tuple[int, int]:
    """(thread depth, task depth) of event `seq`: its frame's (a return's frame is still counted)."""
    event = rec.events[seq - 1]
    before, after = brute_stacks(rec, seq - 1).get(event.thread, []), brute_stacks(rec, seq).get(event.thread, [])
    frames = before if event.kind in ("return", "unwind") else after
    mine = 0
    for frame in reversed(frames):
        if event.task is None or frame[3] != event.task:
            break
        mine += 1
    return len(frames), mine


def engine_stacks(state: State) -> dict[int, list[BruteFrame]]:
    return {
        tid: [(f.id, f.site, dict(f.locals), f.task, f.seq) for f in stack.frames]
        for tid, stack in state.stacks.items()
        if stack.frames
    }


def brute_locals(rec: Recording, seq: int) -> dict[str, Any]:
    """The locals a condition sees at event `seq`: its frame's (rebuilt), or a sync event's sampled ones."""
    event = rec.events[seq - 1]
    if event.kind not in ("call", "return", "raise", "unwind", "handled", "line"):
        return dict(event.locals or ())
    leaving = event.kind in ("return", "unwind")
    frames = brute_stacks(rec, seq - 1 if leaving else seq).get(event.thread, [])
    return frames[-1][2] if frames else {}
