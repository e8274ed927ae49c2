"""A secret reaches a cloud container over its authenticated stream, never through the
machine's start-up script (user data is readable by anyone with metadata access)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import strato
from strato.plugins.manager import default_providers

PLUGIN_DIR = (
    Path(__file__).resolve().parents[2] / "examples" / "plugins" / "strato-example-provider"
)
sys.path.insert(0, str(PLUGIN_DIR))
from strato_example_provider.provider import TOKEN_VAR, ExampleProvider  # noqa: E402


class RecordingProvider(ExampleProvider):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []

    def provision(self, spec: Any, offer: Any = None) -> Any:
        handle = super().provision(spec, offer)
        self.scripts.append(handle.data["startup_script"])
        return handle


def test_secret_values_are_not_in_the_startup_script(monkeypatch, workdir):
    monkeypatch.setenv(TOKEN_VAR, "x")
    provider = RecordingProvider()
    default_providers().register(provider)
    try:
        value = "s3cr3t-" + "value-not-in-scripts"

        def read_secret() -> str:
            import os

            return os.environ["API_TOKEN"]

        app = strato.App("secret-startup")
        f = app.function(cloud="example", secrets=[strato.Secret.from_dict({"API_TOKEN": value})])(
            read_secret
        )
        with app.run():
            assert f.remote() == value
    finally:
        default_providers().by_name.pop("example", None)
    assert provider.scripts
    assert all(value not in script for script in provider.scripts)
    assert all("API_TOKEN" not in script for script in provider.scripts)
