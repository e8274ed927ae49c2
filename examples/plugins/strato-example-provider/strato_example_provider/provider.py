"""``ExampleProvider``: every method of the provider protocol, as simply as possible.

A real provider calls its cloud's SDK where this one starts a process; the shape is the same:
capabilities as data, a credential check that says what to set, ``provision`` that passes the
start-up script to the machine, one table mapping machine states, and every failure wrapped
into Strato's ``ProviderError`` family.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from strato.exception import CapacityError, ProviderUnavailableError, QuotaError
from strato.plugins.provider import (
    Capabilities,
    ContainerHandle,
    ContainerSpec,
    CredentialCheck,
    InstanceState,
)
from strato.plugins.startup import render_startup_script, startup_environment
from strato.pricing.offer import Offer

TOKEN_VAR = "STRATO_EXAMPLE_TOKEN"

# The provider's own states -> Strato's; here the "machine" is a process.
_STATES = {"running": InstanceState.RUNNING, "exited": InstanceState.STOPPED}


class ExampleProvider:
    """Runs containers as plain local processes (no sandbox), for illustration and tests."""

    name = "example"

    def __init__(self) -> None:
        self.capabilities = Capabilities(
            spot=False,
            multi_gpu=False,
            bucket_mounts=False,
            regions=("example-1",),
            max_gpus_per_machine=0,
            unsupported={"gpu": "example machines have no GPU", "spot": "nothing to preempt"},
        )
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        #: refusals to play on the next provision calls, for the contract tests
        self.refusals: list[str] = []

    def check_credentials(self) -> CredentialCheck:
        if os.environ.get(TOKEN_VAR):
            return CredentialCheck(True, f"{TOKEN_VAR} is set", env_vars=(TOKEN_VAR,))
        return CredentialCheck(False, f"{TOKEN_VAR} is not set", env_vars=(TOKEN_VAR,))

    def list_offers(self, options: dict[str, Any]) -> list[Offer]:
        """The machines this provider has, priced (a catalog-less provider's offers)."""
        return [
            Offer(
                provider=self.name,
                instance_type="process",
                gpu_type=None,
                gpu_count=0,
                vcpus=os.cpu_count() or 1,
                memory_gib=4.0,
                region="example-1",
                on_demand_usd_per_hour=0.0,
                spot_usd_per_hour=None,
                source="strato-example-provider",
                as_of=None,
            )
        ]

    def provision(self, spec: ContainerSpec, offer: Any = None) -> ContainerHandle:
        if self.refusals:
            kind = self.refusals.pop(0)
            error = {"capacity": CapacityError, "quota": QuotaError}.get(
                kind, ProviderUnavailableError
            )
            raise error(f"example provider refused: {kind}", provider=self.name, code=kind)
        region = getattr(offer, "region", None) or "example-1"
        script = render_startup_script(spec, self.name, region)
        env = dict(os.environ)
        env.update(startup_environment(script))  # what a machine would export
        self._procs[spec.container_id] = subprocess.Popen(
            [sys.executable, "-m", "strato.runtime.worker"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return ContainerHandle(
            provider=self.name,
            container_id=spec.container_id,
            data={"pid": self._procs[spec.container_id].pid, "startup_script": script},
            region=region,
            instance_type="process",
        )

    def status(self, handle: ContainerHandle) -> InstanceState:
        proc = self._procs.get(handle.container_id)
        if proc is None:
            return InstanceState.UNKNOWN
        return _STATES["running" if proc.poll() is None else "exited"]

    def terminate(self, handle: ContainerHandle) -> None:
        proc = self._procs.get(handle.container_id)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
