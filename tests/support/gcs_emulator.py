"""A small fake of the Google Cloud Storage JSON API (v1), with Google's OAuth token endpoint.

It serves what ``google-cloud-storage`` calls for volumes and bucket mounts, in the real
request and response shapes:

- ``GET /storage/v1/b/{bucket}``: the bucket's metadata;
- ``GET /storage/v1/b/{bucket}/o``: list objects (``prefix``, ``delimiter``, ``pageToken``,
  ``maxResults``, ``startOffset``, ``endOffset``, ``includeTrailingDelimiter``);
- ``GET /storage/v1/b/{bucket}/o/{object}``: an object's metadata, or its bytes with
  ``alt=media`` (also under ``/download/storage/v1/...``, the SDK's media URL), honouring
  ``Range`` (206 with ``Content-Range``) and sending ``X-Goog-Hash`` (crc32c and md5) and
  ``X-Goog-Generation``, so the SDK checks what it downloads;
- ``POST /upload/storage/v1/b/{bucket}/o``: ``uploadType=media``, ``multipart`` (JSON
  metadata plus the bytes, in ``multipart/related``) and ``resumable`` (the ``Location`` of a
  session, then ``PUT`` chunks with ``Content-Range``: ``308`` and ``Range`` until the last
  one); the checksum the SDK sends is verified as GCS does;
- ``DELETE /storage/v1/b/{bucket}/o/{object}``;
- ``POST .../o/{src}/rewriteTo/b/{bucket}/o/{dst}`` and ``.../copyTo/...``.

Generations are microsecond timestamps that only grow; the preconditions ``ifGenerationMatch``
(``0``: the object must not exist) and ``ifGenerationNotMatch`` answer ``412
conditionNotMet``, a ``generation`` that is no longer live ``404``. Errors are GCS's JSON
bodies (``{"error": {"code": 404, "message": "No such object: b/k", "errors": [...]}}``).

Authentication is Google's, for service-account keys. The emulator makes RSA keys and
service-account JSON files whose ``token_uri`` is its own ``/token``; the SDK (google-auth)
signs a JWT with the key and trades it there for a bearer token, as with
``oauth2.googleapis.com``. The emulator verifies the JWT's signature against the keys it
trusts (another key: ``400 invalid_grant``, "Invalid JWT Signature.", which google-auth raises
as a ``RefreshError``) and then accepts only the tokens it issued (another token: ``401
Invalid Credentials``). A request without ``Authorization`` is an anonymous caller: ``401``,
unless the bucket was made with ``anonymous=True`` (then anyone may do anything in it, as in
fake-gcs-server). :meth:`GCSEmulator.forbid` takes a bucket away from the service account
(``403 forbidden``, as when it lacks the IAM role).

API (``emulator`` is a :class:`GCSEmulator`, from the ``gcs_emulator`` fixture or a ``with``)::

    emulator.endpoint                      # http://127.0.0.1:<free port>
    emulator.credentials                   # {"SERVICE_ACCOUNT_JSON": ...}: a secret's values
    emulator.service_account(trusted=True) # a new key's JSON (dict); untrusted: refused
    emulator.bucket(files={}, anonymous=False)  # a new bucket (unique name) holding files
    emulator.objects(bucket)               # {name: bytes} of every object in it
    emulator.generation(bucket, name)      # an object's live generation
    emulator.forbid(bucket)                # the service account loses access to it
    emulator.page_limit = 5                # shorter list pages (GCS: 1000)
    emulator.requests                      # (method, path, query) of every request

Point the SDK at it with ``storage.Client(client_options={"api_endpoint": emulator.endpoint},
credentials=...)``: the credentials from ``emulator.credentials`` (or ``AnonymousCredentials``
for an ``anonymous`` bucket); or Strato with ``STRATO_VOLUME_STORE_ENDPOINT``.

Pytest: ``from support.gcs_emulator import gcs_emulator  # noqa: F401`` where it is used (one
server per test module).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from support.fake_service import FakeHandler, FakeService

PROJECT = "strato-tests"
PROJECT_NUMBER = "123456789012"
CLIENT_EMAIL = f"strato-volumes@{PROJECT}.iam.gserviceaccount.com"
TOKEN_TTL_S = 3600
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: the audience google-auth puts in its assertions, whatever the key's ``token_uri``
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"

Response = tuple[int, dict[str, str], bytes]


def _rfc3339(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _crc32c(data: bytes) -> str:
    import google_crc32c

    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


class ApiError(Exception):
    """An HTTP error in the GCS JSON API's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        reason: str,
        *,
        location: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        detail: dict[str, Any] = {"message": message, "domain": "global", "reason": reason}
        if location is not None:
            detail.update(locationType="header", location=location)
        self.body = {"error": {"code": status, "message": message, "errors": [detail]}}
        self.headers = headers or {}


def _precondition_failed() -> ApiError:
    return ApiError(
        412,
        "At least one of the pre-conditions you specified did not hold.",
        "conditionNotMet",
        location="If-Match",
    )


@dataclass
class _Object:
    bucket: str
    name: str
    data: bytes
    generation: int
    content_type: str
    created: float
    metadata: dict[str, str] | None = None
    crc32c: str = ""
    md5: str = ""

    def __post_init__(self) -> None:
        self.crc32c = _crc32c(self.data)
        self.md5 = _md5(self.data)

    def resource(self, base_url: str) -> dict[str, Any]:
        quoted = quote(self.name, safe="")
        body: dict[str, Any] = {
            "kind": "storage#object",
            "id": f"{self.bucket}/{self.name}/{self.generation}",
            "selfLink": f"{base_url}/storage/v1/b/{self.bucket}/o/{quoted}",
            "mediaLink": (
                f"{base_url}/download/storage/v1/b/{self.bucket}/o/{quoted}"
                f"?generation={self.generation}&alt=media"
            ),
            "name": self.name,
            "bucket": self.bucket,
            "generation": str(self.generation),
            "metageneration": "1",
            "contentType": self.content_type,
            "storageClass": "STANDARD",
            "size": str(len(self.data)),
            "md5Hash": self.md5,
            "crc32c": self.crc32c,
            "etag": base64.b64encode(str(self.generation).encode()).decode(),
            "timeCreated": _rfc3339(self.created),
            "updated": _rfc3339(self.created),
            "timeStorageClassUpdated": _rfc3339(self.created),
        }
        if self.metadata:
            body["metadata"] = dict(self.metadata)
        return body


@dataclass
class _Bucket:
    name: str
    created: float
    anonymous: bool = False
    forbidden: bool = False
    objects: dict[str, _Object] = field(default_factory=dict)

    def resource(self) -> dict[str, Any]:
        return {
            "kind": "storage#bucket",
            "id": self.name,
            "name": self.name,
            "projectNumber": PROJECT_NUMBER,
            "metageneration": "1",
            "location": "US",
            "locationType": "multi-region",
            "storageClass": "STANDARD",
            "timeCreated": _rfc3339(self.created),
            "updated": _rfc3339(self.created),
            "etag": "CAE=",
        }


@dataclass
class _Session:
    """A resumable upload in progress."""

    bucket: str
    name: str
    content_type: str
    metadata: dict[str, str] | None
    conditions: dict[str, list[str]]
    data: bytearray = field(default_factory=bytearray)


@dataclass
class _Caller:
    """Who sent a request: a service account (by its token) or nobody."""

    email: str | None

    def describe(self) -> str:
        return self.email or "Anonymous caller"


class _Handler(FakeHandler):
    emulator: GCSEmulator

    def _serve(self) -> None:
        headers = {key.lower(): value for key, value in self.headers.items()}
        status, out, payload = self.emulator.handle(
            self.command, self.path, headers, self.read_body()
        )
        self.respond(status, out, payload)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class GCSEmulator(FakeService):
    """The fake GCS JSON API; ``with GCSEmulator() as emulator:`` serves on 127.0.0.1."""

    handler = _Handler

    def __init__(self) -> None:
        super().__init__()
        self._buckets: dict[str, _Bucket] = {}
        self._sessions: dict[str, _Session] = {}
        self._keys: dict[str, list[Any]] = {}  # client_email -> trusted public keys
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (email, expiry)
        self._last_generation = 0
        #: the most entries (objects and prefixes) a list page holds; GCS's is 1000
        self.page_limit = 1000
        #: every request as (method, path, query), in order
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self._credentials: dict[str, str] | None = None

    @property
    def endpoint(self) -> str:
        """The base URL to give the SDK as ``api_endpoint``."""
        return self.url

    # -- test controls ---------------------------------------------------------------------------
    def service_account(self, trusted: bool = True, email: str = CLIENT_EMAIL) -> dict[str, Any]:
        """A new service-account key's JSON (as a dict) whose ``token_uri`` is this emulator;
        its token requests are refused unless ``trusted``."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        if trusted:
            with self._lock:
                self._keys.setdefault(email, []).append(key.public_key())
        return {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": email,
            "client_id": str(secrets.randbits(64)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": f"{self.endpoint}/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }

    @property
    def credentials(self) -> dict[str, str]:
        """A secret's values that work: ``{"SERVICE_ACCOUNT_JSON": <a trusted key's JSON>}``."""
        if self._credentials is None:
            self._credentials = {"SERVICE_ACCOUNT_JSON": json.dumps(self.service_account())}
        return dict(self._credentials)

    def bucket(
        self,
        files: dict[str, bytes] | None = None,
        *,
        anonymous: bool = False,
        name: str | None = None,
    ) -> str:
        """A new bucket (with a unique name unless ``name``) holding ``files``; ``anonymous``
        lets callers without credentials do anything in it."""
        name = name or f"strato-test-{secrets.token_hex(4)}"
        with self._lock:
            if name in self._buckets:
                raise ValueError(f"bucket {name} exists")
            bucket = _Bucket(name, time.time(), anonymous=anonymous)
            self._buckets[name] = bucket
            for key, data in (files or {}).items():
                self._store(bucket, key, data, "application/octet-stream", None)
        return name

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object of ``bucket``: name -> bytes."""
        with self._lock:
            return {name: obj.data for name, obj in sorted(self._buckets[bucket].objects.items())}

    def generation(self, bucket: str, name: str) -> int:
        """The live generation of an object."""
        with self._lock:
            return self._buckets[bucket].objects[name].generation

    def forbid(self, bucket: str) -> None:
        """The service account loses its access to ``bucket``: its calls get ``403``."""
        with self._lock:
            self._buckets[bucket].forbidden = True

    # -- state -----------------------------------------------------------------------------------
    def _next_generation(self) -> int:
        self._last_generation = max(self._last_generation + 1, time.time_ns() // 1000)
        return self._last_generation

    def _store(
        self,
        bucket: _Bucket,
        name: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str] | None,
    ) -> _Object:
        obj = _Object(
            bucket.name,
            name,
            bytes(data),
            self._next_generation(),
            content_type,
            time.time(),
            metadata,
        )
        bucket.objects[name] = obj
        return obj

    # -- authentication --------------------------------------------------------------------------
    def _token(self, body: bytes) -> Response:
        """Google's OAuth 2.0 token endpoint, for the JWT-bearer grant of service accounts."""
        form = parse_qs(body.decode(errors="replace"))
        if form.get("grant_type", [""])[0] != JWT_BEARER:
            return _oauth_error("unsupported_grant_type", "Invalid grant_type: ")
        assertion = form.get("assertion", [""])[0]
        try:
            header_b64, payload_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(header_b64))
            claims = json.loads(_b64url_decode(payload_b64))
            signature = _b64url_decode(signature_b64)
        except ValueError:
            return _oauth_error("invalid_grant", "Invalid JWT: Token must be a short-lived token")
        if header.get("alg") != "RS256":
            return _oauth_error("invalid_grant", "Invalid JWT Signature.")
        email = claims.get("iss")
        now = time.time()
        with self._lock:
            keys = list(self._keys.get(email, []))
        if not keys:
            return _oauth_error("invalid_grant", "Invalid grant: account not found")
        if not _verified(keys, f"{header_b64}.{payload_b64}".encode(), signature):
            return _oauth_error("invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") not in (GOOGLE_TOKEN_URI, f"{self.endpoint}/token"):
            return _oauth_error("invalid_grant", "Invalid JWT: Failed audience check.")
        if not (claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0) + 300):
            return _oauth_error(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        token = f"ya29.strato-{secrets.token_urlsafe(24)}"
        with self._lock:
            self._tokens[token] = (str(email), now + TOKEN_TTL_S)
        body_out = {"access_token": token, "expires_in": TOKEN_TTL_S, "token_type": "Bearer"}
        return _json(body_out)

    def _caller(self, authorization: str | None) -> _Caller:
        if not authorization:
            return _Caller(None)
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            known = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if known is None or known[1] < time.time():
            raise ApiError(401, "Invalid Credentials", "authError", location="Authorization")
        return _Caller(known[0])

    def _authorize(self, caller: _Caller, bucket_name: str, permission: str) -> _Bucket:
        """The bucket, if ``caller`` may use ``permission`` on it."""
        bucket = self._buckets.get(bucket_name)
        what = "bucket" if permission.endswith(".list") or "buckets" in permission else "object"
        denied = (
            f"{caller.describe()} does not have {permission} access to the Google Cloud Storage "
            f"{what}. Permission '{permission}' denied on resource (or it may not exist)."
        )
        if caller.email is None:
            if bucket is None or not bucket.anonymous:
                raise ApiError(401, denied, "required", location="Authorization")
            return bucket
        if bucket is not None and bucket.forbidden:
            raise ApiError(403, denied, "forbidden")
        if bucket is None:
            raise ApiError(404, "The specified bucket does not exist.", "notFound")
        return bucket

    # -- requests --------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        url = urlsplit(raw_path)
        query = parse_qs(url.query, keep_blank_values=True)
        with self._lock:
            self.requests.append((method, url.path, query))
        try:
            if url.path == "/token" and method == "POST":
                return self._token(body)
            caller = self._caller(headers.get("authorization"))
            with self._lock:
                return self._route(method, url.path, query, headers, body, caller)
        except ApiError as exc:
            payload = json.dumps(exc.body).encode()
            return (
                exc.status,
                {"Content-Type": "application/json; charset=UTF-8", **exc.headers},
                payload,
            )

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        caller: _Caller,
    ) -> Response:
        parts = path.strip("/").split("/")
        if parts[:4] == ["upload", "storage", "v1", "b"] and len(parts) == 6 and parts[5] == "o":
            bucket = unquote(parts[4])
            if method == "POST":
                return self._upload(caller, bucket, query, headers, body)
            if method == "PUT":
                return self._resume(caller, bucket, query, headers, body)
        download = parts[:3] == ["download", "storage", "v1"]
        if download:
            parts = parts[1:]
        if parts[:2] != ["storage", "v1"] or len(parts) < 4 or parts[2] != "b":
            raise ApiError(404, "Not Found", "notFound")
        bucket = unquote(parts[3])
        rest = parts[4:]
        if not rest and method == "GET":
            found = self._authorize(caller, bucket, "storage.buckets.get")
            return _json(found.resource())
        if rest == ["o"] and method == "GET":
            return self._list(caller, bucket, query)
        if len(rest) == 2 and rest[0] == "o":
            name = unquote(rest[1])
            if method == "GET" and (download or _one(query, "alt") == "media"):
                return self._download(caller, bucket, name, query, headers)
            if method == "GET":
                return _json(self._get(caller, bucket, name, query).resource(self.endpoint))
            if method == "DELETE":
                return self._delete(caller, bucket, name, query)
        if (
            len(rest) == 7
            and rest[0] == "o"
            and rest[2] in ("rewriteTo", "copyTo")
            and rest[3] == "b"
            and rest[5] == "o"
            and method == "POST"
        ):
            return self._copy(
                caller, bucket, unquote(rest[1]), unquote(rest[4]), unquote(rest[6]), rest[2], query
            )
        raise ApiError(404, "Not Found", "notFound")

    # -- objects ---------------------------------------------------------------------------------
    def _get(
        self, caller: _Caller, bucket_name: str, name: str, query: dict[str, list[str]]
    ) -> _Object:
        return self._find(caller, bucket_name, name, query, "storage.objects.get")[1]

    def _find(
        self,
        caller: _Caller,
        bucket_name: str,
        name: str,
        query: dict[str, list[str]],
        permission: str,
    ) -> tuple[Any, _Object]:
        """The bucket and the object a request names (its generation, if given), after the
        permission check and the request's preconditions."""
        bucket = self._authorize(caller, bucket_name, permission)
        obj = bucket.objects.get(name)
        wanted = _one(query, "generation")
        if obj is None or (wanted and wanted != str(obj.generation)):
            raise ApiError(404, f"No such object: {bucket_name}/{name}", "notFound")
        _check_conditions(obj, query)
        return bucket, obj

    def _list(self, caller: _Caller, bucket_name: str, query: dict[str, list[str]]) -> Response:
        bucket = self._authorize(caller, bucket_name, "storage.objects.list")
        prefix = _one(query, "prefix") or ""
        delimiter = _one(query, "delimiter") or ""
        start = _one(query, "startOffset") or ""
        end = _one(query, "endOffset")
        trailing = _one(query, "includeTrailingDelimiter") == "true"
        try:
            max_results = int(_one(query, "maxResults") or 1000)
        except ValueError:
            raise ApiError(400, "Invalid argument: maxResults", "invalid") from None
        max_results = max(1, min(max_results, self.page_limit))
        after = _b64url_decode(_one(query, "pageToken") or "").decode() or None
        entries: list[tuple[str, _Object | None]] = []  # (name or prefix, object or None)
        seen: set[str] = set()
        for name in sorted(bucket.objects):
            if not name.startswith(prefix) or name < start or (end and name >= end):
                continue
            if delimiter:
                cut = name.find(delimiter, len(prefix))
                if cut >= 0:
                    common = name[: cut + len(delimiter)]
                    if common not in seen:
                        seen.add(common)
                        entries.append((common, None))
                    if not (trailing and name == common):
                        continue
            entries.append((name, bucket.objects[name]))
        if after is not None:
            entries = [entry for entry in entries if entry[0] > after]
        page, rest = entries[:max_results], entries[max_results:]
        body: dict[str, Any] = {"kind": "storage#objects"}
        items = [obj.resource(self.endpoint) for _, obj in page if obj is not None]
        prefixes = [key for key, obj in page if obj is None]
        if items:
            body["items"] = items
        if prefixes:
            body["prefixes"] = prefixes
        if rest:
            body["nextPageToken"] = base64.urlsafe_b64encode(page[-1][0].encode()).decode()
        return _json(body)

    def _download(
        self,
        caller: _Caller,
        bucket: str,
        name: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
    ) -> Response:
        obj = self._get(caller, bucket, name, query)
        size = len(obj.data)
        out = {
            "Content-Type": obj.content_type,
            "ETag": obj.resource(self.endpoint)["etag"],
            "X-Goog-Generation": str(obj.generation),
            "X-Goog-Metageneration": "1",
            "X-Goog-Hash": f"crc32c={obj.crc32c},md5={obj.md5}",
            "X-Goog-Stored-Content-Encoding": "identity",
            "X-Goog-Stored-Content-Length": str(size),
            "X-Goog-Storage-Class": "STANDARD",
            "Accept-Ranges": "bytes",
        }
        wanted = headers.get("range")
        if not wanted:
            return 200, out, obj.data
        first, last = _byte_range(wanted, size)
        out["Content-Range"] = f"bytes {first}-{last}/{size}"
        return 206, out, obj.data[first : last + 1]

    def _delete(
        self, caller: _Caller, bucket_name: str, name: str, query: dict[str, list[str]]
    ) -> Response:
        bucket, _obj = self._find(caller, bucket_name, name, query, "storage.objects.delete")
        del bucket.objects[name]
        return 204, {}, b""

    def _copy(
        self,
        caller: _Caller,
        src_bucket: str,
        src_name: str,
        dst_bucket_name: str,
        dst_name: str,
        kind: str,
        query: dict[str, list[str]],
    ) -> Response:
        source_query = {"generation": query.get("sourceGeneration", [])}
        for condition in ("ifSourceGenerationMatch", "ifSourceGenerationNotMatch"):
            if condition in query:
                source_query[condition.replace("Source", "")] = query[condition]
        source = self._get(caller, src_bucket, src_name, source_query)
        dst_bucket = self._authorize(caller, dst_bucket_name, "storage.objects.create")
        _check_conditions(dst_bucket.objects.get(dst_name), query)
        copied = self._store(
            dst_bucket, dst_name, source.data, source.content_type, source.metadata
        )
        resource = copied.resource(self.endpoint)
        if kind == "copyTo":
            return _json(resource)
        size = str(len(copied.data))
        return _json(
            {
                "kind": "storage#rewriteResponse",
                "totalBytesRewritten": size,
                "objectSize": size,
                "done": True,
                "resource": resource,
            }
        )

    # -- uploads ---------------------------------------------------------------------------------
    def _upload(
        self,
        caller: _Caller,
        bucket_name: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Response:
        bucket = self._authorize(caller, bucket_name, "storage.objects.create")
        kind = _one(query, "uploadType")
        if kind == "media":
            name = _one(query, "name")
            if not name:
                raise ApiError(400, "Required", "required")
            content_type = headers.get("content-type") or "application/octet-stream"
            return self._finish(bucket, name, body, content_type, None, query, {})
        if kind == "multipart":
            metadata, content_type, data = _multipart(headers.get("content-type", ""), body)
            name = metadata.get("name") or _one(query, "name")
            if not name:
                raise ApiError(400, "Required", "required")
            content_type = metadata.get("contentType") or content_type
            sums = {k: metadata[k] for k in ("crc32c", "md5Hash") if k in metadata}
            return self._finish(
                bucket, name, data, content_type, metadata.get("metadata"), query, sums
            )
        if kind == "resumable":
            metadata = json.loads(body) if body else {}
            name = metadata.get("name") or _one(query, "name")
            if not name:
                raise ApiError(400, "Required", "required")
            content_type = (
                metadata.get("contentType")
                or headers.get("x-upload-content-type")
                or "application/octet-stream"
            )
            upload_id = secrets.token_urlsafe(24)
            self._sessions[upload_id] = _Session(
                bucket.name, name, content_type, metadata.get("metadata"), query
            )
            location = (
                f"{self.endpoint}/upload/storage/v1/b/{quote(bucket.name, safe='')}/o"
                f"?uploadType=resumable&upload_id={upload_id}"
            )
            return 200, {"Location": location, "X-GUploader-UploadID": upload_id}, b""
        raise ApiError(400, f"Invalid upload type: {kind}", "invalid")

    def _resume(
        self,
        caller: _Caller,
        bucket_name: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Response:
        session = self._sessions.get(_one(query, "upload_id") or "")
        if session is None or session.bucket != bucket_name:
            raise ApiError(404, "No such upload session.", "notFound")
        bucket = self._authorize(caller, bucket_name, "storage.objects.create")
        span, _, total_text = (
            (headers.get("content-range") or "bytes */*").removeprefix("bytes ").partition("/")
        )
        total = None if total_text in ("", "*") else int(total_text)
        if span != "*":
            first_text, _, last_text = span.partition("-")
            first, last = int(first_text), int(last_text)
            if first > len(session.data) or last - first + 1 != len(body):
                raise ApiError(400, "Invalid request.  Content-Range does not match.", "invalid")
            del session.data[first:]
            session.data += body
        if total is not None and len(session.data) == total:
            sums = {}
            for part in (headers.get("x-goog-hash") or "").split(","):
                label, _, value = part.strip().partition("=")
                if label in ("crc32c", "md5") and value:
                    sums["crc32c" if label == "crc32c" else "md5Hash"] = value
            del self._sessions[_one(query, "upload_id") or ""]
            return self._finish(
                bucket,
                session.name,
                bytes(session.data),
                session.content_type,
                session.metadata,
                session.conditions,
                sums,
            )
        if total is not None and len(session.data) > total:
            raise ApiError(400, "Invalid request.  Too many bytes.", "invalid")
        out = {"X-GUploader-UploadID": _one(query, "upload_id") or ""}
        if session.data:
            out["Range"] = f"bytes=0-{len(session.data) - 1}"
        return 308, out, b""

    def _finish(
        self,
        bucket: _Bucket,
        name: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str] | None,
        conditions: dict[str, list[str]],
        sums: dict[str, str],
    ) -> Response:
        if "crc32c" in sums and sums["crc32c"] != _crc32c(data):
            raise ApiError(
                400,
                f'Provided CRC32C "{sums["crc32c"]}" doesn\'t match calculated CRC32C '
                f'"{_crc32c(data)}".',
                "invalid",
            )
        if "md5Hash" in sums and sums["md5Hash"] != _md5(data):
            raise ApiError(
                400,
                f'Provided MD5 hash "{sums["md5Hash"]}" doesn\'t match calculated MD5 hash '
                f'"{_md5(data)}".',
                "invalid",
            )
        _check_conditions(bucket.objects.get(name), conditions)
        obj = self._store(bucket, name, data, content_type, metadata)
        return _json(obj.resource(self.endpoint))


def _one(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[-1] if values else None


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return status, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(body).encode()


def _oauth_error(error: str, description: str) -> Response:
    body = {"error": error, "error_description": description}
    return 400, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body).encode()


def _verified(keys: list[Any], signed: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    for key in keys:
        try:
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            continue
        return True
    return False


def _check_conditions(obj: _Object | None, query: dict[str, list[str]]) -> None:
    """GCS's generation preconditions (``0``: the object must not exist)."""
    live = str(obj.generation) if obj is not None else "0"
    match = _one(query, "ifGenerationMatch")
    if match is not None and match != live:
        raise _precondition_failed()
    not_match = _one(query, "ifGenerationNotMatch")
    if not_match is not None and not_match == live:
        raise ApiError(304, "Not Modified", "notModified")


def _byte_range(header: str, size: int) -> tuple[int, int]:
    """The first and last byte of a ``Range: bytes=...`` header, as GCS serves it."""
    spec = header.strip().removeprefix("bytes=")
    first_text, _, last_text = spec.partition("-")
    try:
        if not first_text:
            first, last = max(0, size - int(last_text)), size - 1
        else:
            first = int(first_text)
            last = min(int(last_text), size - 1) if last_text else size - 1
    except ValueError:
        first, last = 0, size - 1  # GCS ignores a Range it cannot parse
    if first >= size or first > last:
        raise ApiError(
            416,
            "The requested range cannot be satisfied.",
            "requestedRangeNotSatisfiable",
            location="Range",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return first, last


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], str, bytes]:
    """(metadata, the media's content type, the media) of a ``multipart/related`` upload."""
    boundary = ""
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    if not content_type.lower().startswith("multipart/related") or not boundary:
        raise ApiError(400, "Invalid multipart request with 0 mime parts.", "invalid")
    delimiter = b"--" + boundary.encode()
    parts: list[tuple[dict[str, str], bytes]] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        part_headers = {}
        for line in head.decode(errors="replace").split("\r\n"):
            key, _, value = line.partition(":")
            part_headers[key.strip().lower()] = value.strip()
        parts.append((part_headers, content.removesuffix(b"\r\n")))
    if len(parts) != 2:
        raise ApiError(400, f"Invalid multipart request with {len(parts)} mime parts.", "invalid")
    try:
        metadata = json.loads(parts[0][1])
    except ValueError:
        raise ApiError(400, "Metadata part is not valid JSON.", "parseError") from None
    media_type = parts[1][0].get("content-type") or "application/octet-stream"
    return metadata, media_type, parts[1][1]


gcs_emulator = GCSEmulator.module_fixture("gcs_emulator")
