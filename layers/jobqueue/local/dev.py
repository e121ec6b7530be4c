"""`make run`: every worker and dead-letter function of the catalog, polling SQS on this machine, and the
API function behind http://127.0.0.1:3000 (JOBQUEUE_API_PORT; 0 picks a free port).

The AWS endpoint is AWS_ENDPOINT_URL (LocalStack, a moto server) or, when unset, a moto server embedded
in this process; Redis is REDIS_URL. The catalog's topology is created first. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from aws_lambda_powertools import Logger

from jobqueue.catalog import default_catalog
from jobqueue.connection import aws_client
from jobqueue.local.http import DEFAULT_PORT, ApiServer
from jobqueue.local.runner import FunctionRunner, poll_once
from jobqueue.local.topology import create_topology
from jobqueue.settings import get_settings

__all__ = ["run"]

logger = Logger(service="jobqueue-local")


def _embedded_moto() -> Any:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(os.environ.get("MOTO_PORT", "5000")), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    return server


def _poll_forever(runner: FunctionRunner, url: str, batch_size: int, stop: threading.Event) -> None:
    sqs = aws_client("sqs")
    while not stop.is_set():
        try:
            poll_once(sqs, url, runner, batch_size, wait_seconds=1)
        except Exception:
            logger.exception("poller error", extra={"function": runner.function, "queue": url})
            stop.wait(1)


def run(stop: threading.Event, api_port: int | None = None, started: list[ApiServer] | None = None) -> None:
    """Create the topology, serve the API and poll every queue until `stop` is set.

    `api_port` defaults to JOBQUEUE_API_PORT or 3000; the running API server is appended to `started`.
    """
    server = None if os.environ.get("AWS_ENDPOINT_URL") else _embedded_moto()
    settings, catalog = get_settings(), default_catalog()
    urls = create_topology(aws_client("sqs"), catalog, settings.sqs_name_prefix)
    threads = []
    for name, queue in catalog.queues.items():
        os.environ["QUEUE_NAME"] = name
        runner = FunctionRunner("worker")
        threads += [threading.Thread(target=_poll_forever, daemon=True,
                                     args=(runner, urls[lane.sqs_name], queue.batch_size, stop))
                    for lane in queue.lanes()]
    for name in catalog.dead_letters:
        os.environ["DEAD_LETTER_QUEUE"] = name
        threads.append(threading.Thread(target=_poll_forever, daemon=True,
                                        args=(FunctionRunner("dead_letter"), urls[name], 10, stop)))
    port = int(os.environ.get("JOBQUEUE_API_PORT", DEFAULT_PORT)) if api_port is None else api_port
    api = ApiServer(port=port)  # binds now: a busy port fails before anything runs
    for thread in threads:
        thread.start()
    api.start()
    if started is not None:
        started.append(api)
    logger.info("jobqueue is running", extra={"aws_endpoint": os.environ["AWS_ENDPOINT_URL"], "api": api.url,
                                               "redis": settings.redis_url.split("@")[-1], "queues": len(urls)})
    stop.wait()
    api.stop()
    for thread in threads:
        thread.join(5)
    if server is not None:
        server.stop()


if __name__ == "__main__":
    stopping = threading.Event()
    try:
        runner = threading.Thread(target=run, args=(stopping,))
        runner.start()
        while runner.is_alive():
            runner.join(0.5)
    except KeyboardInterrupt:
        stopping.set()
        runner.join(10)
