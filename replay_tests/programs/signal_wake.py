"""Every thread blocks with no timeout, but a signal handler is what wakes them (a common server shape)."""

import signal
import threading

stop = threading.Event()
signal.signal(signal.SIGUSR1, lambda signum, frame: stop.set())
worker = threading.Thread(target=stop.wait, name="worker")
worker.start()
print("waiting for SIGUSR1", flush=True)
stop.wait()
worker.join()
print("stopped", flush=True)
