"""The seed processors' external services when deployed: one Secrets Manager secret per credential, their
non-secret settings (base URLs, SMTP host, ...) from CDK context, and which function gets which.

    services = SeedServices(stack, "Services", settings=node.try_get_context("seedServices") or {})
    services.grant(worker_function, "lead-enrichment")   # GHL_API_URL, GHL_API_KEY_SECRET_ID, ... for its clients

Each secret is created with a random placeholder: put the provider's real key into it (`aws secretsmanager
put-secret-value`); the clients re-read it within 5 minutes (`workloads.config.secret`). The stand-ins'
variables (`standins.environment()`) are local only and never deployed.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.checkov import SECRET_KMS, skip_checks

__all__ = ["CREDENTIALS", "SETTINGS", "USES", "SeedServices"]

_HTTP_APIS = ("GHL", "REALESTATE", "CRM", "MESSAGING", "HUBSPOT", "SALESFORCE", "SHEETS", "SEARCH", "APP")
CREDENTIALS: dict[str, str] = {
    **{api: f"{api}_API_KEY" for api in _HTTP_APIS},
    "SMTP": "SMTP_PASS", "VAPID": "VAPID_PRIVATE_KEY", "WEBHOOKS": "WEBHOOK_SIGNING_SECRET",
}
"""Service -> the variable its secret stands for (the function gets `<variable>_SECRET_ID`)."""
SETTINGS: dict[str, tuple[str, ...]] = {
    **{api: (f"{api}_API_URL", f"{api}_TIMEOUT") for api in _HTTP_APIS},
    "SMTP": ("SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_SECURE", "MAIL_FROM", "SMTP_TIMEOUT"),
    "VAPID": ("VAPID_SUBJECT", "PUSH_TIMEOUT"),
    "WEBHOOKS": ("WEBHOOK_TIMEOUT",),
}
"""Service -> the non-secret variables a deployment may set in the `seedServices` context."""
USES: dict[str, tuple[str, ...]] = {
    "lead-processing": ("REALESTATE", "CRM"),
    "lead-enrichment": ("GHL", "REALESTATE"),
    "message-processing": ("MESSAGING",),
    "health-check": ("MESSAGING",),
    "bulk-availability": ("MESSAGING",),
    "integration-sync": ("HUBSPOT", "SALESFORCE", "SHEETS"),
    "email": ("SMTP",),
    "search": ("SEARCH", "APP"),
    "notification": ("VAPID",),
    "webhooks": ("WEBHOOKS",),
}
"""Work queue -> the services its processors call (`workloads.processors`)."""

_REASON = ("A credential issued by a third-party service: it can only be rotated at that provider, so it is "
           "replaced by hand (put-secret-value)")


def _check(settings: Mapping[str, str]) -> dict[str, str]:
    """The `seedServices` context: known variable names, string values, http(s) base URLs."""
    known = {name for names in SETTINGS.values() for name in names}
    problems = [f"{name}: unknown setting (known: {sorted(known)})" for name in settings if name not in known]
    problems += [f"{name}: expected a string, got {value!r}" for name, value in settings.items()
                 if not isinstance(value, str)]
    problems += [f"{name}={value!r}: expected an http(s) URL" for name, value in settings.items()
                 if name.endswith("_API_URL") and isinstance(value, str)
                 and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc)]
    if problems:
        raise ValueError("invalid seedServices context: " + "; ".join(problems))
    return dict(settings)


class SeedServices(Construct):
    """A secret per credential (`.secrets[service]`) and the context's settings; `grant` wires one function."""

    def __init__(self, scope: Construct, id: str, *, settings: Mapping[str, str]) -> None:
        super().__init__(scope, id)
        self.settings = _check(settings)
        stack_name = Stack.of(self).stack_name
        self.secrets: dict[str, secretsmanager.Secret] = {}
        for service, variable in CREDENTIALS.items():
            secret = secretsmanager.Secret(
                self, service, description=f"{stack_name}: {variable} of the seed processors' {service} service",
                generate_secret_string=secretsmanager.SecretStringGenerator(password_length=32,
                                                                            exclude_punctuation=True),
            )
            Validations.of(secret).acknowledge(Acknowledgment(id="AwsSolutions-SMG4", reason=_REASON))
            skip_checks(secret, CKV_AWS_149=SECRET_KMS)
            self.secrets[service] = secret

    def grant(self, function: lambda_.Function, queue: str) -> None:
        """The settings and secret ids of the services `queue`'s processors call; read access to those secrets."""
        for service in USES.get(queue, ()):
            for name in SETTINGS[service]:
                if name in self.settings:
                    function.add_environment(name, self.settings[name])
            secret = self.secrets[service]
            secret.grant_read(function)
            function.add_environment(f"{CREDENTIALS[service]}_SECRET_ID", secret.secret_arn)
