"""Two threads take a and b in opposite orders, but always inside the same gate lock: harmless."""

import threading

gate = threading.Lock()
a = threading.Lock()
b = threading.Lock()
first_done = threading.Event()


def forward() -> None:
    with gate:
        with a:
            with b:
                pass
    first_done.set()


def backward() -> None:
    first_done.wait()
    with gate:
        with b:
            with a:
                pass


threads = [threading.Thread(target=forward, name="forward"), threading.Thread(target=backward, name="backward")]
for t in threads:
    t.start()
for t in threads:
    t.join()
