"""The only place that formats Redis key names: BullMQ's layout, `<prefix>:<queue>:<suffix>`.

Under Redis Cluster (`Settings.redis_cluster`) a queue's Redis-side name is its hash tag `{<queue>}`, so all its
keys (`bull:{email}:wait`, `bull:{email}:<jobId>`, ...) hash to one slot: each script stays on one slot while
queues spread over shards. BullMQ clients then open `Queue('{email}')`, BullMQ's own cluster convention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "KEEP_TICKS",
    "REMOVED_TTL_MS",
    "RESERVED_JOB_IDS",
    "QueueKeys",
    "app_key",
    "dead_letter_record_id",
    "dead_letter_record_name",
    "job_id_problem",
    "queue_of_key",
    "repeat_ticks_key",
]

# How long a removed job's tombstone is kept: the work queues' SQS retention (4 days, infra.queues.WORK_RETENTION)
# plus a day for a copy a worker re-sent just before the removal. After that no message of the job can exist.
REMOVED_TTL_MS = 5 * 24 * 3600 * 1000
# Ticks of a schedule with a limit kept for a tick fired again: Scheduler retries a tick for at most 24 h (its
# default MaximumEventAgeInSeconds; the CDK app's is 5 minutes), a day of the finest schedule (1 minute) is 1,440.
KEEP_TICKS = 1500

# Suffixes of a queue's own keys (BullMQ's and jobqueue's): a job with such an id would be one of them.
RESERVED_JOB_IDS = frozenset({
    "id", "wait", "paused", "active", "delayed", "prioritized", "pc", "completed", "failed", "waiting-children",
    "events", "meta", "marker", "stalled", "stalled-check", "limiter", "repeat", "de", "removed",
    "leases", "slots", "unsent", "metrics", "parent-updates", "group-slots", "group-limiter",
})
# The one id shape with ':' a job hash has: BullMQ's repeatable jobs, `repeat:<key>:<millis>`.
_REPEAT_JOB_ID = re.compile(r"^repeat:[^:]+(:[^:]+)?:\d+$")


def job_id_problem(job_id: str) -> str | None:
    """Why `job_id` cannot name a job of a queue, or None: the one check producers and readers share.

    `<prefix>:<queue>:<jobId>` must be a job hash: an id equal to a reserved suffix (`wait`, `meta`, ...), or with
    a ':' that reaches into another key family (`1:logs`, `metrics:completed`, `de:x`), would address another key.

    >>> job_id_problem("wait")
    "job id 'wait' is reserved: it is the name of one of the queue's own keys"
    """
    if job_id in RESERVED_JOB_IDS:
        return f"job id {job_id!r} is reserved: it is the name of one of the queue's own keys"
    if ":" in job_id and not _REPEAT_JOB_ID.match(job_id):
        return f"job id {job_id!r} is reserved: ids with ':' address other keys of the queue (e.g. <id>:logs)"
    return None


@dataclass(frozen=True)
class QueueKeys:
    """Key names of one queue, exactly as BullMQ's `QueueKeys` spells them.

    >>> QueueKeys("bull", "email").wait
    'bull:email:wait'
    >>> QueueKeys("bull", "email", cluster=True).wait
    'bull:{email}:wait'
    """

    prefix: str
    queue: str
    cluster: bool = False

    @property
    def name(self) -> str:
        """The queue's name in Redis (what BullMQ clients open): the catalog name, or its hash tag in a cluster."""
        return "{" + self.queue + "}" if self.cluster else self.queue

    @property
    def queue_key(self) -> str:
        """BullMQ's `queueKey` (`<prefix>:<name>`), as a flow child's `parent` field names its parent's queue."""
        return f"{self.prefix}:{self.name}"

    def _key(self, suffix: str) -> str:
        return f"{self.queue_key}:{suffix}"

    @property
    def base(self) -> str:
        """Job hashes are `<base><jobId>`; scripts receive this to build them."""
        return f"{self.queue_key}:"

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

    def dependencies(self, job_id: str) -> str:
        """BullMQ's: a parent's children not yet finished, a set of their job keys."""
        return self._key(f"{job_id}:dependencies")

    def processed(self, job_id: str) -> str:
        """BullMQ's: a parent's completed children, child key -> return value JSON."""
        return self._key(f"{job_id}:processed")

    def failed_children(self, job_id: str) -> str:
        """BullMQ's `:failed`: children that failed and were ignored or let the parent continue, key -> reason."""
        return self._key(f"{job_id}:failed")

    def unsuccessful(self, job_id: str) -> str:
        """BullMQ's: children that failed their parent (failParentOnFailure), scored by when (ms)."""
        return self._key(f"{job_id}:unsuccessful")

    @property
    def parent_updates(self) -> str:
        """jobqueue's own: finished children whose parent (in any queue) is not yet told, job id -> the update.

        moveToFinished records the update in the child's queue; updateParent applies it in the parent's, a second
        call (a script touches one queue's keys), and the entry goes once it is applied (`jobqueue.flow_parents`).
        """
        return self._key("parent-updates")

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

        A delivery of a job that is active under an unexpired lease is a duplicate; after expiry, a stall. A finish
        removes its job's lease, and every claim prunes the expired ones (moveToActive-11.lua).
        """
        return self._key("leases")

    @property
    def slots(self) -> str:
        """jobqueue's own: the queue's global concurrency, one member per running invocation, scored by expiry."""
        return self._key("slots")

    def group_slots(self, group_id: str) -> str:
        """jobqueue's own: the active jobs of one group (the `group` option), job ids scored by lease expiry (ms).

        moveToActive adds a job it claims and refuses one more beyond the queue's `group_concurrency`; a finish or
        release removes it, and a dead invocation's entries expire with its leases. The scripts get this name with
        an empty id (`group_slots("")`) as the prefix to which they append a job's group id.
        """
        return self._key(f"group-slots:{group_id}")

    def group_limiter(self, group_id: str) -> str:
        """jobqueue's own: one group's rate limiter, its latest start times (ms), newest first (like `limiter`)."""
        return self._key(f"group-limiter:{group_id}")

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

    @property
    def payloads_gone(self) -> str:
        """jobqueue's own: placeholders of S3 payloads whose job hash or dead-letter record was deleted, for the
        sweeper to delete their objects (`jobqueue.payloads`). The scripts that delete jobs format this name from
        the job key prefix too (`<base>payloads:gone`: the ':' keeps it apart from every job id)."""
        return self._key("payloads:gone")

    def dead_letters_of(self, queue: str) -> str:
        """jobqueue's own, in a dead-letter queue: `queue`'s record ids scored by when recorded (ms).

        A dead-letter queue may be shared (seed 004's `dead`): this index pages one queue's records without
        reading the others'. recordDeadLetters-3.lua adds (it formats this name too), removeDeadLetters-3.lua
        removes, and getDeadLetters-1.lua drops the entries of records removed behind jobqueue's back.
        """
        return self._key(f"records:{queue}")


def queue_of_key(prefix: str, queue_key: str) -> str:
    """The catalog name of the queue a BullMQ `queueKey` (`QueueKeys.queue_key`) names, in either layout.

    >>> queue_of_key("bull", "bull:{email}")
    'email'
    """
    name = queue_key.removeprefix(f"{prefix}:")
    return name[1:-1] if name.startswith("{") and name.endswith("}") else name


def app_key(prefix: str, name: str) -> str:
    """Keys of jobqueue's own that are not BullMQ state (e.g. the lead-status store).

    '~' cannot appear in a queue name, so these never collide with a queue's keys.
    """
    return f"{prefix}:~jobqueue:{name}"


def repeat_ticks_key(prefix: str, queue: str, name: str) -> str:
    """The ticks of a schedule with a limit (numberTick-1.lua): at most `KEEP_TICKS` tick job ids."""
    return app_key(prefix, f"repeat:{queue}.{name}")


def dead_letter_record_id(queue: str, job_id: str) -> str:
    """The id of a dead job's record in its dead-letter queue (recordDeadLetters-3.lua writes it)."""
    return f"{queue}-{job_id}"


def dead_letter_record_name(queue: str) -> str:
    """The name of a queue's dead-letter records: seed 004's `<queue>_failed` jobs in the `dead` queue."""
    return f"{queue}_failed"
