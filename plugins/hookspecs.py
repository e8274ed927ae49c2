"""Every hook a Strato plugin can implement. Each docstring is that hook's reference.

Hooks are called with keyword arguments; an implementation may accept a subset of them, so
adding an argument later breaks no plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("strato")
hookimpl = pluggy.HookimplMarker("strato")


@hookspec
def strato_register_providers(register: Callable[[Any], None]) -> None:
    """Register provider objects by calling ``register(provider)`` once for each.

    A provider implements :class:`strato.plugins.provider.Provider`. Called once when the
    plugin manager loads; every implementation is called (results are ignored).
    """


@hookspec(firstresult=True)
def strato_provision(spec: Any, provider: Any, offer: Any) -> Any:
    """Provision one container: wrap this hook (``@hookimpl(wrapper=True)``) to act around it.

    The innermost implementation calls ``provider.provision(spec, offer)`` and returns the
    handle. Wrappers may refuse a launch by raising a ``ProviderError`` (a budget cap, a
    dry run) or record what happened; the first non-None result is the handle.
    """
