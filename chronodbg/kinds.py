"""The event vocabulary: every kind of event and the names of its data fields.

This is the one place that knows them. The recorder builds each event's data
as a tuple in the order given here, the log header carries this table so a
recording decodes even after kinds are renumbered, and the reader, `dump
--json`, breakpoints and exports turn the tuple back into named fields.
"""

from __future__ import annotations

import enum
import fnmatch


class Kind(enum.IntEnum):
    """Event kinds. Values are written to logs: never reuse a retired one."""

    THREAD_START = 1
    THREAD_END = 2
    THREAD_JOIN = 3
    THREAD_JOINED = 4
    LOCK_ACQUIRE = 10
    LOCK_WAIT = 11
    LOCK_FAIL = 12
    LOCK_RELEASE = 13
    COND_WAIT = 20
    COND_WAKE = 21
    COND_NOTIFY = 22
    SEM_WAIT = 30
    SEM_ACQUIRE = 31
    SEM_FAIL = 32
    SEM_RELEASE = 33
    EVENT_SET = 40
    EVENT_CLEAR = 41
    EVENT_WAIT = 42
    EVENT_WAKE = 43
    BARRIER_WAIT = 50
    BARRIER_PASS = 51
    BARRIER_BROKEN = 52
    QUEUE_WAIT = 60
    QUEUE_PUT = 61
    QUEUE_GET = 62
    QUEUE_FULL = 63
    QUEUE_EMPTY = 64
    QUEUE_TASK_DONE = 65
    QUEUE_JOIN = 66
    QUEUE_JOINED = 67
    FUTURE_WAIT = 70
    FUTURE_WAKE = 71
    FUTURE_SET = 72
    EXCEPTION = 80
    OUTPUT = 81
    MARK = 82
    PROCESS_EXIT = 83
    DEADLOCK = 84
    PROCESS_START = 85
    TASK_CREATE = 90
    TASK_RESUME = 91
    TASK_SUSPEND = 92
    TASK_DONE = 93
    TASK_CANCEL = 94
    LOOP_CALL = 95
    LOOP_CALLBACK = 96
    TASK_WAKE = 97
    CALL = 100
    RETURN = 101
    RAISE = 102
    UNWIND = 103
    HANDLED = 104
    LINE = 105


#: The event kind's public name (what users type and `dump --json` prints).
NAMES: dict[Kind, str] = {
    Kind.THREAD_START: "thread.start",
    Kind.THREAD_END: "thread.end",
    Kind.THREAD_JOIN: "thread.join",
    Kind.THREAD_JOINED: "thread.joined",
    Kind.LOCK_ACQUIRE: "lock.acquire",
    Kind.LOCK_WAIT: "lock.wait",
    Kind.LOCK_FAIL: "lock.fail",
    Kind.LOCK_RELEASE: "lock.release",
    Kind.COND_WAIT: "cond.wait",
    Kind.COND_WAKE: "cond.wake",
    Kind.COND_NOTIFY: "cond.notify",
    Kind.SEM_WAIT: "sem.wait",
    Kind.SEM_ACQUIRE: "sem.acquire",
    Kind.SEM_FAIL: "sem.fail",
    Kind.SEM_RELEASE: "sem.release",
    Kind.EVENT_SET: "event.set",
    Kind.EVENT_CLEAR: "event.clear",
    Kind.EVENT_WAIT: "event.wait",
    Kind.EVENT_WAKE: "event.wake",
    Kind.BARRIER_WAIT: "barrier.wait",
    Kind.BARRIER_PASS: "barrier.pass",
    Kind.BARRIER_BROKEN: "barrier.broken",
    Kind.QUEUE_WAIT: "queue.wait",
    Kind.QUEUE_PUT: "queue.put",
    Kind.QUEUE_GET: "queue.get",
    Kind.QUEUE_FULL: "queue.full",
    Kind.QUEUE_EMPTY: "queue.empty",
    Kind.QUEUE_TASK_DONE: "queue.task_done",
    Kind.QUEUE_JOIN: "queue.join",
    Kind.QUEUE_JOINED: "queue.joined",
    Kind.FUTURE_WAIT: "future.wait",
    Kind.FUTURE_WAKE: "future.wake",
    Kind.FUTURE_SET: "future.set",
    Kind.EXCEPTION: "exception",
    Kind.OUTPUT: "output",
    Kind.MARK: "mark",
    Kind.PROCESS_EXIT: "process.exit",
    Kind.DEADLOCK: "deadlock",
    Kind.PROCESS_START: "process.start",
    Kind.TASK_CREATE: "task.create",
    Kind.TASK_RESUME: "task.resume",
    Kind.TASK_SUSPEND: "task.suspend",
    Kind.TASK_DONE: "task.done",
    Kind.TASK_CANCEL: "task.cancel",
    Kind.LOOP_CALL: "loop.call",
    Kind.LOOP_CALLBACK: "loop.callback",
    Kind.TASK_WAKE: "task.wake",
    Kind.CALL: "call",
    Kind.RETURN: "return",
    Kind.RAISE: "raise",
    Kind.UNWIND: "unwind",
    Kind.HANDLED: "handled",
    Kind.LINE: "line",
}

#: Field names of each kind's data tuple, in order.
FIELDS: dict[Kind, tuple[str, ...]] = {
    # `thread` is the started/ended thread's id; the event's own thread is the
    # parent for start and the thread itself for end.
    Kind.THREAD_START: ("thread", "name", "target", "daemon"),
    Kind.THREAD_END: ("thread", "name", "exception"),
    Kind.THREAD_JOIN: ("thread", "timeout"),
    Kind.THREAD_JOINED: ("thread", "alive", "waited_ns"),
    Kind.LOCK_ACQUIRE: ("waited_ns", "depth"),
    Kind.LOCK_WAIT: ("timeout",),
    Kind.LOCK_FAIL: ("waited_ns", "timeout"),
    Kind.LOCK_RELEASE: ("depth",),
    Kind.COND_WAIT: ("timeout", "lock"),
    Kind.COND_WAKE: ("notified", "waited_ns"),
    Kind.COND_NOTIFY: ("n", "waiters"),
    Kind.SEM_WAIT: ("value", "timeout"),
    Kind.SEM_ACQUIRE: ("value", "waited_ns"),
    Kind.SEM_FAIL: ("value", "waited_ns"),
    Kind.SEM_RELEASE: ("value", "n"),
    Kind.EVENT_SET: ("waiters",),
    Kind.EVENT_CLEAR: (),
    Kind.EVENT_WAIT: ("flag", "timeout"),
    Kind.EVENT_WAKE: ("result", "waited_ns"),
    Kind.BARRIER_WAIT: ("arrived", "parties", "timeout"),
    Kind.BARRIER_PASS: ("index", "waited_ns"),
    Kind.BARRIER_BROKEN: ("waited_ns",),
    Kind.QUEUE_WAIT: ("op", "size", "maxsize", "timeout"),
    Kind.QUEUE_PUT: ("item", "size"),
    Kind.QUEUE_GET: ("item", "size"),
    Kind.QUEUE_FULL: ("size", "maxsize"),
    Kind.QUEUE_EMPTY: ("size",),
    Kind.QUEUE_TASK_DONE: ("unfinished",),
    Kind.QUEUE_JOIN: ("unfinished",),
    Kind.QUEUE_JOINED: ("waited_ns",),
    Kind.FUTURE_WAIT: ("timeout",),
    Kind.FUTURE_WAKE: ("state", "waited_ns"),
    Kind.FUTURE_SET: ("state", "value"),
    Kind.EXCEPTION: ("type", "args", "traceback"),
    Kind.OUTPUT: ("stream", "text", "length"),
    Kind.MARK: ("name", "data"),
    Kind.PROCESS_EXIT: ("code", "how"),
    # The recorder's watchdog found threads or tasks that can never go on.
    # reason: "cycle" (they wait for each other) or "stuck" (every live thread
    # blocked with no timeout); actors: a list of "thread:N" / "task:N" (the
    # state at this event says what each waits on); text: what was printed.
    Kind.DEADLOCK: ("reason", "actors", "text"),
    # The program started a process, which is not recorded: `pid` the
    # child's, `method` how ("fork", "forkpty", or multiprocessing's "spawn"
    # or "forkserver"), `name` the multiprocessing.Process name (None for a
    # bare os.fork). The event's thread and site are the starter's.
    Kind.PROCESS_START: ("pid", "method", "name"),
    # `task` is the new task's id; the event's own task is its parent (None
    # when created outside any task). `name` is None for an unnamed eager
    # task, which runs its first step before it has a name.
    Kind.TASK_CREATE: ("task", "name", "coro", "eager"),
    # The event's task resumes (its site: where it continues) or suspends
    # (its site: the await). `awaits` says on what: "sleep", "task",
    # "gather", "wait", "wait_for", "shield", "executor", "future", "yield",
    # or the primitive ("lock", "event", "condition", "semaphore", "queue");
    # the event's obj is the recorded object awaited, `target` the task id(s)
    # or sleep delay, `timeout` the seconds left before a timeout fires.
    Kind.TASK_RESUME: (),
    Kind.TASK_SUSPEND: ("awaits", "target", "timeout"),
    # state: "finished" (with the result's summary), "exception" (its type,
    # args and traceback sites, as for the `exception` kind) or "cancelled".
    Kind.TASK_DONE: ("state", "result", "exception", "args", "traceback"),
    # `via` names the asyncio function that asked (TaskGroup._abort,
    # Timeout._on_timeout, ...), None when the user's code did.
    Kind.TASK_CANCEL: ("task", "message", "via"),
    # A thread schedules a callback with call_soon_threadsafe (`call` pairs it
    # with the loop.callback event of the loop's thread running it).
    # A suspended task is made ready to run (its next step is scheduled):
    # `task` is the woken task; the event's own task and site are the waker
    # (nil outside any task: a timer, another thread's callback). obj: the
    # future that woke it, when it is a recorded one.
    Kind.TASK_WAKE: ("task",),
    Kind.LOOP_CALL: ("callback", "call"),
    Kind.LOOP_CALLBACK: ("callback", "call"),
    # Code-level events (record --level calls|lines), user code only. `frame`
    # is a sequential id a frame keeps across a generator's or coroutine's
    # resumes. call: how = "call" (args: the arguments as (name, summary)
    # pairs) or "resume" (args nil); return: how = "return" or "yield" (the
    # frame suspends), value summarised. raise: raised (or re-raised by a
    # raise statement) in this frame, not repeated as it propagates; unwind:
    # the frame exits by an exception; handled: an except clause in this
    # frame catches it. line (--level lines): a line is about to run;
    # changed: the locals that differ from this frame's previous snapshot,
    # as (name, summary) pairs, ("unbound",) for a local no longer bound.
    Kind.CALL: ("frame", "how", "args"),
    Kind.RETURN: ("frame", "how", "value"),
    Kind.RAISE: ("frame", "type", "args"),
    Kind.UNWIND: ("frame", "type"),
    Kind.HANDLED: ("frame", "type"),
    Kind.LINE: ("frame", "changed"),
}

#: Fields holding (name, summary) pairs, as a locals snapshot does, rather than one summary.
NAMED_VALUES: frozenset[tuple[str, str]] = frozenset({("call", "args"), ("line", "changed")})

BY_NAME: dict[str, Kind] = {name: kind for kind, name in NAMES.items()}


def kind_table() -> list[list[object]]:
    """The table written into every log header: [code, name, [fields]]."""
    return [[int(k), NAMES[k], list(FIELDS[k])] for k in Kind]


def match_kinds(pattern: str) -> set[str]:
    """Kind names matching a glob such as `lock.*`; empty if none do."""
    return {name for name in BY_NAME if fnmatch.fnmatchcase(name, pattern)}
