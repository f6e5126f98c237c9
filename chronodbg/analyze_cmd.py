"""`chronodbg analyze run.cgr [--json] [--top N] [--per-actor N] [--fail-on-findings]`.

Renders analysis.report's `Report`: text in sections (what each finding is,
with the seqs to `goto` in a replay), or the report as one JSON object. The
exit status is 0 whether or not anything was found, unless
`--fail-on-findings` asks for 1 when there are findings (for CI).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from chronodbg.errors import UsageError

if TYPE_CHECKING:  # the analysis itself is imported when the command runs
    from chronodbg.analysis.findings import ActorRef, ObjRef, Report
    from chronodbg.logfile.reader import Site


def add_parsers(sub: Any) -> None:
    analyze = sub.add_parser("analyze", help="deadlock risks, lost wake-ups, contention, leftovers")
    analyze.add_argument("path")
    analyze.add_argument("--json", action="store_true", help="the report as one JSON object")
    analyze.add_argument("--top", type=int, default=10, metavar="N", help="entries per ranked section (default 10)")
    analyze.add_argument("--per-actor", type=int, default=3, metavar="N", help="longest blocked intervals per thread/task (default 3)")
    analyze.add_argument("--fail-on-findings", action="store_true", help="exit with status 1 when there are findings")
    analyze.set_defaults(run=run_analyze)


def run_analyze(ns: argparse.Namespace, out: TextIO | None = None) -> int:
    from chronodbg.analysis.report import analyze
    from chronodbg.inspect_cmd import open_recording

    out = out or sys.stdout
    for option, value in (("--top", ns.top), ("--per-actor", ns.per_actor)):
        if value < 1:
            raise UsageError(f"analyze: {option} must be at least 1, not {value}")
    rec = open_recording(ns.path)
    report = analyze(rec, top=ns.top, per_actor=ns.per_actor)
    if ns.json:
        document = {**dataclasses.asdict(report), "findings": report.findings}
        out.write(json.dumps(document) + "\n")
    else:
        out.write("\n".join(render(report)) + "\n")
    return 1 if ns.fail_on_findings and report.findings else 0


# -- text ------------------------------------------------------------------------


def actor_text(actor: ActorRef | None) -> str:
    """`T2 worker-1`, `t3 fetch (download)`."""
    if actor is None:
        return "?"
    if actor.kind == "thread":
        return f"T{actor.id} {actor.name}" if actor.name else f"T{actor.id}"
    name = f" {actor.name}" if actor.name else ""
    coro = f" ({actor.coro})" if actor.coro else ""
    return f"t{actor.id}{name}{coro}"


def site_text(site: Site | None) -> str:
    return f"{site.file.rsplit('/', 1)[-1]}:{site.line} {site.func}" if site is not None else "-"


def obj_text(obj: ObjRef | None) -> str:
    return obj.label if obj is not None else "-"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def actors_text(actors: list[ActorRef], shown: int = 3) -> str:
    """A few actors, then how many more (a gather of a hundred tasks stays one line)."""
    text = ", ".join(actor_text(a) for a in actors[:shown])
    return text + (f" and {len(actors) - shown} more" if len(actors) > shown else "")


def duration(ns: int) -> str:
    if ns >= 1_000_000_000:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1_000_000:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1_000:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns} ns"


def render(report: Report) -> list[str]:
    ended = f"ended by {report.exit_how} at seq {report.exit_seq}" if report.exit_seq is not None else "no process.exit (the process was killed?)"
    n = report.findings
    lines = [f"{report.path}: {report.events} events, {ended}; {n} finding{'s' if n != 1 else ''}"]
    for title, section in (
        ("Lock-order inversions (possible deadlocks)", _inversions),
        ("Possible lost wake-ups", _lost_wakeups),
        (f"Most contended locks (top {report.top})", _contention),
        (f"Longest blocked intervals ({report.per_actor} per thread/task, top {report.top})", _blocked),
        ("Queue high-water marks", _queues),
        ("Tasks never finished or never awaited", _tasks),
        ("Threads alive at exit", _threads),
    ):
        body = section(report)
        lines += ["", title] + (body or ["  none"])
    return lines


def _inversions(report: Report) -> list[str]:
    lines: list[str] = []
    harmful = [i for i in report.inversions if not i.gates]
    gated = [i for i in report.inversions if i.gates]
    for number, inversion in enumerate(harmful + gated, 1):
        cycle = " -> ".join(obj_text(lock) for lock in [*inversion.locks, inversion.locks[0]])
        gate = f"  (harmless: every edge taken holding {', '.join(obj_text(g) for g in inversion.gates)})" if inversion.gates else ""
        lines.append(f"  {number}. {cycle}{gate}")
        for edge in inversion.edges:
            times = f", {edge.count} times" if edge.count > 1 else ""
            lines.append(
                f"     {actor_text(edge.actor)}: holds {obj_text(edge.held)} (taken at {site_text(edge.held_site)}, seq {edge.held_seq}),"
                f" takes {obj_text(edge.acquired)} at {site_text(edge.site)} (seq {edge.seq}{times})"
            )
    if report.inversions_truncated:
        lines.append("  … the search stopped early: there may be more cycles")
    return lines


def _lost_wakeups(report: Report) -> list[str]:
    lines = []
    for lost in report.lost_wakeups[: report.top]:
        cleared = f", cleared at seq {lost.cleared_seq}" if lost.cleared_seq is not None else ""
        timeout = f" (timeout {lost.timeout})" if lost.timeout is not None else ""
        end = f" at seq {lost.end_seq}" if lost.end_seq is not None else ""
        lines.append(
            f"  {obj_text(lost.obj)}: {lost.signal} at seq {lost.signal_seq} by {actor_text(lost.signaller)}"
            f" ({site_text(lost.signal_site)}) woke nobody{cleared};"
        )
        lines.append(
            f"     then {actor_text(lost.waiter)} waited at seq {lost.wait_seq} ({site_text(lost.wait_site)}){timeout}: {lost.outcome}{end}"
        )
    if len(report.lost_wakeups) > report.top:
        lines.append(f"  … {len(report.lost_wakeups) - report.top} more (--top, or --json for all)")
    return lines


def _contention(report: Report) -> list[str]:
    lines = []
    for lock in report.contention:
        failed = f", {lock.failed} failed" if lock.failed else ""
        line = f"  {obj_text(lock.lock)}: {plural(lock.acquisitions, 'acquisition')}, {lock.waited} waited{failed}, {duration(lock.wait_ns)} waiting in all"
        if lock.max_wait_seq is not None:
            held = f" while {actor_text(lock.max_wait_holder)} held it" if lock.max_wait_holder else ""
            line += f"; longest {duration(lock.max_wait_ns)} at seq {lock.max_wait_seq} ({actor_text(lock.max_wait_actor)}{held})"
        lines.append(line)
        for site in lock.sites[:3]:
            lines.append(f"     {site_text(site.site)}: {plural(site.acquisitions, 'acquisition')}, {site.waited} waited, {duration(site.wait_ns)}")
    return lines


def _blocked(report: Report) -> list[str]:
    lines = []
    for actor in report.blocked:
        lines.append(f"  {actor_text(actor.actor)}: blocked {plural(actor.count, 'time')}, {duration(actor.total_ns)} in all")
        for interval in actor.longest:
            what = interval.what + (f" {obj_text(interval.obj)}" if interval.obj else "") + (f" ({interval.op})" if interval.op else "")
            if interval.targets:
                what += " " + actors_text(interval.targets)
            span = f"seq {interval.start_seq}-{interval.end_seq}" if interval.end_seq is not None else f"seq {interval.start_seq}, never returned"
            lines.append(f"     {duration(interval.duration_ns):>10}  {what}  {span}  {site_text(interval.site)}")
    return lines


def _queues(report: Report) -> list[str]:
    lines = []
    for queue in report.queues:
        bound = {None: "maxsize unknown", 0: "unbounded"}.get(queue.maxsize, f"maxsize {queue.maxsize}")
        at = f" at seq {queue.high_seq} ({site_text(queue.high_site)})" if queue.high_seq is not None else ""
        blocked = f"; blocked: {plural(queue.blocked_puts, 'put')}, {plural(queue.blocked_gets, 'get')}" if queue.blocked_puts or queue.blocked_gets else ""
        lines.append(f"  {obj_text(queue.queue)}: high-water {queue.high} ({bound}){at}; {plural(queue.puts, 'put')}, {plural(queue.gets, 'get')}{blocked}")
    return lines


def _tasks(report: Report) -> list[str]:
    lines = []
    for task in sorted(report.tasks, key=lambda t: not t.finding):
        what = ", ".join(w for w, flag in (("never finished", task.never_finished), ("never awaited", task.never_awaited)) if flag)
        if task.awaits is not None:
            status = f"{task.status}, awaiting {task.awaits}" + (f" {obj_text(task.awaits_obj)}" if task.awaits_obj else "")
            if task.awaits_tasks:
                status += " " + actors_text(task.awaits_tasks)
        else:
            status = task.status
        if task.cancelled_by is not None:
            status += f" by {task.cancelled_by}"
        if task.exception is not None:
            status += f" ({task.exception})"
        created = f"; created at seq {task.created_seq}" if task.created_seq is not None else ""
        by = f" by {actor_text(task.parent)}" if task.parent else ""
        note = "" if task.finding else "  [note: an await after a task ended records nothing]"
        lines.append(
            f"  {actor_text(task.task)}: {what}; {status} at {site_text(task.site)} (seq {task.last_seq})"
            f"{created}{by} ({site_text(task.created_site)}){note}"
        )
    return lines


def _threads(report: Report) -> list[str]:
    lines = []
    for thread in report.threads:
        daemon = " (daemon)" if thread.daemon else ""
        if thread.waiting is not None:
            on = f" on {obj_text(thread.waiting_obj)}" if thread.waiting_obj else ""
            held = f" held by {actor_text(thread.holder)}" if thread.holder else ""
            doing = f"waiting ({thread.waiting}){on}{held} since seq {thread.waiting_since}"
        else:
            doing = "no event of its own" if thread.status == "started" else thread.status
        lines.append(
            f"  {actor_text(thread.thread)}{daemon}: {doing} at {site_text(thread.site)} (seq {thread.last_seq});"
            f" started at seq {thread.started_seq} by {actor_text(thread.started_by)} ({site_text(thread.start_site)})"
        )
    return lines
