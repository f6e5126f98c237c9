"""Two threads take two locks in opposite orders: a deadlock waiting to happen, that does not happen here.

An Event makes `right` start only after `left` has released both locks, so
this run always finishes; `chronodbg analyze` still reports the inversion.
"""

import threading

accounts = threading.Lock()
ledger = threading.Lock()
left_done = threading.Event()


def left() -> None:
    with accounts:  # left holds accounts
        with ledger:  # left takes ledger
            pass
    left_done.set()


def right() -> None:
    left_done.wait()
    with ledger:  # right holds ledger
        with accounts:  # right takes accounts
            pass


threads = [threading.Thread(target=left, name="left"), threading.Thread(target=right, name="right")]
for t in threads:
    t.start()
for t in threads:
    t.join()
