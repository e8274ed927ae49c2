"""The management clients, built lazily from :class:`AzureSettings`, and the credential.

Real Azure: ``DefaultAzureCredential`` (service principal variables, workload or managed
identity, ``az login``, ...). With ``STRATO_AZURE_ENDPOINT`` set (an emulator), a static token
stands in for the service principal: it needs the same variables, so "no credentials" means
the same thing everywhere, but nothing is sent to Microsoft Entra ID.

azure-core's ``BearerTokenCredentialPolicy`` refuses to send a token over plain http
(``ServiceRequestError: Bearer token authentication is not permitted for non-TLS protected
(non-https) URLs``) unless the request carries the option ``enforce_https=False``;
:attr:`AzureClients.call` holds that option for an ``http://`` emulator and every call passes
it (``**clients.call``), including the long-running-operation polls, which reuse the options
of the call that started them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from strato.plugins.azure.config import AzureSettings

#: The scope of an Azure Resource Manager token.
ARM_SCOPE = "https://management.azure.com/.default"


class StaticTokenCredential:
    """A ``TokenCredential`` that returns one fixed token (for an emulator, never real Azure)."""

    def __init__(self, token: str, lifetime_s: int = 3600) -> None:
        self._token = token
        self._lifetime_s = lifetime_s

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + self._lifetime_s)

    def close(self) -> None:
        """Nothing to release."""


def make_credential(settings: AzureSettings) -> Any | None:
    """The credential for ``settings``, or None when an emulator is configured without the
    service principal variables."""
    if settings.emulated:
        if not (settings.client_id and settings.tenant_id and settings.client_secret):
            return None
        return StaticTokenCredential(f"strato-emulator-{settings.client_id}")
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


@dataclass
class AzureClients:
    """The compute and network clients for one subscription, and the per-call options."""

    credential: Any
    compute: Any
    network: Any
    call: dict[str, Any] = field(default_factory=dict)


def make_clients(settings: AzureSettings, credential: Any) -> AzureClients:
    """Management clients for ``settings`` (imports the SDK)."""
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.network import NetworkManagementClient

    options: dict[str, Any] = {
        "polling_interval": settings.poll_interval_s,
        "retry_total": settings.retries,
        "retry_backoff_factor": settings.retry_backoff_s,
        "connection_timeout": 10,
        "read_timeout": 60,
    }
    if settings.endpoint:
        options["base_url"] = settings.endpoint.rstrip("/")
    subscription = settings.subscription_id or ""
    call: dict[str, Any] = {}
    if settings.endpoint and settings.endpoint.lower().startswith("http://"):
        call["enforce_https"] = False
    return AzureClients(
        credential=credential,
        compute=ComputeManagementClient(credential, subscription, **options),
        network=NetworkManagementClient(credential, subscription, **options),
        call=call,
    )


def wait_for(poller: Any, timeout_s: float, what: str) -> Any:
    """The result of a long-running operation, waiting at most ``timeout_s`` seconds."""
    from strato.exception import ProviderUnavailableError

    result = poller.result(timeout=timeout_s)
    if not poller.done():
        raise ProviderUnavailableError(
            f"Azure did not finish {what} within {timeout_s:.0f}s",
            provider="azure",
            code="Timeout",
        )
    return result
