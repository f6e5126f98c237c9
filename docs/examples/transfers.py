"""Two transfers lock the same two accounts in opposite orders.

This run never deadlocks: the second transfer starts after the first one
finished. Run the two at the same time and, some day, each will hold one
lock and wait for the other. `chronodbg analyze` finds that from this run.
"""

import threading

locks = {"alice": threading.Lock(), "bob": threading.Lock()}
balances = {"alice": 100, "bob": 100}


def transfer(source: str, target: str, amount: int) -> None:
    with locks[source]:
        with locks[target]:
            balances[source] -= amount
            balances[target] += amount


for args in (("alice", "bob", 10), ("bob", "alice", 5)):
    teller = threading.Thread(target=transfer, args=args, name=f"{args[0]}->{args[1]}")
    teller.start()
    teller.join()
print(balances)
