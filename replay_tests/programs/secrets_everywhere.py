"""Secrets in argument names, dict keys, environment variables and a local that changes line by line."""

import os
import threading


def login(user: str, password: str, api_key: str = "k-SECRET-3") -> None:
    config = {"password": "p-SECRET-4", "token": "t-SECRET-5", "name": "visible"}
    env = {key: value for key, value in os.environ.items() if key.startswith("CHRONO_")}
    session_token = "s-SECRET-6"
    session_token = session_token.upper()
    lock = threading.Lock()
    with lock:
        print(user, len(password), len(api_key), len(config), "CHRONO_TEST_SECRET" in env, len(session_token))


login("bob", "p-SECRET-2")
