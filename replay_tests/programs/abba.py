"""Two threads take two locks in opposite orders and deadlock (forced by a Barrier)."""

import threading

lock_a = threading.Lock()
lock_b = threading.Lock()
both_hold_one = threading.Barrier(2)


def left() -> None:
    with lock_a:
        both_hold_one.wait()
        with lock_b:
            pass


def right() -> None:
    with lock_b:
        both_hold_one.wait()
        with lock_a:
            pass


threads = [threading.Thread(target=left, name="left", daemon=True), threading.Thread(target=right, name="right", daemon=True)]
for t in threads:
    t.start()
print("started", flush=True)
for t in threads:
    t.join()
