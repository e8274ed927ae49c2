"""The plugin manager: loads the ``strato`` entry-point group and collects providers.

``STRATO_PLUGINS`` chooses which plugins load: unset loads every installed one, a comma list
loads only those names, and an empty string loads none (tests use it and register their own).
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import pluggy

from strato.plugins import hookspecs
from strato.plugins.provider import ContainerHandle, ContainerSpec, Provider

ENTRY_POINT_GROUP = "strato"


class _CallProvider:
    """The innermost ``strato_provision``: ask the provider itself."""

    @hookspecs.hookimpl(trylast=True)
    def strato_provision(self, spec: ContainerSpec, provider: Provider, offer: Any) -> Any:
        return provider.provision(spec, offer)


def make_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the hook specs, the entry points allowed by ``STRATO_PLUGINS``."""
    pm = pluggy.PluginManager("strato")
    pm.add_hookspecs(hookspecs)
    pm.register(_CallProvider(), name="strato.call-provider")
    if load_entry_points:
        wanted = os.environ.get("STRATO_PLUGINS")
        if wanted is None:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        else:
            for name in [n.strip() for n in wanted.split(",") if n.strip()]:
                pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=name)
    return pm


class Providers:
    """The providers registered through ``strato_register_providers``, by name."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.by_name: dict[str, Provider] = {}
        pm.hook.strato_register_providers(register=self.register)

    def register(self, provider: Provider) -> None:
        """Add one provider (a later one with the same name replaces the first)."""
        self.by_name[provider.name] = provider

    def get(self, name: str) -> Provider:
        from strato.exception import InvalidError

        try:
            return self.by_name[name]
        except KeyError:
            raise InvalidError(
                f"no provider named {name!r}; loaded: {', '.join(sorted(self.by_name)) or 'none'}"
            ) from None

    def provision(
        self, provider: Provider, spec: ContainerSpec, offer: Any = None
    ) -> ContainerHandle:
        """Provision through the ``strato_provision`` hook so wrappers apply."""
        return self.pm.hook.strato_provision(spec=spec, provider=provider, offer=offer)


@cache
def default_providers() -> Providers:
    """The process-wide providers, with the built-in local provider always present."""
    pm = make_plugin_manager()
    if not pm.has_plugin("local"):
        from strato.plugins import local

        pm.register(local, name="local")
    return Providers(pm)
