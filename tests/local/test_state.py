"""The local runtime's state folder, its export line and what it makes of a stale one, the persisting embedded
Redis, and the resend that rebuilds an SQS that lost its messages from what Redis holds."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from redis import Redis

from jobqueue import EnqueueError, Queue, QueueAdmin
from jobqueue.local.services import EmbeddedRedis, LocalServiceError
from jobqueue.local.shell import MARKER, export_line, forget_stale
from jobqueue.local.state import PORT_NAMES, StateDir, running_export_line
from tests.conftest import Namespace
from tests.support.faults import Fault, FaultySqs, sqs_down
from tests.support.functions import LocalFunctions


def test_one_runtime_per_folder_and_the_export_line_only_while_it_runs(tmp_path: Path) -> None:
    state = StateDir(tmp_path).acquire()
    try:
        with pytest.raises(LocalServiceError, match=f"no jobqueue dev runs with its state in {tmp_path}"):
            running_export_line(tmp_path)  # locked, but nothing published yet: still starting
        state.publish("export REDIS_URL=redis://:secret@127.0.0.1:1/0")
        second = StateDir(tmp_path)
        with pytest.raises(LocalServiceError) as caught:
            second.acquire()
        assert str(caught.value).startswith(f"jobqueue dev already runs with its state in {tmp_path} "
                                            f"(pid {os.getpid()}): `jobqueue env` prints its export line")
        second.release()  # what a start that failed does: the running one's line stays
        assert running_export_line(tmp_path) == "export REDIS_URL=redis://:secret@127.0.0.1:1/0"
        assert (tmp_path / "env").stat().st_mode & 0o777 == 0o600
    finally:
        state.release()
    with pytest.raises(LocalServiceError, match="no jobqueue dev runs"):
        running_export_line(tmp_path)
    StateDir(tmp_path).acquire().release()  # free again


def test_ports_are_kept_and_fresh_wipes_everything_else(tmp_path: Path) -> None:
    state = StateDir(tmp_path).acquire()
    ports = state.ports()
    assert set(ports) == set(PORT_NAMES) and len(set(ports.values())) == len(PORT_NAMES)
    state.redis_dir.mkdir()
    (state.redis_dir / "appendonly.aof").write_text("data")
    state.wipe()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock", "ports.json"]
    state.release()
    assert StateDir(tmp_path).ports() == ports


@pytest.mark.parametrize("content", ["[1]", '{"redis": "6379"}', '{"moto": 70000}', "{"])
def test_a_broken_ports_file_is_named(tmp_path: Path, content: str) -> None:
    (tmp_path / "ports.json").write_text(content)
    with pytest.raises(LocalServiceError, match=f"{tmp_path / 'ports.json'} is not valid .*: delete it"):
        StateDir(tmp_path).ports()


def test_the_export_line_names_what_the_runtime_started_itself() -> None:
    values = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "REDIS_URL": "redis://user:pa ss@db:6379/0"}
    line = export_line(values, ["AWS_ENDPOINT_URL"])
    assert line == ("export AWS_ENDPOINT_URL=http://127.0.0.1:5000 REDIS_URL='redis://user:pa ss@db:6379/0' "
                    "JOBQUEUE_LOCAL=AWS_ENDPOINT_URL")
    assert "pa ss" not in export_line(values, [], reveal=False)
    assert export_line(values, [], reveal=False).endswith("REDIS_URL='redis://user:***@db:6379/0' JOBQUEUE_LOCAL=none")


def _dead_url(scheme: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"{scheme}://127.0.0.1:{s.getsockname()[1]}"


def test_a_stopped_runtimes_endpoints_are_forgotten_and_given_ones_kept() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        alive = f"redis://127.0.0.1:{listening.getsockname()[1]}/0"
        environ = {"AWS_ENDPOINT_URL": _dead_url("http"), "REDIS_URL": alive, "AWS_DEFAULT_REGION": "us-east-1",
                   MARKER: "AWS_ENDPOINT_URL,REDIS_URL"}
        assert forget_stale(environ) == ["AWS_ENDPOINT_URL"]
    assert environ == {"REDIS_URL": alive, "AWS_DEFAULT_REGION": "us-east-1"}  # the Redis answering is kept


def test_a_given_endpoint_that_does_not_answer_is_refused_in_one_line() -> None:
    dead = _dead_url("redis").replace("//", "//:hunter2@") + "/0"
    environ = {"REDIS_URL": dead, MARKER: "AWS_ENDPOINT_URL"}  # the runtime printing it did not own REDIS_URL
    with pytest.raises(LocalServiceError) as caught:
        forget_stale(environ)
    message = str(caught.value)
    assert message == (f"REDIS_URL={dead.replace('hunter2', '***')} does not answer: start what it names, or "
                       "`unset REDIS_URL` and jobqueue dev starts its own")
    assert "\n" not in message and "hunter2" not in message


def test_the_embedded_redis_keeps_its_data_in_its_folder(tmp_path: Path) -> None:
    server = EmbeddedRedis(data_dir=tmp_path / "redis").start()
    try:
        client = Redis.from_url(server.url)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "always"}
        client.set("kept", "1")
    finally:
        server.stop()
    again = EmbeddedRedis(port=server.port, data_dir=tmp_path / "redis").start()
    try:
        assert Redis.from_url(again.url).get("kept") == b"1"
    finally:
        again.stop()


def test_resend_pending_sends_every_job_redis_holds_again_delayed_ones_still_delayed(ns: Namespace) -> None:
    """An SQS that lost its messages (purged here; moto restarted, locally) gets them back from Redis."""
    queue = Queue("email")
    waiting = queue.add("generic", {"to": "a@example.com"})
    delayed = queue.add("generic", {"to": "b@example.com"}, delay=600_000)
    lane = ns.queue_urls["email"]
    ns.sqs.purge_queue(QueueUrl=lane)
    assert _depths(ns, lane) == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesDelayed": "0"}

    assert queue.resend_pending() == 2
    assert _depths(ns, lane) == {"ApproximateNumberOfMessages": "1", "ApproximateNumberOfMessagesDelayed": "1"}
    [message] = ns.sqs.receive_message(QueueUrl=lane, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["id"] == waiting
    assert (queue.get_state(waiting), queue.get_state(delayed)) == ("prioritized", "delayed")  # Redis unchanged


def test_resend_pending_refused_midway_names_what_is_left_and_a_second_call_sends_every_job(ns: Namespace) -> None:
    """SQS refusing one batch of the resend: an EnqueueError naming the refused jobs, nothing changed in Redis;
    the next call (the next start) sends every job, copies of those already sent included."""
    queue = Queue("email")
    ids = [queue.add("generic", {"to": f"{n}@example.com"}) for n in range(15)]
    lane = ns.queue_urls["email"]
    ns.sqs.purge_queue(QueueUrl=lane)
    faulty = Queue("email", sqs=FaultySqs(ns.sqs, Fault("error", sqs_down, skip=1)))
    with pytest.raises(EnqueueError, match="sending them again completes it") as refused:
        faulty.resend_pending()
    assert refused.value.rejected and all(r.may_run for r in refused.value.rejections)
    assert {queue.get_state(job_id) for job_id in ids} == {"prioritized"}  # Redis unchanged

    assert queue.resend_pending() == 15
    bodies: set[str] = set()
    while messages := ns.sqs.receive_message(QueueUrl=lane, MaxNumberOfMessages=10).get("Messages", []):
        bodies |= {json.loads(m["Body"])["id"] for m in messages}
    assert bodies == set(ids)


def test_resend_pending_forwards_again_a_dead_letter_the_dlq_lost(ns: Namespace) -> None:
    """A job failed for good whose dead letter was forwarded but not recorded when SQS lost it: the dead letter
    is sent to the DLQ again, so the dead-letter function records it and nothing stays half in Redis."""
    search = Queue("search")
    job_id = search.add("index_doc", {"doc": 1})  # no processor: it fails for good
    LocalFunctions(ns, ["search"]).pump(lambda: search.get_state(job_id) == "failed", timeout=20)
    dlq = ns.queue_urls["dead"]
    ns.sqs.purge_queue(QueueUrl=dlq)
    admin = QueueAdmin("search")
    assert admin.dead_letter_count() == 0

    assert search.resend_pending() == 1
    LocalFunctions(ns, [], ["dead"]).pump(lambda: admin.dead_letter_count() == 1, timeout=20)
    assert search.resend_pending() == 0, "recorded: nothing is owed any more"


def _depths(ns: Namespace, url: str) -> dict[str, str]:
    attributes: dict[str, str] = ns.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return attributes
