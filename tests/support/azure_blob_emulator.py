"""A small fake of the Azure Blob Storage REST API: what the volume backend's SDK calls make.

It speaks the real service's shapes (paths, query parameters, ``x-ms-*`` headers, XML listings
and XML error bodies with their codes) so that the official SDK (azure-storage-blob) runs
against it unchanged. One storage account, addressed in the path form of emulators (Azurite):
the account URL is ``http://127.0.0.1:<port>/<account>``. Served:

- containers (``restype=container``): Get Container Properties (``HEAD``/``GET``), Create
  Container (``PUT``), Delete Container (``DELETE``), List Blobs (``GET comp=list`` with
  ``prefix``, ``delimiter``, ``marker``, ``maxresults``; XML ``EnumerationResults`` with
  ``Blob`` and ``BlobPrefix`` entries and a ``NextMarker``; at most :attr:`max_results` a
  page, like the service's 5000);
- block blobs: Put Blob, Put Block (``comp=block``) and Put Block List (``comp=blocklist``),
  Get Blob (whole or ``x-ms-range``/``Range``: 206 with ``Content-Range``, 416 ``InvalidRange``
  past the end, empty blobs included), Get Blob Properties (``HEAD``), Delete Blob, and Copy
  Blob (``x-ms-copy-source``, a blob of this account; it completes at once:
  ``x-ms-copy-status: success``, or, while :attr:`AzureBlobEmulator.pending_copy_reads` is
  set, answers ``pending`` and reports the copy pending for that many Get Blob Properties);
- conditional headers ``If-Match`` / ``If-None-Match`` on blobs (``ConditionNotMet`` 412,
  ``BlobAlreadyExists`` 409, 304 for reads).

Authentication, as the service does it:

- **Shared Key** (``Authorization: SharedKey <account>:<signature>``): the signature is
  recomputed from the request with the documented canonicalization for the Blob service (the
  verb; Content-Encoding, -Language, -Length (empty when 0), -MD5, -Type, Date,
  If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since, Range; the ``x-ms-*``
  headers, lower case, sorted as the service sorts them; ``/<account><encoded path>``; then each
  query parameter, lower case, sorted, decoded, as ``\\nname:value``). A wrong key gets 403
  ``AuthenticationFailed`` with the service's XML body (and its ``AuthenticationErrorDetail``);
  so does an ``x-ms-date`` more than 15 minutes off.
- **Account SAS** (``sv``, ``ss``, ``srt``, ``sp``, ``se``, ``sig`` in the query): the
  signature over the documented string-to-sign, the validity window, the ``b`` service, the
  resource type (``c`` for listing and containers, ``o`` for blobs) and the permission of the
  operation (``r``, ``w``/``c``, ``d``, ``l``) are checked (403 ``AuthenticationFailed``,
  ``AuthorizationResourceTypeMismatch``, ``AuthorizationPermissionMismatch``).
- nothing: 401 ``NoAuthenticationInformation`` (a private account).

Pointing the SDK at it::

    ContainerClient(emulator.endpoint, container,
                    credential={"account_name": emulator.account, "account_key": emulator.key})
    BlobServiceClient.from_connection_string(emulator.connection_string)

API (``emulator`` is an :class:`AzureBlobEmulator`, from the ``azure_blob_emulator`` fixture or
a ``with``)::

    emulator.account               # the storage account's name
    emulator.endpoint              # http://127.0.0.1:<free port>/<account>: the account URL
    emulator.key                   # its shared key (base64)
    emulator.credentials           # {"AZURE_STORAGE_KEY": key}: a secret's values that work
    emulator.connection_string     # AccountName, AccountKey and BlobEndpoint of the account
    emulator.sas_token(permission="racwdl")  # an account SAS for the blob service
    emulator.container(files={})   # a new container (unique name) holding {name: bytes}
    emulator.objects(container)    # {name: bytes} of every blob in it
    emulator.operations            # the operations served, in order ("PutBlob", "PutBlock"...)
    emulator.max_results           # the most entries a List Blobs page holds (default 5000)
    emulator.pending_copy_reads    # 0; N: a copy looks pending to the next N property reads

Pytest: ``from support.azure_blob_emulator import azure_blob_emulator  # noqa: F401`` where it
is used (one server per test module).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from support.fake_service import FakeHandler, FakeService, Reply

ACCOUNT = "stratotest"
#: the headers Shared Key signs by position, before the x-ms-* headers (Blob service)
_SIGNED_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)
_CLOCK_SKEW = timedelta(minutes=15)
#: the service's messages for the error codes served here
_MESSAGES = {
    "AuthenticationFailed": "Server failed to authenticate the request. Make sure the value of "
    "Authorization header is formed correctly including the signature.",
    "AuthorizationPermissionMismatch": "This request is not authorized to perform this "
    "operation using this permission.",
    "AuthorizationResourceTypeMismatch": "This request is not authorized to perform this "
    "operation using this resource type.",
    "AuthorizationServiceMismatch": "This request is not authorized to perform this operation "
    "using this service.",
    "AuthorizationProtocolMismatch": "This request is not authorized to perform this operation "
    "using this protocol.",
    "InvalidAuthenticationInfo": "Authentication information is not given in the correct "
    "format. Check the value of Authorization header.",
    "NoAuthenticationInformation": "Server failed to authenticate the request. Please refer to "
    "the information in the www-authenticate header.",
    "BlobNotFound": "The specified blob does not exist.",
    "CannotVerifyCopySource": "The specified blob does not exist.",
    "ContainerNotFound": "The specified container does not exist.",
    "ContainerAlreadyExists": "The specified container already exists.",
    "BlobAlreadyExists": "The specified blob already exists.",
    "ConditionNotMet": "The condition specified using HTTP conditional header(s) is not met.",
    "InvalidRange": "The range specified is invalid for the current size of the resource.",
    "InvalidBlockList": "The specified block list is invalid.",
    "InvalidBlockId": "The specified block ID is invalid. The block ID must be Base64-encoded.",
    "InvalidBlobOrBlock": "The specified blob or block content is invalid.",
    "InvalidHeaderValue": "The value for one of the HTTP headers is not in the correct format.",
    "InvalidQueryParameterValue": "Value for one of the query parameters specified in the "
    "request URI is invalid.",
    "InvalidUri": "The requested URI does not represent any resource on the server.",
    "UnsupportedHttpVerb": "The resource doesn't support specified Http Verb.",
    "ResourceNotFound": "The specified resource does not exist.",
}


class BlobError(Exception):
    """An error response of the service: status, code, and extra XML elements."""

    def __init__(
        self,
        status: int,
        code: str,
        details: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code)
        self.status, self.code = status, code
        self.details = details or {}
        self.headers = headers or {}


@dataclass
class Blob:
    """One committed block blob."""

    data: bytes
    etag: str
    created: float
    modified: float
    content_type: str = "application/octet-stream"
    blocks: list[tuple[str, bytes]] = field(default_factory=list)
    copy: dict[str, str] = field(default_factory=dict)
    #: Get Blob Properties calls that still see its copy as pending
    copy_pending_reads: int = 0


@dataclass
class Container:
    """A container: its blobs and the uncommitted blocks of blobs being written."""

    etag: str
    modified: float
    blobs: dict[str, Blob] = field(default_factory=dict)
    uncommitted: dict[str, dict[str, bytes]] = field(default_factory=dict)


def _new_etag() -> str:
    return "0x8D" + uuid.uuid4().hex[:13].upper()


def _http_date(when: float) -> str:
    return email.utils.formatdate(when, usegmt=True)


def _unquote_etag(value: str) -> str:
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def _iso_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _header_sort_key(name: str) -> tuple[str, str]:
    """The service's order of x-ms-* headers: hyphens are ignored first, then break ties."""
    return name.replace("-", ""), name


def _query_pairs(query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def _encode_marker(name: str) -> str:
    return "2!" + base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def _decode_marker(marker: str) -> str:
    if not marker.startswith("2!"):
        raise BlobError(400, "InvalidQueryParameterValue", {"QueryParameterName": "marker"})
    raw = marker[2:]
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise BlobError(
            400, "InvalidQueryParameterValue", {"QueryParameterName": "marker"}
        ) from None


class _Handler(FakeHandler):
    emulator: AzureBlobEmulator

    def _serve(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.emulator.handle(self.command, self.path, headers, self.read_body())
        out = {**reply.headers, "x-ms-version": headers.get("x-ms-version", "2025-01-05")}
        out.setdefault("x-ms-request-id", str(uuid.uuid4()))
        if "x-ms-client-request-id" in headers:
            out["x-ms-client-request-id"] = headers["x-ms-client-request-id"]
        self.respond(reply.status, out, reply.body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve


class AzureBlobEmulator(FakeService):
    """The fake Blob service of one storage account; :meth:`start` serves it on 127.0.0.1."""

    handler = _Handler

    def __init__(self, account: str = ACCOUNT, key: str | None = None) -> None:
        super().__init__()
        self.account = account
        self.key = key or base64.b64encode(uuid.uuid4().bytes * 4).decode()
        self.max_results = 5000
        self.pending_copy_reads = 0
        self.containers: dict[str, Container] = {}
        self.operations: list[str] = []

    @property
    def endpoint(self) -> str:
        """The account URL (path form): what the backend takes as ``endpoint``."""
        return f"{self.url}/{self.account}"

    @property
    def credentials(self) -> dict[str, str]:
        """A secret's values that the account accepts."""
        return {"AZURE_STORAGE_KEY": self.key}

    @property
    def connection_string(self) -> str:
        """A connection string for the account, with its key and endpoint."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account};"
            f"AccountKey={self.key};BlobEndpoint={self.endpoint};"
        )

    # -- test helpers --------------------------------------------------------------------------
    def container(self, files: dict[str, bytes] | None = None) -> str:
        """A new container with a unique name, holding ``files`` ({blob name: content})."""
        name = f"c-{uuid.uuid4().hex[:16]}"
        now = time.time()
        with self._lock:
            box = self.containers[name] = Container(_new_etag(), now)
            for blob, data in (files or {}).items():
                box.blobs[blob] = Blob(bytes(data), _new_etag(), now, now)
        return name

    def objects(self, container: str) -> dict[str, bytes]:
        """Every blob of a container: {name: content}."""
        with self._lock:
            return {name: blob.data for name, blob in self.containers[container].blobs.items()}

    def sas_token(
        self,
        permission: str = "racwdl",
        resource_types: str = "sco",
        expiry: datetime | None = None,
        key: str | None = None,
    ) -> str:
        """An account SAS for the blob service (signed with ``key``, the account's by default)."""
        end = expiry or datetime.now(UTC) + timedelta(hours=1)
        fields = {
            "sv": "2024-08-04",
            "ss": "b",
            "srt": resource_types,
            "sp": permission,
            "se": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "spr": "https,http",
        }
        fields["sig"] = self._sign(key or self.key, self._account_sas_string(fields))
        from urllib.parse import quote

        return "&".join(f"{name}={quote(value, safe='')}" for name, value in fields.items())

    # -- dispatch -------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        query: dict[str, str] = {}
        for name, value in _query_pairs(parts.query):
            query.setdefault(name.lower(), value)
        try:
            segments = parts.path.split("/")
            if len(segments) < 2 or segments[1] != self.account:
                raise BlobError(400, "InvalidUri")
            container = unquote(segments[2]) if len(segments) > 2 else ""
            blob = unquote("/".join(segments[3:])) if len(segments) > 3 else ""
            operation = self._operation(method, container, blob, query, headers)
            self._authenticate(method, parts.path, parts.query, query, headers, operation)
            with self._lock:
                self.operations.append(operation)
                return self._serve(operation, container, blob, query, headers, body)
        except BlobError as error:
            return self._error(method, error)

    def _operation(
        self,
        method: str,
        container: str,
        blob: str,
        query: dict[str, str],
        headers: dict[str, str],
    ) -> str:
        comp = query.get("comp", "")
        if not container:
            raise BlobError(400, "InvalidUri")
        if not blob:
            if query.get("restype") != "container":
                raise BlobError(400, "InvalidUri")
            if comp == "list" and method == "GET":
                return "ListBlobs"
            if comp:
                raise BlobError(400, "InvalidQueryParameterValue", {"QueryParameterName": "comp"})
            operations = {
                "GET": "GetContainerProperties",
                "HEAD": "GetContainerProperties",
                "PUT": "CreateContainer",
                "DELETE": "DeleteContainer",
            }
            if method not in operations:
                raise BlobError(405, "UnsupportedHttpVerb")
            return operations[method]
        if method == "PUT":
            if comp == "block":
                return "PutBlock"
            if comp == "blocklist":
                return "PutBlockList"
            if comp:
                raise BlobError(400, "InvalidQueryParameterValue", {"QueryParameterName": "comp"})
            return "CopyBlob" if "x-ms-copy-source" in headers else "PutBlob"
        if comp:
            raise BlobError(400, "InvalidQueryParameterValue", {"QueryParameterName": "comp"})
        operations = {"GET": "GetBlob", "HEAD": "GetBlobProperties", "DELETE": "DeleteBlob"}
        if method not in operations:
            raise BlobError(405, "UnsupportedHttpVerb")
        return operations[method]

    def _error(self, method: str, error: BlobError) -> Reply:
        request_id = str(uuid.uuid4())
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
        message = f"{_MESSAGES.get(error.code, error.code)}\nRequestId:{request_id}\nTime:{now}"
        extra = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in error.details.items())
        body = (
            '\ufeff<?xml version="1.0" encoding="utf-8"?><Error>'
            f"<Code>{error.code}</Code><Message>{escape(message)}</Message>{extra}</Error>"
        ).encode()
        headers = {
            "x-ms-error-code": error.code,
            "x-ms-request-id": request_id,
            "Content-Type": "application/xml",
            **error.headers,
        }
        empty = method == "HEAD" or error.status == 304
        return Reply(error.status, b"" if empty else body, headers)

    # -- authentication -------------------------------------------------------------------------
    @staticmethod
    def _sign(key: str, text: str) -> str:
        digest = hmac.new(base64.b64decode(key), text.encode("utf-8"), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def _authenticate(
        self,
        method: str,
        path: str,
        raw_query: str,
        query: dict[str, str],
        headers: dict[str, str],
        operation: str,
    ) -> None:
        if "sig" in query:
            self._check_sas(query, operation)
            return
        authorization = headers.get("authorization")
        if not authorization:
            raise BlobError(
                401,
                "NoAuthenticationInformation",
                headers={
                    "WWW-Authenticate": "Bearer authorization_uri=https://login.microsoftonline"
                    ".com/common/oauth2/authorize resource_id=https://storage.azure.com"
                },
            )
        scheme, _, credential = authorization.partition(" ")
        account, _, signature = credential.partition(":")
        if scheme != "SharedKey" or not signature:
            raise BlobError(400, "InvalidAuthenticationInfo")
        text = self._string_to_sign(method, path, raw_query, headers)
        if account != self.account or not hmac.compare_digest(
            signature, self._sign(self.key, text)
        ):
            detail = (
                f"The MAC signature found in the HTTP request '{signature}' is not the same as "
                f"any computed signature. Server used following string to sign: '{text}'."
            )
            raise BlobError(403, "AuthenticationFailed", {"AuthenticationErrorDetail": detail})
        stamp = headers.get("x-ms-date") or headers.get("date") or ""
        try:
            when = email.utils.parsedate_to_datetime(stamp)
        except (TypeError, ValueError):
            when = None
        if when is None or abs(datetime.now(UTC) - when) > _CLOCK_SKEW:
            detail = f"Request date header too old: '{stamp}'"
            raise BlobError(403, "AuthenticationFailed", {"AuthenticationErrorDetail": detail})

    def _string_to_sign(
        self, method: str, path: str, raw_query: str, headers: dict[str, str]
    ) -> str:
        """The documented Shared Key string-to-sign of the Blob service."""
        fixed = []
        for name in _SIGNED_HEADERS:
            value = headers.get(name, "")
            if name == "content-length" and value == "0":
                value = ""
            if name == "date" and "x-ms-date" in headers:
                value = ""
            fixed.append(value)
        ms_headers = sorted(
            ((k, v.strip()) for k, v in headers.items() if k.startswith("x-ms-")),
            key=lambda item: _header_sort_key(item[0]),
        )
        canonical_headers = "".join(f"{k}:{v}\n" for k, v in ms_headers)
        grouped: dict[str, list[str]] = {}
        for name, value in _query_pairs(raw_query):
            grouped.setdefault(name.lower(), []).append(value)
        canonical_query = "".join(
            f"\n{name}:{','.join(sorted(values))}" for name, values in sorted(grouped.items())
        )
        return (
            method
            + "\n"
            + "\n".join(fixed)
            + "\n"
            + canonical_headers
            + f"/{self.account}{path}"
            + canonical_query
        )

    def _account_sas_string(self, fields: dict[str, str]) -> str:
        """The documented string-to-sign of an account SAS."""
        names = ["sp", "ss", "srt", "st", "se", "sip", "spr", "sv"]
        if fields.get("sv", "") >= "2020-12-06":
            names.append("ses")
        return self.account + "\n" + "".join(fields.get(n, "") + "\n" for n in names)

    def _check_sas(self, query: dict[str, str], operation: str) -> None:
        text = self._account_sas_string(query)
        if "sr" in query or not hmac.compare_digest(query["sig"], self._sign(self.key, text)):
            detail = f"Signature did not match. String to sign used was {text}"
            raise BlobError(403, "AuthenticationFailed", {"AuthenticationErrorDetail": detail})
        now = datetime.now(UTC)
        try:
            start = _iso_time(query["st"]) if "st" in query else None
            expiry = _iso_time(query.get("se", ""))
        except ValueError:
            start, expiry = None, now
        if (start is not None and now < start) or now >= expiry:
            detail = (
                "Signature not valid in the specified time frame: "
                f"Start [{query.get('st', '')}] - Expiry [{query.get('se', '')}] - "
                f"Current [{_http_date(now.timestamp())}]"
            )
            raise BlobError(403, "AuthenticationFailed", {"AuthenticationErrorDetail": detail})
        if "b" not in query.get("ss", ""):
            raise BlobError(403, "AuthorizationServiceMismatch")
        if "http" not in query.get("spr", "https,http").split(","):
            raise BlobError(403, "AuthorizationProtocolMismatch")
        container_level = operation in (
            "ListBlobs",
            "GetContainerProperties",
            "CreateContainer",
            "DeleteContainer",
        )
        if ("c" if container_level else "o") not in query.get("srt", ""):
            raise BlobError(403, "AuthorizationResourceTypeMismatch")
        needed = {
            "ListBlobs": "l",
            "GetContainerProperties": "r",
            "CreateContainer": "c",
            "DeleteContainer": "d",
            "GetBlob": "r",
            "GetBlobProperties": "r",
            "DeleteBlob": "d",
        }.get(operation, "wc")  # the writes: Put Blob, Put Block (List), Copy Blob
        if not set(needed) & set(query.get("sp", "")):
            raise BlobError(403, "AuthorizationPermissionMismatch")

    # -- operations -----------------------------------------------------------------------------
    def _serve(
        self,
        operation: str,
        container: str,
        blob: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        if operation == "CreateContainer":
            if container in self.containers:
                raise BlobError(409, "ContainerAlreadyExists")
            box = self.containers[container] = Container(_new_etag(), time.time())
            return Reply(201, headers=self._stamp(box.etag, box.modified))
        box = self.containers.get(container)
        if box is None:
            raise BlobError(404, "ContainerNotFound")
        if operation == "GetContainerProperties":
            return Reply(
                200,
                headers={
                    **self._stamp(box.etag, box.modified),
                    "x-ms-lease-status": "unlocked",
                    "x-ms-lease-state": "available",
                    "x-ms-has-immutability-policy": "false",
                    "x-ms-has-legal-hold": "false",
                },
            )
        if operation == "DeleteContainer":
            del self.containers[container]
            return Reply(202)
        if operation == "ListBlobs":
            return self._list(container, box, query)
        if operation == "PutBlock":
            return self._put_block(box, blob, query, body)
        current = box.blobs.get(blob)
        self._check_conditions(operation, current, headers)
        if operation == "PutBlob":
            if headers.get("x-ms-blob-type") != "BlockBlob":
                raise BlobError(400, "InvalidHeaderValue", {"HeaderName": "x-ms-blob-type"})
            content_type = headers.get("x-ms-blob-content-type") or headers.get(
                "content-type", "application/octet-stream"
            )
            return self._write(box, blob, current, body, content_type, [])
        if operation == "PutBlockList":
            return self._put_block_list(box, blob, current, headers, body)
        if operation == "CopyBlob":
            return self._copy(box, blob, current, headers)
        if current is None:
            raise BlobError(404, "BlobNotFound")
        if operation == "DeleteBlob":
            del box.blobs[blob]
            return Reply(202, headers={"x-ms-delete-type-permanent": "false"})
        return self._read(operation, current, headers)

    @staticmethod
    def _stamp(etag: str, modified: float) -> dict[str, str]:
        return {"ETag": f'"{etag}"', "Last-Modified": _http_date(modified)}

    @staticmethod
    def _check_conditions(operation: str, current: Blob | None, headers: dict[str, str]) -> None:
        if_match = headers.get("if-match")
        if_none_match = headers.get("if-none-match")
        reading = operation in ("GetBlob", "GetBlobProperties")
        if if_match is not None:
            if current is None and (reading or operation == "DeleteBlob"):
                raise BlobError(404, "BlobNotFound")
            if current is None:
                raise BlobError(412, "ConditionNotMet")
            wanted = {_unquote_etag(tag) for tag in if_match.split(",")}
            if "*" not in wanted and current.etag not in wanted:
                raise BlobError(412, "ConditionNotMet")
        if if_none_match is not None and current is not None:
            wanted = {_unquote_etag(tag) for tag in if_none_match.split(",")}
            if "*" in wanted or current.etag in wanted:
                if reading:
                    raise BlobError(304, "ConditionNotMet")
                if "*" in wanted and operation in ("PutBlob", "PutBlockList", "CopyBlob"):
                    raise BlobError(409, "BlobAlreadyExists")
                raise BlobError(412, "ConditionNotMet")

    def _write(
        self,
        box: Container,
        name: str,
        current: Blob | None,
        data: bytes,
        content_type: str,
        blocks: list[tuple[str, bytes]],
        copy: dict[str, str] | None = None,
    ) -> Reply:
        now = time.time()
        created = current.created if current is not None else now
        blob = Blob(data, _new_etag(), created, now, content_type, blocks, copy or {})
        box.blobs[name] = blob
        box.uncommitted.pop(name, None)
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324 - the protocol's
        return Reply(
            201,
            headers={
                **self._stamp(blob.etag, blob.modified),
                "Content-MD5": md5,
                "x-ms-request-server-encrypted": "true",
            },
        )

    @staticmethod
    def _block_id(query: dict[str, str]) -> str:
        block_id = query.get("blockid", "")
        try:
            raw = base64.b64decode(block_id, validate=True)
        except binascii.Error:
            raise BlobError(
                400, "InvalidQueryParameterValue", {"QueryParameterName": "blockid"}
            ) from None
        if not raw or len(raw) > 64:
            raise BlobError(400, "InvalidQueryParameterValue", {"QueryParameterName": "blockid"})
        return block_id

    def _put_block(self, box: Container, name: str, query: dict[str, str], body: bytes) -> Reply:
        block_id = self._block_id(query)
        pending = box.uncommitted.setdefault(name, {})
        if pending and len(next(iter(pending))) != len(block_id):
            raise BlobError(400, "InvalidBlobOrBlock")  # all IDs of a blob have one length
        pending[block_id] = body
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324
        return Reply(201, headers={"Content-MD5": md5, "x-ms-request-server-encrypted": "true"})

    def _put_block_list(
        self,
        box: Container,
        name: str,
        current: Blob | None,
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        try:
            root = ElementTree.fromstring(body.decode("utf-8-sig"))
        except (ElementTree.ParseError, UnicodeDecodeError):
            raise BlobError(400, "InvalidXmlDocument") from None
        if root.tag != "BlockList":
            raise BlobError(400, "InvalidXmlDocument")
        pending = box.uncommitted.get(name, {})
        committed = dict(current.blocks) if current is not None else {}
        blocks: list[tuple[str, bytes]] = []
        for element in root:
            block_id = (element.text or "").strip()
            sources = {
                "Latest": (pending, committed),
                "Uncommitted": (pending,),
                "Committed": (committed,),
            }.get(element.tag)
            if sources is None:
                raise BlobError(400, "InvalidXmlDocument")
            found = next((source[block_id] for source in sources if block_id in source), None)
            if found is None:
                raise BlobError(400, "InvalidBlockList")
            blocks.append((block_id, found))
        content_type = headers.get("x-ms-blob-content-type") or "application/octet-stream"
        data = b"".join(chunk for _, chunk in blocks)
        return self._write(box, name, current, data, content_type, blocks)

    def _copy(
        self, box: Container, name: str, current: Blob | None, headers: dict[str, str]
    ) -> Reply:
        source_url = headers["x-ms-copy-source"]
        parts = urlsplit(source_url)
        segments = parts.path.split("/")
        here = urlsplit(self.url).netloc
        if parts.netloc != here or len(segments) < 4 or segments[1] != self.account:
            raise BlobError(404, "CannotVerifyCopySource")
        source_box = self.containers.get(unquote(segments[2]))
        source = source_box.blobs.get(unquote("/".join(segments[3:]))) if source_box else None
        if source is None:
            raise BlobError(404, "CannotVerifyCopySource")
        copy_id = str(uuid.uuid4())
        copy = {
            "x-ms-copy-id": copy_id,
            "x-ms-copy-source": source_url.split("?", 1)[0],
            "x-ms-copy-status": "success",
            "x-ms-copy-progress": f"{len(source.data)}/{len(source.data)}",
            "x-ms-copy-completion-time": _http_date(time.time()),
        }
        written = self._write(
            box, name, current, source.data, source.content_type, list(source.blocks), copy
        )
        target = box.blobs[name]
        target.copy_pending_reads = self.pending_copy_reads
        written.status = 202
        written.headers = {
            **self._stamp(target.etag, target.modified),
            "x-ms-copy-id": copy_id,
            "x-ms-copy-status": "pending" if target.copy_pending_reads else "success",
        }
        return written

    @staticmethod
    def _properties(blob: Blob) -> dict[str, str]:
        return {
            **AzureBlobEmulator._stamp(blob.etag, blob.modified),
            "Content-Type": blob.content_type,
            "x-ms-creation-time": _http_date(blob.created),
            "x-ms-blob-type": "BlockBlob",
            "x-ms-lease-status": "unlocked",
            "x-ms-lease-state": "available",
            "x-ms-server-encrypted": "true",
            "x-ms-access-tier": "Hot",
            "x-ms-access-tier-inferred": "true",
            "Accept-Ranges": "bytes",
            **blob.copy,
        }

    def _read(self, operation: str, blob: Blob, headers: dict[str, str]) -> Reply:
        properties = self._properties(blob)
        size = len(blob.data)
        if operation == "GetBlobProperties":
            if blob.copy_pending_reads:
                blob.copy_pending_reads -= 1
                properties["x-ms-copy-status"] = "pending"
                properties["x-ms-copy-progress"] = f"0/{size}"
                del properties["x-ms-copy-completion-time"]
            return Reply(200, headers={**properties, "Content-Length": str(size)})
        spec = headers.get("x-ms-range") or headers.get("range")
        if not spec:
            return Reply(200, blob.data, properties)
        unit, _, span = spec.partition("=")
        first, _, last = span.partition("-")
        try:
            start = int(first)
            end = int(last) if last else size - 1
        except ValueError:
            raise BlobError(400, "InvalidHeaderValue", {"HeaderName": "x-ms-range"}) from None
        if unit.strip() != "bytes" or start < 0 or end < start:
            raise BlobError(400, "InvalidHeaderValue", {"HeaderName": "x-ms-range"})
        if start >= size:
            raise BlobError(416, "InvalidRange", headers={"Content-Range": f"bytes */{size}"})
        end = min(end, size - 1)
        return Reply(
            206,
            blob.data[start : end + 1],
            {**properties, "Content-Range": f"bytes {start}-{end}/{size}"},
        )

    def _list(self, container: str, box: Container, query: dict[str, str]) -> Reply:
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        marker = query.get("marker", "")
        try:
            limit = int(query.get("maxresults") or self.max_results)
        except ValueError:
            limit = 0
        if limit <= 0:
            raise BlobError(
                400, "OutOfRangeQueryParameterValue", {"QueryParameterName": "maxresults"}
            )
        limit = min(limit, self.max_results)
        start = _decode_marker(marker) if marker else ""
        items = [item for item in self._entries(box, prefix, delimiter) if item[2] >= start]
        page, rest = items[:limit], items[limit:]
        entries = []
        for kind, name, _first in page:
            if kind == "prefix":
                entries.append(f"<BlobPrefix><Name>{escape(name)}</Name></BlobPrefix>")
                continue
            blob = box.blobs[name]
            entries.append(
                f"<Blob><Name>{escape(name)}</Name><Properties>"
                f"<Creation-Time>{_http_date(blob.created)}</Creation-Time>"
                f"<Last-Modified>{_http_date(blob.modified)}</Last-Modified>"
                f"<Etag>{blob.etag}</Etag>"
                f"<Content-Length>{len(blob.data)}</Content-Length>"
                f"<Content-Type>{escape(blob.content_type)}</Content-Type>"
                "<Content-Encoding /><Content-Language /><Content-CRC64 /><Content-MD5 />"
                "<Cache-Control /><Content-Disposition />"
                "<BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier>"
                "<AccessTierInferred>true</AccessTierInferred>"
                "<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
                "<ServerEncrypted>true</ServerEncrypted></Properties><OrMetadata /></Blob>"
            )
        next_marker = _encode_marker(rest[0][2]) if rest else ""
        service = f"{self.endpoint}/"
        xml = (
            '\ufeff<?xml version="1.0" encoding="utf-8"?>'
            f'<EnumerationResults ServiceEndpoint="{escape(service)}" '
            f'ContainerName="{escape(container)}">'
            + (f"<Prefix>{escape(prefix)}</Prefix>" if prefix else "")
            + (f"<Marker>{escape(marker)}</Marker>" if marker else "")
            + (f"<MaxResults>{limit}</MaxResults>" if "maxresults" in query else "")
            + (f"<Delimiter>{escape(delimiter)}</Delimiter>" if delimiter else "")
            + "<Blobs>"
            + "".join(entries)
            + "</Blobs>"
            + (f"<NextMarker>{next_marker}</NextMarker>" if next_marker else "<NextMarker />")
            + "</EnumerationResults>"
        )
        return Reply(200, xml.encode("utf-8"), {"Content-Type": "application/xml"})

    @staticmethod
    def _entries(box: Container, prefix: str, delimiter: str) -> Iterator[tuple[str, str, str]]:
        """(kind, name, first blob name it covers) for a listing, in name order."""
        seen: set[str] = set()
        for name in sorted(box.blobs):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix) :]
            cut = rest.find(delimiter) if delimiter else -1
            if cut < 0:
                yield "blob", name, name
                continue
            common = prefix + rest[: cut + len(delimiter)]
            if common not in seen:
                seen.add(common)
                yield "prefix", common, name


azure_blob_emulator = AzureBlobEmulator.module_fixture("azure_blob_emulator")
