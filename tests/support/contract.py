"""The provider contract: what every provider must do, as a test class to subclass.

A provider's test module subclasses :class:`ProviderContract` and supplies fixtures:

- ``provider``: the provider, configured against its emulator, credentials present;
- ``provider_without_credentials``: the same provider with no credentials configured;
- ``offer``: a catalog offer the provider can provision in the emulator (None for local);
- ``refuse``: a callable ``refuse(kind)`` that makes the next provisioning call fail the way
  the real API does, for ``kind`` in ``"capacity"``, ``"quota"``, ``"server_error"``
  (and undoes it at teardown);
- ``booter``: a :class:`support.booter.MachineBooter` registered with the plugin manager
  (cloud providers), or None for providers whose containers boot themselves.

The class then checks the protocol shape, credentials, provisioning, states, termination,
error mapping, and a function running end to end on the provider through ``app.run()``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

import strato
from strato.exception import CapacityError, ProviderError, ProviderUnavailableError, QuotaError
from strato.plugins.provider import (
    Capabilities,
    ContainerHandle,
    ContainerSpec,
    CredentialCheck,
    InstanceState,
    Provider,
)
from strato.plugins.startup import startup_environment


def make_spec(container_id: str = "ct-contract0000001") -> ContainerSpec:
    return ContainerSpec(
        container_id=container_id,
        app_id="ap-contract",
        function_id="fu-contract",
        function_name="where",
        server_url="http://127.0.0.1:9",
        token="contract-token",
    )


def wait_for_state(
    provider: Provider, handle: ContainerHandle, wanted: set[InstanceState], timeout: float = 30
) -> InstanceState:
    deadline = time.monotonic() + timeout
    state = provider.status(handle)
    while state not in wanted and time.monotonic() < deadline:
        time.sleep(0.2)
        state = provider.status(handle)
    return state


class ProviderContract:
    """Subclass in a provider's tests and supply the fixtures named in the module docstring."""

    #: whether the provider's machines run a start-up script (cloud providers do)
    uses_startup_script = True

    def test_is_a_provider_with_capabilities_as_data(self, provider: Any) -> None:
        assert isinstance(provider, Provider)
        assert isinstance(provider.name, str) and provider.name
        assert isinstance(provider.capabilities, Capabilities)

    def test_credentials_found(self, provider: Any) -> None:
        check = provider.check_credentials()
        assert isinstance(check, CredentialCheck)
        assert check.ok, check.message

    def test_missing_credentials_name_what_to_set(self, provider_without_credentials: Any) -> None:
        check = provider_without_credentials.check_credentials()
        assert not check.ok
        assert check.env_vars, "a failed check must say which variables or files to set"
        assert any(var in check.message for var in check.env_vars)

    def test_provision_status_terminate(self, provider: Any, offer: Any) -> None:
        spec = make_spec()
        handle = provider.provision(spec, offer)
        assert isinstance(handle, ContainerHandle)
        assert handle.provider == provider.name and handle.container_id == spec.container_id
        if self.uses_startup_script:
            env = startup_environment(handle.data["startup_script"])
            assert env["STRATO_CONTAINER_ID"] == spec.container_id
            assert env["STRATO_CONTAINER_TOKEN"] == spec.token
            assert env["STRATO_SERVER_URL"] == spec.server_url
            assert env["MODAL_CLOUD_PROVIDER"] == provider.name
        state = wait_for_state(provider, handle, {InstanceState.RUNNING})
        assert state == InstanceState.RUNNING
        provider.terminate(handle)
        provider.terminate(handle)  # idempotent
        state = wait_for_state(provider, handle, {InstanceState.STOPPED})
        assert state == InstanceState.STOPPED

    @pytest.mark.parametrize(
        ("kind", "error", "retryable"),
        [
            ("capacity", CapacityError, True),
            ("quota", QuotaError, True),
            ("server_error", ProviderUnavailableError, True),
        ],
    )
    def test_refusals_become_strato_errors(
        self, provider: Any, offer: Any, refuse: Any, kind: str, error: type, retryable: bool
    ) -> None:
        refuse(kind)
        with pytest.raises(ProviderError) as info:
            provider.provision(make_spec(f"ct-refused-{kind}"), offer)
        assert isinstance(info.value, error), (
            f"{kind} became {type(info.value).__name__}: {info.value}"
        )
        assert info.value.provider == provider.name
        assert info.value.retryable is retryable

    def test_a_function_runs_on_the_provider(self, provider: Any, offer: Any, booter: Any) -> None:
        """A function asking for what the ``offer`` has runs there, through ``app.run()``."""
        app = strato.App(f"contract-{provider.name}")

        def where_it_runs() -> dict[str, str | None]:  # nested: pickled by value

            return {
                "cloud": os.environ.get("MODAL_CLOUD_PROVIDER"),
                "region": os.environ.get("MODAL_REGION"),
                "container": os.environ.get("STRATO_CONTAINER_ID"),
            }

        options: dict[str, Any] = {"cloud": provider.name, "timeout": 120}
        if offer is not None and getattr(offer, "gpu_type", None):
            options["gpu"] = f"{offer.gpu_type}:{offer.gpu_count}"
            options["region"] = offer.region
        remote_where = app.function(**options)(where_it_runs)
        with app.run():
            first = remote_where.remote()
        assert first["cloud"] == provider.name
        assert first["container"].startswith("ct-")
        if "region" in options:
            assert first["region"] == offer.region
