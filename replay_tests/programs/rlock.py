"""RLock recursion: depth climbs to 3 and back, then another thread gets it."""

import threading

rlock = threading.RLock()
secret_token = "s3cr3t"


def nested(depth: int) -> int:
    with rlock:
        if depth < 3:
            return nested(depth + 1)
        return depth


def other() -> None:
    with rlock:
        pass


print("depth", nested(1))
t = threading.Thread(target=other, name="other")
t.start()
t.join()
