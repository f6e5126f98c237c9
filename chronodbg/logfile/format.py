"""Byte layout of a .cgr file, shared by the writer and the reader.

    file    := MAGIC frame(HEAD) [SIGN] (frame(CHNK) [SIGN])* [frame(FOOT) [SIGN] TRAILER]
    frame   := tag:4s length:u32le crc32:u32le body[length]   (body is msgpack)
    SIGN    := frame(SIGN) whose body is the 32-byte HMAC-SHA256 of the frame
               before it; present after every frame exactly when the header
               names a `signed` algorithm (see chronodbg.logfile.signing)
    TRAILER := footer_offset:u64le b"CEND"

FORMAT_VERSION changes whenever a reader of the previous version could
misread a new file. Change log:
    1 (2026-11-26): first format: header, chunks with interned strings, sites,
      objects, threads and per-chunk locals snapshots, footer with chunk index.
    2 (2026-11-26): asyncio tasks: a `tasks` definitions section, the event's
      task column filled in, task.* and loop.* kinds, footer field `tasks`.
      A chunk is a 7-array: its locals snapshots leave the definitions for a
      count and a packed blob of their own, decoded when first looked at.
      Version 1 files (5-array chunks, no tasks) are still read.
    3 (2026-11-26): signed recordings: header field `signed` ("hmac-sha256")
      and a SIGN frame after the header, each chunk and the footer, chaining
      their MACs. Unsigned files keep the version 2 layout.
    4 (2026-11-26): size caps (`record --max-size`): a footer may say the
      recording `stopped` early (reason, events not written) and, for a ring,
      what it dropped (`ring`); a ring's header carries `ring` too, and its
      seq 1 is then event `ring.dropped_events + 1` of the run. The layout is
      version 3's.
"""

from __future__ import annotations

import struct

FORMAT_VERSION = 4

MAGIC = b"\x89CGR\r\n\x1a\n"
FRAME = struct.Struct("<4sII")
TRAILER = struct.Struct("<Q4s")
TRAILER_TAG = b"CEND"

TAG_HEADER = b"HEAD"
TAG_CHUNK = b"CHNK"
TAG_FOOTER = b"FOOT"
TAG_SIGN = b"SIGN"

#: Upper bounds the reader enforces; the writer stays far below them.
MAX_HEADER = 1 << 20
MAX_FRAME = 64 << 20
MAX_EVENTS_PER_CHUNK = 1 << 20
#: Events per chunk the writer aims for (a chunk is also cut by time).
CHUNK_EVENTS = 4096

#: Positions inside an event record on disk.
EV_DT, EV_THREAD, EV_TASK, EV_KIND, EV_OBJ, EV_SITE, EV_DATA, EV_LOCALS = range(8)
EVENT_LEN = 8
