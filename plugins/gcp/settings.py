"""The GCP provider's settings: ``[providers.gcp]`` in config.toml, with the environment on top.

The keys are listed, with an example, in the :mod:`strato.plugins.gcp` docstring.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strato.plugins.gcp.machines import DEFAULT_DISK_GB, DEFAULT_IMAGE

#: The project used against an emulator when none is configured.
EMULATOR_PROJECT = "strato-emulator"


@dataclass
class GCPSettings:
    """Where and how to launch; see the package docstring for the config keys."""

    project: str | None = None
    endpoint: str | None = None
    zones: dict[str, list[str]] = field(default_factory=dict)
    image: str = DEFAULT_IMAGE
    disk_size_gb: int = DEFAULT_DISK_GB
    network: str = "global/networks/default"
    subnetwork: str | None = None
    external_ip: bool = True
    service_account: str | None = None
    default_region: str = "us-central1"
    default_machine_type: str = "n1-standard-4"
    #: bound on waiting for an insert to finish
    operation_timeout_s: float = 600.0
    #: bound on waiting for a delete to finish (it goes on server-side past it)
    terminate_wait_s: float = 60.0
    #: bound on one HTTP request
    request_timeout_s: float = 60.0

    @classmethod
    def from_environment(
        cls, env: Mapping[str, str] | None = None, config: Mapping[str, Any] | None = None
    ) -> GCPSettings:
        """Settings from ``[providers.gcp]`` in config.toml, with the environment on top."""
        env = os.environ if env is None else env
        if config is None:
            from strato.config import load_settings

            config = (load_settings().get("providers") or {}).get("gcp") or {}
        project = (
            env.get("STRATO_GCP_PROJECT")
            or env.get("GOOGLE_CLOUD_PROJECT")
            or env.get("CLOUDSDK_CORE_PROJECT")
            or config.get("project")
        )
        settings = cls(
            project=project or None,
            endpoint=env.get("STRATO_GCP_ENDPOINT") or config.get("endpoint") or None,
            zones={str(k): [str(z) for z in v] for k, v in (config.get("zones") or {}).items()},
        )
        converters: dict[str, Any] = {
            "image": str,
            "disk_size_gb": int,
            "network": str,
            "subnetwork": str,
            "external_ip": bool,
            "service_account": str,
            "default_region": str,
            "default_machine_type": str,
            "operation_timeout_s": float,
            "terminate_wait_s": float,
            "request_timeout_s": float,
        }
        for key, convert in converters.items():
            if config.get(key) is not None:
                setattr(settings, key, convert(config[key]))
        return settings
