"""A recorded program behaves exactly as under plain python: output bytes, exit status, argv, __main__."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from replay_tests.conftest import PROGRAMS, chronodbg, env, load_events, record, run_plain

EXITS = PROGRAMS / "exits.py"


@pytest.mark.parametrize(
    "how, status, end",
    [
        ("normal", 0, "exit"),
        ("exit3", 3, "sys.exit"),
        ("raise", 1, "exception"),
        ("interrupt", -signal.SIGINT, "KeyboardInterrupt"),
        ("os_exit", 7, "os._exit"),
    ],
)
def test_same_bytes_and_status_with_and_without_recording(tmp_path: Path, how: str, status: int, end: str) -> None:
    plain = run_plain(EXITS, how, cwd=tmp_path)
    run = record(tmp_path, EXITS, how)
    assert plain.returncode == status
    assert run.returncode == status
    assert run.stdout == plain.stdout
    assert run.stderr == plain.stderr
    exit_event = run.events[-1]
    assert exit_event["kind"] == "process.exit"
    assert exit_event["data"]["how"] == end
    if how == "raise":
        assert b"Traceback (most recent call last)" in run.stderr and b"chronodbg" not in run.stderr
        exc = run.by_kind("exception")[0]
        assert exc["data"]["type"] == "ValueError" and exc["func"] == "inner"
        assert exc["data"]["args"]["items"] == ["boom"]


def test_stdin_passes_through(tmp_path: Path) -> None:
    out = tmp_path / "stdin.cgr"
    proc = chronodbg("record", "-q", "-o", str(out), str(EXITS), "stdin", cwd=tmp_path, stdin=b"hello")
    assert proc.returncode == 0
    assert b"read HELLO" in proc.stdout


def test_module_mode_runs_like_python_dash_m(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tool.py").write_text(
        "import sys, threading\n"
        "lock = threading.Lock()\n"
        "with lock:\n"
        "    print('name', __name__, 'argv', sys.argv[1:], 'file', __file__.endswith('tool.py'), 'spec', __spec__.name)\n"
        "if '--fail' in sys.argv:\n"
        "    raise RuntimeError('bad')\n"
    )
    import subprocess

    plain = subprocess.run([sys.executable, "-m", "pkg.tool", "--flag"], capture_output=True, cwd=tmp_path, env=env())
    out = tmp_path / "m.cgr"
    recorded = chronodbg("record", "-q", "-o", str(out), "-m", "pkg.tool", "--flag", cwd=tmp_path)
    assert recorded.returncode == plain.returncode == 0
    assert recorded.stdout == plain.stdout == b"name __main__ argv ['--flag'] file True spec pkg.tool\n"
    kinds = [e["kind"] for e in load_events(out)]
    assert kinds.count("lock.acquire") == 1 and kinds.count("lock.release") == 1
    plain = subprocess.run([sys.executable, "-m", "pkg.tool", "--fail"], capture_output=True, cwd=tmp_path, env=env())
    recorded = chronodbg("record", "-q", "-o", str(out), "-m", "pkg.tool", "--fail", cwd=tmp_path)
    assert recorded.returncode == plain.returncode == 1
    assert recorded.stderr == plain.stderr


def test_script_sees_its_own_argv_file_and_path(tmp_path: Path) -> None:
    plain = run_plain(EXITS, "a", "--b", "-m", cwd=tmp_path)
    run = record(tmp_path, EXITS, "a", "--b", "-m")
    assert run.stdout == plain.stdout
    assert b"argv ['a', '--b', '-m'] name __main__ file exits.py" in run.stdout
    assert b"path0 programs" in run.stdout


def test_uncaught_exception_in_a_thread(tmp_path: Path) -> None:
    program = tmp_path / "dies.py"
    program.write_text(
        "import threading\n"
        "def work():\n"
        "    raise KeyError('gone')\n"
        "t = threading.Thread(target=work, name='doomed')\n"
        "t.start(); t.join()\n"
        "print('main goes on')\n"
    )
    plain = run_plain(program, cwd=tmp_path)
    run = record(tmp_path, program)
    assert run.returncode == plain.returncode == 0
    assert run.stdout == plain.stdout
    assert run.stderr == plain.stderr
    assert b"chronodbg" not in run.stderr
    doomed = [e for e in run.of_thread("doomed") if e["kind"] != "output"]
    assert [e["kind"] for e in doomed] == ["exception", "thread.end"]
    printed = "".join(e["data"]["text"] for e in run.of_thread("doomed") if e["kind"] == "output")
    assert printed.encode() == plain.stderr
    assert doomed[0]["data"]["type"] == "KeyError" and doomed[0]["func"] == "work"
    assert doomed[1]["data"]["exception"] == "KeyError"
