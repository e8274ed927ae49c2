"""``strato.Volume``: a file store functions mount at a path, and anyone can read and write.

A container that mounts a volume (``@app.function(volumes={"/data": vol})``) works on its own
copy of it: what it writes is published by :meth:`Volume.commit` (and in the background every
few seconds, and when the container exits normally), and what other containers committed
reaches it on :meth:`Volume.reload`, as on Modal. Outside containers, the file methods
(:meth:`~Volume.read_file`, :meth:`~Volume.listdir`, :meth:`~Volume.batch_upload`,
:meth:`~Volume.remove_file`, :meth:`~Volume.copy_files`) act on the committed files at once.

Every method has an ``.aio`` form. Files travel over the client's session in chunks of
:data:`CHUNK_SIZE` bytes.
"""

from __future__ import annotations

import asyncio
import enum
import io
import os
import secrets
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from strato.exception import AlreadyExistsError, InvalidError, NotFoundError
from strato.function import _Dual

CHUNK_SIZE = 8 << 20


class VolumeFileNotFoundError(NotFoundError, FileNotFoundError):
    """A path is not in the volume: catch it as ``FileNotFoundError`` or ``NotFoundError``."""


class VolumeFileExistsError(AlreadyExistsError, FileExistsError):
    """An upload would overwrite a file (pass ``force=True``) or a directory."""


class FileEntryType(enum.IntEnum):
    """What a :class:`FileEntry` is."""

    UNSPECIFIED = 0
    FILE = 1
    DIRECTORY = 2
    SYMLINK = 3


@dataclass(frozen=True)
class FileEntry:
    """One file or directory of a volume, as ``listdir`` returns it."""

    path: str
    type: FileEntryType
    mtime: int
    size: int


@dataclass(frozen=True)
class VolumeInfo:
    """What ``info()`` returns."""

    name: str | None
    created_at: datetime | None
    created_by: str | None = None


def _default_client(client: Any = None) -> Any:
    if client is not None:
        return client
    from strato.client import Client

    return Client.from_env()


def _check_name(name: Any) -> str:
    from strato.dict import check_name

    return check_name("volume", name)


def _remote(path: str | os.PathLike[str]) -> str:
    """A path inside the volume, as the control plane takes it."""
    text = os.fspath(path)
    if not isinstance(text, str):
        raise InvalidError(f"a volume path must be a str, got {type(path).__name__}")
    return str(PurePosixPath("/", text))[1:]


def _file_errors(error: Exception) -> Exception:
    """File-level errors as Python's: a missing path is also a ``FileNotFoundError``."""
    if isinstance(error, NotFoundError) and not isinstance(error, FileNotFoundError):
        return VolumeFileNotFoundError(str(error))
    if isinstance(error, AlreadyExistsError) and not isinstance(error, FileExistsError):
        return VolumeFileExistsError(str(error))
    return error


def _entry(row: list[Any]) -> FileEntry:
    return FileEntry(row[0], FileEntryType(row[1]), int(row[2]), int(row[3]))


class _Static:
    """A function on the class with a blocking form and an ``.aio`` form."""

    def __init__(self, blocking: Any, asynchronous: Any) -> None:
        self._blocking = blocking
        self.aio = asynchronous
        self.__doc__ = blocking.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._blocking(*args, **kwargs)


# -- names, without an object ----------------------------------------------------------------------
def _create(
    name: str,
    *,
    version: int | None = None,
    allow_existing: bool = False,
    environment_name: str | None = None,
    client: Any = None,
) -> None:
    """Create a named volume (an error if it exists, unless ``allow_existing``)."""
    _default_client(client).rpc(
        "volume.create", {"name": _check_name(name), "allow_existing": allow_existing}
    )


async def _create_aio(
    name: str,
    *,
    version: int | None = None,
    allow_existing: bool = False,
    environment_name: str | None = None,
    client: Any = None,
) -> None:
    await _default_client(client).rpc_async(
        "volume.create", {"name": _check_name(name), "allow_existing": allow_existing}
    )


def _list_params(max_objects: int | None, created_before: datetime | str | None) -> dict[str, Any]:
    from strato.dict import to_timestamp

    return {"max_objects": max_objects, "created_before": to_timestamp(created_before)}


def _list(
    *,
    max_objects: int | None = None,
    created_before: datetime | str | None = None,
    environment_name: str = "",
    client: Any = None,
) -> list[Volume]:
    """Named volumes, newest first, as hydrated objects."""
    rows = _default_client(client).rpc("volume.list", _list_params(max_objects, created_before))
    return [Volume._from_row(row, client) for row in rows]


async def _list_aio(
    *,
    max_objects: int | None = None,
    created_before: datetime | str | None = None,
    environment_name: str = "",
    client: Any = None,
) -> list[Volume]:
    rows = await _default_client(client).rpc_async(
        "volume.list", _list_params(max_objects, created_before)
    )
    return [Volume._from_row(row, client) for row in rows]


def _delete(
    name: str,
    *,
    allow_missing: bool = False,
    environment_name: str | None = None,
    client: Any = None,
) -> None:
    """Delete a named volume and all of its files (irreversible)."""
    _default_client(client).rpc(
        "volume.delete", {"name": _check_name(name), "allow_missing": allow_missing}
    )


async def _delete_aio(
    name: str,
    *,
    allow_missing: bool = False,
    environment_name: str | None = None,
    client: Any = None,
) -> None:
    await _default_client(client).rpc_async(
        "volume.delete", {"name": _check_name(name), "allow_missing": allow_missing}
    )


def _rename(
    old_name: str,
    new_name: str,
    *,
    client: Any = None,
    environment_name: str | None = None,
) -> None:
    """Rename a volume; its files and its id stay."""
    _default_client(client).rpc(
        "volume.rename", {"old_name": _check_name(old_name), "new_name": _check_name(new_name)}
    )


async def _rename_aio(
    old_name: str,
    new_name: str,
    *,
    client: Any = None,
    environment_name: str | None = None,
) -> None:
    await _default_client(client).rpc_async(
        "volume.rename", {"old_name": _check_name(old_name), "new_name": _check_name(new_name)}
    )


class _VolumeObjects:
    """``Volume.objects``: create, list and delete named volumes."""

    create = _Static(_create, _create_aio)
    list = _Static(_list, _list_aio)
    delete = _Static(_delete, _delete_aio)


class _Rename:
    """``Volume.rename(old, new)`` on the class; ``volume.rename(new)`` on an object."""

    _static = _Static(_rename, _rename_aio)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self._static
        return _Dual(Volume._rename_blocking, Volume._rename_async).__get__(obj)


# -- the object ------------------------------------------------------------------------------------
class Volume:
    """A named (or ephemeral) volume; see the module docstring."""

    objects = _VolumeObjects

    def __init__(
        self,
        name: str | None = None,
        object_id: str | None = None,
        *,
        create_if_missing: bool = False,
        read_only: bool = False,
        client: Any = None,
    ) -> None:
        self._name = name
        self._object_id = object_id
        self._create_if_missing = create_if_missing
        self._read_only = read_only
        self._client = client
        self._created_at: float | None = None

    def __repr__(self) -> str:
        label = self._name or self._object_id or "unhydrated"
        suffix = ", read_only=True" if self._read_only else ""
        return f"Volume({label!r}{suffix})"

    def __reduce__(self) -> tuple[Any, ...]:
        # the client stays behind: a container uses its own
        return (
            _restore,
            (self._name, self._object_id, self._create_if_missing, self._read_only),
        )

    # -- construction ------------------------------------------------------------------------
    @staticmethod
    def from_name(
        name: str,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        version: int | None = None,
    ) -> Volume:
        """A reference to the volume called ``name``, looked up on first use."""
        return Volume(_check_name(name), create_if_missing=create_if_missing)

    @staticmethod
    def lookup(
        name: str,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        client: Any = None,
        version: int | None = None,
    ) -> Volume:
        """``from_name(...).hydrate()`` (Modal's older spelling)."""
        return Volume.from_name(name, create_if_missing=create_if_missing).hydrate(client)

    @classmethod
    def ephemeral(
        cls,
        client: Any = None,
        environment_name: str | None = None,
        version: int | None = None,
    ) -> _EphemeralVolume:
        """A nameless volume for the duration of a ``with`` (or ``async with``) block."""
        return _EphemeralVolume(client)

    @classmethod
    def _from_row(cls, row: dict[str, Any], client: Any) -> Volume:
        volume = cls(row.get("name"), row["id"], client=client)
        volume._created_at = row.get("created_at")
        return volume

    delete = _Static(_delete, _delete_aio)
    rename = _Rename()

    def read_only(self) -> Volume:
        """This volume, mounted read-only: writes under its mount path fail with ``EROFS``."""
        view = Volume(
            self._name,
            self._object_id,
            create_if_missing=self._create_if_missing,
            read_only=True,
            client=self._client,
        )
        view._created_at = self._created_at
        return view

    # -- identity ------------------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        """The name, or None for an ephemeral volume."""
        return self._name

    @property
    def object_id(self) -> str:
        """The control plane's id (hydrates the volume first)."""
        if self._object_id is None:
            self.hydrate()
        assert self._object_id is not None
        return self._object_id

    @property
    def is_hydrated(self) -> bool:
        return self._object_id is not None

    def _lookup_params(self) -> dict[str, Any]:
        if self._name is None:
            raise InvalidError("this volume has no name and no id")
        return {"name": self._name, "create_if_missing": self._create_if_missing}

    def _hydrated(self, row: dict[str, Any]) -> None:
        self._object_id = row["id"]
        self._name = row.get("name", self._name)
        self._created_at = row.get("created_at")

    def _ready(self) -> tuple[Any, str]:
        client = _default_client(self._client)
        if self._object_id is None:
            self._hydrated(client.rpc("volume.lookup", self._lookup_params()))
        assert self._object_id is not None
        return client, self._object_id

    async def _ready_async(self) -> tuple[Any, str]:
        client = _default_client(self._client)
        if self._object_id is None:
            self._hydrated(await client.rpc_async("volume.lookup", self._lookup_params()))
        assert self._object_id is not None
        return client, self._object_id

    def _hydrate_blocking(self, client: Any = None) -> Volume:
        """Look the volume up now (creating it if asked to); returns it."""
        if client is not None:
            self._client = client
        self._ready()
        return self

    async def _hydrate_async(self, client: Any = None) -> Volume:
        if client is not None:
            self._client = client
        await self._ready_async()
        return self

    hydrate = _Dual(_hydrate_blocking, _hydrate_async)

    def _strato_hydrate(self, client: Any, app_id: str | None) -> dict[str, Any]:
        """The reference a function's definition carries (see ``App._hydrate_objects``)."""
        if self._object_id is None:  # the run's client looks it up; later calls use their own
            client = client or _default_client(self._client)
            self._hydrated(client.rpc("volume.lookup", self._lookup_params()))
        volume_id = self._object_id
        return {
            "kind": "volume",
            "volume_id": volume_id,
            "name": self._name,
            "read_only": self._read_only,
        }

    def _info_blocking(self) -> VolumeInfo:
        """The volume's name and creation time."""
        self._ready()
        return self._info()

    async def _info_async(self) -> VolumeInfo:
        await self._ready_async()
        return self._info()

    def _info(self) -> VolumeInfo:
        created = self._created_at
        when = None if created is None else datetime.fromtimestamp(created, tz=UTC)
        return VolumeInfo(self._name, when)

    info = _Dual(_info_blocking, _info_async)

    # -- in a container: commit and reload ------------------------------------------------------
    def _mount_params(self, what: str) -> tuple[dict[str, Any], list[str]]:
        from strato.runtime import volumes as mounted

        container = mounted.container_id()
        found = mounted.find(self._object_id, self._name)
        if container is None or not found:
            where = "this container" if container else "this process (not a container)"
            raise InvalidError(
                f"{what}() applies to a volume mounted in a container "
                f"(@app.function(volumes={{...}})); {self!r} is not mounted in {where}"
            )
        info = next(iter(found.values()))
        params = {"id": info["id"], "container_id": container}
        if info.get("sync") == "container":
            params["here"] = True  # this process syncs the copy (a container on a cloud machine)
        return params, list(found)

    def _commit_blocking(self) -> None:
        """Publish this container's changes to the volume, for other containers to reload."""
        params, _ = self._mount_params("commit")
        if params.get("here"):
            from strato.runtime import mounts

            mounts.commit(params["id"])
            return
        _default_client(self._client).rpc("volume.commit", params)

    async def _commit_async(self) -> None:
        params, _ = self._mount_params("commit")
        if params.get("here"):
            from strato.runtime import mounts

            await asyncio.to_thread(mounts.commit, params["id"])
            return
        await _default_client(self._client).rpc_async("volume.commit", params)

    commit = _Dual(_commit_blocking, _commit_async)

    def _check_not_busy(self, paths: list[str]) -> None:
        from strato.runtime.volumes import open_files_under

        busy = open_files_under(paths)
        if busy:
            raise InvalidError(
                f"volume busy: cannot reload while files are open on it ({', '.join(busy[:3])})"
            )

    def _reload_blocking(self) -> None:
        """Take in what other containers committed (committing this container's changes)."""
        params, paths = self._mount_params("reload")
        self._check_not_busy(paths)
        if params.get("here"):
            from strato.runtime import mounts

            mounts.reload(params["id"])
            return
        _default_client(self._client).rpc("volume.reload", params)

    async def _reload_async(self) -> None:
        params, paths = self._mount_params("reload")
        self._check_not_busy(paths)
        if params.get("here"):
            from strato.runtime import mounts

            await asyncio.to_thread(mounts.reload, params["id"])
            return
        await _default_client(self._client).rpc_async("volume.reload", params)

    reload = _Dual(_reload_blocking, _reload_async)

    # -- files ---------------------------------------------------------------------------------
    def _read_file_blocking(self, path: str) -> Iterator[bytes]:
        """The file's bytes, in chunks (``FileNotFoundError`` if it is not there)."""
        client, volume_id = self._ready()
        params: dict[str, Any] = {"id": volume_id, "path": _remote(path), "length": CHUNK_SIZE}
        offset = 0
        while True:
            try:
                chunk = client.rpc("volume.read", {**params, "offset": offset})
            except Exception as exc:
                raise _file_errors(exc) from None
            params["version"] = chunk["version"]
            if chunk["data"]:
                yield chunk["data"]
            offset += len(chunk["data"])
            if offset >= chunk["size"] or not chunk["data"]:
                return

    async def _read_file_async(self, path: str) -> AsyncIterator[bytes]:
        client, volume_id = await self._ready_async()
        params: dict[str, Any] = {"id": volume_id, "path": _remote(path), "length": CHUNK_SIZE}
        offset = 0
        while True:
            try:
                chunk = await client.rpc_async("volume.read", {**params, "offset": offset})
            except Exception as exc:
                raise _file_errors(exc) from None
            params["version"] = chunk["version"]
            if chunk["data"]:
                yield chunk["data"]
            offset += len(chunk["data"])
            if offset >= chunk["size"] or not chunk["data"]:
                return

    read_file = _Dual(_read_file_blocking, _read_file_async)

    def _read_file_into_fileobj_blocking(self, path: str, fileobj: BinaryIO) -> int:
        """Write the file into ``fileobj``; returns the number of bytes."""
        size = 0
        for chunk in self._read_file_blocking(path):
            fileobj.write(chunk)
            size += len(chunk)
        return size

    async def _read_file_into_fileobj_async(self, path: str, fileobj: BinaryIO) -> int:
        size = 0
        async for chunk in self._read_file_async(path):
            fileobj.write(chunk)
            size += len(chunk)
        return size

    read_file_into_fileobj = _Dual(_read_file_into_fileobj_blocking, _read_file_into_fileobj_async)

    def _listdir_blocking(self, path: str = "/", *, recursive: bool = False) -> list[FileEntry]:
        """The entries under ``path`` (just the file, for a file's path)."""
        client, volume_id = self._ready()
        try:
            rows = client.rpc(
                "volume.listdir", {"id": volume_id, "path": _remote(path), "recursive": recursive}
            )
        except Exception as exc:
            raise _file_errors(exc) from None
        return [_entry(row) for row in rows]

    async def _listdir_async(self, path: str = "/", *, recursive: bool = False) -> list[FileEntry]:
        client, volume_id = await self._ready_async()
        try:
            rows = await client.rpc_async(
                "volume.listdir", {"id": volume_id, "path": _remote(path), "recursive": recursive}
            )
        except Exception as exc:
            raise _file_errors(exc) from None
        return [_entry(row) for row in rows]

    listdir = _Dual(_listdir_blocking, _listdir_async)

    def _iterdir_blocking(self, path: str = "/", *, recursive: bool = True) -> Iterator[FileEntry]:
        """``listdir`` as an iterator (recursive by default, as Modal's)."""
        yield from self._listdir_blocking(path, recursive=recursive)

    async def _iterdir_async(
        self, path: str = "/", *, recursive: bool = True
    ) -> AsyncIterator[FileEntry]:
        for entry in await self._listdir_async(path, recursive=recursive):
            yield entry

    iterdir = _Dual(_iterdir_blocking, _iterdir_async)

    def _remove_file_blocking(self, path: str, recursive: bool = False) -> None:
        """Remove a file, or a directory with ``recursive=True``."""
        client, volume_id = self._ready()
        try:
            client.rpc(
                "volume.remove", {"id": volume_id, "path": _remote(path), "recursive": recursive}
            )
        except Exception as exc:
            raise _file_errors(exc) from None

    async def _remove_file_async(self, path: str, recursive: bool = False) -> None:
        client, volume_id = await self._ready_async()
        try:
            await client.rpc_async(
                "volume.remove", {"id": volume_id, "path": _remote(path), "recursive": recursive}
            )
        except Exception as exc:
            raise _file_errors(exc) from None

    remove_file = _Dual(_remove_file_blocking, _remove_file_async)

    def _copy_params(
        self, volume_id: str, src_paths: Sequence[str], dst_path: str, recursive: bool
    ) -> dict[str, Any]:
        if isinstance(src_paths, str):
            raise InvalidError("src_paths is a list of paths: pass [path] for one")
        return {
            "id": volume_id,
            "src_paths": [_remote(p) for p in src_paths],
            "dst": _remote(dst_path),
            "dst_is_dir": str(dst_path).endswith("/"),
            "recursive": recursive,
        }

    def _copy_files_blocking(
        self, src_paths: Sequence[str], dst_path: str, recursive: bool = False
    ) -> None:
        """Copy within the volume, like ``cp``: into ``dst_path`` when it is a directory."""
        client, volume_id = self._ready()
        try:
            client.rpc("volume.copy", self._copy_params(volume_id, src_paths, dst_path, recursive))
        except Exception as exc:
            raise _file_errors(exc) from None

    async def _copy_files_async(
        self, src_paths: Sequence[str], dst_path: str, recursive: bool = False
    ) -> None:
        client, volume_id = await self._ready_async()
        try:
            await client.rpc_async(
                "volume.copy", self._copy_params(volume_id, src_paths, dst_path, recursive)
            )
        except Exception as exc:
            raise _file_errors(exc) from None

    copy_files = _Dual(_copy_files_blocking, _copy_files_async)

    def batch_upload(self, force: bool = False) -> VolumeUploadContextManager:
        """Collect files with ``put_file``/``put_directory``; they are uploaded, and appear
        together, when the ``with`` block ends. Existing files are kept unless ``force``."""
        return VolumeUploadContextManager(self, force)

    def _rename_blocking(self, new_name: str) -> None:
        """Rename this volume."""
        client = _default_client(self._client)
        if self._object_id is None:
            client.rpc("volume.rename", {"old_name": self._name, "new_name": _check_name(new_name)})
        else:
            client.rpc("volume.rename", {"id": self._object_id, "new_name": _check_name(new_name)})
        self._name = new_name

    async def _rename_async(self, new_name: str) -> None:
        await asyncio.to_thread(self._rename_blocking, new_name)


def _restore(
    name: str | None, object_id: str | None, create_if_missing: bool, read_only: bool
) -> Volume:
    return Volume(name, object_id, create_if_missing=create_if_missing, read_only=read_only)


class _EphemeralVolume:
    """The context manager ``Volume.ephemeral()`` returns (``with`` or ``async with``)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._volume: Volume | None = None

    def __enter__(self) -> Volume:
        client = _default_client(self._client)
        row = client.rpc("volume.create", {"name": None})
        self._volume = Volume._from_row(row, self._client)
        return self._volume

    def __exit__(self, *exc: Any) -> None:
        if self._volume is not None:
            _default_client(self._client).rpc(
                "volume.delete", {"id": self._volume._object_id, "allow_missing": True}
            )

    async def __aenter__(self) -> Volume:
        client = _default_client(self._client)
        row = await client.rpc_async("volume.create", {"name": None})
        self._volume = Volume._from_row(row, self._client)
        return self._volume

    async def __aexit__(self, *exc: Any) -> None:
        if self._volume is not None:
            await _default_client(self._client).rpc_async(
                "volume.delete", {"id": self._volume._object_id, "allow_missing": True}
            )


class VolumeUploadContextManager:
    """What ``Volume.batch_upload()`` returns: files to upload when the block ends."""

    def __init__(self, volume: Volume, force: bool) -> None:
        self._volume = volume
        self._force = force
        self._files: list[tuple[str | Path | BinaryIO, str]] = []

    def put_file(
        self,
        local_file: str | Path | BinaryIO,
        remote_path: str | PurePosixPath,
        mode: int | None = None,
    ) -> None:
        """Upload a local file (a path or a binary file object) to ``remote_path``."""
        remote = _remote(str(remote_path))
        if not remote or str(remote_path).endswith("/"):
            raise InvalidError(f"remote_path {str(remote_path)!r} must name a file")
        self._files.append((local_file, remote))

    def put_directory(
        self,
        local_path: str | Path,
        remote_path: str | PurePosixPath,
        recursive: bool = True,
    ) -> None:
        """Upload the files of a local directory (and its subdirectories) under
        ``remote_path``."""
        root = Path(local_path)
        if not root.is_dir():
            raise NotADirectoryError(f"{local_path} is not a directory")
        pattern = root.rglob("*") if recursive else root.glob("*")
        for path in sorted(pattern):
            if path.is_file():
                rel = path.relative_to(root).as_posix()
                self._files.append((path, _remote(f"{remote_path}/{rel}")))

    def _upload(self) -> None:
        client, volume_id = self._volume._ready()
        uploaded: list[list[str]] = []
        try:
            for source, remote in self._files:
                upload_id = secrets.token_hex(16)
                uploaded.append([upload_id, remote])
                with _open_source(source) as fh:
                    offset = 0
                    while True:
                        data = fh.read(CHUNK_SIZE)
                        if offset and not data:
                            break
                        params = {"id": volume_id, "upload_id": upload_id, "offset": offset}
                        client.rpc("volume.stage", {**params, "data": data})
                        offset += len(data)
                        if not data:
                            break
            client.rpc("volume.publish", {"id": volume_id, "files": uploaded, "force": self._force})
        except Exception as exc:
            try:
                client.rpc(
                    "volume.discard", {"id": volume_id, "upload_ids": [u for u, _ in uploaded]}
                )
            except Exception:  # noqa: BLE001 - the first error is the one to report
                pass
            raise _file_errors(exc) from None

    def __enter__(self) -> VolumeUploadContextManager:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self._upload()

    async def __aenter__(self) -> VolumeUploadContextManager:
        return self

    async def __aexit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            await asyncio.to_thread(self._upload)


class _open_source:
    """A binary reader over a path or an already-open file object (left open)."""

    def __init__(self, source: str | Path | BinaryIO) -> None:
        self._source = source
        self._fh: Any = None

    def __enter__(self) -> Any:
        if isinstance(self._source, (str, os.PathLike)):
            self._fh = open(self._source, "rb")  # noqa: SIM115 - closed in __exit__
            return self._fh
        if isinstance(self._source, io.TextIOBase):
            raise InvalidError("put_file needs a binary file object (open it with 'rb')")
        return self._source

    def __exit__(self, *exc: Any) -> None:
        if self._fh is not None:
            self._fh.close()
