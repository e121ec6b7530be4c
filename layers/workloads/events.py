"""Seed 004's domain events (outbox -> pub/sub -> search indexing) on EventBridge: a rule on the app's bus sends
every entity event straight to the search queue as an `index_doc` job message.

The app publishes `{"source": "app.entities", "detail-type": "EntityChanged", "detail": {"entity", "id", "doc"}}`.
The rule's input transformer writes the whole jobqueue message, so no function runs in between; the job's
Redis state is created by the worker when the message arrives (its timestamp is 0: EventBridge offers no
epoch milliseconds), and its id is the event's id, so a redelivered event runs once.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from jobqueue.catalog import Catalog
from jobqueue.job import JobMessage, resolve_options

__all__ = ["DETAIL_TYPES", "EVENT_PATTERN", "RULE_NAME", "SOURCE", "create_bus", "search_input_transformer"]

SOURCE = "app.entities"
DETAIL_TYPES = ["EntityChanged"]
EVENT_PATTERN: dict[str, Any] = {"source": [SOURCE], "detail-type": DETAIL_TYPES}
RULE_NAME = "entities-to-search"
_ID, _DATA = "__event_id__", "__event_data__"


def search_input_transformer(catalog: Catalog, queue: str = "search") -> dict[str, Any]:
    """`{InputPathsMap, InputTemplate}` producing an `index_doc` job message with the queue's options."""
    config = catalog.queue(queue)
    message = JobMessage(queue=config.name, id=_ID, name="index_doc", data=_DATA,
                         opts=resolve_options(config, "index_doc", {}), timestamp=0)
    template = message.body().replace(f'"{_ID}"', '"evt-<eventId>"').replace(
        f'"{_DATA}"', '{"entity":"<entity>","id":"<entityId>","doc":<doc>}')
    return {"InputPathsMap": {"eventId": "$.id", "entity": "$.detail.entity", "entityId": "$.detail.id",
                              "doc": "$.detail.doc"},
            "InputTemplate": template}


def create_bus(events: Any, bus_name: str, search_queue_arn: str, catalog: Catalog) -> None:
    """The bus and its rule on an endpoint such as moto or LocalStack, as `infra.records.SeedRecords` deploys them
    (both deliver a matching PutEvents entry to an SQS target through the input transformer). Idempotent."""
    with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
        events.create_event_bus(Name=bus_name)
    events.put_rule(Name=RULE_NAME, EventBusName=bus_name, EventPattern=json.dumps(EVENT_PATTERN))
    events.put_targets(Rule=RULE_NAME, EventBusName=bus_name, Targets=[
        {"Id": "search", "Arn": search_queue_arn, "InputTransformer": search_input_transformer(catalog)}])
