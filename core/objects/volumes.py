"""Volumes on the control plane: named file stores, and their working copies in containers.

A volume is a row in the ``volumes`` table and a directory ``<data dir>/volumes/<id>/``:

- ``tree/`` the committed files (the :class:`~strato.core.objects.volume_backends.LocalBackend`;
  ``STRATO_VOLUME_STORE=s3://bucket/prefix`` keeps them in S3 instead, see
  :func:`volume_backend`);
- ``staging/`` uploads and copies on their way into ``tree/``;
- ``slots/rw/<n>/`` and ``slots/ro/<n>/`` the working copies handed to containers
  (:mod:`strato.core.objects.volume_slots`).

Outside containers, every operation (list, read, upload, remove, copy) is an RPC handler that
acts on the committed files directly, as Modal's do. Inside a container that mounts the volume,
``commit`` and ``reload`` reach :func:`commit` and :func:`reload`, which sync the container's
working copy on a worker thread.

The preparer binds each mounted volume's working copy at the function's path (read-only for
``Volume.read_only()``) and tells the container where (``STRATO_VOLUME_MOUNTS``: a JSON map of
mount path to ``{"id", "name", "read_only"}``). A container on a cloud machine cannot see this
machine's disk: it gets the volume's store URL instead (a volume store in a bucket is then
required, see :func:`volume_store`) and syncs a working copy of its own
(:mod:`strato.runtime.mounts`), marked ``"sync": "container"`` in ``STRATO_VOLUME_MOUNTS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import posixpath
import re
import shutil
import time
from pathlib import Path
from typing import Any

from strato.core.objects import PREPARERS, RPC
from strato.core.objects._named import Objects, exists, object_table, public
from strato.core.objects.volume_backends import (
    TMP_PREFIX,
    FileStat,
    LocalBackend,
    Staged,
    StorageBackend,
    StoreLocation,
    clean_path,
    open_store,
    parse_store_url,
)
from strato.core.objects.volume_slots import SlotPolicy, existing_manager, manager_for
from strato.exception import AlreadyExistsError, InvalidError, NotFoundError

#: The largest chunk one ``volume.read`` or ``volume.stage`` call carries.
MAX_CHUNK = 16 << 20
MOUNTS_ENV = "STRATO_VOLUME_MOUNTS"
STAGING_TTL_S = 24 * 3600
_UPLOAD_ID = re.compile(r"[0-9a-f]{8,64}")

volumes = object_table("volumes")
VOLUMES = Objects("volume", volumes, "vo")


def volume_root(volume_id: str) -> Path:
    """The directory of one volume's files and working copies."""
    from strato.config import data_dir

    if not re.fullmatch(r"vo-[0-9a-f]+", volume_id):
        raise InvalidError(f"invalid volume id {volume_id!r}")
    path: Path = data_dir() / "volumes" / volume_id
    return path


def volume_store() -> StoreLocation | None:
    """Where volumes keep their committed files when not on this machine's disk:
    ``STRATO_VOLUME_STORE`` (``s3://bucket/prefix``, ``gs://bucket/prefix``,
    ``az://account/container/prefix`` or ``oci://bucket@namespace/prefix``; unset or ``local``:
    this machine). Cloud machines can mount volumes only with such a store."""
    store = os.environ.get("STRATO_VOLUME_STORE", "")
    if not store or store == "local":
        return None
    try:
        return parse_store_url(store)
    except InvalidError as exc:
        raise InvalidError(f"STRATO_VOLUME_STORE: {exc} (or 'local')") from None


def volume_backend(volume_id: str) -> StorageBackend:
    """Where a volume's committed files are: this machine's disk, or its prefix in the bucket
    store of :func:`volume_store` (endpoint in ``STRATO_VOLUME_STORE_ENDPOINT``, credentials
    from the SDK's usual chain)."""
    store = volume_store()
    if store is None:
        return LocalBackend(volume_root(volume_id))
    endpoint = os.environ.get("STRATO_VOLUME_STORE_ENDPOINT") or None
    return _open_store(store.child(volume_id), endpoint)


@functools.lru_cache(maxsize=256)
def _open_store(location: StoreLocation, endpoint: str | None) -> StorageBackend:
    """One backend (and SDK client, with its connections and tokens) per volume, reused."""
    return open_store(location, endpoint=endpoint)


def _require(plane: Any, volume_id: Any) -> str:
    if not isinstance(volume_id, str) or not exists(plane.store, "volumes", volume_id):
        raise NotFoundError(f"the volume {volume_id!r} does not exist (was it deleted?)")
    return volume_id


def entry_row(entry: FileStat) -> list[Any]:
    """A file entry as it travels: [path, type (1 file, 2 directory), mtime, size]."""
    return [entry.path, 2 if entry.is_dir else 1, int(entry.mtime), entry.size]


# -- names ---------------------------------------------------------------------------------------
def _lookup(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = VOLUMES.lookup(
        plane.store, params["name"], bool(params.get("create_if_missing"))
    )
    return row


def _create(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = VOLUMES.create(
        plane.store, params.get("name"), bool(params.get("allow_existing"))
    )
    return row


def _list(plane: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows = VOLUMES.list(plane.store, params.get("max_objects"), params.get("created_before"))
    return [public(row) for row in rows]


async def _delete(plane: Any, params: dict[str, Any]) -> bool:
    object_id = params.get("id")
    if object_id is None:
        name = params.get("name")
        with contextlib.suppress(NotFoundError):
            object_id = VOLUMES.lookup(plane.store, name)["id"]
    deleted: bool = VOLUMES.delete(
        plane.store,
        name=params.get("name"),
        object_id=object_id,
        allow_missing=bool(params.get("allow_missing")),
    )
    if deleted and object_id is not None:
        await asyncio.to_thread(_destroy, object_id)
    return deleted


def _destroy(volume_id: str) -> None:
    backend = volume_backend(volume_id)
    backend.destroy()
    shutil.rmtree(volume_root(volume_id), ignore_errors=True)


def _rename(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    from sqlalchemy import select, update

    from strato.core.objects._named import check_name

    new_name = check_name("volume", params.get("new_name"))
    with plane.store.engine.begin() as conn:
        if params.get("id"):
            row = conn.execute(select(volumes).where(volumes.c.id == params["id"])).first()
        else:
            name = check_name("volume", params.get("old_name"))
            row = conn.execute(select(volumes).where(volumes.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no volume named {params.get('old_name') or params.get('id')!r}")
        if row.name is None:
            raise InvalidError("an ephemeral volume cannot be renamed")
        taken = conn.execute(select(volumes.c.id).where(volumes.c.name == new_name)).first()
        if taken is not None and taken.id != row.id:
            raise AlreadyExistsError(f"a volume named {new_name!r} already exists")
        conn.execute(update(volumes).where(volumes.c.id == row.id).values(name=new_name))
    return {"id": row.id, "name": new_name, "created_at": row.created_at}


# -- files -----------------------------------------------------------------------------------------
async def _listdir(plane: Any, params: dict[str, Any]) -> list[list[Any]]:
    volume_id = _require(plane, params.get("id"))
    path = clean_path(params.get("path") or "/")
    recursive = bool(params.get("recursive"))

    def work() -> list[list[Any]]:
        return [entry_row(e) for e in volume_backend(volume_id).listdir(path, recursive)]

    return await asyncio.to_thread(work)


async def _read(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    """A chunk of a file: ``{data, size, version}``; a version other than the one the reader
    started with means the file was replaced meanwhile."""
    volume_id = _require(plane, params.get("id"))
    path = clean_path(params.get("path") or "")
    offset = int(params.get("offset") or 0)
    length = min(int(params.get("length") or MAX_CHUNK), MAX_CHUNK)

    def work() -> dict[str, Any]:
        data, entry = volume_backend(volume_id).read_range(path, offset, length)
        return {"data": data, "size": entry.size, "version": entry.version}

    result = await asyncio.to_thread(work)
    expected = params.get("version")
    if expected and result["version"] != expected:
        raise InvalidError(f"{path!r} was replaced while it was being read: read it again")
    return result


def _upload_path(volume_id: str, upload_id: Any) -> Path:
    if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
        raise InvalidError(f"invalid upload id {upload_id!r}")
    staging = volume_root(volume_id) / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    return staging / f"{TMP_PREFIX}up-{upload_id}"


async def _stage(plane: Any, params: dict[str, Any]) -> int:
    """Append a chunk to an upload's staging file; returns the file's size."""
    volume_id = _require(plane, params.get("id"))
    target = _upload_path(volume_id, params.get("upload_id"))
    data = params.get("data") or b""
    if len(data) > MAX_CHUNK:
        raise InvalidError(f"a chunk may carry at most {MAX_CHUNK} bytes")
    offset = int(params.get("offset") or 0)

    def work() -> int:
        if not offset:
            _sweep_staging(target.parent)
        with open(target, "r+b" if offset else "wb") as out:
            out.seek(offset)
            out.write(data)
            out.truncate()
            return out.tell()

    return await asyncio.to_thread(work)


def _sweep_staging(staging: Path) -> None:
    """Drop uploads abandoned (by a client that died mid-batch) more than a day ago."""
    cutoff = time.time() - STAGING_TTL_S
    for entry in os.scandir(staging):
        with contextlib.suppress(OSError):
            if entry.name.startswith(TMP_PREFIX) and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)


async def _publish(plane: Any, params: dict[str, Any]) -> int:
    """Move staged uploads to their paths, all after checking (unless ``force``) that none
    would overwrite a file. A path that is a directory is never overwritten."""
    volume_id = _require(plane, params.get("id"))
    force = bool(params.get("force"))
    files = [(_upload_path(volume_id, u), clean_path(p)) for u, p in params.get("files") or []]

    def work() -> int:
        backend = volume_backend(volume_id)
        with backend.lock():
            for _, path in files:
                if not path:
                    raise InvalidError("cannot upload a file to the volume's root")
                existing = backend.stat(path)
                if existing is not None and existing.is_dir:
                    raise AlreadyExistsError(f"{path!r} is a directory in the volume")
                if existing is not None and not force:
                    raise AlreadyExistsError(f"{path!r} already exists in the volume")
            for source, path in files:
                if not source.exists():
                    raise InvalidError(f"nothing was uploaded for {path!r}")
                backend.publish(path, Staged(source, owned=True))
        return len(files)

    try:
        return await asyncio.to_thread(work)
    finally:
        for source, _ in files:
            source.unlink(missing_ok=True)


def _discard(plane: Any, params: dict[str, Any]) -> None:
    volume_id = _require(plane, params.get("id"))
    for upload_id in params.get("upload_ids") or []:
        _upload_path(volume_id, upload_id).unlink(missing_ok=True)


async def _remove(plane: Any, params: dict[str, Any]) -> None:
    volume_id = _require(plane, params.get("id"))
    path = clean_path(params.get("path") or "")
    recursive = bool(params.get("recursive"))

    def work() -> None:
        backend = volume_backend(volume_id)
        with backend.lock():
            backend.remove(path, recursive)

    await asyncio.to_thread(work)


async def _copy(plane: Any, params: dict[str, Any]) -> int:
    """``cp`` inside the volume: into ``dst`` when it is a directory or there are several
    sources, else to ``dst`` itself. Directories need ``recursive``."""
    volume_id = _require(plane, params.get("id"))
    sources = [clean_path(p) for p in params.get("src_paths") or []]
    dst = clean_path(params.get("dst") or "")
    recursive = bool(params.get("recursive"))
    if not sources:
        raise InvalidError("copy_files needs at least one source path")

    def work() -> int:
        backend = volume_backend(volume_id)
        target = backend.stat(dst)
        into = (
            (target is not None and target.is_dir)
            or len(sources) > 1
            or not dst
            or bool(params.get("dst_is_dir"))
        )
        if len(sources) > 1 and target is not None and not target.is_dir:
            raise InvalidError(f"copying several paths: {dst!r} must be a directory")
        plan: list[tuple[str, str]] = []
        for src in sources:
            entry = backend.stat(src)
            if entry is None:
                raise NotFoundError(f"no file or directory {src!r} in the volume")
            base = posixpath.join(dst, posixpath.basename(src)) if into else dst
            if not entry.is_dir:
                plan.append((src, base))
                continue
            if not recursive:
                raise InvalidError(f"{src!r} is a directory: pass recursive=True to copy it")
            if base == src or base.startswith(src + "/"):
                raise InvalidError(f"cannot copy {src!r} into itself")
            backend.make_dir(base)
            for child in backend.listdir(src, recursive=True):
                rel = child.path[len(src) :].lstrip("/")
                if child.is_dir:
                    backend.make_dir(posixpath.join(base, rel))
                else:
                    plan.append((child.path, posixpath.join(base, rel)))
        with backend.lock():
            for src, target_path in plan:
                backend.copy(src, target_path)
        return len(plan)

    return await asyncio.to_thread(work)


# -- commit and reload from containers ----------------------------------------------------------
def _container_slots(plane: Any, params: dict[str, Any]) -> list[Any]:
    container_id = params.get("container_id")
    volume_id = params.get("id")
    manager = existing_manager(plane)
    slots = manager.slots_of(container_id, volume_id) if manager and container_id else []
    if not slots:
        raise InvalidError(
            f"the volume {volume_id!r} is not mounted in container {container_id!r}: commit() "
            "and reload() apply to volumes mounted with @app.function(volumes={...})"
        )
    return slots


async def commit(plane: Any, params: dict[str, Any]) -> dict[str, int]:
    """Publish a container's changes to a volume (each of its mounts of it)."""
    total: dict[str, int] = {}
    for slot in _container_slots(plane, params):
        stats = await asyncio.to_thread(slot.commit)
        for key, value in stats.as_dict().items():
            total[key] = total.get(key, 0) + value
    return total


async def reload(plane: Any, params: dict[str, Any]) -> dict[str, int]:
    """Commit a container's changes, then bring in everything committed since."""
    total: dict[str, int] = {}
    for slot in _container_slots(plane, params):
        stats = await asyncio.to_thread(slot.reload)
        for key, value in stats.as_dict().items():
            total[key] = total.get(key, 0) + value
    return total


RPC.update(
    {
        "volume.lookup": _lookup,
        "volume.create": _create,
        "volume.list": _list,
        "volume.delete": _delete,
        "volume.rename": _rename,
        "volume.listdir": _listdir,
        "volume.read": _read,
        "volume.stage": _stage,
        "volume.publish": _publish,
        "volume.discard": _discard,
        "volume.remove": _remove,
        "volume.copy": _copy,
        "volume.commit": commit,
        "volume.reload": reload,
    }
)


# -- containers ------------------------------------------------------------------------------------
def check_mount_path(path: str) -> str:
    """A mount path: absolute, normalized, not the root."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidError(f"mount path {path!r} must be an absolute path")
    normal = posixpath.normpath(path)
    if normal in ("/", "//") or ".." in normal.split("/"):
        raise InvalidError(f"cannot mount at {path!r}")
    return normal


def store_credentials(plane: Any) -> dict[str, str] | None:
    """The values of the secret named by ``STRATO_VOLUME_STORE_SECRET``, which remote
    containers use to reach the volume store (None: they use their machine's own identity:
    an instance profile, service account, managed identity or instance principal)."""
    name = os.environ.get("STRATO_VOLUME_STORE_SECRET")
    if not name:
        return None
    from strato.core.objects.secrets import SECRETS, decrypt

    try:
        row = SECRETS.get(plane.store, SECRETS.lookup(plane.store, name)["id"])
    except NotFoundError:
        raise NotFoundError(
            f"STRATO_VOLUME_STORE_SECRET names the secret {name!r}, which does not exist: "
            f"create it with `strato secret create {name} KEY=VALUE ...`"
        ) from None
    values: dict[str, str] = decrypt(row)
    return values


def prepare(plane: Any, pool: Any, spec: Any) -> None:
    """Bind a working copy of each volume the function mounts at its path; for a container on
    a remote machine, tell it where the volume's files are so that it syncs its own copy."""
    refs = ((pool.definition.get("objects") or {}).get("volumes")) or {}
    mounted: dict[str, dict[str, Any]] = {}
    for path, ref in refs.items():
        if not isinstance(ref, dict) or ref.get("kind") != "volume":
            continue
        target = check_mount_path(path)
        volume_id = _require(plane, ref.get("volume_id"))
        read_only = bool(ref.get("read_only"))
        info = {"id": volume_id, "name": ref.get("name"), "read_only": read_only}
        if spec.remote:
            info["sync"] = "container"
            spec.sync.append({"kind": "volume", "target": target, **_remote_store(plane, ref)})
            mounted[target] = info
            continue
        backend = volume_backend(volume_id)
        policy = SlotPolicy(
            writable=not read_only,
            link=read_only and isinstance(backend, LocalBackend),
            background_push=not read_only,
            push_at_exit=not read_only,
        )
        slot = manager_for(plane).acquire(
            volume_root(volume_id) / "slots" / ("ro" if read_only else "rw"),
            backend,
            spec.container_id,
            volume_id,
            policy,
        )
        spec.mounts.append({"source": str(slot.work), "target": target, "read_only": read_only})
        mounted[target] = info
    if mounted:
        spec.env[MOUNTS_ENV] = json.dumps(mounted)


def _remote_store(plane: Any, ref: dict[str, Any]) -> dict[str, Any]:
    """Where a remote container finds a volume's committed files, and how it gets in."""
    store = volume_store()
    if store is None:
        raise InvalidError(
            f"the volume {ref.get('name') or ref.get('volume_id')!r} cannot be mounted on a "
            "cloud machine: its files are on the control plane's disk. Keep volumes in a bucket "
            "store the machines can reach: set STRATO_VOLUME_STORE to s3://bucket/prefix, "
            "gs://bucket/prefix, az://account/container/prefix or oci://bucket@namespace/prefix "
            "on the control plane"
        )
    credentials = store_credentials(plane)
    if credentials is None and store.scheme == "oci":
        # the SDK has no default chain that finds an instance's identity by itself
        credentials = {"OCI_CLI_AUTH": "instance_principal"}
    return {
        "id": ref["volume_id"],
        "name": ref.get("name"),
        "read_only": bool(ref.get("read_only")),
        "store": store.child(ref["volume_id"]).url(),
        "endpoint": os.environ.get("STRATO_VOLUME_STORE_ENDPOINT") or None,
        "credentials": credentials,
    }


PREPARERS.append(prepare)
