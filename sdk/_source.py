"""The user's own code, for containers on machines that do not have it (``include_source``).

A function defined in a file is found in a container by module and name. A local container
imports it from this machine's disk; a cloud machine has none of the user's files, so, as
Modal does, the app ships the function's source with it: the file the app runs (``__main__``)
or the top-level package (or single module) the function is defined in, Python files only.

:func:`attach` lists those files with their content hashes in the function's definition
(``definition["source"] = {"files": [[path, sha256, mode], ...]}``, paths relative to the
folder the module is imported from), uploading to the control plane only the contents it does
not have yet. The worker agent on the machine fetches them (:mod:`strato.runtime.source`).
Apps that bring their code in their image say ``App(include_source=False)``.
"""

from __future__ import annotations

import os
from typing import Any

from strato._image_files import hash_file
from strato.exception import InvalidError

#: Limits that keep an accidental folder (a whole home directory) out of a container.
MAX_FILES = 5000
MAX_BYTES = 64 << 20
_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "venv", ".venv", "env"}


def source_files(definition: dict[str, Any]) -> dict[str, str]:
    """Relative path -> local path of the files a container needs to import the function."""
    file = definition.get("file")
    if file:  # the app's entrypoint file
        return {os.path.basename(file): file}
    module = definition.get("module")
    roots = definition.get("python_path") or []
    if not module or not roots:
        return {}
    root = roots[0]
    top = module.split(".", 1)[0]
    package = os.path.join(root, top)
    if not os.path.isdir(package):
        single = os.path.join(root, f"{top}.py")
        return {f"{top}.py": single} if os.path.isfile(single) else {}
    found: dict[str, str] = {}
    for folder, dirs, names in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(names):
            if name.endswith(".py") and not name.startswith("."):
                path = os.path.join(folder, name)
                found[os.path.relpath(path, root).replace(os.sep, "/")] = path
    return found


def attach(client: Any, definition: dict[str, Any], cache: dict[str, list[Any]]) -> None:
    """Put the function's source files in ``definition`` and upload what the control plane
    lacks; ``cache`` (local path -> entry) spares re-hashing files shared by functions."""
    files = source_files(definition)
    if not files:
        return
    if len(files) > MAX_FILES:
        raise InvalidError(
            f"{definition.get('qualname')}: its package holds {len(files)} Python files, more "
            f"than the {MAX_FILES} a container gets with its source; add what it needs with "
            "Image.add_local_python_source() and use App(include_source=False)"
        )
    entries, total, sources = [], 0, {}
    for rel, path in files.items():
        if path not in cache:
            stat = os.stat(path)
            cache[path] = [hash_file(path), stat.st_mode & 0o777, stat.st_size]
        sha, mode, size = cache[path]
        total += size
        entries.append([rel, sha, mode])
        sources[sha] = path
    if total > MAX_BYTES:
        raise InvalidError(
            f"{definition.get('qualname')}: its source is {total >> 20} MiB, more than the "
            f"{MAX_BYTES >> 20} MiB a container gets with it; use App(include_source=False) "
            "and put the code in the image"
        )
    from strato._image_build import upload_files

    upload_files(client, sources, client.rpc("blob.missing", {"shas": sorted(sources)}))
    definition["source"] = {"files": entries}
