"""The .cgr log: a versioned, chunked, checksummed msgpack file (docs/format.md)."""

from chronodbg.logfile.format import FORMAT_VERSION
from chronodbg.logfile.reader import Event, ObjectInfo, Recording, Site, ThreadInfo, read_bytes, read_log
from chronodbg.logfile.writer import LogWriter

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
