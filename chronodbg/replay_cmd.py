"""`chronodbg replay [FILE] [-c CMD]... [--batch FILE] [--json]`: open a recording and replay it.

With `-c` or `--batch` the commands run without a prompt: plain text (each
command echoed after the prompt, then its reply) or, with `--json`, one JSON
object per command. Without them, the interactive prompt opens.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

from chronodbg.errors import ChronoError, UsageError

PROMPT = "(chronodbg) "


def add_parsers(sub: Any) -> None:
    replay = sub.add_parser("replay", help="replay a recording: step, go back, break, inspect")
    replay.add_argument("path", nargs="?", help="the .cgr file (default: the newest in ./recordings)")
    replay.add_argument("-c", dest="commands", action="append", metavar="CMD", help="run CMD (repeatable), no prompt")
    replay.add_argument("--batch", metavar="FILE", help="run the commands in FILE (one per line), no prompt")
    replay.add_argument("--json", action="store_true", help="with -c/--batch: one JSON object per command")
    add_verify_flag(replay)
    replay.set_defaults(run=run_replay)


def add_verify_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verify-key-env",
        metavar="VAR",
        help="check every signature of a signed recording with the key in environment variable VAR",
    )


def verify_key(ns: argparse.Namespace) -> bytes | None:
    """The key named by --verify-key-env, or None without the flag."""
    if ns.verify_key_env is None:
        return None
    from chronodbg.logfile.signing import key_from_env

    return key_from_env(ns.verify_key_env, "--verify-key-env")


def newest_recording(folder: str = "recordings") -> str:
    """The most recently written .cgr under `folder` (not its subfolders)."""
    try:
        names = [os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".cgr")]
    except OSError:
        names = []
    files = [name for name in names if os.path.isfile(name)]
    if not files:
        raise UsageError(f"replay: no recording given and none in ./{folder} (record one: chronodbg record app.py)")
    return max(files, key=os.path.getmtime)


def run_replay(ns: argparse.Namespace, out: TextIO | None = None) -> int:
    from chronodbg.inspect_cmd import open_recording
    from chronodbg.repl.commands import Commands
    from chronodbg.replay.index import Index
    from chronodbg.replay.session import Session

    out = out or sys.stdout
    key = verify_key(ns)
    path = ns.path or newest_recording()
    commands: list[str] = list(ns.commands or [])
    if ns.batch:
        try:
            with open(ns.batch, encoding="utf-8") as f:
                commands += [line.rstrip("\n") for line in f]
        except OSError as exc:
            raise UsageError(f"replay: cannot read {ns.batch}: {exc.strerror or exc}") from None
    if ns.json and not (ns.commands or ns.batch):
        raise UsageError("replay: --json needs -c CMD or --batch FILE")
    interactive = not (ns.commands or ns.batch)
    bar = _ProgressBar(path) if interactive and sys.stderr.isatty() and os.path.getsize(path) > _BAR_FROM else None
    rec = open_recording(path, key, bar.reading if bar else None)
    index = Index(rec, bar.indexing if bar else None)
    if bar:
        bar.done()
    session = Session(index)
    if interactive:
        from chronodbg.repl.app import run_app

        return run_app(Commands(session))
    return run_batch(Commands(session), commands, out, ns.json)


#: Files smaller than this open in well under a second: no bar.
_BAR_FROM = 2 * 2**20


class _ProgressBar:
    """`reading run.cgr [#######.............] 35%` on stderr while a large recording opens."""

    WIDTH = 30

    def __init__(self, path: str) -> None:
        self.path = path
        self.shown = -1

    def _show(self, what: str, fraction: float) -> None:
        percent = int(fraction * 100)
        if percent == self.shown:
            return
        self.shown = percent
        filled = int(fraction * self.WIDTH)
        sys.stderr.write(f"\r{what} {self.path} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {percent:3d}%")
        sys.stderr.flush()

    def reading(self, done: int, total: int) -> None:
        self._show("reading ", done / total / 2 if total else 0.0)

    def indexing(self, done: int, total: int) -> None:
        self._show("indexing", 0.5 + (done / total / 2 if total else 0.5))

    def done(self) -> None:
        sys.stderr.write("\r" + " " * (len(self.path) + self.WIDTH + 20) + "\r")
        sys.stderr.flush()


def run_batch(commands: Any, lines: list[str], out: TextIO, as_json: bool) -> int:
    """Run commands in order; a failed one is reported and the rest still run. Status 1 if any failed."""
    from chronodbg.repl.commands import Quit

    failed = False
    for line in lines:
        if not line.strip() or line.strip().startswith("#"):
            continue
        try:
            reply = commands.run(line)
        except Quit:
            break
        except ChronoError as exc:
            failed = True
            if as_json:
                out.write(json.dumps({"command": line, "ok": False, "error": str(exc)}) + "\n")
            else:
                out.write(f"{PROMPT}{line}\nerror: {exc}\n")
            continue
        if as_json:
            out.write(json.dumps({"command": line, "ok": True, "result": reply.data if reply.data is not None else reply.text}) + "\n")
        else:
            out.write(f"{PROMPT}{line}\n" + (reply.text + "\n" if reply.text else ""))
    out.flush()
    return 1 if failed else 0
