"""Three threads, three locks, a cycle a -> b -> c -> a that no two of them close alone.

Each thread starts only once the previous one is done, so this run finishes.
"""

import threading

a = threading.Lock()
b = threading.Lock()
c = threading.Lock()
turns = [threading.Event() for _ in range(3)]


def take(first: threading.Lock, second: threading.Lock, turn: int) -> None:
    if turn:
        turns[turn - 1].wait()
    with first:  # holds first
        with second:  # takes second
            pass
    turns[turn].set()


threads = [
    threading.Thread(target=take, args=(a, b, 0), name="ab"),
    threading.Thread(target=take, args=(b, c, 1), name="bc"),
    threading.Thread(target=take, args=(c, a, 2), name="ca"),
]
for t in threads:
    t.start()
for t in threads:
    t.join()
