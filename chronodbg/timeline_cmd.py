"""`chronodbg timeline run.cgr [-o FILE] [--from SEQ] [--to SEQ]`: the swimlanes as one HTML file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from chronodbg.errors import UsageError


def add_parsers(sub: Any) -> None:
    timeline = sub.add_parser(
        "timeline",
        help="write the threads' and tasks' swimlanes as a self-contained HTML page",
        description="Write a self-contained HTML page (no network needed) with one lane per thread and asyncio task, "
        "zoomable, with each event's details and locals on hover and the causal links drawn between lanes.",
    )
    timeline.add_argument("path", help="the .cgr file")
    timeline.add_argument("-o", "--output", metavar="FILE", help="where to write (default: <recording's stem>.timeline.html here)")
    timeline.add_argument("--from", dest="first", type=int, metavar="SEQ", help="first seq to draw (default 1)")
    timeline.add_argument("--to", dest="last", type=int, metavar="SEQ", help="last seq to draw (default: the last)")
    timeline.add_argument("--max-events", type=int, default=None, metavar="N", help="draw at most N events (default 20000)")
    timeline.add_argument("--order", action="store_true", help="space events by their order, not by recorded time")
    timeline.set_defaults(run=run_timeline)


def default_output(path: str) -> str:
    return Path(path).stem + ".timeline.html"


def run_timeline(ns: argparse.Namespace, out: TextIO | None = None) -> int:
    from chronodbg.analysis import timeline_html
    from chronodbg.inspect_cmd import open_recording
    from chronodbg.replay.index import Index

    out = out or sys.stdout
    target = ns.output or default_output(ns.path)
    rec = open_recording(ns.path)
    limit = timeline_html.MAX_EVENTS if ns.max_events is None else ns.max_events
    page = timeline_html.render(Index(rec), ns.first, ns.last, limit, ns.order)
    try:
        # Written whole, then renamed: a reader never sees half a page.
        partial = f"{target}.partial"
        with open(partial, "w", encoding="utf-8") as f:
            f.write(page.html)
        os.replace(partial, target)
    except OSError as exc:
        raise UsageError(f"timeline: cannot write {target}: {exc.strerror or exc}") from None
    drawn = page.note or f"events {page.first}..{page.last} of {page.total}"
    out.write(f"wrote {target}: {page.lanes} lanes, {drawn}\n")
    return 0
