"""`python -m standins`: start every stand-in and print the environment to point jobqueue's workers at them."""

from __future__ import annotations

import shlex
import signal
import threading

from standins import environment, start_all, stop_all


def main() -> None:
    for service, url in start_all().items():
        print(f"# {service}: {url}")
    for name, value in sorted(environment().items()):
        print(f"export {name}={shlex.quote(value)}")
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    stop_all()


if __name__ == "__main__":
    main()
