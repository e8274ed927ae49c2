"""The OCI provider: one compute instance per container, launched with the official ``oci`` SDK.

``provision`` launches the offer's shape in the offer's region, one availability domain after
another while the answer is "Out of host capacity.", with the start-up script as the
instance's ``user_data`` and ``strato-app``/``strato-function``/``strato-container`` freeform
tags; a spot request launches a preemptible instance (OCI offers preemptible capacity on VM
shapes only). A Flex shape is launched at the offer's size: the catalog names it as SkyPilot's
catalog does (``VM.Standard.E4.Flex$_2_8``: 2 vCPUs, 8 GB) and the launch asks for the row's
vCPUs / 2 OCPUs (an x86 OCPU is 2 vCPUs) and its memory. It then waits, for at most
``launch_wait_s``, for the instance to leave PROVISIONING: a launch that OCI accepts and then
fails for want of capacity ends as a terminated instance whose work request says why, and that
too moves on to the next domain.
An instance still provisioning after the wait is returned as is (bare-metal GPU shapes take
many minutes): ``status`` reports it PENDING until it runs.

OCI's GetInstance says nothing about why an instance ended, so a preemption is recognised
the way OCI shows it: a preemptible instance that is terminating or terminated although
Strato never asked to terminate it.

The SDK is imported inside the methods, never when this module is imported.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
from typing import Any

from strato.exception import CapacityError, ProviderError, ProviderUnavailableError
from strato.plugins.oci.errors import (
    CREDENTIALS_HINT,
    PROVIDER,
    is_capacity_message,
    provider_error,
)
from strato.plugins.oci.settings import ENV_VARS, OCISettings
from strato.plugins.provider import (
    Capabilities,
    ContainerHandle,
    ContainerSpec,
    CredentialCheck,
    InstanceState,
)
from strato.plugins.startup import render_startup_script

__all__ = ["STATES", "OCIProvider", "instance_state"]

#: OCI's instance lifecycle states in the shared vocabulary (anything else is UNKNOWN).
STATES: dict[str, InstanceState] = {
    "PROVISIONING": InstanceState.PENDING,
    "STARTING": InstanceState.PENDING,
    "RUNNING": InstanceState.RUNNING,
    # moving to another compartment: the machine keeps running
    "MOVING": InstanceState.RUNNING,
    # OCI shuts the instance down while it captures a custom image, then boots it again
    "CREATING_IMAGE": InstanceState.PENDING,
    "STOPPING": InstanceState.STOPPING,
    "TERMINATING": InstanceState.STOPPING,
    "STOPPED": InstanceState.STOPPED,
    "TERMINATED": InstanceState.STOPPED,
}
_ENDED = frozenset({"TERMINATING", "TERMINATED"})

#: OCI caps an instance's metadata (user_data included) at 32,000 bytes.
USER_DATA_LIMIT = 32_000
#: The largest OCI GPU shapes (BM.GPU.H100.8, BM.GPU.B200.8, ...) carry 8 GPUs.
MAX_GPUS_PER_MACHINE = 8


def instance_state(
    lifecycle_state: str | None, *, preemptible: bool = False, terminate_requested: bool = False
) -> InstanceState:
    """The shared state of an OCI instance; a preemptible instance that ended without being
    asked to is PREEMPTED."""
    if preemptible and not terminate_requested and lifecycle_state in _ENDED:
        return InstanceState.PREEMPTED
    return STATES.get(lifecycle_state or "", InstanceState.UNKNOWN)


def _oci_regions() -> tuple[str, ...]:
    try:
        from strato.regions import all_regions

        return tuple(r.name for r in all_regions() if r.provider == PROVIDER)
    except Exception:  # noqa: BLE001 - a broken region table must not stop the plugin loading
        return ()


def flex_shape(offer: Any) -> tuple[str, tuple[float, float] | None]:
    """The OCI shape of a catalog offer and, for a Flex shape, its (OCPUs, memory in GB).

    ``VM.Standard.E4.Flex$_2_8`` is ``VM.Standard.E4.Flex`` sized from the row's vCPUs and
    memory; any other name is the shape itself, launched at its fixed size.
    """
    name = str(offer.instance_type)
    shape = name.split("$", 1)[0]
    if not shape.endswith(".Flex"):
        return shape, None
    vcpus = getattr(offer, "vcpus", None)
    memory = getattr(offer, "memory_gib", None)
    if not vcpus or not memory:
        raise ProviderError(
            f"the Flex shape {name} needs the offer's vCPUs and memory to be sized",
            provider=PROVIDER,
            region=str(getattr(offer, "region", "")) or None,
            code="InvalidShape",
            retryable=False,
        )
    return shape, (float(vcpus) / 2, float(memory))


def _retry_token(*parts: str) -> str:
    # OCI keeps a launch's result under its opc-retry-token for 24 hours, so a launch retried
    # after a lost answer returns the same instance; the token changes with anything that
    # changes the request, or OCI would answer 409 InvalidatedRetryToken.
    return "strato-" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:48]


class OCIProvider:
    """Starts each container on its own OCI compute instance."""

    name = PROVIDER

    def __init__(self, settings: OCISettings | None = None) -> None:
        #: None: read the environment and config.toml on every call
        self._settings = settings
        self._lock = threading.Lock()
        self._clients: dict[tuple[Any, ...], Any] = {}
        self._domains: dict[tuple[Any, ...], list[str]] = {}
        self._subnets: dict[tuple[Any, ...], str] = {}
        self._images: dict[tuple[Any, ...], str] = {}
        self._terminated: set[str] = set()
        self._signers: dict[tuple[Any, ...], Any] = {}
        self.capabilities = Capabilities(
            spot=True,
            multi_gpu=True,
            bucket_mounts=False,
            regions=_oci_regions(),
            max_gpus_per_machine=MAX_GPUS_PER_MACHINE,
            unsupported={
                "spot on bare metal": "OCI offers preemptible capacity on VM shapes only; "
                "BM.* shapes are on-demand",
                "bucket_mounts": "the OCI provider does not mount Object Storage buckets yet",
            },
        )

    @property
    def settings(self) -> OCISettings:
        """The configuration in force for this call."""
        return self._settings if self._settings is not None else OCISettings.load()

    # -- SDK plumbing ------------------------------------------------------------------------
    def _config(self, settings: OCISettings, region: str | None = None) -> dict[str, Any]:
        """The OCI config profile (checked), with ``region`` in place of its own."""
        return self._credentials(settings, region)[0]

    def _credentials(
        self, settings: OCISettings, region: str | None = None
    ) -> tuple[dict[str, Any], Any]:
        import oci

        config: dict[str, Any] = oci.config.from_file(
            file_location=settings.config_file, profile_name=settings.profile
        )
        if region:
            config["region"] = region
        signer = self._signer(settings, config)
        oci.config.validate_config(config, signer=signer)
        return config, signer

    def _signer(self, settings: OCISettings, config: dict[str, Any]) -> Any:
        """The profile's request signer, made once (loading the key is the slow part of a
        client) and again when a session token is refreshed; None where the profile names
        its own ``authentication_type``."""
        import oci

        if "authentication_type" in config:
            return None
        token_file = config.get("security_token_file")
        token_file = os.path.expanduser(token_file) if token_file else None
        key = (
            settings.config_file,
            settings.profile,
            config.get("key_file"),
            token_file,
            os.stat(token_file).st_mtime_ns if token_file else None,
        )
        with self._lock:
            signer = self._signers.get(key)
        if signer is not None:
            return signer
        if token_file:
            # a session of `oci session authenticate`, refreshed in place by `oci session refresh`
            with open(token_file) as handle:
                token = handle.read().strip()
            private_key = oci.signer.load_private_key_from_file(
                config.get("key_file"), config.get("pass_phrase")
            )
            signer = oci.auth.signers.SecurityTokenSigner(token, private_key)
        else:
            oci.config.validate_config(config)
            signer = oci.signer.Signer.from_config(config)
        with self._lock:
            return self._signers.setdefault(key, signer)

    def _client(self, kind: str, region: str, settings: OCISettings) -> Any:
        """A client of one OCI service in ``region``, remade when the credentials change."""
        import oci

        config, signer = self._credentials(settings, region)
        endpoint = settings.endpoint_for(region)
        key = (kind, region, endpoint, settings.config_file, settings.profile, id(signer))
        with self._lock:
            client = self._clients.get(key)
        if client is not None:
            return client
        classes = {
            "compute": oci.core.ComputeClient,
            "network": oci.core.VirtualNetworkClient,
            "identity": oci.identity.IdentityClient,
            "work_requests": oci.work_requests.WorkRequestClient,
        }
        kwargs: dict[str, Any] = {
            # Failover across domains, regions and clouds is Strato's job: one answer per call.
            "retry_strategy": oci.retry.NoneRetryStrategy(),
            "circuit_breaker_strategy": oci.circuit_breaker.NoCircuitBreakerStrategy(),
            "timeout": (settings.connect_timeout_s, settings.read_timeout_s),
        }
        if endpoint:
            kwargs["service_endpoint"] = endpoint
        if signer is not None:
            kwargs["signer"] = signer
        client = classes[kind](config, **kwargs)
        with self._lock:
            return self._clients.setdefault(key, client)

    # -- credentials ---------------------------------------------------------------------------
    def check_credentials(self) -> CredentialCheck:
        """Reads the OCI config file and lists the tenancy's availability domains once."""
        try:
            settings = self.settings
            config = self._config(settings)
        except Exception as exc:  # noqa: BLE001 - reported, never raised
            return CredentialCheck(
                ok=False,
                message=f"no usable OCI config ({type(exc).__name__}: {exc}); {CREDENTIALS_HINT}",
                env_vars=ENV_VARS,
            )
        region = str(config["region"])
        try:
            identity = self._client("identity", region, settings)
            domains = identity.list_availability_domains(compartment_id=config["tenancy"]).data
        except Exception as exc:  # noqa: BLE001 - reported, never raised
            error = provider_error(exc, region=region)
            unreachable = isinstance(error, ProviderUnavailableError) and isinstance(exc, OSError)
            return CredentialCheck(
                ok=False,
                message=f"OCI rejected or did not answer the credential check: {error}"
                + ("" if unreachable else f"; {CREDENTIALS_HINT}"),
                env_vars=ENV_VARS,
                reachable=not unreachable,
            )
        return CredentialCheck(
            ok=True,
            message=f"OCI credentials of profile {settings.profile} accepted in {region} "
            f"({len(domains)} availability domains)",
            env_vars=ENV_VARS,
        )

    # -- provisioning --------------------------------------------------------------------------
    def provision(self, spec: ContainerSpec, offer: Any = None) -> ContainerHandle:
        """Launch ``offer.instance_type`` in ``offer.region`` running ``spec``'s container."""
        if offer is None:
            raise ProviderError(
                "the OCI provider launches catalog offers; none was given",
                provider=PROVIDER,
                retryable=False,
            )
        region = str(offer.region)
        shape, size = flex_shape(offer)
        try:
            return self._provision(spec, shape, region, str(offer.instance_type), size)
        except ProviderError:
            raise
        except Exception as exc:
            raise provider_error(exc, region=region, launch=True) from exc

    def _provision(
        self,
        spec: ContainerSpec,
        shape: str,
        region: str,
        instance_type: str | None = None,
        size: tuple[float, float] | None = None,
    ) -> ContainerHandle:
        import oci

        models = oci.core.models
        if spec.spot and shape.startswith("BM."):
            raise ProviderError(
                f"OCI has no preemptible capacity for bare-metal shape {shape}; "
                "preemptible instances are VM shapes only",
                provider=PROVIDER,
                region=region,
                code="PreemptibleNotSupported",
                retryable=True,
            )
        script = render_startup_script(spec, PROVIDER, region)
        user_data = base64.b64encode(script.encode()).decode()
        if len(user_data) > USER_DATA_LIMIT:
            raise ProviderError(
                f"the start-up script is {len(user_data)} bytes in base64; OCI allows "
                f"{USER_DATA_LIMIT} bytes of instance metadata",
                provider=PROVIDER,
                region=region,
                code="UserDataTooLarge",
                retryable=False,
            )
        settings = self.settings
        config = self._config(settings, region)
        compartment = settings.compartment_id or str(config["tenancy"])
        subnet = self._subnet(region, compartment, settings)
        image = self._image(region, compartment, shape, settings)
        domains = (
            [settings.availability_domain]
            if settings.availability_domain
            else self._availability_domains(region, str(config["tenancy"]), settings)
        )
        compute = self._client("compute", region, settings)
        tags = {
            "strato-app": spec.app_name or spec.app_id,
            "strato-function": spec.function_name,
            "strato-container": spec.container_id,
        }
        instance_type = instance_type or shape
        shape_config = (
            models.LaunchInstanceShapeConfigDetails(ocpus=size[0], memory_in_gbs=size[1])
            if size
            else None
        )
        refusals: list[CapacityError] = []
        for domain in domains:
            details = models.LaunchInstanceDetails(
                compartment_id=compartment,
                availability_domain=domain,
                shape=shape,
                shape_config=shape_config,
                display_name=f"strato-{spec.container_id}",
                create_vnic_details=models.CreateVnicDetails(subnet_id=subnet),
                source_details=models.InstanceSourceViaImageDetails(
                    image_id=image, boot_volume_size_in_gbs=settings.boot_volume_gb
                ),
                metadata={"user_data": user_data},
                freeform_tags=tags,
                preemptible_instance_config=(
                    models.PreemptibleInstanceConfigDetails(
                        preemption_action=models.TerminatePreemptionAction(
                            preserve_boot_volume=False
                        )
                    )
                    if spec.spot
                    else None
                ),
            )
            token = _retry_token(spec.container_id, region, domain, instance_type, str(spec.spot))
            try:
                response = compute.launch_instance(details, opc_retry_token=token)
            except Exception as exc:
                error = provider_error(exc, region=region, launch=True)
                if isinstance(error, CapacityError):
                    refusals.append(error)
                    continue
                raise error from exc
            instance = response.data
            handle = ContainerHandle(
                provider=PROVIDER,
                container_id=spec.container_id,
                data={
                    "instance_id": instance.id,
                    "region": region,
                    "availability_domain": domain,
                    "compartment_id": compartment,
                    "shape": shape,
                    "preemptible": bool(spec.spot),
                    "work_request_id": response.headers.get("opc-work-request-id"),
                    "startup_script": script,
                },
                region=region,
                instance_type=instance_type,
                zone=domain,
            )
            try:
                self._await_launch(handle, instance.lifecycle_state, settings)
            except CapacityError as error:
                refusals.append(error)
                continue
            return handle
        last = refusals[-1]
        raise CapacityError(
            f"no capacity for {shape} in {region} in any availability domain tried "
            f"({', '.join(domains)}): {last}",
            provider=PROVIDER,
            region=region,
            code=last.code,
        )

    def _await_launch(self, handle: ContainerHandle, state: str, settings: OCISettings) -> None:
        """Wait (bounded) for PROVISIONING to end; a launch that failed raises."""
        region = str(handle.region)
        compute = self._client("compute", region, settings)
        deadline = time.monotonic() + settings.launch_wait_s
        pause = 0.1
        while state == "PROVISIONING" and time.monotonic() < deadline:
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, settings.poll_interval_s)
            state = compute.get_instance(handle.data["instance_id"]).data.lifecycle_state
        if state not in _ENDED:
            return
        why = self._work_request_errors(handle, settings)
        message = (
            f"OCI instance {handle.data['instance_id']} in {handle.zone} ended while "
            f"provisioning: {why or 'no reason given'}"
        )
        failure = ProviderError(message, provider=PROVIDER, region=region, retryable=True)
        if is_capacity_message(why):
            failure = CapacityError(message, provider=PROVIDER, region=region, code="InternalError")
        raise failure

    def _work_request_errors(self, handle: ContainerHandle, settings: OCISettings) -> str:
        work_request = handle.data.get("work_request_id")
        if not work_request:
            return ""
        try:
            client = self._client("work_requests", str(handle.region), settings)
            errors = client.list_work_request_errors(work_request).data
        except Exception:  # noqa: BLE001 - the reason is a courtesy; the failure stands
            return ""
        return "; ".join(f"{e.code}: {e.message}" for e in errors)

    def _availability_domains(self, region: str, tenancy: str, settings: OCISettings) -> list[str]:
        key = (region, tenancy, settings.endpoint_for(region))
        with self._lock:
            cached = self._domains.get(key)
        if cached:
            return cached
        identity = self._client("identity", region, settings)
        names = [d.name for d in identity.list_availability_domains(compartment_id=tenancy).data]
        if not names:
            raise ProviderError(
                f"OCI lists no availability domain in {region} for this tenancy",
                provider=PROVIDER,
                region=region,
                retryable=True,
            )
        with self._lock:
            self._domains[key] = names
        return names

    def _subnet(self, region: str, compartment: str, settings: OCISettings) -> str:
        configured = settings.subnet_for(region)
        if configured:
            return str(configured)
        key = (region, compartment, settings.endpoint_for(region))
        with self._lock:
            cached = self._subnets.get(key)
        if cached:
            return cached
        network = self._client("network", region, settings)
        subnets = [
            s
            for s in network.list_subnets(
                compartment_id=compartment, lifecycle_state="AVAILABLE"
            ).data
            if s.availability_domain is None  # a regional subnet serves every domain
        ]
        if not subnets:
            raise ProviderError(
                f"no subnet to launch into in {region}: set STRATO_OCI_SUBNET (or subnet_ids in "
                "[providers.oci] of config.toml) to a regional subnet whose machines can reach "
                "the internet",
                provider=PROVIDER,
                region=region,
                code="NoSubnet",
                retryable=True,
            )
        # a public subnet first: the machine must reach the control plane and pull images
        subnets.sort(key=lambda s: bool(s.prohibit_public_ip_on_vnic))
        with self._lock:
            self._subnets[key] = subnets[0].id
        return str(subnets[0].id)

    def _image(self, region: str, compartment: str, shape: str, settings: OCISettings) -> str:
        configured = settings.image_for(region)
        if configured:
            return str(configured)
        key = (region, compartment, shape, settings.endpoint_for(region))
        with self._lock:
            cached = self._images.get(key)
        if cached:
            return cached
        compute = self._client("compute", region, settings)
        images = compute.list_images(
            compartment_id=compartment,
            operating_system="Oracle Linux",
            shape=shape,
            lifecycle_state="AVAILABLE",
            sort_by="TIMECREATED",
            sort_order="DESC",
        ).data
        if ".GPU" in shape:
            # the platform's GPU builds carry the NVIDIA driver
            images = [i for i in images if "GPU" in (i.display_name or "")] or images
        if not images:
            raise ProviderError(
                f"no Oracle Linux image for {shape} in {region}: set STRATO_OCI_IMAGE (or "
                "image_ids in [providers.oci] of config.toml)",
                provider=PROVIDER,
                region=region,
                code="NoImage",
                retryable=True,
            )
        with self._lock:
            self._images[key] = images[0].id
        return str(images[0].id)

    # -- running instances ---------------------------------------------------------------------
    def _terminate_requested(self, handle: ContainerHandle) -> bool:
        with self._lock:
            known = handle.data.get("instance_id") in self._terminated
        return known or bool(handle.data.get("terminate_requested"))

    def status(self, handle: ContainerHandle) -> InstanceState:
        """The instance's state; PREEMPTED for a preemptible instance OCI took back."""
        instance_id = handle.data.get("instance_id")
        if not instance_id:
            return InstanceState.UNKNOWN
        region = str(handle.region or handle.data.get("region"))
        try:
            compute = self._client("compute", region, self.settings)
            instance = compute.get_instance(instance_id).data
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                # OCI forgets a terminated instance after a while
                return instance_state(
                    "TERMINATED",
                    preemptible=bool(handle.data.get("preemptible")),
                    terminate_requested=self._terminate_requested(handle),
                )
            raise provider_error(exc, region=region) from exc
        return instance_state(
            instance.lifecycle_state,
            preemptible=instance.preemptible_instance_config is not None,
            terminate_requested=self._terminate_requested(handle),
        )

    def terminate(self, handle: ContainerHandle) -> None:
        """Terminate the instance and delete its boot volume; an instance already gone is fine."""
        instance_id = handle.data.get("instance_id")
        if not instance_id:
            return
        handle.data["terminate_requested"] = True
        with self._lock:
            self._terminated.add(instance_id)
        region = str(handle.region or handle.data.get("region"))
        try:
            compute = self._client("compute", region, self.settings)
        except Exception as exc:
            raise provider_error(exc, region=region) from exc
        try:
            compute.terminate_instance(instance_id, preserve_boot_volume=False)
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status == 404:
                return
            if status == 409 and self._already_ending(compute, instance_id):
                return
            raise provider_error(exc, region=region) from exc

    @staticmethod
    def _already_ending(compute: Any, instance_id: str) -> bool:
        try:
            return compute.get_instance(instance_id).data.lifecycle_state in _ENDED
        except Exception:  # noqa: BLE001 - the 409 is what gets reported
            return False
