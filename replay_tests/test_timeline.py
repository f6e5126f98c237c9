"""Timelines: the lanes model against the replay engine, the `timeline` command, the HTML page in a real browser."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from chronodbg.analysis import lanes, timeline_html, timeline_text
from chronodbg.errors import UsageError
from chronodbg.logfile import read_log
from chronodbg.logfile.reader import Recording
from chronodbg.repl import render
from chronodbg.repl.commands import Commands
from chronodbg.replay.index import Index
from chronodbg.replay.session import Session
from replay_tests.conftest import PROGRAMS, chronodbg, record

ROOT = Path(__file__).parent.parent
SAMPLES = ROOT / "recordings" / "samples"
CHROMIUM = Path("/usr/bin/chromium")
#: Small, so that even short recordings cross many checkpoints.
EVERY = 7

EVIL = "</script><script>alert(1)</script>"
#: Would mark the page if any of it ran as markup or script.
PWN = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\"></script><script>document.body.setAttribute('data-pwned','1')</script>"
HOSTILE_PROGRAM = f'''
import asyncio
import threading

EVIL = {EVIL!r}
PWN = {PWN!r}
lock = threading.Lock()


def work(note):
    with lock:
        pass


for name in (EVIL, "bell\\x07\\x1b[2Jname"):
    thread = threading.Thread(target=work, args=(PWN,), name=name)
    thread.start()
    thread.join()


async def step(note):
    await asyncio.sleep(0)


async def main():
    await asyncio.create_task(step(PWN), name=PWN)


asyncio.run(main())
'''


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Recording]:
    tmp = tmp_path_factory.mktemp("timeline")
    runs = {
        "prodcons": record(tmp, PROGRAMS / "prodcons.py"),
        "rlock": record(tmp, PROGRAMS / "rlock.py"),
        "barrier": record(tmp, PROGRAMS / "barrier.py"),
        "pool": record(tmp, PROGRAMS / "pool.py"),
        "aio_lock": record(tmp, PROGRAMS / "aio_lock.py"),
        "aio_primitives": record(tmp, PROGRAMS / "aio_primitives.py"),
        "aio_prodcons": record(tmp, PROGRAMS / "aio_prodcons.py", "12"),
    }
    assert all(run.returncode == 0 for run in runs.values()), {name: run.stderr for name, run in runs.items()}
    recs = {name: read_log(str(run.path)) for name, run in runs.items()}
    for sample in ("two_locks-v2", "aio_prodcons-v2", "bank_transfer-v1"):
        recs[sample] = read_log(str(SAMPLES / f"{sample}.cgr"))
    return recs


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("hostile")
    program = tmp / "hostile.py"
    program.write_text(HOSTILE_PROGRAM)
    run = record(tmp, program)
    assert run.returncode == 0, run.stderr
    return run.path


NAMES = ["prodcons", "rlock", "barrier", "pool", "aio_lock", "aio_primitives", "aio_prodcons", "two_locks-v2", "aio_prodcons-v2", "bank_transfer-v1"]


# -- the lanes model ---------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_lane_says_what_the_engine_state_says_at_every_seq(recordings: dict[str, Recording], name: str) -> None:
    index = Index(recordings[name], checkpoint_every=EVERY)
    timeline = lanes.build(index, 1, index.last, all_lanes=True)
    assert [lane.actor for lane in timeline.lanes] == [("thread", t) for t in sorted(index.rec.threads)] + [
        ("task", t) for t in sorted(index.rec.tasks)
    ]
    for lane in timeline.lanes:
        # Segments tile the range, and neighbours differ (else they would be one).
        assert lane.segments[0].first == 1 and lane.segments[-1].last == index.last
        assert all(a.last + 1 == b.first and a.status != b.status for a, b in zip(lane.segments, lane.segments[1:], strict=False))
        assert lane.events == [e.seq for e in index.events if lanes.lane_key(e) == lane.actor]
    for seq in range(1, index.last + 1):
        state = index.state_at(seq)
        for lane in timeline.lanes:
            status = lane.status_at(seq)
            assert status == lanes.describe(index.rec, state, lane.actor), (name, seq, lane.name)
            owned = {oid for oid, lock in state.locks.items() if lock.owner == lane.actor}
            assert set(status.holds) == owned


def _info_state(line: str, kind: str) -> str:
    """The lanes' state that an `info threads` / `info tasks` line describes."""
    status = line.split(": ", 1)[1]
    if kind == "thread":
        for prefix, state in (("not started", lanes.NOT_STARTED), ("finished", lanes.FINISHED), ("started, no event", lanes.READY),
                              ("running", lanes.RUNNING), ("joining", lanes.BLOCKED), ("blocked on", lanes.BLOCKED),
                              ("waiting on", lanes.BLOCKED)):  # fmt: skip
            if status.startswith(prefix):
                return state
    else:
        for prefix, state in (("not created", lanes.NOT_STARTED), ("created, not started", lanes.READY), ("ready (", lanes.READY),
                              ("awaiting", lanes.SUSPENDED), ("running", lanes.RUNNING), ("done (", lanes.FINISHED)):  # fmt: skip
            if status.startswith(prefix):
                return state
    raise AssertionError(f"unexpected info line {line!r}")


@pytest.mark.parametrize("name", NAMES)
def test_lanes_agree_with_info_threads_and_info_tasks(recordings: dict[str, Recording], name: str) -> None:
    rec = recordings[name]
    index = Index(rec)
    timeline = lanes.build(index, 1, index.last, all_lanes=True)
    threads = [lane for lane in timeline.lanes if lane.actor[0] == "thread"]
    tasks = [lane for lane in timeline.lanes if lane.actor[0] == "task"]
    for seq in range(1, index.last + 1):
        state = index.state_at(seq)
        for lane, line in zip(threads, render.threads(rec, state), strict=True):
            assert lane.status_at(seq).state == _info_state(line, "thread"), (seq, line)
        for lane, line in zip(tasks, render.tasks(rec, state), strict=True):
            assert lane.status_at(seq).state == _info_state(line, "task"), (seq, line)


@pytest.mark.parametrize("name", ["prodcons", "aio_prodcons", "bank_transfer-v1"])
def test_a_range_is_the_whole_timeline_cut_to_it(recordings: dict[str, Recording], name: str) -> None:
    index = Index(recordings[name], checkpoint_every=EVERY)
    whole = lanes.build(index, 1, index.last, all_lanes=True)
    first, last = index.last // 3, 2 * index.last // 3
    part = lanes.build(index, first, last, all_lanes=True)
    for a, b in zip(whole.lanes, part.lanes, strict=True):
        assert [b.status_at(s) for s in range(first, last + 1)] == [a.status_at(s) for s in range(first, last + 1)]
        assert b.events == [s for s in a.events if first <= s <= last]
    assert part.links == [(c, e) for c, e in whole.links if first <= c and e <= last]


def test_the_deadlock_reads_off_the_lanes(recordings: dict[str, Recording]) -> None:
    index = Index(recordings["two_locks-v2"])
    timeline = lanes.build(index, 1, index.last)
    clerk1, clerk2 = timeline.lanes[1], timeline.lanes[2]
    assert clerk1.status_at(11) == lanes.Status(lanes.BLOCKED, "lock", 2, "Lock#2", (1,))
    assert clerk2.status_at(11) == lanes.Status(lanes.BLOCKED, "lock", 1, "Lock#1", (2,))
    assert clerk1.status_at(11).text() == "blocked on lock Lock#2"
    assert timeline.lanes[0].status_at(10).text() == "blocked on join T2 clerk-1"
    assert timeline.locks == {1: "Lock#1", 2: "Lock#2"}
    assert (6, 10) in timeline.links  # the barrier.wait that completed the party let clerk 1 pass


def test_tasks_say_what_they_await(recordings: dict[str, Recording]) -> None:
    index = Index(recordings["aio_prodcons-v2"])
    timeline = lanes.build(index, 1, index.last)
    main, producer = timeline.lane_of(("task", 1)), timeline.lane_of(("task", 2))
    assert main is not None and producer is not None
    assert main.status_at(5).text() == "suspended awaiting task t3"
    assert producer.status_at(10).text() == "suspended awaiting queue asyncio.Queue#1"
    assert producer.status_at(13).text() == "ready (woken)"
    assert producer.status_at(40).state == lanes.FINISHED


def test_idle_lanes_are_left_out_unless_asked(recordings: dict[str, Recording]) -> None:
    index = Index(recordings["aio_prodcons-v2"])
    assert [lane.name for lane in lanes.build(index, 40, 43).lanes] == ["T1 MainThread", "t1 Task-1 (main)"]
    assert len(lanes.build(index, 40, 43, all_lanes=True).lanes) == 4


@pytest.mark.parametrize(
    ("text", "expected"), [("3..9", (3, 9)), ("..5", (1, 5)), ("10..", (10, 17)), ("all", (1, 17)), ("7", (7, 7)), (" 2..2 ", (2, 2))]
)
def test_ranges_parse(text: str, expected: tuple[int, int]) -> None:
    assert lanes.parse_range(text, 17) == expected


@pytest.mark.parametrize("text", ["9..3", "0..4", "1..18", "x", "1..y", "1...3", "-2..3"])
def test_bad_ranges_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="timeline"):
        lanes.parse_range(text, 17)


# -- the REPL command ------------------------------------------------------------------


def _commands(path: Path) -> Commands:
    return Commands(Session(Index(read_log(str(path)))))


TWO_LOCKS_AT_11 = """\
timeline seq 1..17 of 17, 1 event per column, cursor at seq 11
seq           1         11
T1 MainThread *==*====JJJ*J****
T2 clerk-1    :*BBBBBBB*LLLLLLL
  holds        1111111111111111
T3 clerk-2       :*B*LLLLLLLLLL
  holds           2222222222222
                        ^ seq 11
legend: * event  = running  : ready  B blocked on barrier  J blocked on join
  L blocked on lock
holds: 1 Lock#1  2 Lock#2"""


def test_timeline_command_draws_lanes_holdings_and_the_cursor() -> None:
    commands = _commands(SAMPLES / "two_locks-v2.cgr")
    commands.run("goto 11")
    assert commands.run("timeline width=80").text == TWO_LOCKS_AT_11


@pytest.mark.parametrize("width", [20, 30, 45, 80, 132])
def test_timeline_fits_the_width(width: int) -> None:
    commands = _commands(SAMPLES / "aio_prodcons-v2.cgr")
    commands.run("goto 20")
    for arg in ("", "all", "5..40"):
        reply = commands.run(f"timeline {arg} width={width}")
        lines = reply.text.splitlines()
        # Names take at most NAME_MAX cells, and a row at least MIN_COLUMNS beside them.
        assert all(len(line) <= max(width, timeline_text.NAME_MAX + 1 + timeline_text.MIN_COLUMNS) for line in lines), reply.text
        assert any(line.startswith("t2 producer (produce)") for line in lines)
        cursor = [line for line in lines if line.lstrip().startswith("^") or line.rstrip().endswith("^")]
        assert len(cursor) == 1, reply.text


def test_timeline_takes_its_width_from_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "50")
    commands = _commands(SAMPLES / "bank_transfer-v1.cgr")
    commands.run("goto 100")
    reply = commands.run("timeline")
    assert max(len(line) for line in reply.text.splitlines()) <= 50
    assert reply.data["events_per_column"] == 1 and reply.data["last"] - reply.data["first"] + 1 <= 50
    assert reply.data["first"] <= 100 <= reply.data["last"]


def test_a_wide_range_is_bucketed_and_keeps_the_waits(recordings: dict[str, Recording]) -> None:
    commands = Commands(Session(Index(recordings["prodcons"])))
    reply = commands.run("timeline all width=40")
    per = reply.data["events_per_column"]
    assert per > 1 and f"{per} events per column" in reply.text.replace("\n  ", " ")
    producer = next(lane for lane in reply.data["lanes"] if lane["lane"] == "T2 producer")
    # The producer waits for room in the queue at least once: a Q column survives the buckets.
    assert any(s["state"] == "blocked" and s["what"] == "queue put" for s in producer["segments"])
    assert "Q" in producer["row"]


def test_cursor_outside_the_range_is_said() -> None:
    commands = _commands(SAMPLES / "two_locks-v2.cgr")
    commands.run("goto 15")
    text = commands.run("timeline 1..5").text
    assert "cursor at seq 15 (outside)" in text and "^" not in text


@pytest.mark.parametrize("arg", ["9..3", "1..99", "nope", "1..3 4..5", "width=5", "width=x"])
def test_timeline_bad_arguments_are_one_line_errors(arg: str) -> None:
    commands = _commands(SAMPLES / "two_locks-v2.cgr")
    with pytest.raises(UsageError) as raised:
        commands.run(f"timeline {arg}")
    assert "\n" not in str(raised.value)


def test_timeline_is_in_help() -> None:
    commands = _commands(SAMPLES / "two_locks-v2.cgr")
    assert "timeline [SEQ..SEQ|all] [width=N]" in commands.run("help").text
    assert commands.run("help timeline").text.startswith("timeline [SEQ..SEQ|all]")


def test_names_cannot_drive_the_terminal(hostile: Path) -> None:
    text = _commands(hostile).run("timeline all width=100").text
    assert "\x1b" not in text and "\x07" not in text
    assert "bell??[2Jname" in text


def test_timeline_in_batch_mode_and_json() -> None:
    sample = str(SAMPLES / "two_locks-v2.cgr")
    proc = chronodbg("replay", sample, "-c", "goto 11", "-c", "timeline width=80")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().endswith("(chronodbg) timeline width=80\n" + TWO_LOCKS_AT_11 + "\n")
    proc = chronodbg("replay", sample, "--json", "-c", "timeline 1..17 width=60", "-c", "timeline 5..1")
    first, second = (json.loads(line) for line in proc.stdout.decode().splitlines())
    assert proc.returncode == 1 and first["ok"] and not second["ok"] and "5..1" in second["error"]
    result = first["result"]
    assert [lane["lane"] for lane in result["lanes"]] == ["T1 MainThread", "T2 clerk-1", "T3 clerk-2"]
    clerk1 = result["lanes"][1]
    assert clerk1["row"] == ":*BBBBBBB*LLLLLLL" and clerk1["holds_row"] == " 1111111111111111"
    assert clerk1["segments"][-1] == {
        "first": 11, "last": 17, "state": "blocked", "what": "lock", "label": "Lock#2", "text": "blocked on lock Lock#2", "holds": ["Lock#1"]
    }  # fmt: skip
    assert result["cursor"] == 1 and [6, 10] in result["links"]


# -- the HTML page -------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data: dict[str, str] = {}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = dict(attrs).get("id") if tag == "script" else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.data[self._in] = self.data.get(self._in, "") + data


def _page_data(html: str) -> tuple[_Tags, dict[str, Any]]:
    parser = _Tags()
    parser.feed(html)
    return parser, json.loads(parser.data["timeline-data"])


def test_the_page_is_self_contained_and_holds_the_lanes(recordings: dict[str, Recording]) -> None:
    index = Index(recordings["aio_prodcons"])
    page = timeline_html.render(index)
    tags, data = _page_data(page.html)
    assert page.html.startswith("<!DOCTYPE html>") and page.html.rstrip().endswith("</html>")
    assert [t for t, _ in tags.tags].count("script") == 2 and not any("src" in a for t, a in tags.tags if t == "script")
    assert not any(t in ("link", "iframe", "object", "embed", "img") for t, _ in tags.tags)
    for _, attrs in tags.tags:
        for name in ("src", "href", "action"):
            assert "://" not in (attrs.get(name) or "")
    # The only URL is the SVG namespace the script creates its elements in.
    assert set(re.findall(r"https?://[^\s\"')]+", page.html)) == {"http://www.w3.org/2000/svg"}
    timeline = lanes.build(index, 1, index.last)
    assert [lane["name"] for lane in data["lanes"]] == [lane.name for lane in timeline.lanes]
    assert len(data["events"]) == index.last and data["first"] == 1 and data["last"] == index.last and data["note"] is None
    assert data["links"] == [list(link) for link in timeline.links]
    gets = [e for e in data["events"] if e[2] == "queue.get"]
    assert gets and all(e[3] == "asyncio.Queue#1" and "item=" in e[5] for e in gets)
    assert any("queue = asyncio.Queue#1" in e[6] for e in data["events"])  # sampled locals travel along


def test_hostile_names_stay_text_in_the_page(hostile: Path) -> None:
    page = timeline_html.render(Index(read_log(str(hostile))))
    assert EVIL not in page.html and "<img" not in page.html
    assert page.html.count("<script") == 2 and page.html.count("</script>") == 2
    _, data = _page_data(page.html)
    names = [lane["name"] for lane in data["lanes"]]
    assert any(EVIL in name for name in names) and any(PWN in name for name in names)


def test_the_page_is_capped_and_says_what_was_left_out(recordings: dict[str, Recording]) -> None:
    index = Index(recordings["aio_prodcons"])
    page = timeline_html.render(index, 10, None, max_events=25)
    _, data = _page_data(page.html)
    assert (page.first, page.last) == (10, 34) and len(data["events"]) == 25
    assert page.note is not None and f"{index.last - 34} after them left out" in page.note and data["note"] == page.note
    with pytest.raises(UsageError):
        timeline_html.render(index, 5, 2)


def test_timeline_cli_writes_the_page(tmp_path: Path) -> None:
    proc = chronodbg("timeline", str(SAMPLES / "two_locks-v2.cgr"), cwd=tmp_path)
    out = tmp_path / "two_locks-v2.timeline.html"
    assert proc.returncode == 0 and proc.stderr == b""
    assert proc.stdout.decode() == "wrote two_locks-v2.timeline.html: 3 lanes, events 1..17 of 17\n"
    assert out.read_text().startswith("<!DOCTYPE html>")
    proc = chronodbg("timeline", str(SAMPLES / "aio_prodcons-v2.cgr"), "-o", str(tmp_path / "a.html"), "--from", "5", "--max-events", "10")
    assert proc.returncode == 0 and "only events 5..14 drawn, the 29 after them left out" in proc.stdout.decode()
    assert proc.stdout.decode().count("\n") == 1
    proc = chronodbg("timeline", str(SAMPLES / "two_locks-v2.cgr"), "--from", "9", "--to", "3", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.decode() == "chronodbg: timeline: range 9..3 is not within 1..17, first to last\n"
    proc = chronodbg("timeline", str(tmp_path / "missing.cgr"), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.decode().count("\n") == 1


# -- in a real browser ------------------------------------------------------------------------


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian: apt-get install chromium); the page was not checked in a browser")
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,900", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, timeout=300, stdin=subprocess.DEVNULL)


def png_colours(path: Path) -> set[tuple[int, ...]]:
    """The distinct pixel colours of an 8-bit RGB or RGBA PNG (what Chromium writes), decoded with zlib alone."""
    blob = path.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", b""
    while offset < len(blob):
        (length,) = struct.unpack(">I", blob[offset : offset + 4])
        tag, body = blob[offset + 4 : offset + 8], blob[offset + 8 : offset + 8 + length]
        offset += 12 + length
        if tag == b"IHDR":
            header = body
        elif tag == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, "an unexpected PNG layout"
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    previous = bytearray(stride)
    colours: set[tuple[int, ...]] = set()
    for y in range(height):
        kind, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = row[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                row[i] = (row[i] + left) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + up) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                row[i] = (row[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        colours.update(tuple(row[i : i + 3]) for i in range(0, stride, bpp))
        previous = row
    return colours


def test_the_page_renders_in_a_real_browser(tmp_path: Path) -> None:
    page = tmp_path / "two_locks.html"
    page.write_text(timeline_html.render(Index(read_log(str(SAMPLES / "two_locks-v2.cgr")))).html)
    shot = tmp_path / "shot.png"
    # #order&seq=11: spaced by event order, with event 11's details open (the tooltip code runs too).
    proc = _chromium(tmp_path, f"--screenshot={shot}", page.as_uri() + "#order&seq=11")
    assert shot.exists() and shot.stat().st_size > 5_000, proc.stderr.decode(errors="replace")[-2000:]
    colours = png_colours(shot)
    assert len(colours) > 20
    # Solid bars in the page's own colours: running (green), blocked (red), holding Lock#1 and Lock#2.
    for rgb in ((0x2E, 0x9D, 0x5B), (0xD6, 0x45, 0x41), (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)):
        assert rgb in colours, f"colour {rgb} is not in the screenshot"


def test_the_script_runs_without_error_and_hostile_names_stay_text(tmp_path: Path, hostile: Path) -> None:
    rec = read_log(str(hostile))
    page = tmp_path / "hostile.html"
    page.write_text(timeline_html.render(Index(rec)).html)
    # Open with the details of an event whose locals hold the markup: the tooltip shows it too.
    shown = next(e.seq for e in rec.events if e.locals and any(PWN[:40] in str(v) for _, v in e.locals))
    proc = _chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri() + f"#seq={shown}")
    dom, log = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    assert re.search(r'<body[^>]* data-rendered="ok"', dom), log[-3000:]
    assert not [line for line in log.splitlines() if "Uncaught" in line or "CONSOLE" in line and "rror" in line], log[-3000:]
    # Nothing from the recording became an element: the page's two scripts are all there are, and nothing ran.
    assert dom.count("<script") == 2 and "<img" not in dom and 'data-pwned="1"' not in dom
    # The names were drawn, and the tooltip filled, as text.
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert re.search(r"""<pre id="tip"[^>]*>[^<]* = '&lt;img src=x""", dom), dom[-3000:]


#: Appended to a page by the test below: drives the page's controls as a user would and reports on <body>.
_PROBE = """<script>
try {
  const svg = document.querySelector("#chart svg"), count = () => svg.querySelectorAll("circle.ev").length;
  const shown = () => Array.from(svg.querySelectorAll("circle.ev"), (c) => c.getAttribute("data-k").split(" ")[1]).join(",");
  const seen = [count()];
  for (let i = 0; i < 3; i++) document.getElementById("zoom-in").click();
  seen.push(count());
  const zoomed = shown();
  svg.dispatchEvent(new MouseEvent("mousedown", { clientX: 1200, clientY: 150, bubbles: true }));
  window.dispatchEvent(new MouseEvent("mousemove", { clientX: 300, clientY: 150, bubbles: true }));
  window.dispatchEvent(new MouseEvent("mouseup", { bubbles: true }));
  seen.push(shown() === zoomed ? 0 : 1);
  document.getElementById("fit").click();
  seen.push(count());
  svg.dispatchEvent(new WheelEvent("wheel", { deltaY: -500, clientX: 700, clientY: 150, bubbles: true, cancelable: true }));
  seen.push(count());
  document.getElementById("by-time").click();
  document.getElementById("show-links").click();
  seen.push(svg.querySelectorAll("path.link").length);
  svg.querySelector("circle.ev").dispatchEvent(new MouseEvent("mousemove", { clientX: 300, clientY: 130, bubbles: true }));
  document.body.setAttribute("data-probe", "ok " + seen.join(" ") + " | " + document.getElementById("tip").textContent.split("\\n")[0]);
} catch (err) { document.body.setAttribute("data-probe", "error: " + err); }
</script></body>"""


def test_the_page_zooms_pans_and_explains_in_a_real_browser(tmp_path: Path) -> None:
    page = tmp_path / "probe.html"
    html = timeline_html.render(Index(read_log(str(SAMPLES / "two_locks-v2.cgr"))), order=True).html
    page.write_text(html.replace("</body>", _PROBE))
    proc = _chromium(tmp_path, "--dump-dom", page.as_uri())
    found = re.search(r'data-probe="ok ([\d ]+) \| ([^"]*)"', proc.stdout.decode(errors="replace"))
    assert found, proc.stdout.decode(errors="replace")[-2000:]
    fitted, zoomed, panned, refitted, wheeled, links = map(int, found.group(1).split())
    # All 17 events fit; zoomed in eightfold only a few show; panning shows others; fit shows all again.
    assert fitted == refitted == 17 and 0 < zoomed < 8 and panned == 1 and wheeled < fitted
    assert links == 0  # the links were switched off
    assert found.group(2).startswith("seq ")  # hovering an event explains it
