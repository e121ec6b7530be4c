"""Issue 12 end to end, on moto and on LocalStack: accepted means done once when the emulator really holds the
messages a fault left behind.

- A webhook whose SQS send went through but whose reply was lost is answered 503 (`mayRun: false`): the job is
  rolled back and its message, which the emulator holds, is dropped; the sender's retry runs it exactly once.
- A producer killed between Redis and SQS leaves its job marked unsent: the scheduler function's sweep (the
  event its every-minute schedule sends) sends it, and it runs once.
- A redrive cut off after SQS took the job but before the dead-letter record went: the record is still listed,
  the redrive run again over HTTP removes it, and the job runs once more, not twice.
"""

from __future__ import annotations

import json

import pytest

from jobqueue import Queue, QueueAdmin
from jobqueue.api.intake import event_job_id, sign
from jobqueue.api.services import services
from jobqueue.local.runner import FunctionRunner
from jobqueue.sweeper import SWEEP_EVENT
from tests.api.conftest import GHL_SECRET, ghl_contact_event
from tests.integration.conftest import Emulator, HttpApi
from tests.support.delivery import Killed, runs
from tests.support.faults import Fault, FaultySqs, inject, sqs_down
from tests.support.functions import LocalFunctions, messages_in


def test_a_webhook_whose_sqs_reply_was_lost_runs_once_when_its_sender_retries(emulator: Emulator,
                                                                                api: HttpApi) -> None:
    ns = emulator.ns
    body = json.dumps(ghl_contact_event("wh-lost-reply", "c-77")).encode()
    signature = {"X-GHL-Signature": f"sha256={sign(GHL_SECRET, body)}"}
    services().queue("lead-enrichment").transport.sqs = FaultySqs(ns.sqs, Fault("lost-reply", sqs_down))
    status, refused = api.request("POST", "/webhooks/gohighlevel", body, signature, token=False)
    assert (status, refused["mayRun"]) == (503, False), refused
    assert messages_in(ns, "lead-enrichment") == 1, "the emulator took the message whose reply was lost"
    status, accepted = api.request("POST", "/webhooks/gohighlevel", body, signature, token=False)
    job_id = event_job_id("gohighlevel", "wh-lost-reply")
    assert (status, accepted) == (202, {"jobId": job_id, "queue": "lead-enrichment"})
    LocalFunctions(ns, ["lead-enrichment"]).pump(lambda: messages_in(ns, "lead-enrichment") == 0, 30)
    assert runs(job_id) == [1]
    assert Queue("lead-enrichment").get_state(job_id) == "completed"


def test_a_job_whose_producer_died_before_sqs_is_sent_by_the_sweep_and_runs_once(emulator: Emulator) -> None:
    ns = emulator.ns
    producer = Queue("lead-processing", sqs=FaultySqs(ns.sqs, Fault("kill", sqs_down)))
    with pytest.raises(Killed):
        producer.add("process-lead", {"leadId": 3}, jobId="lead-3")
    assert messages_in(ns, "lead-processing") == 0
    sweep = FunctionRunner("scheduler")
    assert sweep.invoke(dict(SWEEP_EVENT))["resent"]["lead-processing"] == 0, "left to its producer for a minute"
    ns.redis.zadd(Queue("lead-processing").keys.unsent, {"lead-3": 0})  # the minute has passed
    assert sweep.invoke(dict(SWEEP_EVENT))["resent"]["lead-processing"] == 1
    LocalFunctions(ns, ["lead-processing"]).pump(lambda: messages_in(ns, "lead-processing") == 0, 30)
    assert runs("lead-3") == [1]
    assert sweep.invoke(dict(SWEEP_EVENT))["resent"]["lead-processing"] == 0


def test_a_redrive_cut_off_before_the_record_went_completes_when_run_again(emulator: Emulator,
                                                                           api: HttpApi) -> None:
    ns = emulator.ns
    job_id = Queue("lead-processing").add("process-lead", {"leadId": 4, "behavior": "unrecoverable-once"},
                                          jobId="lead-4")
    functions = LocalFunctions(ns, ["lead-processing"], dead_letters=["lead-processing-dlq"])
    admin = QueueAdmin("lead-processing")
    functions.pump(lambda: admin.dead_letter_count() == 1, 30)
    inject(services().admin("lead-processing").dead_letter_scripts, "remove_dead_letters", Fault("kill"))
    with pytest.raises(Killed):  # the API function dies inside the redrive (a timeout, say)
        services().admin("lead-processing").redrive()
    status, listed = api.request("GET", "/queues/lead-processing/dlq")
    assert status == 200 and len(listed["records"]) == 1, "the record stays until the job is durable"
    assert messages_in(ns, "lead-processing") == 1
    status, redriven = api.request("POST", "/queues/lead-processing/dlq/redrive", b"{}")
    assert status == 200, redriven
    functions.pump(lambda: messages_in(ns, "lead-processing") + messages_in(ns, "lead-processing-dlq") == 0, 30)
    assert runs(job_id) == [1, 1], "dead once, run once more"
    assert admin.dead_letter_count() == 0 and admin.queue.get_state(job_id) == "completed"
