"""What the recorder remembers of each recorded object: its type name, in two bytes.

A long-running program creates locks, events and queues per request, and the
recorder outlives them all without knowing when they die. Object ids are
handed out in sequence, so an array indexed by id holding an index into the
few distinct type names keeps the memory per object at two bytes; the label
every event and local uses (`Lock#12`) is rebuilt when asked for.
"""

from __future__ import annotations

from array import array

#: Type names past this many go unnamed (a program would need tens of
#: thousands of recorded subclasses to get there).
_MAX_NAMES = 0xFFFF


class ObjectTable:
    def __init__(self) -> None:
        # Index 0: not known (yet), or past _MAX_NAMES.
        self._names: list[str] = [""]
        self._index: dict[str, int] = {}
        self._asyncio: set[int] = set()
        # Slot 0 is no object: ids start at 1.
        self._kinds = array("H", [0])

    def add(self, oid: int, type_name: str) -> None:
        """Remember `oid`'s type; safe from any thread (ids may arrive out of order)."""
        index = self._index.get(type_name)
        if index is None:
            if len(self._names) >= _MAX_NAMES:
                index = 0
            else:
                index = self._index[type_name] = len(self._names)
                self._names.append(type_name)
                if type_name.startswith("asyncio."):
                    self._asyncio.add(index)
        kinds = self._kinds
        missing = oid + 1 - len(kinds)
        if missing > 0:
            # Another thread may have grown it meanwhile: growing too far is harmless.
            kinds.extend(array("H", bytes(2 * missing)))
        kinds[oid] = index

    def _slot(self, oid: object) -> int:
        return self._kinds[oid] if type(oid) is int and 0 < oid < len(self._kinds) else 0

    def type_name(self, oid: int) -> str | None:
        return self._names[self._slot(oid)] or None

    def label(self, oid: int) -> str | None:
        """`Lock#12`: as the object's definition in the log names it."""
        name = self._names[self._slot(oid)]
        return f"{name}#{oid}" if name else None

    def get(self, oid: int, default: str | None = None) -> str | None:
        """The label, as a dict of labels would answer."""
        label = self.label(oid)
        return default if label is None else label

    def is_asyncio(self, oid: int | None) -> bool:
        return self._slot(oid) in self._asyncio
