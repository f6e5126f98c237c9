"""The benchmark suite's smoke mode runs in the test suite: every workload, level, peer and the replay part, tiny.

It fails only on crashes: a chronodbg variant that fails or prints another
checksum than the plain run, or a part of the suite that raises. Speed is
never checked here (see docs/performance.md, "The benchmark suite (issue 8)").
Peers that cannot install or run on this Python are skipped with the reason
the suite prints, which this test shows on failure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SUITE = Path(__file__).resolve().parent / "benchmarks" / "suite.py"


def test_suite_smoke(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    proc = subprocess.run(
        [sys.executable, str(SUITE), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-4000:]
    assert "## The benchmark suite (issue 8)" in proc.stdout
    assert out.exists()
