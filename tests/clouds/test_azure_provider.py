"""The Azure provider against a fake ARM service (tests/support/azure_emulator.py).

The error payloads the emulator returns are the real service's, taken from:

- ``AllocationFailed`` / ``ZonalAllocationFailed`` / ``OverconstrainedAllocationRequest``
  (reported in the failed Azure-AsyncOperation): Microsoft's troubleshooting article
  MicrosoftDocs/SupportArticles-docs support/azure/azure-kubernetes/error-codes/
  zonalallocation-allocationfailed-error.md, and the VM message quoted in Azure/WALinuxAgent#3056;
- ``SkuNotAvailable`` (HTTP 409 on the PUT): Azure-Samples/azuresandbox#70 and
  MicrosoftLearning/Configure-secure-access-...#10 ("Following SKUs have failed for Capacity
  Restrictions");
- ``OperationNotAllowed`` naming a cores quota (HTTP 409): Azure/karpenter-provider-azure#192
  and nforgeio/neonKUBE#1671; ``QuotaExceeded``: fabragaMS/ADPE2E#4;
- ``InternalExecutionError`` (HTTP 500): microsoft/MCW-SAP-HANA-on-Azure#26;
- ``InvalidAuthenticationToken`` (401) and ``AuthorizationFailed`` (403): the ARM error
  reference wording;
- VM and instance-view bodies: Azure/azure-rest-api-specs compute examples
  (VirtualMachine_Create_WithSshAuthentication.json, VirtualMachine_Get_InstanceView.json).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support.azure_emulator import REFUSALS, AzureEmulator
from support.booter import MachineBooter
from support.contract import ProviderContract, make_spec, wait_for_state

from strato.exception import (
    CapacityError,
    CredentialsError,
    ProviderError,
    ProviderUnavailableError,
    QuotaError,
)
from strato.plugins.azure.config import DEFAULT_IMAGE, AzureSettings
from strato.plugins.azure.provider import (
    STATES,
    AzureProvider,
    gone_state,
    instance_state,
    vm_name,
)
from strato.plugins.provider import InstanceState
from strato.plugins.startup import startup_environment
from strato.pricing.catalog import default_catalog

FAST = {"poll_interval_s": 0.02, "retry_backoff_s": 0.01, "retries": 2}
SERVICE_PRINCIPAL = {
    "AZURE_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
    "AZURE_TENANT_ID": "22222222-2222-2222-2222-222222222222",
    "AZURE_CLIENT_SECRET": "not-a-secret",
}


def catalog_offer(instance_type: str, region: str) -> Any:
    for offer in default_catalog().offers(provider="azure", region=region):
        if offer.instance_type == instance_type:
            return offer
    raise LookupError(f"{instance_type} in {region} is not in the catalog")


def unknown_fields(model: Any, path: str = "$") -> list[str]:
    """JSON keys in an SDK model that its class does not declare, recursively."""
    fields = {rf._rest_name: attr for attr, rf in type(model)._attr_to_rest_field.items()}
    found = [f"{path}.{key}" for key in model._data if key not in fields]
    for rest, attr in fields.items():
        if rest not in model._data:
            continue
        value = getattr(model, attr)
        if isinstance(value, dict):
            items = list(value.values())
        elif isinstance(value, list):
            items = value
        else:
            items = [value]
        for item in items:
            if hasattr(item, "_attr_to_rest_field"):
                found += unknown_fields(item, f"{path}.{rest}")
    return found


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture
def emulator() -> Iterator[AzureEmulator]:
    with AzureEmulator(delay=0.05) as running:
        yield running


def settings_for(emulator: AzureEmulator, **overrides: Any) -> AzureSettings:
    env = {
        "STRATO_AZURE_ENDPOINT": emulator.url,
        "AZURE_SUBSCRIPTION_ID": emulator.subscription_id,
        **SERVICE_PRINCIPAL,
    }
    return dataclasses.replace(AzureSettings.load(env=env, settings=FAST), **overrides)


@pytest.fixture
def provider(emulator: AzureEmulator) -> AzureProvider:
    return AzureProvider(settings_for(emulator))


@pytest.fixture
def provider_without_credentials(emulator: AzureEmulator) -> AzureProvider:
    env = {"STRATO_AZURE_ENDPOINT": emulator.url, "AZURE_SUBSCRIPTION_ID": emulator.subscription_id}
    return AzureProvider(AzureSettings.load(env=env, settings=FAST))


@pytest.fixture
def offer() -> Any:
    return catalog_offer("Standard_NC4as_T4_v3", "eastus")


@pytest.fixture
def refuse(emulator: AzureEmulator) -> Iterator[Any]:
    yield emulator.refuse
    emulator.clear_refusals()


@pytest.fixture
def booter(provider: AzureProvider) -> Iterator[MachineBooter]:
    from strato.plugins.manager import default_providers

    providers = default_providers()
    providers.register(provider)
    machine_booter = MachineBooter()
    providers.pm.register(machine_booter)
    try:
        yield machine_booter
    finally:
        providers.pm.unregister(machine_booter)
        machine_booter.stop_all()
        providers.by_name.pop("azure", None)


class TestAzureContract(ProviderContract):
    """The shared provider contract, against the emulator."""


# -- the state table -----------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "state"), sorted(STATES.items()))
def test_every_instance_view_code_maps_to_its_state(code: str, state: InstanceState) -> None:
    assert instance_state([code]) == state


@pytest.mark.parametrize(
    ("codes", "spot", "terminated", "state"),
    [
        (["ProvisioningState/succeeded", "PowerState/running"], False, False, "running"),
        (["ProvisioningState/creating", "PowerState/starting"], False, False, "pending"),
        (["ProvisioningState/creating"], False, False, "pending"),
        (["ProvisioningState/deleting", "PowerState/running"], False, True, "stopping"),
        (["ProvisioningState/failed/AllocationFailed"], False, False, "failed"),
        (
            ["ProvisioningState/failed/VMExtensionProvisioningError", "PowerState/running"],
            False,
            False,
            "running",
        ),
        (["ProvisioningState/succeeded", "PowerState/deallocated"], False, False, "stopped"),
        (["ProvisioningState/succeeded", "PowerState/deallocated"], True, False, "preempted"),
        (["ProvisioningState/succeeded", "PowerState/deallocated"], True, True, "stopped"),
        (["ProvisioningState/deleting", "PowerState/deallocating"], True, False, "preempted"),
        (["ProvisioningState/failed/AllocationFailed"], True, False, "failed"),
        (["PowerState/hibernated"], False, False, "unknown"),
        ([], False, False, "unknown"),
    ],
)
def test_instance_view_precedence_and_eviction(
    codes: list[str], spot: bool, terminated: bool, state: str
) -> None:
    assert instance_state(codes, spot=spot, terminated=terminated) == InstanceState(state)


def test_a_vm_that_is_gone_is_stopped_unless_a_spot_vm_was_taken_back() -> None:
    assert gone_state(spot=False, terminated=False) == InstanceState.STOPPED
    assert gone_state(spot=True, terminated=True) == InstanceState.STOPPED
    assert gone_state(spot=True, terminated=False) == InstanceState.PREEMPTED


# -- the launch request --------------------------------------------------------------------------
def test_spot_launch_asks_for_spot_priority_delete_eviction_and_no_price_cap(
    provider: AzureProvider, emulator: AzureEmulator, offer: Any
) -> None:
    spec = dataclasses.replace(make_spec("ct-spot00001"), spot=True)
    handle = provider.provision(spec, offer)
    props = emulator.vm_requests[handle.data["vm_name"]]["properties"]
    assert props["priority"] == "Spot"
    assert props["evictionPolicy"] == "Delete"
    assert props["billingProfile"] == {"maxPrice": -1}
    assert handle.data["spot"] is True


def test_on_demand_launch_is_regular_priority_without_eviction_policy(
    provider: AzureProvider, emulator: AzureEmulator, offer: Any
) -> None:
    handle = provider.provision(make_spec("ct-regular01"), offer)
    props = emulator.vm_requests[handle.data["vm_name"]]["properties"]
    assert props["priority"] == "Regular"
    assert "evictionPolicy" not in props and "billingProfile" not in props


def test_vm_runs_the_startup_script_with_tags_size_region_and_disposable_parts(
    provider: AzureProvider, emulator: AzureEmulator
) -> None:
    offer = catalog_offer("Standard_NC24ads_A100_v4", "westus3")
    spec = dataclasses.replace(make_spec("ct-Tagged_01"), app_name="my-app")
    handle = provider.provision(spec, offer)
    name = handle.data["vm_name"]
    assert name == "strato-ct-tagged-01"
    body = emulator.vm_requests[name]
    props = body["properties"]
    assert body["location"] == "westus3" == handle.region
    assert props["hardwareProfile"]["vmSize"] == "Standard_NC24ads_A100_v4"
    assert handle.instance_type == "Standard_NC24ads_A100_v4"
    assert body["tags"]["strato-app"] == "my-app"
    assert body["tags"]["strato-function"] == "where"
    assert body["tags"]["strato-container"] == "ct-Tagged_01"
    assert emulator.custom_data[name] == handle.data["startup_script"]
    env = startup_environment(emulator.custom_data[name])
    assert env["MODAL_CLOUD_PROVIDER"] == "azure" and env["MODAL_REGION"] == "westus3"
    assert props["storageProfile"]["imageReference"] == dict(
        zip(("publisher", "offer", "sku", "version"), DEFAULT_IMAGE.split(":"), strict=True)
    )
    assert props["storageProfile"]["osDisk"]["deleteOption"] == "Delete"
    nic = props["networkProfile"]["networkInterfaces"][0]
    assert nic["properties"] == {"primary": True, "deleteOption": "Delete"}
    linux = props["osProfile"]["linuxConfiguration"]
    assert linux["disablePasswordAuthentication"] is True
    assert linux["ssh"]["publicKeys"][0]["keyData"].startswith("ssh-rsa ")
    assert "adminPassword" not in props["osProfile"]


def test_requests_and_responses_match_the_sdk_models(
    provider: AzureProvider, emulator: AzureEmulator, offer: Any
) -> None:
    from azure.mgmt.compute import models as compute_models
    from azure.mgmt.compute._utils.model_base import _deserialize

    provider = AzureProvider(dataclasses.replace(provider.settings(), public_ip=True))
    handle = provider.provision(make_spec("ct-models001"), offer)
    clients = provider.clients()
    rg, name = "strato", handle.data["vm_name"]
    sent = _deserialize(compute_models.VirtualMachine, emulator.vm_requests[name])
    vm = clients.compute.virtual_machines.get(rg, name, **clients.call)
    view = clients.compute.virtual_machines.instance_view(rg, name, **clients.call)
    listed = list(clients.compute.virtual_machines.list(rg, **clients.call))
    nic = clients.network.network_interfaces.get(rg, handle.data["nic_name"], **clients.call)
    ip = clients.network.public_ip_addresses.get(rg, handle.data["public_ip_name"], **clients.call)
    vnet = clients.network.virtual_networks.get(rg, "strato-eastus", **clients.call)
    subnet = clients.network.subnets.get(rg, "strato-eastus", "default", **clients.call)
    for model in (sent, vm, view, *listed, nic, ip, vnet, subnet):
        assert unknown_fields(model) == [], type(model).__name__
    assert vm.provisioning_state == "Succeeded" and vm.priority == "Regular"
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
    assert [v.name for v in listed] == [name]
    assert nic.ip_configurations[0].public_ip_address.id == ip.id
    assert subnet.default_outbound_access is True
    # the checker itself catches a misspelt field
    wrong = _deserialize(
        compute_models.VirtualMachine, {"location": "x", "properties": {"hardwareProfiles": {}}}
    )
    assert unknown_fields(wrong) == ["$.properties.hardwareProfiles"]


# -- zones and regions ---------------------------------------------------------------------------
def test_a_zone_without_capacity_is_skipped_for_the_next(
    provider: AzureProvider, emulator: AzureEmulator, offer: Any
) -> None:
    provider = AzureProvider(dataclasses.replace(provider.settings(), zones=("1", "2", "3")))
    emulator.refuse("capacity", zone="1")
    handle = provider.provision(make_spec("ct-zones0001"), offer)
    assert handle.zone == "2"
    assert emulator.vm_requests[handle.data["vm_name"]]["zones"] == ["2"]
    vms = [r for r in emulator.resources() if "/virtualMachines/" in r]
    assert vms == [
        f"/subscriptions/{emulator.subscription_id}/resourceGroups/strato/providers/Microsoft.Compute/virtualMachines/{handle.data['vm_name']}"
    ]
    assert provider.status(handle) == InstanceState.RUNNING


def test_the_offers_own_zone_comes_first(provider: AzureProvider, offer: Any) -> None:
    provider = AzureProvider(dataclasses.replace(provider.settings(), zones=("1", "2")))
    handle = provider.provision(make_spec("ct-zones0002"), dataclasses.replace(offer, zone="3"))
    assert handle.zone == "3"


def test_no_zone_with_capacity_is_a_capacity_error_and_leaves_nothing_behind(
    provider: AzureProvider, emulator: AzureEmulator, offer: Any
) -> None:
    provider = AzureProvider(dataclasses.replace(provider.settings(), zones=("1", "2")))
    emulator.refuse("capacity")
    with pytest.raises(CapacityError) as info:
        provider.provision(make_spec("ct-zones0003"), offer)
    assert info.value.code == "ZonalAllocationFailed"
    assert info.value.region == "eastus"
    assert [r for r in emulator.resources() if "virtualNetworks" not in r] == []


def test_a_refusal_in_one_region_leaves_the_others_alone(
    provider: AzureProvider, emulator: AzureEmulator
) -> None:
    emulator.refuse("capacity", region="westus2")
    with pytest.raises(CapacityError) as info:
        provider.provision(
            make_spec("ct-region001"), catalog_offer("Standard_NC4as_T4_v3", "westus2")
        )
    assert info.value.region == "westus2"
    handle = provider.provision(
        make_spec("ct-region002"), catalog_offer("Standard_NC4as_T4_v3", "eastus2")
    )
    assert handle.region == "eastus2" and provider.status(handle) == InstanceState.RUNNING


def test_without_an_offer_the_cheapest_catalog_machine_for_the_gpu_is_used(
    provider: AzureProvider, emulator: AzureEmulator
) -> None:
    spec = dataclasses.replace(make_spec("ct-default01"), gpu="T4", spot=True)
    handle = provider.provision(spec, None)
    expected = min(
        (
            o
            for o in default_catalog().offers(provider="azure", gpu_type="T4", gpu_count=1)
            if o.spot_usd_per_hour
        ),
        key=lambda o: o.spot_usd_per_hour,
    )
    assert (handle.instance_type, handle.region) == (expected.instance_type, expected.region)


# -- preemption ----------------------------------------------------------------------------------
def test_an_evicted_spot_vm_is_preempted(
    provider: AzureProvider, emulator: AzureEmulator, offer: Any
) -> None:
    handle = provider.provision(dataclasses.replace(make_spec("ct-evict0001"), spot=True), offer)
    assert provider.status(handle) == InstanceState.RUNNING
    clients = provider.clients()
    # Azure's own eviction simulation; with evictionPolicy Delete the VM is then deleted
    clients.compute.virtual_machines.simulate_eviction(
        "strato", handle.data["vm_name"], **clients.call
    )
    assert provider.status(handle) == InstanceState.PREEMPTED  # being deleted
    time.sleep(emulator.delay * 2)
    assert provider.status(handle) == InstanceState.PREEMPTED  # gone
    assert [r for r in emulator.resources() if "virtualNetworks" not in r] == []


def test_a_deallocated_spot_vm_is_preempted(
    provider: AzureProvider, emulator: AzureEmulator, offer: Any
) -> None:
    handle = provider.provision(dataclasses.replace(make_spec("ct-evict0002"), spot=True), offer)
    emulator.vms[("strato", handle.data["vm_name"])]["properties"]["evictionPolicy"] = "Deallocate"
    emulator.evict(handle.data["vm_name"])
    assert provider.status(handle) == InstanceState.PREEMPTED


def test_a_terminated_spot_vm_and_a_vanished_regular_vm_are_stopped(
    provider: AzureProvider, emulator: AzureEmulator, offer: Any
) -> None:
    spot = provider.provision(dataclasses.replace(make_spec("ct-evict0003"), spot=True), offer)
    provider.terminate(spot)
    assert provider.status(spot) == InstanceState.STOPPED
    regular = provider.provision(make_spec("ct-evict0004"), offer)
    emulator.vms.pop(("strato", regular.data["vm_name"]))
    assert provider.status(regular) == InstanceState.STOPPED


# -- termination ---------------------------------------------------------------------------------
def test_terminate_removes_vm_disk_nic_and_public_ip_and_is_idempotent(
    provider: AzureProvider, emulator: AzureEmulator, offer: Any
) -> None:
    provider = AzureProvider(dataclasses.replace(provider.settings(), public_ip=True))
    handle = provider.provision(make_spec("ct-cleanup01"), offer)
    kinds = {r.split("/providers/")[1].split("/")[1] for r in emulator.resources()}
    assert kinds == {
        "virtualMachines",
        "disks",
        "networkInterfaces",
        "publicIPAddresses",
        "virtualNetworks",
    }
    provider.terminate(handle)
    assert [r for r in emulator.resources() if "virtualNetworks" not in r] == []
    provider.terminate(handle)
    assert provider.status(handle) == InstanceState.STOPPED


def test_a_second_provider_object_still_knows_it_terminated_through_the_handle(
    provider: AzureProvider, offer: Any
) -> None:
    handle = provider.provision(dataclasses.replace(make_spec("ct-handle001"), spot=True), offer)
    provider.terminate(handle)
    assert AzureProvider(provider.settings()).status(handle) == InstanceState.STOPPED


# -- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "error", "code", "retryable"),
    [
        ("capacity", CapacityError, "AllocationFailed", True),
        ("overconstrained", CapacityError, "OverconstrainedAllocationRequest", True),
        ("sku_not_available", CapacityError, "SkuNotAvailable", True),
        ("quota", QuotaError, "OperationNotAllowed", True),
        ("quota_exceeded", QuotaError, "QuotaExceeded", True),
        ("server_error", ProviderUnavailableError, "InternalExecutionError", True),
        ("async_server_error", ProviderUnavailableError, "InternalExecutionError", True),
        ("forbidden", CredentialsError, "AuthorizationFailed", False),
        ("auth", CredentialsError, "InvalidAuthenticationToken", False),
    ],
)
def test_each_arm_refusal_becomes_its_strato_error(
    provider: AzureProvider,
    emulator: AzureEmulator,
    offer: Any,
    kind: str,
    error: type[ProviderError],
    code: str,
    retryable: bool,
) -> None:
    assert REFUSALS[kind][2] == code
    emulator.refuse(kind)
    with pytest.raises(ProviderError) as info:
        provider.provision(make_spec(f"ct-refused-{kind}"), offer)
    assert type(info.value) is error
    assert (info.value.provider, info.value.code, info.value.region) == ("azure", code, "eastus")
    assert info.value.retryable is retryable
    assert isinstance(info.value.__cause__, Exception)
    emulator.clear_refusals()
    left = [r for r in emulator.resources() if "refused" in r]
    assert left == []
    if error is CredentialsError:
        assert "AZURE_CLIENT_ID" in str(info.value)


def test_a_vm_that_does_not_come_up_in_time_is_unavailable_and_deleted(
    provider: AzureProvider, emulator: AzureEmulator, offer: Any
) -> None:
    emulator.delay = 0.5
    slow = AzureProvider(dataclasses.replace(provider.settings(), create_timeout_s=0.1))
    with pytest.raises(ProviderUnavailableError) as info:
        slow.provision(make_spec("ct-slow000001"), offer)
    assert (info.value.code, info.value.region) == ("Timeout", "eastus")
    assert [r for r in emulator.resources() if "virtualNetworks" not in r] == []


def test_an_unknown_gpu_without_an_offer_is_a_provider_error(provider: AzureProvider) -> None:
    with pytest.raises(ProviderError) as info:
        provider.provision(dataclasses.replace(make_spec("ct-nogpu00001"), gpu="Z9000"), None)
    assert info.value.code == "InvalidGpu" and not info.value.retryable


def test_an_unreachable_api_is_provider_unavailable_everywhere(
    provider: AzureProvider, emulator: AzureEmulator, offer: Any
) -> None:
    handle = provider.provision(make_spec("ct-unreach01"), offer)
    emulator.stop()
    for call in (
        lambda: provider.provision(make_spec("ct-unreach02"), offer),
        lambda: provider.status(handle),
        lambda: provider.terminate(handle),
    ):
        with pytest.raises(ProviderUnavailableError) as info:
            call()
        assert info.value.code == "ServiceRequestError" and info.value.retryable
    check = provider.check_credentials()
    assert not check.ok and not check.reachable


class _FailingCredential:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise self.exc


def _identity_errors() -> list[tuple[BaseException, type[ProviderError], str]]:
    from azure.core.exceptions import AzureError, ClientAuthenticationError
    from azure.identity import CredentialUnavailableError

    return [
        (
            CredentialUnavailableError("EnvironmentCredential: incomplete"),
            CredentialsError,
            "CredentialUnavailableError",
        ),
        (
            ClientAuthenticationError("AADSTS7000215: Invalid client secret"),
            CredentialsError,
            "ClientAuthenticationError",
        ),
        (AzureError("something odd in azure-core"), ProviderUnavailableError, "AzureError"),
        (ValueError("a bug, not Azure"), ProviderError, "ValueError"),
    ]


@pytest.mark.parametrize("index", range(4))
def test_sdk_and_identity_exceptions_never_escape(
    provider: AzureProvider, offer: Any, index: int
) -> None:
    exc, error, code = _identity_errors()[index]
    failing = AzureProvider(provider.settings(), credential=_FailingCredential(exc))
    handle = provider.provision(make_spec("ct-identity01"), offer)
    for call in (
        lambda: failing.provision(make_spec("ct-identity02"), offer),
        lambda: failing.status(handle),
        lambda: failing.terminate(handle),
    ):
        with pytest.raises(ProviderError) as info:
            call()
        assert type(info.value) is error and info.value.code == code
        assert info.value.__cause__ is exc
    check = failing.check_credentials()
    assert not check.ok and str(exc) in check.message


def test_credential_check_names_a_missing_resource_group_and_subscription(
    emulator: AzureEmulator,
) -> None:
    check = AzureProvider(settings_for(emulator, resource_group="nope")).check_credentials()
    assert not check.ok and check.reachable and "STRATO_AZURE_RESOURCE_GROUP" in check.message
    check = AzureProvider(
        settings_for(emulator, subscription_id="99999999-0000-0000-0000-000000000000")
    ).check_credentials()
    assert not check.ok and "SubscriptionNotFound" in check.message
    assert "AZURE_SUBSCRIPTION_ID" in check.message
    check = AzureProvider(settings_for(emulator, subscription_id=None)).check_credentials()
    assert not check.ok and "AZURE_SUBSCRIPTION_ID" in check.message


def test_the_http_emulator_needs_enforce_https_off_and_gets_it(
    provider: AzureProvider, emulator: AzureEmulator
) -> None:
    from azure.core.exceptions import ServiceRequestError

    clients = provider.clients()
    assert clients.call == {"enforce_https": False}
    with pytest.raises(ServiceRequestError, match="non-TLS"):
        next(iter(clients.compute.virtual_machines.list("strato")))
    secure = dataclasses.replace(provider.settings(), endpoint="https://127.0.0.1:1")
    assert AzureProvider(secure).clients().call == {}


# -- configuration and packaging -----------------------------------------------------------------
def test_settings_come_from_the_environment_over_config_toml() -> None:
    env = {
        "AZURE_SUBSCRIPTION_ID": "sub-env",
        "STRATO_AZURE_ZONES": "1, 3",
        "STRATO_AZURE_PUBLIC_IP": "yes",
    }
    toml = {
        "subscription_id": "sub-toml",
        "resource_group": "gpu-rg",
        "zones": ["2"],
        "poll_interval_s": 1,
    }
    settings = AzureSettings.load(env=env, settings=toml)
    assert settings.subscription_id == "sub-env" and settings.resource_group == "gpu-rg"
    assert settings.zones == ("1", "3") and settings.public_ip is True
    assert settings.poll_interval_s == 1.0 and not settings.emulated
    assert "not-a-secret" not in repr(AzureSettings.load(env=SERVICE_PRINCIPAL, settings={}))


def test_vm_names_are_valid_azure_names() -> None:
    assert vm_name("ct-ABC_def.9") == "strato-ct-abc-def-9"
    long = vm_name("ct-" + "x" * 80)
    assert len(long) == 64 and not long.endswith("-")


def test_the_plugin_registers_the_provider_without_importing_any_sdk() -> None:
    code = (
        "import sys\n"
        "import strato.plugins.azure as plugin\n"
        "found = []\n"
        "plugin.strato_register_providers(register=found.append)\n"
        "assert [p.name for p in found] == ['azure'], found\n"
        "assert found[0].capabilities.spot and 'eastus' in found[0].capabilities.regions\n"
        "assert found[0].capabilities.max_gpus_per_machine == 8\n"
        "loaded = sorted(m for m in sys.modules if m == 'azure' or m.startswith('azure.'))\n"
        "assert loaded == [], loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


# -- a real account ------------------------------------------------------------------------------
def _live_credentials() -> bool:
    """A subscription, and a service principal or an explicit opt-in (``az login`` users)."""
    env = os.environ
    if not env.get("AZURE_SUBSCRIPTION_ID") or env.get("STRATO_AZURE_ENDPOINT"):
        return False
    principal = env.get("AZURE_CLIENT_ID") and any(
        env.get(var)
        for var in (
            "AZURE_CLIENT_SECRET",
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_FEDERATED_TOKEN_FILE",
        )
    )
    return bool(principal or env.get("STRATO_AZURE_LIVE"))


@pytest.mark.live
@pytest.mark.skipif(
    not _live_credentials(),
    reason="needs real Azure credentials (AZURE_SUBSCRIPTION_ID and a service principal, or "
    "STRATO_AZURE_LIVE=1 after az login) and no STRATO_AZURE_ENDPOINT",
)
def test_live_account() -> None:
    provider = AzureProvider()
    check = provider.check_credentials()
    assert check.ok, check.message
    if not os.environ.get("STRATO_AZURE_LIVE_PROVISION"):
        return  # a real VM costs money: opt in with STRATO_AZURE_LIVE_PROVISION=1
    offer = catalog_offer(
        "Standard_NC4as_T4_v3", os.environ.get("STRATO_AZURE_LIVE_REGION", "eastus")
    )
    spec = dataclasses.replace(make_spec(f"ct-live{int(time.time())}"), spot=True)
    handle = provider.provision(spec, offer)
    try:
        assert (
            wait_for_state(provider, handle, {InstanceState.RUNNING}, timeout=300)
            == InstanceState.RUNNING
        )
    finally:
        provider.terminate(handle)
    assert provider.status(handle) == InstanceState.STOPPED
