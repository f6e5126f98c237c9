"""A small bank: two tellers take transfer requests from a bounded queue and lock accounts.

Run it recorded and look at who held which lock, when, and what was in the
request queue:

    chronodbg record docs/examples/bank_transfer.py
"""

import queue
import random
import threading


class Account:
    def __init__(self, name: str, balance: int) -> None:
        self.name = name
        self.balance = balance
        self.lock = threading.Lock()


def transfer(src: Account, dst: Account, amount: int) -> None:
    # Always lock in name order so two opposite transfers cannot deadlock.
    first, second = sorted((src, dst), key=lambda account: account.name)
    with first.lock:
        with second.lock:
            src.balance -= amount
            dst.balance += amount


def teller(requests: "queue.Queue[tuple[Account, Account, int] | None]") -> None:
    while (request := requests.get()) is not None:
        transfer(*request)
        requests.task_done()
    requests.task_done()


def main() -> None:
    accounts = [Account(name, 100) for name in ("alice", "bob", "carol")]
    requests: "queue.Queue[tuple[Account, Account, int] | None]" = queue.Queue(maxsize=4)
    tellers = [threading.Thread(target=teller, args=(requests,), name=f"teller-{i}") for i in range(2)]
    for t in tellers:
        t.start()
    rng = random.Random(7)
    for _ in range(20):
        src, dst = rng.sample(accounts, 2)
        requests.put((src, dst, rng.randint(1, 10)))
    for _ in tellers:
        requests.put(None)
    requests.join()
    for t in tellers:
        t.join()
    total = sum(account.balance for account in accounts)
    print("balances:", {account.name: account.balance for account in accounts}, "total:", total)


if __name__ == "__main__":
    main()
