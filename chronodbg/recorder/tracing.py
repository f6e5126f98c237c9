"""Which tracer records code-level events (record --level calls|lines), and the interface both offer.

Two backends see the same things and write the same events through
recorder.code_events:

- `sys.monitoring` (Python 3.12+, the default there): events are enabled
  only on user code objects, and everything else is switched off at its
  first event (sys.monitoring.DISABLE), so library code runs at full speed.
  It sees every thread, including those started before recording and with
  `_thread`, and coexists with a program's own sys.settrace (debuggers,
  coverage).
- `settrace` (the only one on 3.11; forced with CHRONODBG_TRACER=settrace):
  sys.settrace in the thread that starts recording and in every thread
  started afterwards through `threading`. Every call of every function
  reaches it, so library-heavy code slows down more, and a program that
  installs its own trace function takes that thread over (see
  tracer_settrace). The recorder's own wrappers of library methods run
  with the thread's tracing paused (patching.untraced), or they would
  pay for it at every event.

At level `sync` there is no tracer at all.
"""

from __future__ import annotations

import os
import sys
from typing import Protocol

from chronodbg.errors import RecordError
from chronodbg.recorder.core import Recorder

LEVELS = ("sync", "calls", "lines")
#: Forces a backend: "monitoring" or "settrace".
ENV_TRACER = "CHRONODBG_TRACER"


class Tracer(Protocol):
    #: What the log header's `tracer` says: "sys.monitoring" or "settrace".
    name: str

    def start(self) -> None:
        """Begin reporting code events of user code (called once the runtime is patched)."""

    def stop(self) -> None:
        """Stop for good and put back what start() changed; safe from any thread, and in a forked child."""


def choose(rec: Recorder, level: str) -> Tracer | None:
    """The tracer for `level` (None at level sync); RecordError if the one asked for cannot run here."""
    if level not in LEVELS:
        raise RecordError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    if level == "sync":
        return None
    forced = os.environ.get(ENV_TRACER, "")
    if forced not in ("", "monitoring", "settrace"):
        raise RecordError(f"{ENV_TRACER} must be 'monitoring' or 'settrace', not {forced!r}")
    if forced == "monitoring" or (not forced and sys.version_info >= (3, 12)):
        if not hasattr(sys, "monitoring"):
            raise RecordError(f"sys.monitoring needs Python 3.12+ ({ENV_TRACER}=monitoring, Python {sys.version.split()[0]})")
        from chronodbg.recorder.tracer_monitoring import MonitoringTracer

        return MonitoringTracer(rec, level)
    from chronodbg.recorder.tracer_settrace import SettraceTracer

    return SettraceTracer(rec, level)
