"""Objects functions use besides code: images, secrets, volumes, bucket mounts, dicts, queues.

Each kind lives in its own module here and plugs into the control plane in two ways:

- ``ROUTERS``: FastAPI routers mounted under ``/v1`` (with the plane's token check); a route
  reaches the plane as ``request.app.state.plane``;
- ``RPC``: handlers for small, frequent operations, called over the caller's session (no
  HTTP request): ``RPC["dict.get"] = handler`` where ``handler(plane, params)`` returns a
  msgpack-able result, or a coroutine for one that waits; clients call
  ``Client.rpc("dict.get", {...})`` (or ``await client.rpc_async(...)``);
- ``PREPARERS``: functions ``prepare(plane, pool, spec)`` called before each container of a
  function starts, to fill in the :class:`~strato.plugins.provider.ContainerSpec` from the
  function's ``definition["objects"]`` (environment variables, mounts, the image's Python).

Their tables are declared on :data:`strato.core.schema.metadata`, so importing this package
(:func:`load`) before ``create_all`` creates them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

ROUTERS: list[Any] = []
PREPARERS: list[Callable[[Any, Any, Any], None]] = []
#: method name -> handler(plane, params): the session's request/response fast path
RPC: dict[str, Callable[[Any, dict[str, Any]], Any]] = {}

#: The modules of this package that contribute routers, preparers or tables.
MODULES = ("images", "blobs", "secrets", "volumes", "mounts", "dicts", "queues")

_loaded = False


def load() -> None:
    """Import every object module present (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in MODULES:
        try:
            importlib.import_module(f"strato.core.objects.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"strato.core.objects.{name}":
                raise


def prepare_container(plane: Any, pool: Any, spec: Any) -> None:
    """Let every object kind fill in a container's spec before it starts."""
    for prepare in PREPARERS:
        prepare(plane, pool, spec)
