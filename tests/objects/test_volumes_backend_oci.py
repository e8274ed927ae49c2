"""The OCI Object Storage backend of volumes, against a fake Object Storage that checks
request signatures."""

from __future__ import annotations

import os

import pytest
from support import oci_objectstorage_emulator as oci_support
from support.backend_contract import BackendContract
from support.backend_contract import put as _put
from support.backend_contract import read as _read
from support.oci_emulator import write_oci_config

from strato.core.objects import volume_backend_oci
from strato.core.objects.volume_backend_oci import CREDENTIAL_NAMES, OCIObjectStorageBackend
from strato.core.objects.volume_backends import open_store
from strato.exception import (
    CredentialsError,
    InvalidError,
    NotFoundError,
    ProviderUnavailableError,
)

pytest.importorskip("oci")

oci_storage_emulator = oci_support.oci_storage_emulator  # the module-scoped fixture


def _backend(emulator, bucket: str | None = None, prefix: str = "vols/vo-1/", **kwargs):
    return OCIObjectStorageBackend(
        emulator.namespace,
        bucket or emulator.bucket(),
        prefix,
        credentials=kwargs.pop("credentials", emulator.credentials),
        endpoint=emulator.endpoint,
        **kwargs,
    )


def _other_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


class TestOCIObjectStorageBackend(BackendContract):
    @pytest.fixture
    def backend(self, oci_storage_emulator):
        return _backend(oci_storage_emulator)


def test_a_key_the_service_does_not_know_is_a_credentials_error_naming_the_bucket(
    oci_storage_emulator, tmp_path
):
    bucket = oci_storage_emulator.bucket({"x": b"1"})
    wrong_pem = _other_key_pem()
    # the right key id signed with another key: the signature does not verify
    values = {**oci_storage_emulator.credentials, "OCI_CLI_KEY_CONTENT": wrong_pem}
    backend = _backend(oci_storage_emulator, bucket, "", credentials=values)
    with pytest.raises(CredentialsError) as caught:
        backend.scan()
    message = str(caught.value)
    assert bucket in message and "NotAuthenticated" in message
    assert caught.value.provider == "oci"
    for secret in (wrong_pem, values["OCI_CLI_FINGERPRINT"], values["OCI_CLI_USER"]):
        assert secret not in message
    assert wrong_pem.splitlines()[1] not in message
    # a config file of another API key (another fingerprint): the key id is unknown
    config = write_oci_config(tmp_path / "other")
    other = _backend(oci_storage_emulator, bucket, "", credentials={"OCI_CONFIG_FILE": str(config)})
    with pytest.raises(CredentialsError, match=bucket):
        other.read_range("x", 0, 1)


def test_credentials_that_cannot_be_used_say_what_is_missing(oci_storage_emulator, tmp_path):
    with pytest.raises(CredentialsError, match="OCI_CLI_FINGERPRINT") as caught:
        _backend(oci_storage_emulator, credentials={"OCI_CLI_USER": "ocid1.user.oc1..a"})
    assert "OCI_CLI_KEY_CONTENT" in str(caught.value)
    missing = tmp_path / "no-such-config"
    with pytest.raises(CredentialsError, match=str(missing)):
        _backend(oci_storage_emulator, credentials={"OCI_CLI_CONFIG_FILE": str(missing)})
    values = {**oci_storage_emulator.credentials, "OCI_CLI_KEY_CONTENT": "not a key"}
    with pytest.raises(CredentialsError) as caught:
        _backend(oci_storage_emulator, credentials=values)
    assert "not a key" not in str(caught.value)
    values = {**oci_storage_emulator.credentials, "OCI_CLI_AUTH": "resource_principal"}
    with pytest.raises(CredentialsError, match="instance_principal"):
        _backend(oci_storage_emulator, credentials=values)


def test_a_missing_bucket_or_an_unreachable_service_is_a_strato_error(
    oci_storage_emulator, monkeypatch
):
    backend = _backend(oci_storage_emulator, "no-such-bucket")
    with pytest.raises(NotFoundError, match="no-such-bucket"):
        backend.scan()
    monkeypatch.setattr(volume_backend_oci, "MAX_ATTEMPTS", 1)
    down = OCIObjectStorageBackend(
        oci_storage_emulator.namespace,
        "b",
        credentials=oci_storage_emulator.credentials,
        endpoint="http://127.0.0.1:9",
    )
    with pytest.raises(ProviderUnavailableError, match="'b'"):
        down.stat("x")


def test_the_backend_keeps_to_its_prefix(oci_storage_emulator):
    bucket = oci_storage_emulator.bucket({"other/x.txt": b"not mine", "mine/y.txt": b"mine"})
    backend = _backend(oci_storage_emulator, bucket, "mine")
    assert backend.prefix == "mine/"
    assert set(backend.scan()[0]) == {"y.txt"}
    backend.destroy()
    assert oci_storage_emulator.objects(bucket) == {"other/x.txt": b"not mine"}


def test_open_store_makes_an_oci_backend_from_a_store_url(oci_storage_emulator, tmp_path):
    bucket = oci_storage_emulator.bucket()
    namespace = oci_storage_emulator.namespace
    store = open_store(
        f"oci://{bucket}@{namespace}/team/vols",
        endpoint=oci_storage_emulator.endpoint,
        credentials=oci_storage_emulator.credentials,
    )
    assert isinstance(store, OCIObjectStorageBackend)
    assert (store.name, store.namespace, store.bucket, store.prefix) == (
        "oci",
        namespace,
        bucket,
        "team/vols/",
    )
    assert store.client.get_namespace().data == namespace  # GetNamespace, as the SDK reads it
    _put(store, "f.txt", b"via a URL", tmp_path)
    assert oci_storage_emulator.objects(bucket) == {"team/vols/f.txt": b"via a URL"}


def test_a_large_file_is_uploaded_in_parts(oci_storage_emulator, tmp_path):
    backend = _backend(oci_storage_emulator)
    backend.multipart_threshold = backend.multipart_part_size = 1000
    data = os.urandom(4500)
    before = len(oci_storage_emulator.requests)
    entry = _put(backend, "big.bin", data, tmp_path)
    calls = oci_storage_emulator.requests[before:]
    parts = [path for method, path in calls if method == "PUT" and "/u/" in path]
    assert len(parts) == 5 and ("POST", f"/n/{backend.namespace}/b/{backend.bucket}/u") in calls
    assert oci_storage_emulator.objects(backend.bucket) == {"vols/vo-1/big.bin": data}
    assert oci_storage_emulator.uploads(backend.bucket) == []
    assert entry.size == 4500 and entry.version == backend.stat("big.bin").version
    assert backend.read_range("big.bin", 4000, 1000)[0] == data[4000:]
    assert backend.read_range("big.bin", 5000, 10) == (b"", backend.stat("big.bin"))
    _put(backend, "small.txt", b"one request", tmp_path)  # under the threshold: PutObject
    assert ("PUT", f"/n/{backend.namespace}/b/{backend.bucket}/o/vols/vo-1/small.txt") in (
        oci_storage_emulator.requests
    )


def test_a_failed_multipart_upload_is_aborted(oci_storage_emulator, tmp_path, monkeypatch):
    import oci

    backend = _backend(oci_storage_emulator)
    backend.multipart_threshold = backend.multipart_part_size = 1000

    def refuse(*args, **kwargs):
        raise oci.exceptions.ServiceError(503, "ServiceUnavailable", {}, "try again later")

    monkeypatch.setattr(backend.client, "commit_multipart_upload", refuse)
    with pytest.raises(ProviderUnavailableError, match="ServiceUnavailable"):
        _put(backend, "big.bin", os.urandom(2500), tmp_path)
    assert oci_storage_emulator.uploads(backend.bucket) == []  # no parts left behind
    assert backend.stat("big.bin") is None


def test_the_short_credential_names_work_too(oci_storage_emulator, tmp_path):
    values = oci_storage_emulator.credentials
    short = {name.replace("OCI_CLI_", "OCI_"): value for name, value in values.items()}
    short["OCI_KEY"] = short.pop("OCI_KEY_CONTENT").replace("\n", "\\n")
    assert set(short) == {"OCI_USER", "OCI_TENANCY", "OCI_FINGERPRINT", "OCI_KEY", "OCI_REGION"}
    backend = _backend(oci_storage_emulator, credentials=short)
    _put(backend, "f.txt", b"short names", tmp_path)
    assert _read(backend, "f.txt") == b"short names"


def test_deleting_with_a_stale_etag_keeps_the_newer_object(oci_storage_emulator, tmp_path):
    backend = _backend(oci_storage_emulator)
    first = _put(backend, "f.txt", b"first", tmp_path)
    second = _put(backend, "f.txt", b"second", tmp_path)
    assert first.version != second.version
    assert not backend.delete_if("f.txt", first.version)
    assert _read(backend, "f.txt") == b"second"
    assert backend.delete_if("f.txt", second.version)
    assert backend.stat("f.txt") is None
    assert not backend.delete_if("f.txt", second.version)  # already gone
    with pytest.raises(NotFoundError):
        backend.remove("f.txt", recursive=False)


def test_a_copy_is_made_by_the_service_or_else_through_this_machine(oci_storage_emulator, tmp_path):
    backend = _backend(oci_storage_emulator)
    _put(backend, "src.txt", b"copy me", tmp_path)
    before = len(oci_storage_emulator.requests)
    backend.copy("src.txt", "dst/one.txt")
    calls = [path for _, path in oci_storage_emulator.requests[before:]]
    assert any(path.endswith("/actions/copyObject") for path in calls)
    assert any(path.startswith("/workRequests/") for path in calls)
    assert _read(backend, "dst/one.txt") == b"copy me"
    oci_storage_emulator.fail_copies = True
    try:
        backend.copy("src.txt", "dst/two.txt")
    finally:
        oci_storage_emulator.fail_copies = False
    assert _read(backend, "dst/two.txt") == b"copy me"
    backend.server_side_copy = False
    before = len(oci_storage_emulator.requests)
    backend.copy("src.txt", "dst/three.txt")
    assert not any("copyObject" in p for _, p in oci_storage_emulator.requests[before:])
    assert _read(backend, "dst/three.txt") == b"copy me"
    with pytest.raises(NotFoundError):
        backend.copy("missing.txt", "dst/four.txt")


def test_listings_follow_the_pages_of_list_objects(oci_storage_emulator, tmp_path):
    backend = _backend(oci_storage_emulator)
    for name in ("a.txt", "b/1.txt", "b/2.txt", "c/d/3.txt", "e.txt", "f.txt"):
        _put(backend, name, name.encode(), tmp_path)
    backend.make_dir("empty")
    oci_storage_emulator.page_size = 2
    try:
        files, dirs = backend.scan()
        top = backend.listdir("", recursive=False)
    finally:
        oci_storage_emulator.page_size = oci_support.LIST_LIMIT
    assert set(files) == {"a.txt", "b/1.txt", "b/2.txt", "c/d/3.txt", "e.txt", "f.txt"}
    assert dirs == {"b", "c", "c/d", "empty"}
    assert [(e.path, e.is_dir) for e in top] == [
        ("a.txt", False),
        ("b", True),
        ("c", True),
        ("e.txt", False),
        ("empty", True),
        ("f.txt", False),
    ]
    with pytest.raises(InvalidError, match="directory"):
        backend.read_range("b", 0, 10)


def test_instance_principals_sign_with_the_machines_identity(oci_storage_emulator, monkeypatch):
    import oci

    emulator = oci_storage_emulator
    values = emulator.credentials

    class MachineIdentity(oci.auth.signers.InstancePrincipalsSecurityTokenSigner):
        """The instance's identity, without a metadata service: signs as the emulator's key."""

        def __init__(self) -> None:
            self.region = "us-phoenix-1"
            self._key = oci.signer.Signer(
                values["OCI_CLI_TENANCY"],
                values["OCI_CLI_USER"],
                values["OCI_CLI_FINGERPRINT"],
                None,
                private_key_content=values["OCI_CLI_KEY_CONTENT"],
            )

        def __call__(self, request, enforce_content_headers=True):
            return self._key(request, enforce_content_headers)

    monkeypatch.setattr(oci.auth.signers, "InstancePrincipalsSecurityTokenSigner", MachineIdentity)
    bucket = emulator.bucket({"p/x.txt": b"hello"})
    backend = _backend(emulator, bucket, "p", credentials={"OCI_CLI_AUTH": "instance_principal"})
    assert backend.region == "us-phoenix-1"
    assert isinstance(backend.client.base_client.signer, MachineIdentity)
    assert _read(backend, "x.txt") == b"hello"


def test_a_volume_can_keep_its_committed_files_in_oci(oci_storage_emulator, monkeypatch, tmp_path):
    import io

    import strato

    emulator = oci_storage_emulator
    bucket = emulator.bucket()
    for names in CREDENTIAL_NAMES.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    # the control plane opens the store without a secret: the environment's config file
    monkeypatch.setenv("OCI_CONFIG_FILE", str(emulator.write_config(tmp_path / "oci")))
    monkeypatch.setenv("STRATO_VOLUME_STORE", f"oci://{bucket}@{emulator.namespace}/volumes")
    monkeypatch.setenv("STRATO_VOLUME_STORE_ENDPOINT", emulator.endpoint)
    with strato.Volume.ephemeral() as vol:
        with vol.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"in oci"), "a/b.txt")
        assert [e.path for e in vol.listdir("a")] == ["a/b.txt"]
        assert b"".join(vol.read_file("a/b.txt")) == b"in oci"
        assert emulator.objects(bucket) == {f"volumes/{vol.object_id}/a/b.txt": b"in oci"}
    assert emulator.objects(bucket) == {}  # deleting the volume deleted its objects
