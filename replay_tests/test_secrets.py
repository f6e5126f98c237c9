"""Secrets stay out of recordings at every level: argument names, dict keys, environment mappings, changed locals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from replay_tests.conftest import PROGRAMS, TIMEOUT, env

SECRETS = [b"SECRET-1", b"p-SECRET-2", b"k-SECRET-3", b"p-SECRET-4", b"t-SECRET-5", b"s-SECRET-6", b"S-SECRET-6"]


@pytest.mark.parametrize("level", ["sync", "calls", "lines"])
def test_no_secret_reaches_the_file_or_the_replay(tmp_path: Path, level: str) -> None:
    out = tmp_path / f"secrets-{level}.cgr"
    environment = env()
    environment["CHRONO_TEST_SECRET"] = "SECRET-1"
    proc = subprocess.run(
        [sys.executable, "-m", "chronodbg", "record", "-q", "--level", level, "-o", str(out), str(PROGRAMS / "secrets_everywhere.py")],
        capture_output=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        env=environment,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b"bob 10 10 3 True 10\n"
    data = out.read_bytes()
    assert [s for s in SECRETS if s in data] == []
    assert (out.stat().st_mode & 0o777) == 0o600
    dump = subprocess.run(
        [sys.executable, "-m", "chronodbg", "dump", "--locals", str(out)], capture_output=True, timeout=TIMEOUT, env=environment
    )
    text = dump.stdout
    assert dump.returncode == 0 and [s for s in SECRETS if s in text] == []
    # Redacted, not dropped: the names are there, and so is what is not secret.
    assert b"password=<redacted>" in text and b"'token': <redacted>" in text and b"'CHRONO_TEST_SECRET': <redacted>" in text
    assert b"'name': 'visible'" in text
    if level != "sync":
        assert b"api_key=<redacted>" in text
    if level == "lines":
        assert b"changed=(session_token=<redacted>)" in text
