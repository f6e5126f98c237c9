"""Run CPython regression-test suites plain and under `chronodbg record`, and compare.

For the interpreter running this script (sys.executable) and each suite, the
suite runs twice, one after the other:

    python -m test SUITE -v                                        # plain
    python -m chronodbg record -q --level L -o TMP.cgr -m test SUITE -v   # recorded, once per --level (default sync)

The `-v` lines `test_name (module.Class.test_name) ... ok|FAIL|ERROR|skipped '...'|
expected failure|unexpected success` are parsed into one outcome per test case
(a sub-test's failure counts against its test case), and a Markdown table is
printed: per suite the plain and recorded results (tests run / passed / failed /
skipped and the regrtest "Tests result:" line), how many test cases differ, and
how many events and objects the recording holds (`chronodbg info --json`).
Every differing test case follows the table with both outcomes.

    python replay_tests/cpython_suites.py                          # test_queue, test_thread
    python replay_tests/cpython_suites.py --suite test_threading --timeout 1800
    python replay_tests/cpython_suites.py --markdown-out /tmp/t.md --log-dir /tmp/logs

Exit status 0 if no test case differs and both runs of every suite have the
same overall result (regrtest result and exit status), 1 otherwise.

The file is not named test_*.py, so pytest does not collect it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_SUITES = ("test_queue", "test_thread")
DEFAULT_TIMEOUT = 900.0

#: `test_x (pkg.mod.Class.test_x)` (3.11+) or `test_x (pkg.mod.Class)` (older),
#: optionally a sub-test description, optionally ` ... <status or test output>`.
HEADER_RE = re.compile(
    r"^(?P<indent>\s*)(?P<name>\w+) \((?P<where>[\w.]+)\)(?P<sub> [\[(].*?)?(?: \.\.\. (?P<rest>.*))?$"
)
#: A status, after the durations some suites print before it under -v ("0.12s ok").
STATUS_RE = re.compile(r"^(?:\d+\.\d+s )*(?P<status>ok|FAIL|ERROR|skipped(?: .*)?|expected failure|unexpected success)$")


def status_of(text: str) -> str | None:
    m = STATUS_RE.match(text)
    return m.group("status") if m else None

RESULT_RE = re.compile(r"^== Tests result: (?P<result>.*?) ==$")
RAN_RE = re.compile(r"^Ran (?P<n>\d+) tests? in ")

#: Outcome categories, worst last (a failed sub-test makes its test case fail).
CATEGORIES = ("passed", "skipped", "failed")


def category(status: str) -> str:
    if status in ("ok", "expected failure"):
        return "passed"
    if status.startswith("skipped"):
        return "skipped"
    return "failed"  # FAIL, ERROR, unexpected success


@dataclass
class SuiteRun:
    """One run of one suite: its exit, its output and what was parsed from it."""

    command: list[str]
    returncode: int | None  # None: killed after the timeout
    seconds: float
    output: str
    timeout: float
    #: test id (module.Class.test_name) -> status text as printed (`ok`, `skipped 'why'`, ...)
    cases: dict[str, str] = field(default_factory=dict)
    tests_result: str | None = None
    ran: int | None = None

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def count(self, cat: str) -> int:
        return sum(1 for status in self.cases.values() if category(status) == cat)

    @property
    def overall(self) -> str:
        """The regrtest verdict and how the process ended, as compared between runs."""
        if self.timed_out:
            return f"TIMEOUT after {self.timeout:g} s"
        verdict = self.tests_result if self.tests_result is not None else "no 'Tests result:' line"
        return f"{verdict} (exit {self.returncode})"

    def summary(self) -> str:
        text = (
            f"{len(self.cases)} run / {self.count('passed')} passed / {self.count('failed')} failed / "
            f"{self.count('skipped')} skipped; {self.overall}; {self.seconds:.1f} s"
        )
        if self.ran is not None and self.ran != len(self.cases):
            text += f" (unittest: Ran {self.ran})"
        return text


@dataclass
class RecordingInfo:
    events: int | None = None
    objects: int | None = None
    complete: bool | None = None
    dropped: int | None = None
    error: str | None = None


@dataclass
class SuiteResult:
    suite: str
    python: str
    plain: SuiteRun
    recorded: SuiteRun
    info: RecordingInfo
    #: (test id, plain status or None if absent, recorded status or None)
    differences: list[tuple[str, str | None, str | None]]

    @property
    def same(self) -> bool:
        return not self.differences and self.plain.overall == self.recorded.overall


def parse_output(lines: Iterable[str]) -> tuple[dict[str, str], str | None, int | None]:
    """Per-test-case statuses, the regrtest result line and unittest's `Ran N tests` count.

    Test output printed between ` ... ` and the status (test_thread does this)
    is skipped: the status is then the first line that is only a status. A
    test with a docstring prints it on the line after its name, followed by
    ` ... status`. A later status for the same test (a re-run) replaces the
    earlier one, except that a failed sub-test is not overwritten by `ok`.
    """
    cases: dict[str, str] = {}
    tests_result: str | None = None
    ran: int | None = None
    pending: str | None = None  # test id whose status has not been printed yet
    pending_is_sub = False

    def settle(test_id: str, status: str, is_sub: bool) -> None:
        old = cases.get(test_id)
        if old is not None and category(old) == "failed" and category(status) != "failed":
            return  # keep a failed sub-test's verdict (its parent prints nothing more)
        if is_sub and category(status) != "failed" and old is not None:
            return
        cases[test_id] = status

    for raw in lines:
        line = raw.rstrip("\r\n")
        m = RESULT_RE.match(line)
        if m:
            tests_result = m.group("result")
            pending = None
            continue
        m = RAN_RE.match(line)
        if m:
            ran = int(m.group("n"))
            pending = None
            continue
        m = HEADER_RE.match(line)
        if m:
            name, where = m.group("name"), m.group("where")
            test_id = where if where.endswith("." + name) else f"{where}.{name}"
            is_sub = m.group("sub") is not None
            rest = m.group("rest")
            status = status_of(rest.strip()) if rest is not None else None
            if status is not None:
                settle(test_id, status, is_sub)
                # after a sub-test's status the test case itself may still print one
                pending, pending_is_sub = (test_id, False) if is_sub else (None, False)
            else:
                pending, pending_is_sub = test_id, is_sub
            continue
        if pending is None:
            continue
        status = status_of(line.strip())
        if status is not None:
            settle(pending, status, pending_is_sub)
            pending = None
        elif " ... " in line:
            status = status_of(line.rsplit(" ... ", 1)[1].strip())
            if status is not None:  # docstring line, then the status
                settle(pending, status, pending_is_sub)
                pending = None
    return cases, tests_result, ran


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_suite(command: list[str], timeout: float, cwd: Path) -> SuiteRun:
    """Run one command in its own session; on timeout kill the whole process group."""
    log_path = cwd / "output.txt"
    start = time.monotonic()
    returncode: int | None
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Started in the background by a shell, we inherit SIGINT ignored,
            # and so would the suite: its _thread.interrupt_main() tests then
            # fail (or spin) plain and recorded alike.
            preexec_fn=_default_sigint,
        )
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            if proc.poll() is None:
                kill_group(proc)
    seconds = time.monotonic() - start
    output = log_path.read_text(encoding="utf-8", errors="replace")
    cases, tests_result, ran = parse_output(output.splitlines())
    return SuiteRun(command, returncode, seconds, output, timeout, cases, tests_result, ran)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def recording_info(path: Path) -> RecordingInfo:
    if not path.exists():
        return RecordingInfo(error="no recording written")
    proc = subprocess.run(
        [sys.executable, "-m", "chronodbg", "info", "--json", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        return RecordingInfo(error=f"chronodbg info exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    try:
        data: Any = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        return RecordingInfo(error=f"chronodbg info printed no JSON: {exc}")
    if not isinstance(data, dict):
        return RecordingInfo(error="chronodbg info printed no JSON object")
    events = data.get("events")
    objects = data.get("objects")
    complete = data.get("complete")
    dropped = data.get("dropped")
    return RecordingInfo(
        events=events if isinstance(events, int) else None,
        objects=len(objects) if isinstance(objects, list) else None,
        complete=complete if isinstance(complete, bool) else None,
        dropped=dropped if isinstance(dropped, int) else None,
    )


def compare(plain: SuiteRun, recorded: SuiteRun) -> list[tuple[str, str | None, str | None]]:
    diffs: list[tuple[str, str | None, str | None]] = []
    for test_id in sorted(plain.cases.keys() | recorded.cases.keys()):
        a, b = plain.cases.get(test_id), recorded.cases.get(test_id)
        if a is None or b is None or category(a) != category(b):
            diffs.append((test_id, a, b))
    return diffs


def check_suite(suite: str, timeout: float, log_dir: Path | None, levels: Sequence[str] = ("sync",)) -> list[SuiteResult]:
    """One plain run of `suite`, then one recorded run per level, each compared with the plain one."""
    python = sys.executable
    results: list[SuiteResult] = []
    with tempfile.TemporaryDirectory(prefix=f"cpython-suites-{suite}-") as tmp:
        plain_dir = Path(tmp) / "plain"
        plain_dir.mkdir()
        say(f"{suite}: plain run ...")
        plain = run_suite([python, "-m", "test", suite, "-v"], timeout, plain_dir)
        say(f"{suite}: plain: {plain.summary()}")
        for level in levels:
            rec_dir = Path(tmp) / f"recorded-{level}"
            rec_dir.mkdir()
            cgr = rec_dir / f"{suite}.cgr"
            say(f"{suite}: recorded run at level {level} ...")
            recorded = run_suite(
                [python, "-m", "chronodbg", "record", "-q", "--level", level, "-o", str(cgr), "-m", "test", suite, "-v"],
                timeout,
                rec_dir,
            )
            say(f"{suite}: recorded ({level}): {recorded.summary()}")
            info = recording_info(cgr)
            cgr.unlink(missing_ok=True)
            if log_dir is not None:
                log_dir.mkdir(parents=True, exist_ok=True)
                tag = f"{suite}-{platform.python_version()}"
                (log_dir / f"{tag}-plain.txt").write_text(plain.output, encoding="utf-8")
                (log_dir / f"{tag}-{level}-recorded.txt").write_text(recorded.output, encoding="utf-8")
            # The level shows beside the Python: the table's rows then say what was recorded.
            version = platform.python_version() + ("" if level == "sync" else f", --level {level}")
            results.append(SuiteResult(suite, version, plain, recorded, info, compare(plain, recorded)))
    return results


def say(text: str) -> None:
    print(f"[cpython_suites] {text}", file=sys.stderr, flush=True)


def cell(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(results: Sequence[SuiteResult]) -> str:
    lines = [
        "| Suite | Python | Plain (run / passed / failed / skipped; result) | Recorded (same) "
        "| Differing cases | Events recorded | Objects recorded |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for r in results:
        diff = str(len(r.differences))
        if r.plain.overall != r.recorded.overall:
            diff += " (overall result differs)"
        lines.append(
            f"| {r.suite} | {r.python} | {escape(r.plain.summary())} | {escape(r.recorded.summary())} "
            f"| {diff} | {cell(r.info.events)} | {cell(r.info.objects)} |"
        )
    notes: list[str] = []
    for r in results:
        if r.info.error is not None:
            notes.append(f"- {r.suite} ({r.python}): recording not read: {r.info.error}")
        elif r.info.complete is False or (r.info.dropped or 0) > 0:
            notes.append(f"- {r.suite} ({r.python}): recording complete={r.info.complete}, dropped={r.info.dropped}")
        for test_id, a, b in r.differences:
            notes.append(
                f"- {r.suite} ({r.python}): `{test_id}`: plain `{a or 'not reported'}`, "
                f"recorded `{b or 'not reported'}`"
            )
    lines.append("")
    if notes:
        lines.append("Differences and notes:")
        lines.append("")
        lines.extend(notes)
    else:
        lines.append("No test case differs between the plain and the recorded runs.")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run CPython test suites plain and under `chronodbg record`, and compare per test case."
    )
    parser.add_argument(
        "--suite",
        action="append",
        dest="suites",
        metavar="NAME",
        help=f"regrtest suite to run (repeatable; default: {' '.join(DEFAULT_SUITES)})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds allowed for each run (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--level",
        action="append",
        dest="levels",
        choices=("sync", "calls", "lines"),
        help="record at this level (repeatable, one plain run serves all; default sync; calls and lines also trace the suite's code)",
    )
    parser.add_argument("--markdown-out", type=Path, metavar="PATH", help="also write the table to PATH")
    parser.add_argument("--log-dir", type=Path, metavar="DIR", help="keep both runs' output in DIR")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    suites: list[str] = args.suites or list(DEFAULT_SUITES)
    timeout: float = args.timeout
    levels: list[str] = args.levels or ["sync"]
    results = [result for suite in suites for result in check_suite(suite, timeout, args.log_dir, levels)]
    text = markdown(results)
    print(text, end="")
    if args.markdown_out is not None:
        out: Path = args.markdown_out
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    return 0 if all(r.same for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
