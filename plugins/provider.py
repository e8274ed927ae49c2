"""The contract between the control plane and a provider of machines.

A provider is an object with a ``name``, a :class:`Capabilities` record (data, so placement can
filter without calling it) and the methods of :class:`Provider`. Every provider maps its own
instance states into :class:`InstanceState`, the one vocabulary the control plane reads, in
one table of its own; every error of its SDK becomes a :class:`strato.exception.ProviderError`
subclass (``CapacityError``, ``QuotaError``, ``CredentialsError``,
``ProviderUnavailableError``) so that no SDK exception reaches the control plane.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class InstanceState(enum.StrEnum):
    """Where a provisioned container is in its life, whatever the provider calls it."""

    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    PREEMPTED = "preempted"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do, as data."""

    spot: bool = False
    multi_gpu: bool = False
    bucket_mounts: bool = False
    regions: tuple[str, ...] = ()
    max_gpus_per_machine: int = 0
    #: feature -> reason, for what this provider cannot honour
    unsupported: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CredentialCheck:
    """What ``check_credentials`` found: whether the provider can be used, and how to fix it."""

    ok: bool
    message: str
    #: the environment variables (or files) that configure this provider
    env_vars: tuple[str, ...] = ()
    #: whether the provider's API answered (False when it could not be reached at all)
    reachable: bool = True


@dataclass
class ContainerSpec:
    """Everything a provider needs to start one container running the worker agent."""

    container_id: str
    app_id: str
    function_id: str
    function_name: str
    server_url: str
    token: str
    cpu: float | None = None
    memory_mib: int | None = None
    gpu: str | None = None
    region: list[str] | None = None
    cloud: str | None = None
    env: dict[str, str] = field(default_factory=dict, repr=False)
    #: secret values: sent to the agent over its authenticated stream when it connects, never
    #: put in a start-up script, user data or process arguments
    secret_env: dict[str, str] = field(default_factory=dict, repr=False)
    workdir: str | None = None
    python_path: list[str] = field(default_factory=list)
    spot: bool = False
    app_name: str | None = None
    #: the image's Dockerfile, for start-up scripts that build it (None: the default image)
    dockerfile: str | None = None
    #: the Python that runs the agent, for providers that run it on this machine (an image's
    #: virtual environment on the local provider; None: the control plane's own)
    python: str | None = None
    #: paths to make visible in the container: {"source", "target", "read_only"}
    mounts: list[dict[str, Any]] = field(default_factory=list)
    #: the container runs on a machine that cannot see this machine's disk (a cloud VM)
    remote: bool = False
    #: what the container syncs or mounts itself at start (a remote container's volumes and
    #: bucket mounts; see :mod:`strato.runtime.mounts`); may hold credentials, so it travels
    #: like ``secret_env``, never in a start-up script
    sync: list[dict[str, Any]] = field(default_factory=list, repr=False)


@dataclass
class ContainerHandle:
    """A provider's reference to a container it started."""

    provider: str
    container_id: str
    data: dict[str, Any] = field(default_factory=dict)
    region: str | None = None
    instance_type: str | None = None
    zone: str | None = None


@runtime_checkable
class Provider(Protocol):
    """The methods every provider implements."""

    name: str
    capabilities: Capabilities

    def check_credentials(self) -> CredentialCheck:
        """Whether credentials are present and accepted, and what to set if not."""
        ...

    def provision(self, spec: ContainerSpec, offer: Any = None) -> ContainerHandle:
        """Start a container for ``spec`` on ``offer`` (a catalog :class:`Offer`, or None for
        a provider without a catalog); raise a ``ProviderError`` subclass on refusal."""
        ...

    def status(self, handle: ContainerHandle) -> InstanceState:
        """The container's state in the shared vocabulary."""
        ...

    def terminate(self, handle: ContainerHandle) -> None:
        """Stop the container and release its machine (idempotent)."""
        ...
