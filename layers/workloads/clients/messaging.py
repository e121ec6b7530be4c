"""The messaging provider of seed 002: send a message on a line, check a line's health, check iMessage
availability of leads."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from workloads.config import service_config
from workloads.errors import TransientServiceError
from workloads.http import JsonService

__all__ = ["LineHealth", "Messaging"]


class LineHealth(BaseModel):
    """What the provider says about one line."""

    model_config = ConfigDict(extra="ignore")

    status: str
    imessage: bool


class Messaging:
    """`MESSAGING_API_URL`, `MESSAGING_API_KEY` (bearer), `MESSAGING_TIMEOUT`."""

    def __init__(self, api: JsonService) -> None:
        self.api = api

    @classmethod
    def from_env(cls) -> Messaging:
        config = service_config("MESSAGING")
        return cls(JsonService(config, {"Authorization": f"Bearer {config.api_key or ''}"}))

    def send_message(self, line_id: str, to: str, body: str, idempotency_key: str) -> str:
        """Send once: the provider answers a repeated idempotency key with the first send's id."""
        answer = self.api.call("POST", "/messages", payload={"lineId": line_id, "to": to, "body": body},
                               headers={"Idempotency-Key": idempotency_key}).json() or {}
        message_id = answer.get("id")
        if not isinstance(message_id, str):
            raise TransientServiceError("messaging answered without a message id")
        return message_id

    def line_health(self, line_id: str) -> LineHealth:
        body = self.api.call("GET", f"/lines/{line_id}/health").json()
        try:
            return LineHealth.model_validate(body)
        except ValidationError as exc:
            raise TransientServiceError(f"messaging: unreadable health of line {line_id} "
                                        f"({exc.error_count()} invalid fields)") from exc

    def availability(self, handles: list[str]) -> dict[str, bool]:
        """iMessage availability of each email or phone number (one call for the whole list)."""
        body = self.api.call("POST", "/availability", payload={"handles": handles}).json() or {}
        results = body.get("results")
        if not isinstance(results, dict) or set(results) != set(handles):
            raise TransientServiceError("messaging: the availability answer does not cover the handles")
        return {handle: bool(results[handle]) for handle in handles}
