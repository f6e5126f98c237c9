"""`chronodbg record`: run a program under the recorder."""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

from chronodbg.errors import UsageError

ENV_INCLUDE = "CHRONODBG_INCLUDE"
ENV_EXCLUDE = "CHRONODBG_EXCLUDE"

HELP = """\
usage: chronodbg record [options] app.py [args...]
       chronodbg record [options] -m module [args...]

Runs the program as `python` would and records its threads, locks, queues,
conditions, semaphores, events, barriers, futures, exceptions and output;
with --level, also the calls and lines of your code.

options:
  -o, --output PATH     where to write (default recordings/<name>-<time>.cgr)
  --include GLOB        files that count as user code (repeatable; also
                        $CHRONODBG_INCLUDE, separated by os.pathsep)
  --exclude GLOB        files that do not (repeatable; $CHRONODBG_EXCLUDE)
  --locals none|events  sample the user frame's locals at each event (default events)
  --level sync|calls|lines
                        sync: the events above (the default); calls: also
                        each call, return and exception of your code;
                        lines: also each line, with the locals it changed
                        ($CHRONODBG_TRACER=monitoring|settrace picks how)
  --lines GLOB          with --level calls: also record lines in the files
                        matching GLOB (repeatable), calls only elsewhere
  --redact REGEX        also redact names matching REGEX
  --no-redact           store values whose names look secret
  --repr                call repr() on objects (runs user code; off by default)
  --on-deadlock stop|continue
                        when threads or tasks deadlock: end the program with
                        exit status 86 after recording it (stop, the default),
                        or record and report it and go on (continue)
  --sign-key-env VAR    sign the recording with HMAC-SHA256 under the key
                        held in environment variable VAR (the key is never
                        written; verify with --verify-key-env VAR)
  --max-size SIZE       cap the file at SIZE bytes (suffix K, M or G: KiB,
                        MiB, GiB; at least 64K): at the cap recording stops
                        and the program goes on, and the log says so
  --ring                with --max-size: keep the newest events instead,
                        dropping the oldest (the file then holds between
                        half the cap and the cap)
  -q, --quiet           no summary line on stderr at exit
  -h, --help            this help
"""

_VALUED = {"-o", "--output", "--include", "--exclude", "--locals", "--level", "--lines", "--redact", "--on-deadlock", "--sign-key-env", "--max-size"}


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("record", help="record a program", add_help=False)
    parser.set_defaults(run=lambda ns: main([]))


def split_argv(argv: Sequence[str]) -> tuple[list[str], str | None, bool, list[str]]:
    """(our options, target, target is a module, the target's arguments)."""
    ours: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            i += 1
            break
        if token == "-m":
            if i + 1 >= len(argv):
                raise UsageError("-m needs a module name")
            return ours, argv[i + 1], True, list(argv[i + 2 :])
        if token.startswith("-m") and len(token) > 2 and not token.startswith("--"):
            return ours, token[2:], True, list(argv[i + 1 :])
        if not token.startswith("-") or token == "-":
            break
        ours.append(token)
        if token in _VALUED:
            if i + 1 >= len(argv):
                raise UsageError(f"{token} needs a value")
            ours.append(argv[i + 1])
            i += 1
        i += 1
    if i >= len(argv):
        return ours, None, False, []
    return ours, argv[i], False, list(argv[i + 1 :])


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"record: {message}")


def _options_parser() -> argparse.ArgumentParser:
    # Its help is HELP above, never argparse's: the formatter only checks each
    # argument's metavar. Given a width, argparse does not import shutil (with
    # bz2 and lzma) into the program to find the terminal's.
    parser = _Parser(prog="chronodbg record", add_help=False, formatter_class=functools.partial(argparse.HelpFormatter, width=80))
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("-o", "--output")
    parser.add_argument("--include", action="append", default=[])
    parser.add_argument("--exclude", action="append", default=[])
    parser.add_argument("--locals", choices=("none", "events"), default="events")
    parser.add_argument("--level", choices=("sync", "calls", "lines"), default="sync")
    parser.add_argument("--lines", action="append", default=[], metavar="GLOB")
    parser.add_argument("--redact")
    parser.add_argument("--no-redact", action="store_true")
    parser.add_argument("--repr", action="store_true")
    parser.add_argument("--on-deadlock", choices=("stop", "continue"), default="stop")
    parser.add_argument("--sign-key-env", metavar="VAR")
    parser.add_argument("--max-size", type=parse_size, metavar="SIZE")
    parser.add_argument("--ring", action="store_true")
    parser.add_argument("-q", "--quiet", action="store_true")
    return parser


_SIZE = re.compile(r"(\d{1,15})\s*(?:([kmg])(?:i?b)?|b)?", re.IGNORECASE | re.ASCII)
_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """`100M` -> 104857600: K, M and G (also KB, KiB, …) are powers of 1024; a bare number is bytes."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 100M)")
    digits, unit = match.groups()
    return int(digits) * (_UNITS[unit.lower()] if unit else 1)


def default_output(stem: str, now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    base = os.path.join("recordings", f"{stem}-{stamp}")
    path = base + ".cgr"
    n = 2
    while os.path.exists(path):
        path = f"{base}-{n}.cgr"
        n += 1
    return path


def _env_globs(name: str) -> list[str]:
    value = os.environ.get(name, "")
    return [glob for glob in value.split(os.pathsep) if glob]


def main(argv: Sequence[str]) -> int:
    ours, target_name, is_module, target_args = split_argv(argv)
    ns = _options_parser().parse_args(ours)
    if ns.help:
        print(HELP, end="")
        return 0
    if target_name is None:
        raise UsageError("record: no program given (chronodbg record app.py, or -m module)")
    sign_key = None
    if ns.sign_key_env is not None:
        from chronodbg.logfile.signing import key_from_env

        sign_key = key_from_env(ns.sign_key_env, "record: --sign-key-env")

    from chronodbg.recorder import control, runner
    from chronodbg.recorder.core import MIN_MAX_SIZE, Options
    from chronodbg.recorder.snapshot import DEFAULT_REDACT
    from chronodbg.recorder.usercode import target_root

    if ns.redact:
        try:
            re.compile(ns.redact)
        except re.error as exc:
            raise UsageError(f"record: --redact: bad regular expression: {exc}") from None
    if ns.ring and ns.max_size is None:
        raise UsageError("record: --ring goes with --max-size SIZE (the cap the ring keeps under)")
    if ns.max_size is not None and ns.max_size < MIN_MAX_SIZE:
        raise UsageError(f"record: --max-size must be at least {MIN_MAX_SIZE >> 10}K")
    if ns.lines and ns.level != "calls":
        raise UsageError("record: --lines GLOB goes with --level calls (--level lines already records every line)")
    target = runner.Target(target_name, target_args, is_module)
    try:
        code = None if is_module else runner.compile_script(target_name)
    except (SyntaxError, ValueError) as exc:
        # As `python app.py` reports it: the program never started, nothing to record.
        exc.__traceback__ = None
        sys.excepthook(type(exc), exc, None)
        return 1
    if is_module:
        origin = _check_module(target_name)
        targets = (target_root(origin),) if origin is not None else ()
    else:
        targets = (target_root(target_name),)
    path = ns.output or default_output(target.stem)
    control.fail_if_unwritable(path)
    redact: str | None
    if ns.no_redact:
        redact = ns.redact
    else:
        redact = DEFAULT_REDACT if not ns.redact else f"{DEFAULT_REDACT}|{ns.redact}"
    options = Options(
        path=path,
        include=tuple(ns.include or _env_globs(ENV_INCLUDE)),
        exclude=tuple(ns.exclude or _env_globs(ENV_EXCLUDE)),
        targets=targets,
        launcher=_launcher(),
        runs_target=True,
        locals=ns.locals,
        redact=redact,
        use_repr=ns.repr,
        program=target_name,
        argv=(target_name, *target_args),
        announce=not ns.quiet,
        on_deadlock=ns.on_deadlock,
        level=ns.level,
        lines=tuple(ns.lines),
        sign_key=sign_key,
        max_size=ns.max_size,
        ring=ns.ring,
    )
    rec = control.start(options)
    runner.run(rec, target, code)
    return 0


def _launcher() -> str | None:
    """The `chronodbg` console script running us, if it is one (its frames are ours)."""
    argv0 = sys.argv[0] if sys.argv else ""
    return argv0 if os.path.basename(argv0) == "chronodbg" and os.path.isfile(argv0) else None


def _check_module(name: str) -> str | None:
    """Raise UsageError unless `name` can be found; return where it lives, if in a file."""
    import importlib.util

    # Searched from the current directory, as `python -m` searches it.
    saved = sys.path[0] if sys.path else None
    if not sys.flags.safe_path and sys.path:
        sys.path[0] = os.getcwd()
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        raise UsageError(f"record: no module named {name!r} ({exc})") from None
    finally:
        if saved is not None:
            sys.path[0] = saved
    if spec is None:
        raise UsageError(f"record: no module named {name!r}")
    if spec.origin is not None and os.path.isabs(spec.origin) and os.path.exists(spec.origin):
        return spec.origin
    locations = list(spec.submodule_search_locations or ())
    # A namespace package has no file of its own: its first directory stands in.
    return locations[0] + os.sep if locations else None
