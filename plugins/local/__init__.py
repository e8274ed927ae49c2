"""The built-in local provider: containers are isolated processes on this machine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strato.plugins.hookspecs import hookimpl


@hookimpl
def strato_register_providers(register: Callable[[Any], None]) -> None:
    from strato.plugins.local.provider import LocalProvider

    register(LocalProvider())
