"""The provider contract, run against the built-in local provider."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from support.contract import ProviderContract, make_spec, wait_for_state

from strato.plugins.local.provider import LocalProvider
from strato.plugins.provider import InstanceState


@pytest.fixture
def silent_server():
    """A port that accepts connections and never answers: an agent waits there, alive."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


class TestLocalProviderContract(ProviderContract):
    uses_startup_script = False

    @pytest.fixture
    def provider(self) -> LocalProvider:
        return LocalProvider()

    @pytest.fixture
    def offer(self) -> None:
        return None

    @pytest.fixture
    def booter(self) -> None:
        return None

    def test_missing_credentials_name_what_to_set(self, provider: Any) -> None:  # type: ignore[override]
        """The local machine needs none: the check passes and says how containers run."""
        check = provider.check_credentials()
        assert check.ok and "no credentials needed" in check.message

    def test_refusals_become_strato_errors(self, provider: Any) -> None:  # type: ignore[override]
        """The local provider is never out of capacity: every provision succeeds."""
        assert provider.capabilities.unsupported["spot"]

    def test_provision_status_terminate(
        self, provider: Any, offer: Any, silent_server: str
    ) -> None:  # type: ignore[override]
        spec = make_spec("ct-localcontract01")
        spec.server_url = silent_server
        handle = provider.provision(spec, offer)
        assert handle.provider == "local" and handle.container_id == spec.container_id
        assert wait_for_state(provider, handle, {InstanceState.RUNNING}) == InstanceState.RUNNING
        provider.terminate(handle)
        provider.terminate(handle)
        assert (
            wait_for_state(provider, handle, {InstanceState.STOPPED}, timeout=40)
            == InstanceState.STOPPED
        )
