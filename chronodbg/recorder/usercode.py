"""Which source files are the user's code.

Events are attributed to the innermost frame of user code, locals are sampled
there, and objects are recorded only when user code creates them: everything
else (the standard library, site-packages, chronodbg itself) is machinery the
user did not write and would only be noise.
"""

from __future__ import annotations

import fnmatch
import os
import sys
import sysconfig
from collections.abc import Sequence
from types import CodeType

import chronodbg


def _library_roots() -> tuple[str, ...]:
    roots = set()
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if key in paths:
            roots.add(os.path.realpath(paths[key]))
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        roots.add(os.path.realpath(os.path.join(prefix, "lib")))
    for entry in sys.path:
        if entry.rstrip(os.sep).endswith(("site-packages", "dist-packages")):
            roots.add(os.path.realpath(entry))
    roots.add(os.path.realpath(os.path.dirname(chronodbg.__file__)))
    return tuple(sorted(root.rstrip(os.sep) + os.sep for root in roots))


class UserCode:
    """Decides once per file (and caches once per code object) whether code is the user's.

    With include globs, only matching files are user code; exclude globs then
    remove files from whichever set applies. chronodbg's own files never count.
    """

    def __init__(
        self,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        targets: Sequence[str] = (),
        own_files: Sequence[str] = (),
    ) -> None:
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self._roots = _library_roots()
        #: The program the user asked to record, where it lives inside the
        #: standard library or site-packages (`-m test`): a package directory
        #: (ending in os.sep) or a single file. It counts as user code.
        self._targets = tuple(
            os.path.realpath(t).rstrip(os.sep) + (os.sep if t.endswith(os.sep) else "") for t in targets
        )
        self._own = os.path.realpath(os.path.dirname(chronodbg.__file__)) + os.sep
        #: chronodbg's own files outside the package: the `chronodbg` launcher script.
        self._own_files = frozenset(os.path.realpath(f) for f in own_files)
        self._by_file: dict[str, bool] = {}
        #: By id(code): hashing a code object is not cached and costs
        #: microseconds for a long module. `_alive` keeps every code object
        #: seen, so an id is never reused while it is a key here (or in the
        #: recorder's site and locals caches, which rely on the same ids).
        self.by_code: dict[int, bool] = {}
        self._alive: list[CodeType] = []

    def file_is_user(self, filename: str) -> bool:
        known = self._by_file.get(filename)
        if known is None:
            known = self._by_file[filename] = self._decide(filename)
        return known

    def code_is_user(self, code: CodeType) -> bool:
        known = self.by_code.get(id(code))
        if known is None:
            self._alive.append(code)
            known = self.by_code[id(code)] = self.file_is_user(code.co_filename)
        return known

    def _decide(self, filename: str) -> bool:
        if filename.startswith("<frozen ") or filename.startswith("<built-in"):
            return False
        if filename.startswith("<"):
            # <string>, <stdin>: code the user exec'd; globs cannot name it.
            return not self.include
        path = os.path.realpath(filename) if os.path.isabs(filename) else os.path.abspath(filename)
        if path.startswith(self._own) or path in self._own_files:
            return False
        if self.include:
            user = any(fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(filename, pattern) for pattern in self.include)
        else:
            user = not path.startswith(self._roots) or self._in_target(path)
        if user and self.exclude:
            user = not any(fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(filename, pattern) for pattern in self.exclude)
        return user

    def _in_target(self, path: str) -> bool:
        return any(path == t or (t.endswith(os.sep) and path.startswith(t)) for t in self._targets)


def target_root(path: str) -> str:
    """What of the program at `path` counts as user code when it lives in a library root.

    The directory of its top-level package (ending in os.sep) if `path` is
    inside a package, else the file itself; a directory stands for itself.
    """
    if os.path.isdir(path):
        return os.path.realpath(path) + os.sep
    path = os.path.realpath(path)
    directory = os.path.dirname(path)
    if not os.path.exists(os.path.join(directory, "__init__.py")):
        return path
    while os.path.exists(os.path.join(os.path.dirname(directory), "__init__.py")):
        directory = os.path.dirname(directory)
    return directory + os.sep
