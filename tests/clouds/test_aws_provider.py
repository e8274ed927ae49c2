"""The AWS provider against a moto server (see ``support/aws_emulator.py``), and live when
real credentials are present."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from support.aws_emulator import REFUSALS, AwsEmulator, aws_emulator, aws_refuse  # noqa: F401
from support.booter import MachineBooter
from support.contract import ProviderContract, make_spec
from support.fake_service import free_port

from strato.exception import (
    CapacityError,
    CredentialsError,
    ProviderError,
    ProviderUnavailableError,
    QuotaError,
)
from strato.plugins.aws.config import AMI_PARAMETER, AwsSettings
from strato.plugins.aws.errors import from_sdk
from strato.plugins.aws.provider import (
    STATES,
    AwsProvider,
    architecture,
    state_of,
)
from strato.plugins.provider import ContainerHandle, InstanceState
from strato.plugins.startup import startup_environment
from strato.pricing.catalog import default_catalog

_AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_EC2",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


def _offers(regions: tuple[str, ...]) -> list[Any]:
    return [o for o in default_catalog().offers(provider="aws") if o.region in regions]


@pytest.fixture
def no_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """An environment where boto3 finds no credentials, profile or endpoint at all."""
    for var in _AWS_ENV:
        monkeypatch.delenv(var, raising=False)
    for var in (
        "STRATO_AWS_ENDPOINT_URL",
        "STRATO_AWS_AMI",
        "STRATO_AWS_ZONES",
        "STRATO_AWS_SUBNET",
        "STRATO_AWS_REGION",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def provider(aws_emulator: AwsEmulator) -> AwsProvider:  # noqa: F811
    return aws_emulator.provider()


@pytest.fixture
def provider_without_credentials(aws_emulator: AwsEmulator, no_aws_env: None) -> AwsProvider:  # noqa: F811
    return AwsProvider(endpoint_url=aws_emulator.endpoint_url)


@pytest.fixture
def offer(aws_emulator: AwsEmulator) -> Any:  # noqa: F811
    """The cheapest real catalog row in a region the emulator serves."""
    return min(_offers(aws_emulator.regions), key=lambda o: o.on_demand_usd_per_hour)


@pytest.fixture
def refuse(aws_refuse: Any) -> Any:  # noqa: F811
    return aws_refuse


@pytest.fixture
def booter(provider: AwsProvider) -> Any:
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
        providers.by_name.pop("aws", None)


@pytest.fixture
def emulator(aws_emulator: AwsEmulator) -> Any:  # noqa: F811
    """The module's emulator, with refusals and recordings cleared after the test."""
    yield aws_emulator
    aws_emulator.clear()


class TestAwsContract(ProviderContract):
    """The contract every provider meets, against the moto server."""


def test_a_gpu_function_runs_end_to_end_on_an_emulated_instance(
    provider: AwsProvider, booter: Any, offer: Any, emulator: AwsEmulator
) -> None:
    """app.run() -> plane -> placement -> this provider -> moto; the booter plays the boot."""
    import strato

    def where() -> dict[str, str | None]:  # nested: pickled by value
        return {
            "cloud": os.environ.get("MODAL_CLOUD_PROVIDER"),
            "region": os.environ.get("MODAL_REGION"),
            "container": os.environ.get("STRATO_CONTAINER_ID"),
        }

    app = strato.App("aws-end-to-end")
    remote_where = app.function(cloud="aws", gpu=offer.gpu_type, timeout=120)(where)
    with app.run():
        answer = remote_where.remote()
    assert answer["cloud"] == "aws" and answer["region"] in emulator.regions
    (booted,) = booter.booted
    assert answer["container"] == booted["container_id"]
    handle = booted["handle"]
    instance = emulator.describe(handle.data["instance_id"], handle.region)
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["strato-container"] == answer["container"]
    assert tags["strato-app"] == "aws-end-to-end" and tags["strato-function"].endswith("where")
    assert (
        emulator.user_data(handle.data["instance_id"], handle.region)
        == (handle.data["startup_script"])
    )


# -- states ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ec2_state", "expected"),
    [
        ("pending", InstanceState.PENDING),
        ("running", InstanceState.RUNNING),
        ("shutting-down", InstanceState.STOPPING),
        ("terminated", InstanceState.STOPPED),
        ("stopping", InstanceState.STOPPING),
        ("stopped", InstanceState.STOPPED),
        ("rebooting-someday", InstanceState.UNKNOWN),
    ],
)
def test_every_ec2_state_maps_to_one_shared_state(ec2_state: str, expected: InstanceState) -> None:
    assert state_of({"State": {"Name": ec2_state}}) == expected


def test_the_state_table_covers_every_ec2_instance_state() -> None:
    # EC2's InstanceStateName enum, from botocore's own service model
    import botocore.session

    model = botocore.session.get_session().get_service_model("ec2")
    names = set(model.shape_for("InstanceStateName").enum)
    assert names == set(STATES)


@pytest.mark.parametrize("state", ["shutting-down", "terminated"])
def test_a_spot_interruption_is_preempted(state: str) -> None:
    instance = {
        "State": {"Name": state},
        "InstanceLifecycle": "spot",
        "StateReason": {
            "Code": "Server.SpotInstanceTermination",
            "Message": "Server.SpotInstanceTermination: Spot instance termination",
        },
    }
    assert state_of(instance) == InstanceState.PREEMPTED


def test_a_user_termination_is_stopped_even_for_spot() -> None:
    instance = {
        "State": {"Name": "terminated"},
        "InstanceLifecycle": "spot",
        "StateReason": {"Code": "Client.UserInitiatedShutdown"},
    }
    assert state_of(instance) == InstanceState.STOPPED


def test_an_instance_that_died_launching_failed() -> None:
    instance = {
        "State": {"Name": "terminated"},
        "StateReason": {"Code": "Server.InternalError"},
    }
    assert state_of(instance) == InstanceState.FAILED


def test_preemption_is_detected_through_describe_instances(
    provider: AwsProvider, offer: Any, emulator: AwsEmulator
) -> None:
    spec = make_spec("ct-aws-preempted01")
    spec.spot = True
    handle = provider.provision(spec, offer)
    assert provider.status(handle) == InstanceState.RUNNING
    emulator.preempt(handle.data["instance_id"], handle.region, state="shutting-down")
    assert provider.status(handle) == InstanceState.PREEMPTED
    emulator.preempt(handle.data["instance_id"], handle.region)
    assert provider.status(handle) == InstanceState.PREEMPTED
    assert emulator.describe(handle.data["instance_id"], handle.region)["State"]["Name"] == (
        "terminated"
    )


def test_an_instance_ec2_does_not_know_is_pending_then_gone(provider: AwsProvider) -> None:
    handle = ContainerHandle(
        "aws",
        "ct-x",
        data={"instance_id": "i-0123456789abcdef0", "launched_at": 0.0},
        region="us-east-1",
    )
    assert provider.status(handle) == InstanceState.STOPPED
    handle.data["launched_at"] = time.time()
    assert provider.status(handle) == InstanceState.PENDING


# -- launch requests -----------------------------------------------------------------------------
def test_launch_runs_the_offer_with_the_startup_script_and_tags(
    provider: AwsProvider, offer: Any, emulator: AwsEmulator
) -> None:
    spec = make_spec("ct-aws-tags00001")
    spec.app_name = "my-app"
    handle = provider.provision(spec, offer)
    instance = emulator.describe(handle.data["instance_id"], offer.region)
    assert instance["InstanceType"] == offer.instance_type
    assert handle.region == offer.region and handle.instance_type == offer.instance_type
    assert instance["Placement"]["AvailabilityZone"] == handle.zone
    assert instance["Placement"]["AvailabilityZone"].startswith(offer.region)
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["strato-app"] == "my-app"
    assert tags["strato-function"] == spec.function_name
    assert tags["strato-container"] == spec.container_id
    # the Deep Learning AMI, found through its public SSM parameter
    assert instance["ImageId"] == emulator.images[offer.region]
    user_data = emulator.user_data(handle.data["instance_id"], offer.region)
    assert user_data == handle.data["startup_script"]
    env = startup_environment(user_data)
    assert env["STRATO_REGION"] == offer.region and env["MODAL_CLOUD_PROVIDER"] == "aws"
    assert "InstanceLifecycle" not in instance
    (request,) = emulator.launch_requests
    assert "InstanceMarketOptions" not in request["params"]


def test_a_spot_launch_asks_ec2_for_a_one_time_spot_instance(
    provider: AwsProvider, offer: Any, emulator: AwsEmulator
) -> None:
    spec = make_spec("ct-aws-spot00001")
    spec.spot = True
    handle = provider.provision(spec, offer)
    (request,) = emulator.launch_requests
    assert request["params"]["InstanceMarketOptions"] == {
        "MarketType": "spot",
        "SpotOptions": {
            "SpotInstanceType": "one-time",
            "InstanceInterruptionBehavior": "terminate",
        },
    }
    assert request["params"]["MinCount"] == request["params"]["MaxCount"] == 1
    instance = emulator.describe(handle.data["instance_id"], offer.region)
    assert instance["InstanceLifecycle"] == "spot"
    assert handle.data["spot"] is True


def test_configured_zones_are_tried_in_order_on_capacity_errors(
    aws_emulator: AwsEmulator,  # noqa: F811
    offer: Any,
    emulator: AwsEmulator,
) -> None:
    region = offer.region
    provider = emulator.provider(zones=(f"{region}b", f"{region}c", "eu-west-1a"))
    emulator.refuse("capacity", zone=f"{region}b")
    handle = provider.provision(make_spec("ct-aws-zones0001"), offer)
    assert handle.zone == f"{region}c"
    zones = [
        r["params"].get("Placement", {}).get("AvailabilityZone") for r in emulator.launch_requests
    ]
    assert zones == [f"{region}b", f"{region}c"]
    (refusal,) = emulator.refusals
    assert refusal["code"] == "InsufficientInstanceCapacity" and refusal["zone"] == f"{region}b"


def test_a_type_unsupported_in_a_zone_moves_to_the_next_zone(
    offer: Any, emulator: AwsEmulator
) -> None:
    region = offer.region
    provider = emulator.provider(zones=(f"{region}a", f"{region}d"))
    emulator.refuse("unsupported", zone=f"{region}a")
    handle = provider.provision(make_spec("ct-aws-zones0002"), offer)
    assert handle.zone == f"{region}d"


def test_every_zone_refusing_raises_the_last_capacity_error(
    offer: Any, emulator: AwsEmulator
) -> None:
    region = offer.region
    provider = emulator.provider(zones=(f"{region}a", f"{region}b"))
    emulator.refuse("capacity")
    with pytest.raises(CapacityError) as info:
        provider.provision(make_spec("ct-aws-zones0003"), offer)
    assert f"({region}b)" in str(info.value) and "tried zones" in str(info.value)
    assert len(emulator.refusals) == 2


def test_a_quota_refusal_does_not_try_other_zones(offer: Any, emulator: AwsEmulator) -> None:
    provider = emulator.provider(zones=(f"{offer.region}a", f"{offer.region}b"))
    emulator.refuse("quota")
    with pytest.raises(QuotaError):
        provider.provision(make_spec("ct-aws-zones0004"), offer)
    assert len(emulator.launch_requests) == 1


def test_without_zones_ec2_chooses_and_the_handle_says_where(
    provider: AwsProvider, offer: Any, emulator: AwsEmulator
) -> None:
    handle = provider.provision(make_spec("ct-aws-zones0005"), offer)
    (request,) = emulator.launch_requests
    assert "Placement" not in request["params"]
    assert handle.zone and handle.zone.startswith(offer.region)


def test_a_configured_subnet_decides_the_zone(offer: Any, emulator: AwsEmulator) -> None:
    ec2 = emulator.client("ec2", offer.region)
    subnet = ec2.describe_subnets()["Subnets"][0]
    provider = emulator.provider(
        subnet={offer.region: subnet["SubnetId"]}, zones=(f"{offer.region}f",)
    )
    handle = provider.provision(make_spec("ct-aws-subnet001"), offer)
    (request,) = emulator.launch_requests
    assert request["params"]["SubnetId"] == subnet["SubnetId"]
    assert "Placement" not in request["params"]
    assert handle.zone == subnet["AvailabilityZone"]


def test_an_offer_zone_wins_over_configured_zones(offer: Any, emulator: AwsEmulator) -> None:
    from dataclasses import replace

    provider = emulator.provider(zones=(f"{offer.region}a",))
    handle = provider.provision(
        make_spec("ct-aws-zones0006"), replace(offer, zone=f"{offer.region}c")
    )
    assert handle.zone == f"{offer.region}c"


def test_a_configured_ami_skips_the_ssm_lookup(offer: Any, emulator: AwsEmulator) -> None:
    ec2 = emulator.client("ec2", offer.region)
    own = ec2.register_image(Name="my-own-gpu-image")["ImageId"]
    provider = emulator.provider(ami=f"{offer.region}={own}")
    handle = provider.provision(make_spec("ct-aws-ami00001"), offer)
    assert emulator.describe(handle.data["instance_id"], offer.region)["ImageId"] == own
    assert not [c for c in provider.clients() if c.meta.service_model.service_name == "ssm"]


def test_a_missing_image_parameter_is_a_clear_error(offer: Any, emulator: AwsEmulator) -> None:
    provider = emulator.provider(ami_parameter="/strato/no/such/parameter/{arch}")
    with pytest.raises(ProviderError) as info:
        provider.provision(make_spec("ct-aws-ami00002"), offer)
    assert info.value.code == "ParameterNotFound" and "STRATO_AWS_AMI" in str(info.value)
    assert not info.value.retryable


def test_graviton_types_get_the_arm64_image() -> None:
    assert architecture("g5g.xlarge") == "arm64"
    assert architecture("c7gn.large") == "arm64"
    assert architecture("p6e-gb200.36xlarge") == "arm64"
    assert architecture("g4dn.xlarge") == "x86_64"
    assert architecture("p5en.48xlarge") == "x86_64"
    assert AMI_PARAMETER.format(arch="arm64").startswith("/aws/service/deeplearning/ami/arm64/")


def test_terminate_is_idempotent_and_ends_the_instance(
    provider: AwsProvider, offer: Any, emulator: AwsEmulator
) -> None:
    handle = provider.provision(make_spec("ct-aws-term00001"), offer)
    provider.terminate(handle)
    provider.terminate(handle)
    assert (
        emulator.describe(handle.data["instance_id"], offer.region)["State"]["Name"] == "terminated"
    )
    assert provider.status(handle) == InstanceState.STOPPED
    gone = ContainerHandle(
        "aws", "ct-gone", data={"instance_id": "i-0123456789abcdef0"}, region="us-east-1"
    )
    provider.terminate(gone)  # never existed: nothing to do


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "error", "retryable"),
    [
        ("capacity", CapacityError, True),
        ("unsupported", CapacityError, True),
        ("quota", QuotaError, True),
        ("instance_limit", QuotaError, True),
        ("spot_quota", QuotaError, True),
        ("spot_price", QuotaError, True),
        ("server_error", ProviderUnavailableError, True),
        ("unavailable", ProviderUnavailableError, True),
        ("throttle", ProviderUnavailableError, True),
        ("auth", CredentialsError, False),
        ("unauthorized", CredentialsError, False),
    ],
)
def test_each_ec2_refusal_becomes_its_strato_error(
    provider: AwsProvider,
    offer: Any,
    emulator: AwsEmulator,
    kind: str,
    error: type,
    retryable: bool,
) -> None:
    emulator.refuse(kind)
    with pytest.raises(ProviderError) as info:
        provider.provision(make_spec(f"ct-aws-{kind}"), offer)
    code, status, _ = REFUSALS[kind]
    assert type(info.value) is error
    assert info.value.provider == "aws" and info.value.retryable is retryable
    assert info.value.code == code and info.value.region == offer.region
    assert info.value.http_status == status  # type: ignore[attr-defined]
    if error is CredentialsError:
        assert "AWS_ACCESS_KEY_ID" in str(info.value)


def test_the_capacity_message_is_the_one_ec2_sends(offer: Any, emulator: AwsEmulator) -> None:
    provider = emulator.provider(zones=(f"{offer.region}a",))
    emulator.refuse("capacity")
    with pytest.raises(CapacityError) as info:
        provider.provision(make_spec("ct-aws-message01"), offer)
    assert (
        f"We currently do not have sufficient {offer.instance_type} capacity in the "
        f"Availability Zone you requested ({offer.region}a)"
    ) in str(info.value)


def test_refusals_can_spare_one_region(emulator: AwsEmulator) -> None:
    offers = {
        o.region: o
        for o in _offers(emulator.regions)
        if o.instance_type == _offers(emulator.regions)[0].instance_type
    }
    assert len(offers) >= 2
    keep = sorted(offers)[0]
    provider = emulator.provider()
    emulator.refuse("capacity", except_region=keep)
    for region, offer in offers.items():
        if region == keep:
            assert provider.provision(make_spec(f"ct-aws-spare-{region}"), offer).region == keep
        else:
            with pytest.raises(CapacityError):
                provider.provision(make_spec(f"ct-aws-refused-{region}"), offer)
    assert {r["region"] for r in emulator.refusals} == set(offers) - {keep}


def test_a_refusal_limited_in_times_then_lets_launches_through(
    provider: AwsProvider, offer: Any, emulator: AwsEmulator
) -> None:
    emulator.refuse("throttle", region=offer.region, times=1)
    with pytest.raises(ProviderUnavailableError):
        provider.provision(make_spec("ct-aws-times0001"), offer)
    assert provider.provision(make_spec("ct-aws-times0002"), offer).region == offer.region


def test_an_unreachable_api_is_unavailable(
    no_aws_env: None, offer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # boto3's own setting wins: no backoff to wait
    provider = AwsProvider(endpoint_url=f"http://127.0.0.1:{port}", ami="ami-12345678")
    with pytest.raises(ProviderUnavailableError) as info:
        provider.provision(make_spec("ct-aws-unreach01"), offer)
    assert info.value.code == "EndpointConnectionError" and info.value.retryable
    check = provider.check_credentials()
    assert not check.ok and check.reachable is False


def test_missing_credentials_on_launch_are_a_credentials_error(
    provider_without_credentials: AwsProvider, offer: Any
) -> None:
    with pytest.raises(CredentialsError) as info:
        provider_without_credentials.provision(make_spec("ct-aws-nocreds01"), offer)
    assert info.value.code == "NoCredentialsError" and "AWS_ACCESS_KEY_ID" in str(info.value)


def test_an_unexpected_sdk_exception_is_still_a_provider_error(
    provider: AwsProvider, offer: Any
) -> None:
    # botocore validates parameters before sending: a bad instance id is ParamValidationError
    handle = ContainerHandle("aws", "ct-bad", data={"instance_id": 12345}, region=offer.region)
    with pytest.raises(ProviderError) as info:
        provider.status(handle)
    assert type(info.value) is ProviderError
    assert info.value.code == "ParamValidationError" and info.value.provider == "aws"
    assert not info.value.retryable


def test_unknown_client_errors_and_odd_exceptions_map_to_provider_error() -> None:
    from botocore.exceptions import ClientError, ReadTimeoutError

    bad_request = ClientError(
        {
            "Error": {
                "Code": "InvalidParameterValue",
                "Message": "User data is limited to 16384 bytes",
            },
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "RunInstances",
    )
    error = from_sdk(bad_request, region="us-east-1", action="RunInstances")
    assert (
        type(error) is ProviderError
        and error.code == "InvalidParameterValue"
        and not error.retryable
    )
    timeout = from_sdk(
        ReadTimeoutError(endpoint_url="https://ec2.us-east-1.amazonaws.com"),
        region="us-east-1",
        action="RunInstances",
    )
    assert isinstance(timeout, ProviderUnavailableError) and timeout.code == "ReadTimeoutError"
    odd = from_sdk(KeyError("Instances"), region="us-east-1", action="RunInstances")
    assert type(odd) is ProviderError and odd.code == "KeyError"
    server = ClientError(
        {"Error": {"Code": "SomethingNew"}, "ResponseMetadata": {"HTTPStatusCode": 502}},
        "RunInstances",
    )
    assert isinstance(from_sdk(server, region=None, action="x"), ProviderUnavailableError)


def test_provision_without_an_offer_is_refused(provider: AwsProvider) -> None:
    with pytest.raises(ProviderError) as info:
        provider.provision(make_spec("ct-aws-nooffer01"), None)
    assert "offer" in str(info.value) and info.value.provider == "aws"


# -- credentials and configuration --------------------------------------------------------------
def test_credentials_and_endpoint_from_the_environment_alone(
    aws_emulator: AwsEmulator,  # noqa: F811
    no_aws_env: None,
    offer: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in aws_emulator.env().items():
        monkeypatch.setenv(name, value)
    provider = AwsProvider()
    check = provider.check_credentials()
    assert check.ok and aws_emulator.account_id in check.message
    handle = provider.provision(make_spec("ct-aws-envonly01"), offer)
    assert provider.status(handle) == InstanceState.RUNNING


def test_boto3s_own_endpoint_variable_is_honoured(
    aws_emulator: AwsEmulator,  # noqa: F811
    no_aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_emulator.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    check = AwsProvider().check_credentials()
    assert check.ok and aws_emulator.account_id in check.message


def test_rejected_credentials_fail_the_check_with_what_to_set(provider: AwsProvider) -> None:
    def reject(**_: Any) -> Any:
        from support.aws_emulator import _error_response

        return _error_response(
            "InvalidClientTokenId", 403, "The security token included in the request is invalid."
        )

    provider.session.events.register("before-call.sts.GetCallerIdentity", reject)
    check = provider.check_credentials()
    assert not check.ok and check.reachable
    assert "InvalidClientTokenId" in check.message and "AWS_ACCESS_KEY_ID" in check.message


def test_a_missing_profile_fails_the_check(no_aws_env: None, aws_emulator: AwsEmulator) -> None:  # noqa: F811
    check = AwsProvider(
        profile="no-such-profile", endpoint_url=aws_emulator.endpoint_url
    ).check_credentials()
    assert not check.ok and "AWS_PROFILE" in check.message


def test_settings_come_from_arguments_then_environment_then_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STRATO_AWS_AMI", "us-east-1=ami-env1,us-west-2=ami-env2")
    monkeypatch.setenv("STRATO_AWS_ZONES", "us-east-1b, us-east-1c")
    monkeypatch.setenv("STRATO_AWS_SECURITY_GROUPS", "us-east-1=sg-1,sg-2;us-west-2=sg-3")
    monkeypatch.delenv("STRATO_AWS_SUBNET", raising=False)
    config = {"subnet": {"us-east-1": "subnet-cfg"}, "zones": ["eu-west-1a"], "key_name": "cfg-key"}
    settings = AwsSettings.load(config, key_name="arg-key")
    assert settings.ami == {"us-east-1": "ami-env1", "us-west-2": "ami-env2"}
    assert settings.zones_in("us-east-1") == ["us-east-1b", "us-east-1c"]
    assert settings.for_region(settings.security_groups, "us-east-1") == ("sg-1", "sg-2")
    assert settings.for_region(settings.subnet, "us-east-1") == "subnet-cfg"
    assert settings.for_region(settings.subnet, "us-west-2") is None
    assert settings.key_name == "arg-key"
    monkeypatch.setenv("STRATO_AWS_AMI", "ami-everywhere")
    assert (
        AwsSettings.load({}).for_region(AwsSettings.load({}).ami, "sa-east-1") == "ami-everywhere"
    )


def test_config_toml_configures_the_launch(
    offer: Any, emulator: AwsEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    (tmp_path / "config.toml").write_text(
        f'[providers.aws]\nzones = ["{offer.region}d"]\nkey_name = "debug-key"\n'
        'instance_profile = "strato-worker"\nsecurity_groups = ["sg-0123456789abcdef0"]\n'
    )
    monkeypatch.setenv("STRATO_CONFIG_DIR", str(tmp_path))
    provider = emulator.provider()
    request = provider.launch_request(
        make_spec("ct-aws-config001"),
        offer.instance_type,
        "ami-1",
        "#!/bin/bash",
        offer.region,
        f"{offer.region}d",
    )
    assert request["Placement"] == {"AvailabilityZone": f"{offer.region}d"}
    assert request["KeyName"] == "debug-key"
    assert request["IamInstanceProfile"] == {"Name": "strato-worker"}
    assert request["SecurityGroupIds"] == ["sg-0123456789abcdef0"]
    assert provider.settings.zones_in(offer.region) == [f"{offer.region}d"]


def test_capabilities_are_data_from_the_catalog(provider: AwsProvider) -> None:
    caps = provider.capabilities
    assert caps.spot and caps.multi_gpu and caps.max_gpus_per_machine == 8
    assert set(default_catalog().regions("aws")) <= set(caps.regions)
    assert "us-east-1" in caps.regions


def test_user_data_is_sent_base64_encoded_as_ec2_requires(
    provider: AwsProvider, offer: Any, emulator: AwsEmulator
) -> None:
    handle = provider.provision(make_spec("ct-aws-userdata1"), offer)
    raw = emulator.describe(handle.data["instance_id"], offer.region)
    assert raw["InstanceId"] == handle.data["instance_id"]
    encoded = base64.b64encode(handle.data["startup_script"].encode()).decode()
    ec2 = emulator.client("ec2", offer.region)
    attribute = ec2.describe_instance_attribute(
        InstanceId=handle.data["instance_id"], Attribute="userData"
    )
    assert attribute["UserData"]["Value"] == encoded


def test_importing_the_plugin_does_not_import_boto3() -> None:
    code = (
        "import sys, strato.plugins.aws as aws, strato.plugins.aws.provider\n"
        "p = aws.AwsProvider(); p.capabilities\n"
        "from strato.plugins.aws import strato_register_providers\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'moto')]\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_plugin_registers_an_aws_provider() -> None:
    import strato.plugins.aws as plugin

    registered: list[Any] = []
    plugin.strato_register_providers(registered.append)
    assert [p.name for p in registered] == ["aws"] and isinstance(registered[0], AwsProvider)
    assert sorted(plugin.__all__) == ["AwsProvider", "strato_register_providers"]


# -- live -----------------------------------------------------------------------------------------
def _live_credentials() -> bool:
    if any(os.environ.get(v) for v in ("AWS_ENDPOINT_URL", "STRATO_AWS_ENDPOINT_URL")):
        return False
    if os.environ.get("AWS_ACCESS_KEY_ID") == "testing":
        return False
    try:
        import boto3

        return boto3.Session().get_credentials() is not None
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.live
@pytest.mark.skipif(
    not _live_credentials(), reason="no real AWS credentials (or an endpoint override is set)"
)
def test_live_credentials_image_and_a_dry_run_launch() -> None:
    """Against real AWS, at no cost: STS, the DLAMI's SSM parameter, a DryRun RunInstances."""
    from botocore.exceptions import ClientError

    provider = AwsProvider()
    check = provider.check_credentials()
    assert check.ok, check.message
    offer = min(
        (o for o in default_catalog().offers(provider="aws") if o.region == "us-east-1"),
        key=lambda o: o.on_demand_usd_per_hour,
    )
    image = provider.image_for(offer.region, offer.instance_type)
    assert image.startswith("ami-")
    spec = make_spec("ct-live-dryrun01")
    request = provider.launch_request(
        spec, offer.instance_type, image, "#!/bin/bash\ntrue", offer.region, None
    )
    with pytest.raises(ClientError) as info:
        provider.client("ec2", offer.region).run_instances(**request, DryRun=True)
    assert info.value.response["Error"]["Code"] in {"DryRunOperation", "UnauthorizedOperation"}
