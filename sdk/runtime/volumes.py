"""What a container knows about the volumes mounted in it.

The control plane's volume preparer sets ``STRATO_VOLUME_MOUNTS`` (a JSON map of mount path to
``{"id", "name", "read_only"}``) when it binds the volumes' working copies; ``Volume.commit()``
and ``Volume.reload()`` read it to find which of their mounts to sync. A mount marked
``"sync": "container"`` is a copy this container syncs itself (on a cloud machine, see
:mod:`strato.runtime.mounts`); the others are synced by the control plane.
"""

from __future__ import annotations

import json
import os
from typing import Any

MOUNTS_ENV = "STRATO_VOLUME_MOUNTS"


def container_id() -> str | None:
    """This container's id (None outside containers)."""
    return os.environ.get("STRATO_CONTAINER_ID")


def mounts() -> dict[str, dict[str, Any]]:
    """Mount path -> ``{"id", "name", "read_only"}`` for every volume mounted here."""
    raw = os.environ.get(MOUNTS_ENV)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def find(volume_id: str | None, name: str | None) -> dict[str, dict[str, Any]]:
    """The mounts (path -> info) of one volume, by id when known, else by name."""
    return {
        path: info
        for path, info in mounts().items()
        if (volume_id is not None and info.get("id") == volume_id)
        or (volume_id is None and name is not None and info.get("name") == name)
    }


def open_files_under(paths: list[str]) -> list[str]:
    """Files this process has open under any of ``paths`` (Linux; empty elsewhere)."""
    prefixes = [p.rstrip("/") + "/" for p in paths]
    found: list[str] = []
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return found
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if any(target.startswith(prefix) for prefix in prefixes):
            found.append(target)
    return sorted(set(found))
