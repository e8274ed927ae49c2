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


def render_startup_script(spec: ContainerSpec, cloud: str, region: str | None) -> str:
    """A bash script that builds the image (or pulls the default one) and runs the agent in
    it, with the GPU attached where the machine has one."""
    env = container_environment(spec, cloud, region)
    exports = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    env_flags = " ".join(f"-e {k}" for k in sorted(env))
    if spec.dockerfile:
        build = (
            "mkdir -p /opt/strato/image\n"
            "cat > /opt/strato/image/Dockerfile <<'STRATO_DOCKERFILE'\n"
            f"{spec.dockerfile}\nSTRATO_DOCKERFILE\n"
            "docker build -t strato-image /opt/strato/image\n"
            "IMAGE=strato-image"
        )
    else:
        build = f"IMAGE={DEFAULT_IMAGE}\ndocker pull $IMAGE"
    return f"""#!/bin/bash
# Strato container {spec.container_id} for {spec.function_name} (app {spec.app_id})
set -euo pipefail
{_BEGIN}
{exports}
{_END}
{build}
GPUS=""
if command -v nvidia-smi >/dev/null 2>&1; then GPUS="--gpus all"; fi
exec docker run --rm --network host $GPUS {env_flags} "$IMAGE" \\
    sh -c 'pip install --quiet strato && exec python -m strato.runtime.worker'
"""


def startup_environment(script: str) -> dict[str, str]:
    """The environment a start-up script gives the agent (its ``export`` lines)."""
    inside = script.split(_BEGIN, 1)[1].split(_END, 1)[0]
    env = {}
    for line in inside.strip().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0] if value else ""
    return env
