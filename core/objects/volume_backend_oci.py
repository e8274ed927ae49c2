"""A volume's committed files in OCI Object Storage, on the official ``oci`` SDK.

:class:`OCIObjectStorageBackend` keeps the files of a volume (or of a bucket mount) as objects
under a name prefix of a bucket: ``oci://bucket@namespace/prefix`` for
:func:`~strato.core.objects.volume_backends.open_store`. Its semantics are those of
:class:`~strato.core.objects.volume_backends.S3Backend`: a file's version is its object's
ETag; a conditional delete is atomic (DeleteObject with ``if-match``: a 412 means someone
rewrote the file since, and it stays); empty directories are zero-byte ``dir/`` objects (with
``dir_markers``); there is no lock, so the last write wins. The SDK is imported only when a
backend is made (``import oci`` takes about a second).

Credentials
-----------
``credentials`` are a secret's values; without them (``None`` or empty) the same names are
read from the environment, which is how the control plane opens its volume store. The
preferred names are the OCI CLI's environment variables; the others are accepted too
(``OCI_CONFIG_FILE`` and ``OCI_REGION`` are the SDK's own, ``OCI_CONFIG_PROFILE`` the OCI
provider's)::

    OCI_CLI_USER          (OCI_USER)                     user OCID
    OCI_CLI_TENANCY       (OCI_TENANCY)                  tenancy OCID
    OCI_CLI_FINGERPRINT   (OCI_FINGERPRINT)              the API key's fingerprint
    OCI_CLI_KEY_CONTENT   (OCI_KEY)                      the API private key, PEM text
    OCI_CLI_KEY_FILE      (OCI_KEY_FILE)                 ... or the file holding it
    OCI_CLI_PASSPHRASE    (OCI_PASSPHRASE)               the key's passphrase, if it has one
    OCI_CLI_REGION        (OCI_REGION)                   region, e.g. us-ashburn-1
    OCI_CLI_CONFIG_FILE   (OCI_CONFIG_FILE)              an OCI config file (~/.oci/config)
    OCI_CLI_PROFILE       (OCI_CONFIG_PROFILE, OCI_PROFILE)  its profile (DEFAULT)
    OCI_CLI_AUTH          (OCI_AUTH)                     api_key (default) or instance_principal

In that order of precedence:

1. ``OCI_CLI_AUTH=instance_principal``: the machine's own identity on OCI (an instance in a
   dynamic group that a policy lets use the bucket), through
   ``oci.auth.signers.InstancePrincipalsSecurityTokenSigner``; the region is the instance's
   unless given.
2. An API key in the values: user, tenancy, fingerprint and the key (content or file) are all
   needed, and a region.
3. Otherwise a profile of an OCI config file (``OCI_CLI_CONFIG_FILE``, else ``~/.oci/config``),
   with an API key or a session token (``security_token_file``, from
   ``oci session authenticate``), as the OCI provider reads it.

The region is the constructor's ``region``, else the values', else the config file's.
``endpoint`` replaces the service's address (an emulator, a dedicated endpoint); ``{region}``
in it is replaced by the region, as in ``STRATO_OCI_ENDPOINT``.

Errors
------
A missing file: :meth:`~OCIObjectStorageBackend.stat` returns None,
:meth:`~OCIObjectStorageBackend.read_range` and :meth:`~OCIObjectStorageBackend.remove` raise
:class:`~strato.exception.NotFoundError`. 401 ``NotAuthenticated``, 403 and 404
``NotAuthorizedOrNotFound``, and credentials that cannot be loaded, are
:class:`~strato.exception.CredentialsError` naming the bucket (never a secret's value); 404
``BucketNotFound`` (OCI's answer both for a missing bucket and for one these credentials may
not see) is :class:`~strato.exception.NotFoundError`; anything else, the service's other
answers and the network's failures, is :class:`~strato.exception.ProviderUnavailableError`.
No SDK exception escapes.

Uploads and copies
------------------
A file up to ``multipart_threshold`` bytes is one PutObject; a larger one goes through the
SDK's ``UploadManager`` as a multipart upload in ``multipart_part_size`` parts, uploaded in
parallel (a failed one is aborted, so its parts are not left behind).

CopyObject is asynchronous in OCI (it answers with a work request) and needs the Object
Storage service itself to be allowed, by an IAM policy, to manage the tenancy's objects. So
:meth:`~OCIObjectStorageBackend.copy` asks for a server-side copy of the version it saw
(``sourceObjectIfMatchETag``) and waits for the work request to complete (up to
``COPY_WAIT_S``); where the service refuses the copy, or its work request fails, it copies
through this machine instead (GetObject to a temporary file, then an upload). A copy still
running after ``COPY_WAIT_S`` is an error rather than a second copy racing the first.
"""

from __future__ import annotations

import configparser
import contextlib
import datetime
import email.utils
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from strato.core.objects.volume_backends import COPY_CHUNK, TMP_PREFIX, FileStat, KeyedStore, Staged
from strato.exception import (
    CredentialsError,
    InvalidError,
    NotFoundError,
    ProviderUnavailableError,
)

log = logging.getLogger("strato.volumes")

PROVIDER = "oci"
DEFAULT_CONFIG_FILE = "~/.oci/config"
DEFAULT_PROFILE = "DEFAULT"

#: setting -> the names a secret (or the environment) may give it, the preferred one first
CREDENTIAL_NAMES: dict[str, tuple[str, ...]] = {
    "user": ("OCI_CLI_USER", "OCI_USER"),
    "tenancy": ("OCI_CLI_TENANCY", "OCI_TENANCY"),
    "fingerprint": ("OCI_CLI_FINGERPRINT", "OCI_FINGERPRINT"),
    "key_content": ("OCI_CLI_KEY_CONTENT", "OCI_KEY"),
    "key_file": ("OCI_CLI_KEY_FILE", "OCI_KEY_FILE"),
    "pass_phrase": ("OCI_CLI_PASSPHRASE", "OCI_PASSPHRASE"),
    "region": ("OCI_CLI_REGION", "OCI_REGION"),
    "config_file": ("OCI_CLI_CONFIG_FILE", "OCI_CONFIG_FILE"),
    "profile": ("OCI_CLI_PROFILE", "OCI_CONFIG_PROFILE", "OCI_PROFILE"),
    "auth": ("OCI_CLI_AUTH", "OCI_AUTH"),
}
_KEY_SETTINGS = ("user", "tenancy", "fingerprint", "key_content", "key_file")

#: what ListObjects returns for each object
LIST_FIELDS = "name,size,etag,timeModified"
#: how long a server-side copy may take before :meth:`OCIObjectStorageBackend.copy` gives up
COPY_WAIT_S = 600.0
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 120.0
#: attempts per request (the SDK retries timeouts, 429, 5xx and 409 IncorrectState)
MAX_ATTEMPTS = 3
#: deletions in flight at once when removing a directory or destroying a volume
DELETE_WORKERS = 8
#: parts of one multipart upload in flight at once
UPLOAD_WORKERS = 4

_CREDENTIAL_CODES = frozenset({"NotAuthenticated", "NotAuthorizedOrNotFound", "NotAuthorized"})
_FAILED_WORK = frozenset({"FAILED", "CANCELED", "CANCELING"})

_clients: dict[str, tuple[Any, str]] = {}
_clients_lock = threading.Lock()
_MAX_CLIENTS = 16


# -- credentials -----------------------------------------------------------------------------
def _sdk() -> Any:
    """The ``oci`` package (slow to import: only when a backend is made)."""
    try:
        import oci
    except ImportError:  # pragma: no cover - the SDK ships with the oci extra
        raise InvalidError(
            "OCI Object Storage needs the oci SDK: pip install 'strato[oci]'"
        ) from None
    return oci


def _pick(values: Mapping[str, str], setting: str) -> str:
    for name in CREDENTIAL_NAMES[setting]:
        value = values.get(name)
        if value and str(value).strip():
            return str(value).strip()
    return ""


def _refused(message: str) -> CredentialsError:
    return CredentialsError(message, provider=PROVIDER)


def _resolve(values: Mapping[str, str], region: str | None) -> tuple[str, dict[str, Any]]:
    """(how to sign, the SDK config) for a secret's values; reads no key yet."""
    auth = _pick(values, "auth").lower().replace("-", "_") or "api_key"
    if auth in ("instance_principal", "instance_principals"):
        return "instance_principal", {"region": region or _pick(values, "region") or None}
    if auth not in ("api_key", "security_token"):
        raise _refused(
            f"OCI_CLI_AUTH={auth!r} is not supported for OCI Object Storage: "
            "use api_key or instance_principal"
        )
    given = {setting: _pick(values, setting) for setting in (*_KEY_SETTINGS, "pass_phrase")}
    if any(given[setting] for setting in _KEY_SETTINGS):
        missing = [
            CREDENTIAL_NAMES[s][0] for s in ("user", "tenancy", "fingerprint") if not given[s]
        ]
        if not given["key_content"] and not given["key_file"]:
            missing.append("OCI_CLI_KEY_CONTENT (or OCI_CLI_KEY_FILE)")
        if missing:
            raise _refused(f"incomplete OCI API key credentials: missing {', '.join(missing)}")
        config: dict[str, Any] = {k: v for k, v in given.items() if v}
        if "key_content" in config and "\\n" in config["key_content"]:
            # a PEM pasted into a one-line secret
            config["key_content"] = config["key_content"].replace("\\n", "\n")
        config["region"] = region or _pick(values, "region") or None
        return "api_key", config
    import oci

    path = os.path.expanduser(_pick(values, "config_file") or DEFAULT_CONFIG_FILE)
    profile = _pick(values, "profile") or DEFAULT_PROFILE
    try:
        config = oci.config.from_file(file_location=path, profile_name=profile)
    except oci.exceptions.ConfigFileNotFound:
        raise _refused(
            f"no OCI credentials: there is no OCI config file at {path}; give the secret "
            "OCI_CLI_USER, OCI_CLI_TENANCY, OCI_CLI_FINGERPRINT, OCI_CLI_KEY_CONTENT and "
            "OCI_CLI_REGION, or OCI_CLI_CONFIG_FILE, or OCI_CLI_AUTH=instance_principal"
        ) from None
    except oci.exceptions.ProfileNotFound:
        raise _refused(f"no profile {profile!r} in the OCI config file {path}") from None
    except (configparser.Error, ValueError, OSError, oci.exceptions.ClientError) as exc:
        raise _refused(f"the OCI config file {path} is not usable ({type(exc).__name__})") from None
    config["region"] = region or _pick(values, "region") or config.get("region") or None
    if config.get("security_token_file"):
        return "security_token", config
    return "api_key", config


def _signer(kind: str, config: dict[str, Any]) -> Any:
    """The request signer for resolved credentials (loads the key, or asks the instance)."""
    import oci

    if kind == "instance_principal":
        signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
        config["region"] = config.get("region") or signer.region
        return signer
    if "authentication_type" in config:
        return None  # a profile that names its own way of signing: the client makes it
    if not config.get("region"):
        raise _refused(
            "no OCI region: set OCI_CLI_REGION in the secret (or region in the OCI config file)"
        )
    if kind == "security_token":
        with open(os.path.expanduser(config["security_token_file"])) as handle:
            token = handle.read().strip()
        key = oci.signer.load_private_key_from_file(config["key_file"], config.get("pass_phrase"))
        return oci.auth.signers.SecurityTokenSigner(token, key)
    oci.config.validate_config(config)
    return oci.signer.Signer(
        config["tenancy"],
        config["user"],
        config["fingerprint"],
        private_key_file_location=config.get("key_file"),
        pass_phrase=config.get("pass_phrase"),
        private_key_content=config.get("key_content"),
    )


def _cache_key(kind: str, config: Mapping[str, Any], endpoint: str | None) -> str:
    """What identifies a client: the credentials (hashed) and the files' versions."""
    stamps = []
    for name in ("key_file", "security_token_file"):
        if config.get(name):
            with contextlib.suppress(OSError):
                stamps.append(os.stat(os.path.expanduser(config[name])).st_mtime_ns)
    material = json.dumps([kind, sorted(config.items()), stamps, endpoint], default=str)
    return hashlib.sha256(material.encode()).hexdigest()


def object_storage_client(
    credentials: Mapping[str, str] | None,
    endpoint: str | None = None,
    region: str | None = None,
) -> tuple[Any, str]:
    """An ``ObjectStorageClient`` and its region, for a secret's values (see the module
    docstring; ``None`` or empty: the environment's). Clients are kept and shared per
    credentials and endpoint. Raises :class:`~strato.exception.CredentialsError` when the
    credentials are incomplete or cannot be loaded."""
    oci = _sdk()
    values: Mapping[str, str] = credentials if credentials else os.environ
    kind, config = _resolve(values, region)
    key = _cache_key(kind, config, endpoint)
    with _clients_lock:
        found = _clients.get(key)
    if found is not None:
        return found
    try:
        signer = _signer(kind, config)
        kwargs: dict[str, Any] = {
            "retry_strategy": oci.retry.RetryStrategyBuilder(
                max_attempts=MAX_ATTEMPTS, total_elapsed_time_seconds=int(READ_TIMEOUT_S)
            ).get_retry_strategy(),
            "circuit_breaker_strategy": oci.circuit_breaker.NoCircuitBreakerStrategy(),
            "timeout": (CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
        }
        if endpoint:
            kwargs["service_endpoint"] = endpoint.replace("{region}", str(config["region"]))
        if signer is not None:
            kwargs["signer"] = signer
        client = oci.object_storage.ObjectStorageClient(config, **kwargs)
    except CredentialsError:
        raise
    except oci.exceptions.InvalidConfig as exc:
        # the message lists the fields that are missing or malformed, never their values
        raise _refused(f"invalid OCI API key credentials: {exc}") from None
    except oci.exceptions.InvalidPrivateKey as exc:
        raise _refused(f"the OCI API private key could not be loaded: {exc}") from None
    except FileNotFoundError as exc:
        raise _refused(f"an OCI credentials file is missing: {exc.filename}") from None
    except Exception as exc:  # noqa: BLE001 - the SDK's errors become Strato's
        what = "instance principals" if kind == "instance_principal" else "the OCI credentials"
        raise _refused(f"could not use {what} ({type(exc).__name__})") from None
    made = (client, str(config.get("region") or ""))
    with _clients_lock:
        while len(_clients) >= _MAX_CLIENTS:
            _clients.pop(next(iter(_clients)))
        made = _clients.setdefault(key, made)
    return made


# -- errors ----------------------------------------------------------------------------------
def storage_error(error: BaseException, bucket: str, namespace: str, action: str) -> Exception:
    """A Strato exception for an OCI SDK error, naming the bucket and never the credentials."""
    where = f"bucket {bucket!r} (namespace {namespace!r})"
    status = getattr(error, "status", None)
    if isinstance(status, int) and hasattr(error, "code"):  # oci.exceptions.ServiceError
        code = str(getattr(error, "code", "") or "") or None
        label = f"{status} {code}" if code else str(status)
        if status in (401, 403) or code in _CREDENTIAL_CODES:
            return CredentialsError(
                f"{where}: the credentials were refused while trying to {action} ({label}); "
                "check the secret's OCI_CLI_USER, OCI_CLI_TENANCY, OCI_CLI_FINGERPRINT and "
                "OCI_CLI_KEY_CONTENT (or the OCI config file), and the IAM policy on the bucket",
                provider=PROVIDER,
                code=code or status,
            )
        if code == "BucketNotFound":
            return NotFoundError(
                f"{where} not found while trying to {action}: it does not exist, or these "
                "credentials may not see it"
            )
        if status == 404:
            return NotFoundError(f"an object in {where} was not found while trying to {action}")
        message = str(getattr(error, "message", "") or "")[:200]
        return ProviderUnavailableError(
            f"{where}: could not {action} (OCI {label}{': ' + message if message else ''})",
            provider=PROVIDER,
            code=code or status,
        )
    causes = getattr(error, "error_causes", None)  # MultipartUploadError: the parts' errors
    if causes:
        return storage_error(causes[0], bucket, namespace, action)
    return ProviderUnavailableError(
        f"{where}: could not {action}: {type(error).__name__}: {error}", provider=PROVIDER
    )


def _status(error: BaseException) -> int | None:
    status = getattr(error, "status", None)
    return status if isinstance(status, int) and hasattr(error, "code") else None


def _http_time(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return 0.0


class OCIObjectStorageBackend(KeyedStore):
    """Files as objects under ``prefix`` in an OCI Object Storage bucket.

    ``dir_markers`` keeps empty directories as zero-byte ``dir/`` objects (volumes need them;
    bucket mounts show directories only while they hold files). See the module docstring for
    ``credentials``, ``endpoint`` and ``region``.
    """

    name = "oci"
    #: files larger than this are uploaded in parts
    multipart_threshold = 128 << 20
    multipart_part_size = 128 << 20
    #: ask the service to copy (see :meth:`copy`); False: always copy through this machine
    server_side_copy = True

    def __init__(
        self,
        namespace: str,
        bucket: str,
        prefix: str = "",
        *,
        credentials: dict[str, str] | None = None,
        endpoint: str | None = None,
        dir_markers: bool = True,
        region: str | None = None,
    ) -> None:
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.namespace = namespace
        self.bucket = bucket
        self.prefix = prefix.lstrip("/")
        self.dir_markers = dir_markers
        self.client, self.region = object_storage_client(credentials, endpoint, region)

    # -- plumbing ------------------------------------------------------------------------------
    def _error(self, error: BaseException, action: str) -> Exception:
        return storage_error(error, self.bucket, self.namespace, action)

    def _call(
        self, action: str, method: str, *args: Any, quiet: tuple[int, ...] = (), **kw: Any
    ) -> Any:
        """``client.<method>(namespace, bucket, *args)``; None for an answer in ``quiet`` (a
        404 only when it is about the object, not the bucket)."""
        try:
            return getattr(self.client, method)(self.namespace, self.bucket, *args, **kw)
        except Exception as exc:  # noqa: BLE001 - the SDK's errors become Strato's
            status = _status(exc)
            if status in quiet and (
                status != 404 or getattr(exc, "code", None) in (None, "", "ObjectNotFound")
            ):
                return None
            raise self._error(exc, action) from None

    def _listing(
        self, prefix: str, delimiter: str | None = None, limit: int | None = None
    ) -> Iterator[Any]:
        """Object summaries (and, with ``delimiter``, common prefixes as str) under ``prefix``;
        with ``limit``, one page of at most that many."""
        start: str | None = None
        while True:
            kwargs: dict[str, Any] = {"prefix": prefix, "fields": LIST_FIELDS}
            if delimiter:
                kwargs["delimiter"] = delimiter
            if start:
                kwargs["start"] = start
            if limit:
                kwargs["limit"] = limit
            page = self._call("list objects", "list_objects", **kwargs).data
            yield from page.objects or []
            yield from page.prefixes or []
            start = page.next_start_with
            if not start or limit:
                return

    def _entry(self, item: Any) -> FileStat | None:
        if isinstance(item, str):
            path = item[len(self.prefix) :].rstrip("/")
            return FileStat(path, True, 0, 0.0) if path else None
        path = item.name[len(self.prefix) :]
        if not path:
            return None
        mtime = item.time_modified.timestamp() if item.time_modified else 0.0
        if path.endswith("/"):
            return FileStat(path.rstrip("/"), True, 0, mtime)
        return FileStat(path, False, int(item.size or 0), mtime, str(item.etag or ""))

    @staticmethod
    def _head_stat(path: str, headers: Mapping[str, str], size: int | None = None) -> FileStat:
        return FileStat(
            path,
            False,
            int(headers.get("content-length") or 0) if size is None else size,
            _http_time(headers.get("last-modified")),
            str(headers.get("etag") or ""),
        )

    # -- what working copies use ---------------------------------------------------------------
    def fetch(self, entry: FileStat, dest: Path, link: bool = False) -> None:
        """Download the file ``entry`` to ``dest`` (``link`` does not apply to a bucket)."""
        action = "read an object"
        response = self._call(action, "get_object", self._key(entry.path))
        chunks = response.data.raw.stream(COPY_CHUNK, decode_content=False)
        with open(dest, "wb") as out:
            while True:
                try:
                    chunk = next(chunks, None)
                except Exception as exc:  # noqa: BLE001 - a connection lost mid-body
                    raise self._error(exc, action) from None
                if chunk is None:
                    break
                out.write(chunk)
        if entry.mtime:
            os.utime(dest, (entry.mtime, entry.mtime))

    def stage(self, source: Path) -> Staged:
        """A bucket needs no snapshot: :meth:`publish` uploads the file itself."""
        return Staged(source, owned=False)

    def publish(self, path: str, staged: Staged, overwrite_dir: bool = False) -> FileStat:
        """Upload ``staged`` as the object of ``path``; returns its stat (ETag as version)."""
        if not path:
            raise InvalidError("cannot write a file at the root")
        try:
            return self._upload(path, staged.source)
        finally:
            self.discard(staged)

    def _upload(self, path: str, source: Path) -> FileStat:
        key = self._key(path)
        with open(source, "rb") as body:
            size = os.fstat(body.fileno()).st_size
            if size > self.multipart_threshold:
                response = self._upload_parts(key, source)
            else:
                response = self._call(
                    "write an object", "put_object", key, body, content_length=size
                )
        return self._head_stat(path, response.headers, size)

    def _upload_parts(self, key: str, source: Path) -> Any:
        from oci.object_storage import UploadManager

        started = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)
        try:
            manager = UploadManager(
                self.client, allow_parallel_uploads=True, parallel_process_count=UPLOAD_WORKERS
            )
            return manager.upload_file(
                self.namespace, self.bucket, key, str(source), part_size=self.multipart_part_size
            )
        except Exception as exc:  # noqa: BLE001 - the SDK's errors become Strato's
            error = self._error(exc, "write an object")
            self._abort_uploads(key, started)
            raise error from None

    def _abort_uploads(
        self, key: str, since: datetime.datetime | None = None, *, under: bool = False
    ) -> None:
        """Abort the unfinished multipart uploads of the object ``key`` (with ``under``, of
        every object whose name starts with it) begun after ``since``; best effort."""
        try:
            page: str | None = None
            while True:
                kwargs: dict[str, Any] = {"page": page} if page else {}
                response = self.client.list_multipart_uploads(self.namespace, self.bucket, **kwargs)
                for upload in response.data or []:
                    name = str(upload.object)
                    if not (name == key or (under and name.startswith(key))):
                        continue
                    if since is not None and upload.time_created and upload.time_created < since:
                        continue
                    self.client.abort_multipart_upload(
                        self.namespace, self.bucket, name, upload.upload_id
                    )
                page = response.next_page
                if not page:
                    return
        except Exception as exc:  # noqa: BLE001 - cleaning up must not hide the real error
            log.debug("could not abort multipart uploads of %s: %s", key, type(exc).__name__)

    def discard(self, staged: Staged) -> None:
        """Remove a staged file the backend owns (it owns none: the source is the caller's)."""
        if staged.owned:
            with contextlib.suppress(FileNotFoundError):
                staged.source.unlink()

    def delete_if(self, path: str, version: str) -> bool:
        """Delete ``path`` if its ETag is still ``version`` (atomic: ``if-match``)."""
        if not path or not version:
            return False
        response = self._call(
            "delete an object", "delete_object", self._key(path), if_match=version, quiet=(404, 412)
        )
        return response is not None

    def make_dir(self, path: str) -> None:
        """A zero-byte ``path/`` object (with ``dir_markers``)."""
        if path and self.dir_markers:
            self._call(
                "write an object", "put_object", self._key(path) + "/", b"", content_length=0
            )

    def remove_dir_if_empty(self, path: str) -> None:
        """Delete the marker of ``path`` if nothing else is under it."""
        if not path or not self.dir_markers:
            return
        marker = self._key(path) + "/"
        names = [item.name for item in self._listing(marker, limit=2) if not isinstance(item, str)]
        if names == [marker]:
            self._call("delete an object", "delete_object", marker, quiet=(404,))

    def lock(self) -> contextlib.AbstractContextManager[Any]:
        """No lock: Object Storage has none, the last write wins."""
        return contextlib.nullcontext()

    # -- what the API uses ---------------------------------------------------------------------
    def stat(self, path: str) -> FileStat | None:
        """The file or directory at ``path``, or None."""
        if path:
            head = self._call("read an object", "head_object", self._key(path), quiet=(404,))
            if head is not None:
                return self._head_stat(path, head.headers)
        prefix = self._key(path) + "/" if path else self.prefix
        if any(True for _ in self._listing(prefix, limit=1)) or not path:
            return FileStat(path, True, 0, 0.0)
        return None

    def read_range(self, path: str, offset: int, length: int) -> tuple[bytes, FileStat]:
        """Up to ``length`` bytes of the file ``path`` from ``offset``, and its stat."""
        if path and length > 0:
            response = self._call(
                "read an object",
                "get_object",
                self._key(path),
                range=f"bytes={max(0, offset)}-{max(0, offset) + length - 1}",
                quiet=(404, 416),
            )
            if response is not None:
                return self._ranged(path, response, offset, length)
        entry = self.stat(path)
        if entry is None:
            raise NotFoundError(f"no file {path!r} in bucket {self.bucket!r}")
        if entry.is_dir:
            raise InvalidError(f"{path!r} is a directory, not a file")
        return b"", entry  # nothing asked for, or past the end (416)

    def _ranged(self, path: str, response: Any, offset: int, length: int) -> tuple[bytes, FileStat]:
        headers = response.headers
        try:
            data = response.data.content
        except Exception as exc:  # noqa: BLE001 - a connection lost mid-body
            raise self._error(exc, "read an object") from None
        total = None
        content_range = str(headers.get("content-range") or "")
        if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
            total = int(content_range.rsplit("/", 1)[1])
        if response.status == 200:  # the whole object: the range was not applied
            total = len(data)
            data = data[offset : offset + length]
        return data, self._head_stat(path, headers, total)

    def remove(self, path: str, recursive: bool) -> None:
        """Delete the file ``path``, or the directory (``recursive`` if it is not empty)."""
        entry = self.stat(path)
        if entry is None:
            raise NotFoundError(f"no file or directory {path or '/'!r} in bucket {self.bucket!r}")
        if not entry.is_dir:
            self._call("delete an object", "delete_object", self._key(path), quiet=(404,))
            return
        prefix = self._key(path) + "/" if path else self.prefix
        names = [item.name for item in self._listing(prefix) if not isinstance(item, str)]
        if not recursive and [n for n in names if n != prefix]:
            raise InvalidError(f"{path!r} is a directory that is not empty: pass recursive=True")
        self._delete_all(names)

    def _delete_all(self, names: list[str]) -> None:
        def delete(name: str) -> None:
            self._call("delete an object", "delete_object", name, quiet=(404,))

        if len(names) <= 1:
            for name in names:
                delete(name)
            return
        with ThreadPoolExecutor(max_workers=min(DELETE_WORKERS, len(names))) as pool:
            list(pool.map(delete, names))

    def copy(self, src: str, dst: str) -> None:
        """Copy the file ``src`` to ``dst``: in the service where it agrees, else through this
        machine (see the module docstring)."""
        entry = self.stat(src)
        if entry is None or entry.is_dir:
            raise NotFoundError(f"no file {src!r} in bucket {self.bucket!r}")
        if self.server_side_copy and self._copy_in_service(src, dst, entry.version):
            return
        fd, name = tempfile.mkstemp(prefix=TMP_PREFIX)
        os.close(fd)
        try:
            self.fetch(FileStat(src, False, entry.size, 0.0, entry.version), Path(name))
            self._upload(dst, Path(name))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

    def _copy_in_service(self, src: str, dst: str, version: str) -> bool:
        """CopyObject, waiting for its work request; False where the service would not copy."""
        from oci.object_storage.models import CopyObjectDetails

        details = CopyObjectDetails(
            source_object_name=self._key(src),
            source_object_if_match_e_tag=version or None,
            destination_region=self.region,
            destination_namespace=self.namespace,
            destination_bucket=self.bucket,
            destination_object_name=self._key(dst),
        )
        try:
            response = self.client.copy_object(self.namespace, self.bucket, details)
        except Exception as exc:  # noqa: BLE001 - the SDK's errors become Strato's
            error = self._error(exc, "copy an object")
            if isinstance(error, CredentialsError) or getattr(exc, "code", None) in (
                "ObjectNotFound",
                "BucketNotFound",
            ):
                raise error from None
            log.info("OCI refused a server-side copy in %s (%s); copying here", self.bucket, error)
            return False
        work_request = response.headers.get("opc-work-request-id")
        if not work_request:
            return False
        deadline = time.monotonic() + COPY_WAIT_S
        delay = 0.05
        while True:
            try:
                status = str(self.client.get_work_request(work_request).data.status)
            except Exception as exc:  # noqa: BLE001 - the SDK's errors become Strato's
                raise self._error(exc, "wait for a copy") from None
            if status == "COMPLETED":
                return True
            if status in _FAILED_WORK:
                log.info(
                    "a server-side copy in %s ended %s (%s); copying here",
                    self.bucket,
                    status,
                    self._work_request_errors(work_request),
                )
                return False
            if time.monotonic() > deadline:
                raise ProviderUnavailableError(
                    f"bucket {self.bucket!r}: copying {src!r} to {dst!r} was still running after "
                    f"{COPY_WAIT_S:.0f} s (work request {work_request})",
                    provider=PROVIDER,
                )
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _work_request_errors(self, work_request: str) -> str:
        try:
            errors = self.client.list_work_request_errors(work_request).data or []
        except Exception as exc:  # noqa: BLE001 - only for the log line
            return type(exc).__name__
        return "; ".join(f"{e.code}: {e.message}" for e in errors) or "no error given"

    def destroy(self) -> None:
        """Delete every object under the prefix (and abort its unfinished uploads)."""
        names = [item.name for item in self._listing(self.prefix) if not isinstance(item, str)]
        self._delete_all(names)
        self._abort_uploads(self.prefix, under=True)
