"""Mutation fuzzer for the .cgr reader and the replay engine behind it.

Run for a longer budget than the test suite allows:

    python -m replay_tests.fuzz_reader --seconds 300 --seed 1

Every mutant of a real recording must either read into a Recording that
indexes, replays a few commands and decodes (or refuses with `LogError`)
its lazy locals, or be refused by `read_log` with `LogError`. Anything else
(another exception, or reading that allocates more than `memory_bound`) is a
finding; distinct findings are saved under replay_tests/fuzz_findings/.
`replay_tests/test_fuzz.py` runs the same checks with a small budget.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import random
import sys
import tempfile
import time
import traceback
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack

from chronodbg.errors import ChronoError, LogError
from chronodbg.logfile import format as fmt
from chronodbg.logfile.reader import Recording, read_log

ROOT = Path(__file__).parent.parent
SAMPLES = sorted((ROOT / "recordings" / "samples").glob("*.cgr"))
FINDINGS = Path(__file__).parent / "fuzz_findings"
#: Programs recorded afresh as extra seeds (threads, asyncio, code-level).
SEED_PROGRAMS = ("handoff.py", "aio_prodcons.py")

#: Reading may allocate at most this multiple of the file size, plus MEMORY_CONSTANT.
MEMORY_FACTOR = 40
MEMORY_CONSTANT = 4 << 20
#: Commands run on every mutant that reads; each may raise ChronoError, nothing else.
COMMANDS = ("info threads", "info locks", "step", "continue", "back", "goto 1", "where", "locals", "info tasks", "output")


def memory_bound(size: int) -> int:
    return MEMORY_FACTOR * size + MEMORY_CONSTANT


# -- frames ---------------------------------------------------------------------


def frames(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """(offset, tag, body) of each frame of a well-formed file, footer included."""
    out = []
    offset = len(fmt.MAGIC)
    while offset + fmt.FRAME.size <= len(data):
        tag, length, _ = fmt.FRAME.unpack_from(data, offset)
        out.append((offset, tag, data[offset + fmt.FRAME.size : offset + fmt.FRAME.size + length]))
        offset += fmt.FRAME.size + length
        if tag == fmt.TAG_FOOTER:
            break
    return out


def frame(tag: bytes, body: bytes) -> bytes:
    return fmt.FRAME.pack(tag, len(body), zlib.crc32(body)) + body


def _loads(body: bytes) -> Any:
    return msgpack.unpackb(body, raw=False, use_list=True, strict_map_key=False)


def _dumps(value: Any) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True, unicode_errors="surrogatepass"))


# -- mutations ------------------------------------------------------------------

#: Values of every wrong type, and crafted sizes, put in place of any field.
PALETTE: tuple[Any, ...] = (
    None,
    True,
    -1,
    0,
    2**63 - 1,
    -(2**63),
    10**9,
    1.5,
    float("nan"),
    "",
    "x" * 300,
    "\udcff",
    b"",
    b"\xc1\xc1",
    [],
    [1, 2, 3],
    {},
    {"strings": 1},
    [[1, "a"]],
)

#: msgpack headers claiming a huge array / map / str / bin with nothing after them.
HUGE_CLAIMS = (
    b"\xdd" + (10**9).to_bytes(4, "big"),
    b"\xdf" + (10**9).to_bytes(4, "big"),
    b"\xdb" + (10**9).to_bytes(4, "big"),
    b"\xc6" + (10**9).to_bytes(4, "big"),
    b"\xdc\xff\xff",
    b"\xc7\xff\x05",
)


def _wrong(rng: random.Random) -> Any:
    return copy.deepcopy(rng.choice(PALETTE))


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, value
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _nodes(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, (*path, key))


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return root


def _get(root: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        root = root[key]
    return root


def mutate_tree(value: Any, rng: random.Random, depth: int = 0) -> Any:
    """One structural lie in a decoded msgpack value: a wrong type, a crafted size, a duplicate or a missing entry.

    Packed bytes that are themselves msgpack (a chunk's events and locals) are
    mutated inside, so the lie passes the checksum and the outer decode.
    """
    nodes = list(_nodes(value))
    path, node = rng.choice(nodes)
    choice = rng.random()
    if isinstance(node, bytes) and depth < 2 and choice < 0.6:
        try:
            inner = _loads(node)
        except Exception:
            inner = None
        if inner is not None:
            try:
                return _set(value, path, _dumps(mutate_tree(inner, rng, depth + 1)))
            except (OverflowError, ValueError):
                return value
    if isinstance(node, list) and node and choice < 0.5:
        i = rng.randrange(len(node))
        if rng.random() < 0.5:
            node.insert(i, node[i])  # duplicate (e.g. an interned id defined twice)
        else:
            del node[i]  # missing (e.g. a string a site names)
        return value
    if isinstance(node, dict) and node and choice < 0.5:
        key = rng.choice(list(node))
        if rng.random() < 0.5:
            del node[key]
        else:
            node[key] = _wrong(rng)
        return value
    if isinstance(node, int) and not isinstance(node, bool) and choice < 0.7:
        return _set(value, path, rng.choice((node + 1, node - 1, -node, node + 10**9, node * 2**40)))
    return _set(value, path, _wrong(rng))


def _reframe(data: bytes, index: int, body: bytes, rng: random.Random) -> bytes:
    """Replace frame `index`'s body, with a valid checksum, and drop the footer's trailer if it moved."""
    found = frames(data)
    offset, tag, old = found[index]
    end = offset + fmt.FRAME.size + len(old)
    rest = data[end:]
    if tag != fmt.TAG_FOOTER and len(body) != len(old):
        # The trailer's footer offset would lie too; keep it some of the time anyway.
        rest = rest if rng.random() < 0.5 else rest[: -fmt.TRAILER.size] if len(rest) > fmt.TRAILER.size else rest
    return data[:offset] + frame(tag, body) + rest


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One mutant of a well-formed recording, named by the kind of mutation."""
    found = frames(data)
    how = rng.choice(("truncate-boundary", "truncate", "flip", "flip-reframed", "tree", "tree", "tree", "claim", "splice"))
    if how == "truncate-boundary":
        offset, _, body = rng.choice(found)
        cut = rng.choice((offset, offset + 4, offset + 8, offset + fmt.FRAME.size, offset + fmt.FRAME.size + len(body)))
        cut += rng.choice((-1, 0, 0, 1))
        return how, data[: max(0, cut)]
    if how == "truncate":
        return how, data[: rng.randrange(len(data))]
    if how == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return how, bytes(out)
    index = rng.randrange(len(found))
    _, tag, body = found[index]
    name = tag.decode("ascii", "replace").lower()
    if how == "flip-reframed":
        out = bytearray(body)
        if out:
            for _ in range(rng.randint(1, 3)):
                out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return f"{how}-{name}", _reframe(data, index, bytes(out), rng)
    if how == "claim":
        at = rng.randrange(len(body) + 1)
        claim = rng.choice(HUGE_CLAIMS)
        new = body[:at] + claim + body[at + len(claim) :] if rng.random() < 0.5 else body[:at] + claim
        return f"{how}-{name}", _reframe(data, index, new, rng)
    if how == "splice":
        # A frame repeated or dropped: duplicate chunks, a second header, a gap in seq.
        offset, _, body = found[index]
        whole = data[offset : offset + fmt.FRAME.size + len(body)]
        if rng.random() < 0.5:
            return f"{how}-dup-{name}", data[:offset] + whole + data[offset:]
        return f"{how}-drop-{name}", data[:offset] + data[offset + len(whole) :]
    try:
        tree = _loads(body)
    except Exception:  # not msgpack (a SIGN frame's MAC): a lie in its bytes instead
        return f"{how}-{name}", _reframe(data, index, bytes(rng.randrange(256) for _ in body), rng)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        tree = mutate_tree(tree, rng)
    try:
        new_body = _dumps(tree)
    except (OverflowError, ValueError):  # an integer pushed past 64 bits: claim a huge array instead
        new_body = body + rng.choice(HUGE_CLAIMS)
    return f"{how}-{name}", _reframe(data, index, new_body, rng)


# -- checking -------------------------------------------------------------------


def exercise(rec: Recording) -> None:
    """What a user does with a recording that opened: index, a few commands, look at locals."""
    from chronodbg.repl.commands import Commands
    from chronodbg.replay.index import Index
    from chronodbg.replay.session import Session

    try:
        commands = Commands(Session(Index(rec)))
    except ChronoError:  # e.g. a recording without events cannot be replayed: said in one line
        return
    for line in COMMANDS:
        try:
            commands.run(line)
        except ChronoError:
            pass
    for event in rec.events[:: max(1, len(rec.events) // 50)]:
        try:
            event.locals  # noqa: B018 - decoding is the point
        except LogError:
            pass


def check(data: bytes, path: Path) -> str | None:
    """None if the reader and replay handle `data` properly, else a one-line finding key."""
    path.write_bytes(data)
    tracemalloc.start()
    try:
        rec = read_log(str(path))
    except LogError:
        return None
    except Exception as exc:
        return _finding("read", exc)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    if peak > memory_bound(len(data)):
        return f"read: peak {peak} bytes for a {len(data)}-byte file"
    try:
        exercise(rec)
    except Exception as exc:
        return _finding("replay", exc)
    return None


def _finding(stage: str, exc: BaseException) -> str:
    frame_summary = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{stage}: {type(exc).__name__} at {Path(frame_summary.filename).name}:{frame_summary.lineno} ({exc})"[:300]


def seeds(tmp: Path) -> list[bytes]:
    """The sample recordings, plus a few recorded now from replay_tests/programs."""
    from replay_tests.conftest import PROGRAMS, record

    out = [path.read_bytes() for path in SAMPLES]
    for program in SEED_PROGRAMS:
        run = record(tmp, PROGRAMS / program)
        if run.path.exists():
            out.append(run.path.read_bytes())
    return out


def fuzz(seed_data: list[bytes], rng: random.Random, tmp: Path, keep_going: Callable[[int], bool]) -> tuple[int, dict[str, tuple[str, bytes]]]:
    """Run mutants while keep_going(executions); return the count and {finding: (mutation, mutant)}."""
    findings: dict[str, tuple[str, bytes]] = {}
    executions = 0
    target = tmp / "mutant.cgr"
    while keep_going(executions):
        how, data = mutate(rng.choice(seed_data), rng)
        executions += 1
        key = check(data, target)
        if key is not None and key not in findings:
            findings[key] = (how, data)
    return executions, findings


def save(findings: dict[str, tuple[str, bytes]]) -> list[Path]:
    FINDINGS.mkdir(exist_ok=True)
    known = {path.read_text().strip() for path in FINDINGS.glob("*.txt")}
    saved = []
    for key, (how, data) in findings.items():
        if key in known:  # already reproduced (perhaps renamed): keep the one there
            continue
        name = f"{how}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
        path = FINDINGS / f"{name}.cgr"
        path.write_bytes(data)
        (FINDINGS / f"{name}.txt").write_text(key + "\n")
        saved.append(path)
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-save", action="store_true", help="do not write reproducers")
    ns = parser.parse_args(argv)
    rng = random.Random(ns.seed)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        seed_data = seeds(tmp)
        deadline = time.monotonic() + ns.seconds
        executions, findings = fuzz(seed_data, rng, tmp, lambda _: time.monotonic() < deadline)
    print(f"seeds: {len(seed_data)}  executions: {executions}  distinct findings: {len(findings)}")
    for key, (how, _) in sorted(findings.items()):
        print(f"  [{how}] {key}")
    if findings and not ns.no_save:
        for path in save(findings):
            print(f"  saved {path}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
