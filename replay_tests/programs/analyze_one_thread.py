"""One thread takes two locks in both orders; another takes one of them alone: no inversion two threads can close."""

import threading

a = threading.Lock()
b = threading.Lock()
r = threading.RLock()


def both_orders() -> None:
    with a:
        with b:
            pass
    with b:
        with a:
            pass
    with r:
        with r:  # re-entry is no lock order
            with a:
                pass


def only_a() -> None:
    with a:
        pass


first = threading.Thread(target=both_orders, name="both")
first.start()
first.join()
second = threading.Thread(target=only_a, name="only-a")
second.start()
second.join()
