"""The system on one machine (`jobqueue dev`, `make run`): the real handlers behind local stand-ins for API Gateway,
SQS event source mappings, EventBridge Scheduler and Lambda's execution environments.

Modules: `dev` (the runtime), `topology` (queues on an endpoint), `processes` and `sandbox` (function processes),
`pollers` (event source mappings), `ticker` and `expressions` (Scheduler), `http` (API Gateway), `runner`
(loading and invoking a handler), `invoke` (`jobqueue invoke`), `services` (embedded moto and Redis), `state`
(the state folder that survives restarts, `jobqueue env`), `shell` (the export line, a stale one pasted back).
"""

__all__: list[str] = []
