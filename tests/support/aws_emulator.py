"""AWS without AWS: a moto server on 127.0.0.1, with switches that make EC2 refuse as AWS does.

The emulator is a real EC2/SSM/STS endpoint (moto's ``ThreadedMotoServer``, in this process)
that the AWS provider reaches through boto3 exactly as it reaches AWS. On start it publishes,
in every AWS region of the price catalog, a registered image and the public SSM parameter of
the Deep Learning AMI pointing at it, so the provider's image lookup runs unchanged.

Refusals (capacity, quota, outages, auth) cannot be produced by moto, so they are injected at
the botocore layer: a ``before-call.ec2.RunInstances`` handler on the provider's boto3 session
answers the call with the HTTP status and ``Error`` body AWS sends, and botocore raises the
same ``ClientError`` it raises for AWS (retries are not involved: one refusal, one call).

API (``emulator`` is an :class:`AwsEmulator`, from the ``aws_emulator`` fixture or a ``with``)::

    emulator.endpoint_url                 # http://127.0.0.1:<free port>
    emulator.regions                      # regions with a published Deep Learning AMI
    emulator.images[region]               # that AMI's id
    emulator.env()                        # env vars for a provider configured from the
                                          # environment: fake credentials + endpoint
    emulator.provider(**settings)         # an AwsProvider bound to the emulator (fake
                                          # credentials injected), already attached
    emulator.attach(provider)             # hook refusals/recording into any AwsProvider
    emulator.refuse(kind, region=None, *, except_region=None, zone=None,
                    instance_type=None, spot=None, times=None) -> Refusal
        # Make matching RunInstances calls fail as AWS does, until cleared (or ``times``
        # calls). ``region``/``except_region``: one region or an iterable of them, e.g.
        # refuse("capacity", except_region="us-west-2") refuses capacity everywhere but
        # us-west-2. ``zone``: only calls naming that Availability Zone. ``spot``: only
        # spot (True) or on-demand (False) launches. Later rules are checked first.
        # kinds (see REFUSALS): capacity, unsupported, quota, instance_limit, spot_quota,
        # spot_price, server_error, unavailable, throttle, auth, unauthorized.
    emulator.clear()                      # drop every refusal and recorded call
    emulator.launch_requests              # every RunInstances call: {"region", "params"},
                                          # params as the provider passed them
    emulator.refusals                     # every refused call: {"kind", "code", "status",
                                          # "region", "zone", "instance_type"}
    emulator.preempt(instance_id, region) # EC2 takes a spot instance back (state and
                                          # StateReason as AWS reports an interruption)
    emulator.describe(instance_id, region)  # the instance as DescribeInstances shows it
    emulator.user_data(instance_id, region)  # its user data, decoded
    emulator.client(service, region)      # a boto3 client of the emulator (fake credentials)

Pytest: import the fixtures where they are used (``from support.aws_emulator import
aws_emulator, aws_refuse  # noqa: F401``). ``aws_emulator`` is module-scoped (one moto server
per test module, stopped and reset after it); ``aws_refuse`` is ``aws_emulator.refuse`` for one
test, with every rule and recording cleared after it. A fault-injection test where every AWS
region but one refuses capacity::

    def test_failover(aws_emulator, aws_refuse):
        provider = aws_emulator.provider()           # register it where the plane finds it
        aws_refuse("capacity", except_region="us-west-2")
        ...                                          # launches land in us-west-2 only
        assert {r["region"] for r in aws_emulator.refusals} <= set(aws_emulator.regions)
"""

from __future__ import annotations

import copy
import datetime
import logging
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
DLAMI_NAME = "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) strato-emulator"


def _capacity_message(instance_type: str, region: str, zone: str | None, spot: bool) -> str:
    # Shapes as EC2 returns them (seen in the wild: skypilot, scylla-cluster-tests,
    # cluster-api-provider-aws, fedora-copr issue threads quoting RunInstances errors).
    if spot:
        return "There is no Spot capacity available that matches your request."
    if zone is None:
        return (
            f"We currently do not have sufficient {instance_type} capacity in zones with "
            "support for 'gp3' volumes. Our system will be working on provisioning "
            "additional capacity."
        )
    others = ", ".join(f"{region}{letter}" for letter in "abcd" if f"{region}{letter}" != zone)
    return (
        f"We currently do not have sufficient {instance_type} capacity in the Availability "
        f"Zone you requested ({zone}). Our system will be working on provisioning additional "
        f"capacity. You can currently get {instance_type} capacity by not specifying an "
        f"Availability Zone in your request or choosing {others}."
    )


def _unsupported_message(instance_type: str, region: str, zone: str | None, spot: bool) -> str:
    zone = zone or f"{region}e"
    others = ", ".join(f"{region}{letter}" for letter in "abcd" if f"{region}{letter}" != zone)
    return (
        f"Your requested instance type ({instance_type}) is not supported in your requested "
        f"Availability Zone ({zone}). Please retry your request by not specifying an "
        f"Availability Zone or choosing {others}."
    )


_LIMIT_HINT = (
    "Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to "
    "this limit."
)

#: kind -> (EC2 error code, HTTP status, message or message(instance_type, region, zone, spot))
REFUSALS: dict[str, tuple[str, int, Any]] = {
    "capacity": ("InsufficientInstanceCapacity", 500, _capacity_message),
    "unsupported": ("Unsupported", 400, _unsupported_message),
    "quota": (
        "VcpuLimitExceeded",
        400,
        "You have requested more vCPU capacity than your current vCPU limit of 32 allows for "
        f"the instance bucket that the specified instance type belongs to. {_LIMIT_HINT}",
    ),
    "instance_limit": (
        "InstanceLimitExceeded",
        400,
        "You have requested more instances (21) than your current instance limit of 20 allows "
        f"for the specified instance type. {_LIMIT_HINT}",
    ),
    "spot_quota": ("MaxSpotInstanceCountExceeded", 400, "Max spot instance count exceeded"),
    "spot_price": (
        "SpotMaxPriceTooLow",
        400,
        "Your Spot request price of 0.01 is lower than the minimum required Spot request "
        "fulfillment price of 0.1.",
    ),
    "server_error": ("InternalError", 500, "An internal error has occurred."),
    "unavailable": ("Unavailable", 503, "The server is overloaded and can't handle the request."),
    "throttle": ("RequestLimitExceeded", 503, "Request limit exceeded."),
    "auth": (
        "AuthFailure",
        401,
        "AWS was not able to validate the provided access credentials",
    ),
    "unauthorized": (
        "UnauthorizedOperation",
        403,
        "You are not authorized to perform this operation. Encoded authorization failure "
        "message: strato-emulator",
    ),
}


def _regions(value: str | Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset([value] if isinstance(value, str) else value)


@dataclass
class Refusal:
    """One refusal rule; ``remaining`` counts down when ``times`` was given."""

    kind: str
    regions: frozenset[str] | None = None
    except_regions: frozenset[str] | None = None
    zone: str | None = None
    instance_type: str | None = None
    spot: bool | None = None
    remaining: int | None = None
    matched: int = 0

    def matches(self, region: str, zone: str | None, instance_type: str, spot: bool) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.regions is not None and region not in self.regions:
            return False
        if self.except_regions is not None and region in self.except_regions:
            return False
        if self.zone is not None and zone != self.zone:
            return False
        if self.instance_type is not None and instance_type != self.instance_type:
            return False
        return self.spot is None or self.spot == spot


@dataclass
class AwsEmulator:
    """A moto server with the Deep Learning AMI published and refusal switches."""

    regions: tuple[str, ...] = ()
    endpoint_url: str = ""
    account_id: str = ""
    images: dict[str, str] = field(default_factory=dict)
    launch_requests: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    rules: list[Refusal] = field(default_factory=list)
    _server: Any = None
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- life ------------------------------------------------------------------------------------
    def start(self) -> AwsEmulator:
        from moto.server import ThreadedMotoServer

        if not self.regions:
            from strato.pricing.catalog import default_catalog

            self.regions = tuple(default_catalog().regions("aws"))
        # werkzeug logs every request at INFO: keep test output to what matters
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        self.reset()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.clear()
            self._reset_backends()
            self._server.stop()
            self._server = None
            self._clients.clear()

    def __enter__(self) -> AwsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _reset_backends(self) -> None:
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).read()

    def reset(self) -> None:
        """Forget every instance and refusal; publish the Deep Learning AMI again."""
        self.clear()
        self._reset_backends()
        self.account_id = self.client("sts", "us-east-1").get_caller_identity()["Account"]
        self.images = {region: self._publish_image(region) for region in self.regions}

    def _session(self) -> Any:
        """A fresh boto3 session with fake credentials (sharing one model loader, so the
        large EC2 service model is parsed once per test run, not once per session)."""
        import boto3
        import botocore.session

        core = botocore.session.Session()
        core.register_component("data_loader", _shared_loader())
        return boto3.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
            botocore_session=core,
        )

    def client(self, service: str, region: str) -> Any:
        """The emulator's own client (fake credentials) of ``service`` in ``region``."""
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self._session().client(
                service, region_name=region, endpoint_url=self.endpoint_url
            )
        return self._clients[key]

    def _publish_image(self, region: str) -> str:
        """Register an image and point the DLAMI's public SSM parameters (both
        architectures) at it, as AWS publishes them in every region."""
        from moto.ssm.models import Parameter, ssm_backends

        from strato.plugins.aws.config import AMI_PARAMETER

        image_id = str(self.client("ec2", region).register_image(Name=DLAMI_NAME)["ImageId"])
        # /aws/service/... is reserved (PutParameter refuses it, as AWS does): write it into
        # moto's store the way moto itself loads its other public parameters.
        store = ssm_backends[self.account_id][region]._parameters
        for arch in ("x86_64", "arm64"):
            name = AMI_PARAMETER.format(arch=arch)
            store[name] = [
                Parameter(
                    account_id=self.account_id,
                    name=name,
                    value=image_id,
                    parameter_type="String",
                    description=None,
                    allowed_pattern=None,
                    keyid=None,
                    last_modified_date=datetime.datetime.now(datetime.UTC),
                    version=1,
                    data_type="aws:ec2:image",
                )
            ]
        return image_id

    # -- providers -------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Environment for an AwsProvider configured only from the environment."""
        return {
            **FAKE_CREDENTIALS,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "STRATO_AWS_ENDPOINT_URL": self.endpoint_url,
        }

    def provider(self, **settings: Any) -> Any:
        """An AwsProvider talking to this emulator with fake credentials, attached."""
        from strato.plugins.aws.provider import AwsProvider

        settings.setdefault("endpoint_url", self.endpoint_url)
        provider = AwsProvider(session=self._session(), **settings)
        self.attach(provider)
        return provider

    def attach(self, provider: Any) -> Any:
        """Hook refusals and request recording into ``provider``'s boto3 session (clients
        made later inherit them) and into each client it already made."""
        emitters = [provider.session.events] + [c.meta.events for c in provider.clients()]
        for events in emitters:
            events.register_first(
                "before-parameter-build.ec2.RunInstances",
                self._record,
                unique_id=f"strato-aws-emulator-record-{id(self)}",
            )
            events.register(
                "before-call.ec2.RunInstances",
                self._maybe_refuse,
                unique_id=f"strato-aws-emulator-refuse-{id(self)}",
            )
        return provider

    # -- refusals --------------------------------------------------------------------------------
    def refuse(
        self,
        kind: str,
        region: str | Iterable[str] | None = None,
        *,
        except_region: str | Iterable[str] | None = None,
        zone: str | None = None,
        instance_type: str | None = None,
        spot: bool | None = None,
        times: int | None = None,
    ) -> Refusal:
        """Make matching RunInstances calls fail with ``kind``'s real AWS error."""
        if kind not in REFUSALS:
            raise ValueError(f"unknown refusal {kind!r}; one of {', '.join(REFUSALS)}")
        rule = Refusal(
            kind,
            regions=_regions(region),
            except_regions=_regions(except_region),
            zone=zone,
            instance_type=instance_type,
            spot=spot,
            remaining=times,
        )
        with self._lock:
            self.rules.insert(0, rule)
        return rule

    def clear(self) -> None:
        """Drop every refusal rule and every recorded call."""
        with self._lock:
            self.rules.clear()
            self.launch_requests.clear()
            self.refusals.clear()

    def _record(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.launch_requests.append(
                {"region": context.get("client_region"), "params": copy.deepcopy(params)}
            )

    def _maybe_refuse(
        self, params: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> tuple[Any, dict[str, Any]] | None:
        body = params.get("body") or {}
        region = str(context.get("client_region"))
        zone = body.get("Placement.AvailabilityZone")
        instance_type = str(body.get("InstanceType"))
        spot = body.get("InstanceMarketOptions.MarketType") == "spot"
        with self._lock:
            rule = next(
                (r for r in self.rules if r.matches(region, zone, instance_type, spot)), None
            )
            if rule is None:
                return None
            rule.matched += 1
            if rule.remaining is not None:
                rule.remaining -= 1
            code, status, message = REFUSALS[rule.kind]
            if callable(message):
                message = message(instance_type, region, zone, spot)
            self.refusals.append(
                {
                    "kind": rule.kind,
                    "code": code,
                    "status": status,
                    "region": region,
                    "zone": zone,
                    "instance_type": instance_type,
                }
            )
        return _error_response(code, status, message)

    # -- machines --------------------------------------------------------------------------------
    def _instance(self, instance_id: str, region: str) -> Any:
        from moto.ec2.models import ec2_backends

        return ec2_backends[self.account_id][region].get_instance(instance_id)

    def preempt(self, instance_id: str, region: str, state: str = "terminated") -> None:
        """EC2 interrupts a spot instance: ``shutting-down`` then ``terminated``, with the
        StateReason AWS gives a spot interruption."""
        from moto.ec2.models.instances import StateReason

        instance = self._instance(instance_id, region)
        instance._state.name = state
        instance._state.code = {"shutting-down": 32, "terminated": 48}[state]
        instance.state_reason = StateReason(
            "Server.SpotInstanceTermination: Spot instance termination",
            "Server.SpotInstanceTermination",
        )

    def describe(self, instance_id: str, region: str) -> dict[str, Any]:
        """The instance as DescribeInstances returns it."""
        answer = self.client("ec2", region).describe_instances(InstanceIds=[instance_id])
        return dict(answer["Reservations"][0]["Instances"][0])

    def user_data(self, instance_id: str, region: str) -> str:
        """The instance's user data, decoded."""
        import base64

        answer = self.client("ec2", region).describe_instance_attribute(
            InstanceId=instance_id, Attribute="userData"
        )
        return base64.b64decode(answer["UserData"]["Value"]).decode()


_LOADER: Any = None


def _shared_loader() -> Any:
    global _LOADER
    if _LOADER is None:
        from botocore.loaders import create_loader

        _LOADER = create_loader()
    return _LOADER


def _error_response(code: str, status: int, message: str) -> tuple[Any, dict[str, Any]]:
    """(http response, parsed body) as botocore builds them from an EC2 error answer."""
    from botocore.awsrequest import AWSResponse

    request_id = str(uuid.uuid4())
    headers = {"x-amzn-requestid": request_id, "content-type": "text/xml;charset=UTF-8"}
    http = AWSResponse("https://ec2.amazonaws.com/", status, headers, raw=None)
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {
            "RequestId": request_id,
            "HTTPStatusCode": status,
            "HTTPHeaders": headers,
            "RetryAttempts": 0,
        },
    }
    return http, parsed


@pytest.fixture(scope="module")
def aws_emulator() -> Iterator[AwsEmulator]:
    """A started :class:`AwsEmulator` for the module, stopped (and reset) afterwards."""
    emulator = AwsEmulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def aws_refuse(aws_emulator: AwsEmulator) -> Iterator[Any]:
    """``aws_emulator.refuse`` for one test; every refusal and recording is cleared after."""
    yield aws_emulator.refuse
    aws_emulator.clear()
