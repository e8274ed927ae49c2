"""The start-up script a cloud machine runs: bring up the image, then the worker agent.

Every cloud provider passes the same script as its machine's user data (AWS), startup-script
metadata (GCP), custom data (Azure) or ``user_data`` (OCI). It exports exactly the
environment the worker agent needs, so :func:`startup_environment` can read it back: tests
play a machine's boot by starting a local agent with that environment.
"""

from __future__ import annotations

import shlex

from strato.plugins.provider import ContainerSpec

#: The image a function without one runs in (Modal's default is Debian slim with Python).
DEFAULT_IMAGE = "python:3.11-slim"
_BEGIN, _END = "# --- strato environment ---", "# --- end strato environment ---"


def container_environment(spec: ContainerSpec, cloud: str, region: str | None) -> dict[str, str]:
    """The variables a container is started with, on any machine."""
    env = dict(spec.env)
    env.update(
        {
            "STRATO_SERVER_URL": spec.server_url,
            "STRATO_CONTAINER_ID": spec.container_id,
            "STRATO_CONTAINER_TOKEN": spec.token,
            "STRATO_CLOUD_PROVIDER": cloud,
            "MODAL_CLOUD_PROVIDER": cloud,
            "STRATO_REGION": region or "",
            "MODAL_REGION": region or "",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


#: What a container needs to reach each bucket store: (pip requirement, module) pairs.
STORE_PACKAGES = {
    "s3": (("boto3", "boto3"),),
    "gs": (("google-cloud-storage", "google.cloud.storage"),),
    "az": (("azure-storage-blob", "azure.storage.blob"), ("azure-identity", "azure.identity")),
    "oci": (("oci", "oci"),),
}


def _container_packages(spec: ContainerSpec) -> list[tuple[str, str]]:
    """What the agent needs in the image besides the standard library and Strato itself:
    (pip requirement, module) pairs."""
    from strato.core.bundle import AGENT_REQUIREMENTS
    from strato.core.objects.volume_backends import parse_store_url

    packages = list(AGENT_REQUIREMENTS)
    for entry in spec.sync:
        # a bucket mount is an S3-compatible bucket; a volume says where its store is
        scheme = "s3" if entry.get("kind") == "bucket" else parse_store_url(entry["store"]).scheme
        packages += [p for p in STORE_PACKAGES.get(scheme, ()) if p not in packages]
    return packages


_INSTALL_FUSE = (
    "command -v rclone >/dev/null || (apt-get update -qq && apt-get install -y -qq rclone fuse3)"
    " >/dev/null 2>&1 || true; "
)


def render_startup_script(spec: ContainerSpec, cloud: str, region: str | None) -> str:
    """A bash script that fetches Strato's runtime (and the image's build context) from the
    control plane, builds the image (or pulls the default one), and runs the agent in it, with
    the GPU attached where the machine has one.

    The script holds no secret: the container's token only lets it fetch these archives and
    connect its own stream, over which the agent then receives its secrets and mount
    credentials. ``STRATO_MACHINE_ROOT`` (default ``/opt/strato``) is where it unpacks them.
    """
    env = container_environment(spec, cloud, region)
    exports = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    env_flags = " ".join(f"-e {k}" for k in sorted(env))
    if spec.dockerfile:
        build = (
            'fetch "images/$STRATO_IMAGE_ID/context.tar.gz" | tar -xz -C "$ROOT/image"\n'
            'docker build -t strato-image "$ROOT/image"\n'
            "IMAGE=strato-image"
        )
    else:
        build = f"IMAGE={DEFAULT_IMAGE}\ndocker pull $IMAGE"
    needed = _container_packages(spec)
    packages = " ".join(shlex.quote(requirement) for requirement, _ in needed)
    imports = "; ".join(f"import {module}" for _, module in needed)
    # The agent installs what it lacks, then runs from the runtime the plane served.
    agent = (
        f'python -c "{imports}" 2>/dev/null || pip install --quiet {packages}; '
        "export PYTHONPATH=/opt/strato/runtime${PYTHONPATH:+:$PYTHONPATH}; "
        "exec python -m strato.runtime.worker"
    )
    fuse = ""
    if any(entry.get("kind") == "bucket" for entry in spec.sync):
        # bucket mounts are FUSE mounts made inside the container (rclone, where it can be had)
        fuse = "--device /dev/fuse --cap-add SYS_ADMIN --security-opt apparmor=unconfined "
        agent = _INSTALL_FUSE + agent
    elif any(entry.get("read_only") for entry in spec.sync):
        fuse = "--cap-add SYS_ADMIN "  # a read-only volume is bound read-only in the container
    return f"""#!/bin/bash
# Strato container {spec.container_id} for {spec.function_name} (app {spec.app_id})
set -euo pipefail
{_BEGIN}
{exports}
{_END}
ROOT="${{STRATO_MACHINE_ROOT:-/opt/strato}}"
mkdir -p "$ROOT/runtime" "$ROOT/image"
fetch() {{
    curl -fsS --retry 8 --retry-delay 2 --retry-connrefused \\
        -H "Authorization: Bearer $STRATO_CONTAINER_TOKEN" "$STRATO_SERVER_URL/v1/$1"
}}
fetch runtime.tar.gz | tar -xz -C "$ROOT/runtime"
{build}
GPUS=""
if command -v nvidia-smi >/dev/null 2>&1; then GPUS="--gpus all"; fi
exec docker run --rm --network host $GPUS {fuse}{env_flags} \\
    -v "$ROOT/runtime:/opt/strato/runtime:ro" "$IMAGE" \\
    sh -c {shlex.quote(agent)}
"""


def startup_environment(script: str) -> dict[str, str]:
    """The environment a start-up script gives the agent (its ``export`` lines)."""
    inside = script.split(_BEGIN, 1)[1].split(_END, 1)[0]
    env = {}
    for line in inside.strip().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0] if value else ""
    return env
