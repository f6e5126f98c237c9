"""The command line: options, default paths, filters, JSON interfaces and one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from replay_tests.conftest import PROGRAMS, chronodbg, record

EVENT_KEYS = {"seq", "t_ns", "thread", "thread_name", "task", "task_name", "kind", "obj", "obj_label", "file", "line", "func", "data", "locals"}


def test_default_output_goes_to_recordings_with_a_summary_line(tmp_path: Path) -> None:
    proc = chronodbg("record", str(PROGRAMS / "handoff.py"), cwd=tmp_path)
    assert proc.returncode == 0
    files = list((tmp_path / "recordings").glob("handoff-*.cgr"))
    assert len(files) == 1
    assert len(files[0].name) == len("handoff-20261126-101500.cgr")
    line = proc.stderr.decode()
    assert line.startswith("chronodbg: recorded ") and line.endswith("(nothing dropped)\n")
    assert f"to recordings/{files[0].name}" in line and " 3 threads, " in line
    # A second recording in the same second gets its own file.
    again = chronodbg("record", "-q", str(PROGRAMS / "handoff.py"), cwd=tmp_path)
    assert again.returncode == 0 and again.stderr == b""
    assert len(list((tmp_path / "recordings").glob("handoff-*.cgr"))) == 2


def test_dump_json_schema_and_filters(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "bank.py", "20")
    proc = chronodbg("dump", str(run.path), "--json")
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(lines) == len(run.events) and all(set(line) == EVENT_KEYS for line in lines)
    assert all(line["task"] is None for line in lines)
    alice = chronodbg("dump", str(run.path), "--json", "--thread", "alice", "--kind", "lock.*")
    picked = [json.loads(line) for line in alice.stdout.decode().splitlines()]
    assert [p["kind"] for p in picked] == ["lock.acquire", "lock.acquire", "lock.release", "lock.release"]
    ranged = chronodbg("dump", str(run.path), "--json", "--from", "3", "--to", "5")
    assert [json.loads(line)["seq"] for line in ranged.stdout.decode().splitlines()] == [3, 4, 5]
    text = chronodbg("dump", str(run.path), "--thread", "2", "--locals")
    assert text.returncode == 0 and b"locals: " in text.stdout and b"lock.acquire" in text.stdout


def test_info_json(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "prodcons.py")
    info = json.loads(chronodbg("info", "--json", str(run.path)).stdout)
    for key in ("format_version", "program", "argv", "python", "events", "complete", "threads", "objects", "kinds"):
        assert key in info
    assert info["complete"] is True and info["events"] == len(run.events)
    assert {t["name"] for t in info["threads"]} == {"MainThread", "producer", "consumer"}
    assert sum(t["events"] for t in info["threads"]) == info["events"]
    assert {o["label"] for o in info["objects"]} == {"Queue#1", "Event#2"}
    assert info["kinds"]["queue.put"] == 6
    text = chronodbg("info", str(run.path)).stdout.decode()
    assert "complete" in text and "Queue#1" in text and "prodcons.py:7" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["dump", "{log}", "--kind", "nope.*"], "chronodbg: dump: no event kind matches 'nope.*' (try lock.*, queue.put, thread.*)\n"),
        (["dump", "{log}", "--thread", "ghost"], "chronodbg: dump: no thread 'ghost' in {log}\n"),
        (["record"], "chronodbg: record: no program given (chronodbg record app.py, or -m module)\n"),
        (["record", "-m", "no_such_module_xyz"], "chronodbg: record: no module named 'no_such_module_xyz'\n"),
        (["record", "--locals", "all", "x.py"], None),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], message: str | None) -> None:
    run = record(tmp_path, PROGRAMS / "handoff.py")
    args = [a.replace("{log}", str(run.path)) for a in args]
    proc = chronodbg(*args, cwd=tmp_path)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err.count("\n") == 1 and err.startswith("chronodbg: ") and "Traceback" not in err
    if message is not None:
        assert err == message.replace("{log}", str(run.path))


def test_missing_script_and_unwritable_output_fail_before_running(tmp_path: Path) -> None:
    proc = chronodbg("record", "nothere.py", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.decode() == f"chronodbg: can't open file '{tmp_path / 'nothere.py'}': No such file or directory\n"
    assert not (tmp_path / "recordings").exists()
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        proc = chronodbg("record", "-o", str(locked / "x.cgr"), str(PROGRAMS / "handoff.py"), cwd=tmp_path)
        assert proc.returncode == 2 and b"permission denied" in proc.stderr
    proc = chronodbg("record", "-o", str(tmp_path), str(PROGRAMS / "handoff.py"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.decode() == f"chronodbg: cannot write {tmp_path}: is a directory\n"
    assert proc.stdout == b"", "the program must not run when its recording cannot be written"


def test_syntax_error_in_target_is_reported_like_python(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("x = (\n")
    from replay_tests.conftest import run_plain

    plain = run_plain(bad, cwd=tmp_path)
    proc = chronodbg("record", "-q", "-o", str(tmp_path / "b.cgr"), str(bad), cwd=tmp_path)
    assert proc.returncode == plain.returncode == 1
    assert proc.stderr == plain.stderr


def test_include_and_exclude_choose_user_code(tmp_path: Path) -> None:
    lib = tmp_path / "helper_lib.py"
    lib.write_text("import threading\ndef make():\n    return threading.Lock()\n")
    app = tmp_path / "app.py"
    app.write_text("import threading, helper_lib\nmine = threading.Lock()\ntheirs = helper_lib.make()\nwith mine:\n    pass\nwith theirs:\n    pass\n")
    both = record(tmp_path, app)
    assert {e["obj_label"] for e in both.by_kind("lock.acquire")} == {"Lock#1", "Lock#2"}
    only_app = record(tmp_path, app, options=("--exclude", "*/helper_lib.py"))
    assert {e["obj_label"] for e in only_app.by_kind("lock.acquire")} == {"Lock#1"}
    only_lib = record(tmp_path, app, options=("--include", "*/helper_lib.py"))
    acquires = only_lib.by_kind("lock.acquire")
    assert [e["obj_label"] for e in acquires] == ["Lock#1"]
    assert acquires[0]["file"] is None, "app.py is not user code: no site inside it"
    env_out = tmp_path / "env.cgr"
    env = dict(os.environ, CHRONODBG_EXCLUDE="*/helper_lib.py")
    import subprocess
    import sys

    from replay_tests.conftest import env as base_env

    merged = base_env()
    merged["CHRONODBG_EXCLUDE"] = env["CHRONODBG_EXCLUDE"]
    subprocess.run([sys.executable, "-m", "chronodbg", "record", "-q", "-o", str(env_out), str(app)], cwd=tmp_path, env=merged, check=True)
    from replay_tests.conftest import load_events

    assert {e["obj_label"] for e in load_events(env_out) if e["kind"] == "lock.acquire"} == {"Lock#1"}


def test_locals_none_and_no_redact(tmp_path: Path) -> None:
    run = record(tmp_path, PROGRAMS / "rlock.py", options=("--locals", "none"))
    assert all(e["locals"] is None for e in run.events)
    run = record(tmp_path, PROGRAMS / "rlock.py", options=("--no-redact",))
    module = [e for e in run.events if e["func"] == "<module>" and e["locals"]]
    assert module[0]["locals"]["secret_token"] == "s3cr3t"
    run = record(tmp_path, PROGRAMS / "rlock.py", options=("--redact", "^depth$"))
    deepest = [e for e in run.by_kind("lock.acquire") if e["func"] == "nested"]
    assert all(e["locals"]["depth"] == "<redacted>" for e in deepest)


def test_help_and_python_dash_m(tmp_path: Path) -> None:
    proc = chronodbg("record", "--help")
    assert proc.returncode == 0 and b"usage: chronodbg record" in proc.stdout
    proc = chronodbg("--version")
    assert proc.returncode == 0 and proc.stdout.startswith(b"chronodbg ")


def test_unwritable_device_is_a_one_line_error(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    proc = chronodbg("record", "-o", "/dev/full", str(PROGRAMS / "handoff.py"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.decode() == "chronodbg: cannot write /dev/full: No space left on device\n"
    assert proc.stdout == b""
