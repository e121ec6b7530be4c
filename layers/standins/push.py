"""A Web Push service stand-in: `POST /push/{subscription}` checks the VAPID JWT (ES256, audience, expiry)
and decrypts the aes128gcm payload with the subscription's keys, as a browser would; unknown subscriptions
answer 410 Gone. `new_subscription()` makes one and returns it as `PushSubscription.toJSON()` gives it."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from standins.keys import b64url, b64url_decode, p256_key, public_point
from standins.server import Reply, Request, StandIn

__all__ = ["PushService", "vapid_problem"]


def vapid_problem(authorization: str, audience: str) -> str | None:
    """Why `Authorization: vapid t=<jwt>, k=<key>` is not valid for `audience`, or None."""
    if not authorization.startswith("vapid "):
        return "no vapid authorization"
    parts = dict(p.strip().split("=", 1) for p in authorization[6:].split(","))
    try:
        header, claims, signature = parts["t"].split(".")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(parts["k"]))
        raw = b64url_decode(signature)
        public.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                      f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    except (KeyError, ValueError, InvalidSignature) as exc:
        return f"bad vapid token: {type(exc).__name__}"
    payload = json.loads(b64url_decode(claims))
    if payload.get("aud") != audience:
        return f"aud {payload.get('aud')!r} is not {audience!r}"
    if int(payload.get("exp", 0)) < time.time() or not str(payload.get("sub", "")).startswith(("mailto:", "http")):
        return "expired token or no subscriber contact"
    return None


class PushService(StandIn):
    """Subscriptions it knows and the notifications each received (`state["received"]`: id -> payloads)."""

    def __init__(self) -> None:
        super().__init__("push")
        self.keys: dict[str, tuple[ec.EllipticCurvePrivateKey, bytes]] = {}
        self.state["received"] = {}
        self.route("POST", "/push/{id}", self._receive)

    def new_subscription(self) -> dict[str, Any]:
        subscription_id, key, auth = secrets.token_hex(8), p256_key(), secrets.token_bytes(16)
        self.keys[subscription_id] = (key, auth)
        return {"endpoint": f"{self.url}/push/{subscription_id}",
                "keys": {"p256dh": b64url(public_point(key)), "auth": b64url(auth)}}

    def _receive(self, request: Request) -> Reply:
        subscription = self.keys.get(request.params["id"])
        if subscription is None:
            return Reply(410, {"error": "subscription expired or unsubscribed"})
        problem = vapid_problem(request.headers.get("authorization", ""), self.url)
        if problem:
            return Reply(401, {"error": problem})
        key, auth = subscription
        payload = http_ece.decrypt(request.body, private_key=key, auth_secret=auth, version="aes128gcm")
        with self.lock:
            self.state["received"].setdefault(request.params["id"], []).append(json.loads(payload))
        return Reply(201)
