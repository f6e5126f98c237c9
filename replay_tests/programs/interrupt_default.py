"""_thread.interrupt_main() of a signal at SIG_DFL does nothing (CPython's rule), recorded too."""

import _thread
import signal
import threading

lock = threading.Lock()
for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    previous = signal.getsignal(signum)
    signal.signal(signum, signal.SIG_DFL)
    with lock:
        _thread.interrupt_main(signum)
    print(signal.Signals(signum).name, "at SIG_DFL: still running", flush=True)
    signal.signal(signum, previous)
print("done")
