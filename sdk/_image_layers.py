"""An image's layers as data, and the content hashes that give each one its identity.

Every ``Image`` method adds one :class:`Layer`. A layer's *payload* is what the control plane
needs to build it and what the Dockerfile renderer reads::

    {"op": "pip_install", "args": {...}, "files": [[src, dest, sha256, mode], ...],
     "extra": {...}, "force": False, "hash": "<sha256 of the chain up to here>"}

``args`` and the files' destinations, hashes and modes are the layer's identity; ``extra``
carries what must not be (a pickled build function, hydrated secret references). The hash of a
layer covers its parent's hash, so an image's identity is the hash of its whole chain, and a
change in one layer changes every layer after it, as with Docker.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from strato._image_files import FileSource

#: Bumped when the meaning of a payload changes, so that old caches are not reused.
LAYER_FORMAT = 1

#: Arguments that only say where local files are: their content is hashed instead, so a moved
#: project keeps its image.
WHERE_ARGS = frozenset({"local_path", "path"})
#: Ops that only set metadata: nothing is built for them.
METADATA_OPS = frozenset({"env", "workdir", "entrypoint", "shell", "cmd"})
#: Ops that add local files, with or without ``copy=True``.
FILE_OPS = frozenset({"add_local_file", "add_local_dir", "add_local_python_source"})
#: Ops that start an image.
BASE_OPS = frozenset({"debian_slim", "micromamba", "from_registry", "from_dockerfile"})


@dataclass(frozen=True)
class Layer:
    """One step of an image definition."""

    op: str
    args: Mapping[str, Any]
    sources: tuple[FileSource, ...] = ()
    #: sources known only once local files are read (the context a Dockerfile copies from)
    source_fn: Callable[[], tuple[FileSource, ...]] | None = field(default=None, compare=False)
    force_build: bool = False
    secrets: tuple[Any, ...] = ()
    #: computed when the payload is built, not at definition time: reads local files (a
    #: Dockerfile, a pyproject.toml) that may not exist where the definition is re-imported
    resolve: Callable[[], dict[str, Any]] | None = field(default=None, compare=False)
    #: payload data outside the identity (e.g. a pickled function)
    extra: Callable[[], dict[str, Any]] | None = field(default=None, compare=False)

    @property
    def copies_later(self) -> bool:
        """An ``add_local_*`` layer with ``copy=False``: files added at container start."""
        return self.op in FILE_OPS and not self.args.get("copy")

    def payload(self, hashed: bool) -> dict[str, Any]:
        args = dict(self.args)
        if self.resolve is not None:
            args.update(self.resolve())
        sources = self.sources + (self.source_fn() if self.source_fn is not None else ())
        files: list[list[Any]] = []
        seen: set[str] = set()
        for source in sources:
            for entry in source.entries(hashed):
                if entry[1] not in seen:  # overlapping sources: the first one wins
                    seen.add(entry[1])
                    files.append(list(entry))
        return {
            "op": self.op,
            "args": args,
            "files": files,
            "extra": self.extra() if self.extra is not None else {},
            "force": self.force_build,
        }


def canonical(value: Any) -> str:
    """A stable text form of JSON-able data, for hashing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def layer_hash(parent: str, payload: Mapping[str, Any]) -> str:
    """The identity of a layer on top of ``parent``: its op, arguments and file contents."""
    identity = {
        "format": LAYER_FORMAT,
        "parent": parent,
        "op": payload["op"],
        "args": {k: v for k, v in payload["args"].items() if k not in WHERE_ARGS},
        "files": [[dest, sha, mode] for _src, dest, sha, mode in payload["files"]],
    }
    return hashlib.sha256(canonical(identity).encode()).hexdigest()


def payloads(layers: tuple[Layer, ...], hashed: bool = True) -> list[dict[str, Any]]:
    """Every layer's payload, with the hash of the chain up to it."""
    out, parent = [], ""
    for layer in layers:
        payload = layer.payload(hashed)
        parent = payload["hash"] = layer_hash(parent, payload)
        out.append(payload)
    return out


def definition_hash(layers: tuple[Layer, ...]) -> str:
    """A hash of the definition alone (ops and arguments, no file reads): cheap enough to
    compute in a container, to tell whether it runs this image."""
    parent = ""
    for layer in layers:
        text = canonical({"parent": parent, "op": layer.op, "args": dict(layer.args)})
        parent = hashlib.sha256(text.encode()).hexdigest()
    return parent


def image_id(chain_hash: str) -> str:
    """The public id of an image whose last layer has ``chain_hash``."""
    return f"im-{chain_hash[:24]}"


def describe(payload: Mapping[str, Any]) -> str:
    """A short human description of a layer, for build progress."""
    op, args = payload["op"], payload["args"]
    if op in ("pip_install", "uv_pip_install", "pip_install_from_pyproject"):
        detail = " ".join(args.get("packages") or []) or "(nothing)"
    elif op == "debian_slim" or op == "micromamba":
        detail = f"python {args.get('python_version')}"
    elif op == "from_registry":
        detail = str(args.get("tag"))
    elif op in ("apt_install", "micromamba_install"):
        detail = " ".join(args.get("packages") or [])
    elif op == "run_commands":
        detail = "; ".join(args.get("commands") or [])
    elif op == "run_function":
        detail = str(args.get("name"))
    elif op == "env":
        detail = " ".join(f"{k}={v}" for k, v in sorted((args.get("vars") or {}).items()))
    elif op == "workdir":
        detail = str(args.get("path"))
    elif op in ("add_local_file", "add_local_dir"):
        detail = f"{args.get('local_path')} -> {args.get('remote_path')}"
    elif op == "add_local_python_source":
        detail = " ".join(args.get("modules") or [])
    elif op in ("pip_install_from_requirements", "uv_sync", "poetry_install_from_file"):
        detail = str(args.get("path"))
    else:
        detail = ""
    if len(detail) > 80:
        detail = detail[:77] + "..."
    return f"{op} {detail}".rstrip()
