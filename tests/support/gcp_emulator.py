"""A small fake of the Compute Engine REST API (v1): the calls the GCP provider makes.

It serves, under ``/compute/v1/projects/{project}/zones/{zone}/``:

- ``instances`` POST (insert), GET (list, ``maxResults``), ``instances/{name}`` GET and DELETE;
- ``operations`` GET (list, with the ``operationType="..."`` filter), ``operations/{name}``
  GET and ``operations/{name}/wait`` POST (blocks until the operation is DONE or
  ``wait_max_s`` passes, as the real call does for up to two minutes).

Bodies are the JSON the ``google-cloud-compute`` REST transport sends and parses: every
inserted instance is parsed with ``compute_v1.Instance.from_json`` (unknown fields refused,
as the real API refuses them) and checked with the API's own rules (name, labels, machine type
in the URL's zone, one boot disk, GPUs only with ``onHostMaintenance = TERMINATE``).
Point the SDK at it with ``client_options={"api_endpoint": emulator.url}`` and
``AnonymousCredentials``, or the provider with ``STRATO_GCP_ENDPOINT=emulator.url``.

Time moves as on GCP, only faster: an insert answers with a RUNNING operation that is DONE
after ``operation_s``; the instance is PROVISIONING, then STAGING, then RUNNING ``boot_s``
after the insert; a delete makes it STOPPING and removes it after ``delete_s``.
:meth:`GCPEmulator.preempt` takes a Spot VM back as GCP does: a DONE
``compute.instances.preempted`` zone operation, then the instance TERMINATED, or gone when its
``instanceTerminationAction`` is DELETE.

Refusals (:meth:`GCPEmulator.refuse`, optionally only in some regions or one zone, a number
of times), with the real payloads (sources: GCP's Compute error docs as quoted in SkyPilot's
failover handler and in public issue reports of ``gcloud``/client-library output):

================  =====================================================================
kind              what the insert gets
================  =====================================================================
capacity          operation error ``ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS`` "The zone
                  'projects/P/zones/Z' does not have enough resources available to fulfill
                  the request.  '(resource type:compute)'.", with errorInfo
                  ``resource_availability``; httpErrorStatusCode 503 SERVICE UNAVAILABLE
capacity_plain    operation error ``ZONE_RESOURCE_POOL_EXHAUSTED`` "... Try a different zone,
                  or try again later."; 503
quota             operation error ``QUOTA_EXCEEDED`` "Quota 'NVIDIA_T4_GPUS' exceeded.
                  Limit: 0.0 in region R." with quotaInfo; httpErrorStatusCode 403 FORBIDDEN
quota_http        HTTP 403, errors[].reason ``quotaExceeded`` (domain usageLimits),
                  "Quota 'CPUS' exceeded.  Limit: 24.0 in region R."
rate_limit        HTTP 403, reason ``rateLimitExceeded`` "Quota exceeded for quota metric
                  'Queries' and limit 'Queries per minute' of service
                  'compute.googleapis.com' ..." (throttling, not quota)
server_error      HTTP 503, reason ``backendError`` "Internal error. Please try again or
                  contact Google Support. (Code: '...')"
auth              HTTP 401 UNAUTHENTICATED, reason ``required``, ErrorInfo
                  ``CREDENTIALS_MISSING`` (every call, not only inserts)
permission        HTTP 403, reason ``forbidden`` "Required 'compute.instances.create'
                  permission for 'projects/P/zones/Z/instances/N'"
not_ready         operation error ``RESOURCE_NOT_READY``; httpErrorStatusCode 400
================  =====================================================================

Machine types can be made absent from a zone (:meth:`GCPEmulator.lack`): the insert is then
the real 400 "Invalid value for field 'resource.machineType': '...'. Machine type with name
'...' does not exist in zone '...'.".
"""

from __future__ import annotations

import datetime
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from support.fake_service import FakeHandler, FakeService

API = "https://www.googleapis.com/compute/v1"
_PREFIX = re.compile(
    r"^/compute/v1/projects/(?P<project>[^/]+)/zones/(?P<zone>[^/]+)/(?P<rest>.*)$"
)
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_FILTER = re.compile(r'^\s*\(?\s*operationType\s*=\s*"?([A-Za-z0-9_.]+)"?\s*\)?\s*$')

#: kinds refused on every call (credentials), not only on inserts
_EVERY_CALL = frozenset({"auth"})
_OPERATION_KINDS = frozenset({"capacity", "capacity_plain", "quota", "not_ready"})
_HTTP_KINDS = frozenset({"quota_http", "rate_limit", "server_error", "auth", "permission"})
KINDS = _OPERATION_KINDS | _HTTP_KINDS


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).astimezone().isoformat(timespec="milliseconds")


def region_of(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


class ApiError(Exception):
    """An HTTP error in Google's JSON shape."""

    def __init__(
        self,
        status: int,
        message: str,
        reason: str,
        domain: str = "global",
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": domain, "reason": reason}],
                **(extra or {}),
            }
        }


@dataclass
class Refusal:
    kind: str
    regions: frozenset[str] | None
    zone: str | None
    times: int | None
    operations: frozenset[str]

    def matches(self, operation: str, zone: str) -> bool:
        if operation not in self.operations or self.times == 0:
            return False
        if self.zone is not None and zone != self.zone:
            return False
        return self.regions is None or region_of(zone) in self.regions


@dataclass
class _Instance:
    project: str
    zone: str
    name: str
    id: str
    body: dict[str, Any]
    created: float
    boot_s: float
    status: str | None = None  # forced (STOPPING, TERMINATED, ...); None: by the clock

    def current_status(self, now: float) -> str:
        if self.status is not None:
            return self.status
        age = now - self.created
        if age < self.boot_s / 2:
            return "PROVISIONING"
        if age < self.boot_s:
            return "STAGING"
        return "RUNNING"


@dataclass
class _Operation:
    project: str
    zone: str
    body: dict[str, Any]
    done_at: float
    on_done: Callable[[], None] | None = None
    error: dict[str, Any] | None = None
    http_error: tuple[int, str] | None = None
    finished: bool = False


class _Handler(FakeHandler):
    emulator: GCPEmulator

    def _serve(self) -> None:
        status, payload = self.emulator.handle(self.command, self.path, self.read_body())
        data = json.dumps(payload).encode()
        self.respond(status, {"Content-Type": "application/json; charset=UTF-8"}, data)

    do_GET = do_POST = do_DELETE = _serve


@dataclass
class GCPEmulator(FakeService):
    """The fake Compute API; ``with GCPEmulator() as emulator:`` serves on 127.0.0.1."""

    handler = _Handler

    operation_s: float = 0.05
    boot_s: float = 0.3
    delete_s: float = 0.05
    wait_max_s: float = 2.0
    #: every request as (method, path, query, body-or-None), in order
    requests: list[tuple[str, str, dict[str, list[str]], Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self._instances: dict[tuple[str, str, str], _Instance] = {}
        self._operations: dict[tuple[str, str, str], _Operation] = {}
        self._refusals: list[Refusal] = []
        self._missing: dict[str, set[str]] = {}

    # -- test controls ---------------------------------------------------------------------------
    def refuse(
        self,
        kind: str,
        region: str | Iterable[str] | None = None,
        *,
        zone: str | None = None,
        times: int | None = None,
        operation: str | Iterable[str] | None = None,
    ) -> Callable[[], None]:
        """Refuse inserts (every call for ``auth``) the way GCP does; returns an undo."""
        if kind not in KINDS:
            raise ValueError(f"unknown refusal {kind!r}; known: {', '.join(sorted(KINDS))}")
        regions = (
            None if region is None else frozenset([region] if isinstance(region, str) else region)
        )
        if operation is None:
            operations = (
                frozenset({"insert", "get", "list", "delete", "operations"})
                if kind in _EVERY_CALL
                else frozenset({"insert"})
            )
        else:
            operations = frozenset([operation] if isinstance(operation, str) else operation)
        refusal = Refusal(kind, regions, zone, times, operations)
        with self._lock:
            self._refusals.append(refusal)

        def undo() -> None:
            with self._lock:
                if refusal in self._refusals:
                    self._refusals.remove(refusal)

        return undo

    def clear_refusals(self) -> None:
        with self._lock:
            self._refusals.clear()

    def lack(self, zone: str, machine_type: str) -> None:
        """Make ``machine_type`` absent from ``zone`` (its inserts get the real 400)."""
        with self._lock:
            self._missing.setdefault(zone, set()).add(machine_type)

    def preempt(self, name: str, action: str | None = None) -> dict[str, Any]:
        """GCP takes a Spot VM back: a preempted operation, then the instance deleted or
        TERMINATED as its ``instanceTerminationAction`` (or ``action``) says."""
        with self._lock:
            instance = self._find(name)
            scheduling = instance.body.get("scheduling", {})
            action = action or scheduling.get("instanceTerminationAction", "STOP")
            if scheduling.get("provisioningModel") != "SPOT" and not scheduling.get("preemptible"):
                raise ValueError(f"{name} is not a Spot VM")
            op = self._new_operation(
                instance.project, instance.zone, "compute.instances.preempted", instance, 0.0
            )
            op.body.update(user="system", statusMessage="Instance was preempted.")
            self._finish(op)
            if action == "DELETE":
                self._instances.pop((instance.project, instance.zone, instance.name), None)
            else:
                instance.status = "TERMINATED"
            return dict(op.body)

    def set_status(self, name: str, status: str) -> None:
        """Force an instance's status (host maintenance, a stop from the console, ...)."""
        with self._lock:
            self._find(name).status = status

    def instance(self, name: str) -> dict[str, Any] | None:
        """An instance's JSON as ``instances.get`` returns it, or None."""
        with self._lock:
            self._advance()
            try:
                return self._instance_json(self._find(name))
            except KeyError:
                return None

    def operations(self, zone: str | None = None) -> list[dict[str, Any]]:
        """Every operation's JSON as ``zoneOperations.get`` returns it (optionally one zone's)."""
        with self._lock:
            self._advance()
            return [dict(op.body) for op in self._operations.values() if zone in (None, op.zone)]

    def inserted(self) -> list[dict[str, Any]]:
        """The bodies of every insert request received, in order."""
        return [
            body
            for method, path, _, body in self.requests
            if method == "POST" and path.endswith("/instances")
        ]

    # -- state ----------------------------------------------------------------------------------
    def _find(self, name: str) -> _Instance:
        for (_, _, instance_name), instance in self._instances.items():
            if instance_name == name:
                return instance
        raise KeyError(name)

    def _advance(self) -> None:
        now = time.monotonic()
        for op in list(self._operations.values()):
            if not op.finished and op.done_at <= now:
                self._finish(op)

    def _finish(self, op: _Operation) -> None:
        op.finished = True
        op.body.update(status="DONE", progress=100, endTime=_now())
        if op.error is not None:
            op.body["error"] = op.error
        if op.http_error is not None:
            op.body["httpErrorStatusCode"], op.body["httpErrorMessage"] = op.http_error
        if op.on_done is not None:
            op.on_done()

    def _new_operation(
        self, project: str, zone: str, op_type: str, instance: _Instance, delay: float
    ) -> _Operation:
        name = f"operation-{int(time.time() * 1000)}-{secrets.token_hex(6)}-{secrets.token_hex(4)}"
        zone_url = f"{API}/projects/{project}/zones/{zone}"
        body = {
            "kind": "compute#operation",
            "id": str(secrets.randbits(63)),
            "name": name,
            "zone": zone_url,
            "operationType": op_type,
            "targetLink": f"{zone_url}/instances/{instance.name}",
            "targetId": instance.id,
            "status": "RUNNING",
            "user": "strato-tests@example.iam.gserviceaccount.com",
            "progress": 0,
            "insertTime": _now(),
            "startTime": _now(),
            "selfLink": f"{zone_url}/operations/{name}",
        }
        op = _Operation(project, zone, body, time.monotonic() + delay)
        self._operations[(project, zone, name)] = op
        return op

    def _instance_json(self, instance: _Instance) -> dict[str, Any]:
        body = json.loads(json.dumps(instance.body))
        body["status"] = instance.current_status(time.monotonic())
        return body

    # -- requests ------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, body: bytes) -> tuple[int, Any]:
        url = urlsplit(raw_path)
        query = parse_qs(url.query)
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = body.decode(errors="replace")
        with self._lock:
            self.requests.append((method, url.path, query, parsed))
            self._advance()
        try:
            match = _PREFIX.match(url.path)
            if match is None:
                raise ApiError(
                    404, f"The requested URL {url.path} was not found on this server.", "notFound"
                )
            project, zone, rest = match["project"], match["zone"], match["rest"]
            if not _ZONE.match(zone):
                raise ApiError(
                    400, f"Invalid value for field 'zone': '{zone}'. Unknown zone.", "invalid"
                )
            return self._route(method, project, zone, rest, query, body)
        except ApiError as exc:
            return exc.status, exc.body

    def _route(
        self,
        method: str,
        project: str,
        zone: str,
        rest: str,
        query: dict[str, list[str]],
        body: bytes,
    ) -> tuple[int, Any]:
        parts = rest.split("/")
        if parts == ["instances"] and method == "POST":
            return self._insert(project, zone, body)
        if parts == ["instances"] and method == "GET":
            self._check("list", zone, project)
            return 200, self._list_instances(project, zone, query)
        if len(parts) == 2 and parts[0] == "instances" and method == "GET":
            self._check("get", zone, project)
            with self._lock:
                return 200, self._instance_json(self._get(project, zone, parts[1]))
        if len(parts) == 2 and parts[0] == "instances" and method == "DELETE":
            self._check("delete", zone, project)
            return 200, self._delete(project, zone, parts[1])
        if parts == ["operations"] and method == "GET":
            self._check("operations", zone, project)
            return 200, self._list_operations(project, zone, query)
        if len(parts) == 2 and parts[0] == "operations" and method == "GET":
            self._check("operations", zone, project)
            with self._lock:
                return 200, dict(self._operation(project, zone, parts[1]).body)
        if len(parts) == 3 and parts[0] == "operations" and parts[2] == "wait" and method == "POST":
            self._check("operations", zone, project)
            return 200, self._wait(project, zone, parts[1])
        raise ApiError(404, f"The requested URL /{rest} was not found on this server.", "notFound")

    def _get(self, project: str, zone: str, name: str) -> _Instance:
        try:
            return self._instances[(project, zone, name)]
        except KeyError:
            raise ApiError(
                404,
                f"The resource 'projects/{project}/zones/{zone}/instances/{name}' was not found",
                "notFound",
            ) from None

    def _operation(self, project: str, zone: str, name: str) -> _Operation:
        try:
            return self._operations[(project, zone, name)]
        except KeyError:
            raise ApiError(
                404,
                f"The resource 'projects/{project}/zones/{zone}/operations/{name}' was not found",
                "notFound",
            ) from None

    def _refusal(self, operation: str, zone: str) -> Refusal | None:
        with self._lock:
            for refusal in self._refusals:
                if refusal.matches(operation, zone):
                    if refusal.times is not None:
                        refusal.times -= 1
                    return refusal
        return None

    def _check(self, operation: str, zone: str, project: str, name: str = "") -> Refusal | None:
        """Raise a synchronous refusal for this call; return an operation refusal to apply."""
        refusal = self._refusal(operation, zone)
        if refusal is None:
            return None
        kind = refusal.kind
        if kind == "auth":
            message = (
                "Request is missing required authentication credential. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project."
            )
            error = ApiError(
                401, "Login Required.", "required", extra={"status": "UNAUTHENTICATED"}
            )
            error.body["error"]["message"] = message
            error.body["error"]["errors"][0].update(location="Authorization", locationType="header")
            error.body["error"]["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "CREDENTIALS_MISSING",
                    "domain": "googleapis.com",
                    "metadata": {
                        "service": "compute.googleapis.com",
                        "method": "compute.v1.InstancesService.Insert",
                    },
                }
            ]
            raise error
        if kind == "permission":
            raise ApiError(
                403,
                "Required 'compute.instances.create' permission for "
                f"'projects/{project}/zones/{zone}/instances/{name}'",
                "forbidden",
            )
        if kind == "quota_http":
            raise ApiError(
                403,
                f"Quota 'CPUS' exceeded.  Limit: 24.0 in region {region_of(zone)}.",
                "quotaExceeded",
                "usageLimits",
            )
        if kind == "rate_limit":
            raise ApiError(
                403,
                "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of "
                "service 'compute.googleapis.com' for consumer 'project_number:123456789012'.",
                "rateLimitExceeded",
                "usageLimits",
            )
        if kind == "server_error":
            code = secrets.token_hex(7).upper()
            raise ApiError(
                503,
                f"Internal error. Please try again or contact Google Support. (Code: '{code}')",
                "backendError",
            )
        return refusal

    # -- instances -----------------------------------------------------------------------------
    def _insert(self, project: str, zone: str, raw: bytes) -> tuple[int, Any]:
        body = self._validated(zone, raw)
        refusal = self._check("insert", zone, project, body["name"])
        with self._lock:
            key = (project, zone, body["name"])
            if key in self._instances:
                raise ApiError(
                    409,
                    f"The resource 'projects/{project}/zones/{zone}/instances/{body['name']}' "
                    "already exists",
                    "alreadyExists",
                )
            instance = _Instance(
                project,
                zone,
                body["name"],
                str(secrets.randbits(63)),
                {},
                time.monotonic(),
                self.boot_s,
            )
            instance.body = self._server_fields(project, zone, instance, body)
            self._instances[key] = instance
            op = self._new_operation(project, zone, "insert", instance, self.operation_s)
            if refusal is not None:
                op.error, op.http_error = self._operation_error(refusal.kind, project, zone, body)
                op.on_done = lambda: self._instances.pop(key, None)
            return 200, dict(op.body)

    def _validated(self, zone: str, raw: bytes) -> dict[str, Any]:
        from google.cloud import compute_v1

        try:
            compute_v1.Instance.from_json(raw.decode() or "{}", ignore_unknown_fields=False)
            body: dict[str, Any] = json.loads(raw or b"{}")
        except Exception as exc:  # noqa: BLE001 - any parse failure is the API's 400
            raise ApiError(400, f"Invalid JSON payload received. {exc}", "invalid") from None

        def invalid(path: str, value: Any, why: str) -> ApiError:
            return ApiError(400, f"Invalid value for field '{path}': '{value}'. {why}", "invalid")

        name = body.get("name", "")
        if not _NAME.match(name):
            raise invalid(
                "resource.name",
                name,
                "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'",
            )
        machine_type = body.get("machineType", "")
        mt = re.match(r"^(?:.*/)?zones/([^/]+)/machineTypes/([a-z0-9-]+)$", machine_type)
        if mt is None or mt[1] != zone or mt[2] in self._missing.get(zone, set()):
            type_name = machine_type.rsplit("/", 1)[-1]
            raise invalid(
                "resource.machineType",
                machine_type,
                f"Machine type with name '{type_name}' does not exist in zone '{zone}'.",
            )
        labels = body.get("labels", {})
        for key, value in labels.items():
            if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
                raise invalid(
                    f"resource.labels.{key}", value, "Label keys and values must be lowercase."
                )
        items = body.get("metadata", {}).get("items", [])
        keys = [item.get("key") for item in items]
        if len(keys) != len(set(keys)):
            raise invalid("resource.metadata", keys, "Duplicate metadata key.")
        boots = [d for d in body.get("disks", []) if d.get("boot")]
        if len(boots) != 1 or not boots[0].get("initializeParams", {}).get("sourceImage"):
            raise invalid(
                "resource.disks",
                body.get("disks"),
                "Exactly one boot disk with a source image is required.",
            )
        if not body.get("networkInterfaces"):
            raise invalid(
                "resource.networkInterfaces", [], "At least one network interface is required."
            )
        scheduling = body.get("scheduling", {})
        if body.get("guestAccelerators") and scheduling.get("onHostMaintenance") != "TERMINATE":
            raise ApiError(
                400,
                "Invalid resource usage: "
                "'Instances with guest accelerators do not support live migration.'.",
                "invalidResourceUsage",
            )
        for accelerator in body.get("guestAccelerators", []):
            at = re.match(
                r"^(?:.*/)?zones/([^/]+)/acceleratorTypes/[a-z0-9-]+$",
                accelerator.get("acceleratorType", ""),
            )
            if at is None or at[1] != zone:
                raise invalid(
                    "resource.guestAccelerators[0].acceleratorType",
                    accelerator.get("acceleratorType"),
                    "",
                )
        if (
            scheduling.get("provisioningModel") == "SPOT"
            and scheduling.get("automaticRestart") is True
        ):
            raise invalid(
                "resource.scheduling.automaticRestart",
                True,
                "Spot VMs cannot restart automatically.",
            )
        return body

    def _server_fields(
        self, project: str, zone: str, instance: _Instance, body: dict[str, Any]
    ) -> dict[str, Any]:
        zone_url = f"{API}/projects/{project}/zones/{zone}"
        out = json.loads(json.dumps(body))
        machine_type = body["machineType"].rsplit("/", 1)[-1]
        out.update(
            kind="compute#instance",
            id=instance.id,
            creationTimestamp=_now(),
            zone=zone_url,
            machineType=f"{zone_url}/machineTypes/{machine_type}",
            selfLink=f"{zone_url}/instances/{instance.name}",
            cpuPlatform="Intel Cascade Lake",
            labelFingerprint=secrets.token_urlsafe(8),
            fingerprint=secrets.token_urlsafe(8),
            startRestricted=False,
            deletionProtection=False,
        )
        scheduling = out.setdefault("scheduling", {})
        if scheduling.get("provisioningModel") == "SPOT":
            scheduling["preemptible"] = True
        scheduling.setdefault("onHostMaintenance", "MIGRATE")
        scheduling.setdefault("automaticRestart", True)
        out.setdefault("metadata", {}).update(
            kind="compute#metadata", fingerprint=secrets.token_urlsafe(8)
        )
        for accelerator in out.get("guestAccelerators", []):
            accelerator["acceleratorType"] = (
                f"{zone_url}/acceleratorTypes/" + accelerator["acceleratorType"].rsplit("/", 1)[-1]
            )
        for index, disk in enumerate(out.get("disks", [])):
            disk.update(
                kind="compute#attachedDisk",
                index=index,
                deviceName="persistent-disk-0",
                mode="READ_WRITE",
                source=f"{zone_url}/disks/{instance.name}",
            )
            disk.pop("initializeParams", None)
        for index, nic in enumerate(out.get("networkInterfaces", [])):
            nic.update(
                kind="compute#networkInterface",
                name=f"nic{index}",
                networkIP=f"10.128.0.{index + 2}",
            )
            network = nic.get("network", "global/networks/default").rsplit("/", 1)[-1]
            nic["network"] = f"{API}/projects/{project}/global/networks/{network}"
            for access in nic.get("accessConfigs", []):
                access.update(
                    kind="compute#accessConfig", natIP="203.0.113.7", networkTier="PREMIUM"
                )
        return out

    def _list_instances(
        self, project: str, zone: str, query: dict[str, list[str]]
    ) -> dict[str, Any]:
        with self._lock:
            items = [
                self._instance_json(i)
                for (p, z, _), i in self._instances.items()
                if (p, z) == (project, zone)
            ]
        limit = int(query.get("maxResults", ["500"])[0])
        result: dict[str, Any] = {
            "kind": "compute#instanceList",
            "id": f"projects/{project}/zones/{zone}/instances",
            "selfLink": f"{API}/projects/{project}/zones/{zone}/instances",
        }
        if items:
            result["items"] = items[:limit]
        return result

    def _delete(self, project: str, zone: str, name: str) -> dict[str, Any]:
        with self._lock:
            instance = self._get(project, zone, name)
            pending = [
                op
                for op in self._operations.values()
                if op.body["operationType"] == "delete"
                and op.body["targetId"] == instance.id
                and not op.finished
            ]
            instance.status = "STOPPING"
            op = self._new_operation(project, zone, "delete", instance, self.delete_s)
            if pending:
                op.done_at = pending[0].done_at
            key = (project, zone, name)
            op.on_done = lambda: (
                self._instances.pop(key, None) if self._instances.get(key) is instance else None
            )
            return dict(op.body)

    # -- operations ----------------------------------------------------------------------------
    def _operation_error(
        self, kind: str, project: str, zone: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any], tuple[int, str]]:
        machine_type = body["machineType"].rsplit("/", 1)[-1]
        region = region_of(zone)
        if kind == "capacity":
            error = {
                "code": "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
                "message": f"The zone 'projects/{project}/zones/{zone}' does not have enough "
                "resources available to fulfill the request.  '(resource type:compute)'.",
                "errorDetails": [
                    {
                        "errorInfo": {
                            "reason": "resource_availability",
                            "domain": "compute.googleapis.com",
                            "metadatas": {
                                "zone": zone,
                                "vmType": machine_type,
                                "attachment": "",
                                "zonesAvailable": "",
                            },
                        }
                    },
                    {
                        "help": {
                            "links": [
                                {
                                    "description": "Troubleshooting documentation",
                                    "url": "https://cloud.google.com/compute/docs/resource-error",
                                }
                            ]
                        }
                    },
                    {
                        "localizedMessage": {
                            "locale": "en-US",
                            "message": f"A {machine_type} VM instance is currently unavailable "
                            f"in the {zone} zone. Alternatively, you can try your request again "
                            "with a different VM hardware configuration or at a later time. For "
                            "more information, see the troubleshooting documentation.",
                        }
                    },
                ],
            }
            return {"errors": [error]}, (503, "SERVICE UNAVAILABLE")
        if kind == "capacity_plain":
            error = {
                "code": "ZONE_RESOURCE_POOL_EXHAUSTED",
                "message": f"The zone 'projects/{project}/zones/{zone}' does not have enough "
                "resources available to fulfill the request. Try a different zone, or try again "
                "later.",
            }
            return {"errors": [error]}, (503, "SERVICE UNAVAILABLE")
        if kind == "quota":
            accelerators = body.get("guestAccelerators") or []
            gpu = (
                accelerators[0]["acceleratorType"].rsplit("/", 1)[-1]
                if accelerators
                else "nvidia-tesla-t4"
            )
            metric = gpu.removeprefix("nvidia-").removeprefix("tesla-").upper().replace("-", "_")
            error = {
                "code": "QUOTA_EXCEEDED",
                "message": f"Quota 'NVIDIA_{metric}_GPUS' exceeded.  Limit: 0.0 in region "
                f"{region}.",
                "errorDetails": [
                    {
                        "quotaInfo": {
                            "metricName": f"compute.googleapis.com/nvidia_{metric.lower()}_gpus",
                            "limitName": f"NVIDIA-{metric.replace('_', '-')}-GPUS-per-"
                            "project-region",
                            "dimensions": {"region": region},
                            "limit": 0,
                        }
                    }
                ],
            }
            return {"errors": [error]}, (403, "FORBIDDEN")
        if kind == "not_ready":
            error = {
                "code": "RESOURCE_NOT_READY",
                "message": f"The resource 'projects/{project}/zones/{zone}/disks/{body['name']}' "
                "is not ready",
            }
            return {"errors": [error]}, (400, "BAD REQUEST")
        raise AssertionError(kind)

    def _list_operations(
        self, project: str, zone: str, query: dict[str, list[str]]
    ) -> dict[str, Any]:
        wanted: str | None = None
        if query.get("filter"):
            match = _FILTER.match(query["filter"][0])
            if match is None:
                raise ApiError(
                    400,
                    f"Invalid value for field 'filter': '{query['filter'][0]}'. "
                    "Invalid list filter expression.",
                    "invalid",
                )
            wanted = match[1]
        with self._lock:
            items = [
                dict(op.body)
                for op in self._operations.values()
                if (op.project, op.zone) == (project, zone)
                and wanted in (None, op.body["operationType"])
            ]
        result: dict[str, Any] = {
            "kind": "compute#operationList",
            "id": f"projects/{project}/zones/{zone}/operations",
            "selfLink": f"{API}/projects/{project}/zones/{zone}/operations",
        }
        if items:
            result["items"] = items
        return result

    def _wait(self, project: str, zone: str, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.wait_max_s
        while True:
            with self._lock:
                self._advance()
                op = self._operation(project, zone, name)
                if op.finished or time.monotonic() >= deadline:
                    return dict(op.body)
                sleep = max(0.0, min(op.done_at, deadline) - time.monotonic())
            time.sleep(min(sleep, 0.05) or 0.005)
