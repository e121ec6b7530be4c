"""A queue's SQS event source mappings, read and switched through Lambda's API: what pause and resume act on.

Lambda receives each lane of a queue through an event source mapping; a disabled mapping receives nothing, so
the messages of a paused queue stay in SQS untouched (no receive counted). The mappings are found by their
event source, each lane's queue ARN, so the caller needs no function names. Locally `jobqueue dev` serves the
same Lambda API to its pollers (AWS_ENDPOINT_URL_LAMBDA), so this code is what runs there too.

>>> EventSourceMappings(aws_client("lambda"), ["arn:aws:sqs:us-east-1:123456789012:email"]).disable()  # doctest: +SKIP
EventSourceStates(enabled=0, disabled=1, transitioning=0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from jobqueue.errors import EventSourceError

__all__ = ["EventSourceMappings", "EventSourceStates"]

_SETTLED = {True: ("Enabled", "Enabling"), False: ("Disabled", "Disabling")}
"""States in which a mapping needs no UpdateEventSourceMapping to end up enabled (True) or disabled (False)."""


@dataclass(frozen=True)
class EventSourceStates:
    """How many of a queue's mappings Lambda reports Enabled, Disabled, or in between (Creating, Enabling,
    Disabling, Updating, Deleting)."""

    enabled: int
    disabled: int
    transitioning: int

    @property
    def stopped(self) -> bool:
        """No mapping receives, nor may still be receiving, the queue's messages."""
        return self.enabled == 0 and self.transitioning == 0


class EventSourceMappings:
    """The mappings whose event source is one of `source_arns` (a queue's lanes), through a boto3 Lambda client."""

    def __init__(self, client: Any, source_arns: list[str], *, label: str = "") -> None:
        self.client = client
        self.source_arns = source_arns
        self.label = label or ", ".join(source_arns)

    def list(self) -> list[dict[str, Any]]:
        """Every mapping of every source (ListEventSourceMappings, all pages); EventSourceError if Lambda fails."""
        mappings: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("list_event_source_mappings")
        try:
            for arn in self.source_arns:
                for page in paginator.paginate(EventSourceArn=arn):
                    mappings += page.get("EventSourceMappings", [])
        except (BotoCoreError, ClientError) as exc:
            raise EventSourceError(f"{self.label}: listing the event source mappings failed ({exc}); "
                                   "retry the call to complete it") from exc
        return mappings

    def states(self) -> EventSourceStates:
        return _count(self.list())

    def disable(self) -> EventSourceStates:
        """Disable every mapping not already disabled or disabling; returns the states Lambda answered."""
        return self._switch(False)

    def enable(self) -> EventSourceStates:
        """Enable every mapping not already enabled or enabling; returns the states Lambda answered."""
        return self._switch(True)

    def _switch(self, enabled: bool) -> EventSourceStates:
        """UpdateEventSourceMapping(Enabled=enabled) where needed; a failed call raises EventSourceError naming
        the mapping, after the others were tried (each call is idempotent, so a retry finishes the job)."""
        answered: list[dict[str, Any]] = []
        failures: list[str] = []
        for mapping in self.list():
            if mapping.get("State") in _SETTLED[enabled]:
                answered.append(mapping)
                continue
            try:
                answered.append(self.client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=enabled))
            except (BotoCoreError, ClientError) as exc:
                failures.append(f"{mapping['UUID']} ({mapping.get('EventSourceArn')}): {exc}")
        if failures:
            verb = "enabling" if enabled else "disabling"
            raise EventSourceError(f"{self.label}: {verb} {len(failures)} event source mappings failed "
                                   f"({'; '.join(failures)}); retry the call to complete it")
        return _count(answered)


def _count(mappings: list[dict[str, Any]]) -> EventSourceStates:
    states = [m.get("State") for m in mappings]
    enabled, disabled = states.count("Enabled"), states.count("Disabled")
    return EventSourceStates(enabled, disabled, len(states) - enabled - disabled)
