"""CDK constructs and the stack that deploy jobqueue; they read the same queue catalog as the runtime."""

from infra.queues import JobQueues
from infra.stack import JobQueueStack, StageSettings

__all__ = ["JobQueueStack", "JobQueues", "StageSettings"]
