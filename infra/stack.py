"""The jobqueue stack: builds the constructs and wires them together; resources live in the constructs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Stack
from constructs import Construct, Node

from infra.functions import JobFunctions
from infra.layer import EngineLayer
from infra.queues import JobQueues
from jobqueue.catalog import Catalog

__all__ = ["CDK_JSON", "JobQueueStack", "StageSettings", "cdk_json_context"]

CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"

_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_PREFIX = re.compile(r"^[A-Za-z0-9_-]{0,19}$")


@dataclass(frozen=True)
class StageSettings:
    """What differs between deployments: the stage name and the prefix of every SQS queue name.

    The prefix is what the functions get as JOBQUEUE_SQS_PREFIX, so runtime and infrastructure agree on names.
    """

    stage: str = "dev"
    name_prefix: str = ""

    def __post_init__(self) -> None:
        if not _STAGE.match(self.stage):
            raise ValueError(f"stage {self.stage!r}: expected lowercase letters, digits and '-', at most 20")
        if not _PREFIX.match(self.name_prefix):
            raise ValueError(f"name_prefix {self.name_prefix!r}: expected [A-Za-z0-9_-], at most 19 characters")

    @classmethod
    def from_context(cls, node: Node) -> StageSettings:
        """Read `cdk synth -c stage=prod -c name_prefix=prod-`; unset keys keep their defaults."""
        raw = {key: node.try_get_context(key) for key in ("stage", "name_prefix")}
        return cls(**{key: str(value) for key, value in raw.items() if value is not None})


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """cdk.json's context (the feature flags), so `python app.py` and tests synthesize as `cdk synth` does.

    Under the CDK CLI the same values arrive twice; context given on the command line still wins.
    """
    context: dict[str, Any] = json.loads(path.read_text())["context"]
    return context


class JobQueueStack(Stack):
    """jobqueue for one stage: the SQS topology, the engine layer, and the worker and dead-letter functions."""

    def __init__(self, scope: Construct, id: str, *, settings: StageSettings, catalog: Catalog, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.settings = settings
        self.queues = JobQueues(self, "Queues", catalog=catalog, name_prefix=settings.name_prefix)
        self.engine = EngineLayer(self, "Engine")
        self.functions = JobFunctions(
            self, "Functions", catalog=catalog, queues=self.queues, layer=self.engine.layer,
            name_prefix=settings.name_prefix,
        )
        # The event sources grant consumption; a worker also sends to its own queue (deferred jobs) and to its
        # DLQ (jobs that failed for good). Dead-letter functions only consume.
        for name, worker in self.functions.workers.items():
            self.queues.queues[name].grant_send_messages(worker)
            self.queues.dead_letter_queues[catalog.queues[name].dead_letter].grant_send_messages(worker)
