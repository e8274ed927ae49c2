"""The Strato runtime as one archive, for cloud machines to run the worker agent from.

A cloud machine starts from a stock image that has Python but not Strato, and Strato need not
be on any package index. The control plane therefore serves the very code it runs
(``GET /v1/runtime.tar.gz``): the ``strato`` package with its subpackages, which live in
separate source folders in a checkout (``sdk/`` is ``strato``, ``core/`` is ``strato.core``,
...) and in one folder in an installed wheel; the archive lays them out as one importable
tree. The start-up script unpacks it and puts it first on ``PYTHONPATH`` in the container, so
the agent always matches the plane it talks to. Its own dependencies are two small wheels
(``msgpack``, ``cloudpickle``), installed by the script when the image lacks them.
"""

from __future__ import annotations

import functools
import io
import os
import sys
import tarfile

#: The subpackages of ``strato`` whose folders may live apart from ``strato``'s own.
SUBPACKAGES = ("core", "plugins", "regions", "pricing")
#: What the agent needs besides the standard library, as (pip requirement, module) pairs
#: (the start-up script installs them).
AGENT_REQUIREMENTS = (("msgpack>=1.0", "msgpack"), ("cloudpickle>=3.0", "cloudpickle"))
_SKIP_DIRS = {"__pycache__", "tests", ".pytest_cache"}


def _package_dirs() -> dict[str, str]:
    """Archive folder -> the source folder it is made from."""
    import importlib

    import strato

    dirs = {"strato": os.path.dirname(os.path.abspath(strato.__file__))}
    for name in SUBPACKAGES:
        module = sys.modules.get(f"strato.{name}") or importlib.import_module(f"strato.{name}")
        folder = os.path.dirname(os.path.abspath(module.__file__ or ""))
        if os.path.realpath(folder) != os.path.realpath(os.path.join(dirs["strato"], name)):
            dirs[f"strato/{name}"] = folder
    return dirs


def _add_tree(archive: tarfile.TarFile, source: str, arcname: str, skip: set[str]) -> None:
    for root, folders, files in os.walk(source):
        rel = os.path.relpath(root, source)
        inside = arcname if rel == "." else f"{arcname}/{rel}"
        if inside in skip:
            folders[:] = []
            continue
        folders[:] = sorted(f for f in folders if f not in _SKIP_DIRS)
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            info = archive.gettarinfo(os.path.join(root, name), f"{inside}/{name}")
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0  # the same code gives the same archive
            with open(os.path.join(root, name), "rb") as fh:
                archive.addfile(info, fh)


@functools.cache
def runtime_archive() -> bytes:
    """A gzip tar of the ``strato`` package tree (built once per process)."""
    dirs = _package_dirs()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as archive:
        # a subpackage kept apart is added from its own folder, not from a stale copy
        _add_tree(archive, dirs.pop("strato"), "strato", set(dirs))
        for arcname, folder in sorted(dirs.items()):
            _add_tree(archive, folder, arcname, set())
    return buffer.getvalue()
