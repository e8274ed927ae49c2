"""A small fake of OCI Object Storage's REST API, with request signatures checked.

It serves, on 127.0.0.1, the calls a volume backend and the ``oci`` SDK's ``UploadManager``
make, in the JSON the SDK deserializes into its models (``ListObjects``, ``MultipartUpload``,
``WorkRequest``...):

- ``GET /n/`` (GetNamespace), ``HEAD /n/{ns}/b/{bucket}`` (HeadBucket);
- ``GET /n/{ns}/b/{bucket}/o`` (ListObjects: ``prefix``, ``delimiter`` (``/``), ``start``,
  ``startAfter``, ``end``, ``limit``, ``fields``; ``nextStartWith`` pages);
- ``HEAD``/``GET`` (with ``Range: bytes=a-b``)/``PUT``/``DELETE`` of
  ``/n/{ns}/b/{bucket}/o/{object}``, with ``if-match`` (and ``if-none-match: *`` on PUT);
- multipart uploads under ``/n/{ns}/b/{bucket}/u``: create, upload part (``Content-MD5``
  checked), commit, abort, list parts, list uploads;
- ``POST /n/{ns}/b/{bucket}/actions/copyObject``, which answers 202 with a work request that
  completes ``copy_delay_s`` later (``GET /workRequests/{id}``, ``.../errors``), as OCI's
  asynchronous CopyObject does.

Point the SDK at it with ``ObjectStorageClient(config, service_endpoint=emulator.endpoint)``,
or give a backend ``endpoint=emulator.endpoint`` (``STRATO_VOLUME_STORE_ENDPOINT`` for
volumes) and ``credentials=emulator.credentials``, or an OCI config file from
:meth:`OCIObjectStorageEmulator.write_config` (``OCI_CONFIG_FILE``).

Authentication is checked as OCI does: every request must carry a draft-cavage HTTP signature
(``Authorization: Signature version="1",keyId="tenancy/user/fingerprint",algorithm=
"rsa-sha256",headers="date (request-target) host ...",signature="..."``) made with the
emulator's API key. The signed headers must include ``date`` (or ``x-date``, within five
minutes of now), ``(request-target)`` and ``host``; a POST, and a PUT other than PutObject and
UploadPart (which OCI lets clients sign without their body), must also sign
``content-length``, ``content-type`` and ``x-content-sha256``, and the body must match that
digest. An unknown key id, a bad signature or a missing header answers 401 ``NotAuthenticated``
with OCI's JSON error body.

Errors answer with OCI's JSON body ``{"code": ..., "message": ...}``. 401
``NotAuthenticated``, 404 ``BucketNotFound`` and ``ObjectNotFound`` and 412 ``IfMatchFailed``
are OCI's codes (the first three with OCI's messages); the rarer answers (416 ``InvalidRange``,
400 ``InvalidParameter`` / ``MissingParameter``, 404 ``NoSuchUpload``, 412
``IfNoneMatchFailed``) use the emulator's own codes and wording.

API (``emulator`` is an :class:`OCIObjectStorageEmulator`, from the ``oci_storage_emulator``
fixture or a ``with``)::

    emulator.endpoint           # http://127.0.0.1:<port>
    emulator.namespace          # the tenancy's Object Storage namespace
    emulator.credentials        # a secret's values that work (OCI CLI names, PEM key inline)
    emulator.write_config(dir)  # an OCI config file (and key file) with the same key
    emulator.bucket(files={})   # a new bucket (unique name) holding {name: bytes}
    emulator.objects(bucket)    # {name: bytes} of every object in it
    emulator.uploads(bucket)    # object names of multipart uploads not committed or aborted
    emulator.fail_copies = True # copy work requests end FAILED (a server-side copy refused)
    emulator.page_size = 2      # smaller ListObjects pages, to see paging
    emulator.requests           # (method, path) of every request, in order

Pytest: ``from support.oci_objectstorage_emulator import oci_storage_emulator  # noqa: F401``
where it is used (one server per test module).
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import hashlib
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from support.fake_service import FakeHandler, FakeService, Reply

NAMESPACE = "stratoemulatorns"
TENANCY = "ocid1.tenancy.oc1..aaaaaaaastratostoragetenancy"
USER = "ocid1.user.oc1..aaaaaaaastratostorageuser"
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaastratostoragecompartment"
REGION = "us-ashburn-1"
#: how far a signed ``date`` may be from the emulator's clock (OCI allows five minutes)
CLOCK_SKEW_S = 300
LIST_LIMIT = 1000

NOT_AUTHENTICATED = (
    401,
    "NotAuthenticated",
    "The required information to complete authentication was not provided or was incorrect.",
)
#: the signed headers every request needs, and those a request with a body needs as well
GENERIC_HEADERS = ("(request-target)", "host")
BODY_HEADERS = ("content-length", "content-type", "x-content-sha256")


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324 - OCI's digest


@dataclass
class _Object:
    data: bytes
    etag: str = field(default_factory=lambda: str(uuid.uuid4()))
    modified: datetime.datetime = field(default_factory=_now)
    created: datetime.datetime = field(default_factory=_now)
    md5: str = ""
    multipart_md5: str = ""

    def __post_init__(self) -> None:
        if not self.md5 and not self.multipart_md5:
            self.md5 = _md5_b64(self.data)


@dataclass
class _Upload:
    bucket: str
    name: str
    upload_id: str
    created: datetime.datetime = field(default_factory=_now)
    parts: dict[int, tuple[bytes, str, str]] = field(default_factory=dict)  # data, etag, md5


@dataclass
class _WorkRequest:
    id: str
    details: dict[str, Any]
    source: _Object
    accepted: datetime.datetime = field(default_factory=_now)
    done_at: float = 0.0
    status: str = "ACCEPTED"
    fail: bool = False
    finished: datetime.datetime | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status,
        json.dumps(payload).encode(),
        {"content-type": "application/json", **(headers or {})},
    )


class _Handler(FakeHandler):
    emulator: OCIObjectStorageEmulator

    def _serve(self) -> None:
        reply = self.emulator.handle(self.command, self.path, self.headers, self.read_body())
        headers = {"opc-request-id": secrets.token_hex(16).upper(), **reply.headers}
        self.respond(reply.status, headers, reply.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _serve


class OCIObjectStorageEmulator(FakeService):
    """A fake Object Storage endpoint on 127.0.0.1; start it, point the SDK at it, stop it."""

    handler = _Handler

    def __init__(self, *, namespace: str = NAMESPACE, copy_delay_s: float = 0.05) -> None:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        super().__init__()
        self.namespace = namespace
        self.copy_delay_s = copy_delay_s
        #: copy work requests end FAILED instead of COMPLETED
        self.fail_copies = False
        #: the most objects and prefixes one ListObjects page holds (OCI's limit: 1000)
        self.page_size = LIST_LIMIT
        #: (method, path) of every request that reached the emulator
        self.requests: list[tuple[str, str]] = []
        self._buckets: dict[str, dict[str, _Object]] = {}
        self._uploads: dict[str, _Upload] = {}
        self._work_requests: dict[str, _WorkRequest] = {}

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        digest = hashes.Hash(hashes.MD5())
        digest.update(der)
        self.fingerprint = ":".join(f"{b:02x}" for b in digest.finalize())
        #: keyId -> the public key that verifies its signatures
        self._keys: dict[str, Any] = {f"{TENANCY}/{USER}/{self.fingerprint}": key.public_key()}

    @property
    def endpoint(self) -> str:
        """The service endpoint to give the SDK (``service_endpoint``)."""
        return self.url

    # -- credentials ---------------------------------------------------------------------------
    @property
    def credentials(self) -> dict[str, str]:
        """A secret's values the emulator accepts: an API key under the OCI CLI's names."""
        return {
            "OCI_CLI_USER": USER,
            "OCI_CLI_TENANCY": TENANCY,
            "OCI_CLI_FINGERPRINT": self.fingerprint,
            "OCI_CLI_KEY_CONTENT": self._key_pem,
            "OCI_CLI_REGION": REGION,
        }

    def write_config(self, directory: Path, *, profile: str = "DEFAULT") -> Path:
        """An OCI config file (and its key file) for the emulator's API key; returns its path."""
        directory.mkdir(parents=True, exist_ok=True)
        key_file = directory / "oci_api_key.pem"
        key_file.write_text(self._key_pem)
        key_file.chmod(0o600)
        config = directory / "config"
        config.write_text(
            f"[{profile}]\nuser={USER}\nfingerprint={self.fingerprint}\nkey_file={key_file}\n"
            f"tenancy={TENANCY}\nregion={REGION}\n"
        )
        return config

    # -- state, outside the API ----------------------------------------------------------------
    def bucket(self, files: dict[str, bytes] | None = None, name: str | None = None) -> str:
        """A new bucket (with a unique name unless ``name``), holding ``files``."""
        name = name or f"strato-test-{secrets.token_hex(4)}"
        with self._lock:
            self._buckets[name] = {key: _Object(bytes(data)) for key, data in (files or {}).items()}
        return name

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object of ``bucket``: name -> bytes."""
        with self._lock:
            return {name: obj.data for name, obj in sorted(self._buckets[bucket].items())}

    def uploads(self, bucket: str) -> list[str]:
        """The object names of ``bucket``'s multipart uploads still in progress."""
        with self._lock:
            return sorted(u.name for u in self._uploads.values() if u.bucket == bucket)

    # -- the API -------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> Reply:
        parts = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        path = parts.path
        with self._lock:
            self.requests.append((method, unquote(path)))
        try:
            self._authenticate(method, raw_path, path, headers, body)
            return self._route(method, path, query, headers, body)
        except _ApiError as err:
            return _json(err.status, {"code": err.code, "message": err.message})

    def _authenticate(self, method: str, target: str, path: str, headers: Any, body: bytes) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        authorization = headers.get("authorization") or ""
        if not authorization.startswith("Signature "):
            raise _ApiError(*NOT_AUTHENTICATED)
        params = dict(re.findall(r'(\w+)="([^"]*)"', authorization))
        key = self._keys.get(params.get("keyId", ""))
        signed = params.get("headers", "date").lower().split()
        if key is None or params.get("algorithm") != "rsa-sha256" or "signature" not in params:
            raise _ApiError(*NOT_AUTHENTICATED)
        needed = list(GENERIC_HEADERS)
        object_put = method == "PUT" and re.search(r"/b/[^/]+/[ou]/.", path) is not None
        if method in ("POST", "PATCH") or (method == "PUT" and not object_put):
            needed += BODY_HEADERS
        date_header = "x-date" if "x-date" in signed else "date"
        if any(h not in signed for h in (*needed, date_header)):
            raise _ApiError(*NOT_AUTHENTICATED)
        try:
            when = email.utils.parsedate_to_datetime(headers.get(date_header) or "")
        except (TypeError, ValueError):
            raise _ApiError(*NOT_AUTHENTICATED) from None
        if abs((_now() - when).total_seconds()) > CLOCK_SKEW_S:
            raise _ApiError(*NOT_AUTHENTICATED)
        if "x-content-sha256" in signed:
            digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            if headers.get("x-content-sha256") != digest:
                raise _ApiError(*NOT_AUTHENTICATED)
        lines = []
        for name in signed:
            if name == "(request-target)":
                lines.append(f"(request-target): {method.lower()} {target}")
            elif headers.get(name) is None:
                raise _ApiError(*NOT_AUTHENTICATED)
            else:
                lines.append(f"{name}: {headers.get(name)}")
        try:
            key.verify(
                base64.b64decode(params["signature"]),
                "\n".join(lines).encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            raise _ApiError(*NOT_AUTHENTICATED) from None

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> Reply:
        if path in ("/n", "/n/") and method == "GET":
            return _json(200, self.namespace)
        match = re.fullmatch(r"/workRequests/([^/]+)(/errors)?", path)
        if match and method == "GET":
            request = self._work_request(match.group(1))
            if match.group(2):
                return _json(200, list(request.errors))
            return _json(200, self._work_request_json(request))
        match = re.fullmatch(r"/n/([^/]+)/b/([^/]+)(?:/(o|u|actions/copyObject)(?:/(.+))?)?", path)
        if not match:
            raise _ApiError(
                404,
                "NotFound",
                "There is no operation supported at the URI path and HTTP method you specified "
                "in the request.",
            )
        namespace, bucket, kind, name = (unquote(g) if g else g for g in match.groups())
        self._bucket(namespace, bucket)
        if kind is None and method == "HEAD":
            return Reply(200, headers={"etag": str(uuid.uuid5(uuid.NAMESPACE_URL, bucket))})
        if kind == "o" and name is None and method == "GET":
            return self._list(bucket, query)
        if kind == "o" and name:
            return self._object(method, bucket, name, headers, body)
        if kind == "u":
            return self._multipart(method, bucket, name, query, headers, body)
        if kind == "actions/copyObject" and name is None and method == "POST":
            return self._copy(bucket, json.loads(body or b"{}"))
        raise _ApiError(404, "NotFound", f"no operation {method} {path}")

    def _bucket(self, namespace: str, bucket: str) -> dict[str, _Object]:
        with self._lock:
            found = self._buckets.get(bucket)
        if namespace != self.namespace or found is None:
            raise _ApiError(
                404,
                "BucketNotFound",
                f"Either the bucket named '{bucket}' does not exist in the namespace "
                f"'{namespace}' or you are not authorized to access it",
            )
        return found

    @staticmethod
    def _missing(bucket: str, name: str) -> _ApiError:
        return _ApiError(
            404, "ObjectNotFound", f"The object '{name}' was not found in the bucket '{bucket}'"
        )

    # -- objects -------------------------------------------------------------------------------
    def _object(self, method: str, bucket: str, name: str, headers: Any, body: bytes) -> Reply:
        objects = self._bucket(self.namespace, bucket)
        if_match = headers.get("if-match")
        with self._lock:
            current = objects.get(name)
            if method == "PUT":
                if headers.get("if-none-match") == "*" and current is not None:
                    raise _ApiError(412, "IfNoneMatchFailed", f"The object '{name}' already exists")
                self._check_if_match(if_match, current, bucket, name)
                content_md5 = headers.get("content-md5")
                if content_md5 and content_md5 != _md5_b64(body):
                    raise _ApiError(
                        400,
                        "InvalidParameter",
                        f"The computed MD5 of the request body ({_md5_b64(body)}) does not match "
                        f"the Content-MD5 header ({content_md5})",
                    )
                obj = objects[name] = _Object(body)
                return Reply(
                    200,
                    headers={
                        "etag": obj.etag,
                        "opc-content-md5": obj.md5,
                        "last-modified": email.utils.format_datetime(obj.modified, usegmt=True),
                    },
                )
            if current is None:
                raise self._missing(bucket, name)
            self._check_if_match(if_match, current, bucket, name)
            if method == "DELETE":
                del objects[name]
                return Reply(204, headers={"last-modified": email.utils.formatdate(usegmt=True)})
        if method not in ("GET", "HEAD"):
            raise _ApiError(405, "MethodNotAllowed", f"{method} is not allowed on an object")
        meta = {
            "etag": current.etag,
            "last-modified": email.utils.format_datetime(current.modified, usegmt=True),
            "content-type": "application/octet-stream",
            "accept-ranges": "bytes",
            "archival-state": "Available",
        }
        if current.multipart_md5:
            meta["opc-multipart-md5"] = current.multipart_md5
        else:
            meta["opc-content-md5"] = current.md5
        wanted = headers.get("range")
        if not wanted:
            return Reply(200, current.data, meta)
        start, end = self._range(wanted, len(current.data))
        meta["content-range"] = f"bytes {start}-{end}/{len(current.data)}"
        return Reply(206, current.data[start : end + 1], meta)

    @staticmethod
    def _range(header: str, size: int) -> tuple[int, int]:
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
        if not match or match.groups() == ("", ""):
            raise _ApiError(400, "InvalidParameter", f"Invalid range header: {header}")
        first, last = match.groups()
        if first == "":  # the last N bytes
            start, end = max(0, size - int(last)), size - 1
        else:
            start = int(first)
            end = min(size - 1, int(last)) if last else size - 1
        if start >= size or end < start:
            raise _ApiError(
                416, "InvalidRange", f"The range {header} is not satisfiable: the size is {size}"
            )
        return start, end

    def _check_if_match(
        self, if_match: str | None, current: _Object | None, bucket: str, name: str
    ) -> None:
        if not if_match or (if_match == "*" and current is not None):
            return
        if current is None:
            raise self._missing(bucket, name)
        if if_match != current.etag:
            raise _ApiError(
                412,
                "IfMatchFailed",
                f"The If-Match header is '{if_match}' but the current entity tag for the "
                f"resource is '{current.etag}'.",
            )

    def _list(self, bucket: str, query: dict[str, str]) -> Reply:
        objects = self._bucket(self.namespace, bucket)
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter") or None
        if delimiter not in (None, "/"):
            raise _ApiError(400, "InvalidParameter", "Only '/' is supported as a delimiter")
        fields = {f.strip().lower() for f in query.get("fields", "name").split(",")}
        limit = max(1, min(self.page_size, int(query.get("limit") or self.page_size)))
        with self._lock:
            names = sorted(n for n in objects if n.startswith(prefix))
            snapshot = {n: objects[n] for n in names}
        if "start" in query:
            names = [n for n in names if n >= query["start"]]
        if "startAfter" in query:
            names = [n for n in names if n > query["startAfter"]]
        if "end" in query:
            names = [n for n in names if n < query["end"]]
        found: list[dict[str, Any]] = []
        prefixes: list[str] = []
        index = 0
        while index < len(names) and len(found) + len(prefixes) < limit:
            name = names[index]
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                common = prefix + rest[: rest.index(delimiter) + 1]
                prefixes.append(common)
                while index < len(names) and names[index].startswith(common):
                    index += 1
                continue
            found.append(self._summary(name, snapshot[name], fields))
            index += 1
        payload: dict[str, Any] = {"objects": found, "prefixes": prefixes}
        if index < len(names):
            payload["nextStartWith"] = names[index]
        return _json(200, payload)

    @staticmethod
    def _summary(name: str, obj: _Object, fields: set[str]) -> dict[str, Any]:
        summary: dict[str, Any] = {"name": name}
        if "size" in fields:
            summary["size"] = len(obj.data)
        if "etag" in fields:
            summary["etag"] = obj.etag
        if "md5" in fields:
            summary["md5"] = obj.multipart_md5 or obj.md5
        if "timecreated" in fields:
            summary["timeCreated"] = _iso(obj.created)
        if "timemodified" in fields:
            summary["timeModified"] = _iso(obj.modified)
        if "storagetier" in fields:
            summary["storageTier"] = "Standard"
        return summary

    # -- multipart uploads ---------------------------------------------------------------------
    def _multipart(
        self,
        method: str,
        bucket: str,
        name: str | None,
        query: dict[str, str],
        headers: Any,
        body: bytes,
    ) -> Reply:
        if name is None and method == "POST":
            details = json.loads(body or b"{}")
            if not details.get("object"):
                raise _ApiError(400, "MissingParameter", "Missing required parameter object.")
            upload = _Upload(bucket, details["object"], str(uuid.uuid4()))
            with self._lock:
                self._uploads[upload.upload_id] = upload
            return _json(200, self._upload_json(upload))
        if name is None and method == "GET":
            with self._lock:
                found = [u for u in self._uploads.values() if u.bucket == bucket]
            return _json(200, [self._upload_json(u) for u in found])
        if name is None:
            raise _ApiError(405, "MethodNotAllowed", f"{method} is not allowed here")
        upload = self._upload(bucket, name, query.get("uploadId", ""))
        if method == "PUT":
            try:
                number = int(query.get("uploadPartNum", ""))
            except ValueError:
                raise _ApiError(
                    400, "MissingParameter", "Missing required parameter uploadPartNum."
                ) from None
            if not 1 <= number <= 10000:
                raise _ApiError(400, "InvalidParameter", f"Invalid uploadPartNum {number}.")
            md5 = _md5_b64(body)
            sent = headers.get("content-md5")
            if sent and sent != md5:
                raise _ApiError(
                    400,
                    "InvalidParameter",
                    f"The computed MD5 of the request body ({md5}) does not match the "
                    f"Content-MD5 header ({sent})",
                )
            etag = str(uuid.uuid4())
            with self._lock:
                upload.parts[number] = (body, etag, md5)
            return Reply(200, headers={"etag": etag, "opc-content-md5": md5})
        if method == "GET":
            with self._lock:
                parts = sorted(upload.parts.items())
            return _json(
                200,
                [
                    {"partNumber": n, "etag": etag, "md5": md5, "size": len(data)}
                    for n, (data, etag, md5) in parts
                ],
            )
        if method == "DELETE":
            with self._lock:
                self._uploads.pop(upload.upload_id, None)
            return Reply(204)
        if method == "POST":
            return self._commit(upload, json.loads(body or b"{}"))
        raise _ApiError(405, "MethodNotAllowed", f"{method} is not allowed on an upload")

    def _upload(self, bucket: str, name: str, upload_id: str) -> _Upload:
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None or upload.bucket != bucket or upload.name != name:
            raise _ApiError(
                404,
                "NoSuchUpload",
                f"The upload ID '{upload_id}' does not exist for the object '{name}' in the "
                f"bucket '{bucket}'",
            )
        return upload

    def _commit(self, upload: _Upload, details: dict[str, Any]) -> Reply:
        wanted = sorted(details.get("partsToCommit") or [], key=lambda p: int(p["partNum"]))
        if not wanted:
            raise _ApiError(400, "InvalidParameter", "There are no parts to commit.")
        data, digests = [], b""
        with self._lock:
            for part in wanted:
                found = upload.parts.get(int(part["partNum"]))
                if found is None or found[1] != part.get("etag"):
                    raise _ApiError(
                        400,
                        "InvalidParameter",
                        f"Part {part['partNum']} was not uploaded with the entity tag "
                        f"'{part.get('etag')}'.",
                    )
                data.append(found[0])
                digests += base64.b64decode(found[2])
            obj = _Object(
                b"".join(data),
                multipart_md5=f"{_md5_b64(digests)}-{len(wanted)}",
            )
            self._buckets[upload.bucket][upload.name] = obj
            self._uploads.pop(upload.upload_id, None)
        return Reply(
            200,
            headers={
                "etag": obj.etag,
                "opc-multipart-md5": obj.multipart_md5,
                "last-modified": email.utils.format_datetime(obj.modified, usegmt=True),
            },
        )

    def _upload_json(self, upload: _Upload) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "bucket": upload.bucket,
            "object": upload.name,
            "uploadId": upload.upload_id,
            "timeCreated": _iso(upload.created),
            "storageTier": "Standard",
        }

    # -- server-side copies --------------------------------------------------------------------
    def _copy(self, bucket: str, details: dict[str, Any]) -> Reply:
        for name in (
            "sourceObjectName",
            "destinationRegion",
            "destinationNamespace",
            "destinationBucket",
            "destinationObjectName",
        ):
            if not details.get(name):
                raise _ApiError(400, "MissingParameter", f"Missing required parameter {name}.")
        self._bucket(details["destinationNamespace"], details["destinationBucket"])
        objects = self._bucket(self.namespace, bucket)
        with self._lock:
            source = objects.get(details["sourceObjectName"])
            if source is None:
                raise self._missing(bucket, details["sourceObjectName"])
            self._check_if_match(
                details.get("sourceObjectIfMatchETag"),
                source,
                bucket,
                details["sourceObjectName"],
            )
            request = _WorkRequest(
                id=f"ocid1.objectstorageworkrequest.oc1.iad.{secrets.token_hex(16)}",
                details={**details, "sourceBucket": bucket},
                source=source,
                done_at=time.monotonic() + self.copy_delay_s,
                fail=self.fail_copies,
            )
            self._work_requests[request.id] = request
        return Reply(202, headers={"opc-work-request-id": request.id})

    def _work_request(self, request_id: str) -> _WorkRequest:
        with self._lock:
            request = self._work_requests.get(request_id)
            if request is None:
                raise _ApiError(
                    404,
                    "NotAuthorizedOrNotFound",
                    "Authorization failed or requested resource not found.",
                )
            if request.status in ("ACCEPTED", "IN_PROGRESS"):
                if time.monotonic() < request.done_at:
                    request.status = "IN_PROGRESS"
                else:
                    self._finish_copy(request)
            return request

    def _finish_copy(self, request: _WorkRequest) -> None:
        details = request.details
        request.finished = _now()
        if request.fail:
            request.status = "FAILED"
            request.errors.append(
                {
                    "code": "InternalError",
                    "message": "The copy of the object could not be completed.",
                    "timestamp": _iso(request.finished),
                }
            )
            return
        target = self._buckets.get(details["destinationBucket"])
        if target is None:
            request.status = "FAILED"
            request.errors.append(
                {
                    "code": "BucketNotFound",
                    "message": f"The bucket '{details['destinationBucket']}' does not exist",
                    "timestamp": _iso(request.finished),
                }
            )
            return
        target[details["destinationObjectName"]] = _Object(request.source.data)
        request.status = "COMPLETED"

    def _work_request_json(self, request: _WorkRequest) -> dict[str, Any]:
        details = request.details
        done = request.status in ("COMPLETED", "FAILED")
        return {
            "operationType": "COPY_OBJECT",
            "status": request.status,
            "id": request.id,
            "compartmentId": COMPARTMENT,
            "resources": [
                {
                    "actionType": "READ",
                    "entityType": "object",
                    "identifier": details["sourceObjectName"],
                    "entityUri": f"/n/{self.namespace}/b/{details['sourceBucket']}/o/"
                    f"{details['sourceObjectName']}",
                    "metadata": {"REGION": details["destinationRegion"]},
                },
                {
                    "actionType": "WRITTEN" if request.status == "COMPLETED" else "IN_PROGRESS",
                    "entityType": "object",
                    "identifier": details["destinationObjectName"],
                    "entityUri": f"/n/{details['destinationNamespace']}/b/"
                    f"{details['destinationBucket']}/o/{details['destinationObjectName']}",
                    "metadata": {"REGION": details["destinationRegion"]},
                },
            ],
            "percentComplete": 100.0 if done else 0.0,
            "timeAccepted": _iso(request.accepted),
            "timeStarted": _iso(request.accepted),
            "timeFinished": _iso(request.finished) if request.finished else None,
        }


oci_storage_emulator = OCIObjectStorageEmulator.module_fixture("oci_storage_emulator")
