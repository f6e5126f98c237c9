"""Signed recordings (format 3): record --sign-key-env, and info/dump/replay --verify-key-env.

Every way of tampering with a signed file gives one line naming what fails and
exit status 3; the key never reaches the file or any output.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import msgpack
import pytest

from chronodbg.logfile import format as fmt
from replay_tests.conftest import chronodbg

KEY = "k3y-Of-The-Signing-Test-7f2c"
VAR = "CHRONODBG_TEST_SIGN_KEY"

#: Enough events for at least three chunks of CHUNK_EVENTS, in one thread.
PROGRAM = """\
import threading
lock = threading.Lock()
for i in range(6000):
    with lock:
        pass
"""

#: (offset, tag, frame bytes including its SIGN frame)
Frame = tuple[int, bytes, bytes]


def _frames(data: bytes) -> list[Frame]:
    """The frames of a signed file, each with the SIGN frame that follows it."""
    out = []
    offset = len(fmt.MAGIC)
    while offset + fmt.FRAME.size <= len(data):
        tag, length, _ = fmt.FRAME.unpack_from(data, offset)
        end = offset + fmt.FRAME.size + length
        sign_tag, sign_length, _ = fmt.FRAME.unpack_from(data, end)
        assert sign_tag == fmt.TAG_SIGN and sign_length == 32
        end += fmt.FRAME.size + sign_length
        out.append((offset, tag, data[offset:end]))
        offset = end
        if tag == fmt.TAG_FOOTER:
            break
    return out


def _events_of(frame: bytes) -> str:
    length = fmt.FRAME.unpack_from(frame)[1]
    first, count = msgpack.unpackb(frame[fmt.FRAME.size : fmt.FRAME.size + length], raw=False)[:2]
    return f"events {first}-{first + count - 1}"


def _join(data: bytes, frames: list[Frame]) -> bytes:
    """The file with these frames, and the original trailer if the footer is among them."""
    tail = data[-fmt.TRAILER.size :] if frames[-1][1] == fmt.TAG_FOOTER else b""
    return fmt.MAGIC + b"".join(frame for _, _, frame in frames) + tail


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, KEY)


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tmp = tmp_path_factory.mktemp("signed")
    program = tmp / "app.py"
    program.write_text(PROGRAM)
    out = tmp / "run.cgr"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(VAR, KEY)
        proc = chronodbg("record", "--sign-key-env", VAR, "-o", str(out), str(program), cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    assert KEY.encode() not in proc.stdout + proc.stderr
    return out.read_bytes()


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "run.cgr"
    path.write_bytes(data)
    return path


def _refused(path: Path, message: str) -> None:
    """Every command with the key refuses `path` with exactly this one line and status 3."""
    for args in (("info",), ("dump", "--json"), ("replay", "-c", "where")):
        proc = chronodbg(*args, "--verify-key-env", VAR, str(path))
        assert proc.returncode == 3, (args, proc.stderr)
        assert proc.stderr.decode() == f"chronodbg: {path}: {message}\n", args
        assert proc.stdout == b"" and KEY.encode() not in proc.stderr


def test_round_trip_verifies(tmp_path: Path, signed: bytes) -> None:
    path = _write(tmp_path, signed)
    frames = _frames(signed)
    assert [tag for _, tag, _ in frames[:1] + frames[-1:]] == [fmt.TAG_HEADER, fmt.TAG_FOOTER]
    assert sum(tag == fmt.TAG_CHUNK for _, tag, _ in frames) >= 3
    outputs = []
    info = chronodbg("info", "--json", "--verify-key-env", VAR, str(path))
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert (data["format_version"], data["signed"], data["verified"], data["complete"]) == (fmt.FORMAT_VERSION, "hmac-sha256", True, True)
    text = chronodbg("info", "--verify-key-env", VAR, str(path))
    assert "signature   hmac-sha256, verified\n" in text.stdout.decode()
    verified = chronodbg("dump", "--json", "--verify-key-env", VAR, str(path))
    plain = chronodbg("dump", "--json", str(path))
    assert verified.returncode == plain.returncode == 0
    assert verified.stdout == plain.stdout and len(plain.stdout.splitlines()) > 12000
    replay = chronodbg("replay", "--verify-key-env", VAR, str(path), "-c", "goto 100", "-c", "where")
    assert replay.returncode == 0, replay.stderr
    outputs += [info, text, verified, plain, replay]
    for proc in outputs:
        assert KEY.encode() not in proc.stdout + proc.stderr
    assert KEY.encode() not in signed and KEY[:8].encode() not in signed


def test_signed_file_opens_unverified_without_the_flag(tmp_path: Path, signed: bytes) -> None:
    path = _write(tmp_path, signed)
    info = chronodbg("info", str(path))
    assert info.returncode == 0 and info.stderr == b""
    assert "signature   hmac-sha256, not verified (open it with --verify-key-env VAR)\n" in info.stdout.decode()
    data = json.loads(chronodbg("info", "--json", str(path)).stdout)
    assert (data["signed"], data["verified"]) == ("hmac-sha256", False)


@pytest.mark.parametrize("fix_checksum", [False, True])
def test_flipped_byte_names_the_chunk(tmp_path: Path, signed: bytes, fix_checksum: bool) -> None:
    frames = _frames(signed)
    offset, tag, frame = frames[3]
    assert tag == fmt.TAG_CHUNK
    length = fmt.FRAME.unpack_from(frame)[1]
    body = bytearray(frame[fmt.FRAME.size : fmt.FRAME.size + length])
    body[-1] ^= 0x01  # inside the packed locals: the chunk still decodes
    crc = zlib.crc32(body) if fix_checksum else fmt.FRAME.unpack_from(frame)[2]
    changed = fmt.FRAME.pack(tag, length, crc) + bytes(body) + frame[fmt.FRAME.size + length :]
    frames[3] = (offset, tag, changed)
    path = _write(tmp_path, _join(signed, frames))
    _refused(path, f"chunk 3 ({_events_of(frame)}) fails its signature at byte {offset}")
    if fix_checksum:
        # Without the key nothing can tell: the file opens, unverified.
        assert chronodbg("info", str(path)).returncode == 0


def test_swapped_chunks(tmp_path: Path, signed: bytes) -> None:
    frames = _frames(signed)
    frames[1], frames[2] = frames[2], frames[1]
    path = _write(tmp_path, _join(signed, frames))
    _refused(path, f"chunk 1 ({_events_of(frames[1][2])}) fails its signature at byte {frames[2][0]}")


def test_dropped_chunk(tmp_path: Path, signed: bytes) -> None:
    frames = _frames(signed)
    del frames[2]
    path = _write(tmp_path, _join(signed, frames))
    _refused(path, f"chunk 2 ({_events_of(frames[2][2])}) fails its signature at byte {frames[1][0] + len(frames[1][2])}")


def test_added_chunk(tmp_path: Path, signed: bytes) -> None:
    frames = _frames(signed)
    frames.insert(2, frames[1])
    path = _write(tmp_path, _join(signed, frames))
    _refused(path, f"chunk 2 ({_events_of(frames[1][2])}) fails its signature at byte {frames[1][0] + len(frames[1][2])}")


def test_dropped_last_chunk_fails_the_footer(tmp_path: Path, signed: bytes) -> None:
    frames = _frames(signed)
    del frames[-2]
    chunks = len(frames) - 2
    path = _write(tmp_path, _join(signed, frames))
    footer_at = len(fmt.MAGIC) + sum(len(frame) for _, _, frame in frames[:-1])
    _refused(path, f"footer fails its signature (after chunk {chunks}) at byte {footer_at}")


def test_truncated_file_verifies_what_it_has(tmp_path: Path, signed: bytes) -> None:
    frames = _frames(signed)
    cut = frames[3][0] + 100
    path = _write(tmp_path, signed[:cut])
    info = chronodbg("info", "--verify-key-env", VAR, str(path))
    assert info.returncode == 0, info.stderr
    note = f"no footer; incomplete chunk at byte {frames[3][0]} ignored; the 2 chunks read verify, the signed end is missing"
    assert info.stderr.decode() == f"chronodbg: {path}: recovered, {note}\n"
    assert "signature   hmac-sha256, verified as far as it goes; the signed end is missing\n" in info.stdout.decode()
    # Cut between a chunk and its MAC: that chunk counts as incomplete too.
    between = frames[3][0] + len(frames[3][2]) - 20
    path = _write(tmp_path, signed[:between])
    replay = chronodbg("replay", "--verify-key-env", VAR, str(path), "-c", "where")
    assert replay.returncode == 0, replay.stderr
    note = f"no footer; incomplete chunk at byte {frames[3][0]} ignored; the 2 chunks read verify, the signed end is missing"
    assert replay.stderr.decode() == f"chronodbg: {path}: recovered, {note}\n"


def test_wrong_key(tmp_path: Path, signed: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, signed)
    monkeypatch.setenv(VAR, "not-the-key")
    _refused(path, f"header fails its signature (wrong key?) at byte {len(fmt.MAGIC)}")


def test_unsigned_file_is_refused(tmp_path: Path) -> None:
    sample = Path(__file__).parent.parent / "recordings" / "samples" / "two_locks-v2.cgr"
    proc = chronodbg("info", "--verify-key-env", VAR, str(sample))
    assert proc.returncode == 3 and proc.stdout == b""
    assert proc.stderr.decode() == f"chronodbg: {sample}: not signed, so there is nothing to verify (drop --verify-key-env)\n"


def test_missing_key_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program = tmp_path / "app.py"
    marker = tmp_path / "ran"
    program.write_text(f"open({str(marker)!r}, 'w').close()\n")
    for value in (None, ""):
        if value is None:
            monkeypatch.delenv(VAR)
        else:
            monkeypatch.setenv(VAR, value)
        proc = chronodbg("record", "--sign-key-env", VAR, "-o", str(tmp_path / "r.cgr"), str(program), cwd=tmp_path)
        assert proc.returncode == 2
        message = f"chronodbg: record: --sign-key-env {VAR}: the environment variable {VAR} is not set or is empty\n"
        assert proc.stderr.decode() == message
        assert not marker.exists() and not (tmp_path / "r.cgr").exists()
        info = chronodbg("info", "--verify-key-env", VAR, str(tmp_path / "r.cgr"))
        assert info.returncode == 2
        assert info.stderr.decode() == f"chronodbg: --verify-key-env {VAR}: the environment variable {VAR} is not set or is empty\n"


def test_old_samples_still_open() -> None:
    samples = sorted((Path(__file__).parent.parent / "recordings" / "samples").glob("*.cgr"))
    assert len(samples) >= 3
    for sample in samples:
        info = chronodbg("info", "--json", str(sample))
        assert info.returncode == 0, (sample, info.stderr)
        data = json.loads(info.stdout)
        if data["format_version"] in (1, 2):
            assert (data["signed"], data["verified"]) == (None, False)
        else:  # the format 3 sample is signed (test_golden verifies it with its key)
            assert (data["format_version"], data["signed"], data["verified"]) == (3, "hmac-sha256", False)
        gold = (sample.parent / (sample.stem + ".dump.jsonl")).read_text().splitlines()
        dump = chronodbg("dump", "--json", str(sample))
        assert [json.loads(line) for line in dump.stdout.decode().splitlines()] == [json.loads(line) for line in gold]


def test_frame_in_place_of_the_mac(tmp_path: Path, signed: bytes) -> None:
    """A frame other than SIGN where the MAC belongs is a one-line error, with or without the key."""
    frames = _frames(signed)
    offset, tag, frame = frames[1]
    length = fmt.FRAME.unpack_from(frame)[1]
    mac_at = fmt.FRAME.size + length
    mac = frame[mac_at + fmt.FRAME.size :]
    broken = frame[:mac_at] + fmt.FRAME.pack(fmt.TAG_CHUNK, len(mac), zlib.crc32(mac)) + mac
    frames[1] = (offset, tag, broken)
    path = _write(tmp_path, _join(signed, frames))
    for key_args in ((), ("--verify-key-env", VAR)):
        proc = chronodbg("info", *key_args, str(path))
        assert proc.returncode == 2
        assert proc.stderr.decode() == f"chronodbg: {path}: signature missing at byte {offset + mac_at}\n"
        assert b"Traceback" not in proc.stderr


def test_the_library_signs_too(tmp_path: Path) -> None:
    import chronodbg
    from chronodbg.logfile import read_log

    path = tmp_path / "lib.cgr"
    with chronodbg.record(str(path), sign_key=b"library key"):
        chronodbg.mark("signed")
    assert b"library key" not in path.read_bytes()
    rec = read_log(str(path), key=b"library key")
    assert [e.kind for e in rec.events][:1] == ["mark"]
