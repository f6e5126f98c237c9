"""Starting and stopping a recording in this process, and ending it durably.

Whatever way the process ends, the log gets its footer: normal exit and
uncaught exceptions through an atexit handler registered before the
program's own (so it runs last, after non-daemon threads were joined),
`os._exit` through a wrapper, SIGTERM/SIGHUP through a handler installed
only where the default one was (the program still sees SIG_DFL there). The
writer thread blocks asynchronous signals, so they reach the program's
threads as they would unrecorded. SIGKILL cannot be caught: the writer thread
(or a busy asyncio loop, which writes its own events: Recorder.pack_here) has
already put all but the last moments on disk (the last FLUSH_INTERVAL, plus
however long the writer waits for the GIL and a CPU and packs; see
replay_tests/kill_runs.py).
"""

from __future__ import annotations

import _thread
import atexit
import os
import signal
import sys
import threading
from typing import Any

from chronodbg.errors import RecordError
from chronodbg.recorder import locks, output, processes, queues, sync, threads
from chronodbg.recorder.core import MIN_MAX_SIZE, Options, Recorder
from chronodbg.recorder.patching import Patches
from chronodbg.recorder.tracing import Tracer, choose

_current: tuple[Recorder, Patches, Tracer | None] | None = None
_fork_hooks_installed = False
_real_exit = os._exit
_real_signal = signal.signal
#: Signals whose default action kills: the log is finished first, then they are re-raised.
_FINISHING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
#: Signals the kernel raises in the thread that faulted: never blocked in the writer.
_FAULT_SIGNALS = {
    getattr(signal, name) for name in ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP", "SIGSYS", "SIGABRT") if hasattr(signal, name)
}


def current() -> Recorder | None:
    return _current[0] if _current is not None else None


def start(options: Options) -> Recorder:
    """Begin recording this process; raise RecordError if one is already running."""
    global _current
    if _current is not None:
        raise RecordError("a recording is already running in this process")
    if options.on_deadlock not in ("stop", "continue"):
        raise RecordError(f"on_deadlock must be 'stop' or 'continue', not {options.on_deadlock!r}")
    if options.max_size is not None and options.max_size < MIN_MAX_SIZE:
        raise RecordError(f"max_size must be at least {MIN_MAX_SIZE} bytes, not {options.max_size}")
    if options.ring and (options.max_size is None or options.path is None):
        raise RecordError("ring needs a file and a max_size to keep under")
    rec = Recorder(options)
    tracer = choose(rec, options.level)
    rec.tracer_name = tracer.name if tracer is not None else None
    try:
        rec.open()
    except BaseException:
        if tracer is not None:
            tracer.stop()
        raise
    patches = Patches()
    locks.install(rec, patches)
    threads.install(rec, patches)
    sync.install(rec, patches)
    queues.install(rec, patches)
    output.install(rec, patches)
    _install_asyncio(rec, patches)
    main_ident = threading.main_thread().ident or _thread.get_ident()
    rec.register_thread(main_ident, threading.main_thread().name)
    for ident, thread in list(threading._active.items()):  # type: ignore[attr-defined]
        if ident != main_ident:
            rec.register_thread(ident, thread.name)
    _current = (rec, patches, tracer)
    _install_fork_hook()
    rec.active = True
    if options.path is not None:
        _start_writer_without_signals(rec)
        _install_process_hooks(rec, patches)
    if tracer is not None:
        # Stopping early (a full disk, --max-size) stops the tracer too.
        rec.stop_hooks = tracer.stop
        # Last: chronodbg's own start-up is no user code, but the sooner the
        # tracer runs the more calls pay for it.
        tracer.start()
    return rec


def stop(code: int | None = None, how: str = "stop") -> Recorder | None:
    """Stop recording, restore the runtime and finish the log."""
    global _current
    if _current is None:
        return None
    rec, patches, tracer = _current
    _current = None
    rec.active = False
    if tracer is not None:
        tracer.stop()
    patches.restore()
    rec.close(code, how)
    return rec


def _install_asyncio(rec: Recorder, patches: Patches) -> None:
    """Patch asyncio now if the program has it, else once it is imported: chronodbg never imports it itself."""

    def patch(module: Any) -> None:
        from chronodbg.recorder import aio, aio_links, aio_sync

        tracker = aio.TaskTracker(rec, module)
        calls = aio_links.install(rec, patches, tracker, module)
        aio.install(rec, patches, tracker, module, calls)
        aio_sync.install(rec, patches, tracker, module)

    module = sys.modules.get("asyncio")
    if module is not None and hasattr(module, "tasks"):
        patch(module)
    patches.after_import("asyncio", lambda: rec.active, patch)


def _at_exit() -> None:
    rec = current()
    if rec is None:
        return
    # Under `chronodbg record` the runner saw how the program ended; a library
    # recording left running only knows the interpreter is exiting.
    stop(rec.exit_code, rec.exit_how)
    if rec.exit_how == "KeyboardInterrupt":
        # Python ends a program killed by Ctrl-C by re-raising SIGINT after
        # finalising; as atexit runs last, doing it here keeps the status.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        _real_signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)


def _install_fork_hook() -> None:
    """A forked child stops recording, in memory as to a file (os.register_at_fork has no undo)."""
    global _fork_hooks_installed
    if not _fork_hooks_installed:
        _fork_hooks_installed = True
        os.register_at_fork(after_in_child=_after_fork_child)


def _start_writer_without_signals(rec: Recorder) -> None:
    """Start the writer thread with every asynchronous signal blocked in it (it inherits this thread's mask).

    The kernel hands a process-directed signal to any thread that does not
    block it. A program that blocks SIGTERM in its own threads to take it
    with `signal.sigwait()` would otherwise lose it to the writer, and
    Python handlers run in the main thread only, so the writer has no use
    for signals. Faults (SIGSEGV, ...) stay unblocked: blocked, they would
    kill the process without faulthandler's report.
    """
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:
        rec.start_writer()
        return
    previous = mask(signal.SIG_BLOCK, signal.valid_signals() - _FAULT_SIGNALS)
    try:
        rec.start_writer()
    finally:
        mask(signal.SIG_SETMASK, previous)


def _install_process_hooks(rec: Recorder, patches: Patches) -> None:
    atexit.register(_at_exit)

    def _exit(code: int) -> Any:
        if current() is rec and os.getpid() == rec.pid:
            stop(code, "os._exit")
        _real_exit(code)

    patches.set(os, "_exit", _exit)
    rec.end_process = _ender(rec)

    if not rec.options.runs_target:
        rec.exit_how = "interpreter exit"
        previous_hook = sys.excepthook

        def excepthook(kind: type[BaseException], exc: BaseException, tb: Any) -> Any:
            # An uncaught exception ends a program recorded through the library.
            exc.__traceback__ = tb
            threads.record_uncaught(rec, exc)
            if current() is rec:
                threads.exit_by(rec, exc)
            return previous_hook(kind, exc, exc.__traceback__)

        patches.set(sys, "excepthook", excepthook)

    if threading.current_thread() is threading.main_thread():
        finishing = frozenset(signum for signum in _FINISHING_SIGNALS if signal.getsignal(signum) is signal.SIG_DFL)
        for signum in finishing:
            patches.set_signal(signum, _signal_handler)
        if finishing:
            _hide_signal_handler(patches, finishing)

    processes.install(rec, patches, _recorder_threads)


def _ender(rec: Recorder) -> Any:
    """What ends the program when the watchdog found a deadlock (called on the writer thread)."""

    def end(code: int) -> None:
        try:
            if current() is rec:
                stop(code, "deadlock")
            _flush_streams()
        finally:
            _real_exit(code)

    return end


def _flush_streams() -> None:
    """The program's buffered output, unless a stuck thread holds a stream (then its flush never returns)."""
    done = _thread.allocate_lock()
    done.acquire()

    def flush() -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        done.release()

    try:
        _thread.start_new_thread(flush, ())
    except RuntimeError:
        # At interpreter exit (3.12+ starts no new threads then) the main
        # thread has finished: the stuck ones hold no stream in a wait.
        flush()
    done.acquire(timeout=1.0)


def _signal_handler(signum: int, frame: Any) -> None:
    rec = current()
    if rec is not None and rec.draining_here():
        # The signal came while this thread writes the log (its buffer was
        # full): finishing needs the lock it holds, so finish once it is out.
        rec.after_drain = (_thread.get_ident(), lambda: _signal_handler(signum, None))
        return
    if rec is not None:
        # The status a shell reports for a process killed by the signal.
        stop(128 + signum, signal.Signals(signum).name)
    _real_signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _hide_signal_handler(patches: Patches, finishing: frozenset[int]) -> None:
    """The program sees SIG_DFL where `_signal_handler` stands in for it, as it would unrecorded.

    A handler of the program's that chains to what `signal.signal` returned
    (`if callable(previous): previous(signum, frame)`) must not call ours:
    that would end the process before the rest of its handler ran. Setting
    SIG_DFL back on a signal in `finishing` puts ours back, so the log still
    gets finished.
    """
    real_getsignal = signal.getsignal

    def getsignal(signalnum: int) -> Any:
        handler = real_getsignal(signalnum)
        return signal.SIG_DFL if handler is _signal_handler else handler

    def signal_(signalnum: int, handler: Any) -> Any:
        # Exact types only: a program's object is never hashed or compared.
        if (
            type(signalnum) in (int, signal.Signals)
            and signalnum in finishing
            and type(handler) in (int, signal.Handlers)
            and handler == signal.SIG_DFL
            and current() is not None
        ):
            handler = _signal_handler
        previous = _real_signal(signalnum, handler)
        return signal.SIG_DFL if previous is _signal_handler else previous

    real_interrupt_main = _thread.interrupt_main

    def interrupt_main(signum: int = signal.SIGINT) -> None:
        # CPython does nothing for a signal at SIG_DFL, which is what the
        # program sees here: simulating it would run ours and end the process.
        if type(signum) in (int, signal.Signals) and signum in finishing and real_getsignal(signum) is _signal_handler:
            return None
        return real_interrupt_main(signum)  # type: ignore[arg-type]  # typeshed narrows it to Signals; ints are accepted

    for fake, real in ((getsignal, real_getsignal), (signal_, _real_signal)):
        fake.__name__ = fake.__qualname__ = real.__name__
        fake.__doc__ = real.__doc__
        fake.__module__ = real.__module__
        patches.set(signal, real.__name__, fake)
    interrupt_main.__doc__ = real_interrupt_main.__doc__
    interrupt_main.__module__ = real_interrupt_main.__module__
    patches.set(_thread, "interrupt_main", interrupt_main)


def _recorder_threads() -> int:
    """The recorder's threads in this process: the writer, while it runs.

    Since 3.12 fork() warns when the process has other threads. The writer
    keeps running across a fork (stopping it would change `_thread._count()`
    under programs that wait for it), so it is left out of the count: see
    recorder.processes.
    """
    rec = current()
    return 1 if rec is not None and rec.writer_running else 0


def _after_fork_child() -> None:
    """In a forked child: stop recording at once, leave the parent's log alone, run unrecorded."""
    global _current
    if _current is not None:
        rec, patches, tracer = _current
        rec.forget_after_fork()
        if tracer is not None:
            tracer.stop()
        patches.restore()
        _current = None


def fail_if_unwritable(path: str) -> None:
    """Raise RecordError now, before the program runs, if `path` cannot be created."""
    parent = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise RecordError(f"cannot write {path}: is a directory")
    probe = parent
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RecordError(f"cannot write {path}: permission denied")
