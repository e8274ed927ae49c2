"""A small fake of Azure Resource Manager: exactly what the Azure provider calls.

It speaks the REST shapes of the real service (paths, ``api-version``, camelCase bodies,
``Azure-AsyncOperation`` long-running operations, ARM error bodies) so that the official SDK
(azure-mgmt-compute, azure-mgmt-network) runs against it unchanged:

- ``Microsoft.Compute/virtualMachines``: PUT (201 + ``Azure-AsyncOperation``; the operation
  succeeds, or fails with an allocation error, after :attr:`AzureEmulator.delay` seconds),
  GET, GET ``instanceView``, DELETE (202 + operation; 204 when already gone; the NIC, its
  public IP and the OS disk go with the VM when their ``deleteOption`` is ``Delete``), list,
  and POST ``simulateEviction`` (a Spot VM is deleted or deallocated, per its eviction policy);
- ``Microsoft.Network``: ``virtualNetworks`` (PUT, GET, GET ``subnets/<name>``),
  ``networkInterfaces`` and ``publicIPAddresses`` (PUT, GET, DELETE; refused with ``NicInUse``
  / ``PublicIPAddressCannotBeDeleted`` while still attached, as Azure does);
- ``.../providers/Microsoft.{Compute,Network}/locations/<region>/operations/<id>``: the status
  of a long-running operation (``InProgress``, ``Succeeded``, or ``Failed`` with an ``error``).

Every request needs ``Authorization: Bearer ...`` and ``api-version``. :meth:`refuse` injects
the errors the real service returns (see :data:`REFUSALS`), optionally only in some regions or
zones; :meth:`evict` plays a Spot eviction.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from support.fake_service import FakeHandler, FakeService

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
RESOURCE_GROUP = "strato"

_QUOTA_URL = (
    "https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView/"
    "Parameters/%7B%22subscriptionId%22:%22{sub}%22,%22command%22:%22openQuotaApprovalBlade%22"
    "%7D"
)

#: kind -> (how it is reported, HTTP status, ARM code, message template). "sync" is the body of
#: the PUT itself; "async" is the Failed status of the Azure-AsyncOperation. Shapes and wording
#: are the real service's (see tests/clouds/test_azure_provider.py for the sources).
REFUSALS: dict[str, tuple[str, int, str, str]] = {
    "capacity": (
        "async",
        200,
        "AllocationFailed",
        "Allocation failed. We do not have sufficient capacity for the requested VM size in "
        "this region. Read more about improving likelihood of allocation success at "
        "http://aka.ms/allocation-guidance",
    ),
    "zonal_capacity": (
        "async",
        200,
        "ZonalAllocationFailed",
        "Allocation failed. We do not have sufficient capacity for the requested VM size in "
        "this zone. Read more about improving likelihood of allocation success at "
        "http://aka.ms/allocation-guidance",
    ),
    "overconstrained": (
        "async",
        200,
        "OverconstrainedAllocationRequest",
        "Allocation failed. VM(s) with the following constraints cannot be allocated, because "
        "the condition is too restrictive. Please remove some constraints and try again. "
        "Constraints applied are: - VM Size",
    ),
    "sku_not_available": (
        "sync",
        409,
        "SkuNotAvailable",
        "The requested VM size for resource 'Following SKUs have failed for Capacity "
        "Restrictions: {size}' is currently not available in location '{location}'. Please try "
        "another size or deploy to a different location or different zone. See "
        "https://aka.ms/azureskunotavailable for details.",
    ),
    "quota": (
        "sync",
        409,
        "OperationNotAllowed",
        "Operation could not be completed as it results in exceeding approved {family} quota. "
        "Additional details - Deployment Model: Resource Manager, Location: {location}, "
        "Current Limit: 0, Current Usage: 0, Additional Required: 4, (Minimum) New Limit "
        "Required: 4. Submit a request for Quota increase at " + _QUOTA_URL + " by specifying "
        "parameters listed in the 'Details' section for deployment to succeed. Please read "
        "more about quota limits at https://docs.microsoft.com/en-us/azure/azure-supportability"
        "/per-vm-quota-requests",
    ),
    "quota_exceeded": (
        "sync",
        409,
        "QuotaExceeded",
        "Operation results in exceeding quota limits of Core. Maximum allowed: 10, Current in "
        "use: 8, Additional requested: 4. Please read more about quota increase at "
        "https://aka.ms/ProdportalCRP/?#create/Microsoft.Support/Parameters/.",
    ),
    "server_error": (
        "sync",
        500,
        "InternalExecutionError",
        "An internal execution error occurred. Please retry later.",
    ),
    "async_server_error": (
        "async",
        200,
        "InternalExecutionError",
        "An internal execution error occurred. Please retry later.",
    ),
    "forbidden": (
        "sync",
        403,
        "AuthorizationFailed",
        "The client '{client}' with object id '{client}' does not have authorization to "
        "perform action 'Microsoft.Compute/virtualMachines/write' over scope '{scope}' or the "
        "scope is invalid. If access was recently granted, please refresh your credentials.",
    ),
    "auth": ("sync", 401, "InvalidAuthenticationToken", "The access token is invalid."),
}


@dataclass
class Refusal:
    kind: str
    region: str | None = None
    zone: str | None = None
    #: how many more requests it refuses (None: until cleared)
    remaining: int | None = None

    def matches(self, region: str, zones: list[str]) -> bool:
        if self.region is not None and self.region.lower() != region.lower():
            return False
        return self.zone is None or self.zone in zones


@dataclass
class Operation:
    id: str
    kind: str  # "create", "delete", "network"
    target: tuple[str, str]  # (resource group, name), lower case
    due: float  # time.monotonic() when it finishes
    error: dict[str, Any] | None = None
    done: bool = False
    status: str = "InProgress"
    ended: float | None = None


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.0000000+00:00", time.gmtime())


class _Handler(FakeHandler):
    emulator: AzureEmulator

    def _serve(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.emulator.handle(self.command, self.path, headers, self.read_body())
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        out = {**response.headers, "x-ms-request-id": str(uuid.uuid4())}
        if payload:
            out["Content-Type"] = "application/json; charset=utf-8"
        self.respond(response.status, out, payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve


class AzureEmulator(FakeService):
    """The fake service; :meth:`start` serves it on 127.0.0.1 at a free port."""

    handler = _Handler

    def __init__(
        self,
        subscription_id: str = SUBSCRIPTION,
        resource_groups: tuple[str, ...] = (RESOURCE_GROUP,),
        delay: float = 0.15,
    ) -> None:
        super().__init__()
        self.subscription_id = subscription_id
        self.resource_groups = {rg.lower() for rg in resource_groups}
        self.delay = delay
        self.vms: dict[tuple[str, str], dict[str, Any]] = {}
        self.vm_requests: dict[str, dict[str, Any]] = {}
        self.custom_data: dict[str, str] = {}
        self.disks: dict[tuple[str, str], dict[str, Any]] = {}
        self.network: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.operations: dict[str, Operation] = {}
        self.refusals: list[Refusal] = []
        self.requests: list[tuple[str, str]] = []
        self.evicted: set[str] = set()

    # -- fault injection -----------------------------------------------------------------------
    def refuse(
        self,
        kind: str,
        region: str | None = None,
        zone: str | None = None,
        times: int | None = None,
    ) -> Refusal:
        """Refuse VM creation the way Azure does for ``kind`` (a key of :data:`REFUSALS`),
        only in ``region`` / ``zone`` when given, ``times`` times (None: until cleared)."""
        if kind not in REFUSALS:
            raise ValueError(f"unknown refusal {kind!r}; one of {sorted(REFUSALS)}")
        refusal = Refusal(kind, region, zone, times)
        with self._lock:
            self.refusals.append(refusal)
        return refusal

    def clear_refusals(self) -> None:
        with self._lock:
            self.refusals.clear()

    def evict(self, vm_name: str, resource_group: str = RESOURCE_GROUP) -> None:
        """Play Azure taking a Spot VM back (what ``simulateEviction`` does)."""
        with self._lock:
            self._evict(resource_group.lower(), vm_name.lower())

    def resources(self) -> list[str]:
        """Ids of every resource that exists now (VMs, disks, NICs, IPs, VNets)."""
        with self._lock:
            self._tick()
            ids = [vm["id"] for vm in self.vms.values()]
            ids += [disk["id"] for disk in self.disks.values()]
            ids += [res["id"] for res in self.network.values()]
            return sorted(ids)

    # -- HTTP ----------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Response:
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        path = parts.path.rstrip("/")
        with self._lock:
            self.requests.append((method, path))
            try:
                self._tick()
                auth = headers.get("authorization", "")
                if not auth.lower().startswith("bearer ") or len(auth) <= len("bearer "):
                    raise ArmError(
                        401,
                        "AuthenticationFailed",
                        "Authentication failed. The 'Authorization' header is missing.",
                    )
                if any(r.kind == "auth" for r in self.refusals):
                    raise ArmError(401, *REFUSALS["auth"][2:])
                if not query.get("api-version"):
                    raise ArmError(
                        400,
                        "MissingApiVersionParameter",
                        "The api-version query parameter (?api-version=) is required for all "
                        "requests.",
                    )
                body = json.loads(raw) if raw else None
                return self._route(method, path, body, auth)
            except ArmError as exc:
                return Response(exc.status, {"error": {"code": exc.code, "message": exc.message}})

    def _route(self, method: str, path: str, body: Any, auth: str) -> Response:
        match = re.fullmatch(
            r"/subscriptions/([^/]+)/providers/microsoft\.(compute|network)/locations/([^/]+)"
            r"/operations/([^/]+)",
            path,
            re.IGNORECASE,
        )
        if match:
            self._check_subscription(match.group(1))
            return self._operation_status(match.group(4))
        match = re.fullmatch(
            r"/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/microsoft\.(compute|network)"
            r"/(.+)",
            path,
            re.IGNORECASE,
        )
        if not match:
            raise ArmError(404, "InvalidResourceType", f"No route for {method} {path}.")
        sub, rg, namespace, rest = match.groups()
        self._check_subscription(sub)
        if rg.lower() not in self.resource_groups:
            raise ArmError(
                404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found."
            )
        segments = rest.split("/")
        kind = segments[0].lower()
        if namespace.lower() == "compute" and kind == "virtualmachines":
            return self._vm_route(method, rg, segments[1:], body, auth)
        if namespace.lower() == "network" and kind in (
            "virtualnetworks",
            "networkinterfaces",
            "publicipaddresses",
        ):
            return self._network_route(method, rg, kind, segments[1:], body)
        raise ArmError(
            404,
            "InvalidResourceType",
            f"The resource type '{segments[0]}' could not be found in the namespace "
            f"'Microsoft.{namespace}'.",
        )

    def _check_subscription(self, sub: str) -> None:
        if sub.lower() != self.subscription_id.lower():
            raise ArmError(
                404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found."
            )

    def _base(self, rg: str) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{rg}/providers"

    def _start_operation(
        self,
        kind: str,
        rg: str,
        name: str,
        location: str,
        namespace: str,
        delay: float,
        error: dict[str, Any] | None = None,
    ) -> dict[str, str]:
        """Start a long-running operation; returns the headers announcing it."""
        op = Operation(
            uuid.uuid4().hex, kind, (rg.lower(), name.lower()), time.monotonic() + delay, error
        )
        self.operations[op.id] = op
        url = (
            f"{self.url}/subscriptions/{self.subscription_id}/providers/Microsoft.{namespace}"
            f"/locations/{location}/operations/{op.id}?p=emulated&api-version=2024-11-01"
        )
        return {"Azure-AsyncOperation": url}

    def _operation_status(self, op_id: str) -> Response:
        op = self.operations.get(op_id)
        if op is None:
            raise ArmError(404, "NotFound", f"The operation '{op_id}' was not found.")
        body: dict[str, Any] = {"startTime": _now(), "status": op.status, "name": op.id}
        if op.done:
            body["endTime"] = _now()
        if op.error is not None and op.done:
            body["error"] = op.error
        return Response(200, body)

    def _tick(self) -> None:
        """Finish every operation whose time has come."""
        now = time.monotonic()
        for op in self.operations.values():
            if op.done or now < op.due:
                continue
            op.done, op.ended = True, now
            op.status = "Failed" if op.error else "Succeeded"
            rg, name = op.target
            if op.kind == "create":
                vm = self.vms.get((rg, name))
                if vm is not None:
                    props = vm["properties"]
                    if op.error:
                        props["provisioningState"] = "Failed"
                        vm["_power"] = None
                        vm["_failure"] = op.error
                    else:
                        props["provisioningState"] = "Succeeded"
                        vm["_power"] = "running"
            elif op.kind == "delete":
                self._remove_vm(rg, name)

    # -- virtual machines ----------------------------------------------------------------------
    def _vm_route(
        self, method: str, rg: str, segments: list[str], body: Any, auth: str
    ) -> Response:
        if not segments:
            if method != "GET":
                raise ArmError(405, "MethodNotAllowed", f"{method} is not supported here.")
            items = [self._vm_view(vm) for (g, _), vm in self.vms.items() if g == rg.lower()]
            return Response(200, {"value": items})
        name = segments[0]
        key = (rg.lower(), name.lower())
        action = segments[1].lower() if len(segments) > 1 else None
        if method == "PUT" and action is None:
            return self._create_vm(rg, name, body, auth)
        vm = self.vms.get(key)
        if method == "DELETE" and action is None:
            if vm is None:
                return Response(204)
            return self._delete_vm(rg, name, vm)
        if vm is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Compute/virtualMachines/{name}' under resource group "
                f"'{rg}' was not found. For more details please go to "
                "https://aka.ms/ARMResourceNotFoundFix",
            )
        if method == "GET" and action is None:
            return Response(200, self._vm_view(vm))
        if method == "GET" and action == "instanceview":
            return Response(200, self._instance_view(vm))
        if method == "POST" and action == "simulateeviction":
            if vm["properties"].get("priority") != "Spot":
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    "Simulate eviction is only supported for Spot virtual machines.",
                )
            self._evict(*key)
            return Response(204)
        raise ArmError(405, "MethodNotAllowed", f"{method} {action} is not supported here.")

    def _create_vm(self, rg: str, name: str, body: Any, auth: str) -> Response:
        if not isinstance(body, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid.")
        location = body.get("location")
        props = body.get("properties") or {}
        size = (props.get("hardwareProfile") or {}).get("vmSize")
        if not location or not size:
            raise ArmError(
                400, "InvalidParameter", "Required parameter 'location' or 'vmSize' is missing."
            )
        vm_id = f"{self._base(rg)}/Microsoft.Compute/virtualMachines/{name}"
        self._validate_vm(vm_id, location, props)
        zones = list(body.get("zones") or [])
        refusal = self._take_refusal(location, zones)
        async_error = None
        if refusal is not None:
            how, status, code, template = REFUSALS[refusal.kind]
            if refusal.kind == "capacity" and zones:
                how, status, code, template = REFUSALS["zonal_capacity"]
            spot = props.get("priority") == "Spot"
            message = template.format(
                size=size,
                location=location,
                family="LowPriorityCores" if spot else "Total Regional Cores",
                client=auth[-12:],
                scope=vm_id,
                sub=self.subscription_id,
            )
            if how == "sync":
                raise ArmError(status, code, message)
            async_error = {"code": code, "message": message}
        key = (rg.lower(), name.lower())
        existed = key in self.vms
        self.vm_requests[name] = json.loads(json.dumps(body))
        os_profile = dict(props.get("osProfile") or {})
        custom = os_profile.pop("customData", None)
        if custom is not None:
            self.custom_data[name] = base64.b64decode(custom).decode()
        stored_props = json.loads(json.dumps(props))
        stored_props["osProfile"] = os_profile
        disk_name = f"{name}_OsDisk_1_{uuid.uuid4().hex}"
        disk_id = f"{self._base(rg)}/Microsoft.Compute/disks/{disk_name}"
        os_disk = stored_props.setdefault("storageProfile", {}).setdefault("osDisk", {})
        os_disk.update({"name": disk_name, "osType": "Linux"})
        os_disk.setdefault("managedDisk", {})["id"] = disk_id
        stored_props.update(
            {"vmId": str(uuid.uuid4()), "provisioningState": "Creating", "timeCreated": _now()}
        )
        vm = {
            "id": vm_id,
            "name": name,
            "type": "Microsoft.Compute/virtualMachines",
            "location": location,
            "tags": body.get("tags") or {},
            "properties": stored_props,
            "etag": '"1"',
            "_power": "starting",
        }
        if zones:
            vm["zones"] = zones
        self.vms[key] = vm
        self.disks[key] = {"id": disk_id, "name": disk_name}
        headers = self._start_operation(
            "create", rg, name, location, "Compute", self.delay, async_error
        )
        return Response(200 if existed else 201, self._vm_view(vm), headers)

    def _validate_vm(self, vm_id: str, location: str, props: dict[str, Any]) -> None:
        nics = (props.get("networkProfile") or {}).get("networkInterfaces") or []
        if not nics:
            raise ArmError(
                400,
                "InvalidParameter",
                "The virtual machine must have at least one network interface.",
            )
        for ref in nics:
            nic = self._network_by_id(ref.get("id", ""))
            if nic is None:
                raise ArmError(
                    400,
                    "InvalidResourceReference",
                    f"Resource {ref.get('id')} referenced by resource {vm_id} was not found. "
                    "Please make sure that the referenced resource exists, and that both "
                    "resources are in the same region.",
                )
            if nic["location"] != location:
                raise ArmError(
                    400,
                    "InvalidResourceReference",
                    f"Resource {ref.get('id')} referenced by resource {vm_id} was not found. "
                    "Please make sure that the referenced resource exists, and that both "
                    "resources are in the same region.",
                )
        os_profile = props.get("osProfile") or {}
        custom = os_profile.get("customData")
        if custom is not None:
            try:
                base64.b64decode(custom, validate=True)
            except (binascii.Error, ValueError):
                raise ArmError(
                    400, "InvalidParameter", "Custom data in OSProfile must be in Base64 encoding."
                ) from None
        linux = os_profile.get("linuxConfiguration") or {}
        if linux.get("disablePasswordAuthentication") and not (linux.get("ssh") or {}).get(
            "publicKeys"
        ):
            raise ArmError(
                400,
                "InvalidParameter",
                "Authentication using either SSH or by user name and password must be enabled "
                "in Linux profile.",
            )
        if props.get("evictionPolicy") and props.get("priority") not in ("Spot", "Low"):
            raise ArmError(
                400,
                "InvalidParameter",
                "Eviction policy can be set only on Virtual Machines with Spot priority.",
            )

    def _take_refusal(self, location: str, zones: list[str]) -> Refusal | None:
        for refusal in self.refusals:
            if refusal.kind == "auth" or not refusal.matches(location, zones):
                continue
            if refusal.remaining is not None:
                refusal.remaining -= 1
                if refusal.remaining <= 0:
                    self.refusals.remove(refusal)
            return refusal
        return None

    def _delete_vm(self, rg: str, name: str, vm: dict[str, Any]) -> Response:
        vm["properties"]["provisioningState"] = "Deleting"
        vm["_power"] = "deallocating"
        headers = self._start_operation("delete", rg, name, vm["location"], "Compute", self.delay)
        headers["Location"] = headers["Azure-AsyncOperation"]
        return Response(202, None, headers)

    def _evict(self, rg: str, name: str) -> None:
        vm = self.vms.get((rg, name))
        if vm is None:
            return
        self.evicted.add(vm["name"])
        if vm["properties"].get("evictionPolicy") == "Delete":
            self._delete_vm(rg, name, vm)
        else:
            vm["_power"] = "deallocated"

    def _remove_vm(self, rg: str, name: str) -> None:
        vm = self.vms.pop((rg, name), None)
        if vm is None:
            return
        props = vm["properties"]
        if (props.get("storageProfile", {}).get("osDisk", {}).get("deleteOption")) == "Delete":
            self.disks.pop((rg, name), None)
        for ref in props.get("networkProfile", {}).get("networkInterfaces", []):
            if (ref.get("properties") or {}).get("deleteOption") != "Delete":
                continue
            nic = self._network_by_id(ref["id"])
            if nic is None:
                continue
            self._drop_network(nic)
            for config in nic["properties"].get("ipConfigurations", []):
                ip_ref = (config.get("properties") or {}).get("publicIPAddress") or {}
                if (ip_ref.get("properties") or {}).get("deleteOption") == "Delete":
                    ip = self._network_by_id(ip_ref.get("id", ""))
                    if ip is not None:
                        self._drop_network(ip)

    def _vm_view(self, vm: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in vm.items() if not k.startswith("_")}

    def _instance_view(self, vm: dict[str, Any]) -> dict[str, Any]:
        state = vm["properties"]["provisioningState"]
        if state == "Failed":
            error = vm.get("_failure") or {}
            statuses = [
                {
                    "code": f"ProvisioningState/failed/{error.get('code', 'Unknown')}",
                    "level": "Error",
                    "displayStatus": "Provisioning failed",
                    "message": error.get("message", ""),
                    "time": _now(),
                }
            ]
        else:
            display = {"Creating": "Creating", "Succeeded": "Provisioning succeeded"}
            statuses = [
                {
                    "code": f"ProvisioningState/{state.lower()}",
                    "level": "Info",
                    "displayStatus": display.get(state, state),
                    "time": _now(),
                }
            ]
        power = vm.get("_power")
        if power:
            display_power = {"deallocated": "VM deallocated", "deallocating": "VM deallocating"}
            statuses.append(
                {
                    "code": f"PowerState/{power}",
                    "level": "Info",
                    "displayStatus": display_power.get(power, f"VM {power}"),
                }
            )
        return {
            "computerName": vm["properties"].get("osProfile", {}).get("computerName"),
            "osName": "ubuntu",
            "osVersion": "22.04",
            "hyperVGeneration": "V2",
            "statuses": statuses,
        }

    # -- network -------------------------------------------------------------------------------
    _TYPES = {
        "virtualnetworks": "virtualNetworks",
        "networkinterfaces": "networkInterfaces",
        "publicipaddresses": "publicIPAddresses",
    }

    def _network_by_id(self, resource_id: str) -> dict[str, Any] | None:
        match = re.fullmatch(
            r"/subscriptions/[^/]+/resourcegroups/([^/]+)/providers/microsoft\.network/"
            r"([^/]+)/([^/]+)(?:/subnets/([^/]+))?",
            resource_id,
            re.IGNORECASE,
        )
        if not match:
            return None
        rg, kind, name, subnet = match.groups()
        resource = self.network.get((rg.lower(), kind.lower(), name.lower()))
        if resource is None or subnet is None:
            return resource
        for item in resource["properties"].get("subnets", []):
            if item["name"].lower() == subnet.lower():
                return {**item, "location": resource["location"]}
        return None

    def _drop_network(self, resource: dict[str, Any]) -> None:
        for key, value in list(self.network.items()):
            if value is resource:
                del self.network[key]

    def _network_route(
        self, method: str, rg: str, kind: str, segments: list[str], body: Any
    ) -> Response:
        if not segments:
            raise ArmError(405, "MethodNotAllowed", f"{method} is not supported here.")
        name = segments[0]
        key = (rg.lower(), kind, name.lower())
        type_name = self._TYPES[kind]
        resource_id = f"{self._base(rg)}/Microsoft.Network/{type_name}/{name}"
        resource = self.network.get(key)
        not_found = ArmError(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Network/{type_name}/{name}' under resource group '{rg}' "
            "was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )
        if kind == "virtualnetworks" and len(segments) == 3 and segments[1].lower() == "subnets":
            if method != "GET":
                raise ArmError(405, "MethodNotAllowed", f"{method} is not supported here.")
            if resource is None:
                raise not_found
            subnet = self._network_by_id(f"{resource_id}/subnets/{segments[2]}")
            if subnet is None:
                raise ArmError(
                    404, "NotFound", f"Resource {resource_id}/subnets/{segments[2]} not found."
                )
            return Response(200, {k: v for k, v in subnet.items() if k != "location"})
        if len(segments) != 1:
            raise ArmError(405, "MethodNotAllowed", f"{method} is not supported here.")
        if method == "GET":
            if resource is None:
                raise not_found
            return Response(200, resource)
        if method == "DELETE":
            if resource is None:
                return Response(204)
            self._check_detachable(kind, resource)
            del self.network[key]
            headers = self._start_operation("network", rg, name, resource["location"], "Network", 0)
            headers["Location"] = headers["Azure-AsyncOperation"]
            return Response(202, None, headers)
        if method != "PUT" or not isinstance(body, dict) or not body.get("location"):
            raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request.")
        props = json.loads(json.dumps(body.get("properties") or {}))
        if kind == "virtualnetworks":
            for subnet in props.get("subnets", []):
                subnet["id"] = f"{resource_id}/subnets/{subnet['name']}"
                subnet["type"] = "Microsoft.Network/virtualNetworks/subnets"
                subnet.setdefault("properties", {})["provisioningState"] = "Succeeded"
        elif kind == "networkinterfaces":
            for index, config in enumerate(props.get("ipConfigurations", [])):
                config_props = config.setdefault("properties", {})
                subnet_id = (config_props.get("subnet") or {}).get("id", "")
                if self._network_by_id(subnet_id) is None:
                    raise ArmError(
                        400,
                        "InvalidResourceReference",
                        f"Resource {subnet_id} referenced by resource {resource_id} was not "
                        "found. Please make sure that the referenced resource exists, and that "
                        "both resources are in the same region.",
                    )
                ip_id = (config_props.get("publicIPAddress") or {}).get("id")
                if ip_id and self._network_by_id(ip_id) is None:
                    raise ArmError(
                        400,
                        "InvalidResourceReference",
                        f"Resource {ip_id} referenced by resource {resource_id} was not found.",
                    )
                config["id"] = f"{resource_id}/ipConfigurations/{config.get('name', index)}"
                config_props.setdefault("privateIPAddress", f"10.200.0.{4 + len(self.network)}")
                config_props["provisioningState"] = "Succeeded"
        elif kind == "publicipaddresses":
            props.setdefault("ipAddress", f"20.0.0.{1 + len(self.network)}")
        props["provisioningState"] = "Succeeded"
        stored = {
            "id": resource_id,
            "name": name,
            "type": f"Microsoft.Network/{type_name}",
            "location": body["location"],
            "tags": body.get("tags") or {},
            "etag": f'W/"{uuid.uuid4()}"',
            "properties": props,
        }
        if body.get("sku"):
            stored["sku"] = body["sku"]
        existed = resource is not None
        self.network[key] = stored
        headers = self._start_operation("network", rg, name, body["location"], "Network", 0)
        return Response(200 if existed else 201, stored, headers)

    def _check_detachable(self, kind: str, resource: dict[str, Any]) -> None:
        if kind == "networkinterfaces":
            for vm in self.vms.values():
                for ref in vm["properties"].get("networkProfile", {}).get("networkInterfaces", []):
                    if ref.get("id", "").lower() == resource["id"].lower():
                        raise ArmError(
                            400,
                            "NicInUse",
                            f"Network Interface {resource['id']} is used by existing resource "
                            f"{vm['id']}. In order to delete the network interface, it must be "
                            "dissociated from the resource. To learn more, see "
                            "aka.ms/deletenic.",
                        )
        if kind == "publicipaddresses":
            for (_, other_kind, _), nic in self.network.items():
                if other_kind != "networkinterfaces":
                    continue
                for config in nic["properties"].get("ipConfigurations", []):
                    ref = (config.get("properties") or {}).get("publicIPAddress") or {}
                    if ref.get("id", "").lower() == resource["id"].lower():
                        raise ArmError(
                            400,
                            "PublicIPAddressCannotBeDeleted",
                            f"Public IP address {resource['id']} can not be deleted since it is "
                            f"still allocated to resource {config['id']}. In order to delete "
                            "the public IP, disassociate/detach the Public IP address from the "
                            "resource. To learn how to do this, see aka.ms/deletepublicip.",
                        )
