"""The recorder: numbers threads and objects, interns sites, buffers events, writes chunks.

The per-event path (`emit`) appends one tuple to a list and takes no lock and
makes no system call: a background thread started with `_thread` (invisible to
`threading.enumerate()`) drains the list every FLUSH_INTERVAL seconds, packs it
and writes it with `os.write`. That bounds what a SIGKILL loses and puts a
deadlocked program's last events on disk without any help from the program.
An asyncio loop packs and writes its own events between two steps once a
chunk's worth is buffered (`pack_here`), and the writer then wakes less often
(see BUSY_FLUSH_INTERVAL).
Sequence numbers are assigned when the writer drains: append order is the
causal order because every wrapper records an acquire after acquiring and a
release before releasing.
"""

from __future__ import annotations

import _thread
import gc
import itertools
import math
import os
import stat
import sys
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any, NamedTuple

from chronodbg import kinds
from chronodbg.errors import RecordError
from chronodbg.kinds import Kind
from chronodbg.logfile.format import CHUNK_EVENTS, FORMAT_VERSION
from chronodbg.logfile.ring import RingState, merged_definitions, rewrite
from chronodbg.logfile.writer import LogWriter, PackedChunk, PendingBytes, native_packer
from chronodbg.recorder.hotpath import built_hooks, events_freer, locks_path
from chronodbg.recorder.objects import ObjectTable
from chronodbg.recorder.snapshot import DEFAULT_REDACT, Summariser
from chronodbg.recorder.usercode import UserCode
from chronodbg.recorder.watchdog import DEADLOCK_EXIT, Finding, Watchdog, event_data

FLUSH_INTERVAL = 0.05
#: The writer's period while the program packs its own events (pack_here).
#: Why longer: a thread waiting for the GIL is woken by every release of it,
#: and an asyncio loop polling with select(0) releases it thousands of times
#: a second and takes it straight back before the woken thread runs; CPython
#: restarts the waiter's switch interval at each such wake, so the writer
#: waited through hundreds of them at every wake-up, a futex wake on the
#: loop's side each: a fifth to a quarter of W3's recorded time at 20
#: wake-ups a second.
#: Meanwhile the loop writes its own events at least every FLUSH_INTERVAL.
BUSY_FLUSH_INTERVAL = 0.25
#: Events buffered at most before the thread adding one writes them itself:
#: when the disk is slower than the program, the program waits for it
#: instead of the buffer growing without bound (about 250 bytes an event).
BUFFER_LIMIT = 1 << 17
#: Events buffered before pack_here packs them: one chunk.
PACK_LIMIT = CHUNK_EVENTS
#: Packed bytes pack_here leaves unwritten at most (it also writes them once
#: FLUSH_INTERVAL has passed since the last write).
OUT_LIMIT = 1 << 20
#: The least time between two writes of idle_here.
IDLE_WRITE_GAP = 0.01
#: The smallest --max-size: below it a few chunks of events would not fit.
MIN_MAX_SIZE = 64 << 10
_gc_isenabled, _gc_disable, _gc_enable = gc.isenabled, gc.disable, gc.enable
_monotonic = time.monotonic

Emit = Callable[..., None]
#: (kind, data, code, line): an event of user code at that line, without locals.
EmitCode = Callable[[int, tuple[Any, ...], Any, int], None]


class Options(NamedTuple):
    """What to record and where; the CLI flags and the library's keyword arguments.

    A named tuple, not a dataclass: `dataclasses` imports `inspect`, about 10 ms
    of every recorded program's start, and the program may not need either.
    """

    path: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    #: Where the target itself lives (see usercode.target_root): user code
    #: even inside the standard library or site-packages.
    targets: tuple[str, ...] = ()
    #: True under `chronodbg record`: the runner sees how the program ends.
    runs_target: bool = False
    #: The `chronodbg` launcher script, when recording from the command line.
    launcher: str | None = None
    locals: str = "events"
    redact: str | None = DEFAULT_REDACT
    use_repr: bool = False
    program: str = ""
    argv: tuple[str, ...] = ()
    #: Print the one-line summary to stderr when recording ends (the CLI does).
    announce: bool = False
    #: What the watchdog does on a deadlock: "stop" (end the program with
    #: watchdog.DEADLOCK_EXIT) or "continue" (record and report it only).
    on_deadlock: str = "continue"
    #: What else is recorded: "sync" (the synchronisation events only),
    #: "calls" (plus calls, returns and exceptions of user code) or "lines"
    #: (plus each line with the locals it changed); see recorder.tracing.
    level: str = "sync"
    #: At level calls, the files (globs, as --include) whose frames also record lines.
    lines: tuple[str, ...] = ()
    #: HMAC key signing every frame of the log (format 3); never written, never shown.
    sign_key: bytes | None = None
    #: Bytes the file may take; at the cap recording stops (the program goes
    #: on), or with `ring` the oldest chunks are dropped (logfile.ring).
    max_size: int | None = None
    ring: bool = False

    def __repr__(self) -> str:
        # The signing key is never shown.
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields, self, strict=True) if name != "sign_key")
        return f"Options({shown})"


class Recorder:
    def __init__(self, options: Options) -> None:
        self.options = options
        launcher = (options.launcher,) if options.launcher else ()
        self.user = UserCode(options.include, options.exclude, options.targets, launcher)
        #: Every recorded object's type, for its label (`Lock#3`) in locals and reports.
        self.objects = ObjectTable()
        self.summariser = Summariser(options.redact, options.use_repr, labels=self.objects)
        self.active = False
        self.pid = os.getpid()
        self.t0 = time.monotonic_ns()
        #: Wall-clock time of t0: the header's start_time + an event's t_ns is when it happened.
        self.wall0 = time.time()
        #: Events not yet packed: (t, thread, task, kind, obj, site, data, locals). The C emit's are
        #: its own type (recorder/_event.h), which reads as that tuple.
        self.buffer: list[tuple[Any, ...]] = []
        #: Definitions (strings, sites, objects, threads) not yet written;
        #: each is appended before any event that uses it.
        self.pending: list[tuple[str, tuple[Any, ...]]] = []
        self.thread_ids: dict[int, int] = {}
        self.thread_names: dict[int, str] = {}
        #: thread ident -> id of the asyncio task whose step runs on it now
        #: (maintained by recorder.aio; every event reads it).
        self.running_tasks: dict[int, int] = {}
        self.tasks = 0
        #: ids of code objects (kept alive by their functions) where user_frame stops looking.
        self.stop_codes: set[int] = set()
        self._next_task = itertools.count(1).__next__
        self._next_thread = itertools.count(1).__next__
        self._next_object = itertools.count(1).__next__
        self._next_string = itertools.count(1).__next__
        self._next_site = itertools.count(1).__next__
        self._strings: dict[str, int] = {}
        self._sites: dict[tuple[int, int], int] = {}
        self.dropped = 0
        self.events_written = 0
        #: Why recording stopped before the program ended ("max-size"), and
        #: the events buffered then that were not written.
        self.limit_reason: str | None = None
        self.unrecorded = 0
        self.ring: RingState | None = (
            RingState(options.max_size) if options.ring and options.max_size is not None else None
        )
        #: Stops what records without going through `active` (the tracer);
        #: set by recorder.control, called when recording stops early.
        self.stop_hooks: Callable[[], None] | None = None
        #: The thread inside drain() now (a finalizer it runs must not drain again).
        self._draining: int | None = None
        #: (thread, function) to call once that thread's drain() let go of the
        #: log: a signal handler that would finish the log defers itself so.
        self.after_drain: tuple[int, Callable[[], None]] | None = None
        self.header: dict[str, Any] = {}
        self.exit_code: int | None = None
        self.exit_how = "exit"
        self.error: str | None = None
        self._io_lock = _thread.allocate_lock()
        #: When the program last offered to pack its own events (pack_here), time.monotonic().
        self.packed_at = -math.inf
        #: When the last write to the file began, time.monotonic().
        self.written_at = -math.inf
        self._wake = _thread.allocate_lock()
        self._writer_done = _thread.allocate_lock()
        self._writer_running = False
        self._fd: int | None = None
        self.memory: bytearray | None = None
        #: Packed bytes not yet written to the file (see drain), and how many events they hold.
        self._out: PendingBytes | None = None
        self._out_events = 0
        self.bytes_on_disk = 0
        #: True while the writer packs with the GC off (a fork then must not
        #: leave the child with the GC disabled).
        self._gc_paused = False
        self.log: LogWriter | None = None
        self.closed = False
        self.watchdog: Watchdog | None = None
        #: The event loops that ran recorded tasks (recorder.aio adds them):
        #: the watchdog tells an idle loop from a busy one.
        self.loops: weakref.WeakSet[Any] = weakref.WeakSet()
        self.writer_ident: int | None = None
        #: Ends the process after a deadlock under on_deadlock="stop" (set by
        #: recorder.control, which knows how to finish the log and exit).
        self.end_process: Callable[[int], None] | None = None
        #: The tracer recording code events ("sys.monitoring", "settrace"), None at level sync.
        self.tracer_name: str | None = None
        #: Called first thing in each thread started through `Thread.start()`
        #: (the settrace tracer installs itself there).
        self.thread_started: Callable[[], None] | None = None
        #: Whether the lock wrappers this recorder makes run the C cores ("c") or Python (recorder.locks).
        self.lock_path = locks_path()
        #: The C hooks the queues, conditions and asyncio get (recorder/_hooks.c), or None for the Python ones.
        self.hooks: Any = built_hooks()
        self.emit: Emit = self._make_emit()
        #: How _pack frees the events it packed (see hotpath.events_freer).
        self._free_events = events_freer(self.emit)
        self.emit_code: EmitCode = self._make_emit_code()

    # -- output ----------------------------------------------------------

    def open(self) -> None:
        path = self.options.path
        if path is None:
            self.memory = bytearray()
            self.log = LogWriter(self.memory.extend, self.options.sign_key)
        else:
            parent = os.path.dirname(os.path.abspath(path))
            # Read-write for a ring, which reads back the chunks it keeps.
            mode = os.O_RDWR if self.ring is not None else os.O_WRONLY
            try:
                os.makedirs(parent, exist_ok=True)
                self._fd = os.open(path, mode | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise RecordError(f"cannot write {path}: {exc.strerror or exc}") from None
            if self.ring is not None and not stat.S_ISREG(os.fstat(self._fd).st_mode):
                os.close(self._fd)
                self._fd = None
                raise RecordError(f"cannot keep a ring in {path}: --ring needs a regular file")
            self._out = PendingBytes()
            self.log = LogWriter(self._out.extend, self.options.sign_key)
            if self.ring is not None:
                self.log.chunks = []
        self.header = self._header()
        self.log.write_header(self.header)
        try:
            self._flush_out()
        except OSError as exc:  # /dev/full, a full disk, a file size limit
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            raise RecordError(f"cannot write {path}: {exc.strerror or exc}") from None

    def _header(self) -> dict[str, Any]:
        import chronodbg
        from chronodbg.recorder.hotpath import header_fields, path_of

        opts = self.options
        return {
            "format_version": FORMAT_VERSION,
            "chronodbg": chronodbg.__version__,
            "program": opts.program,
            "argv": list(opts.argv),
            "python": sys.version.split()[0],
            "implementation": sys.implementation.name,
            "platform": sys.platform,
            "pid": self.pid,
            "start_time": self.wall0,
            "backend": "patch",
            "tracer": self.tracer_name,
            # Which per-event path recorded: the C extensions' or Python's (see recorder.hotpath).
            **header_fields(
                {
                    "emit": path_of(self.emit),
                    "locals": self.summariser.path,
                    "pack": self._packer_path(),
                    "locks": self.lock_path,
                    "hooks": "python" if self.hooks is None else "c",
                }
            ),
            "options": {
                "include": list(opts.include),
                "exclude": list(opts.exclude),
                "locals": opts.locals,
                "redact": opts.redact,
                "repr": opts.use_repr,
                "level": opts.level,
                "lines": list(opts.lines),
            },
            "kinds": kinds.kind_table(),
        }

    # -- identities --------------------------------------------------------

    def _packer_path(self) -> str:
        """The log writer's packing path, or the one a writer made now would take."""
        if self.log is not None:
            return self.log.packer
        return "c" if native_packer() is not None else "python"

    def string_id(self, text: str) -> int:
        sid = self._strings.get(text)
        if sid is None:
            sid = self._next_string()
            self.pending.append(("strings", (sid, text)))
            self._strings[text] = sid
        return sid

    def site_id(self, code: Any, line: int) -> int:
        # By id: see UserCode.by_code (which keeps the code object alive).
        key = (id(code), line)
        sid = self._sites.get(key)
        if sid is None:
            sid = self._next_site()
            self.pending.append(
                ("sites", (sid, self.string_id(code.co_filename), line, self.string_id(code.co_qualname)))
            )
            self._sites[key] = sid
        return sid

    def register_thread(self, ident: int, name: str, parent: int | None = None) -> int:
        tid = self._next_thread()
        self.pending.append(("threads", (tid, name, ident, parent)))
        self.thread_names[tid] = name
        if ident:
            self.thread_ids[ident] = tid
        return tid

    def register_task(self, name: str | None, coro: str, parent: int | None) -> int:
        """A new sequential task id, defined in the log before any event uses it."""
        task = self._next_task()
        self.tasks += 1
        self.pending.append(("tasks", (task, name, coro, parent)))
        return task

    def rename_task(self, task: int, name: str, coro: str, parent: int | None) -> None:
        """Define the task again under its new name (the reader keeps the last)."""
        self.pending.append(("tasks", (task, name, coro, parent)))

    def current_thread_id(self) -> int:
        ident = _thread.get_ident()
        tid = self.thread_ids.get(ident)
        if tid is None:
            # A thread started before recording, or with _thread directly.
            thread = threading._active.get(ident)  # type: ignore[attr-defined]
            name = thread.name if thread is not None else f"Thread-{ident}"
            tid = self.register_thread(ident, name)
        return tid

    def user_frame(self, frame: FrameType | None) -> FrameType | None:
        """The innermost frame of user code at or above `frame`.

        The search ends at a frame in `stop_codes`: below an asyncio task's
        step lie the event loop's frames and whatever called `asyncio.run`,
        which did not make the event.
        """
        by_code = self.user.by_code
        stops = self.stop_codes
        while frame is not None:
            code = frame.f_code
            user = by_code.get(id(code))
            if user is None:
                user = self.user.code_is_user(code)
            if user:
                return frame
            if stops and id(code) in stops:
                return None
            frame = frame.f_back
        return None

    def register_object(self, type_name: str, creator: FrameType | None) -> int:
        """A new id for a lock/queue/…; `creator` is the frame that created it."""
        oid = self._next_object()
        frame = self.user_frame(creator)
        site = self.site_id(frame.f_code, frame.f_lineno) if frame is not None else None
        label = f"{type_name}#{oid}"
        self.pending.append(("objects", (oid, type_name, label, site)))
        self.objects.add(oid, type_name)
        return oid

    def creator_is_user(self, frame: FrameType | None) -> bool:
        return frame is not None and self.user.code_is_user(frame.f_code)

    # -- the hot path ------------------------------------------------------

    def _make_emit(self) -> Emit:
        buffer = self.buffer
        append = buffer.append
        relieve = self._relieve
        limit = BUFFER_LIMIT
        thread_ids = self.thread_ids
        get_ident = _thread.get_ident
        now = time.monotonic_ns
        user_frame = self.user_frame
        site_id = self.site_id
        sites = self._sites
        frame_locals = self.summariser.frame_locals
        sample = self.options.locals != "none"
        current_thread_id = self.current_thread_id
        running_tasks = self.running_tasks
        t0 = self.t0

        def emit(
            kind: Kind, obj: int | None, data: tuple[Any, ...], frame: FrameType | None, with_locals: bool = True
        ) -> None:
            try:
                t = now() - t0
                ident = get_ident()
                tid = thread_ids.get(ident) or current_thread_id()
                caller = frame
                frame = user_frame(frame)
                if frame is None:
                    site = snap = None
                else:
                    line = frame.f_lineno
                    site = sites.get((id(frame.f_code), line)) or site_id(frame.f_code, line)
                    snap = frame_locals(frame, frame is caller) if sample and with_locals else None
                append((t, tid, running_tasks.get(ident), kind, obj, site, data, snap))
                size = len(buffer)
                if size > limit or not size % PACK_LIMIT:
                    relieve()
            except Exception:
                self.dropped += 1

        from chronodbg.recorder.hotpath import native

        c = native()
        if c is None or type(self).user_frame is not Recorder.user_frame:
            # No extension, CHRONODBG_PURE_PYTHON, or a subclass's own user_frame (which C would bypass).
            return emit
        # The same steps in C (issue 8); it calls back into these methods for
        # whatever is not in the dicts yet, and into `emit` for odd calls.
        return c[0](
            emit, self, buffer, limit, relieve, thread_ids, current_thread_id, now, t0, running_tasks,
            sites, site_id, self.user.by_code, self.user.code_is_user, self.stop_codes, frame_locals, sample,
            offer_every=PACK_LIMIT,
        )

    def _make_emit_code(self) -> EmitCode:
        """The tracers' emit: the site is the given line of the given code, which is user code by construction."""
        buffer = self.buffer
        append = buffer.append
        relieve = self._relieve
        limit = BUFFER_LIMIT
        thread_ids = self.thread_ids
        get_ident = _thread.get_ident
        now = time.monotonic_ns
        site_id = self.site_id
        sites = self._sites
        current_thread_id = self.current_thread_id
        running_tasks = self.running_tasks
        t0 = self.t0

        def emit_code(kind: int, data: tuple[Any, ...], code: Any, line: int) -> None:
            try:
                t = now() - t0
                ident = get_ident()
                tid = thread_ids.get(ident) or current_thread_id()
                site = sites.get((id(code), line)) or site_id(code, line)
                append((t, tid, running_tasks.get(ident), kind, None, site, data, None))
                size = len(buffer)
                if size > limit or not size % PACK_LIMIT:
                    relieve()
            except Exception:
                self.dropped += 1

        from chronodbg.recorder.hotpath import native

        c = native()
        if c is None:
            return emit_code
        return c[1](
            emit_code, self, buffer, limit, relieve, thread_ids, current_thread_id, now, t0, running_tasks, sites, site_id,
            offer_every=PACK_LIMIT,
        )

    def _relieve(self) -> None:
        """Called by the emits past BUFFER_LIMIT events buffered, and at every PACK_LIMIT-th.

        Past the limit, this thread writes them out itself, at the disk's
        pace. At a chunk's worth, a program running on this one thread packs
        them itself: no other thread can be waiting for what it holds, and
        the writer would otherwise take the GIL from it for long stretches
        while the buffer grew (W4 `--level calls`: 20-23% faster, its peak
        memory from 72 MB to 22 MB; docs/performance.md, the tenth pass).
        """
        ident = _thread.get_ident()
        if ident == self.writer_ident or ident == self._draining or not self.active:
            return
        if len(self.buffer) > BUFFER_LIMIT:
            self.drain()
        elif self._alone():
            self.pack_a_chunk()

    def _alone(self) -> bool:
        """Whether the program runs on one thread: threading's only and none of _thread's but the writer."""
        own = 1 if self._writer_running else 0
        return len(threading._active) == 1 and not threading._limbo and _thread._count() <= own  # type: ignore[attr-defined]

    # -- writing -----------------------------------------------------------

    def _flush_out(self) -> None:
        """Write the packed bytes to the file (a no-op for an in-memory log)."""
        out, fd = self._out, self._fd
        if out is None or fd is None:
            return
        self.written_at = _monotonic()
        while out:
            self.bytes_on_disk += out.write_some(fd)
        self._out_events = 0

    def drain(self, from_writer: bool = False) -> None:
        """Write everything buffered so far (any thread; serialised).

        The writer thread packs with the GC off: the GC would otherwise run
        wherever an allocation crosses its threshold, and packing allocates,
        so the program's finalizers (`__del__`, weakref callbacks) would run
        on the writer thread. With `from_writer`, nothing here allocates a
        GC-tracked object outside that window (the file write comes after it).
        """
        # Not `with`: on 3.11 it allocates bound methods of the lock.
        self._io_lock.acquire()
        self._drain_held(from_writer, True)

    def pack_here(self) -> None:
        """Pack the buffered events on this thread; write them past OUT_LIMIT bytes or FLUSH_INTERVAL since the last write.

        For a thread at a point where it holds nothing of the program's (an
        asyncio loop between two callbacks): there it costs the program what
        the writer thread's packing would, without the two threads handing
        the GIL to each other. Never waits: when the writer is at it, it is
        left to the writer.
        """
        # Offered, even when the writer is at it: the program makes events faster than the writer's period.
        now = self.packed_at = _monotonic()
        out = self._out
        self._drain_on_program_thread(out is not None and (len(out) > OUT_LIMIT or now - self.written_at >= FLUSH_INTERVAL))

    def pack_a_chunk(self) -> None:
        """Pack a chunk's worth of events on this thread: one that has just freed the last recorded lock held (see
        between_locks.py), or the program's only thread (_relieve).

        Waits while another thread packs: threads that would add events wait
        for the packer instead of outrunning it. With the GC off, as on the
        writer: a finalizer run here could want a lock that a thread waiting
        for this one holds. A failure never reaches the program.
        """
        if not self.active or self._draining == _thread.get_ident():
            return  # stopped, or called from inside a drain of this thread's
        self._io_lock.acquire()
        if len(self.buffer) < PACK_LIMIT or not self.active:
            self._io_lock.release()  # another thread packed them meanwhile
            return
        now = self.packed_at = _monotonic()
        out = self._out
        write = out is not None and (len(out) > OUT_LIMIT or now - self.written_at >= FLUSH_INTERVAL)
        self._drain_guarded(True, write, PACK_LIMIT)

    def idle_here(self) -> None:
        """Pack and write what is pending, on an asyncio loop about to wait with nothing ready, if it packs its own events.

        The writer, waking only every BUSY_FLUSH_INTERVAL meanwhile, would
        otherwise leave a busy loop's last events off the disk for up to that
        long after it went quiet. At most every IDLE_WRITE_GAP: a loop that
        waits for I/O between short bursts goes idle thousands of times a second.
        """
        now = _monotonic()
        if now - self.packed_at >= FLUSH_INTERVAL or now - self.written_at < IDLE_WRITE_GAP:
            return
        if self.buffer or self._out:
            self._drain_on_program_thread(True)

    def _drain_on_program_thread(self, write: bool) -> None:
        """_drain_held for pack_here and idle_here: never waits for the lock, and a failure never reaches the program."""
        if self._draining is not None or not self.active or not self._io_lock.acquire(False):
            return  # stopped, or the writer (or this thread, further out) is at it
        self._drain_guarded(False, write)

    def _drain_guarded(self, pause_gc: bool, write: bool, most: int | None = None) -> None:
        """_drain_held for a program thread: a failure never reaches the program."""
        queued, first = len(self.buffer), self.events_written
        try:
            self._drain_held(pause_gc, write, most)
        except Exception:
            # What was taken out of the buffer and not written is lost; a
            # failure counts one at least, as in emit.
            self.dropped += max(1, queued - (self.events_written - first) - len(self.buffer))

    def _drain_held(self, pause_gc: bool, write: bool, most: int | None = None) -> None:
        """drain(), with _io_lock already held (released here); without `write`, the packed bytes wait in `_out`.

        `most`: pack at most that many events (the oldest), not all of them.
        """
        self._draining = _thread.get_ident()
        try:
            # Definitions wait for the first event that needs them; bytes packed
            # earlier (pack_here) are written even when no event came since.
            if self.log is None or not (self.buffer or (write and self._out)):
                return
            if self.error is not None:
                # Threads still inside a hook append after a write error; nothing more is written.
                self.dropped += len(self.buffer)
                self.buffer.clear()
                return
            gc_off = pause_gc and _gc_isenabled()
            if gc_off:
                _gc_disable()
                self._gc_paused = True
            try:
                try:
                    if self.buffer:
                        self._pack(most)
                finally:
                    if gc_off:
                        self._gc_paused = False
                        _gc_enable()
                if write:
                    self._flush_out()
            except OSError as exc:
                self.error = exc.strerror or str(exc)
                # Every event whose bytes were still waiting to be written (pack_here's too).
                self.dropped += self._out_events
                self.events_written -= self._out_events
                self._out_events = 0
                if self._out is not None:
                    self._out.clear()
                # Stop recording, not the program: the hooks pass straight
                # through from now on and nothing more is buffered.
                self._stop_hooks()
                self.dropped += len(self.buffer)
                self.buffer.clear()
                os.write(2, f"chronodbg: cannot write {self.options.path}: {self.error}; recording stopped\n".encode())
        finally:
            self._draining = None
            self._io_lock.release()
        after = self.after_drain
        if after is not None and after[0] == _thread.get_ident():
            self.after_drain = None
            after[1]()

    def draining_here(self) -> bool:
        """Whether this thread is inside drain(), holding the lock that finishing the log needs."""
        return self._draining == _thread.get_ident()

    def _stop_hooks(self) -> None:
        self.active = False
        stop = self.stop_hooks
        if stop is not None:
            self.stop_hooks = None
            try:
                stop()
            except Exception:
                pass

    def _pack(self, most: int | None = None) -> None:
        """Move the buffered events (the `most` oldest) and their definitions into packed chunks.

        Called under _io_lock with a non-empty buffer; only this method takes
        events out, so the batch is never empty. Definitions go with the
        first chunk: all of them, since those of the events left behind are
        among them.
        """
        assert self.log is not None
        count = len(self.buffer) if most is None else min(most, len(self.buffer))
        batch = self.buffer[:count]
        del self.buffer[:count]
        npending = len(self.pending)
        defs = self.pending[:npending]
        del self.pending[:npending]
        if self.closed:
            # Threads that were inside a hook when recording stopped append
            # after process.exit; the end of the program stays the last event.
            ends = [event for event in batch if event[3] == Kind.PROCESS_EXIT]
            if ends:
                batch = [event for event in batch if event[3] != Kind.PROCESS_EXIT] + ends[-1:]
            if self.limit_reason is not None:
                # Stopped at the cap: only the end of the program is still written.
                self.unrecorded += len(batch) - len(ends[-1:])
                batch = ends[-1:]
        elif self.limit_reason is not None:
            self.unrecorded += len(batch)
            batch = []
        if not batch:
            self.pending[:0] = defs
            return
        grouped: dict[str, list[Any]] = {}
        for section, entry in defs:
            grouped.setdefault(section, []).append(entry)
        if self.watchdog is not None:
            self.watchdog.feed(batch, grouped, self.events_written + 1)
        capped = self.options.max_size is not None and self.limit_reason is None
        # A ring drops whole chunks: smaller ones keep more of the window.
        per_chunk = CHUNK_EVENTS if self.ring is None else CHUNK_EVENTS // 4
        for start in range(0, len(batch), per_chunk):
            part = batch[start : start + per_chunk]
            part_defs = grouped if start == 0 else {}
            chunk = self.log.pack_chunk(self.events_written + 1, part, part_defs)
            if capped and not self._fits(chunk):
                carried = self._rewrite_ring(chunk) if self.ring is not None else None
                if carried is not None:
                    part_defs = merged_definitions([carried, part_defs])
                    chunk = self.log.pack_chunk(self.events_written + 1, part, part_defs)
                if self.ring is None or not self._fits(chunk):
                    if start == 0:
                        # Their definitions may yet be needed by the end of the program.
                        self.pending[:0] = defs
                    self._stop_at_cap(len(batch) - start)
                    return
            self.log.commit_chunk(chunk)
            self.events_written += len(part)
            if self._out is not None:
                self._out_events += len(part)
        del part
        self._free_events(batch)

    def _size(self) -> int:
        """Bytes the log takes, written or about to be."""
        if self.memory is not None:
            return len(self.memory)
        return self.bytes_on_disk + (len(self._out) if self._out is not None else 0)

    def _room(self) -> int:
        """Bytes under --max-size still free for chunks, room kept for the program's end and the footer."""
        assert self.log is not None and self.options.max_size is not None
        reserve = 4096 + 24 * len(self.log.chunk_index)
        return self.options.max_size - reserve - self._size()

    def _fits(self, chunk: PackedChunk) -> bool:
        assert self.log is not None
        return self.log.frame_size(len(chunk.body)) <= self._room()

    def _rewrite_ring(self, incoming: PackedChunk) -> dict[str, list[Any]] | None:
        """Drop the oldest chunks so the file holds at most half the cap and `incoming` fits.

        Returns the definitions of dropped chunks the next chunk must carry
        (when none was kept), None when nothing could be dropped.
        """
        assert self.ring is not None and self.log is not None and self.options.path is not None
        if self._fd is None or self._out is None:
            return None
        self._flush_out()
        keep = min(self.ring.max_size // 2, self._room() + self._size() - self.log.frame_size(len(incoming.body)) - 65536)
        done = rewrite(self.options.path, self._fd, self.log, self.header, max(keep, 0), self.ring, self.options.sign_key)
        if done is None:
            return None
        self._fd, self.log, dropped, carried = done
        self.log.redirect(self._out.extend)
        self.events_written -= dropped
        self.bytes_on_disk = self.log.offset
        return carried

    def _stop_at_cap(self, unwritten: int) -> None:
        """Recording stops at --max-size; the program goes on, and the footer says why."""
        self.limit_reason = "max-size"
        self.unrecorded += unwritten
        self._stop_hooks()
        os.write(
            2,
            f"chronodbg: {self.options.path} reached --max-size {_human(self.options.max_size or 0)} at event "
            f"{self.events_written}; recording stopped, the program goes on\n".encode("utf-8", "replace"),
        )

    def _writer_loop(self, started: Any) -> None:
        self.writer_ident = _thread.get_ident()
        started.release()
        finding = None
        try:
            began = time.monotonic()
            while self._writer_running:
                # A period from the start of the last drain, not from its end:
                # packing a busy program's events takes tens of ms, and a
                # SIGKILL loses what came in since the last write began.
                self._wake.acquire(timeout=max(0.005, self._flush_period() - (time.monotonic() - began)))
                began = time.monotonic()
                if not self.program_packs(began):
                    self.drain(True)
                if self.watchdog is not None and self._writer_running and self.active:
                    finding = self._watch()
                    if finding is not None and self.options.on_deadlock == "stop" and self.end_process is not None:
                        self._writer_running = False
        finally:
            self._writer_done.release()
        if finding is not None and not self._writer_running and self.end_process is not None and not self.closed:
            self.end_process(DEADLOCK_EXIT)

    def program_packs(self, now: float) -> bool:
        """Whether the program packed its own events within the last FLUSH_INTERVAL: then the writer leaves them to it."""
        return now - self.packed_at < FLUSH_INTERVAL

    def _flush_period(self) -> float:
        """The writer's period: longer while the program packs its own events (see BUSY_FLUSH_INTERVAL)."""
        return BUSY_FLUSH_INTERVAL if self.program_packs(time.monotonic()) else FLUSH_INTERVAL

    def _watch(self) -> Finding | None:
        """Look for a deadlock; record and report one when found."""
        assert self.watchdog is not None
        # Not waiting for the lock: a thread blocked on it takes it without the
        # GIL and then holds it until it gets the GIL, which a busy asyncio
        # loop rarely lets go of long enough (and pack_here cannot pack
        # meanwhile). Whoever holds it is packing or writing events: the next
        # wake-up looks again.
        if not self._io_lock.acquire(False):
            return None
        try:
            finding = self.watchdog.check()
        finally:
            self._io_lock.release()
        if finding is None:
            return None
        t = time.monotonic_ns() - self.t0
        self.buffer.append((t, finding.thread, None, Kind.DEADLOCK, None, None, event_data(finding), None))
        self.drain(True)
        if self.options.on_deadlock == "stop":
            tail = f"chronodbg: ended the program (exit status {DEADLOCK_EXIT}); the recording is complete: {self.options.path}\n"
        else:
            tail = "chronodbg: recording goes on (--on-deadlock=continue)\n"
        hint = f"chronodbg: see it with: chronodbg replay {self.options.path} -c 'goto deadlock' -c 'info waits'\n"
        text = "".join(f"chronodbg: {line}\n" if i == 0 else f"{line}\n" for i, line in enumerate(finding.lines))
        os.write(2, (text + tail + hint).encode("utf-8", "replace"))
        return finding

    def start_writer(self) -> None:
        self._wake.acquire(False)
        self._writer_done.acquire()
        self._writer_running = True
        started = _thread.allocate_lock()
        started.acquire()
        if self.options.path is not None:
            self.watchdog = Watchdog(self)
        _thread.start_new_thread(self._writer_loop, (started,))
        # Return only once the thread runs: `_thread._count()` then already
        # counts it, so the count the program sees never changes under it.
        started.acquire()

    @property
    def writer_running(self) -> bool:
        return self._writer_running

    def stop_writer(self) -> None:
        """Stop the writer thread and wait until it has finished its last write."""
        if not self._writer_running:
            return
        self._writer_running = False
        if self._wake.locked():
            self._wake.release()
        self._writer_done.acquire()
        self._writer_done.release()

    def close(self, code: int | None, how: str) -> None:
        """Record the end, write everything and the footer. Idempotent."""
        if self.closed or os.getpid() != self.pid:
            return
        self.closed = True
        self.active = False
        # The writer's last drain comes first: a thread still inside a hook may
        # append after it, and only the one drain below, which holds the exit,
        # can put such events before the exit (see _pack).
        self.stop_writer()
        if _thread.get_ident() == self.writer_ident:
            # The watchdog ends the program from the writer thread, which is
            # no thread of the program's: the end is the main thread's.
            self.buffer.append((time.monotonic_ns() - self.t0, 1, None, Kind.PROCESS_EXIT, None, None, (code, how), None))
        else:
            self.emit(Kind.PROCESS_EXIT, None, (code, how), None)
        self.drain()
        log = self.log
        if log is None:
            return
        with self._io_lock:
            if self.error is None:
                try:
                    log.write_footer(
                        {
                            "events": self.events_written,
                            "kinds": {kinds.NAMES[Kind(k)]: n for k, n in log.kind_counts.items()},
                            "threads": len(self.thread_names),
                            "tasks": self.tasks,
                            "dropped": self.dropped,
                            "exit_code": code,
                            "exit_how": how,
                            "end_ns": time.monotonic_ns() - self.t0,
                        }
                        | self._limits()
                    )
                    self._flush_out()
                except OSError as exc:
                    self.error = exc.strerror or str(exc)
            if self._fd is not None:
                try:
                    os.close(self._fd)
                except OSError:
                    pass
                self._fd = None
        if self.options.announce:
            os.write(2, self.summary_line().encode("utf-8", "replace"))

    def _limits(self) -> dict[str, Any]:
        """The footer's account of --max-size: where recording stopped, or what the ring dropped."""
        limits: dict[str, Any] = {}
        if self.limit_reason is not None:
            limits["stopped"] = {"reason": self.limit_reason, "unrecorded": self.unrecorded}
        if self.ring is not None:
            limits["ring"] = self.ring.header_field() | {"rewrites": self.ring.rewrites}
        return limits

    def summary_line(self) -> str:
        size = self.bytes_on_disk if self.memory is None else len(self.memory)
        dropped = "nothing dropped" if not self.dropped else f"{self.dropped} events dropped"
        if self.limit_reason is not None:
            dropped += f"; stopped at --max-size ({self.unrecorded} buffered events not written, none recorded after)"
        if self.ring is not None and self.ring.dropped_events:
            dropped += f"; the ring dropped the oldest {self.ring.dropped_events} events"
        if self.error:
            dropped += f"; write error: {self.error}"
        return (
            f"chronodbg: recorded {_count(self.events_written, 'event')}, {_count(len(self.thread_names), 'thread')}, "
            f"{_human(size)} to {self.options.path} ({dropped})\n"
        )

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's buffer and never touch its file."""
        if self._gc_paused:
            # Forked by another thread while the writer packed with the GC off.
            self._gc_paused = False
            _gc_enable()
        self.active = False
        self.closed = True
        self.buffer.clear()
        self._writer_running = False
        self._fd = None
        self.log = None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
