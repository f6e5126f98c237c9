"""`chronodbg export`: write a recording as a trace file that other tools open."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from chronodbg.errors import UsageError
from chronodbg.inspect_cmd import open_recording

FORMATS = ("perfetto",)


def add_parsers(sub: Any) -> None:
    export = sub.add_parser(
        "export",
        help="write a recording as a trace for Perfetto UI / chrome://tracing",
        description="Write a recording as Chrome Trace Event JSON: one track per thread and asyncio task, "
        "slices for lock holds, waits and task steps, flow arrows for causal links. Open it at https://ui.perfetto.dev.",
    )
    export.add_argument("path", help="the recording (.cgr)")
    export.add_argument("--format", default="perfetto", metavar="FORMAT", help="perfetto (Chrome Trace Event JSON; the default)")
    export.add_argument("-o", "--output", metavar="FILE", help="where to write (default: <recording>.perfetto.json next to it)")
    export.set_defaults(run=run_export)


def default_output(path: str) -> Path:
    source = Path(path)
    return source.with_name(source.stem + ".perfetto.json")


def run_export(ns: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if ns.format not in FORMATS:
        raise UsageError(f"export: unknown format {ns.format!r} (known: {', '.join(FORMATS)})")
    rec = open_recording(ns.path)
    # Imported here: parsing arguments does not need the exporter. It gets the
    # recording, not an Index: the causal links are all it needs of the replay.
    from chronodbg.analysis.perfetto import perfetto_trace, to_json_text

    trace = perfetto_trace(rec)
    target = Path(ns.output) if ns.output else default_output(ns.path)
    if target.exists() and target.samefile(ns.path):
        raise UsageError(f"export: {target} is the recording itself; name another output with -o")
    try:
        with open(target, "w", encoding="utf-8") as stream:
            stream.write(to_json_text(trace))
    except OSError as exc:
        raise UsageError(f"export: cannot write {target}: {exc.strerror or exc}") from None
    # Intervals, not the zero-length slices that mark linked events.
    slices = sum(1 for entry in trace["traceEvents"] if entry["ph"] == "X" and entry["cat"] != "event")
    flows = trace["metadata"]["flows"]
    out.write(f"wrote {target}: {len(rec.events)} events, {slices} slices, {flows} flows; open it at https://ui.perfetto.dev\n")
    return 0
