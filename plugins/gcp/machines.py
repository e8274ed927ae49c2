"""What a Compute Engine instance for one container looks like: its name, labels, zones, GPUs.

Everything here is plain data and string rules; :func:`instance_resource` turns it into the
SDK's ``compute_v1.Instance`` (the SDK is imported there, not at module import).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

#: Zones of the regions the catalog and the region table name (a region's zones are tried in
#: this order; ``[providers.gcp] zones`` in config.toml overrides per region).
ZONES: dict[str, tuple[str, ...]] = {
    "us-central1": ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"),
    "us-east1": ("us-east1-b", "us-east1-c", "us-east1-d"),
    "us-east4": ("us-east4-a", "us-east4-b", "us-east4-c"),
    "us-east5": ("us-east5-a", "us-east5-b", "us-east5-c"),
    "us-west1": ("us-west1-a", "us-west1-b", "us-west1-c"),
    "us-west3": ("us-west3-a", "us-west3-b", "us-west3-c"),
    "us-west4": ("us-west4-a", "us-west4-b", "us-west4-c"),
    "europe-west1": ("europe-west1-b", "europe-west1-c", "europe-west1-d"),
    "europe-west2": ("europe-west2-a", "europe-west2-b", "europe-west2-c"),
    "europe-west3": ("europe-west3-a", "europe-west3-b", "europe-west3-c"),
    "europe-west4": ("europe-west4-a", "europe-west4-b", "europe-west4-c"),
    "asia-northeast1": ("asia-northeast1-a", "asia-northeast1-b", "asia-northeast1-c"),
    "asia-northeast3": ("asia-northeast3-a", "asia-northeast3-b", "asia-northeast3-c"),
    "asia-southeast1": ("asia-southeast1-a", "asia-southeast1-b", "asia-southeast1-c"),
    "me-west1": ("me-west1-a", "me-west1-b", "me-west1-c"),
}

#: Canonical GPU type -> Compute Engine accelerator type, for machine series (N1) whose GPUs
#: are attached as guest accelerators. A2, A3, A4 and G2 machine types carry theirs.
ACCELERATOR_TYPES: dict[str, str] = {
    "T4": "nvidia-tesla-t4",
    "V100": "nvidia-tesla-v100",
    "P100": "nvidia-tesla-p100",
    "P4": "nvidia-tesla-p4",
}
#: Machine series whose GPUs come with the machine type.
BUNDLED_GPU_SERIES = ("a2", "a3", "a4", "g2", "g4")

#: Deep Learning VM image with the NVIDIA driver, Docker and the NVIDIA container toolkit (the
#: start-up script runs ``docker run --gpus all``). Override with ``[providers.gcp] image``.
DEFAULT_IMAGE = (
    "projects/deeplearning-platform-release/global/images/family/"
    "common-cu128-ubuntu-2204-nvidia-570"
)
DEFAULT_DISK_GB = 100
#: Machine series that only boot from Hyperdisk; the rest take pd-balanced.
HYPERDISK_ONLY_SERIES = ("a3-ultragpu", "a4")

_NAME_OK = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_KEY_OK = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_OK = re.compile(r"^[a-z0-9_-]{0,63}$")


def zones_for(region: str, configured: dict[str, list[str]] | None = None) -> list[str]:
    """The zones to try in ``region``: configuration first, then the built-in table."""
    if configured and configured.get(region):
        return list(configured[region])
    return list(ZONES.get(region, (f"{region}-a", f"{region}-b", f"{region}-c")))


def region_of(zone: str) -> str:
    """``us-central1-a`` -> ``us-central1``."""
    return zone.rsplit("-", 1)[0]


def instance_name(container_id: str) -> str:
    """A Compute Engine instance name for a container (RFC 1035: ``[a-z]([-a-z0-9]*[a-z0-9])?``,
    at most 63 characters), unique per container id even when the id had to be changed."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", container_id.lower()).strip("-")
    name = f"strato-{cleaned}"
    if not cleaned or cleaned != container_id or len(name) > 63:
        digest = hashlib.sha256(container_id.encode()).hexdigest()[:8]
        name = f"{name[: 63 - 9].rstrip('-')}-{digest}"
    assert _NAME_OK.match(name), name
    return name


def label_value(value: str) -> str:
    """A label value: lowercase letters, digits, ``_`` and ``-``, at most 63 characters."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", value.lower())
    if len(cleaned) > 63:
        digest = hashlib.sha256(value.encode()).hexdigest()[:8]
        cleaned = f"{cleaned[:54]}-{digest}"
    return cleaned


def labels_for(app: str, function: str, container_id: str) -> dict[str, str]:
    """The labels naming what runs on the machine."""
    labels = {
        "strato-app": label_value(app),
        "strato-function": label_value(function),
        "strato-container": label_value(container_id),
    }
    assert all(_LABEL_KEY_OK.match(k) and _LABEL_VALUE_OK.match(v) for k, v in labels.items())
    return labels


def machine_series(machine_type: str) -> str:
    """``n1-standard-8`` -> ``n1``."""
    return machine_type.split("-", 1)[0]


def guest_accelerator(machine_type: str, gpu_type: str | None, gpu_count: int) -> str | None:
    """The accelerator type to attach, or None when the machine type carries its GPUs (A2, A3,
    G2, ...) or has none."""
    if not gpu_type or gpu_count <= 0 or machine_series(machine_type) in BUNDLED_GPU_SERIES:
        return None
    try:
        return ACCELERATOR_TYPES[gpu_type]
    except KeyError:
        return "nvidia-" + gpu_type.lower().replace("_", "-")


def disk_type(machine_type: str) -> str:
    """The boot disk type the machine series accepts."""
    if machine_type.startswith(HYPERDISK_ONLY_SERIES):
        return "hyperdisk-balanced"
    return "pd-balanced"


@dataclass
class MachineRequest:
    """Everything one instances.insert needs, independent of the SDK."""

    name: str
    zone: str
    machine_type: str
    startup_script: str
    labels: dict[str, str]
    image: str = DEFAULT_IMAGE
    disk_size_gb: int = DEFAULT_DISK_GB
    gpu_type: str | None = None
    gpu_count: int = 0
    spot: bool = False
    network: str = "global/networks/default"
    subnetwork: str | None = None
    external_ip: bool = True
    service_account: str | None = None
    extra_metadata: dict[str, str] = field(default_factory=dict)

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpu_type) and self.gpu_count > 0


def instance_resource(req: MachineRequest) -> Any:
    """The ``compute_v1.Instance`` to insert for ``req``."""
    from google.cloud import compute_v1

    scheduling = compute_v1.Scheduling(automatic_restart=False)
    if req.has_gpu:
        # GPU machines cannot live-migrate: host maintenance stops them.
        scheduling.on_host_maintenance = "TERMINATE"
    if req.spot:
        scheduling.provisioning_model = "SPOT"
        scheduling.instance_termination_action = "DELETE"
        scheduling.on_host_maintenance = "TERMINATE"
    interface = compute_v1.NetworkInterface(network=req.network)
    if req.subnetwork:
        interface.subnetwork = req.subnetwork
    if req.external_ip:
        interface.access_configs = [
            compute_v1.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT")
        ]
    items = [compute_v1.Items(key="startup-script", value=req.startup_script)]
    items += [compute_v1.Items(key=k, value=v) for k, v in sorted(req.extra_metadata.items())]
    instance = compute_v1.Instance(
        name=req.name,
        machine_type=f"zones/{req.zone}/machineTypes/{req.machine_type}",
        labels=req.labels,
        metadata=compute_v1.Metadata(items=items),
        scheduling=scheduling,
        network_interfaces=[interface],
        disks=[
            compute_v1.AttachedDisk(
                boot=True,
                auto_delete=True,
                type_="PERSISTENT",
                initialize_params=compute_v1.AttachedDiskInitializeParams(
                    source_image=req.image,
                    disk_size_gb=req.disk_size_gb,
                    disk_type=f"zones/{req.zone}/diskTypes/{disk_type(req.machine_type)}",
                ),
            )
        ],
    )
    accelerator = guest_accelerator(req.machine_type, req.gpu_type, req.gpu_count)
    if accelerator:
        instance.guest_accelerators = [
            compute_v1.AcceleratorConfig(
                accelerator_type=f"zones/{req.zone}/acceleratorTypes/{accelerator}",
                accelerator_count=req.gpu_count,
            )
        ]
    if req.service_account:
        instance.service_accounts = [
            compute_v1.ServiceAccount(
                email=req.service_account,
                scopes=["https://www.googleapis.com/auth/cloud-platform"],
            )
        ]
    return instance
