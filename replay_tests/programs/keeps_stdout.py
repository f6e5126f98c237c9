"""A program replacing sys.stdout / sys.stderr with its own objects mid-run, printing from threads meanwhile.

Modes: stringio, fileclass, threads, keep (never restored: the program's own
object is still installed when the interpreter exits).
"""

import contextlib
import io
import os
import sys
import tempfile
import threading

mode = sys.argv[1]
HANG_GUARD = 60.0


class ToFile:
    """A minimal stream of the program's own: write and flush, nothing else."""

    def __init__(self, path):
        self.file = open(path, "w")
        self.writes = 0

    def write(self, text):
        self.writes += 1
        return self.file.write(text)

    def flush(self):
        self.file.flush()


print("before, stdout is", sys.stdout.__class__.__name__, "stderr is", sys.stderr.__class__.__name__)
print("isinstance TextIOWrapper:", isinstance(sys.stdout, io.TextIOWrapper), sys.stdout is sys.__stdout__, sys.stderr is sys.__stderr__)
print("fileno", sys.stdout.fileno(), sys.stderr.fileno(), "encoding", sys.stdout.encoding)
# The one documented difference: the recorder's wrapper is not a TextIOWrapper to type().
print("type:", type(sys.stdout).__name__, type(sys.stdout) is io.TextIOWrapper)
if mode == "stringio":
    saved_out, saved_err = sys.stdout, sys.stderr
    sys.stdout = captured = io.StringIO()
    sys.stderr = captured_err = io.StringIO()
    print("captured line")
    print("captured error", file=sys.stderr)
    sys.stdout, sys.stderr = saved_out, saved_err
    print("got:", repr(captured.getvalue()), repr(captured_err.getvalue()))
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        print("redirected")
    print("redirect_stdout got:", repr(buf.getvalue()))
    print("restored is the original:", sys.stdout is saved_out)
elif mode == "fileclass":
    path = os.path.join(tempfile.mkdtemp(), "out.txt")
    saved = sys.stdout
    sys.stdout = ToFile(path)
    print("to the file", 1)
    print("to the file", 2)
    writes = sys.stdout.writes
    sys.stdout.file.close()
    sys.stdout = saved
    with open(path) as f:
        print("file has:", repr(f.read()), "writes:", writes)
elif mode == "threads":
    saved = sys.stdout
    sys.stdout = captured = io.StringIO()
    start = threading.Barrier(4)
    lock = threading.Lock()

    def worker(n):
        start.wait(HANG_GUARD)
        for i in range(3):
            with lock:
                print(f"worker {n} line {i}")

    threads = [threading.Thread(target=worker, args=(n,), name=f"w{n}") for n in range(3)]
    for t in threads:
        t.start()
    start.wait(HANG_GUARD)
    for t in threads:
        t.join()
    sys.stdout = saved
    print("captured from threads:", sorted(captured.getvalue().splitlines()))
elif mode == "keep":
    sys.stdout = ToFile(os.devnull)
    sys.stderr = sys.stdout
    print("lost")
    sys.stdout = sys.__stdout__
    print("back on the real stdout:", sys.stdout is sys.__stdout__)
    # Never restored: the interpreter flushes this object at exit, and the
    # "Exception ignored" message of the finaliser below goes into it, unseen.
    class Flushing(io.StringIO):
        def flush(self):
            os.write(1, b"the program's stderr flushed at exit\n")

    sys.stderr = Flushing()
print("after, stdout is", sys.stdout.__class__.__name__, sys.stdout is sys.__stdout__)
