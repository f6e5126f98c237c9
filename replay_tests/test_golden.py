"""Recordings kept under recordings/samples must keep opening, and read exactly as they did."""

from __future__ import annotations

import json
from pathlib import Path

from chronodbg.logfile import read_log
from replay_tests.conftest import chronodbg

SAMPLES = Path(__file__).parent.parent / "recordings" / "samples"


def test_every_sample_opens_complete() -> None:
    samples = sorted(SAMPLES.glob("*.cgr"))
    assert samples, "recordings/samples holds the golden recordings"
    for sample in samples:
        rec = read_log(str(sample))
        assert rec.complete, sample
        assert rec.footer is not None and rec.footer["events"] == len(rec.events)


def test_format_v1_sample_dumps_as_its_gold_file() -> None:
    sample = SAMPLES / "bank_transfer-v1.cgr"
    gold = (SAMPLES / "bank_transfer-v1.dump.jsonl").read_text().splitlines()
    proc = chronodbg("dump", "--json", str(sample))
    assert proc.returncode == 0
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == len(gold) == 178
    for got, want in zip(lines, gold, strict=True):
        assert json.loads(got) == json.loads(want)
    info = json.loads(chronodbg("info", "--json", str(sample)).stdout)
    assert info["format_version"] == 1
    assert [o["label"] for o in info["objects"]] == ["Lock#1", "Lock#2", "Lock#3", "Queue#4"]


def test_every_sample_dumps_as_its_gold_file() -> None:
    """Formats 2 and 3 too (tasks, code-level events, signatures): each `X.cgr` next to its `X.dump.jsonl`."""
    for sample in sorted(SAMPLES.glob("*.cgr")):
        gold = (SAMPLES / (sample.stem + ".dump.jsonl")).read_text().splitlines()
        proc = chronodbg("dump", "--json", str(sample))
        assert proc.returncode == 0, sample
        got = [json.loads(line) for line in proc.stdout.decode().splitlines()]
        assert got == [json.loads(line) for line in gold], sample
    assert {read_log(str(s)).header["format_version"] for s in SAMPLES.glob("*.cgr")} == {1, 2, 3}


def test_the_format_3_sample_verifies_and_replays_its_deadlock_at_code_level() -> None:
    """two_locks_lines-v3.cgr: --level lines, signed with the key "sample-key", ended by the watchdog."""
    sample = str(SAMPLES / "two_locks_lines-v3.cgr")
    rec = read_log(sample, key=b"sample-key")
    assert rec.header["format_version"] == 3 and rec.header["tracer"] == "sys.monitoring"
    assert [e.kind for e in rec.events][-2:] == ["deadlock", "process.exit"]
    proc = chronodbg("replay", sample, "-c", "goto deadlock", "-c", "where")
    assert proc.returncode == 0, proc.stderr.decode()
    text = proc.stdout.decode()
    assert 'lock.wait Lock#2 · two_locks.py:21 move' in text and "#0  move(" in text
