"""`chronodbg replay`: batch transcripts against gold files, JSON mode, the prompt through a pipe and a pty."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from chronodbg.logfile import read_log
from chronodbg.repl.commands import Commands
from chronodbg.replay.index import Index
from chronodbg.replay.session import Session
from replay_tests.conftest import chronodbg, env, record

ROOT = Path(__file__).parent.parent
SAMPLES = ROOT / "recordings" / "samples"
GOLD = Path(__file__).parent / "gold"


@pytest.mark.parametrize(("name", "status"), [("two_locks", 1), ("aio_prodcons", 0)])
def test_batch_transcript_matches_its_gold_file(name: str, status: int) -> None:
    proc = chronodbg("replay", str(SAMPLES / f"{name}-v2.cgr"), "--batch", str(GOLD / f"{name}.cmds"))
    assert proc.stdout.decode() == (GOLD / f"{name}.transcript").read_text()
    # Status 1: the transcript has commands that fail on purpose.
    assert proc.returncode == status and proc.stderr == b""


def test_the_deadlock_is_visible_in_two_commands() -> None:
    proc = chronodbg("replay", str(SAMPLES / "two_locks-v2.cgr"), "-c", "break lock.wait", "-c", "c", "-c", "c", "-c", "info locks")
    assert proc.returncode == 0
    assert proc.stdout.decode().endswith(
        "locks at seq 11:\n"
        '  Lock#1: held by T2 "clerk-1"; waiting: T3 "clerk-2"\n'
        '  Lock#2: held by T3 "clerk-2"; waiting: T2 "clerk-1"\n'
    )


def test_json_mode_one_object_per_command() -> None:
    proc = chronodbg(
        "replay", str(SAMPLES / "two_locks-v2.cgr"), "--json", "-c", "break lock.wait", "-c", "continue", "-c", "info locks", "-c", "nope"
    )
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [line["command"] for line in lines] == ["break lock.wait", "continue", "info locks", "nope"]
    assert [line["ok"] for line in lines] == [True, True, True, False] and proc.returncode == 1
    assert lines[1]["result"]["seq"] == 8 and lines[1]["result"]["reason"] == "breakpoint 1"
    assert lines[1]["result"]["event"]["kind"] == "lock.wait" and lines[1]["result"]["event"]["thread_name"] == "clerk-2"
    assert lines[2]["result"]["locks"] == ['Lock#1: held by T2 "clerk-1"; waiting: T3 "clerk-2"', 'Lock#2: held by T3 "clerk-2"']
    assert lines[3]["error"].startswith("unknown command 'nope'")


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    proc = chronodbg("replay", "--json", str(SAMPLES / "two_locks-v2.cgr"))
    assert proc.returncode == 2 and proc.stderr == b"chronodbg: replay: --json needs -c CMD or --batch FILE\n"
    proc = chronodbg("replay", cwd=tmp_path)
    assert proc.returncode == 2 and b"no recording given and none in ./recordings" in proc.stderr
    proc = chronodbg("replay", str(tmp_path / "missing.cgr"), "-c", "when")
    assert proc.returncode == 2 and proc.stderr.decode().count("\n") == 1


def test_replay_alone_opens_the_newest_recording(tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    older, newer = folder / "a.cgr", folder / "b.cgr"
    shutil.copy(SAMPLES / "aio_prodcons-v2.cgr", newer)
    shutil.copy(SAMPLES / "two_locks-v2.cgr", older)
    os.utime(older, (time.time() - 100, time.time() - 100))
    proc = chronodbg("replay", "-c", "info tasks", cwd=tmp_path)
    assert proc.returncode == 0 and b"'consumer' (consume)" in proc.stdout


def test_list_marks_the_line(tmp_path: Path) -> None:
    run = record(tmp_path, ROOT / "docs" / "examples" / "two_locks.py")
    assert run.returncode == 86  # ended by the deadlock watchdog
    proc = chronodbg("replay", str(run.path), "-c", "break lock.wait", "-c", "c", "-c", "list")
    marked = [line for line in proc.stdout.decode().splitlines() if line.startswith("->")]
    assert marked == ["->   21         with second:"]


def test_prompt_through_a_pipe() -> None:
    from prompt_toolkit.data_structures import Size
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output.vt100 import Vt100_Output

    from chronodbg.repl.app import run_app

    screen = io.StringIO()
    output = Vt100_Output(screen, lambda: Size(rows=40, columns=200), term="dumb")
    commands = Commands(Session(Index(read_log(str(SAMPLES / "two_locks-v2.cgr")))))
    with create_pipe_input() as pipe:
        pipe.send_text("break lock.wait\nc\nc\ninfo threads\nnope\n\x04")
        assert run_app(commands, input=pipe, output=output) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert 'T2 "clerk-1": blocked on Lock#2 held by T3 "clerk-2" since seq 11' in text
    assert "error: unknown command 'nope'" in text and commands.session.cursor == 11


def test_completion() -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from chronodbg.repl.completer import ReplayCompleter

    commands = Commands(Session(Index(read_log(str(SAMPLES / "aio_prodcons-v2.cgr")))))
    completer = ReplayCompleter(commands)

    def complete(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), CompleteEvent())]

    assert complete("brea") == ["break"] and "reverse-continue" in complete("rev")
    assert {"task.suspend", "task.*"} <= set(complete("break task."))
    assert set(complete("break queue.put task=")) == {"task=1", "task=2", "task=3", "task=Task-1", "task=consumer", "task=producer"}
    assert complete("info q") == ["queues"] and complete("task cons") == ["consumer"]


@pytest.mark.skipif(sys.platform != "linux", reason="pty smoke test")
def test_pty_smoke() -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real command on a terminal
        os.environ.update(env())
        os.environ["XDG_STATE_HOME"] = "/tmp/chronodbg-pty-test-state"
        os.execv(sys.executable, [sys.executable, "-m", "chronodbg", "replay", str(SAMPLES / "two_locks-v2.cgr")])
    seen = b""

    def read_until(marker: bytes, timeout: float = 60.0) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
            plain = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", seen)
            if marker in plain:
                return
        # Colours on (a terminal): the text is there between escape sequences.
        assert marker in re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", seen), seen[-2000:]

    read_until(b"(chronodbg)")
    os.write(fd, b"break lock.wait\r")
    read_until(b"breakpoint 1: lock.wait")
    os.write(fd, b"continue\r")
    read_until(b"seq 8/17")
    os.write(fd, b"quit\r")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0


def test_ctrl_c_during_a_command_keeps_the_prompt() -> None:
    from prompt_toolkit.data_structures import Size
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output.vt100 import Vt100_Output

    from chronodbg.repl.app import run_app

    commands = Commands(Session(Index(read_log(str(SAMPLES / "two_locks-v2.cgr")))))
    real_run = commands.run
    interrupted = []

    def run(line: str) -> Any:
        if line.strip() == "continue" and not interrupted:
            interrupted.append(line)
            raise KeyboardInterrupt  # what Ctrl-C does to a long continue
        return real_run(line)

    commands.run = run  # type: ignore[method-assign]
    screen = io.StringIO()
    output = Vt100_Output(screen, lambda: Size(rows=40, columns=200), term="dumb")
    with create_pipe_input() as pipe:
        pipe.send_text("break lock.wait\ncontinue\ncontinue\nquit\n")
        assert run_app(commands, input=pipe, output=output) == 0
    assert "interrupted" in screen.getvalue() and commands.session.cursor == 8


def test_progress_bar_while_opening(capsys: pytest.CaptureFixture[str]) -> None:
    from chronodbg.replay_cmd import _ProgressBar

    bar = _ProgressBar("run.cgr")
    bar.reading(50, 100)
    bar.indexing(1000, 1000)
    bar.done()
    err = capsys.readouterr().err
    assert "reading  run.cgr [#######" in err and " 25%" in err and "indexing run.cgr [" + "#" * 30 + "] 100%" in err


def test_reply_highlighting_keeps_the_text_and_marks_labels() -> None:
    import pygments
    from pygments.token import Keyword, Name

    from chronodbg.repl.lexer import ReplyLexer

    text = (GOLD / "two_locks.transcript").read_text()
    tokens = list(pygments.lex(text, ReplyLexer()))
    assert "".join(value for _, value in tokens) == text
    kinds = {value: token for token, value in tokens}
    assert kinds["Lock#1"] in Name.Class and kinds['T2 "clerk-1"'] in Name.Function
    assert kinds["blocked on"] in Keyword and kinds["held by"] in Keyword
