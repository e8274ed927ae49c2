"""Where a volume's committed files live: one interface, a local-filesystem and an S3 backend.

A backend stores the files of one volume (or of one bucket prefix, for a bucket mount) under
relative POSIX paths (``"a/b.txt"``; ``""`` is the root). Each file has an opaque ``version``
that changes whenever the file is replaced, which is how working copies
(:mod:`strato.core.objects.volume_sync`) tell what changed since they last synced.

- :class:`LocalBackend` keeps the files in a directory of this machine
  (``<data dir>/volumes/<id>/tree``). A file there is never modified in place: a write lands in
  a staging file and is renamed over the old one, so a reader (or a hard link in a read-only
  working copy) always sees one whole version.
- :class:`S3Backend` keeps them as objects under a key prefix of an S3-compatible bucket (AWS
  S3, Cloudflare R2, Google Cloud Storage's XML API, MinIO...). It serves cloud machines, which
  cannot reach this machine's disk, and bucket mounts. boto3 is imported only when one is made.
- The bucket stores of the other clouds, each in a module of its own, on its official SDK:
  ``GCSBackend`` (:mod:`~strato.core.objects.volume_backend_gcs`), ``AzureBlobBackend``
  (:mod:`~strato.core.objects.volume_backend_azure`) and ``OCIObjectStorageBackend``
  (:mod:`~strato.core.objects.volume_backend_oci`).

:func:`open_store` makes any of them from a store URL (``s3://bucket/prefix``,
``gs://bucket/prefix``, ``az://account/container/prefix``, ``oci://bucket@namespace/prefix``).

Errors: a missing path is :class:`~strato.exception.NotFoundError`; a refused credential is
:class:`~strato.exception.CredentialsError` naming the bucket (never the secret's values).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import posixpath
import secrets
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from strato.exception import (
    AlreadyExistsError,
    CredentialsError,
    InvalidError,
    NotFoundError,
    ProviderUnavailableError,
)

TMP_PREFIX = ".strato-tmp-"  # staging and download files; never listed or synced
COPY_CHUNK = 8 << 20
#: files up to this size go to S3 in one PutObject; larger ones as a multipart upload
SINGLE_PUT_MAX = 8 << 20


@dataclass(frozen=True)
class FileStat:
    """One entry of a backend: a file (with its version) or a directory."""

    path: str
    is_dir: bool
    size: int
    mtime: float
    version: str = ""


def clean_path(path: str) -> str:
    """A volume path as a relative POSIX path (``""`` for the root); ``..`` may not escape."""
    if not isinstance(path, str):
        raise InvalidError(f"a volume path must be a str, got {type(path).__name__}")
    parts: list[str] = []
    for part in path.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise InvalidError(f"invalid volume path {path!r}: it leaves the volume")
            parts.pop()
        elif part.startswith(TMP_PREFIX):
            raise InvalidError(f"invalid volume path {path!r}")
        else:
            parts.append(part)
    return "/".join(parts)


class Staged:
    """A file's new content, ready to be published under a path."""

    def __init__(self, source: Path, owned: bool) -> None:
        self.source = source
        self.owned = owned  # a temporary file of the backend's, removed if not published


class StorageBackend(Protocol):
    """The operations volumes need from a store of files."""

    name: str

    # -- what working copies use ---------------------------------------------------------------
    def scan(self) -> tuple[dict[str, FileStat], set[str]]:
        """Every file (path -> stat) and every directory path, recursively."""
        ...

    def fetch(self, entry: FileStat, dest: Path, link: bool = False) -> None:
        """Write the file ``entry`` to ``dest`` (a hard link where ``link`` and possible)."""
        ...

    def stage(self, source: Path) -> Staged:
        """Take a snapshot of a local file, to :meth:`publish` later."""
        ...

    def publish(self, path: str, staged: Staged, overwrite_dir: bool = False) -> FileStat:
        """Make ``staged`` the content of ``path``; returns the new file's stat."""
        ...

    def discard(self, staged: Staged) -> None:
        """Drop a staged file that will not be published."""
        ...

    def delete_if(self, path: str, version: str) -> bool:
        """Delete the file at ``path`` if it is still at ``version``; True if deleted."""
        ...

    def make_dir(self, path: str) -> None: ...

    def remove_dir_if_empty(self, path: str) -> None: ...

    def lock(self) -> contextlib.AbstractContextManager[Any]:
        """Held while a commit publishes and deletes, so commits apply one at a time."""
        ...

    # -- what the API uses --------------------------------------------------------------------
    def stat(self, path: str) -> FileStat | None: ...

    def listdir(self, path: str, recursive: bool) -> list[FileStat]: ...

    def read_range(self, path: str, offset: int, length: int) -> tuple[bytes, FileStat]: ...

    def remove(self, path: str, recursive: bool) -> None: ...

    def copy(self, src: str, dst: str) -> None: ...

    def destroy(self) -> None: ...


_FICLONE = 0x40049409
_no_reflink: set[int] = set()  # filesystems (st_dev) that said no to FICLONE


def _copy_file(src: Path, dst: Path) -> None:
    """Copy bytes, sharing blocks (a reflink) where the filesystem can (btrfs, XFS)."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        device = os.fstat(fout.fileno()).st_dev
        if device not in _no_reflink:
            try:
                fcntl.ioctl(fout.fileno(), _FICLONE, fin.fileno())
                return
            except OSError:
                _no_reflink.add(device)
        offset = 0
        while True:  # sendfile(2): the bytes stay in the kernel
            try:
                sent = os.sendfile(fout.fileno(), fin.fileno(), offset, COPY_CHUNK)
            except OSError:  # pragma: no cover - a file system without sendfile
                fin.seek(offset)
                shutil.copyfileobj(fin, fout, COPY_CHUNK)
                return
            if sent == 0:
                return
            offset += sent


def file_version(st: os.stat_result) -> str:
    """The version of a local file: replaced files get a new inode, rewritten ones a new mtime."""
    return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"


class LocalBackend:
    """A volume's files in a directory of this machine."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tree = root / "tree"
        self.staging = root / "staging"
        self.tree.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(parents=True, exist_ok=True)

    def _abs(self, path: str) -> Path:
        return self.tree / path if path else self.tree

    def _stat(self, path: str, st: os.stat_result) -> FileStat:
        is_dir = stat.S_ISDIR(st.st_mode)
        return FileStat(
            path,
            is_dir,
            0 if is_dir else st.st_size,
            st.st_mtime,
            "" if is_dir else file_version(st),
        )

    def _walk(self, top: str) -> Iterator[FileStat]:
        base = self._abs(top)
        stack = [(base, top)]
        while stack:
            directory, rel = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            for entry in entries:
                if entry.name.startswith(TMP_PREFIX):
                    continue
                child = f"{rel}/{entry.name}" if rel else entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    yield self._stat(child, st)
                    stack.append((Path(entry.path), child))
                elif stat.S_ISREG(st.st_mode):
                    yield self._stat(child, st)

    def scan(self) -> tuple[dict[str, FileStat], set[str]]:
        files: dict[str, FileStat] = {}
        dirs: set[str] = set()
        for entry in self._walk(""):
            if entry.is_dir:
                dirs.add(entry.path)
            else:
                files[entry.path] = entry
        return files, dirs

    def fetch(self, entry: FileStat, dest: Path, link: bool = False) -> None:
        src = self._abs(entry.path)
        if link:
            try:
                os.link(src, dest)
                return
            except OSError as exc:
                # never fall back to copying onto an existing path: it may be a link to
                # a committed file, which must not be rewritten in place
                if exc.errno in (errno.ENOENT, errno.EEXIST):
                    raise
        _copy_file(src, dest)
        st = src.stat()
        os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))

    def new_staging_file(self) -> Path:
        return self.staging / f"{TMP_PREFIX}{secrets.token_hex(8)}"

    def stage(self, source: Path) -> Staged:
        dest = self.new_staging_file()
        _copy_file(source, dest)
        st = source.stat()
        os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
        return Staged(dest, owned=True)

    def publish(self, path: str, staged: Staged, overwrite_dir: bool = False) -> FileStat:
        if not path:
            raise InvalidError("cannot write a file at the volume's root")
        target = self._abs(path)
        self._make_parents(path)
        if target.is_dir() and not target.is_symlink():
            if not overwrite_dir:
                self.discard(staged)
                raise AlreadyExistsError(f"{path!r} is a directory in the volume")
            shutil.rmtree(target)
        if staged.owned:
            os.replace(staged.source, target)
        else:
            tmp = self.new_staging_file()
            _copy_file(staged.source, tmp)
            os.replace(tmp, target)
        return self._stat(path, target.stat())

    def _make_parents(self, path: str) -> None:
        """Create the parent directories of ``path``; a file in the way gives way (the newest
        write wins)."""
        parts = path.split("/")[:-1]
        current = self.tree
        for part in parts:
            current = current / part
            if current.exists() and not current.is_dir():
                current.unlink()
            current.mkdir(exist_ok=True)

    def discard(self, staged: Staged) -> None:
        if staged.owned:
            with contextlib.suppress(FileNotFoundError):
                staged.source.unlink()

    def delete_if(self, path: str, version: str) -> bool:
        target = self._abs(path)
        try:
            st = target.stat(follow_symlinks=False)
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(st.st_mode) or file_version(st) != version:
            return False
        target.unlink()
        return True

    def make_dir(self, path: str) -> None:
        if path:
            self._make_parents(path + "/x")

    def remove_dir_if_empty(self, path: str) -> None:
        if path:
            with contextlib.suppress(OSError):
                self._abs(path).rmdir()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def stat(self, path: str) -> FileStat | None:
        try:
            st = self._abs(path).stat(follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            return None
        return self._stat(path, st)

    def listdir(self, path: str, recursive: bool) -> list[FileStat]:
        top = self.stat(path)
        if top is None:
            raise NotFoundError(f"no file or directory {path or '/'!r} in the volume")
        if not top.is_dir:
            return [top]
        if recursive:
            return sorted(self._walk(path), key=lambda e: e.path)
        entries = []
        for entry in os.scandir(self._abs(path)):
            if entry.name.startswith(TMP_PREFIX):
                continue
            child = self.stat(f"{path}/{entry.name}" if path else entry.name)
            if child is not None:
                entries.append(child)
        return sorted(entries, key=lambda e: e.path)

    def read_range(self, path: str, offset: int, length: int) -> tuple[bytes, FileStat]:
        try:
            with open(self._abs(path), "rb") as fh:
                st = os.fstat(fh.fileno())
                if stat.S_ISDIR(st.st_mode):
                    raise InvalidError(f"{path!r} is a directory")
                fh.seek(offset)
                return fh.read(length), self._stat(path, st)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFoundError(f"no file {path!r} in the volume") from None
        except IsADirectoryError:
            raise InvalidError(f"{path!r} is a directory, not a file") from None

    def remove(self, path: str, recursive: bool) -> None:
        entry = self.stat(path)
        if entry is None:
            raise NotFoundError(f"no file or directory {path or '/'!r} in the volume")
        target = self._abs(path)
        if not entry.is_dir:
            target.unlink()
            return
        if not recursive and any(os.scandir(target)):
            raise InvalidError(f"{path!r} is a directory that is not empty: pass recursive=True")
        if not path:  # the root stays; its contents go
            for child in os.scandir(target):
                if child.is_dir(follow_symlinks=False):
                    shutil.rmtree(child.path)
                else:
                    os.unlink(child.path)
            return
        shutil.rmtree(target)

    def copy(self, src: str, dst: str) -> None:
        source = self._abs(src)
        tmp = self.new_staging_file()
        try:
            _copy_file(source, tmp)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            tmp.unlink(missing_ok=True)
            raise NotFoundError(f"no file {src!r} in the volume") from None
        self.publish(dst, Staged(tmp, owned=True))

    def destroy(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# -- S3 --------------------------------------------------------------------------------------------
_CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "ExpiredToken",
        "InvalidToken",
        "AuthorizationHeaderMalformed",
        "403",
        "Forbidden",
        "AllAccessDisabled",
    }
)


def s3_error(error: BaseException, bucket: str, action: str) -> Exception:
    found: Exception = _s3_error(error, bucket, action)
    return found


def _s3_error(error: BaseException, bucket: str, action: str) -> Any:
    """A Strato exception for a boto3 error, naming the bucket and never the credentials."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        if code in _CREDENTIAL_CODES:
            return CredentialsError(
                f"bucket {bucket!r}: the credentials were refused while trying to {action} "
                f"({code}); check the secret's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                provider="s3",
                code=code,
            )
        if code in ("NoSuchBucket", "404", "NotFound", "NoSuchKey"):
            what = "bucket" if code == "NoSuchBucket" else "object in bucket"
            return NotFoundError(f"{what} {bucket!r} not found while trying to {action} ({code})")
        return ProviderUnavailableError(
            f"bucket {bucket!r}: could not {action} ({code or type(error).__name__})",
            provider="s3",
            code=code or None,
        )
    if type(error).__name__ in ("NoCredentialsError", "PartialCredentialsError"):
        return CredentialsError(f"bucket {bucket!r}: no credentials to {action}", provider="s3")
    return ProviderUnavailableError(
        f"bucket {bucket!r}: could not {action}: {type(error).__name__}: {error}", provider="s3"
    )


def s3_client(
    values: dict[str, str] | None,
    endpoint_url: str | None = None,
    anonymous: bool = False,
) -> Any:
    """A boto3 S3 client from a secret's values (AWS or GCS HMAC names), or unsigned."""
    try:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config
    except ImportError:  # pragma: no cover - boto3 ships with the aws extra
        raise InvalidError("S3 storage needs boto3: pip install 'strato[aws]'") from None
    values = values or {}
    key_id = values.get("AWS_ACCESS_KEY_ID") or values.get("GOOGLE_ACCESS_KEY_ID")
    secret = values.get("AWS_SECRET_ACCESS_KEY") or values.get("GOOGLE_ACCESS_KEY_SECRET")
    region = values.get("AWS_REGION") or values.get("AWS_DEFAULT_REGION")
    config: dict[str, Any] = {"retries": {"max_attempts": 3, "mode": "standard"}}
    if anonymous and not key_id:
        config["signature_version"] = UNSIGNED
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region or ("auto" if endpoint_url else "us-east-1"),
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=values.get("AWS_SESSION_TOKEN"),
        config=Config(**config),
    )


def bucket_backend(mount: dict[str, Any], values: dict[str, str] | None) -> S3Backend:
    """The backend of a ``CloudBucketMount`` (its description: ``bucket_name``,
    ``bucket_endpoint_url``, ``key_prefix``, ``requester_pays``) with its secret's ``values``
    (None: anonymous). Bucket mounts show directories only while they hold files."""
    try:
        client = s3_client(values, mount.get("bucket_endpoint_url"), anonymous=values is None)
    except Exception as exc:  # noqa: BLE001 - e.g. a malformed endpoint
        raise s3_error(exc, mount["bucket_name"], "connect") from None
    return S3Backend(
        client,
        mount["bucket_name"],
        mount.get("key_prefix") or "",
        dir_markers=False,
        requester_pays=bool(mount.get("requester_pays")),
    )


class KeyedStore:
    """What the bucket stores share: files are keys under ``prefix``, and directories are the
    key prefixes that hold them (or empty ``dir/`` marker keys).

    A subclass lists keys with ``_listing(prefix, delimiter)`` (entries, then with a delimiter
    the common prefixes) and turns one into a :class:`FileStat` with ``_entry(item)`` (None
    for the prefix itself); ``scan`` and ``listdir`` are the same for every store.
    """

    prefix: str
    #: files a working copy moves at once (requests to a store are mostly waiting)
    transfers = 8

    def _listing(self, prefix: str, delimiter: str | None = None) -> Iterator[Any]:
        raise NotImplementedError

    def _entry(self, item: Any) -> FileStat | None:
        raise NotImplementedError

    def _key(self, path: str) -> str:
        return self.prefix + path

    def _place(self) -> str:
        """Where the files are, for messages."""
        return f"bucket {getattr(self, 'bucket', '')!r}"

    def stat(self, path: str) -> FileStat | None:
        raise NotImplementedError

    def scan(self) -> tuple[dict[str, FileStat], set[str]]:
        """Every file (path -> stat) and every directory path, recursively."""
        files: dict[str, FileStat] = {}
        dirs: set[str] = set()
        for item in self._listing(self.prefix):
            entry = self._entry(item)
            if entry is None:
                continue
            if entry.is_dir:
                dirs.add(entry.path)
            else:
                files[entry.path] = entry
            parent = posixpath.dirname(entry.path)
            while parent and parent not in dirs:
                dirs.add(parent)
                parent = posixpath.dirname(parent)
        return files, dirs

    def listdir(self, path: str, recursive: bool) -> list[FileStat]:
        """The entries of directory ``path`` (the whole tree below it with ``recursive``), or
        the file itself, sorted by path."""
        top = self.stat(path)
        if top is None:
            raise NotFoundError(f"no file or directory {path or '/'!r} in {self._place()}")
        if not top.is_dir:
            return [top]
        if recursive:
            files, dirs = self.scan()
            inside = [e for p, e in files.items() if not path or p.startswith(path + "/")]
            inside += [
                FileStat(d, True, 0, 0.0) for d in dirs if not path or d.startswith(path + "/")
            ]
            return sorted(inside, key=lambda e: e.path)
        prefix = self._key(path) + "/" if path else self.prefix
        entries: dict[str, FileStat] = {}
        for item in self._listing(prefix, delimiter="/"):
            entry = self._entry(item)
            if entry is not None and entry.path != path:
                entries.setdefault(entry.path, entry)
        return sorted(entries.values(), key=lambda e: e.path)


class S3Backend(KeyedStore):
    """Files as objects under ``prefix`` in an S3-compatible bucket.

    ``dir_markers`` keeps empty directories as zero-byte ``dir/`` keys (volumes need them;
    bucket mounts, like Mountpoint, show directories only while they hold files).
    """

    name = "s3"

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        dir_markers: bool = True,
        requester_pays: bool = False,
    ) -> None:
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.lstrip("/")
        self.dir_markers = dir_markers
        self._extra = {"RequestPayer": "requester"} if requester_pays else {}

    def _call(self, action: str, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except Exception as exc:  # noqa: BLE001 - botocore's errors become Strato's
            if method == "head_object" and _status(exc) == 404:
                raise FileNotFoundError(kwargs.get("Key")) from None
            raise s3_error(exc, self.bucket, action) from None

    def _listing(self, prefix: str, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix, **self._extra}
            if delimiter:
                kwargs["Delimiter"] = delimiter
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list objects", "list_objects_v2", **kwargs)
            yield from page.get("Contents", []) or []
            for common in page.get("CommonPrefixes", []) or []:
                yield {"Prefix": common["Prefix"]}
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def _entry(self, item: dict[str, Any]) -> FileStat | None:
        key = item.get("Key")
        if key is None:
            path = item["Prefix"][len(self.prefix) :].rstrip("/")
            return FileStat(path, True, 0, 0.0) if path else None
        path = key[len(self.prefix) :]
        if not path:
            return None
        if path.endswith("/"):
            return FileStat(path.rstrip("/"), True, 0, item["LastModified"].timestamp())
        return FileStat(
            path,
            False,
            int(item.get("Size", 0)),
            item["LastModified"].timestamp(),
            str(item.get("ETag", "")).strip('"'),
        )

    def fetch(self, entry: FileStat, dest: Path, link: bool = False) -> None:
        response = self._call(
            "read an object", "get_object", Key=self._key(entry.path), **self._extra
        )
        with open(dest, "wb") as out:
            for chunk in response["Body"].iter_chunks(COPY_CHUNK):
                out.write(chunk)
        if entry.mtime:
            os.utime(dest, (entry.mtime, entry.mtime))

    def stage(self, source: Path) -> Staged:
        return Staged(source, owned=False)

    def publish(self, path: str, staged: Staged, overwrite_dir: bool = False) -> FileStat:
        if not path:
            raise InvalidError("cannot write a file at the root")
        key = self._key(path)
        try:
            with open(staged.source, "rb") as body:
                size = os.fstat(body.fileno()).st_size
                if size <= SINGLE_PUT_MAX:  # one request, whose answer has the new ETag
                    answer = self.client.put_object(
                        Bucket=self.bucket, Key=key, Body=body, **self._extra
                    )
                    return FileStat(path, False, size, time.time(), str(answer["ETag"]).strip('"'))
                self.client.upload_fileobj(
                    body, self.bucket, key, ExtraArgs=dict(self._extra) or None
                )
        except Exception as exc:  # noqa: BLE001
            raise s3_error(exc, self.bucket, "write an object") from None
        finally:
            self.discard(staged)
        head = self._call("read an object", "head_object", Key=key, **self._extra)
        return FileStat(
            path,
            False,
            int(head["ContentLength"]),
            head["LastModified"].timestamp(),
            str(head["ETag"]).strip('"'),
        )

    def discard(self, staged: Staged) -> None:
        if staged.owned:
            with contextlib.suppress(FileNotFoundError):
                staged.source.unlink()

    def delete_if(self, path: str, version: str) -> bool:
        try:
            head = self._call("read an object", "head_object", Key=self._key(path), **self._extra)
        except FileNotFoundError:
            return False
        if str(head["ETag"]).strip('"') != version:
            return False
        self._call("delete an object", "delete_object", Key=self._key(path), **self._extra)
        return True

    def make_dir(self, path: str) -> None:
        if path and self.dir_markers:
            self._call("write an object", "put_object", Key=self._key(path) + "/", Body=b"")

    def remove_dir_if_empty(self, path: str) -> None:
        if not path or not self.dir_markers:
            return
        keys = [item.get("Key") for item in self._listing(self._key(path) + "/")]
        if keys == [self._key(path) + "/"]:
            self._call("delete an object", "delete_object", Key=keys[0], **self._extra)

    def lock(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()  # S3 has no locks: the last write wins

    def stat(self, path: str) -> FileStat | None:
        if path:
            try:
                head = self._call(
                    "read an object", "head_object", Key=self._key(path), **self._extra
                )
            except FileNotFoundError:
                pass
            else:
                return FileStat(
                    path,
                    False,
                    int(head["ContentLength"]),
                    head["LastModified"].timestamp(),
                    str(head["ETag"]).strip('"'),
                )
        prefix = self._key(path) + "/" if path else self.prefix
        page = self._call(
            "list objects", "list_objects_v2", Prefix=prefix, MaxKeys=1, **self._extra
        )
        if page.get("KeyCount", 0) or not path:
            return FileStat(path, True, 0, 0.0)
        return None

    def read_range(self, path: str, offset: int, length: int) -> tuple[bytes, FileStat]:
        entry = self.stat(path)
        if entry is None:
            raise NotFoundError(f"no file {path!r} in bucket {self.bucket!r}")
        if entry.is_dir:
            raise InvalidError(f"{path!r} is a directory, not a file")
        if offset >= entry.size or length <= 0:
            return b"", entry
        end = min(entry.size, offset + length) - 1
        response = self._call(
            "read an object",
            "get_object",
            Key=self._key(path),
            Range=f"bytes={offset}-{end}",
            **self._extra,
        )
        return response["Body"].read(), entry

    def remove(self, path: str, recursive: bool) -> None:
        entry = self.stat(path)
        if entry is None:
            raise NotFoundError(f"no file or directory {path or '/'!r} in bucket {self.bucket!r}")
        if not entry.is_dir:
            self._call("delete an object", "delete_object", Key=self._key(path), **self._extra)
            return
        prefix = self._key(path) + "/" if path else self.prefix
        keys = [item["Key"] for item in self._listing(prefix) if "Key" in item]
        if not recursive and [k for k in keys if k != prefix]:
            raise InvalidError(f"{path!r} is a directory that is not empty: pass recursive=True")
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self._call("delete objects", "delete_objects", Delete={"Objects": batch}, **self._extra)

    def copy(self, src: str, dst: str) -> None:
        if self.stat(src) is None:
            raise NotFoundError(f"no file {src!r} in bucket {self.bucket!r}")
        self._call(
            "copy an object",
            "copy_object",
            Key=self._key(dst),
            CopySource={"Bucket": self.bucket, "Key": self._key(src)},
            **self._extra,
        )

    def destroy(self) -> None:
        keys = [item["Key"] for item in self._listing(self.prefix) if "Key" in item]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self._call("delete objects", "delete_objects", Delete={"Objects": batch})


#: Store URL scheme -> what it is called in messages.
STORE_SCHEMES = {"s3": "Amazon S3", "gs": "Google Cloud Storage", "az": "Azure Blob Storage",
                 "oci": "OCI Object Storage"}  # fmt: skip


@dataclass(frozen=True)
class StoreLocation:
    """A parsed store URL: which bucket store, which bucket (and account or namespace), which
    key prefix."""

    scheme: str
    bucket: str
    prefix: str = ""
    #: the Azure storage account (``az://``) or the OCI namespace (``oci://``)
    account: str = ""

    def url(self) -> str:
        """The URL this location was parsed from (normalized)."""
        tail = f"/{self.prefix}" if self.prefix else ""
        if self.scheme == "az":
            return f"az://{self.account}/{self.bucket}{tail}"
        if self.scheme == "oci":
            return f"oci://{self.bucket}@{self.account}{tail}"
        return f"{self.scheme}://{self.bucket}{tail}"

    def child(self, name: str) -> StoreLocation:
        """The location of ``name`` under this one's prefix (one volume of a store)."""
        prefix = f"{self.prefix}/{name}" if self.prefix else name
        return StoreLocation(self.scheme, self.bucket, prefix, self.account)


def parse_store_url(url: str) -> StoreLocation:
    """``s3://bucket/prefix``, ``gs://bucket/prefix``, ``az://account/container/prefix`` or
    ``oci://bucket@namespace/prefix`` as a :class:`StoreLocation`."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in STORE_SCHEMES:
        raise InvalidError(
            f"invalid store URL {url!r}: use s3://bucket/prefix, gs://bucket/prefix, "
            "az://account/container/prefix or oci://bucket@namespace/prefix"
        )
    parts = [p for p in rest.split("/") if p]
    account = ""
    if scheme == "az":
        if len(parts) < 2:
            raise InvalidError(f"invalid store URL {url!r}: use az://account/container/prefix")
        account = parts.pop(0)
    if not parts:
        raise InvalidError(f"invalid store URL {url!r}: it names no bucket")
    bucket = parts.pop(0)
    if scheme == "oci":
        bucket, at, account = bucket.partition("@")
        if not at or not bucket or not account:
            raise InvalidError(f"invalid store URL {url!r}: use oci://bucket@namespace/prefix")
    return StoreLocation(scheme, bucket, "/".join(parts), account)


def open_store(
    location: str | StoreLocation,
    *,
    endpoint: str | None = None,
    credentials: dict[str, str] | None = None,
    dir_markers: bool = True,
) -> StorageBackend:
    """The backend of a store URL (or parsed location). ``credentials`` are a secret's values
    (each backend documents the names it reads); without them, the SDK's own chain applies
    (environment, config files, the machine's identity). ``endpoint`` replaces the service's
    address (an emulator, MinIO, R2...)."""
    where = parse_store_url(location) if isinstance(location, str) else location
    prefix = f"{where.prefix}/" if where.prefix else ""
    if where.scheme == "s3":
        client = s3_client(credentials, endpoint)
        return S3Backend(client, where.bucket, prefix, dir_markers=dir_markers)
    if where.scheme == "gs":
        from strato.core.objects.volume_backend_gcs import GCSBackend

        return GCSBackend(
            where.bucket,
            prefix,
            credentials=credentials,
            endpoint=endpoint,
            dir_markers=dir_markers,
        )
    if where.scheme == "az":
        from strato.core.objects.volume_backend_azure import AzureBlobBackend

        return AzureBlobBackend(
            where.account,
            where.bucket,
            prefix,
            credentials=credentials,
            endpoint=endpoint,
            dir_markers=dir_markers,
        )
    from strato.core.objects.volume_backend_oci import OCIObjectStorageBackend

    return OCIObjectStorageBackend(
        where.account,
        where.bucket,
        prefix,
        credentials=credentials,
        endpoint=endpoint,
        dir_markers=dir_markers,
    )


def _status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status is not None else None
    return None
