"""The worked example plugin (examples/plugins/strato-example-provider) against the provider
contract, and its packaging: an entry point in the ``strato`` group."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from support.contract import ProviderContract

PLUGIN_DIR = (
    Path(__file__).resolve().parents[2] / "examples" / "plugins" / "strato-example-provider"
)
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))  # works whether or not the package is installed

from strato_example_provider.provider import TOKEN_VAR, ExampleProvider  # noqa: E402

from strato.plugins.manager import default_providers, make_plugin_manager  # noqa: E402


class TestExampleProviderContract(ProviderContract):
    @pytest.fixture
    def provider(self, monkeypatch: pytest.MonkeyPatch) -> ExampleProvider:
        monkeypatch.setenv(TOKEN_VAR, "test-token")
        return ExampleProvider()

    @pytest.fixture
    def provider_without_credentials(self, monkeypatch: pytest.MonkeyPatch) -> ExampleProvider:
        monkeypatch.delenv(TOKEN_VAR, raising=False)
        return ExampleProvider()

    @pytest.fixture
    def offer(self, provider: ExampleProvider) -> Any:
        return provider.list_offers({})[0]

    @pytest.fixture
    def refuse(self, provider: ExampleProvider) -> Any:
        return provider.refusals.append

    @pytest.fixture
    def booter(self, provider: ExampleProvider) -> Any:
        providers = default_providers()
        providers.register(provider)
        try:
            yield None  # its containers boot themselves
        finally:
            providers.by_name.pop(provider.name, None)


def _installed() -> bool:
    return any(ep.name == "example" for ep in metadata.entry_points(group="strato"))


@pytest.mark.skipif(
    not _installed(), reason="pip install -e examples/plugins/strato-example-provider (CI does)"
)
def test_installed_package_is_discovered_through_its_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STRATO_PLUGINS", "example")
    pm = make_plugin_manager()
    registered: list[Any] = []
    pm.hook.strato_register_providers(register=registered.append)
    assert [p.name for p in registered] == ["example"]
