"""The GCP provider against a fake Compute Engine API (``support.gcp_emulator``).

The provider contract runs as for every provider; the tests after it pin down what is GCP's
own: the instance the provider asks for (spot fields, GPUs, labels, start-up script, zones),
the state table, preemption, and how each of GCP's refusals becomes a Strato error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.booter import MachineBooter
from support.contract import ProviderContract, make_spec, wait_for_state
from support.gcp_emulator import GCPEmulator

from strato.exception import (
    CapacityError,
    CredentialsError,
    ProviderError,
    ProviderUnavailableError,
    QuotaError,
)
from strato.plugins.gcp import errors
from strato.plugins.gcp.machines import instance_name, labels_for
from strato.plugins.gcp.provider import STATES, GCPProvider
from strato.plugins.gcp.settings import GCPSettings
from strato.plugins.provider import ContainerHandle, InstanceState
from strato.pricing.catalog import default_catalog


def catalog_offer(instance_type: str, gpu_count: int, region: str = "us-central1") -> Any:
    """A real row of the GCP catalog."""
    return next(
        o
        for o in default_catalog().offers(provider="gcp")
        if o.instance_type == instance_type and o.gpu_count == gpu_count and o.region == region
    )


@pytest.fixture
def emulator():
    with GCPEmulator() as emulator:
        yield emulator


def settings_for(emulator: GCPEmulator, **overrides: Any) -> GCPSettings:
    values: dict[str, Any] = {
        "endpoint": emulator.url,
        "project": "strato-test",
        "operation_timeout_s": 20.0,
        "terminate_wait_s": 5.0,
        "request_timeout_s": 10.0,
    }
    values.update(overrides)
    return GCPSettings(**values)


class TestGCPProviderContract(ProviderContract):
    @pytest.fixture
    def provider(self, emulator: GCPEmulator) -> GCPProvider:
        return GCPProvider(settings_for(emulator))

    @pytest.fixture
    def provider_without_credentials(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> GCPProvider:
        for var in ("STRATO_GCP_ENDPOINT", "STRATO_GCP_PROJECT", "GOOGLE_CLOUD_PROJECT"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
        monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
        return GCPProvider(GCPSettings.from_environment(config={}))

    @pytest.fixture
    def offer(self) -> Any:
        return catalog_offer("n1-standard-4", 1)

    @pytest.fixture
    def refuse(self, emulator: GCPEmulator):
        undo = []

        def refuse(kind: str, region: str | None = None) -> None:
            undo.append(emulator.refuse(kind, region))

        yield refuse
        for step in undo:
            step()

    @pytest.fixture
    def booter(self, provider: GCPProvider):
        from strato.plugins.manager import default_providers

        providers = default_providers()
        providers.register(provider)
        booter = MachineBooter()
        providers.pm.register(booter)
        try:
            yield booter
        finally:
            providers.pm.unregister(booter)
            booter.stop_all()
            providers.by_name.pop("gcp", None)


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def provider(emulator: GCPEmulator) -> GCPProvider:
    return GCPProvider(settings_for(emulator))


def provision(
    provider: GCPProvider, offer: Any, container_id: str = "ct-gcp0000000001", **spec_fields: Any
) -> ContainerHandle:
    spec = make_spec(container_id)
    for key, value in spec_fields.items():
        setattr(spec, key, value)
    return provider.provision(spec, offer)


# -- the instance asked for --------------------------------------------------------------------


def test_spot_launch_asks_for_a_spot_vm_deleted_on_preemption(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    handle = provision(provider, catalog_offer("n1-standard-4", 0), spot=True)
    scheduling = emulator.inserted()[-1]["scheduling"]
    assert scheduling["provisioningModel"] == "SPOT"
    assert scheduling["instanceTerminationAction"] == "DELETE"
    assert scheduling["onHostMaintenance"] == "TERMINATE"
    assert scheduling["automaticRestart"] is False
    assert handle.data["spot"] is True
    # GCP marks a Spot VM preemptible itself; the provider reads it back
    assert emulator.instance(handle.data["name"])["scheduling"]["preemptible"] is True


def test_on_demand_launch_asks_for_no_spot_fields(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    provision(provider, catalog_offer("n1-standard-4", 0))
    scheduling = emulator.inserted()[-1]["scheduling"]
    assert "provisioningModel" not in scheduling and "instanceTerminationAction" not in scheduling
    assert "onHostMaintenance" not in scheduling  # a CPU machine may live-migrate


def test_n1_offer_attaches_its_gpus_as_guest_accelerators(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    offer = catalog_offer("n1-standard-16", 4)
    handle = provision(provider, offer)
    body = emulator.inserted()[-1]
    assert body["machineType"] == f"zones/{handle.zone}/machineTypes/n1-standard-16"
    assert body["guestAccelerators"] == [
        {
            "acceleratorType": f"zones/{handle.zone}/acceleratorTypes/nvidia-tesla-t4",
            "acceleratorCount": 4,
        }
    ]
    assert body["scheduling"]["onHostMaintenance"] == "TERMINATE"


@pytest.mark.parametrize("instance_type", ["a3-highgpu-8g", "a2-ultragpu-1g", "g2-standard-8"])
def test_accelerator_optimized_offer_carries_its_own_gpus(
    provider: GCPProvider, emulator: GCPEmulator, instance_type: str
) -> None:
    offer = next(
        o for o in default_catalog().offers(provider="gcp") if o.instance_type == instance_type
    )
    handle = provision(provider, offer)
    body = emulator.inserted()[-1]
    assert "guestAccelerators" not in body
    assert body["machineType"] == f"zones/{handle.zone}/machineTypes/{instance_type}"
    assert body["scheduling"]["onHostMaintenance"] == "TERMINATE"
    assert handle.instance_type == instance_type and handle.region == offer.region


def test_labels_name_app_function_and_container(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    handle = provision(
        provider,
        catalog_offer("n1-standard-4", 0),
        app_name="My App",
        function_name="Train_Model.run",
    )
    labels = emulator.instance(handle.data["name"])["labels"]
    assert labels == {
        "strato-app": "my-app",
        "strato-function": "train_model-run",
        "strato-container": "ct-gcp0000000001",
    }


def test_label_values_are_cut_to_gcp_rules() -> None:
    labels = labels_for("Ünïcode App " * 10, "f" * 100, "ct-0123")
    assert all(len(v) <= 63 and v == v.lower() for v in labels.values())
    assert labels["strato-app"] != labels_for("Ünïcode App " * 11, "f", "ct-0123")["strato-app"]


@pytest.mark.parametrize(
    "container_id",
    [
        "ct-0123456789abcdef",
        "CT-UPPER_case.id",
        "9-starts-with-digit",
        "x" * 80,
        "ct-ends-with-dash-",
    ],
)
def test_instance_names_follow_gcp_rules_and_stay_distinct(container_id: str) -> None:
    import re

    name = instance_name(container_id)
    assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name), name
    assert instance_name(container_id) == name
    assert instance_name(container_id + "x") != name


def test_startup_script_is_the_machines_startup_script_metadata(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    handle = provision(provider, catalog_offer("n1-standard-4", 1, "europe-west4"))
    items = emulator.instance(handle.data["name"])["metadata"]["items"]
    assert {"key": "startup-script", "value": handle.data["startup_script"]} in items
    assert "export MODAL_REGION=europe-west4" in handle.data["startup_script"]
    assert "export MODAL_CLOUD_PROVIDER=gcp" in handle.data["startup_script"]


def test_image_disk_and_network_come_from_settings(emulator: GCPEmulator) -> None:
    provider = GCPProvider(
        settings_for(
            emulator,
            image="projects/my-images/global/images/family/mine",
            disk_size_gb=250,
            external_ip=False,
        )
    )
    provision(provider, catalog_offer("n1-standard-4", 0))
    body = emulator.inserted()[-1]
    params = body["disks"][0]["initializeParams"]
    assert params["sourceImage"] == "projects/my-images/global/images/family/mine"
    assert params["diskSizeGb"] == "250"
    assert "accessConfigs" not in body["networkInterfaces"][0]


def test_settings_come_from_config_and_environment() -> None:
    settings = GCPSettings.from_environment(
        env={"GOOGLE_CLOUD_PROJECT": "env-project", "STRATO_GCP_ENDPOINT": "http://127.0.0.1:1"},
        config={
            "project": "config-project",
            "zones": {"us-east4": ["us-east4-c"]},
            "disk_size_gb": 200,
            "external_ip": False,
        },
    )
    assert settings.project == "env-project"
    assert settings.endpoint == "http://127.0.0.1:1"
    assert settings.zones == {"us-east4": ["us-east4-c"]}
    assert settings.disk_size_gb == 200 and settings.external_ip is False


# -- zones -------------------------------------------------------------------------------------


def test_first_zone_of_the_offers_region_is_tried_first(provider: GCPProvider) -> None:
    handle = provision(provider, catalog_offer("n1-standard-4", 0, "us-east4"))
    assert (handle.region, handle.zone, handle.data["zone"]) == (
        "us-east4",
        "us-east4-a",
        "us-east4-a",
    )


def test_configured_zones_are_tried_in_their_order(emulator: GCPEmulator) -> None:
    provider = GCPProvider(
        settings_for(emulator, zones={"us-central1": ["us-central1-f", "us-central1-b"]})
    )
    handle = provision(provider, catalog_offer("n1-standard-4", 0))
    assert handle.zone == "us-central1-f"


def test_a_zone_out_of_capacity_sends_the_insert_to_the_next_zone(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    emulator.refuse("capacity", zone="us-central1-a")
    handle = provision(provider, catalog_offer("n1-standard-4", 1))
    assert handle.zone == "us-central1-b"
    zones = [
        path.split("/zones/")[1].split("/")[0]
        for m, path, _, _ in emulator.requests
        if m == "POST" and path.endswith("/instances")
    ]
    assert zones == ["us-central1-a", "us-central1-b"]
    assert provider.status(handle) in (InstanceState.PENDING, InstanceState.RUNNING)


def test_a_zone_without_the_machine_type_sends_the_insert_to_the_next_zone(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    emulator.lack("us-central1-a", "a3-highgpu-8g")
    handle = provision(provider, catalog_offer("a3-highgpu-8g", 8))
    assert handle.zone == "us-central1-b"


def test_capacity_refused_in_every_zone_names_them_all(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    emulator.refuse("capacity", "us-central1")
    with pytest.raises(CapacityError) as info:
        provision(provider, catalog_offer("n1-standard-4", 1))
    assert info.value.code == "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"
    assert info.value.region == "us-central1" and info.value.provider == "gcp"
    for zone in ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"):
        assert zone in str(info.value)
    # the refused instances are gone, as on GCP
    assert emulator.instance(instance_name("ct-gcp0000000001")) is None


def test_refusals_in_one_region_leave_the_others_alone(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    emulator.refuse("quota", "us-central1")
    with pytest.raises(QuotaError):
        provision(provider, catalog_offer("n1-standard-4", 1))
    handle = provision(
        provider, catalog_offer("n1-standard-4", 1, "us-east4"), container_id="ct-other-region"
    )
    assert handle.region == "us-east4"


def test_quota_is_not_retried_in_the_regions_other_zones(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    emulator.refuse("quota")
    with pytest.raises(QuotaError):
        provision(provider, catalog_offer("n1-standard-4", 1))
    assert len(emulator.inserted()) == 1


# -- states ------------------------------------------------------------------------------------


def test_state_table_covers_every_compute_status() -> None:
    from google.cloud import compute_v1

    statuses = {s.name for s in compute_v1.Instance.Status} - {"UNDEFINED_STATUS"}
    assert statuses == set(STATES)


@pytest.mark.parametrize(
    ("gcp_status", "state"),
    [
        ("PROVISIONING", InstanceState.PENDING),
        ("STAGING", InstanceState.PENDING),
        ("PENDING", InstanceState.PENDING),
        ("REPAIRING", InstanceState.PENDING),
        ("RUNNING", InstanceState.RUNNING),
        ("STOPPING", InstanceState.STOPPING),
        ("SUSPENDING", InstanceState.STOPPING),
        ("PENDING_STOP", InstanceState.STOPPING),
        ("DEPROVISIONING", InstanceState.STOPPING),
        ("TERMINATED", InstanceState.STOPPED),
        ("STOPPED", InstanceState.STOPPED),
        ("SUSPENDED", InstanceState.STOPPED),
        ("SOMETHING_NEW", InstanceState.UNKNOWN),
    ],
)
def test_each_compute_status_maps_to_its_state(
    provider: GCPProvider, emulator: GCPEmulator, gcp_status: str, state: InstanceState
) -> None:
    handle = provision(provider, catalog_offer("n1-standard-4", 0))
    emulator.set_status(handle.data["name"], gcp_status)
    assert provider.status(handle) == state


def test_status_goes_from_pending_to_running(provider: GCPProvider) -> None:
    handle = provision(provider, catalog_offer("n1-standard-4", 0))
    assert provider.status(handle) == InstanceState.PENDING
    assert (
        wait_for_state(provider, handle, {InstanceState.RUNNING}, timeout=5)
        == InstanceState.RUNNING
    )


def test_a_missing_instance_is_stopped(provider: GCPProvider) -> None:
    handle = ContainerHandle(
        "gcp",
        "ct-never",
        data={"project": "strato-test", "zone": "us-central1-a", "name": "strato-ct-never"},
    )
    assert provider.status(handle) == InstanceState.STOPPED
    provider.terminate(handle)  # nothing to delete is fine


# -- preemption --------------------------------------------------------------------------------


def test_a_preempted_spot_vm_deleted_by_gcp_is_preempted(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    handle = provision(provider, catalog_offer("n1-standard-4", 1), spot=True)
    wait_for_state(provider, handle, {InstanceState.RUNNING}, timeout=5)
    operation = emulator.preempt(handle.data["name"])
    assert emulator.instance(handle.data["name"]) is None
    assert operation["operationType"] == "compute.instances.preempted"
    assert provider.status(handle) == InstanceState.PREEMPTED


def test_a_preempted_spot_vm_stopped_by_gcp_is_preempted(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    handle = provision(provider, catalog_offer("n1-standard-4", 1), spot=True)
    emulator.preempt(handle.data["name"], action="STOP")
    assert emulator.instance(handle.data["name"])["status"] == "TERMINATED"
    assert provider.status(handle) == InstanceState.PREEMPTED


def test_a_spot_vm_deleted_by_us_is_stopped_not_preempted(provider: GCPProvider) -> None:
    handle = provision(provider, catalog_offer("n1-standard-4", 1), spot=True)
    provider.terminate(handle)
    assert (
        wait_for_state(provider, handle, {InstanceState.STOPPED}, timeout=5)
        == InstanceState.STOPPED
    )


def test_another_vms_preemption_is_not_ours(provider: GCPProvider, emulator: GCPEmulator) -> None:
    mine = provision(provider, catalog_offer("n1-standard-4", 1), container_id="ct-mine", spot=True)
    theirs = provision(
        provider, catalog_offer("n1-standard-4", 1), container_id="ct-theirs", spot=True
    )
    emulator.preempt(theirs.data["name"])
    emulator.set_status(mine.data["name"], "TERMINATED")
    assert provider.status(theirs) == InstanceState.PREEMPTED
    assert provider.status(mine) == InstanceState.STOPPED


# -- terminate, retries ------------------------------------------------------------------------


def test_terminate_deletes_the_instance_and_is_idempotent(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    handle = provision(provider, catalog_offer("n1-standard-4", 0))
    provider.terminate(handle)
    assert emulator.instance(handle.data["name"]) is None
    provider.terminate(handle)
    deletes = [m for m, path, _, _ in emulator.requests if m == "DELETE"]
    assert len(deletes) == 2


def test_a_retried_provision_adopts_the_machine_it_already_made(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    first = provision(provider, catalog_offer("n1-standard-4", 0))
    second = provision(provider, catalog_offer("n1-standard-4", 0))
    assert second.data["instance_id"] == first.data["instance_id"]
    assert second.zone == first.zone


def test_an_insert_that_never_finishes_is_bounded_and_cleaned_up() -> None:
    with GCPEmulator(operation_s=30.0, wait_max_s=0.2) as emulator:
        provider = GCPProvider(settings_for(emulator, operation_timeout_s=0.5))
        with pytest.raises(ProviderUnavailableError) as info:
            provision(provider, catalog_offer("n1-standard-4", 0))
        assert info.value.code == "operationTimeout"
        assert emulator.instance(instance_name("ct-gcp0000000001"))["status"] == "STOPPING"


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error", "code", "retryable"),
    [
        ("capacity", CapacityError, "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", True),
        ("capacity_plain", CapacityError, "ZONE_RESOURCE_POOL_EXHAUSTED", True),
        ("quota", QuotaError, "QUOTA_EXCEEDED", True),
        ("quota_http", QuotaError, "quotaExceeded", True),
        ("rate_limit", ProviderUnavailableError, "rateLimitExceeded", True),
        ("server_error", ProviderUnavailableError, "backendError", True),
        ("not_ready", ProviderUnavailableError, "RESOURCE_NOT_READY", True),
        ("permission", CredentialsError, "forbidden", False),
        ("auth", CredentialsError, None, False),
    ],
)
def test_each_gcp_refusal_becomes_its_strato_error(
    provider: GCPProvider,
    emulator: GCPEmulator,
    kind: str,
    error: type,
    code: str | None,
    retryable: bool,
) -> None:
    emulator.refuse(kind, operation="insert")
    with pytest.raises(ProviderError) as info:
        provision(provider, catalog_offer("n1-standard-4", 1))
    assert type(info.value) is error, f"{kind} became {type(info.value).__name__}: {info.value}"
    assert info.value.provider == "gcp" and info.value.region == "us-central1"
    assert info.value.retryable is retryable
    if code is not None:
        assert info.value.code == code
    if error is CredentialsError:
        assert "GOOGLE_APPLICATION_CREDENTIALS" in str(info.value)


def test_http_statuses_map_to_strato_errors() -> None:
    from google.api_core import exceptions as api

    def mapped(status: int, reason: str | None = None) -> ProviderError:
        errs = [{"reason": reason, "message": "m", "domain": "global"}] if reason else []
        return errors.from_exception(api.from_http_status(status, "m", errors=errs), region="r")

    assert isinstance(mapped(401), CredentialsError) and mapped(401).code == 401
    assert isinstance(mapped(403, "accessNotConfigured"), CredentialsError)
    assert isinstance(mapped(429, "rateLimitExceeded"), ProviderUnavailableError)
    assert isinstance(mapped(429), ProviderUnavailableError)
    assert isinstance(mapped(403, "quotaExceeded"), QuotaError)
    assert isinstance(mapped(500), ProviderUnavailableError) and mapped(500).http_status == 500
    assert isinstance(mapped(504), ProviderUnavailableError)
    plain = mapped(400, "invalid")
    assert type(plain) is ProviderError and plain.retryable is False and plain.code == "invalid"


def test_an_unexpected_sdk_exception_becomes_provider_unavailable(
    provider: GCPProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    instances, _ = provider._clients()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("Protocol message Instance has no field named 'x'")

    monkeypatch.setattr(type(instances), "insert_unary", broken)
    with pytest.raises(ProviderUnavailableError) as info:
        provision(provider, catalog_offer("n1-standard-4", 0))
    assert info.value.code == "ValueError" and info.value.provider == "gcp"
    assert isinstance(info.value.__cause__, ValueError)


def test_an_unreachable_api_is_provider_unavailable() -> None:
    emulator = GCPEmulator().start()
    provider = GCPProvider(settings_for(emulator, request_timeout_s=2.0))
    handle = provision(provider, catalog_offer("n1-standard-4", 0))
    emulator.stop()
    for call in (
        lambda: provision(provider, catalog_offer("n1-standard-4", 0), "ct-2"),
        lambda: provider.status(handle),
        lambda: provider.terminate(handle),
    ):
        with pytest.raises(ProviderUnavailableError) as info:
            call()
        assert info.value.code == "connection" and info.value.retryable
    check = provider.check_credentials()
    assert not check.ok and not check.reachable


def test_rejected_credentials_fail_the_check_while_reachable(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    emulator.refuse("auth")
    check = provider.check_credentials()
    assert not check.ok and check.reachable
    assert "GOOGLE_APPLICATION_CREDENTIALS" in check.message


def test_a_missing_project_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "x",
                "client_secret": "y",
                "refresh_token": "z",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    for var in (
        "STRATO_GCP_ENDPOINT",
        "STRATO_GCP_PROJECT",
        "GOOGLE_CLOUD_PROJECT",
        "CLOUDSDK_CORE_PROJECT",
    ):
        monkeypatch.delenv(var, raising=False)
    provider = GCPProvider(GCPSettings.from_environment(config={}))
    check = provider.check_credentials()
    assert not check.ok and "STRATO_GCP_PROJECT" in check.message


# -- the emulator speaks the SDK's models -------------------------------------------------------


def test_emulator_json_round_trips_through_the_sdk_models(
    provider: GCPProvider, emulator: GCPEmulator
) -> None:
    from google.cloud import compute_v1

    handle = provision(provider, catalog_offer("n1-standard-4", 1), spot=True)
    instance = compute_v1.Instance.from_json(json.dumps(emulator.instance(handle.data["name"])))
    assert (
        instance.scheduling.provisioning_model == "SPOT"
        and instance.labels["strato-app"] == "ap-contract"
    )
    preempted = compute_v1.Operation.from_json(json.dumps(emulator.preempt(handle.data["name"])))
    assert (
        preempted.operation_type == "compute.instances.preempted"
        and str(preempted.target_id) == handle.data["instance_id"]
    )
    for kind in ("capacity", "quota", "not_ready"):
        undo = emulator.refuse(kind, "us-east4")
        with pytest.raises(ProviderError):
            provision(
                provider,
                catalog_offer("n1-standard-4", 1, "us-east4"),
                container_id=f"ct-{kind}".replace("_", "-"),
            )
        undo()
    # every operation's raw JSON parses strictly (unknown fields refused) with its error details
    for body in emulator.operations():
        compute_v1.Operation.from_json(json.dumps(body))
    operations = list(provider._clients()[1].list(project="strato-test", zone="us-east4-a"))
    errors_seen = {e.code for op in operations for e in op.error.errors}
    assert errors_seen == {
        "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
        "QUOTA_EXCEEDED",
        "RESOURCE_NOT_READY",
    }
    capacity = next(
        op for op in operations if op.error.errors and op.error.errors[0].code.startswith("ZONE_")
    )
    assert capacity.http_error_status_code == 503
    assert capacity.error.errors[0].error_details[0].error_info.reason == "resource_availability"
    quota = next(
        op for op in operations if op.error.errors and op.error.errors[0].code == "QUOTA_EXCEEDED"
    )
    assert quota.http_error_status_code == 403
    assert quota.error.errors[0].error_details[0].quota_info.dimensions["region"] == "us-east4"


def test_emulator_refuses_what_gcp_refuses(emulator: GCPEmulator) -> None:
    import urllib.error
    import urllib.request

    def insert(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{emulator.url}/compute/v1/projects/p/zones/us-central1-a/instances",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    status, body = insert(
        {
            "name": "x",
            "machineType": "zones/us-central1-a/machineTypes/n1-standard-4",
            "bogusField": 1,
        }
    )
    assert status == 400 and body["error"]["errors"][0]["reason"] == "invalid"
    status, body = insert(
        {"name": "Bad_Name", "machineType": "zones/us-central1-a/machineTypes/n1-standard-4"}
    )
    assert status == 400 and "resource.name" in body["error"]["message"]
    good = {
        "name": "ok",
        "machineType": "zones/us-central1-a/machineTypes/n1-standard-4",
        "disks": [
            {
                "boot": True,
                "initializeParams": {
                    "sourceImage": "projects/debian-cloud/global/images/family/debian-12"
                },
            }
        ],
        "networkInterfaces": [{"network": "global/networks/default"}],
        "guestAccelerators": [
            {
                "acceleratorType": "zones/us-central1-a/acceleratorTypes/nvidia-tesla-t4",
                "acceleratorCount": 1,
            }
        ],
    }
    status, body = insert(good)
    assert status == 400 and "live migration" in body["error"]["message"]
    good["scheduling"] = {"onHostMaintenance": "TERMINATE"}
    status, body = insert(good)
    assert status == 200 and body["operationType"] == "insert"
    status, body = insert(good)
    assert status == 409 and body["error"]["errors"][0]["reason"] == "alreadyExists"


# -- packaging ---------------------------------------------------------------------------------


def test_importing_the_plugin_does_not_import_the_sdk() -> None:
    code = (
        "import sys, strato.plugins.gcp, strato.plugins.gcp.provider\n"
        "from strato.plugins.gcp import strato_register_providers\n"
        "found = []\n"
        "strato_register_providers(register=found.append)\n"
        "assert found and found[0].name == 'gcp', found\n"
        "sdk = ('google.cloud', 'google.auth', 'google.api_core')\n"
        "bad = [m for m in sys.modules if m.startswith(sdk)]\n"
        "assert not bad, bad\n"
    )
    env = dict(os.environ, STRATO_GCP_ENDPOINT="http://127.0.0.1:9")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_capabilities_are_data_from_the_catalog(provider: GCPProvider) -> None:
    caps = provider.capabilities
    assert caps.spot and caps.multi_gpu and caps.max_gpus_per_machine == 8
    assert {"us-central1", "us-east4", "europe-west4", "asia-northeast1"} <= set(caps.regions)
    assert "bucket_mounts" in caps.unsupported


# -- a real account ----------------------------------------------------------------------------


def _real_credentials() -> bool:
    if os.environ.get("STRATO_GCP_ENDPOINT"):
        return False
    if not (os.environ.get("STRATO_GCP_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT")):
        return False
    adc = (
        Path(os.environ.get("CLOUDSDK_CONFIG", Path.home() / ".config" / "gcloud"))
        / "application_default_credentials.json"
    )
    key = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    return bool(key and Path(key).is_file()) or adc.is_file()


@pytest.mark.live
@pytest.mark.skipif(
    not _real_credentials(), reason="no real GCP credentials (and project) in the environment"
)
def test_live_provision_status_terminate_on_a_real_account() -> None:
    provider = GCPProvider(GCPSettings.from_environment())
    check = provider.check_credentials()
    assert check.ok, check.message
    handle = provider.provision(make_spec("ct-live-gcp-test"), catalog_offer("n1-standard-4", 0))
    try:
        assert provider.status(handle) in (InstanceState.PENDING, InstanceState.RUNNING)
    finally:
        provider.terminate(handle)
    assert (
        wait_for_state(provider, handle, {InstanceState.STOPPED}, timeout=300)
        == InstanceState.STOPPED
    )
