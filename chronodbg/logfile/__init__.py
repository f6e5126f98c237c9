"""The .cgr log: a versioned, chunked, checksummed msgpack file (docs/format.md).

The reader's names are imported on first use: the recorder needs only the
writer, and every recorded program pays for what `chronodbg record` imports
before it starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chronodbg.logfile.format import FORMAT_VERSION
from chronodbg.logfile.writer import LogWriter

if TYPE_CHECKING:
    from chronodbg.logfile.reader import Event, ObjectInfo, Recording, Site, ThreadInfo, read_bytes, read_log

__all__ = [
    "FORMAT_VERSION",
    "Event",
    "LogWriter",
    "ObjectInfo",
    "Recording",
    "Site",
    "ThreadInfo",
    "read_bytes",
    "read_log",
]

_FROM_READER = frozenset({"Event", "ObjectInfo", "Recording", "Site", "ThreadInfo", "read_bytes", "read_log"})


def __getattr__(name: str) -> Any:
    if name in _FROM_READER:
        from chronodbg.logfile import reader

        return getattr(reader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
