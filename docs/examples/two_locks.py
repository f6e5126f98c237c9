"""Two clerks move money between the same two accounts, each locking in its own order.

Clerk one locks `checking` then `savings`; clerk two locks `savings` then
`checking`. The Barrier makes both take their first lock before either asks
for its second, so they deadlock every time, and the main thread waits for
them forever. Run it under `chronodbg record`: its watchdog sees the cycle,
says who waits for whom, and ends the program with status 86.
"""

import threading

checking = threading.Lock()
savings = threading.Lock()
both_hold_one = threading.Barrier(2)
balances = {"checking": 100, "savings": 100}


def move(first: threading.Lock, second: threading.Lock, source: str, target: str, amount: int) -> None:
    with first:
        both_hold_one.wait()
        with second:
            balances[source] -= amount
            balances[target] += amount


clerks = [
    threading.Thread(target=move, args=(checking, savings, "checking", "savings", 10), name="clerk-1"),
    threading.Thread(target=move, args=(savings, checking, "savings", "checking", 20), name="clerk-2"),
]
for clerk in clerks:
    clerk.start()
for clerk in clerks:
    clerk.join()
print("balances:", balances)
