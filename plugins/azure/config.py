"""The Azure provider's settings: environment variables first, then ``[providers.azure]``.

Read without importing any Azure SDK. Every name is documented in the package docstring
(:mod:`strato.plugins.azure`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Ubuntu 22.04 with NVIDIA drivers, CUDA, Docker and the NVIDIA container toolkit.
DEFAULT_IMAGE = "microsoft-dsvm:ubuntu-hpc:2204:latest"
DEFAULT_RESOURCE_GROUP = "strato"

#: The service principal variables DefaultAzureCredential reads, and the subscription.
CREDENTIAL_ENV_VARS = (
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_SUBSCRIPTION_ID",
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class AzureSettings:
    """Everything the provider needs to know besides the offer and the container."""

    subscription_id: str | None
    resource_group: str = DEFAULT_RESOURCE_GROUP
    #: ARM endpoint override (an emulator); None talks to management.azure.com
    endpoint: str | None = None
    client_id: str | None = None
    tenant_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    #: an existing subnet for every NIC; None creates ``strato-<region>`` VNets
    subnet_id: str | None = None
    #: ``publisher:offer:sku:version`` or an image / gallery image version resource id
    image: str = DEFAULT_IMAGE
    #: availability zones to try in order (empty: a regional VM, Azure picks)
    zones: tuple[str, ...] = ()
    ssh_public_key: str | None = None
    public_ip: bool = False
    os_disk_gb: int = 128
    admin_username: str = "strato"
    create_timeout_s: float = 900.0
    delete_timeout_s: float = 600.0
    poll_interval_s: float = 5.0
    retries: int = 3
    retry_backoff_s: float = 0.8

    @property
    def emulated(self) -> bool:
        """Whether an endpoint override is set (a static test credential is used)."""
        return bool(self.endpoint)

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> AzureSettings:
        """Settings from ``env`` (default ``os.environ``) over ``settings`` (default the
        ``[providers.azure]`` table of config.toml)."""
        env = os.environ if env is None else env
        if settings is None:
            from strato.config import load_settings

            settings = (load_settings().get("providers") or {}).get("azure") or {}

        def pick(var: str | None, key: str) -> Any:
            if var is not None and env.get(var):
                return env[var]
            return settings.get(key)

        zones = pick("STRATO_AZURE_ZONES", "zones") or ()
        if isinstance(zones, str):
            zones = [z.strip() for z in zones.split(",") if z.strip()]
        public_ip = pick("STRATO_AZURE_PUBLIC_IP", "public_ip")
        return cls(
            subscription_id=pick("AZURE_SUBSCRIPTION_ID", "subscription_id"),
            resource_group=pick("STRATO_AZURE_RESOURCE_GROUP", "resource_group")
            or DEFAULT_RESOURCE_GROUP,
            endpoint=pick("STRATO_AZURE_ENDPOINT", "endpoint"),
            client_id=env.get("AZURE_CLIENT_ID"),
            tenant_id=env.get("AZURE_TENANT_ID"),
            client_secret=env.get("AZURE_CLIENT_SECRET"),
            subnet_id=pick("STRATO_AZURE_SUBNET_ID", "subnet_id"),
            image=pick("STRATO_AZURE_IMAGE", "image") or DEFAULT_IMAGE,
            zones=tuple(str(z) for z in zones),
            ssh_public_key=pick("STRATO_AZURE_SSH_PUBLIC_KEY", "ssh_public_key"),
            public_ip=_boolean(public_ip, default=False),
            os_disk_gb=int(settings.get("os_disk_gb", 128)),
            admin_username=str(settings.get("admin_username", "strato")),
            create_timeout_s=float(settings.get("create_timeout_s", 900.0)),
            delete_timeout_s=float(settings.get("delete_timeout_s", 600.0)),
            poll_interval_s=float(settings.get("poll_interval_s", 5.0)),
            retries=int(settings.get("retries", 3)),
            retry_backoff_s=float(settings.get("retry_backoff_s", 0.8)),
        )


def _boolean(value: Any, *, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return default
