"""HMAC-SHA256 chain over a recording's frames (format 3, `chronodbg record --sign-key-env`).

Each MAC covers the frame's tag, its position and the MAC before it, so a
chunk that is altered, dropped, moved or added breaks the chain where it
happens: the header's MAC starts the chain, chunk i's MAC covers
(i, previous MAC, body), and the footer's MAC covers (number of chunks,
previous MAC, body). The key itself is never stored anywhere.
"""

from __future__ import annotations

import struct

ALGORITHM = "hmac-sha256"
MAC_SIZE = 32
_POSITION = struct.Struct("<Q")


class Chain:
    """The running MAC chain of one recording, for the writer and the reader alike."""

    __slots__ = ("_key", "last", "chunks")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.last = b""
        #: Chunks signed (or verified) so far.
        self.chunks = 0

    def __repr__(self) -> str:
        return f"Chain(chunks={self.chunks})"

    def _mac(self, tag: bytes, position: int, body: bytes) -> bytes:
        # Imported here: loading OpenSSL costs every `chronodbg record` a few
        # ms, and only signed recordings need it.
        import hashlib
        import hmac

        mac = hmac.new(self._key, tag + _POSITION.pack(position) + self.last, hashlib.sha256)
        mac.update(body)
        return mac.digest()

    def header(self, body: bytes) -> bytes:
        self.last = self._mac(b"HEAD", 0, body)
        return self.last

    def chunk(self, body: bytes) -> bytes:
        self.chunks += 1
        self.last = self._mac(b"CHNK", self.chunks, body)
        return self.last

    def footer(self, body: bytes) -> bytes:
        self.last = self._mac(b"FOOT", self.chunks, body)
        return self.last

    @staticmethod
    def same(expected: bytes, given: bytes) -> bool:
        import hmac

        return hmac.compare_digest(expected, given)


def key_from_env(variable: str, flag: str) -> bytes:
    """The key held in environment variable `variable`; UsageError (never showing a key) if unset or empty."""
    import os

    from chronodbg.errors import UsageError

    value = os.environ.get(variable, "")
    if not value:
        raise UsageError(f"{flag} {variable}: the environment variable {variable} is not set or is empty")
    return os.fsencode(value)
