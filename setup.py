"""Builds the optional C parts of the recorder's per-event path; everything else is in pyproject.toml.

- chronodbg.recorder._hotpath: the emit that stamps and buffers every event (see recorder/hotpath.py),
  and the buffered event's type (recorder/_event.h);
- chronodbg.recorder._sampler: local variables' samples, values' summaries, calls and returns
  (see recorder/snapshot.py and recorder/code_events.py), on 3.11 the settrace tracer's trace
  function (see recorder/tracer_settrace.py), on 3.12+ the gate before the exception callbacks
  (see recorder/tracer_monitoring.py);
- chronodbg.recorder._locks: the recorded Lock's and RLock's `with lock:` (see recorder/locks.py);
- chronodbg.recorder._hooks: the loop's call_soon, the walk down a task's awaits, the queues' puts and gets
  (see recorder/aio.py, recorder/queues.py), and the deadlock watchdog's loop over each batch written
  (see recorder/watchdog.py);
- chronodbg.logfile._packer: buffered events into the log's bytes (see logfile/writer.py).

Each is `optional=True`: where one cannot be compiled (no compiler, no Python
headers), setuptools warns and the install goes on without it, and chronodbg
runs the same steps in Python. CHRONODBG_PURE_PYTHON=1 forces Python for all
of them where they were built.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "chronodbg.recorder._hotpath",
            sources=["chronodbg/recorder/_hotpath.c", "chronodbg/recorder/_event.c", "chronodbg/recorder/_gc_count.c"],
            depends=[
                "chronodbg/recorder/_chain.h",
                "chronodbg/recorder/_dict_version.h",
                "chronodbg/recorder/_event.h",
                "chronodbg/recorder/_gc_count.h",
            ],
            optional=True,
        ),
        Extension(
            "chronodbg.recorder._sampler",
            sources=[
                "chronodbg/recorder/_sampler.c",
                "chronodbg/recorder/_fast_locals.c",
                "chronodbg/recorder/_summary.c",
                "chronodbg/recorder/_frame_events.c",
                "chronodbg/recorder/_frame_table.c",
                "chronodbg/recorder/_line_events.c",
                "chronodbg/recorder/_recorded.c",
                "chronodbg/recorder/_settrace_hook.c",
                "chronodbg/recorder/_user_only.c",
                "chronodbg/recorder/_gc_count.c",
            ],
            depends=[
                "chronodbg/recorder/_sampler.h",
                "chronodbg/recorder/_dict_version.h",
                "chronodbg/recorder/_frame_events.h",
                "chronodbg/recorder/_event.h",
                "chronodbg/recorder/_gc_count.h",
            ],
            optional=True,
        ),
        Extension(
            "chronodbg.recorder._hooks",
            sources=["chronodbg/recorder/_hooks.c", "chronodbg/recorder/_watch.c", "chronodbg/recorder/_untraced.c"],
            depends=["chronodbg/recorder/_hooks.h", "chronodbg/recorder/_event.h"],
            optional=True,
        ),
        Extension(
            "chronodbg.recorder._locks",
            sources=["chronodbg/recorder/_locks.c"],
            depends=["chronodbg/recorder/_chain.h"],
            optional=True,
        ),
        Extension(
            "chronodbg.logfile._packer",
            sources=["chronodbg/logfile/_packer.c"],
            depends=["chronodbg/recorder/_event.h"],
            optional=True,
        ),
    ]
)
