"""The GCP provider: one Compute Engine VM per container, through ``google-cloud-compute``.

``provision`` inserts an instance in a zone of the offer's region (the next zone on a capacity
refusal), waits for the zone operation, and returns a handle naming project, zone, instance
name and id. ``status`` reads the instance and maps its status through :data:`STATES`; a Spot
VM that GCP took back is found by its ``compute.instances.preempted`` zone operation (the
instance itself is deleted, as ``instanceTerminationAction = DELETE`` asks, or TERMINATED).
``terminate`` deletes the instance; a missing one is already terminated.

The SDK is imported lazily (inside :meth:`GCPProvider._clients` and the error mapping), so
importing this module costs nothing for users of other clouds.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from functools import cached_property
from typing import Any

from strato.exception import (
    CapacityError,
    CredentialsError,
    ProviderError,
    ProviderUnavailableError,
)
from strato.plugins.gcp import errors
from strato.plugins.gcp.machines import (
    MachineRequest,
    instance_name,
    instance_resource,
    labels_for,
    zones_for,
)
from strato.plugins.gcp.settings import EMULATOR_PROJECT, GCPSettings
from strato.plugins.provider import (
    Capabilities,
    ContainerHandle,
    ContainerSpec,
    CredentialCheck,
    InstanceState,
)
from strato.plugins.startup import render_startup_script

log = logging.getLogger(__name__)

#: Compute Engine instance status -> the shared vocabulary. Anything else is UNKNOWN.
STATES: dict[str, InstanceState] = {
    "PROVISIONING": InstanceState.PENDING,
    "STAGING": InstanceState.PENDING,
    "PENDING": InstanceState.PENDING,
    "REPAIRING": InstanceState.PENDING,
    "RUNNING": InstanceState.RUNNING,
    "STOPPING": InstanceState.STOPPING,
    "SUSPENDING": InstanceState.STOPPING,
    "PENDING_STOP": InstanceState.STOPPING,
    "DEPROVISIONING": InstanceState.STOPPING,
    "TERMINATED": InstanceState.STOPPED,
    "STOPPED": InstanceState.STOPPED,
    "SUSPENDED": InstanceState.STOPPED,
}

#: The variables (and the file they point to) that configure this provider.
ENV_VARS = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "STRATO_GCP_PROJECT",
    "GOOGLE_CLOUD_PROJECT",
    "STRATO_GCP_ENDPOINT",
)
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
PREEMPTED_OPERATION = "compute.instances.preempted"


class GCPProvider:
    """Containers on Compute Engine VMs."""

    name = "gcp"

    def __init__(self, settings: GCPSettings | None = None) -> None:
        self.settings = settings if settings is not None else GCPSettings.from_environment()
        self._lock = threading.Lock()
        self._client_pair: tuple[Any, Any] | None = None
        self._project_id: str | None = None

    @cached_property
    def capabilities(self) -> Capabilities:
        """Spot, multi-GPU machines, and the regions the catalog and region table know."""
        from strato.pricing.catalog import default_catalog
        from strato.regions import all_regions

        offers = default_catalog().offers(provider="gcp")
        regions = {o.region for o in offers} | {
            r.name for r in all_regions() if r.provider == "gcp"
        }
        return Capabilities(
            spot=True,
            multi_gpu=True,
            bucket_mounts=False,
            regions=tuple(sorted(regions)),
            max_gpus_per_machine=max((o.gpu_count for o in offers), default=8),
            unsupported={"bucket_mounts": "not implemented for GCP yet"},
        )

    # -- clients ---------------------------------------------------------------------------------
    def _clients(self) -> tuple[Any, Any]:
        """(InstancesClient, ZoneOperationsClient) on the REST transport, created once."""
        with self._lock:
            if self._client_pair is None:
                from google.cloud import compute_v1

                credentials, adc_project = self._credentials()
                options = (
                    {"api_endpoint": self.settings.endpoint} if self.settings.endpoint else None
                )
                kwargs: dict[str, Any] = {
                    "credentials": credentials,
                    "transport": "rest",
                    "client_options": options,
                }
                project = self.settings.project or adc_project
                if not project and self.settings.endpoint:
                    project = EMULATOR_PROJECT
                if not project:
                    raise CredentialsError(
                        "gcp: no project configured: set STRATO_GCP_PROJECT (or "
                        "GOOGLE_CLOUD_PROJECT, or [providers.gcp] project in config.toml)",
                        provider="gcp",
                        code="no-project",
                    )
                self._project_id = project
                self._client_pair = (
                    compute_v1.InstancesClient(**kwargs),
                    compute_v1.ZoneOperationsClient(**kwargs),
                )
            return self._client_pair

    def _credentials(self) -> tuple[Any, str | None]:
        if self.settings.endpoint:
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials(), None  # type: ignore[no-untyped-call]
        import google.auth

        creds, project = google.auth.default(scopes=list(SCOPES))
        return creds, project

    @property
    def project(self) -> str:
        """The project instances are launched in (resolving credentials on first use)."""
        self._clients()
        assert self._project_id is not None
        return self._project_id

    # -- the protocol -------------------------------------------------------------------------
    def check_credentials(self) -> CredentialCheck:
        """Find Application Default Credentials and list one instance to prove they work."""
        region = self.settings.default_region
        try:
            instances, _ = self._clients()
            from google.cloud import compute_v1

            zone = zones_for(region, self.settings.zones)[0]
            request = compute_v1.ListInstancesRequest(
                project=self.project, zone=zone, max_results=1
            )
            instances.list(
                request=request, timeout=min(self.settings.request_timeout_s, 20), retry=None
            )
        except Exception as exc:  # noqa: BLE001 - a check never raises
            error = errors.from_exception(exc, region=region, action="credential check")
            message = str(error)
            if "GOOGLE_APPLICATION_CREDENTIALS" not in message:
                message = f"{message} ({errors.CREDENTIALS_HINT})"
            reachable = not isinstance(error, ProviderUnavailableError)
            return CredentialCheck(False, message, ENV_VARS, reachable=reachable)
        where = f" at {self.settings.endpoint}" if self.settings.endpoint else ""
        return CredentialCheck(True, f"gcp: project {self.project}{where} answered", ENV_VARS)

    def provision(self, spec: ContainerSpec, offer: Any = None) -> ContainerHandle:
        """Insert a VM for ``spec`` in a zone of the offer's region; raise a ProviderError."""
        region = self._region(spec, offer)
        try:
            return self._provision(spec, offer, region)
        except ProviderError:
            raise
        except Exception as exc:
            raise errors.from_exception(exc, region=region, action="provision") from exc

    def status(self, handle: ContainerHandle) -> InstanceState:
        """The instance's state; PREEMPTED for a Spot VM that GCP took back."""
        try:
            return self._status(handle)
        except ProviderError:
            raise
        except Exception as exc:
            raise errors.from_exception(exc, region=handle.region, action="status") from exc

    def terminate(self, handle: ContainerHandle) -> None:
        """Delete the instance (an instance already gone is fine)."""
        try:
            self._terminate(handle)
        except ProviderError:
            raise
        except Exception as exc:
            raise errors.from_exception(exc, region=handle.region, action="terminate") from exc

    # -- provisioning ---------------------------------------------------------------------------
    def _region(self, spec: ContainerSpec, offer: Any) -> str:
        if offer is not None:
            return str(offer.region)
        if spec.region:
            return str(spec.region[0])
        return str(self.settings.default_region)

    def _provision(self, spec: ContainerSpec, offer: Any, region: str) -> ContainerHandle:
        instances, _ = self._clients()
        if offer is not None:
            machine_type = str(offer.instance_type)
            gpu_type, gpu_count = offer.gpu_type, int(offer.gpu_count or 0)
            zones = [offer.zone] if offer.zone else zones_for(region, self.settings.zones)
        else:
            machine_type, gpu_type, gpu_count = self.settings.default_machine_type, None, 0
            zones = zones_for(region, self.settings.zones)
        script = render_startup_script(spec, "gcp", region)
        name = instance_name(spec.container_id)
        labels = labels_for(spec.app_name or spec.app_id, spec.function_name, spec.container_id)
        refusals: list[ProviderError] = []
        for zone in zones:
            request = MachineRequest(
                name=name,
                zone=zone,
                machine_type=machine_type,
                startup_script=script,
                labels=labels,
                image=self.settings.image,
                disk_size_gb=self.settings.disk_size_gb,
                gpu_type=gpu_type,
                gpu_count=gpu_count,
                spot=bool(spec.spot),
                network=self.settings.network,
                subnetwork=self.settings.subnetwork,
                external_ip=self.settings.external_ip,
                service_account=self.settings.service_account,
            )
            try:
                instance = self._insert(request, region)
            except CapacityError as exc:
                log.info("gcp: %s", exc)
                refusals.append(exc)
                continue
            return ContainerHandle(
                provider=self.name,
                container_id=spec.container_id,
                data={
                    "project": self.project,
                    "zone": zone,
                    "name": name,
                    "instance_id": str(instance.id),
                    "self_link": instance.self_link,
                    "spot": bool(spec.spot),
                    "startup_script": script,
                },
                region=region,
                zone=zone,
                instance_type=machine_type,
            )
        last = refusals[-1]
        tried = "; ".join(str(r).removeprefix("gcp: ") for r in refusals)
        raise CapacityError(
            f"gcp: no {machine_type} to be had in {region} (zones {', '.join(zones)}): {tried}",
            provider=self.name,
            code=last.code,
            region=region,
        )

    def _insert(self, req: MachineRequest, region: str) -> Any:
        """Insert one instance in ``req.zone`` and wait for it; the instance, or a ProviderError."""
        from google.api_core import exceptions as api_exceptions
        from google.cloud import compute_v1

        instances, _ = self._clients()
        request = compute_v1.InsertInstanceRequest(
            project=self.project,
            zone=req.zone,
            instance_resource=instance_resource(req),
            request_id=str(uuid.uuid4()),
        )
        try:
            operation = instances.insert_unary(
                request=request, timeout=self.settings.request_timeout_s
            )
        except api_exceptions.Conflict:
            # Already there: a retried provision of the same container adopts its machine.
            existing = self._get(req.zone, req.name)
            if existing is not None and dict(existing.labels) == req.labels:
                return existing
            raise
        except api_exceptions.BadRequest as exc:
            if _zone_lacks_machine(exc):
                raise CapacityError(
                    f"gcp: {req.machine_type} is not offered in {req.zone}: {exc.message}",
                    provider=self.name,
                    code="zoneUnsupported",
                    region=region,
                ) from exc
            raise
        operation = self._wait(req.zone, operation, self.settings.operation_timeout_s)
        if not _done(operation):
            self._abandon(req.zone, req.name)
            raise ProviderUnavailableError(
                f"gcp: creating {req.name} in {req.zone} did not finish within "
                f"{self.settings.operation_timeout_s:.0f}s; deleting it",
                provider=self.name,
                code="operationTimeout",
                region=region,
            )
        if operation.error.errors:
            raise errors.from_operation(operation, region=region, zone=req.zone)
        instance = self._get(req.zone, req.name)
        if instance is None:  # created and gone at once: preempted while starting
            raise CapacityError(
                f"gcp: {req.name} in {req.zone} vanished right after creation",
                provider=self.name,
                code="RESOURCE_NOT_FOUND",
                region=region,
            )
        return instance

    def _wait(self, zone: str, operation: Any, bound_s: float) -> Any:
        """Wait (at most ``bound_s``) for a zone operation, with zoneOperations.wait."""
        _, operations = self._clients()
        deadline = time.monotonic() + bound_s
        while not _done(operation):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            started = time.monotonic()
            operation = operations.wait(
                project=self.project,
                zone=zone,
                operation=operation.name,
                timeout=min(remaining, 120.0) + 10.0,
            )
            if not _done(operation) and time.monotonic() - started < 0.5:
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        return operation

    def _abandon(self, zone: str, name: str) -> None:
        """Ask for an instance to be deleted, ignoring every failure (a cleanup)."""
        instances, _ = self._clients()
        try:
            instances.delete_unary(
                project=self.project,
                zone=zone,
                instance=name,
                timeout=self.settings.request_timeout_s,
            )
        except Exception as exc:  # noqa: BLE001 - best effort
            log.warning("gcp: could not delete %s in %s: %s", name, zone, exc)

    def _get(self, zone: str, name: str, project: str | None = None) -> Any | None:
        """The instance, or None when it does not exist."""
        from google.api_core import exceptions as api_exceptions

        instances, _ = self._clients()
        try:
            return instances.get(
                project=project or self.project,
                zone=zone,
                instance=name,
                timeout=self.settings.request_timeout_s,
                retry=None,
            )
        except api_exceptions.NotFound:
            return None

    # -- state ----------------------------------------------------------------------------------
    def _status(self, handle: ContainerHandle) -> InstanceState:
        project, zone, name = handle.data["project"], handle.data["zone"], handle.data["name"]
        instance_id = str(handle.data.get("instance_id") or "")
        instance = self._get(zone, name, project)
        if instance is not None and instance_id and str(instance.id) != instance_id:
            instance = None  # the name was reused by another machine: ours is gone
        if instance is None:
            if handle.data.get("spot") and self._preempted(project, zone, name, instance_id):
                return InstanceState.PREEMPTED
            return InstanceState.STOPPED
        state = STATES.get(str(instance.status), InstanceState.UNKNOWN)
        if (
            state == InstanceState.STOPPED
            and _is_spot(instance)
            and self._preempted(project, zone, name, instance_id)
        ):
            return InstanceState.PREEMPTED
        return state

    def _preempted(self, project: str, zone: str, name: str, instance_id: str) -> bool:
        """Whether the zone's operations record GCP preempting this instance."""
        from google.cloud import compute_v1

        _, operations = self._clients()
        # Filter on the type only: a ``targetLink:`` clause is not a reliable substring match,
        # so the target is compared here (by id where known, the name being reusable).
        request = compute_v1.ListZoneOperationsRequest(
            project=project,
            zone=zone,
            filter=f'operationType="{PREEMPTED_OPERATION}"',
        )
        pager = operations.list(
            request=request, timeout=self.settings.request_timeout_s, retry=None
        )
        for operation in pager:
            if operation.operation_type != PREEMPTED_OPERATION:
                continue
            if instance_id and operation.target_id:
                if str(operation.target_id) == instance_id:
                    return True
            elif operation.target_link.rsplit("/", 1)[-1] == name:
                return True
        return False

    def _terminate(self, handle: ContainerHandle) -> None:
        from google.api_core import exceptions as api_exceptions

        instances, _ = self._clients()
        project, zone, name = handle.data["project"], handle.data["zone"], handle.data["name"]
        from google.cloud import compute_v1

        request = compute_v1.DeleteInstanceRequest(
            project=project, zone=zone, instance=name, request_id=str(uuid.uuid4())
        )
        try:
            operation = instances.delete_unary(
                request=request, timeout=self.settings.request_timeout_s
            )
        except api_exceptions.NotFound:
            return
        except api_exceptions.BadRequest as exc:
            if _reasons(exc) & {"resourceNotReady", "RESOURCE_NOT_READY"}:
                return  # already being deleted
            raise
        operation = self._wait(zone, operation, self.settings.terminate_wait_s)
        if _done(operation) and operation.error.errors:
            if any(e.code == "RESOURCE_NOT_FOUND" for e in operation.error.errors):
                return
            raise errors.from_operation(operation, region=handle.region, zone=zone)


def _done(operation: Any) -> bool:
    from google.cloud import compute_v1

    return bool(operation.status == compute_v1.Operation.Status.DONE)


def _is_spot(instance: Any) -> bool:
    scheduling = instance.scheduling
    return bool(scheduling.preemptible) or str(scheduling.provisioning_model) == "SPOT"


def _reasons(exc: Any) -> set[str]:
    return {str(e.get("reason")) for e in exc.errors if isinstance(e, dict)} | {str(exc.reason)}


def _zone_lacks_machine(exc: Any) -> bool:
    """A 400 saying the machine or accelerator type does not exist in this zone."""
    message = str(exc.message or "")
    return "does not exist in zone" in message or "is not available in zone" in message
