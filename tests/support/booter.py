"""Plays a cloud machine's boot in tests.

An emulator (moto, or a fake REST service) boots no machine. This plugin stands in for the
machine: when a cloud provider has provisioned a container, it reads the start-up script the
provider gave the machine (``handle.data["startup_script"]``) and starts a local worker agent
with exactly the environment that script exports, so the function really runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from strato.plugins.hookspecs import hookimpl
from strato.plugins.startup import startup_environment

FAKEBIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakebin")


class MachineBooter:
    """A pluggy plugin: boots a local agent for every container a cloud provider starts."""

    def __init__(
        self, sandbox: bool = False, workdir: str | None = None, script: bool = False
    ) -> None:
        self.agents: dict[str, subprocess.Popen[bytes]] = {}
        self.booted: list[dict[str, Any]] = []
        #: run each agent in a sandbox of its own (the local provider's bubblewrap one), so
        #: that it has a filesystem of its own as a machine has: a volume mounted at /data
        #: lands in the sandbox, not on this machine
        self.sandbox = sandbox
        self.workdir = workdir
        #: run the start-up script itself (bash, curl, tar) with a Docker played by
        #: ``support/fakebin/docker``: the agent then runs from the runtime archive the
        #: script fetched from the control plane
        self.script = script

    @hookimpl(wrapper=True)
    def strato_provision(self, spec: Any, provider: Any, offer: Any) -> Any:
        handle = yield
        if provider.name != "local":
            self.boot(handle.container_id, handle.data["startup_script"], handle)
        return handle

    def boot(self, container_id: str, script: str, handle: Any = None) -> None:
        env = dict(os.environ)
        env.update(startup_environment(script))
        command = [sys.executable, "-m", "strato.runtime.worker"]
        workdir = self.workdir or os.getcwd()
        if self.script:
            command = ["bash", "-c", script]
            root = f"/tmp/strato-machine-{container_id}"  # private when sandboxed
            env.update(
                {
                    "PATH": f"{FAKEBIN}{os.pathsep}{os.path.dirname(sys.executable)}"
                    f"{os.pathsep}{env.get('PATH', '')}",
                    "STRATO_MACHINE_ROOT": root,
                    "FAKE_DOCKER_LOG": os.path.join(workdir, f"docker-{container_id}.log"),
                }
            )
        if self.sandbox:
            from strato.plugins.local.provider import LocalProvider
            from strato.plugins.provider import ContainerSpec

            spec = ContainerSpec(container_id, "", "", "", "", "", python_path=list(sys.path))
            command = LocalProvider().sandbox_command(spec, workdir, argv=command)
        self.agents[container_id] = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.booted.append(
            {"container_id": container_id, "env": startup_environment(script), "handle": handle}
        )

    def kill(self, container_id: str) -> None:
        """The machine dies (preemption, crash): its agent stops at once."""
        proc = self.agents.get(container_id)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        for container_id in list(self.agents):
            self.kill(container_id)
