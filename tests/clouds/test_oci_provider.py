"""The OCI provider against a fake OCI REST service, through the real ``oci`` SDK.

The SDK signs every request with a key made for the test (the emulator checks that a
signature is there, not that it verifies); the emulator answers with OCI's JSON and OCI's
real error payloads (see ``support/oci_emulator.py``).
"""

from __future__ import annotations

import base64
import datetime
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.booter import MachineBooter
from support.contract import ProviderContract, make_spec, wait_for_state
from support.fake_service import free_port
from support.oci_emulator import OCIEmulator, availability_domains, write_oci_config

from strato.exception import (
    CapacityError,
    CredentialsError,
    ProviderError,
    ProviderUnavailableError,
    QuotaError,
)
from strato.plugins.oci.provider import STATES, OCIProvider, instance_state
from strato.plugins.oci.settings import OCISettings
from strato.plugins.provider import ContainerSpec, InstanceState
from strato.plugins.startup import startup_environment
from strato.pricing.catalog import default_catalog

REGION = "us-ashburn-1"
DOMAINS = availability_domains(REGION)
_CONFIG_VARS = (
    "OCI_CONFIG_FILE",
    "OCI_CONFIG_PROFILE",
    "STRATO_OCI_COMPARTMENT",
    "STRATO_OCI_SUBNET",
    "STRATO_OCI_IMAGE",
    "STRATO_OCI_AVAILABILITY_DOMAIN",
    "STRATO_OCI_ENDPOINT",
    "STRATO_OCI_LAUNCH_WAIT_S",
)


def catalog_offer(instance_type: str, region: str = REGION) -> Any:
    """A real row of the OCI catalog."""
    for offer in default_catalog().offers(provider="oci", region=region):
        if offer.instance_type == instance_type:
            return offer
    raise AssertionError(f"{instance_type} in {region} is not in the OCI catalog")


@pytest.fixture
def emulator() -> Iterator[OCIEmulator]:
    with OCIEmulator(provisioning_s=0.05, terminating_s=0.1) as running:
        yield running


@pytest.fixture(scope="module")
def oci_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_oci_config(tmp_path_factory.mktemp("oci"), region=REGION)


@pytest.fixture
def oci_env(monkeypatch: pytest.MonkeyPatch, emulator: OCIEmulator, oci_config: Path) -> None:
    for name in _CONFIG_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OCI_CONFIG_FILE", str(oci_config))
    monkeypatch.setenv("STRATO_OCI_ENDPOINT", emulator.endpoint)


@pytest.fixture
def provider(oci_env: None) -> OCIProvider:
    return OCIProvider()


@pytest.fixture
def provider_without_credentials(emulator: OCIEmulator, tmp_path: Path) -> OCIProvider:
    return OCIProvider(
        OCISettings(config_file=str(tmp_path / "no-such-config"), endpoint=emulator.endpoint)
    )


@pytest.fixture
def offer() -> Any:
    return catalog_offer("VM.GPU.A10.1")


@pytest.fixture
def refuse(emulator: OCIEmulator) -> Iterator[Callable[[str], None]]:
    def refuse(kind: str) -> None:
        emulator.refuse(kind)

    yield refuse
    emulator.clear_refusals()


@pytest.fixture
def booter(provider: OCIProvider, workdir: Path) -> Iterator[MachineBooter]:
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
        providers.by_name.pop("oci", None)


class TestOCIContract(ProviderContract):
    """The provider contract, against the emulator."""


def test_a_gpu_function_runs_on_oci(
    provider: OCIProvider, booter: MachineBooter, emulator: OCIEmulator
) -> None:
    import strato

    app = strato.App("oci-end-to-end")

    def where_it_runs() -> dict[str, str | None]:  # nested: pickled by value
        return {
            "cloud": os.environ.get("MODAL_CLOUD_PROVIDER"),
            "region": os.environ.get("MODAL_REGION"),
            "container": os.environ.get("STRATO_CONTAINER_ID"),
        }

    remote = app.function(cloud="oci", gpu="A10", timeout=120)(where_it_runs)
    with app.run():
        where = remote.remote()
    assert where["cloud"] == "oci" and where["container"].startswith("ct-")
    (launch,) = emulator.launches
    assert where["region"] == launch["region"]
    assert launch["body"]["shape"].startswith(("VM.GPU.A10", "BM.GPU.A10"))
    assert launch["body"]["freeformTags"]["strato-container"] == where["container"]
    assert [b["container_id"] for b in booter.booted] == [where["container"]]
    # the app is over: the control plane gives the machine back
    instance_id = next(iter(emulator.instances))
    deadline = time.monotonic() + 15
    while emulator.state_of(instance_id) not in ("TERMINATING", "TERMINATED"):
        assert time.monotonic() < deadline, "the instance was never terminated"
        time.sleep(0.1)


def spec(container_id: str = "ct-oci000000000001", **changes: Any) -> ContainerSpec:
    base = make_spec(container_id)
    for name, value in changes.items():
        setattr(base, name, value)
    return base


# -- the plugin ---------------------------------------------------------------------------------
def test_importing_the_plugin_does_not_import_the_sdk() -> None:
    code = (
        "import sys, strato.plugins.oci, strato.plugins.oci.provider, strato.plugins.oci.errors\n"
        "from strato.plugins.oci.provider import OCIProvider\n"
        "OCIProvider()\n"
        "print(sorted(m for m in sys.modules if m == 'oci' or m.startswith('oci.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_plugin_registers_the_oci_provider() -> None:
    import strato.plugins.oci as plugin
    from strato.plugins.manager import Providers, make_plugin_manager

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(plugin, name="oci")
    registered = Providers(pm).get("oci")
    assert isinstance(registered, OCIProvider)
    assert registered.capabilities.spot and registered.capabilities.multi_gpu
    assert registered.capabilities.max_gpus_per_machine == 8
    assert set(default_catalog().regions("oci")) <= set(registered.capabilities.regions)
    assert plugin.__all__ == ["strato_register_providers"]


# -- the state table ----------------------------------------------------------------------------
EXPECTED_STATES = {
    "PROVISIONING": InstanceState.PENDING,
    "STARTING": InstanceState.PENDING,
    "RUNNING": InstanceState.RUNNING,
    "MOVING": InstanceState.RUNNING,
    "CREATING_IMAGE": InstanceState.PENDING,
    "STOPPING": InstanceState.STOPPING,
    "TERMINATING": InstanceState.STOPPING,
    "STOPPED": InstanceState.STOPPED,
    "TERMINATED": InstanceState.STOPPED,
}


def test_every_oci_lifecycle_state_maps_to_a_shared_state() -> None:
    from oci.core.models import Instance

    sdk_states = {
        value for name, value in vars(Instance).items() if name.startswith("LIFECYCLE_STATE_")
    }
    assert sdk_states == set(EXPECTED_STATES)
    assert {state: instance_state(state) for state in sdk_states} == EXPECTED_STATES
    assert STATES == EXPECTED_STATES


@pytest.mark.parametrize("state", ["UNKNOWN_ENUM_VALUE", "SOMETHING_NEW", "", None])
def test_a_state_oci_adds_later_is_unknown(state: str | None) -> None:
    assert instance_state(state) == InstanceState.UNKNOWN


@pytest.mark.parametrize(
    ("state", "preemptible", "requested", "expected"),
    [
        ("TERMINATING", True, False, InstanceState.PREEMPTED),
        ("TERMINATED", True, False, InstanceState.PREEMPTED),
        ("TERMINATED", True, True, InstanceState.STOPPED),
        ("TERMINATING", True, True, InstanceState.STOPPING),
        ("TERMINATED", False, False, InstanceState.STOPPED),
        ("RUNNING", True, False, InstanceState.RUNNING),
    ],
)
def test_a_preemptible_instance_that_ended_unasked_is_preempted(
    state: str, preemptible: bool, requested: bool, expected: InstanceState
) -> None:
    assert instance_state(state, preemptible=preemptible, terminate_requested=requested) == expected


# -- the launch request -------------------------------------------------------------------------
def test_launch_names_shape_domain_subnet_image_and_tags(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    container = spec(app_name="my-app", function_name="train")
    handle = provider.provision(container, offer)
    (launch,) = emulator.launches
    body = launch["body"]
    assert launch["region"] == REGION
    assert body["shape"] == "VM.GPU.A10.1" == handle.instance_type
    assert body["availabilityDomain"] == DOMAINS[0] == handle.zone
    assert body["compartmentId"] == emulator.tenancy  # the tenancy when none is configured
    assert body["freeformTags"] == {
        "strato-app": "my-app",
        "strato-function": "train",
        "strato-container": container.container_id,
    }
    assert body["displayName"] == f"strato-{container.container_id}"
    # no subnet configured: the compartment's public regional subnet
    assert body["createVnicDetails"]["subnetId"].endswith("stratopublic")
    # no image configured: the newest Oracle Linux GPU build for a GPU shape
    assert body["sourceDetails"]["imageId"].endswith("gpu8new")
    assert body["sourceDetails"]["bootVolumeSizeInGBs"] == 100
    assert launch["retry_token"].startswith("strato-")
    assert handle.region == REGION
    assert handle.data["instance_id"] in emulator.instances


def test_user_data_is_the_startup_script(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    handle = provider.provision(spec(), offer)
    user_data = emulator.launches[0]["body"]["metadata"]["user_data"]
    script = base64.b64decode(user_data).decode()
    assert script == handle.data["startup_script"]
    env = startup_environment(script)
    assert env["MODAL_CLOUD_PROVIDER"] == "oci" and env["MODAL_REGION"] == REGION


def test_an_on_demand_launch_is_not_preemptible(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    handle = provider.provision(spec(spot=False), offer)
    assert emulator.launches[0]["body"].get("preemptibleInstanceConfig") is None
    assert handle.data["preemptible"] is False


def test_a_spot_launch_asks_for_a_preemptible_instance_that_terminates(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    handle = provider.provision(spec(spot=True), offer)
    assert emulator.launches[0]["body"]["preemptibleInstanceConfig"] == {
        "preemptionAction": {"type": "TERMINATE", "preserveBootVolume": False}
    }
    assert handle.data["preemptible"] is True


def test_a_flex_shape_is_launched_at_the_offers_size(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    flex = catalog_offer("VM.Standard.E4.Flex$_4_16")
    assert (flex.gpu_count, flex.vcpus, flex.memory_gib) == (0, 4, 16)
    handle = provider.provision(spec(spot=True), flex)
    provider.provision(spec("ct-oci000000000002"), offer)
    flex_launch, gpu_launch = (launch["body"] for launch in emulator.launches)
    # the catalog's name carries the size; OCI gets the shape and 4 vCPUs / 2 = 2 OCPUs
    assert flex_launch["shape"] == "VM.Standard.E4.Flex" == handle.data["shape"]
    assert flex_launch["shapeConfig"] == {"ocpus": 2.0, "memoryInGBs": 16.0}
    assert handle.instance_type == "VM.Standard.E4.Flex$_4_16"  # what placement knows it by
    assert flex_launch["preemptibleInstanceConfig"]["preemptionAction"]["type"] == "TERMINATE"
    # a CPU shape boots the plain Oracle Linux build, not the GPU one
    assert flex_launch["sourceDetails"]["imageId"].endswith("ol8new")
    # a fixed shape is launched as it is, with no shape config
    assert gpu_launch["shape"] == "VM.GPU.A10.1" and gpu_launch.get("shapeConfig") is None


def test_a_flex_offer_without_a_size_is_refused_before_calling_oci(
    provider: OCIProvider, emulator: OCIEmulator
) -> None:
    from types import SimpleNamespace

    unsized = SimpleNamespace(
        instance_type="VM.Standard.E4.Flex", region=REGION, vcpus=0, memory_gib=0.0
    )
    with pytest.raises(ProviderError) as info:
        provider.provision(spec(), unsized)
    assert info.value.code == "InvalidShape" and not info.value.retryable
    assert emulator.launches == []


def test_spot_on_a_bare_metal_shape_is_refused_before_calling_oci(
    provider: OCIProvider, emulator: OCIEmulator
) -> None:
    with pytest.raises(ProviderError) as info:
        provider.provision(spec(spot=True), catalog_offer("BM.GPU.H100.8"))
    assert info.value.code == "PreemptibleNotSupported" and info.value.retryable
    assert emulator.launches == []


def test_configured_compartment_subnet_and_image_are_used_in_their_region(
    monkeypatch: pytest.MonkeyPatch, provider: OCIProvider, emulator: OCIEmulator
) -> None:
    monkeypatch.setenv("STRATO_OCI_COMPARTMENT", "ocid1.compartment.oc1..aaaastrato")
    monkeypatch.setenv(
        "STRATO_OCI_SUBNET",
        "us-ashburn-1=ocid1.subnet.oc1.iad.aaaamine,eu-paris-1=ocid1.subnet.oc1.cdg.aaaamine",
    )
    monkeypatch.setenv("STRATO_OCI_IMAGE", "ocid1.image.oc1..aaaadocker")
    provider.provision(spec("ct-oci-paris"), catalog_offer("VM.GPU.A10.1", "eu-paris-1"))
    (launch,) = emulator.launches
    assert launch["region"] == "eu-paris-1"
    assert launch["body"]["compartmentId"] == "ocid1.compartment.oc1..aaaastrato"
    assert launch["body"]["createVnicDetails"]["subnetId"] == "ocid1.subnet.oc1.cdg.aaaamine"
    assert launch["body"]["sourceDetails"]["imageId"] == "ocid1.image.oc1..aaaadocker"
    assert launch["body"]["availabilityDomain"] == availability_domains("eu-paris-1")[0]


def test_a_configured_availability_domain_is_the_only_one_tried(
    monkeypatch: pytest.MonkeyPatch, provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    monkeypatch.setenv("STRATO_OCI_AVAILABILITY_DOMAIN", DOMAINS[2])
    emulator.refuse("capacity", availability_domain=DOMAINS[2])
    with pytest.raises(CapacityError):
        provider.provision(spec(), offer)
    assert [launch["body"]["availabilityDomain"] for launch in emulator.launches] == [DOMAINS[2]]


def test_provisioning_the_same_container_again_returns_its_instance(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    first = provider.provision(spec("ct-oci-twice"), offer)
    again = provider.provision(spec("ct-oci-twice"), offer)
    assert again.data["instance_id"] == first.data["instance_id"]
    assert len(emulator.instances) == 1


# -- capacity and availability domains ------------------------------------------------------------
def test_no_capacity_in_one_domain_moves_to_the_next(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    emulator.refuse("capacity", availability_domain=DOMAINS[0])
    handle = provider.provision(spec(), offer)
    assert handle.zone == DOMAINS[1]
    assert [launch["body"]["availabilityDomain"] for launch in emulator.launches] == DOMAINS[:2]
    assert wait_for_state(provider, handle, {InstanceState.RUNNING}) == InstanceState.RUNNING


def test_no_capacity_in_any_domain_is_a_capacity_error(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    emulator.refuse("capacity", REGION)
    with pytest.raises(CapacityError) as info:
        provider.provision(spec(), offer)
    assert info.value.provider == "oci" and info.value.region == REGION
    assert info.value.code == "InternalError" and info.value.retryable
    assert "Out of host capacity." in str(info.value)
    assert all(domain in str(info.value) for domain in DOMAINS)
    assert len(emulator.launches) == 3


def test_a_domain_without_the_shape_moves_to_the_next(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    emulator.refuse("shape_not_found", availability_domain=DOMAINS[0])
    assert provider.provision(spec(), offer).zone == DOMAINS[1]


def test_capacity_refused_in_another_region_does_not_matter(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    emulator.refuse("capacity", "eu-frankfurt-1")
    assert provider.provision(spec(), offer).zone == DOMAINS[0]


def test_a_launch_that_fails_for_capacity_while_provisioning_moves_on(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    emulator.refuse("capacity_async", times=1)
    handle = provider.provision(spec(), offer)
    assert handle.zone == DOMAINS[1]
    failed = [i for i, inst in emulator.instances.items() if inst.errors]
    assert len(failed) == 1 and failed[0] != handle.data["instance_id"]
    assert wait_for_state(provider, handle, {InstanceState.RUNNING}) == InstanceState.RUNNING


def test_an_instance_still_provisioning_after_the_wait_is_returned_pending(
    monkeypatch: pytest.MonkeyPatch, emulator: OCIEmulator, provider: OCIProvider, offer: Any
) -> None:
    monkeypatch.setenv("STRATO_OCI_LAUNCH_WAIT_S", "0")
    emulator.provisioning_s = 1.0
    handle = provider.provision(spec(), offer)
    assert provider.status(handle) == InstanceState.PENDING
    assert wait_for_state(provider, handle, {InstanceState.RUNNING}, 5) == InstanceState.RUNNING


# -- states after launch ------------------------------------------------------------------------
def test_a_preempted_instance_is_reported_preempted(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    handle = provider.provision(spec(spot=True), offer)
    assert wait_for_state(provider, handle, {InstanceState.RUNNING}) == InstanceState.RUNNING
    emulator.preempt(handle.data["instance_id"])
    assert provider.status(handle) == InstanceState.PREEMPTED
    assert wait_for_state(provider, handle, {InstanceState.STOPPED}, 0.5) == InstanceState.PREEMPTED
    assert emulator.state_of(handle.data["instance_id"]) == "TERMINATED"


def test_an_on_demand_instance_terminated_elsewhere_is_stopped(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    handle = provider.provision(spec(), offer)
    emulator.terminate_outside(handle.data["instance_id"])
    assert wait_for_state(provider, handle, {InstanceState.STOPPED}) == InstanceState.STOPPED


def test_a_preemptible_instance_strato_terminated_is_stopped_not_preempted(
    provider: OCIProvider, oci_env: None, emulator: OCIEmulator, offer: Any
) -> None:
    handle = provider.provision(spec(spot=True), offer)
    provider.terminate(handle)
    assert wait_for_state(provider, handle, {InstanceState.STOPPED}) == InstanceState.STOPPED
    # another provider object (a restarted control plane) reads the handle's record of it
    assert OCIProvider().status(handle) == InstanceState.STOPPED


def test_an_instance_oci_has_forgotten_is_stopped_and_terminates_quietly(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    handle = provider.provision(spec(), offer)
    emulator.forget(handle.data["instance_id"])
    assert provider.status(handle) == InstanceState.STOPPED
    provider.terminate(handle)
    assert handle.data["terminate_requested"] is True


def test_terminate_deletes_the_boot_volume(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    handle = provider.provision(spec(), offer)
    provider.terminate(handle)
    (delete,) = [r for r in emulator.requests if r[0] == "DELETE"]
    assert delete[2].endswith(handle.data["instance_id"])
    assert wait_for_state(provider, handle, {InstanceState.STOPPED}) == InstanceState.STOPPED


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "error", "code", "retryable"),
    [
        ("capacity", CapacityError, "InternalError", True),
        ("quota", QuotaError, "LimitExceeded", True),
        ("compartment_quota", QuotaError, "QuotaExceeded", True),
        ("throttle", ProviderUnavailableError, "TooManyRequests", True),
        ("server_error", ProviderUnavailableError, "InternalServerError", True),
        ("unavailable", ProviderUnavailableError, "ServiceUnavailable", True),
        ("auth", CredentialsError, "NotAuthenticated", False),
        ("not_found", CredentialsError, "NotAuthorizedOrNotFound", False),
    ],
)
def test_oci_refusals_become_strato_errors(
    provider: OCIProvider,
    emulator: OCIEmulator,
    offer: Any,
    kind: str,
    error: type[ProviderError],
    code: str,
    retryable: bool,
) -> None:
    emulator.refuse(kind, REGION)
    with pytest.raises(ProviderError) as info:
        provider.provision(spec(), offer)
    assert type(info.value) is error
    assert info.value.provider == "oci" and info.value.region == REGION
    assert info.value.code == code and info.value.retryable is retryable
    if error is CredentialsError:
        assert "OCI_CONFIG_FILE" in str(info.value) or "STRATO_OCI_COMPARTMENT" in str(info.value)
    if kind == "quota":
        assert "gpu-a10-count" in str(info.value)


@pytest.mark.parametrize(
    ("status", "code", "message", "launch", "error", "retryable"),
    [
        (500, "InternalError", "Out of host capacity.", True, CapacityError, True),
        (429, "TooManyRequests", "Out of capacity for shape X in AD-1.", True, CapacityError, True),
        (404, "NotAuthorizedOrNotFound", "shape VM.GPU.A10.1 not found", True, CapacityError, True),
        (
            404,
            "NotAuthorizedOrNotFound",
            "shape VM.GPU.A10.1 not found",
            False,
            ProviderError,
            False,
        ),
        (409, "IncorrectState", "Instance is stopping.", False, ProviderUnavailableError, True),
        (502, "BadGateway", "Bad Gateway", False, ProviderUnavailableError, True),
        (400, "InvalidParameter", "Invalid shape.", True, ProviderError, False),
        (409, "InvalidatedRetryToken", "Retry token reused.", True, ProviderError, False),
    ],
)
def test_the_error_table(
    status: int,
    code: str,
    message: str,
    launch: bool,
    error: type[ProviderError],
    retryable: bool,
) -> None:
    from strato.plugins.oci.errors import service_error

    mapped = service_error(status, code, message, region="eu-paris-1", launch=launch)
    assert type(mapped) is error and mapped.retryable is retryable
    assert mapped.code == code and mapped.region == "eu-paris-1" and mapped.provider == "oci"


def test_status_and_terminate_errors_are_strato_errors(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    handle = provider.provision(spec(), offer)
    emulator.refuse("server_error", operation="get")
    with pytest.raises(ProviderUnavailableError) as info:
        provider.status(handle)
    assert info.value.code == "InternalServerError"
    emulator.clear_refusals()
    emulator.refuse("throttle", operation="terminate")
    with pytest.raises(ProviderUnavailableError) as info:
        provider.terminate(handle)
    assert info.value.code == "TooManyRequests"


def test_an_unreachable_api_is_unavailable(oci_config: Path, offer: Any) -> None:
    settings = OCISettings(
        config_file=str(oci_config),
        endpoint=f"http://127.0.0.1:{free_port()}/{{region}}",
        connect_timeout_s=2,
    )
    unreachable = OCIProvider(settings)
    with pytest.raises(ProviderUnavailableError) as info:
        unreachable.provision(spec(), offer)
    assert info.value.provider == "oci" and info.value.region == REGION
    check = unreachable.check_credentials()
    assert not check.ok and check.reachable is False


def test_an_unexpected_sdk_exception_is_still_a_provider_error(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    import oci

    compute = provider._client("compute", REGION, provider.settings)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise oci.exceptions.CompositeOperationError(partial_results=[], cause=None)

    compute.launch_instance = broken
    with pytest.raises(ProviderError) as info:
        provider.provision(spec(), offer)
    assert type(info.value) is ProviderError and not info.value.retryable
    assert info.value.code == "CompositeOperationError" and info.value.region == REGION

    del compute.launch_instance
    handle = provider.provision(spec("ct-oci-other"), offer)

    def crashing(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("boom")

    compute.get_instance = crashing
    with pytest.raises(ProviderError) as info:
        provider.status(handle)
    assert info.value.code == "ValueError"


def test_provisioning_without_a_config_is_a_credentials_error(
    provider_without_credentials: OCIProvider, offer: Any
) -> None:
    with pytest.raises(CredentialsError) as info:
        provider_without_credentials.provision(spec(), offer)
    assert info.value.code == "ConfigFileNotFound"
    assert "OCI_CONFIG_FILE" in str(info.value)


def test_a_malformed_config_is_a_credentials_error(
    tmp_path: Path, emulator: OCIEmulator, offer: Any
) -> None:
    config = tmp_path / "config"
    config.write_text("[DEFAULT]\nuser=nobody\nregion=us-ashburn-1\n")
    broken = OCIProvider(OCISettings(config_file=str(config), endpoint=emulator.endpoint))
    with pytest.raises(CredentialsError) as info:
        broken.provision(spec(), offer)
    assert info.value.code == "InvalidConfig"
    check = broken.check_credentials()
    assert not check.ok and "OCI_CONFIG_FILE" in check.message


def test_a_session_token_profile_signs_with_its_token(
    tmp_path: Path, oci_config: Path, emulator: OCIEmulator, offer: Any
) -> None:
    token = tmp_path / "token"
    token.write_text("session-token-of-oci-session-authenticate\n")
    config = tmp_path / "config"
    config.write_text(
        oci_config.read_text().replace("[DEFAULT]", "[SESSION]") + f"security_token_file={token}\n"
    )
    session = OCIProvider(
        OCISettings(config_file=str(config), profile="SESSION", endpoint=emulator.endpoint)
    )
    assert session.check_credentials().ok
    session.provision(spec(), offer)
    assert emulator.key_ids == {"ST$session-token-of-oci-session-authenticate"}
    # `oci session refresh` rewrites the token in place: the next call signs with the new one
    token.write_text("refreshed-token\n")
    os.utime(token, ns=(token.stat().st_atime_ns, token.stat().st_mtime_ns + 10**9))
    session.provision(spec("ct-oci-refreshed"), offer)
    assert "ST$refreshed-token" in emulator.key_ids


def test_credentials_oci_rejects_fail_the_check(
    provider: OCIProvider, emulator: OCIEmulator
) -> None:
    emulator.refuse("auth")
    check = provider.check_credentials()
    assert not check.ok and check.reachable
    assert "NotAuthenticated" in check.message and "OCI_CONFIG_FILE" in check.message


def test_a_good_check_lists_the_domains(provider: OCIProvider, emulator: OCIEmulator) -> None:
    check = provider.check_credentials()
    assert check.ok and "3 availability domains" in check.message
    assert ("GET", REGION, "/20160918/availabilityDomains") in emulator.requests


def test_unsigned_requests_are_refused_by_the_emulator(emulator: OCIEmulator) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{emulator.endpoint_for(REGION)}/20160918/instances/x")
    assert info.value.code == 401


# -- the emulator speaks the SDK's models -------------------------------------------------------
def test_emulator_instances_deserialize_into_the_sdk_models(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    import oci

    handle = provider.provision(spec(spot=True, app_name="models"), offer)
    compute = provider._client("compute", REGION, provider.settings)
    instance = compute.get_instance(handle.data["instance_id"]).data
    assert isinstance(instance, oci.core.models.Instance)
    assert instance.id == handle.data["instance_id"]
    assert instance.availability_domain == handle.zone and instance.shape == "VM.GPU.A10.1"
    assert instance.lifecycle_state == "RUNNING"
    assert instance.region == "iad"
    assert instance.freeform_tags["strato-app"] == "models"
    assert (
        base64.b64decode(instance.metadata["user_data"]).decode() == handle.data["startup_script"]
    )
    assert isinstance(instance.time_created, datetime.datetime)
    action = instance.preemptible_instance_config.preemption_action
    assert isinstance(action, oci.core.models.TerminatePreemptionAction)
    assert action.type == "TERMINATE" and action.preserve_boot_volume is False
    assert isinstance(instance.source_details, oci.core.models.InstanceSourceViaImageDetails)


def _unknown_fields(payload: Any, model: type) -> list[str]:
    """Keys of an emulator answer that the SDK model (and its nested models) do not know."""
    import oci

    known = model().attribute_map
    unknown = [key for key in payload if key not in known.values()]
    by_json = {json_name: name for name, json_name in known.items()}
    for key, value in payload.items():
        kind = model().swagger_types.get(by_json.get(key, ""), "")
        nested = getattr(oci.core.models, kind, None)
        if isinstance(value, dict) and nested is not None and hasattr(nested, "get_subtype"):
            nested = getattr(oci.core.models, nested.get_subtype(value), nested)
        if isinstance(value, dict) and nested is not None:
            unknown += [f"{key}.{inner}" for inner in _unknown_fields(value, nested)]
    return unknown


def test_emulator_answers_use_only_fields_the_sdk_models_know(
    provider: OCIProvider, emulator: OCIEmulator, offer: Any
) -> None:
    import oci

    handle = provider.provision(spec(spot=True), offer)
    signed = {"authorization": 'Signature version="1",keyId="t/u/f",signature="x"'}
    base = f"/{REGION}/20160918"

    def answer(path: str) -> Any:
        status, payload, _ = emulator.handle("GET", base + path, signed, b"")
        assert status == 200, payload
        return payload

    instance = answer(f"/instances/{handle.data['instance_id']}")
    assert _unknown_fields(instance, oci.core.models.Instance) == []
    misspelt = {"sourceDetailz": {}, "sourceDetails": {"sourceType": "image", "imageID": "i"}}
    assert _unknown_fields(misspelt, oci.core.models.Instance) == [
        "sourceDetailz",
        "sourceDetails.imageID",
    ]
    for subnet in answer("/subnets?compartmentId=c"):
        assert _unknown_fields(subnet, oci.core.models.Subnet) == []
    for image in answer("/images?compartmentId=c&shape=VM.GPU.A10.1"):
        assert _unknown_fields(image, oci.core.models.Image) == []
    for domain in answer("/availabilityDomains?compartmentId=c"):
        assert _unknown_fields(domain, oci.identity.models.AvailabilityDomain) == []
    emulator.refuse("capacity_async")
    failed = provider._client("compute", REGION, provider.settings).launch_instance(
        oci.core.models.LaunchInstanceDetails(
            compartment_id="c",
            availability_domain=DOMAINS[0],
            shape="VM.GPU.A10.1",
            create_vnic_details=oci.core.models.CreateVnicDetails(subnet_id="s"),
            source_details=oci.core.models.InstanceSourceViaImageDetails(image_id="i"),
        )
    )
    work_request = failed.headers["opc-work-request-id"]
    for error in answer(f"/workRequests/{work_request}/errors"):
        assert _unknown_fields(error, oci.work_requests.models.WorkRequestError) == []


# -- settings -----------------------------------------------------------------------------------
def test_settings_read_single_and_per_region_values() -> None:
    settings = OCISettings.load(
        {
            "OCI_CONFIG_FILE": "/etc/oci/config",
            "OCI_CONFIG_PROFILE": "STRATO",
            "STRATO_OCI_SUBNET": "us-ashburn-1=ocid1.subnet.a, eu-paris-1=ocid1.subnet.b",
            "STRATO_OCI_IMAGE": "ocid1.image.everywhere",
            "STRATO_OCI_ENDPOINT": "http://127.0.0.1:1/{region}",
            "STRATO_OCI_LAUNCH_WAIT_S": "5",
        }
    )
    assert (settings.config_file, settings.profile) == ("/etc/oci/config", "STRATO")
    assert settings.subnet_for("eu-paris-1") == "ocid1.subnet.b"
    assert settings.subnet_for("us-phoenix-1") is None
    assert settings.image_for("us-phoenix-1") == "ocid1.image.everywhere"
    assert settings.endpoint_for("uk-london-1") == "http://127.0.0.1:1/uk-london-1"
    assert settings.launch_wait_s == 5.0
    assert OCISettings.load({}).config_file == "~/.oci/config"
    assert OCISettings.load({}).endpoint_for("us-ashburn-1") is None


# -- a real account -----------------------------------------------------------------------------
def _real_config() -> str | None:
    path = os.path.expanduser(os.environ.get("OCI_CONFIG_FILE") or "~/.oci/config")
    return path if os.path.exists(path) and not os.environ.get("STRATO_OCI_ENDPOINT") else None


@pytest.mark.live
@pytest.mark.skipif(_real_config() is None, reason="no OCI config file, or an endpoint override")
def test_live_credentials_and_optional_launch() -> None:
    """Checks the real account; launches ``STRATO_OCI_LIVE_SHAPE`` in ``STRATO_OCI_LIVE_REGION``
    (and terminates it) only when both are set, since a GPU machine costs money."""
    live = OCIProvider()
    check = live.check_credentials()
    assert check.ok, check.message
    shape, region = (
        os.environ.get("STRATO_OCI_LIVE_SHAPE"),
        os.environ.get("STRATO_OCI_LIVE_REGION"),
    )
    if not (shape and region):
        return
    offer = catalog_offer(shape, region)
    handle = live.provision(spec("ct-oci-live-test"), offer)
    try:
        assert live.status(handle) in {InstanceState.PENDING, InstanceState.RUNNING}
    finally:
        live.terminate(handle)
    assert wait_for_state(live, handle, {InstanceState.STOPPED}, 600) == InstanceState.STOPPED
