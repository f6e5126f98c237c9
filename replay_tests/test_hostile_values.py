"""Values that fight back: the recorder runs none of their code, and every one of them shows as one short line.

programs/hostile_values.py holds objects whose dunders raise, recurse or
block (counting every call once armed), lying proxies, `__slots__` objects,
self-referential, deeply nested and huge containers, non-UTF-8 bytes and
lone surrogates, and C-extension objects: as locals of several threads, as
arguments and return values, inside containers, as dict keys and as
globals. It prints its counts at the end, so comparing its output with a
plain run shows exactly which user code the recorder ran.
"""

from __future__ import annotations

import array
import re
import subprocess
import sys
import threading
import types
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chronodbg import values as V
from chronodbg.logfile import read_log
from chronodbg.recorder.snapshot import REPR_MAX_LEN, Summariser
from replay_tests.conftest import PROGRAMS, TIMEOUT, env

PROGRAM = PROGRAMS / "hostile_values.py"
LEVELS = ("sync", "calls", "lines")
#: Every value kind, by the function of the program that holds it as a local.
GROUPS: dict[str, tuple[str, ...]] = {
    "hold_hostile": (
        "raising", "recursing", "blocking", "raising_list", "raising_dict", "raising_str", "raising_int", "slotted",
        "lying_proxy", "weak_proxy", "dead_proxy", "meta_instance", "meta_class", "sneaky_thread", "sneaky_event",
        "reentrant", "in_list", "nested", "hostile_keys",
    ),
    "hold_loops": ("loop_list", "loop_dict", "loop_tuple", "loop_deque", "deep"),
    "hold_huge": (
        "huge_list", "huge_str", "huge_bytes", "huge_bytearray", "huge_dict", "huge_set", "huge_int", "huge_array", "huge_tuple",
    ),
    "hold_text": ("non_utf8", "lone_surrogate", "escapes", "surrogate_keys", "long_surrogates"),
    "hold_c": (
        "c_array", "c_decimal", "c_decimal_nan", "c_decimal_huge", "c_lock", "c_pattern", "c_memoryview", "c_released",
        "c_int", "c_buffer", "c_struct", "c_pointer", "c_conn", "c_closed", "c_counter", "numpy_array",
    ),
}  # fmt: skip
GLOBALS = ("G_RAISING", "G_RECURSING", "G_BLOCKING", "G_PROXY", "G_HUGE", "G_SURROGATE", "KEYED", ascii("\udcffname"))
#: What each kind shows as (a regex searched in its text), the same with and without --repr.
SHOWN = {
    "huge_list": r"^\[0, 0, 0, 0, 0, 0, 0, 0, …\] \(len 10000000\)$",
    "huge_str": r"^'x{120}'…\(100000000 chars\)$",
    "huge_bytes": r"…\(10000000 bytes\)$",
    "huge_bytearray": r"…\(10000000 bytes\)$",
    "huge_dict": r"\(len 1000000\)$",
    "huge_set": r"\(len 1000000\)\)?$",
    "huge_tuple": r"\(len 1000000\)$",
    "huge_int": r"^<int of 16610 bits>$",
    "loop_list": r"^\[1, \[1, <list of 2>\]\]$",
    "loop_dict": r"^\{'k': 1, 'self': \{'k': 1, 'self': <dict of 2>\}\}$",
    "loop_tuple": r"^\(\[<tuple of 2>\], 't'\)$",
    "loop_deque": r"^deque\(\[0, deque\(\[0, <deque of 2>\]\)\]\)$",
    "deep": r"^\[\[<list of 1>\]\]$",
    "non_utf8": r"^b'\\xff\\xfe\\x80abc\\x00'$",
    "lone_surrogate": r"^'a\\\\udcffb\\\\ud800'$",
    "escapes": r"^'\\x1b\[2J\\x1b\]0;pwned\\x07\\nsecond line\\r\\x00'$",
    "sneaky_event": r"^SneakyEvent#\d+$",
    # A metaclass __hash__ is the one hook left (see snapshot.py): it raised, and only this value shows it.
    "meta_instance": r"^<unreadable: RuntimeError>$",
}
#: What objects show as without --repr, and with it.
PLAIN_SHOWN = {
    "raising": r"^<Raising object #[0-9a-f]+>$",
    "weak_proxy": r"^<weakref\.ProxyType object #[0-9a-f]+>$",
    "c_decimal": r"^<decimal\.Decimal object #[0-9a-f]+>$",
    "c_lock": r"^<_thread\.lock object #[0-9a-f]+>$",
    "sneaky_thread": r"^<SneakyThread object #[0-9a-f]+>$",
}
REPR_SHOWN = {
    "slotted": r"^<Slotted a=1>$",
    "lying_proxy": r"^42$",
    "reentrant": r"^<ReentrantRepr>$",
    "c_decimal": r"^Decimal\('3\.14'\)$",
    "c_pattern": r"^re\.compile\('\(\?P<x>a\+\)b'\)$",
    "c_array": r"^array\('i', \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\]\)$",
    "huge_array": rf"^<array\.array of {10**6} items, not rendered>$",
    "weak_proxy": r"^<weakproxy at ",
}
#: One summary as text, at most: 8 items of 8 items of 120 characters (a lone surrogate shows as 6).
MAX_TEXT = 8 * 1024
MAX_FILE = 4 * 1024 * 1024


@dataclass
class Recorded:
    level: str
    use_repr: bool
    proc: subprocess.CompletedProcess[bytes]
    path: Path


def program_env(use_repr: bool) -> dict[str, str]:
    environment = env()
    # Without --repr no __repr__ may run, so Blocking's blocks too: a recorder that called it would never finish.
    environment["HOSTILE_BLOCKING_REPR"] = "0" if use_repr else "1"
    return environment


@pytest.fixture(scope="module")
def plain() -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, str(PROGRAM)], capture_output=True, timeout=TIMEOUT, env=program_env(False), stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module", params=[(level, use_repr) for level in LEVELS for use_repr in (False, True)],
                ids=lambda p: f"{p[0]}{'-repr' if p[1] else ''}")  # fmt: skip
def recorded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    level, use_repr = request.param
    out = tmp_path_factory.mktemp("hostile") / f"{level}{'-repr' if use_repr else ''}.cgr"
    command = [sys.executable, "-m", "chronodbg", "record", "-q", "--level", level, *(["--repr"] if use_repr else [])]
    proc = subprocess.run(
        [*command, "-o", str(out), str(PROGRAM)],
        capture_output=True, timeout=TIMEOUT, env=program_env(use_repr), stdin=subprocess.DEVNULL, cwd=out.parent,
    )  # fmt: skip
    return Recorded(level, use_repr, proc, out)


def calls_of(stdout: bytes) -> dict[str, int]:
    found = re.findall(rb"^called (\S+) (\d+)$", stdout, re.MULTILINE)
    return {name.decode(): int(count) for name, count in found}


def one_line(text: str) -> None:
    assert len(text) <= MAX_TEXT, f"{len(text)} characters: {text[:200]}"
    assert not set(text) & {"\n", "\r", "\x1b", "\x07", "\x00"}, text
    text.encode("utf-8")  # no lone surrogate left to fail the terminal


# -- the program is the program -------------------------------------------------


def test_plain_run_calls_no_hostile_code_after_arming(plain: subprocess.CompletedProcess[bytes]) -> None:
    assert plain.returncode == 0, plain.stderr.decode()
    assert plain.stdout == b"done 9 True 50\n"


def test_recorded_run_calls_only_what_it_may(recorded: Recorded, plain: subprocess.CompletedProcess[bytes]) -> None:
    proc = recorded.proc
    assert proc.returncode == plain.returncode, proc.stderr.decode()[-3000:]
    assert proc.stderr == b""
    assert [line for line in proc.stdout.splitlines() if not line.startswith(b"called ")] == plain.stdout.splitlines()
    calls = calls_of(proc.stdout)
    # The one hook the recorder cannot avoid without a cost on every value (snapshot.py): a metaclass __hash__.
    calls.pop("HostileMeta.__hash__", None)
    if not recorded.use_repr:
        assert calls == {}
        return
    assert {name for name in calls if not name.endswith(".__repr__")} == set()
    # The counters count: these reprs work and are called at every sample.
    assert calls["Slotted.__repr__"] > 0 and calls["LyingProxy.__repr__"] > 0 and calls["ReentrantRepr.__repr__"] > 0
    # A repr that failed is not asked again (four threads may each ask once before the first failure is known).
    for name in ("Raising", "RaisingList", "RaisingDict", "RaisingStr", "RaisingInt"):
        assert 1 <= calls[f"{name}.__repr__"] <= 4, name
    assert calls["Recursing.__repr__"] <= 4 * (sys.getrecursionlimit() + 50)


# -- the recording ----------------------------------------------------------------


def test_recording_is_small_and_every_value_one_bounded_line(recorded: Recorded) -> None:
    assert recorded.proc.returncode == 0, recorded.proc.stderr.decode()[-3000:]
    assert recorded.path.stat().st_size < MAX_FILE
    rec = read_log(str(recorded.path))
    if not recorded.use_repr:
        # An event whose snapshot raised used to be dropped whole (its lock operation lost with it). With
        # --repr a repr that recurses to the limit runs traced (from a sync event's sample) and can cost events.
        assert (rec.footer or {}).get("dropped") == 0
    seen: dict[str, dict[str, str]] = {group: {} for group in [*GROUPS, "<module>"]}
    for event in rec.events:
        for value in rec.data_dict(event).values():
            one_line(V.to_text(value))
        site = rec.site_of(event)
        if event.locals is None or site is None or site.func not in seen:
            continue
        for name, summary in event.locals:
            text = V.to_text(summary)
            one_line(text)
            seen[site.func].setdefault(name, text)
    for group, names in GROUPS.items():
        missing = [name for name in names if name not in seen[group]]
        assert missing == [], f"{group}: {missing} not sampled"
    assert [name for name in GLOBALS if name not in seen["<module>"]] == []
    shown = {name: text for texts in seen.values() for name, text in texts.items()}
    expected = {**SHOWN, **(REPR_SHOWN if recorded.use_repr else PLAIN_SHOWN)}
    wrong = {name: shown[name] for name, pattern in expected.items() if not re.search(pattern, shown[name])}
    assert wrong == {}
    if recorded.use_repr:
        # The first sample of a failing repr (wherever it is: in `bag`, an argument) says why; later ones are plain.
        every = " ".join(
            [V.to_text(summary) for event in rec.events for _, summary in event.locals or ()]
            + [V.to_text(value) for event in rec.events for value in rec.data_dict(event).values()]
        )
        # (Not the RecursionError's: the event that sampled it can be lost, the tracer itself out of stack.)
        assert "<repr failed: RuntimeError>" in every


def test_dump_and_replay_show_every_local_on_one_line(recorded: Recorded) -> None:
    rec = read_log(str(recorded.path))
    first: dict[str, int] = {}
    for event in rec.events:
        site = rec.site_of(event)
        if event.locals and site is not None and site.func in GROUPS:
            first.setdefault(site.func, event.seq)
    commands = []
    for group, names in GROUPS.items():
        commands += ["-c", f"goto {first[group]}", "-c", "locals", *[arg for name in names for arg in ("-c", f"print {name}")]]
    proc = subprocess.run(
        [sys.executable, "-m", "chronodbg", "replay", str(recorded.path), *commands],
        capture_output=True, timeout=TIMEOUT, env=env(), stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stderr == b"", proc.stdout.decode()[-2000:] + proc.stderr.decode()
    text = proc.stdout.decode("utf-8")
    for line in text.splitlines():
        one_line(line)
    assert "error:" not in text
    for options in (["--locals"], ["--json"]):
        dump = subprocess.run(
            [sys.executable, "-m", "chronodbg", "dump", *options, str(recorded.path)],
            capture_output=True, timeout=TIMEOUT, env=env(), stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert dump.returncode == 0 and dump.stderr == b""
        lines = dump.stdout.decode("utf-8").splitlines()
        assert len(lines) >= len(rec.events)
        # A line of dump holds a whole snapshot: at most 32 names, each bounded.
        assert max(map(len, lines)) <= 32 * MAX_TEXT
        assert not any("\x1b" in line for line in lines)


# -- the summariser, one hook at a time --------------------------------------------


class Counted:
    calls: dict[str, int] = {}

    @classmethod
    def hit(cls, name: str) -> None:
        cls.calls[name] = cls.calls.get(name, 0) + 1


class Fights(Counted):
    def __repr__(self) -> str:
        self.hit("__repr__")
        raise RuntimeError("no")

    def __len__(self) -> int:
        self.hit("__len__")
        raise RuntimeError("no")

    def __eq__(self, other: object) -> bool:
        self.hit("__eq__")
        raise RuntimeError("no")

    def __hash__(self) -> int:
        self.hit("__hash__")
        raise RuntimeError("no")

    def __getattr__(self, name: str) -> Any:
        self.hit("__getattr__")
        raise RuntimeError("no")


@pytest.fixture(autouse=True)
def fresh_counts() -> None:
    Counted.calls = {}


def test_a_list_of_ints_and_none_is_shown_item_by_item() -> None:
    # min() of ints and None raises: the whole list used to show as unreadable.
    assert Summariser().value([1, None, 3]) == ("list", 3, (1, None, 3))
    assert Summariser().value((None, 2**70)) == ("tuple", 2, (None, (V.TAG_INT, 71)))


def test_one_bad_item_spoils_only_itself() -> None:
    class Meta(type):
        def __hash__(cls) -> int:
            raise RuntimeError("metaclass hash")

    class Odd(metaclass=Meta):
        pass

    odd = Odd()
    assert Summariser().value([1, odd, "x"]) == ("list", 3, (1, (V.TAG_ERROR, "RuntimeError"), "x"))
    assert Summariser().value({"k": odd, "j": 2}) == ("dict", 2, (("k", (V.TAG_ERROR, "RuntimeError")), ("j", 2)))

    def holder() -> types.FrameType:
        before, value, after = 1, odd, 2  # noqa: F841
        return sys._getframe()

    # The event keeps its other locals (the snapshot used to raise, and the event was dropped).
    error = (V.TAG_ERROR, "RuntimeError")
    assert dict(Summariser().frame_locals(holder())) == {"before": 1, "value": error, "after": 2, "odd": error}


def test_without_repr_no_user_code_runs() -> None:
    class Module(Fights):
        @property  # type: ignore[misc]
        def __class__(self) -> type:  # type: ignore[override]
            Counted.hit("__class__")  # what isinstance() asks after type()
            return str

    weird = type("Weird", (), {"__module__": Module()})  # a __module__ that is not a str

    class Sneaky(threading.Thread):
        @property  # type: ignore[misc]
        def __dict__(self) -> Any:  # type: ignore[override]
            Counted.hit("__dict__")
            raise RuntimeError("no")

    target = Fights()
    values = [Fights(), weakref.proxy(target), weird(), Sneaky(), [Fights()], {Fights: Fights()}]
    summariser = Summariser()
    for value in values:
        summariser.value(value)
    assert summariser.type_name(weird) == "Weird"
    assert Counted.calls == {}


def test_repr_runs_once_per_failing_type_and_never_nested() -> None:
    summariser = Summariser(use_repr=True)
    fights = Fights()
    assert summariser.value(fights)[3] == "<repr failed: RuntimeError>"
    assert summariser.value(fights) == (V.TAG_OBJ, summariser.type_name(Fights), id(fights))
    assert Counted.calls == {"__repr__": 1}

    class Nests:
        def __repr__(self) -> str:
            Counted.hit("Nests")
            # What an event inside a repr does: summarise this frame, which holds self.
            return f"<{V.to_text(summariser.value(self))}>"

    nests = Nests()
    # The inner summary has no repr: the guard, not a recursion limit, ended it.
    assert summariser.value(nests)[3].startswith(f"<<{summariser.type_name(Nests)[:40]}")
    assert Counted.calls["Nests"] == 1


def test_repr_exits_are_kept_but_ctrl_c_is_the_programs() -> None:
    summariser = Summariser(use_repr=True)

    class Exits:
        def __repr__(self) -> str:
            raise SystemExit(3)

    class Interrupted:
        def __repr__(self) -> str:
            raise KeyboardInterrupt

    class SneakyText(str):
        def __getitem__(self, index: Any) -> Any:
            Counted.hit("__getitem__")
            raise RuntimeError("no")

    class ReturnsSubclass:
        def __repr__(self) -> str:
            return SneakyText("text")

    assert summariser.value(Exits())[3] == "<repr failed: SystemExit>"
    with pytest.raises(KeyboardInterrupt):
        summariser.value(Interrupted())
    assert summariser.value(ReturnsSubclass())[3] == "<repr returned non-str>"
    assert Counted.calls == {}


def test_repr_of_huge_builtin_containers_is_not_rendered() -> None:
    class Big(list[int]):
        pass

    summariser = Summariser(use_repr=True)
    big = f"<{summariser.type_name(Big)} of {REPR_MAX_LEN + 1} items, not rendered>"
    assert summariser.value(Big(range(REPR_MAX_LEN + 1)))[3] == big
    assert summariser.value(Big([1]))[3] == "[1]"
    huge = array.array("b", bytes(REPR_MAX_LEN + 1))
    assert summariser.value(huge)[3] == f"<array.array of {REPR_MAX_LEN + 1} items, not rendered>"
    # A proxy's C __len__ asks the object behind it: never called.
    target = Fights()
    assert summariser.value(weakref.proxy(target))[3].startswith("<weakproxy at ")
    assert Counted.calls == {}


def test_odd_global_names_are_escaped() -> None:
    namespace: dict[Any, Any] = {"\udcff": 1, "\x1b[2J": 2, 3: 4, "plain": 5}
    exec(compile("import sys\nframe = sys._getframe()", "<hostile>", "exec"), namespace)
    names = [name for name, _ in Summariser().frame_locals(namespace["frame"])]
    assert names[:3] == [ascii("\udcff"), ascii("\x1b[2J"), "plain"]


def test_text_of_a_crafted_object_summary_is_one_line() -> None:
    text = V.to_text((V.TAG_OBJ, "A\x1b[2J\udcff", 5, "line\nbreak\udc80\x1b]0;x\x07"))
    one_line(text)
    assert text == "line?break\\udc80?]0;x?"
    assert V.to_text((V.TAG_OBJ, "A\nB\udcff", 255)) == "<A?B\\udcff object #ff>"
    assert V.printable("\udcff\n") == "\\udcff?"
