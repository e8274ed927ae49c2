"""The function's own source files, fetched by a container whose machine does not have them.

The app lists them in the function's definition (see :mod:`strato._source`). When the file
or module the container must import is not on this machine (a cloud machine), the agent
downloads each listed file from the control plane (``GET /v1/blobs/{sha256}``, with the
container's token) into ``/root`` (Modal's place for it; a temporary folder where ``/root``
is not writable), checks its hash, and imports from there.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import urllib.request
from typing import Any


def _present(definition: dict[str, Any]) -> bool:
    """Whether the function's file or module can be imported here as it is."""
    file = definition.get("file")
    if file:
        return os.path.isfile(file)
    module = definition.get("module")
    if not module:
        return True
    for root in definition.get("python_path") or []:
        if root not in sys.path and os.path.isdir(root):
            sys.path.append(root)
    try:
        return importlib.util.find_spec(module.split(".", 1)[0]) is not None
    except (ImportError, ValueError):
        return False


def _target_dir() -> str:
    if os.access("/root", os.W_OK):
        return "/root"
    path = os.path.join(tempfile.gettempdir(), "strato-source")
    os.makedirs(path, exist_ok=True)
    return path


def fetch(definition: dict[str, Any], server_url: str, token: str) -> str | None:
    """Fetch the function's source if this machine lacks it; returns the folder it is in (and
    puts it first on ``sys.path``), or None when nothing had to be fetched."""
    source = definition.get("source")
    if not source or _present(definition):
        return None
    root = _target_dir()
    for rel, sha, mode in source["files"]:
        target = os.path.normpath(os.path.join(root, rel))
        if not target.startswith(root.rstrip("/") + "/"):
            raise ValueError(f"source path {rel!r} leaves {root}")
        request = urllib.request.Request(
            f"{server_url.rstrip('/')}/v1/blobs/{sha}",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            data = response.read()
        if hashlib.sha256(data).hexdigest() != sha:
            raise ValueError(f"source file {rel!r} arrived damaged (hash mismatch)")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as out:
            out.write(data)
        os.chmod(target, mode & 0o777)
    sys.path.insert(0, root)
    if definition.get("file"):
        definition["file"] = os.path.join(root, os.path.basename(definition["file"]))
    return root
