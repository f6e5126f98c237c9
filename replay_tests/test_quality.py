"""The package type-checks under mypy --strict and passes ruff: part of the suite, not a side step."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_mypy_strict_is_clean() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--python-version", f"{sys.version_info[0]}.{sys.version_info[1]}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff is not None, "ruff is a test extra: pip install -e '.[test]'"
    proc = subprocess.run([ruff, "check", "chronodbg", "replay_tests"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_importing_chronodbg_is_cheap() -> None:
    code = "import sys, chronodbg; bad = [m for m in ('prompt_toolkit', 'msgpack', 'threading_recorder', 'chronodbg.recorder.control') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
