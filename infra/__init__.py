"""CDK constructs and the stack that deploy jobqueue; they read the same queue catalog as the runtime."""

from infra.queues import JobQueues
from infra.settings import StageSettings
from infra.stack import JobQueueStack

__all__ = ["JobQueueStack", "JobQueues", "StageSettings"]
