"""Where the OCI provider takes its configuration from: environment, config.toml, OCI config.

Each value is looked up in this order: the environment variable, then
``[providers.oci]`` in Strato's ``config.toml``, then (for the compartment) the OCI config
file's tenancy, then the default. Nothing here imports the OCI SDK.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The OCI config file when neither ``OCI_CONFIG_FILE`` nor ``config_file`` names one.
DEFAULT_CONFIG_FILE = "~/.oci/config"
DEFAULT_PROFILE = "DEFAULT"

#: Variables that configure the provider, in the order a person would set them.
ENV_VARS: tuple[str, ...] = (
    "OCI_CONFIG_FILE",
    "OCI_CONFIG_PROFILE",
    "STRATO_OCI_COMPARTMENT",
    "STRATO_OCI_SUBNET",
    "STRATO_OCI_IMAGE",
    "STRATO_OCI_AVAILABILITY_DOMAIN",
    "STRATO_OCI_ENDPOINT",
    "STRATO_OCI_LAUNCH_WAIT_S",
)


def _per_region(text: str | None) -> tuple[str | None, dict[str, str]]:
    """``"ocid1..."`` -> (that, {}); ``"us-ashburn-1=ocid1...,eu-paris-1=ocid1..."`` ->
    (None, {region: ocid}). A bare value applies to every region."""
    if not text:
        return None, {}
    if "=" not in text:
        return text.strip(), {}
    table: dict[str, str] = {}
    for item in text.split(","):
        region, _, value = item.partition("=")
        if region.strip() and value.strip():
            table[region.strip()] = value.strip()
    return None, table


@dataclass(frozen=True)
class OCISettings:
    """The provider's configuration, resolved once per call."""

    config_file: str = DEFAULT_CONFIG_FILE
    profile: str = DEFAULT_PROFILE
    #: service endpoint override (an emulator); ``{region}`` in it is replaced by the region
    endpoint: str | None = None
    #: compartment OCID for new instances; None: the tenancy of the OCI config
    compartment_id: str | None = None
    subnet_id: str | None = None
    subnet_ids: Mapping[str, str] = field(default_factory=dict)
    image_id: str | None = None
    image_ids: Mapping[str, str] = field(default_factory=dict)
    #: launch only in this availability domain (else every domain of the region, in order)
    availability_domain: str | None = None
    boot_volume_gb: int = 100
    #: how long ``provision`` waits for an instance to leave PROVISIONING
    launch_wait_s: float = 30.0
    poll_interval_s: float = 2.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> OCISettings:
        """Settings from the environment and ``[providers.oci]`` of config.toml."""
        env = os.environ if env is None else env
        from strato.config import load_settings

        table: dict[str, Any] = dict((load_settings().get("providers") or {}).get("oci") or {})

        def pick(var: str, key: str) -> Any:
            value = env.get(var)
            return value if value not in (None, "") else table.get(key)

        subnet, subnets = _per_region(env.get("STRATO_OCI_SUBNET"))
        image, images = _per_region(env.get("STRATO_OCI_IMAGE"))
        wait = pick("STRATO_OCI_LAUNCH_WAIT_S", "launch_wait_s")
        return cls(
            config_file=str(pick("OCI_CONFIG_FILE", "config_file") or DEFAULT_CONFIG_FILE),
            profile=str(pick("OCI_CONFIG_PROFILE", "profile") or DEFAULT_PROFILE),
            endpoint=pick("STRATO_OCI_ENDPOINT", "endpoint") or None,
            compartment_id=pick("STRATO_OCI_COMPARTMENT", "compartment_id") or None,
            subnet_id=subnet or (None if subnets else table.get("subnet_id")),
            subnet_ids=subnets or dict(table.get("subnet_ids") or {}),
            image_id=image or (None if images else table.get("image_id")),
            image_ids=images or dict(table.get("image_ids") or {}),
            availability_domain=pick("STRATO_OCI_AVAILABILITY_DOMAIN", "availability_domain")
            or None,
            boot_volume_gb=int(table.get("boot_volume_gb") or 100),
            launch_wait_s=float(wait) if wait not in (None, "") else 30.0,
        )

    def endpoint_for(self, region: str) -> str | None:
        """The service endpoint override for ``region``, or None for OCI's own."""
        if not self.endpoint:
            return None
        return self.endpoint.replace("{region}", region)

    def subnet_for(self, region: str) -> str | None:
        """The configured subnet OCID for ``region`` (subnets are regional), if any."""
        return self.subnet_ids.get(region) or self.subnet_id

    def image_for(self, region: str) -> str | None:
        """The configured image OCID for ``region`` (images are regional), if any."""
        return self.image_ids.get(region) or self.image_id
