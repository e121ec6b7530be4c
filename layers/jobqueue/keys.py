"""The only place that formats Redis key names: BullMQ's layout, `<prefix>:<queue>:<suffix>`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["REMOVED_TTL_MS", "QueueKeys", "app_key", "dead_letter_record_id", "dead_letter_record_name"]

# How long a removed job's tombstone is kept: the work queues' SQS retention (4 days, infra.queues.WORK_RETENTION)
# plus a day for a copy a worker re-sent just before the removal. After that no message of the job can exist.
REMOVED_TTL_MS = 5 * 24 * 3600 * 1000


@dataclass(frozen=True)
class QueueKeys:
    """Key names of one queue, exactly as BullMQ's `QueueKeys` spells them.

    >>> QueueKeys("bull", "email").wait
    'bull:email:wait'
    """

    prefix: str
    queue: str

    def _key(self, suffix: str) -> str:
        return f"{self.prefix}:{self.queue}:{suffix}"

    @property
    def base(self) -> str:
        """Job hashes are `<base><jobId>`; scripts receive this to build them."""
        return f"{self.prefix}:{self.queue}:"

    def job(self, job_id: str) -> str:
        return self._key(job_id)

    def logs(self, job_id: str) -> str:
        return self._key(f"{job_id}:logs")

    @property
    def id(self) -> str:
        return self._key("id")

    @property
    def wait(self) -> str:
        return self._key("wait")

    @property
    def paused(self) -> str:
        return self._key("paused")

    @property
    def active(self) -> str:
        return self._key("active")

    @property
    def delayed(self) -> str:
        return self._key("delayed")

    @property
    def prioritized(self) -> str:
        return self._key("prioritized")

    @property
    def priority_counter(self) -> str:
        return self._key("pc")

    @property
    def completed(self) -> str:
        return self._key("completed")

    @property
    def failed(self) -> str:
        return self._key("failed")

    @property
    def waiting_children(self) -> str:
        return self._key("waiting-children")

    @property
    def events(self) -> str:
        return self._key("events")

    @property
    def meta(self) -> str:
        return self._key("meta")

    def metrics(self, kind: str) -> str:
        """BullMQ's finished-job metrics hash (`count` field), kind "completed" or "failed"."""
        return self._key(f"metrics:{kind}")

    @property
    def limiter(self) -> str:
        """The rate limiter: a list of the latest start times (ms), newest first, at most `max` long."""
        return self._key("limiter")

    @property
    def leases(self) -> str:
        """jobqueue's own: running jobs' leases, a sorted set of job ids scored by when the lease expires (ms).

        A delivery of a job that is active under an unexpired lease is a duplicate; after expiry, a stall.
        """
        return self._key("leases")

    @property
    def slots(self) -> str:
        """jobqueue's own: the queue's global concurrency, one member per running invocation, scored by expiry."""
        return self._key("slots")

    @property
    def unsent(self) -> str:
        """jobqueue's own: jobs recorded in Redis whose SQS message is not confirmed sent, scored by when (ms).

        A producer marks each job it records and clears the mark once SQS took the message; a mark left by a
        producer that died or failed in between is how a retry of the same call, and the sweeper
        (`Queue.resend_unsent`), know the job still needs its message.
        """
        return self._key("unsent")

    @property
    def removed(self) -> str:
        """jobqueue's own: tombstones of removed jobs whose SQS message may still arrive.

        A sorted set of `<jobId>:<timestamp>` (one incarnation of a job) scored by the removal time (ms).
        """
        return self._key("removed")


def app_key(prefix: str, name: str) -> str:
    """Keys of jobqueue's own that are not BullMQ state (e.g. the lead-status store).

    '~' cannot appear in a queue name, so these never collide with a queue's keys.
    """
    return f"{prefix}:~jobqueue:{name}"


def dead_letter_record_id(queue: str, job_id: str) -> str:
    """The id of a dead job's record in its dead-letter queue (recordDeadLetters-3.lua writes it)."""
    return f"{queue}-{job_id}"


def dead_letter_record_name(queue: str) -> str:
    """The name of a queue's dead-letter records: seed 004's `<queue>_failed` jobs in the `dead` queue."""
    return f"{queue}_failed"
