"""A small fake of OCI's REST API: the calls the OCI provider makes, and their real answers.

It speaks the Core Services API (``/20160918``: LaunchInstance, GetInstance, TerminateInstance,
ListImages, ListSubnets, work request errors) and Identity's ListAvailabilityDomains, in the
JSON the ``oci`` SDK deserializes into its models (``oci.core.models.Instance``, ...). Point
the SDK at it with ``service_endpoint=emulator.endpoint_for(region)``, or give the provider
``STRATO_OCI_ENDPOINT=emulator.endpoint`` (``http://127.0.0.1:PORT/{region}``): the region
is the first path segment, so one emulator serves every region.

Requests must be signed (an ``Authorization: Signature ... keyId="tenancy/user/fp"`` header,
as the SDK sends); the signature itself is not checked. :func:`write_oci_config` writes an
OCI config file with a fresh RSA key for the SDK to sign with.

Instances go PROVISIONING -> RUNNING after ``provisioning_s`` and TERMINATING -> TERMINATED
after ``terminating_s``. :meth:`OCIEmulator.preempt` takes a preemptible instance back the way
OCI does (it terminates; GetInstance gives no other sign), :meth:`OCIEmulator.forget` makes
an instance 404 as OCI does some time after it terminated.

Failures, with OCI's real status codes, codes and messages, behind
:meth:`OCIEmulator.refuse` (``kind``, optionally only in one ``region`` or availability
domain, only ``times`` times, on one ``operation``):

=====================  ====  ===========================  =====================================
kind                   HTTP  code                         message
=====================  ====  ===========================  =====================================
``capacity``           500   InternalError                Out of host capacity.
``capacity_async``     200   (the launch is accepted; the instance terminates while
                             provisioning and its work request's error says
                             "Out of host capacity.")
``quota``              400   LimitExceeded                The following service limits were
                                                          exceeded: gpu-...-count. Request a
                                                          service limit increase from the
                                                          service limits page in the console.
``compartment_quota``  400   QuotaExceeded                (OCI's description of the code)
``throttle``           429   TooManyRequests              Too many requests for the user
``server_error``       500   InternalServerError          An internal server error occurred.
``unavailable``        503   ServiceUnavailable           The service is currently unavailable.
``auth``               401   NotAuthenticated             The required information to complete
                                                          authentication was not provided or
                                                          was incorrect.
``not_found``          404   NotAuthorizedOrNotFound      Authorization failed or requested
                                                          resource not found.
``shape_not_found``    404   NotAuthorizedOrNotFound      shape VM.GPU.A10.1 not found
=====================  ====  ===========================  =====================================
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from support.fake_service import FakeHandler, FakeService

API = "20160918"
TENANCY = "ocid1.tenancy.oc1..aaaaaaaastratoemulatortenancy"
USER = "ocid1.user.oc1..aaaaaaaastratoemulatoruser"

#: OCI's three-letter region keys, used in OCIDs (and GetInstance's ``region`` for two).
REGION_KEYS = {
    "us-ashburn-1": "iad",
    "us-phoenix-1": "phx",
    "us-chicago-1": "ord",
    "us-sanjose-1": "sjc",
    "eu-frankfurt-1": "fra",
    "eu-paris-1": "cdg",
    "uk-london-1": "lhr",
    "ca-toronto-1": "yyz",
    "ap-sydney-1": "syd",
    "ap-melbourne-1": "mel",
}
#: Regions with three availability domains; the others have one.
THREE_DOMAIN_REGIONS = {
    "us-ashburn-1",
    "us-phoenix-1",
    "us-chicago-1",
    "eu-frankfurt-1",
    "uk-london-1",
}

#: The shapes the emulator knows (the catalog's GPU shapes and a CPU one).
SHAPES = {
    "BM.GPU.A10.4": "gpu-a10-count",
    "BM.GPU.A100-v2.8": "gpu-a100-v2-count",
    "BM.GPU.B200.8": "gpu-b200-count",
    "BM.GPU.H100.8": "gpu-h100-count",
    "BM.GPU.H200.8": "gpu-h200-count",
    "BM.GPU.L40S.4": "gpu-l40s-count",
    "BM.GPU4.8": "gpu4-count",
    "VM.GPU.A10.1": "gpu-a10-count",
    "VM.GPU.A10.2": "gpu-a10-count",
    "VM.Standard.E4.Flex": "standard-e4-core-count",
}

ERRORS: dict[str, tuple[int, str, str]] = {
    "capacity": (500, "InternalError", "Out of host capacity."),
    "quota": (
        400,
        "LimitExceeded",
        "The following service limits were exceeded: {limit}. Request a service limit "
        "increase from the service limits page in the console. ",
    ),
    "compartment_quota": (
        400,
        "QuotaExceeded",
        "Fulfilling this request exceeds the administrator-defined quota for this "
        "compartment for this resource.",
    ),
    "throttle": (429, "TooManyRequests", "Too many requests for the user"),
    "server_error": (500, "InternalServerError", "An internal server error occurred."),
    "unavailable": (503, "ServiceUnavailable", "The service is currently unavailable."),
    "auth": (
        401,
        "NotAuthenticated",
        "The required information to complete authentication was not provided or was incorrect.",
    ),
    "not_found": (
        404,
        "NotAuthorizedOrNotFound",
        "Authorization failed or requested resource not found.",
    ),
    # the shape is not offered in that availability domain (real wording)
    "shape_not_found": (404, "NotAuthorizedOrNotFound", "shape {shape} not found"),
}
KINDS = (*ERRORS, "capacity_async")
OPERATIONS = (
    "launch",
    "get",
    "terminate",
    "list_availability_domains",
    "list_subnets",
    "list_images",
    "any",
)


def region_key(region: str) -> str:
    return REGION_KEYS.get(region, region)


def availability_domains(region: str) -> list[str]:
    """The region's availability domain names, as OCI spells them (``Uocm:PHX-AD-1``)."""
    short = {"us-ashburn-1": "US-ASHBURN", "us-phoenix-1": "PHX"}.get(region, region.upper())
    count = 3 if region in THREE_DOMAIN_REGIONS else 1
    return [f"Strt:{short}-AD-{n}" for n in range(1, count + 1)]


def _now_iso() -> str:
    return (
        datetime.datetime.now(datetime.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _ocid(kind: str, region: str) -> str:
    return f"ocid1.{kind}.oc1.{region_key(region)}.aaaaaaaa{secrets.token_hex(16)}"


def write_oci_config(
    directory: Path, *, region: str = "us-ashburn-1", profile: str = "DEFAULT"
) -> Path:
    """An OCI config file (with a fresh RSA key beside it) for the emulator's tenancy."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = directory / "oci_api_key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.MD5())
    digest.update(public)
    fingerprint = ":".join(f"{b:02x}" for b in digest.finalize())
    config = directory / "config"
    config.write_text(
        f"[{profile}]\nuser={USER}\nfingerprint={fingerprint}\nkey_file={key_file}\n"
        f"tenancy={TENANCY}\nregion={region}\n"
    )
    return config


@dataclass
class Refusal:
    kind: str
    region: str | None = None
    availability_domain: str | None = None
    times: int | None = None
    operation: str = "launch"

    def matches(self, operation: str, region: str, domain: str | None) -> bool:
        return (
            (self.times is None or self.times > 0)
            and self.operation in ("any", operation)
            and self.region in (None, region)
            and (self.availability_domain is None or self.availability_domain == domain)
        )


@dataclass
class _Instance:
    body: dict[str, Any]
    region: str
    state: str = "PROVISIONING"
    changes_at: float = 0.0
    next_state: str | None = "RUNNING"
    work_request: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Handler(FakeHandler):
    emulator: OCIEmulator

    def _serve(self) -> None:
        status, payload, headers = self.emulator.handle(
            self.command, self.path, self.headers, self.read_body()
        )
        data = b"" if payload is None else json.dumps(payload).encode()
        out = {"content-type": "application/json", "opc-request-id": secrets.token_hex(16).upper()}
        self.respond(status, {**out, **headers}, data)

    do_GET = do_POST = do_DELETE = do_PUT = _serve


class OCIEmulator(FakeService):
    """A fake OCI endpoint on 127.0.0.1; start it, point the SDK at it, stop it."""

    handler = _Handler

    def __init__(self, *, provisioning_s: float = 0.2, terminating_s: float = 0.2) -> None:
        super().__init__()
        self.provisioning_s = provisioning_s
        self.terminating_s = terminating_s
        self.tenancy = TENANCY
        self.instances: dict[str, _Instance] = {}
        #: every LaunchInstance body that reached the emulator, refused or not, in order
        self.launches: list[dict[str, Any]] = []
        #: (method, region, path) of every request
        self.requests: list[tuple[str, str, str]] = []
        self.refusals: list[Refusal] = []
        #: the keyId of every signature seen
        self.key_ids: set[str] = set()
        self._tokens: dict[str, tuple[str, str]] = {}

    @property
    def endpoint(self) -> str:
        """The endpoint template for ``STRATO_OCI_ENDPOINT`` (``{region}`` is replaced)."""
        return self.url + "/{region}"

    def endpoint_for(self, region: str) -> str:
        return f"{self.url}/{region}"

    # -- fault injection ---------------------------------------------------------------------
    def refuse(
        self,
        kind: str,
        region: str | None = None,
        *,
        availability_domain: str | None = None,
        times: int | None = None,
        operation: str | None = None,
    ) -> Refusal:
        """Fail matching requests the way OCI does (see the module docstring), until
        :meth:`clear_refusals` or ``times`` matching requests."""
        if kind not in KINDS:
            raise ValueError(f"unknown refusal {kind!r}; one of {', '.join(KINDS)}")
        operation = operation or ("any" if kind == "auth" else "launch")
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {', '.join(OPERATIONS)}")
        refusal = Refusal(kind, region, availability_domain, times, operation)
        with self._lock:
            self.refusals.append(refusal)
        return refusal

    def clear_refusals(self) -> None:
        with self._lock:
            self.refusals.clear()

    def _refusal(self, operation: str, region: str, domain: str | None = None) -> Refusal | None:
        with self._lock:
            for refusal in self.refusals:
                if refusal.matches(operation, region, domain):
                    if refusal.times is not None:
                        refusal.times -= 1
                    return refusal
        return None

    def _raise_refusal(self, refusal: Refusal, shape: str | None = None) -> None:
        status, code, message = ERRORS[refusal.kind]
        limit = SHAPES.get(shape or "", "gpu-count")
        raise _ApiError(status, code, message.format(limit=limit, shape=shape))

    # -- what happens to instances outside the API -------------------------------------------
    def preempt(self, instance_id: str) -> None:
        """OCI takes a preemptible instance back: it terminates (and says nothing else)."""
        with self._lock:
            instance = self.instances[instance_id]
            if not instance.body.get("preemptibleInstanceConfig"):
                raise ValueError(f"{instance_id} is not preemptible")
            self._end(instance)

    def terminate_outside(self, instance_id: str) -> None:
        """Someone terminates the instance in the console."""
        with self._lock:
            self._end(self.instances[instance_id])

    def forget(self, instance_id: str) -> None:
        """OCI no longer knows the instance (GetInstance answers 404)."""
        with self._lock:
            self.instances.pop(instance_id, None)

    def state_of(self, instance_id: str) -> str:
        with self._lock:
            return self._advance(self.instances[instance_id]).state

    def _end(self, instance: _Instance) -> None:
        self._advance(instance)
        if instance.state not in ("TERMINATING", "TERMINATED"):
            instance.state = "TERMINATING"
            instance.next_state = "TERMINATED"
            instance.changes_at = time.monotonic() + self.terminating_s

    def _advance(self, instance: _Instance) -> _Instance:
        if instance.next_state and time.monotonic() >= instance.changes_at:
            instance.state, instance.next_state = instance.next_state, None
            if instance.state == "TERMINATING":
                instance.next_state = "TERMINATED"
                instance.changes_at = time.monotonic() + self.terminating_s
        return instance

    # -- the API -------------------------------------------------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: Any, body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(raw_path)
        segments = [s for s in parts.path.split("/") if s]
        region = "us-ashburn-1"
        if segments and segments[0] != API:
            region = segments.pop(0)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = "/" + "/".join(segments)
        with self._lock:
            self.requests.append((method, region, path))
        try:
            # an API key signs as "tenancy/user/fingerprint", a session token as "ST$<token>"
            signed = re.search(r'^Signature .*keyId="([^"]+)"', headers.get("authorization", ""))
            if not signed or not re.fullmatch(r"[^/]+/[^/]+/[^/]+|ST\$.+", signed.group(1)):
                raise _ApiError(*ERRORS["auth"])
            with self._lock:
                self.key_ids.add(signed.group(1))
            return self._route(method, region, path, query, headers, body)
        except _ApiError as err:
            return err.status, {"code": err.code, "message": err.message}, {}

    def _route(
        self, method: str, region: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        base = f"/{API}"
        if method == "POST" and path == f"{base}/instances":
            return self._launch(region, headers, json.loads(body or b"{}"))
        match = re.fullmatch(rf"{base}/instances/([^/]+)", path)
        if match and method == "GET":
            self._check("get", region)
            return (
                200,
                self._instance_json(self._get(match.group(1))),
                {"etag": secrets.token_hex(8)},
            )
        if match and method == "DELETE":
            self._check("terminate", region)
            with self._lock:
                self._end(self._get(match.group(1)))
            return 204, None, {}
        if method == "GET" and path == f"{base}/availabilityDomains":
            self._check("list_availability_domains", region)
            self._need(query, "compartmentId")
            return (
                200,
                [
                    {
                        "name": name,
                        "id": f"ocid1.availabilitydomain.oc1..{name}",
                        "compartmentId": query["compartmentId"],
                    }
                    for name in availability_domains(region)
                ],
                {},
            )
        if method == "GET" and path == f"{base}/subnets":
            self._check("list_subnets", region)
            self._need(query, "compartmentId")
            return 200, self._subnets(region, query["compartmentId"]), {}
        if method == "GET" and path == f"{base}/images":
            self._check("list_images", region)
            self._need(query, "compartmentId")
            return 200, self._images(region, query), {}
        match = re.fullmatch(rf"{base}/workRequests/([^/]+)/errors", path)
        if match and method == "GET":
            with self._lock:
                found = [i for i in self.instances.values() if i.work_request == match.group(1)]
            if not found:
                raise _ApiError(*ERRORS["not_found"])
            return 200, list(found[0].errors), {}
        raise _ApiError(
            404,
            "NotFound",
            "There is no operation supported at the URI path and HTTP method you specified "
            "in the request.",
        )

    def _check(self, operation: str, region: str) -> None:
        refusal = self._refusal(operation, region)
        if refusal is not None and refusal.kind != "capacity_async":
            self._raise_refusal(refusal)

    @staticmethod
    def _need(values: dict[str, Any], *names: str) -> None:
        for name in names:
            if not values.get(name):
                raise _ApiError(400, "MissingParameter", f"Missing required parameter {name}.")

    def _get(self, instance_id: str) -> _Instance:
        with self._lock:
            instance = self.instances.get(instance_id)
            if instance is None:
                raise _ApiError(*ERRORS["not_found"])
            return self._advance(instance)

    def _launch(
        self, region: str, headers: Any, body: dict[str, Any]
    ) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.launches.append(
                {"region": region, "body": body, "retry_token": headers.get("opc-retry-token")}
            )
        self._need(body, "compartmentId", "availabilityDomain", "shape")
        domain, shape = body["availabilityDomain"], body["shape"]
        if not (body.get("sourceDetails") or {}).get("imageId") and not body.get("imageId"):
            raise _ApiError(400, "MissingParameter", "Missing required parameter sourceDetails.")
        if not (body.get("createVnicDetails") or {}).get("subnetId") and not body.get("subnetId"):
            raise _ApiError(400, "MissingParameter", "Missing required parameter subnetId.")
        if domain not in availability_domains(region):
            raise _ApiError(400, "InvalidParameter", f"Invalid availabilityDomain {domain}.")
        if shape not in SHAPES:
            raise _ApiError(404, "NotAuthorizedOrNotFound", f"shape {shape} not found")
        if body.get("preemptibleInstanceConfig") and shape.startswith("BM."):
            # Preemptible capacity is VM shapes only (OCI's documentation); the wording of
            # this answer is the emulator's own.
            raise _ApiError(
                400,
                "InvalidParameter",
                f"Preemptible instances are not supported for shape {shape}.",
            )
        token = headers.get("opc-retry-token")
        digest = json.dumps(body, sort_keys=True)
        with self._lock:
            if token and token in self._tokens:
                previous, seen = self._tokens[token]
                if seen != digest:
                    raise _ApiError(
                        409,
                        "InvalidatedRetryToken",
                        "The retry token was already used for a different request.",
                    )
                instance = self._advance(self.instances[previous])
                return (
                    200,
                    self._instance_json(instance),
                    {"opc-work-request-id": instance.work_request},
                )
        refusal = self._refusal("launch", region, domain)
        if refusal is not None and refusal.kind != "capacity_async":
            self._raise_refusal(refusal, shape)
        instance_id = _ocid("instance", region)
        instance = _Instance(
            body=body,
            region=region,
            changes_at=time.monotonic() + self.provisioning_s,
            work_request=_ocid("coreservicesworkrequest", region),
        )
        instance.body = {**body, "id": instance_id, "timeCreated": _now_iso()}
        if refusal is not None:  # capacity_async: accepted, then fails while provisioning
            instance.next_state = "TERMINATING"
            instance.errors.append(
                {
                    "code": "InternalError",
                    "message": "Out of host capacity.",
                    "timestamp": _now_iso(),
                }
            )
        with self._lock:
            self.instances[instance_id] = instance
            if token:
                self._tokens[token] = (instance_id, digest)
        return 200, self._instance_json(instance), {"opc-work-request-id": instance.work_request}

    def _instance_json(self, instance: _Instance) -> dict[str, Any]:
        body = instance.body
        source = body.get("sourceDetails") or {}
        return {
            "id": body["id"],
            "availabilityDomain": body["availabilityDomain"],
            "compartmentId": body["compartmentId"],
            "displayName": body.get("displayName") or body["id"],
            "faultDomain": "FAULT-DOMAIN-1",
            "freeformTags": body.get("freeformTags") or {},
            "definedTags": body.get("definedTags") or {},
            "systemTags": {},
            "imageId": source.get("imageId") or body.get("imageId"),
            "launchMode": "PARAVIRTUALIZED",
            "lifecycleState": instance.state,
            "metadata": body.get("metadata") or {},
            "extendedMetadata": {},
            # "phx" and "iad" for the two oldest regions, the full name elsewhere (as OCI does)
            "region": region_key(instance.region)
            if instance.region in ("us-ashburn-1", "us-phoenix-1")
            else instance.region,
            "shape": body["shape"],
            "sourceDetails": {
                "sourceType": "image",
                "imageId": source.get("imageId") or body.get("imageId"),
                "bootVolumeSizeInGBs": source.get("bootVolumeSizeInGBs"),
            },
            "preemptibleInstanceConfig": body.get("preemptibleInstanceConfig"),
            "timeCreated": body["timeCreated"],
        }

    def _subnets(self, region: str, compartment: str) -> list[dict[str, Any]]:
        key = region_key(region)
        common = {
            "compartmentId": compartment,
            "vcnId": f"ocid1.vcn.oc1.{key}.aaaaaaaastratovcn",
            "lifecycleState": "AVAILABLE",
            "availabilityDomain": None,
            "routeTableId": f"ocid1.routetable.oc1.{key}.aaaaaaaastratort",
            "securityListIds": [],
            "timeCreated": "2024-01-01T00:00:00.000Z",
        }
        return [
            {
                **common,
                "id": f"ocid1.subnet.oc1.{key}.aaaaaaaastratoprivate",
                "displayName": "private",
                "cidrBlock": "10.0.1.0/24",
                "prohibitPublicIpOnVnic": True,
            },
            {
                **common,
                "id": f"ocid1.subnet.oc1.{key}.aaaaaaaastratopublic",
                "displayName": "public",
                "cidrBlock": "10.0.0.0/24",
                "prohibitPublicIpOnVnic": False,
            },
        ]

    def _images(self, region: str, query: dict[str, str]) -> list[dict[str, Any]]:
        key = region_key(region)
        images = [
            (
                "Oracle Linux",
                "8",
                "Oracle-Linux-8.10-Gen2-GPU-2024.09.30-0",
                "2024-10-01",
                True,
                "gpu8new",
            ),
            ("Oracle Linux", "8", "Oracle-Linux-8.10-2024.10.31-0", "2024-11-01", False, "ol8new"),
            (
                "Oracle Linux",
                "8",
                "Oracle-Linux-8.9-Gen2-GPU-2024.01.26-0",
                "2024-02-01",
                True,
                "gpu8old",
            ),
            (
                "Canonical Ubuntu",
                "22.04",
                "Canonical-Ubuntu-22.04-2024.10.04-0",
                "2024-10-05",
                False,
                "ubuntu",
            ),
        ]
        shape = query.get("shape")
        found = [
            {
                "id": f"ocid1.image.oc1.{key}.aaaaaaaa{suffix}",
                "displayName": name,
                "operatingSystem": os_name,
                "operatingSystemVersion": version,
                "lifecycleState": "AVAILABLE",
                "createImageAllowed": True,
                "compartmentId": None,
                "timeCreated": f"{created}T00:00:00.000Z",
            }
            for os_name, version, name, created, gpu, suffix in images
            if query.get("operatingSystem") in (None, os_name)
            and (shape is None or gpu == (".GPU" in shape) or not gpu)
        ]
        descending = query.get("sortOrder", "DESC") == "DESC"
        return sorted(found, key=lambda image: image["timeCreated"], reverse=descending)


def decode_user_data(launch: dict[str, Any]) -> str:
    """The start-up script of a recorded launch."""
    return base64.b64decode(launch["body"]["metadata"]["user_data"]).decode()
