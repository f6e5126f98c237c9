"""Lock-ordered bank transfers: a forced phase (exact order) then a free-for-all."""

import random
import sys
import threading


class Account:
    def __init__(self, name: str, balance: int) -> None:
        self.name = name
        self.balance = balance
        self.lock = threading.Lock()


def transfer(src: Account, dst: Account, amount: int) -> None:
    first, second = (src, dst) if src.name < dst.name else (dst, src)
    with first.lock:
        with second.lock:
            src.balance -= amount
            dst.balance += amount


a = Account("a", 1000)
b = Account("b", 1000)
c = Account("c", 1000)
first_done = threading.Event()


def alice() -> None:
    transfer(a, b, 10)
    first_done.set()


def bob() -> None:
    first_done.wait()
    transfer(b, a, 5)


def churn(seed: int) -> None:
    rng = random.Random(seed)
    accounts = [a, b, c]
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 200):
        src, dst = rng.sample(accounts, 2)
        transfer(src, dst, rng.randint(1, 5))


forced = [threading.Thread(target=alice, name="alice"), threading.Thread(target=bob, name="bob")]
for t in forced:
    t.start()
for t in forced:
    t.join()
print("after forced phase:", a.balance, b.balance, c.balance)
workers = [threading.Thread(target=churn, args=(i,), name=f"churn-{i}") for i in range(4)]
for t in workers:
    t.start()
for t in workers:
    t.join()
print("total:", a.balance + b.balance + c.balance)
