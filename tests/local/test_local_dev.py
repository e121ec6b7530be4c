"""`make run`'s process: it creates the topology and its pollers run jobs and dead letters."""

from __future__ import annotations

import threading

from jobqueue import Queue
from jobqueue.local import dev
from tests.conftest import Namespace
from workloads.stores import LeadStore


def test_dev_runs_every_queue_and_dead_letter_queue(ns: Namespace) -> None:
    status = LeadStore()
    status.put({"leadId": "31"})
    stop = threading.Event()
    thread = threading.Thread(target=dev.run, args=(stop, 0))  # the API on a free port
    thread.start()
    try:
        ok = Queue("email").add("password_reset", {"to": "a@example.com"})
        dead = Queue("lead-processing").add("process-lead", {"leadId": 31, "behavior": "unrecoverable"})
        deadline = threading.Event()
        for _ in range(200):
            if Queue("email").get_state(ok) == "completed" and (status.get("31") or {}).get("status"):
                break
            deadline.wait(0.1)
        assert Queue("email").get_state(ok) == "completed"
        assert Queue("lead-processing").get_state(dead) == "failed"
        lead = status.get("31")
        assert lead is not None and lead["status"] == "PERMANENTLY_FAILED"
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()
