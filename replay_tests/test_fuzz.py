"""Hostile input on a budget: mutated recordings through the reader, replay and CLI; junk through the commands.

The mutation engine and the per-mutant check live in `replay_tests/fuzz_reader.py`,
which also runs them for longer (`python -m replay_tests.fuzz_reader --seconds 300`).
Budgets here keep the file well under 30 s.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronodbg.errors import ChronoError, LogError
from chronodbg.logfile import format as fmt
from chronodbg.logfile import read_log
from chronodbg.repl.commands import Commands, Quit
from chronodbg.replay.index import Index
from chronodbg.replay.session import Session
from replay_tests.conftest import chronodbg
from replay_tests.fuzz_reader import FINDINGS, HUGE_CLAIMS, PALETTE, SAMPLES, check, frame, frames, mutate

SEEDS = {path.name: path.read_bytes() for path in SAMPLES}
def _ok(finding: str | None) -> bool:
    return finding is None


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


# -- reader: random mutants ---------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(sorted(SEEDS)), rng=st.randoms(use_true_random=False))
def test_mutants_read_or_fail_with_log_error(seed: str, rng: random.Random) -> None:
    how, data = mutate(SEEDS[seed], rng)
    with tempfile.TemporaryDirectory() as name:
        finding = check(data, Path(name) / "mutant.cgr")
    assert _ok(finding), (how, finding)


# -- reader: every kind of boundary and field ---------------------------------------


def _cuts(data: bytes) -> list[int]:
    cuts = {0, 1, len(fmt.MAGIC) - 1, len(fmt.MAGIC), len(data) - 1, len(data) - fmt.TRAILER.size}
    for offset, _, body in frames(data):
        for at in (offset, offset + 4, offset + 8, offset + fmt.FRAME.size, offset + fmt.FRAME.size + len(body)):
            cuts.update((at - 1, at, at + 1))
    return sorted(cut for cut in cuts if 0 <= cut < len(data))


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_truncated_at_every_boundary(seed: str, scratch: Path) -> None:
    data = SEEDS[seed]
    for cut in _cuts(data):
        assert check(data[:cut], scratch / "cut.cgr") is None, cut


def _reframed(data: bytes, index: int, body: bytes) -> bytes:
    offset, tag, old = frames(data)[index]
    return data[:offset] + frame(tag, body) + data[offset + fmt.FRAME.size + len(old) :]


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_wrong_type_in_every_header_and_footer_field(seed: str, scratch: Path) -> None:
    data = SEEDS[seed]
    found = frames(data)
    for index in [i for i, (_, tag, _) in enumerate(found) if tag in (fmt.TAG_HEADER, fmt.TAG_FOOTER)]:
        table = msgpack.unpackb(found[index][2], raw=False, strict_map_key=False)
        for key in table:
            for wrong in PALETTE:
                body = msgpack.packb({**table, key: wrong}, unicode_errors="surrogatepass")
                finding = check(_reframed(data, index, body), scratch / "field.cgr")
                assert _ok(finding), (key, wrong, finding)


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_huge_claims_in_every_frame(seed: str, scratch: Path) -> None:
    data = SEEDS[seed]
    for index, (_, _, body) in enumerate(frames(data)[:4]):
        for claim in HUGE_CLAIMS:
            for at in (0, 1, len(body) // 2, len(body)):
                mutant = _reframed(data, index, body[:at] + claim + body[at + len(claim) :])
                assert check(mutant, scratch / "claim.cgr") is None, (index, claim, at)


def test_saved_reproducers_are_fixed(scratch: Path) -> None:
    """Each finding saved under fuzz_findings/ (its .txt says what it was) now reads as an error or a recording."""
    paths = sorted(FINDINGS.glob("*.cgr"))
    assert paths
    for path in paths:
        assert check(path.read_bytes(), scratch / path.name) is None, (path.name, path.with_suffix(".txt").read_text())


# -- CLI on mutants ------------------------------------------------------------------


def test_cli_on_mutants_never_shows_a_traceback(tmp_path: Path) -> None:
    rng = random.Random(11)
    mutants = [("truncated header", SEEDS[sorted(SEEDS)[0]][:20])]
    while len(mutants) < 6:
        how, data = mutate(SEEDS[rng.choice(sorted(SEEDS))], rng)
        mutants.append((how, data))
    for n, (how, data) in enumerate(mutants):
        path = tmp_path / f"m{n}.cgr"
        path.write_bytes(data)
        try:
            read_log(str(path))
            readable = True
        except LogError:
            readable = False
        for args in (("info",), ("dump", "--json"), ("replay", "-c", "info threads", "-c", "step", "-c", "locals")):
            proc = chronodbg(*args, str(path))
            assert b"Traceback" not in proc.stderr, (how, args, proc.stderr.decode()[-2000:])
            assert proc.returncode in (0, 1, 2), (how, args, proc.returncode)
            if not readable:
                assert proc.returncode == 2, (how, args)


# -- commands and conditions ---------------------------------------------------------


@pytest.fixture(scope="module")
def commands() -> Commands:
    rec = read_log(str(next(path for path in SAMPLES if path.name.startswith("two_locks"))))
    return Commands(Session(Index(rec)))


def _survives(commands: Commands, line: str) -> None:
    try:
        reply = commands.run(line)
        assert isinstance(reply.text, str)
    except ChronoError as exc:
        assert "\n" not in str(exc).strip(), (line[:80], str(exc)[:200])
    except Quit:
        pass
    assert commands.run("info threads").text  # the session is still usable


CANARY_ATTEMPTS = (
    "print __import__('os').system('touch {canary}')",
    "print open('{canary}', 'w')",
    "break lock.acquire if __import__('os').system('touch {canary}') == 0",
    "break lock.acquire if open('{canary}', 'w')",
    "when open('{canary}', 'w')",
    "watch open('{canary}', 'w')",
    "print [open('{canary}', 'w') for _ in (1,)]",
    "print (lambda: open('{canary}', 'w'))()",
    "print (f := open('{canary}', 'w'))",
    "print f\"{{open('{canary}', 'w')}}\"",
    "print ().__class__.__bases__[0].__subclasses__()",
    "print x.__class__",
    "print eval(\"open('{canary}', 'w')\")",
    "print exec(\"open('{canary}', 'w')\")",
    "print getattr(__builtins__, 'open')('{canary}', 'w')",
)

HOSTILE = (
    "print " + "(" * 5000 + "1" + ")" * 5000,
    "print " + "-" * 100_000 + "1",
    "print " + "+".join(["1"] * 50_000),
    "print " + "[" * 300 + "]" * 300,
    "print " + "9" * 10_000,
    "print 10 ** 10 ** 10",
    "print 2 ** 100000 * 'x'",
    "print 'x' * 10 ** 12",
    "print [1] * 10 ** 12",
    "goto " + "9" * 5000,
    "goto -" + "9" * 30,
    "step " + "9" * 5000,
    "step -99999999999999999999",
    "thread 99999999999999999999999",
    "task -1",
    "break " + "x" * 100_000,
    "break lock.acquire if " + "a and " * 20_000 + "a",
    "delete 99999999999999999999",
    "info " + "\x00\udcff" * 100,
    "\u202e\u0000\ufeff print 1",
    "p \u00e9\u00e9 + \U0001f600",
    "print nonexistent_name",
    "print 1 if 1 else 2",
    "print {**{}}",
    "print *x",
    "print await x",
    "print yield 1",
    "print (yield)",
    "print 1; import os",
    "x" * 1_000_000,
    "help " + "x" * 10_000,
    "list 1e308",
    "timeline nan",
    "focus \t\t",
    "goto \u00b2",
    "step \u0663",
    "delete \u00b2",
    "timeline width=999999999999999",
    "goto @1e308s",
    "goto +1e400s",
)


def test_code_in_conditions_is_never_executed(commands: Commands, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    for attempt in CANARY_ATTEMPTS:
        line = attempt.format(canary=canary)
        _survives(commands, line)
        _survives(commands, "continue")
        _survives(commands, "reverse-continue")
        assert not canary.exists(), line


@pytest.mark.parametrize("line", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_command_lines(commands: Commands, line: str) -> None:
    _survives(commands, line)
    _survives(commands, "continue")


WORDS = ("print", "p", "break", "tbreak", "watch", "when", "goto", "step", "back", "info", "thread", "task", "list", "timeline", "focus", "delete", "up", "")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(word=st.sampled_from(WORDS), rest=st.text(max_size=120))
def test_random_command_lines(commands: Commands, word: str, rest: str) -> None:
    _survives(commands, f"{word} {rest}")


_ATOMS = st.sampled_from(["x", "1", "-1", "'s'", "None", "True", "10**9", "()", "[]", "{}", "thread", "seq", "kind", "1.5", "nan"])


def _expressions() -> st.SearchStrategy[str]:
    return st.recursive(
        _ATOMS,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "==", "<", " in ", " and ", " or ", "."]), inner).map("".join),
            st.tuples(st.sampled_from(["not ", "-", "~", "len(", "("]), inner).map(lambda t: t[0] + t[1] + (")" if t[0].endswith("(") else "")),
            st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
        ),
        max_leaves=12,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(expr=_expressions(), word=st.sampled_from(["print", "break lock.acquire if", "when", "tbreak lock.release if"]))
def test_random_conditions(commands: Commands, expr: str, word: str) -> None:
    _survives(commands, f"{word} {expr}")
    if word != "print":
        _survives(commands, "continue")
        _survives(commands, "delete")


def test_events_that_do_not_fit_their_kind_are_refused_at_index_time(tmp_path: Path) -> None:
    """A crafted kind table (every kind without fields) passes the reader's type checks; indexing refuses it."""
    data = SEEDS[sorted(SEEDS)[0]]
    header = msgpack.unpackb(frames(data)[0][2], raw=False, strict_map_key=False)
    header["kinds"] = [[number, name, []] for number, name, _ in header["kinds"]]
    path = tmp_path / "kinds.cgr"
    path.write_bytes(_reframed(data, 0, msgpack.packb(header)))
    rec = read_log(str(path))
    with pytest.raises(LogError, match="does not fit its kind"):
        Index(rec)
    proc = chronodbg("replay", "-c", "step", str(path))
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr
    last = proc.stderr.decode().splitlines()[-1]
    assert last.startswith(f"chronodbg: {path}: event ") and "does not fit its kind" in last
