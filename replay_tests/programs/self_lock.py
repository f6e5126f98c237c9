"""A thread takes a plain Lock it already holds: it waits for itself."""

import threading

lock = threading.Lock()


def again() -> None:
    with lock:
        with lock:
            pass


worker = threading.Thread(target=again, name="again")
worker.start()
worker.join()
