# Types of the C extension chronodbg/logfile/_packer.c (see chronodbg/logfile/writer.py).
from collections.abc import Sequence
from typing import Any

MAX_DEPTH: int

def pack_chunk(
    first_seq: int, events: Sequence[tuple[Any, ...]], defs: dict[str, list[Any]], last_t: int, /
) -> tuple[bytes, dict[int, int], int] | None: ...
def packb(obj: object, /) -> bytes | None: ...
