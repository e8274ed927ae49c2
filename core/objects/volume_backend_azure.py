"""Volumes in Azure Blob Storage: :class:`AzureBlobBackend`, on the official SDK.

A volume's files are block blobs under a name prefix of one container
(``az://account/container/prefix``), with the same semantics as
:class:`~strato.core.objects.volume_backends.S3Backend`: a file's version is its blob's ETag
(quotes stripped), directories are name prefixes (and, with ``dir_markers``, zero-byte
``dir/`` blobs so that empty ones persist), copies are server-side, and deleting a file that
someone rewrote since is refused atomically (``If-Match``). azure-storage-blob (and
azure-identity, for the machine's identity) are imported only when a backend is made.

Where: the account URL is ``https://<account>.blob.core.windows.net``. An ``endpoint``
replaces it and is used as the account URL unchanged: for an emulator such as Azurite, the path
form ``http://127.0.0.1:10000/<account>``; for a sovereign cloud or a private endpoint,
``https://<account>.blob.core.chinacloudapi.cn`` and the like.

Credentials, first found wins: the names below in ``credentials`` (a secret's values), else
the same names in the environment (as the Azure CLI reads them), else
:class:`azure.identity.DefaultAzureCredential` (the machine's managed identity on Azure,
workload identity, ``az login``...; over https only), which needs a data role such as
*Storage Blob Data Contributor* on the container:

- ``AZURE_STORAGE_CONNECTION_STRING``: a connection string with ``AccountKey=...`` or
  ``SharedAccessSignature=...``; its ``BlobEndpoint`` (or ``EndpointSuffix``) is the address
  unless an ``endpoint`` is given;
- ``AZURE_STORAGE_KEY`` (or ``AZURE_STORAGE_ACCOUNT_KEY``): the storage account's shared key;
- ``AZURE_STORAGE_SAS_TOKEN``: a SAS token (an account SAS, or a container SAS) allowing read,
  add, create, write, delete and list.

Errors: a missing path is :class:`~strato.exception.NotFoundError`; a refused credential (401,
403) is :class:`~strato.exception.CredentialsError` naming the container and account, never a
secret's value; anything else the service or the network does is
:class:`~strato.exception.ProviderUnavailableError`. No SDK exception escapes.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from strato.core.objects.volume_backends import FileStat, KeyedStore, Staged
from strato.exception import (
    CredentialsError,
    InvalidError,
    NotFoundError,
    ProviderUnavailableError,
)

__all__ = ["CREDENTIAL_NAMES", "AzureBlobBackend"]

#: The names read from a secret's values (or the environment), in order of preference.
CREDENTIAL_NAMES = (
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
)
#: A blob up to this size is written with one Put Blob; larger ones in blocks (Put Block List).
MAX_SINGLE_PUT_SIZE = 64 << 20
#: The size of one block of a larger blob.
MAX_BLOCK_SIZE = 8 << 20
#: Blocks (and chunks of large downloads) in flight at once for one file.
TRANSFER_CONCURRENCY = 4
#: Deletions in flight at once when a directory or a whole volume goes.
DELETE_CONCURRENCY = 8
#: How long a server-side copy may stay pending before it is reported as failed (seconds).
COPY_TIMEOUT = 3600.0
#: The largest page of a listing (the service's own limit).
LIST_PAGE_SIZE = 5000

_HINT = (
    "check the secret's AZURE_STORAGE_KEY, AZURE_STORAGE_CONNECTION_STRING or "
    "AZURE_STORAGE_SAS_TOKEN, or the role of the machine's identity on the container"
)
_T = TypeVar("_T")
_default_credential: Any = None
_default_credential_lock = threading.Lock()


class _BlobMissing(NotFoundError):
    """A 404 about a blob (not about the container): callers turn it into None or False."""


def _machine_credential() -> Any:
    """One :class:`DefaultAzureCredential` per process, so its tokens are cached and shared."""
    global _default_credential
    with _default_credential_lock:
        if _default_credential is None:
            try:
                from azure.identity import DefaultAzureCredential
            except ImportError:  # pragma: no cover - azure-identity ships with the azure extra
                raise InvalidError(
                    "Azure Blob Storage without a key needs azure-identity: "
                    "pip install 'strato[azure]'"
                ) from None
            _default_credential = DefaultAzureCredential()
        return _default_credential


def _parse_connection_string(value: str) -> dict[str, str]:
    """``Key=value;...`` as a dict with lower-case keys (values may contain ``=``)."""
    fields: dict[str, str] = {}
    for part in value.split(";"):
        name, sep, field = part.strip().partition("=")
        if sep and name:
            fields[name.strip().lower()] = field.strip()
    return fields


def _status(error: BaseException) -> int | None:
    status = getattr(error, "status_code", None)
    if status is None:
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None)
    return int(status) if isinstance(status, int) else None


def _code(error: BaseException) -> str:
    code = getattr(error, "error_code", None)
    if code is None:
        response = getattr(error, "response", None)
        headers = getattr(response, "headers", None)
        code = headers.get("x-ms-error-code") if headers is not None else None
    return str(getattr(code, "value", code) or "")


def _version(etag: Any) -> str:
    """A blob's version: its ETag without quotes (listings and headers quote it differently)."""
    return str(etag or "").strip('"')


class AzureBlobBackend(KeyedStore):
    """Files as block blobs under ``prefix`` in an Azure Blob Storage container.

    ``dir_markers`` keeps empty directories as zero-byte ``dir/`` blobs (volumes need them;
    bucket mounts show directories only while they hold files). See the module's docstring
    for ``endpoint`` and the names ``credentials`` may hold.
    """

    name = "azure"

    def __init__(
        self,
        account: str,
        container: str,
        prefix: str = "",
        *,
        credentials: dict[str, str] | None = None,
        endpoint: str | None = None,
        dir_markers: bool = True,
    ) -> None:
        if not account or not container:
            raise InvalidError("an Azure Blob Storage store needs an account and a container")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.account = account
        self.container = container
        self.prefix = prefix.lstrip("/")
        self.dir_markers = dir_markers
        self._where = f"container {container!r} in storage account {account!r}"
        self._secrets: list[str] = []
        self.client = self._client(credentials, endpoint)

    # -- the client ----------------------------------------------------------------------------
    def _client(self, credentials: dict[str, str] | None, endpoint: str | None) -> Any:
        try:
            from azure.storage.blob import ContainerClient, ExponentialRetry
        except ImportError:  # pragma: no cover - azure-storage-blob ships with the azure extra
            raise InvalidError(
                "Azure Blob Storage needs azure-storage-blob: pip install 'strato[azure]'"
            ) from None
        values = {k: v for k, v in (credentials or {}).items() if k in CREDENTIAL_NAMES and v}
        if not values:
            values = {name: os.environ[name] for name in CREDENTIAL_NAMES if os.environ.get(name)}
        account_url = endpoint.rstrip("/") if endpoint else None
        credential: Any
        if values.get("AZURE_STORAGE_CONNECTION_STRING"):
            account_url, credential = self._from_connection_string(
                values["AZURE_STORAGE_CONNECTION_STRING"], account_url
            )
        elif values.get("AZURE_STORAGE_KEY") or values.get("AZURE_STORAGE_ACCOUNT_KEY"):
            key = values.get("AZURE_STORAGE_KEY") or values["AZURE_STORAGE_ACCOUNT_KEY"]
            self._secrets.append(key)
            credential = {"account_name": self.account, "account_key": key}
        elif values.get("AZURE_STORAGE_SAS_TOKEN"):
            credential = values["AZURE_STORAGE_SAS_TOKEN"].lstrip("?")
            self._secrets.append(credential)
        else:
            credential = None
        account_url = account_url or f"https://{self.account}.blob.core.windows.net"
        if credential is None:
            if urlsplit(account_url).scheme != "https":
                raise CredentialsError(
                    f"{self._where}: no credentials for {self._scrub(account_url)} (the "
                    "machine's identity is used over https only): set AZURE_STORAGE_KEY, "
                    "AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_SAS_TOKEN",
                    provider="azure",
                )
            credential = _machine_credential()
        try:
            return ContainerClient(
                account_url,
                self.container,
                credential=credential,
                retry_policy=ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3),
                max_single_put_size=MAX_SINGLE_PUT_SIZE,
                max_block_size=MAX_BLOCK_SIZE,
            )
        except ValueError as exc:
            raise InvalidError(
                f"{self._where}: invalid address {account_url!r}: {self._scrub(str(exc))}"
            ) from None

    def _from_connection_string(self, value: str, endpoint: str | None) -> tuple[str, Any]:
        """(account URL, credential) from a connection string; ``endpoint`` wins if given."""
        self._secrets.append(value)
        fields = _parse_connection_string(value)
        url = endpoint or fields.get("blobendpoint", "").rstrip("/")
        if not url and fields.get("endpointsuffix"):
            scheme = fields.get("defaultendpointsprotocol") or "https"
            url = f"{scheme}://{self.account}.blob.{fields['endpointsuffix']}"
        if fields.get("accountkey"):
            self._secrets.append(fields["accountkey"])
            name = fields.get("accountname") or self.account
            return url, {"account_name": name, "account_key": fields["accountkey"]}
        if fields.get("sharedaccesssignature"):
            token = fields["sharedaccesssignature"].lstrip("?")
            self._secrets.append(token)
            return url, token
        raise CredentialsError(
            f"{self._where}: AZURE_STORAGE_CONNECTION_STRING holds neither an AccountKey nor a "
            "SharedAccessSignature",
            provider="azure",
        )

    def _place(self) -> str:
        return self._where

    def _blob(self, path: str) -> Any:
        return self.client.get_blob_client(self._key(path))

    # -- errors --------------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        """``text`` without any secret value or SAS signature."""
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        return re.sub(r"(?i)(sig=)[^&\s'\"]+", r"\1***", text)

    def _error(self, error: BaseException, action: str) -> Exception:
        """A Strato exception for an SDK error, naming the container, never the credentials."""
        from azure.core.exceptions import ClientAuthenticationError

        status, code = _status(error), _code(error)
        kind = type(error).__name__
        if status in (401, 403):
            return CredentialsError(
                f"{self._where}: the credentials were refused while trying to {action} "
                f"({code or status}); {_HINT}",
                provider="azure",
                code=code or status,
            )
        if status is None and isinstance(error, ClientAuthenticationError):
            first_line = (str(error).strip().splitlines() or [""])[0]
            return CredentialsError(
                f"{self._where}: no usable credentials to {action} ({kind}: "
                f"{self._scrub(first_line)[:300]}); {_HINT}",
                provider="azure",
            )
        if status == 404:
            if code == "ContainerNotFound":
                return NotFoundError(f"{self._where}: the container does not exist")
            return _BlobMissing(f"{self._where}: no such blob while trying to {action}")
        if status is not None:
            return ProviderUnavailableError(
                f"{self._where}: could not {action} ({code or 'HTTP'} {status})",
                provider="azure",
                code=code or status,
            )
        return ProviderUnavailableError(
            f"{self._where}: could not {action}: {kind}: {self._scrub(str(error))[:500]}",
            provider="azure",
        )

    def _call(self, action: str, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        try:
            return function(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the SDK's errors become Strato's
            raise self._error(exc, action) from None

    # -- listing -------------------------------------------------------------------------------
    def _listing(self, prefix: str, delimiter: str | None = None, page: int = 0) -> Iterator[Any]:
        """Blobs (and, with ``delimiter``, ``BlobPrefix`` entries) whose names start with
        ``prefix``, following the listing's continuation markers."""
        size = page or LIST_PAGE_SIZE
        try:
            if delimiter:
                pager = self.client.walk_blobs(
                    name_starts_with=prefix or None, delimiter=delimiter, results_per_page=size
                )
            else:
                pager = self.client.list_blobs(
                    name_starts_with=prefix or None, results_per_page=size
                )
            yield from pager
        except Exception as exc:  # noqa: BLE001
            error = self._error(exc, "list blobs")
            if isinstance(error, _BlobMissing):  # a 404 on a listing is about the container
                error = NotFoundError(f"{self._where}: the container does not exist")
            raise error from None

    def _names(self, prefix: str) -> list[str]:
        return [item.name for item in self._listing(prefix)]

    def _any(self, prefix: str) -> bool:
        for _item in self._listing(prefix, page=1):
            return True
        return False

    def _file_stat(self, path: str, properties: Any) -> FileStat:
        modified = properties.last_modified
        return FileStat(
            path,
            False,
            int(properties.size or 0),
            modified.timestamp() if modified else 0.0,
            _version(properties.etag),
        )

    def _entry(self, item: Any) -> FileStat | None:
        """The entry of a listed blob or prefix (None for the prefix itself)."""
        from azure.storage.blob import BlobPrefix

        name: str = item.name
        path = name[len(self.prefix) :]
        if isinstance(item, BlobPrefix):  # a name prefix of a hierarchical listing: a directory
            path = path.rstrip("/")
            return FileStat(path, True, 0, 0.0) if path else None
        if not path:
            return None
        if path.endswith("/"):
            modified = item.last_modified
            return FileStat(path.rstrip("/"), True, 0, modified.timestamp() if modified else 0.0)
        return self._file_stat(path, item)

    # -- what working copies use ---------------------------------------------------------------
    def fetch(self, entry: FileStat, dest: Path, link: bool = False) -> None:
        """Download the file ``entry`` to ``dest`` (``link`` does not apply to blobs)."""
        blob = self._blob(entry.path)
        try:
            downloader = self._call(
                "read a blob", blob.download_blob, max_concurrency=TRANSFER_CONCURRENCY
            )
            with open(dest, "wb") as out:
                self._call("read a blob", downloader.readinto, out)
        except _BlobMissing:
            raise NotFoundError(f"no file {entry.path!r} in {self._where}") from None
        if entry.mtime:
            os.utime(dest, (entry.mtime, entry.mtime))

    def stage(self, source: Path) -> Staged:
        """Blobs are uploaded straight from the file: nothing to snapshot."""
        return Staged(source, owned=False)

    def publish(self, path: str, staged: Staged, overwrite_dir: bool = False) -> FileStat:
        """Upload ``staged`` as the blob of ``path`` (in blocks when large)."""
        if not path:
            raise InvalidError("cannot write a file at the root")
        blob = self._blob(path)
        try:
            with open(staged.source, "rb") as body:
                size = os.fstat(body.fileno()).st_size
                result = self._call(
                    "write a blob",
                    blob.upload_blob,
                    body,
                    length=size,
                    overwrite=True,
                    max_concurrency=TRANSFER_CONCURRENCY,
                )
        finally:
            self.discard(staged)
        modified = result.get("last_modified")
        return FileStat(
            path,
            False,
            size,
            modified.timestamp() if modified else time.time(),
            _version(result.get("etag")),
        )

    def discard(self, staged: Staged) -> None:
        """Remove a staged file this backend owns."""
        if staged.owned:
            with contextlib.suppress(FileNotFoundError):
                staged.source.unlink()

    def delete_if(self, path: str, version: str) -> bool:
        """Delete the blob of ``path`` only while its ETag is ``version`` (one atomic request)."""
        from azure.core import MatchConditions

        if not path or not version:
            return False
        try:
            self._blob(path).delete_blob(
                delete_snapshots="include",
                etag=f'"{version}"',
                match_condition=MatchConditions.IfNotModified,
            )
        except Exception as exc:  # noqa: BLE001
            if _status(exc) == 412 or (_status(exc) == 404 and _code(exc) != "ContainerNotFound"):
                return False  # rewritten or deleted since: the newer state wins
            raise self._error(exc, "delete a blob") from None
        return True

    def make_dir(self, path: str) -> None:
        """Write the directory's marker blob (with ``dir_markers``)."""
        if path and self.dir_markers:
            blob = self.client.get_blob_client(self._key(path) + "/")
            self._call("write a blob", blob.upload_blob, b"", overwrite=True)

    def remove_dir_if_empty(self, path: str) -> None:
        """Delete the directory's marker blob if nothing else is under it."""
        if not path or not self.dir_markers:
            return
        marker = self._key(path) + "/"
        names = []
        for item in self._listing(marker, page=2):
            names.append(item.name)
            if len(names) == 2:
                break
        if names == [marker]:
            self._delete([marker])

    def lock(self) -> contextlib.AbstractContextManager[Any]:
        """No lock: the last write wins, as with S3."""
        return contextlib.nullcontext()

    # -- what the API uses ---------------------------------------------------------------------
    def stat(self, path: str) -> FileStat | None:
        """The file or directory at ``path``, or None."""
        if path:
            try:
                properties = self._call("read a blob", self._blob(path).get_blob_properties)
            except _BlobMissing:
                pass
            else:
                return self._file_stat(path, properties)
        found = self._any(self._key(path) + "/" if path else self.prefix)
        if found or not path:
            return FileStat(path, True, 0, 0.0)
        return None

    def read_range(self, path: str, offset: int, length: int) -> tuple[bytes, FileStat]:
        """Up to ``length`` bytes of a file from ``offset``, and the file's stat."""
        offset = max(0, offset)
        if path and length > 0:
            try:
                downloader = self._blob(path).download_blob(offset=offset, length=length)
                data = downloader.readall()
            except Exception as exc:  # noqa: BLE001
                # 416 InvalidRange: the offset is past the end; 404: a directory, or nothing
                error = self._error(exc, "read a blob")
                if _status(exc) != 416 and not isinstance(error, _BlobMissing):
                    raise error from None
            else:
                return data, self._downloaded_stat(path, downloader, offset + len(data))
        entry = self.stat(path)
        if entry is None:
            raise NotFoundError(f"no file {path!r} in {self._where}")
        if entry.is_dir:
            raise InvalidError(f"{path!r} is a directory, not a file")
        return b"", entry

    def _downloaded_stat(self, path: str, downloader: Any, least: int) -> FileStat:
        properties = downloader.properties
        size = least
        content_range = str(getattr(properties, "content_range", "") or "")
        total = content_range.rpartition("/")[2]
        if total.isdigit():
            size = int(total)
        modified = properties.last_modified
        return FileStat(
            path,
            False,
            size,
            modified.timestamp() if modified else 0.0,
            _version(properties.etag),
        )

    def remove(self, path: str, recursive: bool) -> None:
        """Delete a file, or a directory (everything under it with ``recursive``)."""
        entry = self.stat(path)
        if entry is None:
            raise NotFoundError(f"no file or directory {path or '/'!r} in {self._where}")
        if not entry.is_dir:
            try:
                self._call(
                    "delete a blob", self._blob(path).delete_blob, delete_snapshots="include"
                )
            except _BlobMissing:
                raise NotFoundError(f"no file {path!r} in {self._where}") from None
            return
        prefix = self._key(path) + "/" if path else self.prefix
        names = self._names(prefix)
        if not recursive and [n for n in names if n != prefix]:
            raise InvalidError(f"{path!r} is a directory that is not empty: pass recursive=True")
        self._delete(names)

    def copy(self, src: str, dst: str) -> None:
        """Copy a file server-side (the bytes never leave the storage account)."""
        if not src:
            raise NotFoundError(f"no file {src!r} in {self._where}")
        if not dst:
            raise InvalidError("cannot write a file at the root")
        source, target = self._blob(src), self._blob(dst)
        try:
            started = self._call("copy a blob", target.start_copy_from_url, source.url)
        except _BlobMissing:
            raise NotFoundError(f"no file {src!r} in {self._where}") from None
        status = started.get("copy_status")
        if status == "pending":
            self._wait_for_copy(target, str(started.get("copy_id") or ""), dst)
        elif status != "success":
            raise ProviderUnavailableError(
                f"{self._where}: copying {src!r} to {dst!r} ended as {status!r}",
                provider="azure",
            )

    def _wait_for_copy(self, target: Any, copy_id: str, dst: str) -> None:
        deadline = time.monotonic() + COPY_TIMEOUT
        pause = 0.05
        while True:
            try:
                properties = self._call("read a blob", target.get_blob_properties)
            except _BlobMissing:
                raise NotFoundError(
                    f"{dst!r} vanished while being copied in {self._where}"
                ) from None
            copy = properties.copy
            if copy_id and copy.id and copy.id != copy_id:
                return  # another write replaced the copy: the newest write wins
            if copy.status == "success":
                return
            if copy.status != "pending":
                raise ProviderUnavailableError(
                    f"{self._where}: copying to {dst!r} ended as {copy.status!r} "
                    f"({copy.status_description or 'no description'})",
                    provider="azure",
                )
            if time.monotonic() > deadline:
                raise ProviderUnavailableError(
                    f"{self._where}: copying to {dst!r} was still pending after "
                    f"{COPY_TIMEOUT:.0f}s",
                    provider="azure",
                )
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def destroy(self) -> None:
        """Delete every blob under the prefix (the container stays)."""
        self._delete(self._names(self.prefix))

    def _delete(self, names: Iterable[str]) -> None:
        """Delete blobs, several at a time; one already gone is fine."""

        def delete(name: str) -> None:
            blob = self.client.get_blob_client(name)
            with contextlib.suppress(_BlobMissing):
                self._call("delete a blob", blob.delete_blob, delete_snapshots="include")

        batch = list(names)
        if len(batch) <= 1:
            for name in batch:
                delete(name)
            return
        with ThreadPoolExecutor(max_workers=min(DELETE_CONCURRENCY, len(batch))) as pool:
            for _done in pool.map(delete, batch):
                pass
