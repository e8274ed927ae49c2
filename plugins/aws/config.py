"""The AWS plugin's settings, from keyword arguments, the environment and ``config.toml``.

Each setting is looked up in that order: an argument given to :class:`AwsSettings.load` (tests
and embedders), then its environment variable, then ``[providers.aws]`` in the operator's
``config.toml``; the first one set wins. Credentials are not settings: boto3 finds them
itself (see :mod:`strato.plugins.aws`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AMI_PARAMETER", "ANY_REGION", "AwsSettings"]

#: The public SSM parameter naming the newest AWS Deep Learning Base AMI (NVIDIA driver,
#: CUDA, Docker and the NVIDIA container toolkit) of one architecture, in every region.
AMI_PARAMETER = (
    "/aws/service/deeplearning/ami/{arch}/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"
)

#: The key of a per-region table that applies to every region not named in it.
ANY_REGION = "*"

#: setting -> environment variable
ENV = {
    "endpoint_url": "STRATO_AWS_ENDPOINT_URL",
    "profile": "AWS_PROFILE",
    "default_region": "STRATO_AWS_REGION",
    "ami": "STRATO_AWS_AMI",
    "ami_parameter": "STRATO_AWS_AMI_PARAMETER",
    "subnet": "STRATO_AWS_SUBNET",
    "zones": "STRATO_AWS_ZONES",
    "security_groups": "STRATO_AWS_SECURITY_GROUPS",
    "key_name": "STRATO_AWS_KEY_NAME",
    "instance_profile": "STRATO_AWS_INSTANCE_PROFILE",
}


@dataclass(frozen=True)
class AwsSettings:
    """Where and how the AWS provider launches machines."""

    endpoint_url: str | None = None
    """An EC2/STS/SSM endpoint to use instead of AWS's (an emulator); ``AWS_ENDPOINT_URL``
    is honoured by boto3 itself as well."""
    profile: str | None = None
    """The named profile of ``~/.aws/credentials`` / ``~/.aws/config`` to use."""
    default_region: str | None = None
    """The region of the credential check (default: the profile's region, else us-east-1)."""
    ami: dict[str, str] = field(default_factory=dict)
    """region -> machine image id; ``*`` for every region. Empty: the Deep Learning AMI."""
    ami_parameter: str = AMI_PARAMETER
    """The SSM parameter naming the image; ``{arch}`` becomes ``x86_64`` or ``arm64``."""
    subnet: dict[str, str] = field(default_factory=dict)
    """region -> subnet id to launch into (its zone is then the subnet's); ``*`` for any."""
    zones: tuple[str, ...] = ()
    """Availability zones to try in order, any region's (each region uses its own). Empty:
    EC2 picks the zone, which is what AWS advises for the best chance of capacity."""
    security_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """region -> security group ids; ``*`` for every region. Empty: the VPC's default."""
    key_name: str | None = None
    """An EC2 key pair to install, for SSH access while debugging."""
    instance_profile: str | None = None
    """An IAM instance profile (name or ARN) to give the machines."""

    @classmethod
    def load(cls, settings: Mapping[str, Any] | None = None, **given: Any) -> AwsSettings:
        """Settings from ``given``, the environment, then ``settings`` (``[providers.aws]``;
        read from ``config.toml`` when None)."""
        if settings is None:
            from strato.config import load_settings

            settings = (load_settings().get("providers") or {}).get("aws") or {}

        def pick(name: str) -> Any:
            if given.get(name) is not None:
                return given[name]
            env = os.environ.get(ENV[name])
            if env:
                return env
            return settings.get(name)

        unknown = set(given) - set(ENV)
        if unknown:
            raise TypeError(f"unknown AWS settings: {', '.join(sorted(unknown))}")
        return cls(
            endpoint_url=_text(pick("endpoint_url")),
            profile=_text(pick("profile")),
            default_region=_text(pick("default_region")),
            ami=_by_region(pick("ami")),
            ami_parameter=_text(pick("ami_parameter")) or AMI_PARAMETER,
            subnet=_by_region(pick("subnet")),
            zones=_names(pick("zones")),
            security_groups={
                region: _names(value)
                for region, value in _by_region(pick("security_groups"), split=False).items()
            },
            key_name=_text(pick("key_name")),
            instance_profile=_text(pick("instance_profile")),
        )

    def for_region(self, table: Mapping[str, Any], region: str) -> Any:
        """The value of a per-region table for ``region``, else its ``*`` entry, else None."""
        return table.get(region, table.get(ANY_REGION))

    def zones_in(self, region: str) -> list[str]:
        """The configured zones of ``region``, in order (a zone's name starts with its
        region's: ``us-east-1a``)."""
        return [zone for zone in self.zones if zone.startswith(region)]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _names(value: Any) -> tuple[str, ...]:
    """A list from a TOML array or a comma-separated string."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return tuple(str(part).strip() for part in value if str(part).strip())


def _by_region(value: Any, split: bool = True) -> dict[str, Any]:
    """A per-region table from a TOML table, ``"region=value,region=value"``, or one bare
    value for every region."""
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return {str(region): item for region, item in value.items()}
    if not isinstance(value, str):
        return {ANY_REGION: value}
    if "=" not in value:
        return {ANY_REGION: value.strip()}
    table: dict[str, Any] = {}
    separator = "," if split else ";"
    for part in value.split(separator):
        region, _, item = part.partition("=")
        if region.strip() and item.strip():
            table[region.strip()] = item.strip()
    return table
