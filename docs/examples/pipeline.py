"""Orders flow through two queues: main -> checker thread -> packer thread -> main.

Each stage changes the order a little. In replay, `goto cause` follows one
order backwards from where main receives it to where main sent it.
"""

import queue
import threading

to_check: queue.Queue[dict[str, object] | None] = queue.Queue()
to_pack: queue.Queue[dict[str, object] | None] = queue.Queue()
done: queue.Queue[dict[str, object]] = queue.Queue()


def check() -> None:
    while (order := to_check.get()) is not None:
        checked = {**order, "ok": order["qty"] <= 5}
        to_pack.put(checked)
    to_pack.put(None)


def pack() -> None:
    while (order := to_pack.get()) is not None:
        boxes = 1 + order["qty"] // 3 if order["ok"] else 0
        done.put({**order, "boxes": boxes})


workers = [threading.Thread(target=check, name="checker"), threading.Thread(target=pack, name="packer")]
for worker in workers:
    worker.start()
for number, qty in enumerate([2, 7, 4], start=1):
    to_check.put({"id": number, "qty": qty})
to_check.put(None)
results = [done.get() for _ in range(3)]
for worker in workers:
    worker.join()
print(results)
