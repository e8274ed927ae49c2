"""A volume's committed files in Google Cloud Storage, on the official ``google-cloud-storage``
SDK (its JSON API).

:class:`GCSBackend` keeps each file as an object under a key prefix of a bucket, with the same
semantics as :class:`~strato.core.objects.volume_backends.S3Backend`: a file's version is its
object's ``generation`` (GCS gives every write a new one), a conditional delete is atomic (the
``ifGenerationMatch`` precondition), copies stay on the server (``rewrite``), and empty
directories are zero-byte ``dir/`` objects when ``dir_markers`` is on.

Credentials are a secret's values, by these names (``open_store`` passes them through):

- ``SERVICE_ACCOUNT_JSON``: the text of a service-account JSON key (the name Modal gives the
  secrets of its GCP integration), or of an authorized user's credentials (``gcloud auth
  application-default login``); other kinds (external accounts, which can make google-auth
  fetch URLs or run commands) are refused;
- ``GOOGLE_APPLICATION_CREDENTIALS``: the path of such a file on the machine.

With neither, the SDK's own chain applies (``google.auth.default()``: the
``GOOGLE_APPLICATION_CREDENTIALS`` environment variable, gcloud's application-default
credentials, the machine's service account on GCP). With an ``endpoint`` (an emulator, or the
``STORAGE_EMULATOR_HOST`` environment variable) and no credentials, requests are anonymous.

Errors: a missing file is :class:`~strato.exception.NotFoundError`; a refused credential (HTTP
401 or 403, a token the token endpoint would not issue) is
:class:`~strato.exception.CredentialsError` naming the bucket, never the secret's values; any
other failure is :class:`~strato.exception.ProviderUnavailableError`. No SDK exception
escapes. The SDK is imported only when a backend is made.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from strato.core.objects.volume_backends import FileStat, KeyedStore, Staged
from strato.exception import (
    CredentialsError,
    Error,
    InvalidError,
    NotFoundError,
    ProviderUnavailableError,
)

#: the OAuth scope asked of credentials that need one (read and write objects, no ACLs)
SCOPES = ("https://www.googleapis.com/auth/devstorage.read_write",)
#: at most this many deletions in flight at once (GCS's JSON API deletes one object a call)
DELETE_WORKERS = 8
_CREDENTIAL_HINT = (
    "check the secret's SERVICE_ACCOUNT_JSON (or GOOGLE_APPLICATION_CREDENTIALS) and that its "
    "service account may use the bucket (roles/storage.objectUser)"
)


def gcs_error(error: BaseException, bucket: str, action: str, anonymous: bool = False) -> Exception:
    """A Strato exception for an error of the GCS SDK, naming the bucket and never the
    credentials (``anonymous``: the client had none, which the message then says)."""
    from google.api_core.exceptions import RetryError
    from google.auth import exceptions as auth_exceptions

    if isinstance(error, RetryError) and error.cause is not None:
        error = error.cause
    status = _status(error)
    refused = status in (401, 403) or (
        isinstance(error, auth_exceptions.GoogleAuthError)
        and not isinstance(error, auth_exceptions.TransportError)
        and not getattr(error, "retryable", False)
    )
    if refused:
        if status is not None:
            detail = f"HTTP {status} {_reason(error) or ''}".rstrip()
        elif isinstance(error, auth_exceptions.RefreshError) and error.args:
            # the token endpoint's own words ("invalid_grant: Invalid JWT Signature.")
            detail = f"no token: {str(error.args[0])[:200]}"
        else:
            detail = type(error).__name__
        if anonymous:
            return CredentialsError(
                f"bucket {bucket!r}: anonymous access was refused while trying to {action} "
                f"({detail}); give the store a secret with SERVICE_ACCOUNT_JSON or "
                "GOOGLE_APPLICATION_CREDENTIALS",
                provider="gcs",
                code=status,
            )
        return CredentialsError(
            f"bucket {bucket!r}: the credentials were refused while trying to {action} "
            f"({detail}); {_CREDENTIAL_HINT}",
            provider="gcs",
            code=status,
        )
    if status == 404:
        return NotFoundError(
            f"bucket {bucket!r}: not found while trying to {action} "
            f"({_message(error) or 'not found'})"
        )
    if isinstance(error, auth_exceptions.GoogleAuthError):
        return ProviderUnavailableError(
            f"bucket {bucket!r}: could not get a token to {action} ({type(error).__name__})",
            provider="gcs",
        )
    if status is not None:
        message = _message(error)
        return ProviderUnavailableError(
            f"bucket {bucket!r}: could not {action} (HTTP {status}"
            + (f": {message})" if message else ")"),
            provider="gcs",
            code=status,
            retryable=status in (408, 429) or status >= 500,
        )
    return ProviderUnavailableError(
        f"bucket {bucket!r}: could not {action}: {type(error).__name__}: {error}", provider="gcs"
    )


def _status(error: BaseException) -> int | None:
    """The HTTP status of an SDK error (an API error, or a media transfer's response)."""
    code = getattr(error, "code", None)
    if isinstance(code, int):
        return code
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _first_error(error: BaseException) -> dict[str, Any]:
    """The first entry of a GCS error body's ``errors`` list."""
    errors = getattr(error, "errors", None)
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return errors[0]
    return {}


def _reason(error: BaseException) -> str:
    """GCS's reason for an error (``forbidden``, ``required``, ``authError``...)."""
    return str(_first_error(error).get("reason") or "")


def _message(error: BaseException) -> str:
    """GCS's message for an error, without the request line the SDK puts before it."""
    return str(_first_error(error).get("message") or "")[:300]


def load_credentials(
    values: dict[str, str] | None, bucket: str, anonymous: bool = False
) -> tuple[Any, str | None]:
    """(google-auth credentials, their project or None) from a secret's values; without
    credential values, anonymous ones where ``anonymous``, else the SDK's default chain."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials

    values = values or {}
    text = values.get("SERVICE_ACCOUNT_JSON")
    path = values.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not text and not path:
        if anonymous:
            return AnonymousCredentials(), None
        try:
            credentials, project = google.auth.default(scopes=SCOPES)
        except Exception as exc:  # noqa: BLE001 - google-auth's errors become Strato's
            raise CredentialsError(
                f"bucket {bucket!r}: no Google Cloud credentials ({type(exc).__name__}); set "
                "SERVICE_ACCOUNT_JSON or GOOGLE_APPLICATION_CREDENTIALS in a secret, or run "
                "where application-default credentials exist",
                provider="gcs",
            ) from None
        return credentials, project
    name = "SERVICE_ACCOUNT_JSON" if text else "GOOGLE_APPLICATION_CREDENTIALS"
    if not text:
        try:
            text = Path(str(path)).read_text()
        except OSError as exc:
            raise CredentialsError(
                f"bucket {bucket!r}: cannot read the key file that GOOGLE_APPLICATION_CREDENTIALS "
                f"names ({exc.strerror or type(exc).__name__})",
                provider="gcs",
            ) from None
    return _credentials_from_json(text, name, bucket)


def _credentials_from_json(text: str, name: str, bucket: str) -> tuple[Any, str | None]:
    """Credentials from a service-account key or an authorized user's JSON (other kinds, such
    as external accounts, could make google-auth fetch URLs or run commands: refused)."""
    try:
        info = json.loads(text)
    except ValueError:
        info = None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind not in ("service_account", "authorized_user"):
        found = f"of type {kind!r}" if isinstance(kind, str) else "not a JSON key"
        raise CredentialsError(
            f"bucket {bucket!r}: the secret's {name} is {found}; use a service account's JSON "
            "key (or an authorized user's)",
            provider="gcs",
        )
    assert isinstance(info, dict)
    try:
        if kind == "service_account":
            from google.oauth2 import service_account

            credentials: Any = service_account.Credentials.from_service_account_info(
                info, scopes=SCOPES
            )
        else:
            from google.oauth2 import credentials as user_credentials

            credentials = user_credentials.Credentials.from_authorized_user_info(
                info, scopes=SCOPES
            )
    except Exception as exc:  # noqa: BLE001 - a malformed key; its text is never quoted
        raise CredentialsError(
            f"bucket {bucket!r}: the secret's {name} is not a valid {kind} key "
            f"({type(exc).__name__})",
            provider="gcs",
        ) from None
    project = info.get("project_id") or info.get("quota_project_id")
    return credentials, str(project) if project else None


class GCSBackend(KeyedStore):
    """Files as objects under ``prefix`` in a Google Cloud Storage bucket.

    ``credentials`` are a secret's values (see the module's docstring), ``endpoint`` replaces
    ``https://storage.googleapis.com`` (an emulator), ``project`` is the project the client
    bills where a call needs one (default: the credentials' own). ``dir_markers`` keeps empty
    directories as zero-byte ``dir/`` objects (volumes need them; bucket mounts show
    directories only while they hold files, as Cloud Storage FUSE does with implicit
    directories).
    """

    name = "gcs"
    #: bytes sent per request of a resumable upload (files over the SDK's 8 MiB multipart
    #: limit); a multiple of 256 KiB, or None for the SDK's 100 MiB
    upload_chunk_size: int | None = None

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        credentials: dict[str, str] | None = None,
        endpoint: str | None = None,
        dir_markers: bool = True,
        project: str | None = None,
    ) -> None:
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.bucket = bucket
        self.prefix = prefix.lstrip("/")
        self.dir_markers = dir_markers
        endpoint = endpoint or os.environ.get("STORAGE_EMULATOR_HOST") or None
        if endpoint is not None:
            if "://" not in endpoint:
                endpoint = f"http://{endpoint}"
            endpoint = endpoint.rstrip("/")
        self.endpoint = endpoint
        try:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage
        except ImportError:  # pragma: no cover - the SDK ships with the gcp extra
            raise InvalidError(
                "Google Cloud Storage needs google-cloud-storage: pip install 'strato[gcp]'"
            ) from None
        creds, key_project = load_credentials(credentials, bucket, anonymous=endpoint is not None)
        self.anonymous = isinstance(creds, AnonymousCredentials)
        options = {"api_endpoint": endpoint} if endpoint else None
        with self._errors("connect to Google Cloud Storage"):
            self.client = storage.Client(
                project=project or key_project, credentials=creds, client_options=options
            )
            self._bucket = self.client.bucket(bucket)

    # -- helpers ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn the SDK's errors into Strato's."""
        try:
            yield
        except Error:
            raise
        except Exception as exc:  # noqa: BLE001 - the SDK's errors become Strato's
            raise gcs_error(exc, self.bucket, action, anonymous=self.anonymous) from None

    def _blob(self, path: str, generation: int | None = None) -> Any:
        return self._bucket.blob(self._key(path), generation=generation)

    def _listing(
        self, prefix: str, delimiter: str | None = None, max_results: int | None = None
    ) -> Iterator[Any]:
        """The blobs under ``prefix``, then (with a delimiter) each page's common prefixes as
        strings, following ``nextPageToken``."""
        with self._errors("list objects"):
            listing = self.client.list_blobs(
                self._bucket, prefix=prefix, delimiter=delimiter, max_results=max_results
            )
            for page in listing.pages:
                yield from page
                yield from getattr(page, "prefixes", ())

    def _file_stat(self, path: str, blob: Any) -> FileStat:
        updated = blob.updated
        return FileStat(
            path,
            False,
            int(blob.size or 0),
            updated.timestamp() if updated is not None else 0.0,
            str(blob.generation or ""),
        )

    def _entry(self, item: Any) -> FileStat | None:
        if isinstance(item, str):
            path = item[len(self.prefix) :].rstrip("/")
            return FileStat(path, True, 0, 0.0) if path else None
        path = item.name[len(self.prefix) :]
        if not path:
            return None
        if path.endswith("/"):
            updated = item.updated
            mtime = updated.timestamp() if updated is not None else 0.0
            return FileStat(path.rstrip("/"), True, 0, mtime)
        return self._file_stat(path, item)

    def _delete_keys(self, keys: list[str]) -> None:
        """Delete objects (those already gone are fine), several at a time."""

        def delete(key: str) -> None:
            with contextlib.suppress(NotFoundError), self._errors("delete an object"):
                self._bucket.delete_blob(key)

        if len(keys) <= 1:
            for key in keys:
                delete(key)
            return
        with ThreadPoolExecutor(max_workers=min(DELETE_WORKERS, len(keys))) as pool:
            for _ in pool.map(delete, keys):
                pass

    # -- what working copies use -----------------------------------------------------------------
    def fetch(self, entry: FileStat, dest: Path, link: bool = False) -> None:
        """Download the file ``entry`` to ``dest`` (``link`` does not apply to a bucket)."""
        blob = self._blob(entry.path)
        try:
            with open(dest, "wb") as out, self._errors("read an object"):
                blob.download_to_file(out)
        except NotFoundError:
            raise NotFoundError(f"no file {entry.path!r} in bucket {self.bucket!r}") from None
        if entry.mtime:
            os.utime(dest, (entry.mtime, entry.mtime))

    def stage(self, source: Path) -> Staged:
        """Uploads read the file when published: nothing to copy now."""
        return Staged(source, owned=False)

    def publish(self, path: str, staged: Staged, overwrite_dir: bool = False) -> FileStat:
        """Upload ``staged`` as ``path`` (multipart, or resumable for large files)."""
        if not path:
            raise InvalidError("cannot write a file at the root")
        blob = self._blob(path)
        if self.upload_chunk_size:
            blob.chunk_size = self.upload_chunk_size
        try:
            with self._errors("write an object"):
                blob.upload_from_filename(str(staged.source))
        finally:
            self.discard(staged)
        return self._file_stat(path, blob)

    def discard(self, staged: Staged) -> None:
        """Remove a staged file the backend owns."""
        if staged.owned:
            with contextlib.suppress(FileNotFoundError):
                staged.source.unlink()

    def delete_if(self, path: str, version: str) -> bool:
        """Delete ``path`` only while its generation is ``version`` (atomic, on the server)."""
        try:
            generation = int(version)
        except ValueError:
            return False
        from google.api_core import exceptions as api_exceptions

        try:
            with self._errors("delete an object"):
                try:
                    self._blob(path).delete(if_generation_match=generation)
                except (api_exceptions.PreconditionFailed, api_exceptions.NotFound):
                    return False  # rewritten (or deleted) since: the newer state wins
        except NotFoundError:
            return False
        return True

    def make_dir(self, path: str) -> None:
        """Keep the directory ``path`` as a zero-byte ``path/`` marker object."""
        if path and self.dir_markers:
            with self._errors("write an object"):
                self._bucket.blob(self._key(path) + "/").upload_from_string(b"")

    def remove_dir_if_empty(self, path: str) -> None:
        """Delete the marker of directory ``path`` if nothing else is under it."""
        if not path or not self.dir_markers:
            return
        marker = self._key(path) + "/"
        names = [item.name for item in self._listing(marker, max_results=2)]
        if names == [marker]:
            self._delete_keys(names)

    def lock(self) -> contextlib.AbstractContextManager[Any]:
        """GCS has no locks: the last write wins."""
        return contextlib.nullcontext()

    # -- what the API uses -----------------------------------------------------------------------
    def stat(self, path: str) -> FileStat | None:
        """A file's or directory's stat, or None."""
        if path:
            with self._errors("read an object"):
                blob = self._bucket.get_blob(self._key(path))
            if blob is not None:
                return self._file_stat(path, blob)
        prefix = self._key(path) + "/" if path else self.prefix
        found = next(iter(self._listing(prefix, max_results=1)), None)
        if found is not None or not path:
            return FileStat(path, True, 0, 0.0)
        return None

    def read_range(self, path: str, offset: int, length: int) -> tuple[bytes, FileStat]:
        """Up to ``length`` bytes of ``path`` from ``offset``, and the stat they belong to."""
        for _ in range(3):  # the file may be rewritten between its stat and its read
            entry = self.stat(path)
            if entry is None:
                break
            if entry.is_dir:
                raise InvalidError(f"{path!r} is a directory, not a file")
            if offset >= entry.size or length <= 0:
                return b"", entry
            end = min(entry.size, offset + length) - 1
            blob = self._blob(path, generation=int(entry.version))
            try:
                with self._errors("read an object"):
                    return blob.download_as_bytes(start=offset, end=end), entry
            except NotFoundError:
                continue
        raise NotFoundError(f"no file {path!r} in bucket {self.bucket!r}")

    def remove(self, path: str, recursive: bool) -> None:
        """Delete a file, or a directory (with what it holds where ``recursive``)."""
        entry = self.stat(path)
        if entry is None:
            raise NotFoundError(f"no file or directory {path or '/'!r} in bucket {self.bucket!r}")
        if not entry.is_dir:
            try:
                with self._errors("delete an object"):
                    self._bucket.delete_blob(self._key(path))
            except NotFoundError:
                raise NotFoundError(f"no file {path!r} in bucket {self.bucket!r}") from None
            return
        prefix = self._key(path) + "/" if path else self.prefix
        keys = [item.name for item in self._listing(prefix)]
        if not recursive and [k for k in keys if k != prefix]:
            raise InvalidError(f"{path!r} is a directory that is not empty: pass recursive=True")
        self._delete_keys(keys)

    def copy(self, src: str, dst: str) -> None:
        """Copy a file on the server (``rewrite``, resumed until done)."""
        source, target = self._blob(src), self._blob(dst)
        try:
            with self._errors("copy an object"):
                token, _, _ = target.rewrite(source)
                while token is not None:
                    token, _, _ = target.rewrite(source, token=token)
        except NotFoundError:
            raise NotFoundError(f"no file {src!r} in bucket {self.bucket!r}") from None

    def destroy(self) -> None:
        """Delete every object under the prefix."""
        self._delete_keys([item.name for item in self._listing(self.prefix)])
