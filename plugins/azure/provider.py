"""The Azure provider: one virtual machine per container, created with azure-mgmt-compute.

A container is a VM named ``strato-<container id>`` in the configured resource group, in the
offer's region (and a zone, when zones are configured: on a capacity refusal the next zone is
tried in the same call). The VM boots the start-up script as its custom data, carries the tags
``strato-app``, ``strato-function`` and ``strato-container``, and is a Spot VM
(``priority: Spot``, ``evictionPolicy: Delete``, ``billingProfile.maxPrice: -1``: pay up to the
on-demand price, never be evicted for price) when the spec asks for spot.

States come from the VM's instance view (:data:`STATES`, the one table). Azure evicts a Spot VM
with the Delete policy by deleting it (with its disk and NIC, which carry
``deleteOption: Delete``), so a Spot VM that is being deleted, deallocated or is gone while
Strato never asked for that was preempted; see :func:`instance_state`.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable
from functools import cache
from typing import Any

from strato.exception import CapacityError, CredentialsError, ProviderError
from strato.plugins.azure import network
from strato.plugins.azure.clients import AzureClients, make_clients, make_credential, wait_for
from strato.plugins.azure.config import CREDENTIAL_ENV_VARS, AzureSettings
from strato.plugins.azure.errors import CREDENTIALS_HINT, PROVIDER, to_provider_error, translated
from strato.plugins.provider import (
    Capabilities,
    ContainerHandle,
    ContainerSpec,
    CredentialCheck,
    InstanceState,
)
from strato.plugins.startup import render_startup_script

log = logging.getLogger(__name__)

#: Instance-view status codes (``statuses[].code``) in the shared vocabulary. A code with a
#: third part (``ProvisioningState/failed/AllocationFailed``) is looked up by its first two.
STATES: dict[str, InstanceState] = {
    "PowerState/starting": InstanceState.PENDING,
    "PowerState/running": InstanceState.RUNNING,
    "PowerState/stopping": InstanceState.STOPPING,
    "PowerState/stopped": InstanceState.STOPPED,
    "PowerState/deallocating": InstanceState.STOPPING,
    "PowerState/deallocated": InstanceState.STOPPED,
    "PowerState/unknown": InstanceState.UNKNOWN,
    "ProvisioningState/creating": InstanceState.PENDING,
    "ProvisioningState/updating": InstanceState.PENDING,
    "ProvisioningState/migrating": InstanceState.PENDING,
    "ProvisioningState/succeeded": InstanceState.PENDING,
    "ProvisioningState/deleting": InstanceState.STOPPING,
    "ProvisioningState/failed": InstanceState.FAILED,
    "ProvisioningState/canceled": InstanceState.FAILED,
}
_STATES_LOWER = {code.lower(): state for code, state in STATES.items()}
_TAKEN_BACK = (InstanceState.STOPPING, InstanceState.STOPPED)
_TAG_LIMIT = 256


def instance_state(
    codes: Iterable[str], *, spot: bool = False, terminated: bool = False
) -> InstanceState:
    """The state an instance view's status codes describe.

    ``ProvisioningState/deleting`` wins (a VM being deleted is stopping whatever its power
    state); then a running or starting VM is that, even when its provisioning failed (a
    failed extension, say, leaves the machine running); then a failed provisioning is FAILED;
    then the power state; then the provisioning state (a VM still being created has no power
    state yet). A Spot VM that is stopping or stopped although Strato did not terminate it
    (``terminated``) was evicted: PREEMPTED.
    """
    keys = ["/".join(code.split("/")[:2]).lower() for code in codes]
    provisioning = next((k for k in keys if k.startswith("provisioningstate/")), None)
    power = next((k for k in keys if k.startswith("powerstate/")), None)
    if provisioning == "provisioningstate/deleting":
        state = InstanceState.STOPPING
    elif power in ("powerstate/running", "powerstate/starting"):
        state = _STATES_LOWER[power]
    elif provisioning in ("provisioningstate/failed", "provisioningstate/canceled"):
        state = InstanceState.FAILED
    elif power is not None:
        state = _STATES_LOWER.get(power, InstanceState.UNKNOWN)
    elif provisioning is not None:
        state = _STATES_LOWER.get(provisioning, InstanceState.UNKNOWN)
    else:
        state = InstanceState.UNKNOWN
    if spot and not terminated and state in _TAKEN_BACK:
        return InstanceState.PREEMPTED
    return state


def gone_state(*, spot: bool, terminated: bool) -> InstanceState:
    """The state of a VM that no longer exists (404): a Spot VM deleted by eviction is
    PREEMPTED, anything else STOPPED."""
    return InstanceState.PREEMPTED if spot and not terminated else InstanceState.STOPPED


def vm_name(container_id: str) -> str:
    """The VM (and host) name of a container: ``strato-<id>``, at most 64 characters."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", container_id.lower())
    return f"strato-{cleaned}"[:64].rstrip("-")


def vm_tags(spec: ContainerSpec) -> dict[str, str]:
    """The tags naming what a VM runs."""
    tags = {
        "strato-app": spec.app_name or spec.app_id,
        "strato-app-id": spec.app_id,
        "strato-function": spec.function_name,
        "strato-container": spec.container_id,
        "strato-managed": "true",
    }
    return {key: value[:_TAG_LIMIT] for key, value in tags.items()}


def image_reference(image: str) -> Any:
    """An ``ImageReference`` for a ``publisher:offer:sku:version`` URN or a resource id."""
    from azure.mgmt.compute import models

    if image.startswith("/"):
        return models.ImageReference(id=image)
    parts = image.split(":")
    if len(parts) != 4:
        raise ProviderError(
            f"image {image!r} is neither publisher:offer:sku:version nor a resource id; "
            "fix STRATO_AZURE_IMAGE or [providers.azure] image",
            provider=PROVIDER,
            code="InvalidImage",
        )
    publisher, offer, sku, version = parts
    return models.ImageReference(publisher=publisher, offer=offer, sku=sku, version=version)


@cache
def _throwaway_public_key() -> str:
    """An RSA public key whose private half is dropped at once (one per process)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return public.decode("ascii") + " strato"


def _capabilities() -> Capabilities:
    regions: set[str] = set()
    max_gpus = 8
    try:
        from strato.regions.catalog import all_regions

        regions.update(r.name for r in all_regions() if r.provider == PROVIDER)
    except Exception:  # noqa: BLE001 - capabilities must not break the plugin's loading
        log.debug("azure: region table unavailable", exc_info=True)
    try:
        from strato.pricing.catalog import default_catalog

        offers = default_catalog().offers(provider=PROVIDER)
        regions.update(offer.region for offer in offers)
        max_gpus = max((offer.gpu_count for offer in offers), default=max_gpus)
    except Exception:  # noqa: BLE001
        log.debug("azure: price catalog unavailable", exc_info=True)
    return Capabilities(
        spot=True,
        multi_gpu=True,
        bucket_mounts=False,
        regions=tuple(sorted(regions)),
        max_gpus_per_machine=max_gpus,
        unsupported={"bucket_mounts": "Azure Blob mounts are not implemented yet"},
    )


class AzureProvider:
    """Containers as Azure virtual machines."""

    name = PROVIDER

    def __init__(self, settings: AzureSettings | None = None, credential: Any = None) -> None:
        """``settings`` default to the environment and config.toml, read at every call;
        ``credential`` replaces the one the settings imply (tests inject a failing one)."""
        self._settings = settings
        self._credential = credential
        self._clients: dict[AzureSettings, AzureClients] = {}
        self._subnets: dict[tuple[AzureSettings, str], str] = {}
        self._terminated: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._network_lock = threading.Lock()
        self.capabilities = _capabilities()

    # -- configuration -------------------------------------------------------------------------
    def settings(self) -> AzureSettings:
        """The settings in force now."""
        if self._settings is not None:
            return self._settings
        try:
            return AzureSettings.load()
        except (TypeError, ValueError) as exc:
            raise ProviderError(
                f"invalid [providers.azure] settings in config.toml: {exc}",
                provider=PROVIDER,
                code="InvalidSettings",
            ) from exc

    def clients(self, settings: AzureSettings | None = None) -> AzureClients:
        """The management clients for ``settings`` (built once; imports the SDK)."""
        settings = settings or self.settings()
        with self._lock:
            clients = self._clients.get(settings)
            if clients is not None:
                return clients
            if not settings.subscription_id:
                raise CredentialsError(
                    f"AZURE_SUBSCRIPTION_ID is not set; {CREDENTIALS_HINT}",
                    provider=PROVIDER,
                    code="MissingSubscriptionId",
                )
            credential = self._credential or make_credential(settings)
            if credential is None:
                raise CredentialsError(
                    f"no Azure credentials: {CREDENTIALS_HINT}",
                    provider=PROVIDER,
                    code="MissingCredentials",
                )
            clients = self._clients[settings] = make_clients(settings, credential)
            return clients

    # -- credentials ---------------------------------------------------------------------------
    def check_credentials(self) -> CredentialCheck:
        env_vars = (*CREDENTIAL_ENV_VARS, "STRATO_AZURE_RESOURCE_GROUP")
        try:
            settings = self.settings()
            clients = self.clients(settings)
            if not settings.emulated:
                from strato.plugins.azure.clients import ARM_SCOPE

                with translated(action="getting a token"):
                    clients.credential.get_token(ARM_SCOPE)
            rg = settings.resource_group
            with translated(action=f"listing the VMs of resource group {rg}"):
                next(iter(clients.compute.virtual_machines.list(rg, **clients.call)), None)
        except CredentialsError as exc:
            return CredentialCheck(False, str(exc), env_vars)
        except ProviderError as exc:
            if exc.retryable:  # unreachable, 5xx, timeouts
                return CredentialCheck(False, str(exc), env_vars, reachable=False)
            if exc.code == "ResourceGroupNotFound":
                return CredentialCheck(
                    False,
                    f"resource group {settings.resource_group!r} does not exist in subscription "
                    f"{settings.subscription_id}: create it (az group create -n "
                    f"{settings.resource_group} -l eastus) or set STRATO_AZURE_RESOURCE_GROUP",
                    env_vars,
                )
            return CredentialCheck(False, str(exc), env_vars)
        except Exception as exc:  # noqa: BLE001 - a check never raises
            return CredentialCheck(
                False, f"{type(exc).__name__}: {exc}; {CREDENTIALS_HINT}", env_vars
            )
        where = "emulator at " + str(settings.endpoint) if settings.emulated else "Azure"
        return CredentialCheck(
            True,
            f"{where}: subscription {settings.subscription_id}, resource group "
            f"{settings.resource_group}",
            env_vars,
        )

    # -- provisioning --------------------------------------------------------------------------
    def provision(self, spec: ContainerSpec, offer: Any = None) -> ContainerHandle:
        settings = self.settings()
        if offer is None:
            offer = self._default_offer(spec)
        region: str = offer.region
        name = vm_name(spec.container_id)
        script = render_startup_script(spec, PROVIDER, region)
        tags = vm_tags(spec)
        zones: list[str | None] = [offer.zone] if getattr(offer, "zone", None) else []
        zones = zones or list(settings.zones) or [None]
        action = f"provisioning {offer.instance_type}"
        with translated(region, action):
            clients = self.clients(settings)
            try:
                subnet_id = self._subnet(clients, settings, region)
                vm, zone = self._create_in_zones(
                    clients, settings, spec, offer, name, subnet_id, script, tags, zones
                )
            except BaseException:
                self._clean_up(clients, settings, name, region)
                with self._network_lock:  # look the subnet up again next time: it may be gone
                    self._subnets.pop((settings, region), None)
                raise
        return ContainerHandle(
            provider=PROVIDER,
            container_id=spec.container_id,
            data={
                "subscription_id": settings.subscription_id,
                "resource_group": settings.resource_group,
                "vm_name": name,
                "vm_id": getattr(vm, "vm_id", None),
                "nic_name": network.nic_name(name),
                "public_ip_name": network.public_ip_name(name) if settings.public_ip else None,
                "spot": bool(spec.spot),
                "startup_script": script,
            },
            region=region,
            zone=zone,
            instance_type=offer.instance_type,
        )

    def _create_in_zones(
        self,
        clients: AzureClients,
        settings: AzureSettings,
        spec: ContainerSpec,
        offer: Any,
        name: str,
        subnet_id: str,
        script: str,
        tags: dict[str, str],
        zones: list[str | None],
    ) -> tuple[Any, str | None]:
        region = offer.region
        for index, zone in enumerate(zones):
            # made again for every zone: deleting a VM that failed to allocate deletes its NIC
            # and public IP too (deleteOption: Delete)
            ip_id = None
            if settings.public_ip:
                ip_id = network.create_public_ip(clients, settings, name, region, tags)
            nic_id = network.create_nic(clients, settings, name, region, subnet_id, ip_id, tags)
            body = self._vm_body(settings, spec, offer, nic_id, name, script, tags, zone)
            try:
                poller = clients.compute.virtual_machines.begin_create_or_update(
                    settings.resource_group, name, body, **clients.call
                )
                vm = wait_for(poller, settings.create_timeout_s, f"creating VM {name}")
                return vm, zone
            except Exception as exc:
                error = to_provider_error(
                    exc, region=offer.region, action=f"provisioning {offer.instance_type}"
                )
                if not isinstance(error, CapacityError) or index == len(zones) - 1:
                    raise error from exc
                log.info("azure: %s in zone %s, trying zone %s", error.code, zone, zones[index + 1])
                # a VM whose allocation failed stays behind in state Failed: remove it first
                self._delete_vm(clients, settings, name)
        raise AssertionError("unreachable: zones is never empty")

    def _vm_body(
        self,
        settings: AzureSettings,
        spec: ContainerSpec,
        offer: Any,
        nic_id: str,
        name: str,
        script: str,
        tags: dict[str, str],
        zone: str | None,
    ) -> Any:
        from azure.mgmt.compute import models

        user = settings.admin_username
        spot: dict[str, Any] = {"priority": "Regular"}
        if spec.spot:
            spot = {
                "priority": "Spot",
                "eviction_policy": "Delete",
                "billing_profile": models.BillingProfile(max_price=-1),
            }
        return models.VirtualMachine(
            location=offer.region,
            tags=tags,
            zones=[zone] if zone else None,
            properties=models.VirtualMachineProperties(
                hardware_profile=models.HardwareProfile(vm_size=offer.instance_type),
                storage_profile=models.StorageProfile(
                    image_reference=image_reference(settings.image),
                    os_disk=models.OSDisk(
                        create_option="FromImage",
                        delete_option="Delete",
                        disk_size_gb=settings.os_disk_gb,
                        managed_disk=models.ManagedDiskParameters(
                            storage_account_type="StandardSSD_LRS"
                        ),
                    ),
                ),
                os_profile=models.OSProfile(
                    computer_name=name,
                    admin_username=user,
                    custom_data=base64.b64encode(script.encode()).decode("ascii"),
                    linux_configuration=models.LinuxConfiguration(
                        disable_password_authentication=True,
                        ssh=models.SshConfiguration(
                            public_keys=[
                                models.SshPublicKey(
                                    path=f"/home/{user}/.ssh/authorized_keys",
                                    key_data=self._public_key(settings),
                                )
                            ]
                        ),
                    ),
                ),
                network_profile=models.NetworkProfile(
                    network_interfaces=[
                        models.NetworkInterfaceReference(
                            id=nic_id,
                            properties=models.NetworkInterfaceReferenceProperties(
                                primary=True, delete_option="Delete"
                            ),
                        )
                    ]
                ),
                **spot,
            ),
        )

    def _subnet(self, clients: AzureClients, settings: AzureSettings, region: str) -> str:
        key = (settings, region)
        with self._network_lock:  # one VNet per region, not one per concurrent launch
            subnet = self._subnets.get(key)
            if subnet is None:
                subnet = self._subnets[key] = network.ensure_subnet(clients, settings, region)
            return subnet

    def _public_key(self, settings: AzureSettings) -> str:
        """The configured SSH key (text or a file), or a throwaway one whose private half is
        never kept: Linux VMs need a key, and nothing of Strato logs in."""
        configured = settings.ssh_public_key
        if configured:
            if configured.startswith(("ssh-", "ecdsa-")):
                return str(configured).strip()
            with open(configured, encoding="utf-8") as fh:
                return str(fh.read()).strip()
        return _throwaway_public_key()

    def _default_offer(self, spec: ContainerSpec) -> Any:
        """The cheapest Azure offer for the spec when the caller chose none."""
        from strato.exception import InvalidError
        from strato.pricing.catalog import default_catalog
        from strato.pricing.gpu import parse_gpu

        try:
            requests = parse_gpu(spec.gpu)
        except InvalidError as exc:
            raise ProviderError(str(exc), provider=PROVIDER, code="InvalidGpu") from exc
        types = requests[0].acceptable_types() if requests else None
        count = requests[0].count if requests else None
        offers = default_catalog().offers(
            provider=PROVIDER, gpu_type=types, gpu_count=count, region=spec.region or None
        )
        priced = [o for o in offers if o.price(spec.spot) is not None]
        if not priced:
            raise ProviderError(
                f"no Azure offer in the catalog for gpu={spec.gpu!r} region={spec.region!r}",
                provider=PROVIDER,
                code="NoOffer",
            )
        return min(priced, key=lambda o: (o.price(spec.spot), o.region, o.instance_type))

    # -- state and termination -----------------------------------------------------------------
    def status(self, handle: ContainerHandle) -> InstanceState:
        settings = self.settings()
        rg = handle.data.get("resource_group") or settings.resource_group
        name = handle.data.get("vm_name") or vm_name(handle.container_id)
        spot = bool(handle.data.get("spot"))
        with translated(handle.region, f"reading the state of VM {name}"):
            from azure.core.exceptions import ResourceNotFoundError

            clients = self.clients(settings)
            try:
                view = clients.compute.virtual_machines.instance_view(rg, name, **clients.call)
            except ResourceNotFoundError:
                return gone_state(spot=spot, terminated=self._was_terminated(handle, rg, name))
            codes = [str(s.code) for s in (view.statuses or []) if s.code]
        return instance_state(codes, spot=spot, terminated=self._was_terminated(handle, rg, name))

    def _was_terminated(self, handle: ContainerHandle, rg: str, name: str) -> bool:
        return bool(handle.data.get("terminated")) or (rg, name) in self._terminated

    def terminate(self, handle: ContainerHandle) -> None:
        settings = self.settings()
        rg = handle.data.get("resource_group") or settings.resource_group
        name = handle.data.get("vm_name") or vm_name(handle.container_id)
        handle.data["terminated"] = True
        with self._lock:
            self._terminated.add((rg, name))
        if rg != settings.resource_group:
            from dataclasses import replace

            settings = replace(settings, resource_group=rg)
        with translated(handle.region, f"deleting VM {name}"):
            clients = self.clients(settings)
            self._delete_vm(clients, settings, name)
            network.delete_nic(clients, settings, name)
            if handle.data.get("public_ip_name"):
                network.delete_public_ip(clients, settings, name)

    def _delete_vm(self, clients: AzureClients, settings: AzureSettings, name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            poller = clients.compute.virtual_machines.begin_delete(
                settings.resource_group, name, **clients.call
            )
        except ResourceNotFoundError:
            return
        wait_for(poller, settings.delete_timeout_s, f"deleting VM {name}")

    def _clean_up(
        self, clients: AzureClients, settings: AzureSettings, name: str, region: str
    ) -> None:
        """Best effort after a failed launch: remove the VM, NIC and public IP it left."""
        steps = [self._delete_vm, network.delete_nic]
        if settings.public_ip:
            steps.append(network.delete_public_ip)
        for step in steps:
            try:
                step(clients, settings, name)
            except Exception as exc:  # noqa: BLE001 - the launch's own error matters more
                log.warning("azure: clean-up of %s in %s failed: %s", name, region, exc)
