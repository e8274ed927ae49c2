"""The AWS provider: one EC2 instance per container, booted by its user data.

``provision`` launches the offer's instance type in the offer's region with ``RunInstances``
(spot when the function asks for it), the Strato start-up script as user data and tags naming
app, function and container; ``status`` reads ``DescribeInstances`` through :data:`STATES`;
``terminate`` calls ``TerminateInstances``. boto3 is imported on first use only.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from strato.exception import CapacityError, ProviderError
from strato.plugins.aws.config import AwsSettings
from strato.plugins.aws.errors import (
    CREDENTIAL_HINT,
    CREDENTIAL_SOURCES,
    error_code,
    from_sdk,
    is_not_found,
)
from strato.plugins.provider import (
    Capabilities,
    ContainerHandle,
    ContainerSpec,
    CredentialCheck,
    InstanceState,
)
from strato.plugins.startup import render_startup_script

__all__ = ["FAILED_LAUNCH_REASONS", "PREEMPTION_REASONS", "STATES", "AwsProvider"]

#: EC2's instance states (``State.Name``) in the shared vocabulary; anything else is UNKNOWN.
STATES: dict[str, InstanceState] = {
    "pending": InstanceState.PENDING,
    "running": InstanceState.RUNNING,
    "shutting-down": InstanceState.STOPPING,
    "terminated": InstanceState.STOPPED,
    "stopping": InstanceState.STOPPING,
    "stopped": InstanceState.STOPPED,
}

#: ``StateReason.Code`` of a spot instance that EC2 interrupted (the API reference's
#: StateReason: "Server.SpotInstanceTermination", or "...Shutdown" for stop-on-interruption).
PREEMPTION_REASONS = frozenset({"Server.SpotInstanceTermination", "Server.SpotInstanceShutdown"})

#: ``StateReason.Code`` of an instance that died while launching: it never ran.
FAILED_LAUNCH_REASONS = frozenset(
    {
        "Server.InternalError",
        "Server.InsufficientInstanceCapacity",
        "Client.InternalError",
        "Client.VolumeLimitExceeded",
        "Client.InvalidSnapshot.NotFound",
    }
)

#: How long after launch an instance that DescribeInstances does not know yet is still
#: "pending" (EC2's API is eventually consistent); after that it is gone.
NOT_VISIBLE_GRACE_S = 120.0

#: How long a looked-up Deep Learning AMI id is reused (AWS publishes new ones every week or
#: so; a long-running control plane picks them up within a day).
IMAGE_TTL_S = 24 * 3600.0

#: The region of the credential check when no setting or profile names one.
FALLBACK_REGION = "us-east-1"

#: Largest GPU count on one AWS machine when the catalog cannot say (p5/p6: 8 GPUs).
DEFAULT_MAX_GPUS = 8

#: service -> (attempts, connect timeout s, read timeout s) of its client. botocore retries
#: throttling and 5xx answers itself; the launcher retries ProviderUnavailableError again, so
#: a few attempts suffice, and the credential check should answer quickly.
_CLIENT_LIMITS = {"*": (3, 10, 60), "sts": (2, 5, 15)}

_ARM_FAMILY = re.compile(r"[a-z]+\d+g[a-z0-9]*|p6e-gb\d+|x2gd")


def architecture(instance_type: str) -> str:
    """``arm64`` for Graviton families (``g5g``, ``c7gn``, ``p6e-gb200``), else ``x86_64``."""
    family = instance_type.split(".", 1)[0]
    return "arm64" if _ARM_FAMILY.fullmatch(family) else "x86_64"


def _catalog_facts() -> tuple[tuple[str, ...], int]:
    """(AWS regions of the region vocabulary and the price catalog, most GPUs on a machine)."""
    regions: set[str] = set()
    max_gpus = 0
    try:
        from strato.regions import all_regions

        regions.update(r.name for r in all_regions() if r.provider == "aws")
    except Exception:  # noqa: BLE001 - capabilities must not fail on a bad data file
        pass
    try:
        from strato.pricing.catalog import default_catalog

        for offer in default_catalog().offers(provider="aws"):
            regions.add(offer.region)
            max_gpus = max(max_gpus, offer.gpu_count)
    except Exception:  # noqa: BLE001
        pass
    return tuple(sorted(regions)), max_gpus or DEFAULT_MAX_GPUS


class AwsProvider:
    """Runs each container on its own EC2 instance.

    ``settings`` (an :class:`AwsSettings`) or keyword overrides of its fields configure it;
    by default it reads the environment and ``[providers.aws]`` on first use. ``session``
    injects a ``boto3.Session`` (tests, embedders); otherwise one is made from the usual
    credential chain. :attr:`session` and :meth:`client` expose what it calls, so tests can
    hook botocore's event system (see ``tests/support/aws_emulator.py``).
    """

    name = "aws"

    def __init__(
        self, settings: AwsSettings | None = None, *, session: Any = None, **overrides: Any
    ) -> None:
        if settings is not None and overrides:
            raise TypeError("pass either settings or keyword overrides, not both")
        self._settings = settings
        self._overrides = overrides
        self._session = session
        self._clients: dict[tuple[str, str], Any] = {}
        self._images: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.RLock()
        regions, max_gpus = _catalog_facts()
        self.capabilities = Capabilities(
            spot=True,
            multi_gpu=True,
            bucket_mounts=False,
            regions=regions,
            max_gpus_per_machine=max_gpus,
            unsupported={"bucket_mounts": "the aws plugin does not mount buckets yet"},
        )

    # -- SDK access ------------------------------------------------------------------------------
    @property
    def settings(self) -> AwsSettings:
        """The settings in force (read from the environment and config.toml on first use)."""
        if self._settings is None:
            self._settings = AwsSettings.load(**self._overrides)
        return self._settings

    @property
    def session(self) -> Any:
        """The ``boto3.Session`` every client comes from (made on first use)."""
        with self._lock:
            if self._session is None:
                import boto3

                self._session = boto3.Session(profile_name=self.settings.profile)
            return self._session

    def client(self, service: str, region: str) -> Any:
        """The boto3 client of ``service`` in ``region`` (one per pair, reused; thread-safe)."""
        key = (service, region)
        with self._lock:
            cached = self._clients.get(key)
            if cached is None:
                from botocore.config import Config

                attempts, connect_s, read_s = _CLIENT_LIMITS.get(service, _CLIENT_LIMITS["*"])
                options: dict[str, Any] = {
                    "connect_timeout": connect_s,
                    "read_timeout": read_s,
                    "user_agent_extra": "strato",
                }
                if not (os.environ.get("AWS_MAX_ATTEMPTS") or os.environ.get("AWS_RETRY_MODE")):
                    # boto3's own retry settings win where the user gave them
                    options["retries"] = {"mode": "standard", "max_attempts": attempts}
                config = Config(**options)
                kwargs: dict[str, Any] = {"region_name": region, "config": config}
                if self.settings.endpoint_url:
                    kwargs["endpoint_url"] = self.settings.endpoint_url
                cached = self._clients[key] = self.session.client(service, **kwargs)
            return cached

    def clients(self) -> list[Any]:
        """Every client made so far (for tests that hook their events)."""
        with self._lock:
            return list(self._clients.values())

    @contextmanager
    def _sdk(self, region: str | None, action: str) -> Iterator[None]:
        """Turn whatever boto3 raises inside the block into a ProviderError."""
        try:
            yield
        except ProviderError:
            raise
        except Exception as exc:  # noqa: BLE001 - no SDK exception may leave the provider
            raise from_sdk(exc, region=region, action=action) from exc

    # -- credentials -----------------------------------------------------------------------------
    def check_credentials(self) -> CredentialCheck:
        """Whether boto3 finds credentials and STS accepts them (one GetCallerIdentity)."""
        env_vars = CREDENTIAL_SOURCES
        try:
            session = self.session
            credentials = session.get_credentials()
        except Exception as exc:  # noqa: BLE001 - a bad profile is a failed check, not a crash
            error = from_sdk(exc, region=None, action="reading credentials")
            return CredentialCheck(False, str(error), env_vars)
        if credentials is None:
            return CredentialCheck(False, f"no AWS credentials found: {CREDENTIAL_HINT}", env_vars)
        region = self.settings.default_region or session.region_name or FALLBACK_REGION
        try:
            with self._sdk(region, "GetCallerIdentity"):
                identity = self.client("sts", region).get_caller_identity()
        except ProviderError as error:
            from strato.exception import CredentialsError, ProviderUnavailableError

            reachable = not isinstance(error, ProviderUnavailableError)
            message = str(error)
            if not isinstance(error, CredentialsError) and reachable:
                message = f"{message} ({CREDENTIAL_HINT})"
            return CredentialCheck(False, message, env_vars, reachable=reachable)
        return CredentialCheck(
            True,
            f"AWS account {identity.get('Account')} as {identity.get('Arn')}",
            env_vars,
        )

    # -- images ----------------------------------------------------------------------------------
    def image_for(self, region: str, instance_type: str) -> str:
        """The machine image for ``instance_type`` in ``region``: the configured one, else
        the Deep Learning AMI named by the public SSM parameter (looked up once a day per
        region and architecture)."""
        configured = self.settings.for_region(self.settings.ami, region)
        if configured:
            return str(configured)
        arch = architecture(instance_type)
        key = (region, arch)
        cached = self._images.get(key)
        if cached is not None and time.monotonic() - cached[1] < IMAGE_TTL_S:
            return cached[0]
        name = self.settings.ami_parameter.format(arch=arch)
        with self._sdk(region, f"GetParameter {name}"):
            try:
                answer = self.client("ssm", region).get_parameter(Name=name)
            except Exception as exc:
                if error_code(exc)[0] in {"ParameterNotFound", "ParameterVersionNotFound"}:
                    raise ProviderError(
                        f"aws {region}: no machine image: SSM parameter {name} does not "
                        "exist there; set STRATO_AWS_AMI or [providers.aws] ami",
                        provider=self.name,
                        code="ParameterNotFound",
                        region=region,
                    ) from exc
                raise
            image = str(answer["Parameter"]["Value"])
        self._images[key] = (image, time.monotonic())
        return image

    # -- provisioning ----------------------------------------------------------------------------
    def provision(self, spec: ContainerSpec, offer: Any = None) -> ContainerHandle:
        """Launch one instance for ``spec`` on ``offer``; tries each configured zone in turn
        while EC2 reports no capacity, then raises the last refusal."""
        if offer is None or not getattr(offer, "instance_type", None):
            raise ProviderError(
                "aws provisions catalog offers only: no offer (instance type and region) given",
                provider=self.name,
            )
        region = str(offer.region)
        instance_type = str(offer.instance_type)
        script = render_startup_script(spec, self.name, region)
        image = self.image_for(region, instance_type)
        zones = self._zones(region, offer)
        error: ProviderError | None = None
        for zone in zones:
            request = self.launch_request(spec, instance_type, image, script, region, zone)
            try:
                with self._sdk(region, "RunInstances"):
                    instance = self.client("ec2", region).run_instances(**request)["Instances"][0]
                    instance_id = str(instance["InstanceId"])
            except CapacityError as refusal:
                error = refusal
                continue  # another zone of the region may have the machines
            placed_zone = (instance.get("Placement") or {}).get("AvailabilityZone") or zone
            return ContainerHandle(
                provider=self.name,
                container_id=spec.container_id,
                data={
                    "instance_id": instance_id,
                    "region": region,
                    "zone": placed_zone,
                    "spot": bool(spec.spot),
                    "image_id": image,
                    "launched_at": time.time(),
                    "startup_script": script,
                },
                region=region,
                zone=placed_zone,
                instance_type=instance_type,
            )
        assert error is not None
        if len(zones) > 1:
            error.args = (f"{error.args[0]} (tried zones {', '.join(map(str, zones))})",)
        raise error

    def _zones(self, region: str, offer: Any) -> list[str | None]:
        """Zones to try in order; [None] lets EC2 choose (or the configured subnet decides)."""
        if getattr(offer, "zone", None):
            return [str(offer.zone)]
        if self.settings.for_region(self.settings.subnet, region):
            return [None]
        return list(self.settings.zones_in(region)) or [None]

    def launch_request(
        self,
        spec: ContainerSpec,
        instance_type: str,
        image: str,
        script: str,
        region: str,
        zone: str | None,
    ) -> dict[str, Any]:
        """The keyword arguments of ``RunInstances`` for one container."""
        tags = {
            "Name": f"strato-{spec.container_id}",
            "strato-app": spec.app_name or spec.app_id,
            "strato-app-id": spec.app_id,
            "strato-function": spec.function_name,
            "strato-function-id": spec.function_id,
            "strato-container": spec.container_id,
        }
        tag_list = [{"Key": k, "Value": str(v)[:256]} for k, v in tags.items()]
        request: dict[str, Any] = {
            "ImageId": image,
            "InstanceType": instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "UserData": script,
            # the machine ends when the agent exits and it powers off: never a stopped VM to pay for
            "InstanceInitiatedShutdownBehavior": "terminate",
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tag_list},
                {"ResourceType": "volume", "Tags": tag_list},
            ],
            # a botocore retry of this very request must not start a second machine
            "ClientToken": f"{spec.container_id}-{uuid.uuid4().hex[:12]}"[-64:],
        }
        if spec.spot:
            request["InstanceMarketOptions"] = {
                "MarketType": "spot",
                "SpotOptions": {
                    "SpotInstanceType": "one-time",
                    "InstanceInterruptionBehavior": "terminate",
                },
            }
        settings = self.settings
        subnet = settings.for_region(settings.subnet, region)
        if subnet:
            request["SubnetId"] = subnet
        elif zone:
            request["Placement"] = {"AvailabilityZone": zone}
        groups = settings.for_region(settings.security_groups, region)
        if groups:
            request["SecurityGroupIds"] = list(groups)
        if settings.key_name:
            request["KeyName"] = settings.key_name
        if settings.instance_profile:
            key = "Arn" if settings.instance_profile.startswith("arn:") else "Name"
            request["IamInstanceProfile"] = {key: settings.instance_profile}
        return request

    # -- status and termination ------------------------------------------------------------------
    def describe(self, handle: ContainerHandle) -> dict[str, Any] | None:
        """EC2's description of the handle's instance, None when EC2 does not know it."""
        region = self._region(handle)
        with self._sdk(region, "DescribeInstances"):
            try:
                answer = self.client("ec2", region).describe_instances(
                    InstanceIds=[handle.data["instance_id"]]
                )
            except Exception as exc:
                if is_not_found(exc):
                    return None
                raise
        for reservation in answer.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                return dict(instance)
        return None

    def status(self, handle: ContainerHandle) -> InstanceState:
        """The instance's state; a spot instance EC2 took back is PREEMPTED."""
        if not handle.data.get("instance_id"):
            return InstanceState.UNKNOWN
        instance = self.describe(handle)
        if instance is None:
            launched = float(handle.data.get("launched_at") or 0.0)
            fresh = time.time() - launched < NOT_VISIBLE_GRACE_S
            return InstanceState.PENDING if fresh else InstanceState.STOPPED
        return state_of(instance, spot=bool(handle.data.get("spot")))

    def terminate(self, handle: ContainerHandle) -> None:
        """Terminate the instance; one that is already gone is fine."""
        instance_id = handle.data.get("instance_id")
        if not instance_id:
            return
        region = self._region(handle)
        with self._sdk(region, "TerminateInstances"):
            try:
                self.client("ec2", region).terminate_instances(InstanceIds=[instance_id])
            except Exception as exc:
                if not is_not_found(exc):
                    raise

    def _region(self, handle: ContainerHandle) -> str:
        region = handle.region or handle.data.get("region")
        if not region:
            raise ProviderError(
                f"aws handle of {handle.container_id} names no region", provider=self.name
            )
        return str(region)


def state_of(instance: dict[str, Any], spot: bool = False) -> InstanceState:
    """An EC2 instance description in the shared vocabulary (:data:`STATES`), with spot
    interruptions as PREEMPTED and instances that died while launching as FAILED."""
    name = (instance.get("State") or {}).get("Name")
    reason = (instance.get("StateReason") or {}).get("Code") or ""
    is_spot = spot or instance.get("InstanceLifecycle") == "spot"
    if is_spot and reason in PREEMPTION_REASONS:
        return InstanceState.PREEMPTED
    state = STATES.get(str(name), InstanceState.UNKNOWN)
    if state == InstanceState.STOPPED and reason in FAILED_LAUNCH_REASONS:
        return InstanceState.FAILED
    return state
