"""The `chronodbg` command: the only place that turns errors into messages and exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from chronodbg import __version__
from chronodbg.errors import ChronoError

USAGE = """\
chronodbg record [options] app.py [args]   record a program (like `python app.py`)
chronodbg record [options] -m module [args]
chronodbg info run.cgr [--json]            what a recording holds
chronodbg dump run.cgr [filters] [--json]  its events, one per line
chronodbg replay [run.cgr] [-c CMD]...      step through it, forward and back
chronodbg analyze run.cgr [--json]         deadlock risks, contention, lost wake-ups
chronodbg export run.cgr --format perfetto -o trace.json
chronodbg timeline run.cgr -o timeline.html"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chronodbg",
        description="Time-travel replay debugger for concurrent Python.",
        epilog=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"chronodbg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from chronodbg import analyze_cmd, export_cmd, inspect_cmd, record_cmd, replay_cmd, timeline_cmd

    record_cmd.add_parser(sub)
    inspect_cmd.add_parsers(sub)
    replay_cmd.add_parsers(sub)
    analyze_cmd.add_parsers(sub)
    export_cmd.add_parsers(sub)
    timeline_cmd.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] == "record":
            # The program's own arguments must not be parsed as ours.
            from chronodbg import record_cmd

            return record_cmd.main(args[1:])
        parser = build_parser()
        namespace = parser.parse_args(args)
        if namespace.command is None:
            parser.print_help()
            return 2
        return int(namespace.run(namespace))
    except ChronoError as exc:
        _error(str(exc))
        return exc.exit_code
    except BrokenPipeError:
        # `chronodbg dump run.cgr | head`: the reader left; that is not an error.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def _error(message: str) -> None:
    sys.stderr.write(f"chronodbg: {message}\n")
    sys.stderr.flush()

