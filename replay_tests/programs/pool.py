"""ThreadPoolExecutor.map and a future waited on with result()."""

import threading
from concurrent.futures import ThreadPoolExecutor

release = threading.Event()


def square(x: int) -> int:
    return x * x


def slow() -> str:
    release.wait()
    return "done"


with ThreadPoolExecutor(max_workers=2, thread_name_prefix="pool") as pool:
    print(list(pool.map(square, range(6))))
    future = pool.submit(slow)
    release.set()
    print(future.result())
