"""A worker applies orders to an account book under a lock; an order that would overdraw is refused."""

import threading

lock = threading.Lock()
book = {"alice": 100, "bob": 50}


def parse(line):
    name, amount = line.split()
    return name, int(amount)


def orders(lines):
    for line in lines:
        yield parse(line)


def check(name, amount):
    if book[name] + amount < 0:
        raise ValueError(f"{name} would go below zero")


def apply(name, amount):
    with lock:
        check(name, amount)
        book[name] += amount


def process(lines):
    done = 0
    for name, amount in orders(lines):
        try:
            apply(name, amount)
            done += 1
        except ValueError as refused:
            print("refused:", refused)
    return done


worker = threading.Thread(target=process, args=(["alice -30", "bob -80", "bob 20"],), name="worker")
worker.start()
worker.join()
print(book)
