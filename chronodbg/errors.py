"""One exception base for everything chronodbg reports to a user.

Only `cli.main()` turns these into a one-line message and an exit code; the
engine and the recorder raise them and never print.
"""

from __future__ import annotations


class ChronoError(Exception):
    """Base of every error chronodbg reports; `exit_code` is what the CLI returns."""

    exit_code = 1


class UsageError(ChronoError):
    """The command line or an argument is wrong."""

    exit_code = 2


class LogError(ChronoError):
    """A recording cannot be read: missing, truncated, corrupt or hostile."""

    exit_code = 2

    def __init__(self, path: str, what: str, offset: int | None = None) -> None:
        self.path = path
        self.what = what
        self.offset = offset
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{path}: {what}{where}")


class SignatureError(LogError):
    """A recording is not signed, or not with this key, or was altered after it was signed."""

    exit_code = 3


class RecordError(ChronoError):
    """Recording could not start (unwritable output, bad option, missing target)."""

    exit_code = 2
