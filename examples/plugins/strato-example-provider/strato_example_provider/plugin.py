"""The plugin module named by the entry point: it registers the provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strato.plugins.hookspecs import hookimpl


@hookimpl
def strato_register_providers(register: Callable[[Any], None]) -> None:
    # Import the provider here, not at module level: plugins load at start-up, and a real
    # provider's SDK should only be imported when the provider is used.
    from strato_example_provider.provider import ExampleProvider

    register(ExampleProvider())
