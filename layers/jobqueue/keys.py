"""The only place that formats Redis key names: BullMQ's layout, `<prefix>:<queue>:<suffix>`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["QueueKeys", "app_key"]


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


def app_key(prefix: str, name: str) -> str:
    """Keys of jobqueue's own that are not BullMQ state (e.g. the lead-status store).

    '~' cannot appear in a queue name, so these never collide with a queue's keys.
    """
    return f"{prefix}:~jobqueue:{name}"
