"""Recordings crafted to lie: valid checksums around wrong content still give the one-line error."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest

from chronodbg.logfile import format as fmt
from chronodbg.logfile import read_log
from replay_tests.conftest import PROGRAMS, chronodbg, record


def _frames(data: bytes) -> list[tuple[int, bytes, bytes]]:
    out = []
    offset = len(fmt.MAGIC)
    while offset + fmt.FRAME.size <= len(data):
        tag, length, _ = fmt.FRAME.unpack_from(data, offset)
        body = data[offset + fmt.FRAME.size : offset + fmt.FRAME.size + length]
        out.append((offset, tag, body))
        offset += fmt.FRAME.size + length
        if tag == fmt.TAG_FOOTER:
            break
    return out


def _rewrite_first_chunk(data: bytes, change: Callable[[list[Any]], Any]) -> tuple[bytes, int]:
    """Apply `change` to the first chunk's decoded body and re-frame it with a valid checksum."""
    for offset, tag, body in _frames(data):
        if tag == fmt.TAG_CHUNK:
            chunk = list(msgpack.unpackb(body, raw=False, use_list=True, strict_map_key=False))
            changed = change(chunk)
            if changed is not None:
                chunk = changed
            new_body = msgpack.packb(chunk, use_bin_type=True)
            frame = fmt.FRAME.pack(fmt.TAG_CHUNK, len(new_body), zlib.crc32(new_body)) + new_body
            end = offset + fmt.FRAME.size + len(body)
            # Drop the footer: its chunk index would no longer be right.
            return data[:offset] + frame + data[end : end], offset
    raise AssertionError("no chunk")


def _events(chunk: list[Any]) -> list[Any]:
    return list(msgpack.unpackb(chunk[4], raw=False, use_list=True))


def _set_events(chunk: list[Any], events: list[Any]) -> None:
    chunk[4] = msgpack.packb(events)


def _event_field(index: int, value: Any) -> Callable[[list[Any]], None]:
    def change(chunk: list[Any]) -> None:
        events = _events(chunk)
        events[0][index] = value
        _set_events(chunk, events)

    return change


def _count(value: Any) -> Callable[[list[Any]], None]:
    def change(chunk: list[Any]) -> None:
        chunk[1] = value

    return change


def _def(section: str, entry: Any) -> Callable[[list[Any]], None]:
    def change(chunk: list[Any]) -> None:
        chunk[3].setdefault(section, []).append(entry)

    return change


def _huge_array_claim(chunk: list[Any]) -> None:
    # An array header claiming 10**9 elements followed by nothing.
    chunk[4] = b"\xdd" + (10**9).to_bytes(4, "big")


LIES = {
    "negative time step": _event_field(fmt.EV_DT, -5),
    "unknown thread": _event_field(fmt.EV_THREAD, 999),
    "unknown kind": _event_field(fmt.EV_KIND, 4242),
    "kind of wrong type": _event_field(fmt.EV_KIND, "lock.acquire"),
    "unknown object": _event_field(fmt.EV_OBJ, 10**6),
    "unknown site": _event_field(fmt.EV_SITE, -1),
    "data not an array": _event_field(fmt.EV_DATA, {"a": 1}),
    "snapshot out of range": _event_field(fmt.EV_LOCALS, 10**9),
    "event too short": _event_field(slice(0, 8), [1]),
    "count claims a billion": _count(10**9),
    "count of wrong type": _count("many"),
    "duplicate string id": _def("strings", [1, "again"]),
    "site naming a missing string": _def("sites", [10**6, 10**7, 1, 10**8]),
    "object of wrong shape": _def("objects", [1]),
    "thread of wrong types": _def("threads", ["t", 1, 2, 3]),
    "array of a billion": _huge_array_claim,
    "chunk not an array": lambda chunk: {"x": 1},
    "locals count of wrong type": lambda chunk: chunk.__setitem__(5, "many"),
    "locals count past the events": lambda chunk: chunk.__setitem__(5, 10**6),
    "locals blob not bytes": lambda chunk: chunk.__setitem__(6, [1, 2]),
    "chunk of format 1 in a format 2 file": lambda chunk: chunk[:5],
    "wrong first seq": lambda chunk: chunk.__setitem__(0, 7),
}


@pytest.fixture(scope="module")
def good_log(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tmp = tmp_path_factory.mktemp("hostile")
    run = record(tmp, PROGRAMS / "handoff.py")
    return run.path.read_bytes()


@pytest.mark.parametrize("lie", sorted(LIES))
def test_crafted_chunk_is_rejected_with_one_line(tmp_path: Path, good_log: bytes, lie: str) -> None:
    data, offset = _rewrite_first_chunk(good_log, LIES[lie])
    path = tmp_path / "lie.cgr"
    path.write_bytes(data)
    proc = chronodbg("info", str(path))
    err = proc.stderr.decode()
    assert proc.returncode == 2, (lie, err, proc.stdout[:200])
    assert err.startswith(f"chronodbg: {path}: ") and err.endswith(f" at byte {offset}\n") and err.count("\n") == 1
    dump = chronodbg("dump", "--json", str(path))
    assert dump.returncode == 2 and dump.stdout == b""


def test_newer_format_is_refused_clearly(tmp_path: Path, good_log: bytes) -> None:
    frames = _frames(good_log)
    offset, tag, body = frames[0]
    header = msgpack.unpackb(body, raw=False)
    header["format_version"] = fmt.FORMAT_VERSION + 1
    new_body = msgpack.packb(header)
    data = good_log[:offset] + fmt.FRAME.pack(tag, len(new_body), zlib.crc32(new_body)) + new_body
    path = tmp_path / "future.cgr"
    path.write_bytes(data)
    proc = chronodbg("info", str(path))
    assert proc.returncode == 2
    assert b"is newer than this chronodbg reads" in proc.stderr


def test_good_log_still_reads(tmp_path: Path, good_log: bytes) -> None:
    path = tmp_path / "good.cgr"
    path.write_bytes(good_log)
    assert read_log(str(path)).complete


#: Lies inside a chunk's packed locals: the file opens (they are decoded when
#: first looked at), and whatever looks at them gets the one-line error.
LOCALS_LIES: dict[str, Callable[[list[Any]], None]] = {
    "not msgpack": lambda chunk: chunk.__setitem__(6, b"\xc1\xc1"),
    "fewer snapshots than claimed": lambda chunk: chunk.__setitem__(6, msgpack.packb(msgpack.unpackb(chunk[6])[:-1])),
    "a snapshot of wrong shape": lambda chunk: chunk.__setitem__(6, msgpack.packb([[[1, 2, 3]]] * chunk[5])),
}


@pytest.mark.parametrize("lie", sorted(LOCALS_LIES))
def test_crafted_locals_fail_when_looked_at_with_one_line(tmp_path: Path, good_log: bytes, lie: str) -> None:
    data, offset = _rewrite_first_chunk(good_log, LOCALS_LIES[lie])
    path = tmp_path / "lie.cgr"
    path.write_bytes(data)
    assert chronodbg("info", str(path)).returncode == 0
    dump = chronodbg("dump", "--json", str(path))
    err = dump.stderr.decode()
    assert dump.returncode == 2, (lie, err)
    # The rewrite drops the footer, which dump notes first; then the error, in one line.
    note, error = err.splitlines()
    assert note == f"chronodbg: {path}: recovered, no footer"
    assert error.startswith(f"chronodbg: {path}: ") and error.endswith(f"locals at byte {offset}")


def test_names_from_a_recording_never_drive_the_terminal(tmp_path: Path) -> None:
    """A thread or lock named with escape sequences is shown with '?' in their place by dump and replay."""
    program = tmp_path / "escapes.py"
    program.write_text(
        "import threading\n"
        "lock = threading.Lock()\n"
        "def work():\n"
        "    with lock:\n"
        "        pass\n"
        "t = threading.Thread(target=work, name='bell\\x07\\x1b[2Jname')\n"
        "t.start()\n"
        "t.join()\n"
    )
    out = tmp_path / "escapes.cgr"
    assert chronodbg("record", "-q", "-o", str(out), str(program), cwd=tmp_path).returncode == 0
    dump = chronodbg("dump", str(out))
    replay = chronodbg("replay", str(out), "-c", "info threads", "-c", "break lock.acquire", "-c", "continue")
    for proc in (dump, replay):
        assert proc.returncode == 0
        text = proc.stdout.decode()
        assert "\x1b" not in text and "\x07" not in text
        assert "bell??[2J" in text
