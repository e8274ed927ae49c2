"""The Google Cloud Storage backend of volumes, on the official SDK against a fake GCS JSON API."""

from __future__ import annotations

import io
import json
import os

import pytest
from support import gcs_emulator as gcs_support
from support.backend_contract import BackendContract
from support.backend_contract import put as _put
from support.backend_contract import read as _read

from strato.core.objects.volume_backends import open_store
from strato.exception import CredentialsError, NotFoundError

pytest.importorskip("google.cloud.storage")

from strato.core.objects.volume_backend_gcs import GCSBackend  # noqa: E402

gcs_emulator = gcs_support.gcs_emulator  # the module-scoped fixture


def _gcs(emulator, prefix: str = "vols/vo-1/", **kwargs) -> GCSBackend:
    credentials, endpoint = emulator.credentials, emulator.endpoint
    return GCSBackend(
        emulator.bucket(), prefix, credentials=credentials, endpoint=endpoint, **kwargs
    )


class TestGCSBackend(BackendContract):
    @pytest.fixture
    def backend(self, gcs_emulator):
        return _gcs(gcs_emulator)


def _uploads(emulator, bucket: str, since: int) -> list[tuple[str, str]]:
    """(method, uploadType) of the upload requests to ``bucket`` after request ``since``."""
    return [
        (method, query.get("uploadType", [""])[0])
        for method, path, query in emulator.requests[since:]
        if path == f"/upload/storage/v1/b/{bucket}/o"
    ]


def test_a_key_the_token_endpoint_refuses_gives_a_credentials_error_naming_the_bucket(
    gcs_emulator,
):
    bucket = gcs_emulator.bucket({"x": b"1"})
    key = gcs_emulator.service_account(trusted=False)
    values = {"SERVICE_ACCOUNT_JSON": json.dumps(key)}
    backend = GCSBackend(bucket, credentials=values, endpoint=gcs_emulator.endpoint)
    with pytest.raises(CredentialsError) as caught:
        backend.scan()
    message = str(caught.value)
    assert bucket in message and caught.value.provider == "gcs"
    assert key["private_key_id"] not in message
    assert "PRIVATE KEY" not in message and key["private_key"][100:140] not in message


def test_a_service_account_without_access_or_an_anonymous_caller_is_refused(gcs_emulator):
    bucket = gcs_emulator.bucket({"x": b"1"})
    anonymous = GCSBackend(bucket, endpoint=gcs_emulator.endpoint)
    with pytest.raises(CredentialsError, match=bucket):
        anonymous.read_range("x", 0, 1)
    gcs_emulator.forbid(bucket)
    backend = GCSBackend(
        bucket, credentials=gcs_emulator.credentials, endpoint=gcs_emulator.endpoint
    )
    with pytest.raises(CredentialsError, match="HTTP 403") as caught:
        backend.listdir("", recursive=False)
    assert bucket in str(caught.value)


def test_a_credential_secret_that_is_not_json_is_refused_without_quoting_it(gcs_emulator):
    bucket = gcs_emulator.bucket()
    with pytest.raises(CredentialsError) as caught:
        GCSBackend(
            bucket,
            credentials={"SERVICE_ACCOUNT_JSON": "not-json-secret-value"},
            endpoint=gcs_emulator.endpoint,
        )
    assert bucket in str(caught.value) and "not-json-secret-value" not in str(caught.value)


def test_a_key_file_named_by_google_application_credentials_works(gcs_emulator, tmp_path):
    bucket = gcs_emulator.bucket({"vols/a.txt": b"from a key file"})
    key_file = tmp_path / "key.json"
    key_file.write_text(gcs_emulator.credentials["SERVICE_ACCOUNT_JSON"])
    backend = GCSBackend(
        bucket,
        "vols",
        credentials={"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)},
        endpoint=gcs_emulator.endpoint,
    )
    assert _read(backend, "a.txt") == b"from a key file"


def test_gcs_backend_keeps_to_its_prefix(gcs_emulator):
    bucket = gcs_emulator.bucket({"other/x.txt": b"not mine", "mine/y.txt": b"mine"})
    backend = GCSBackend(
        bucket, "mine", credentials=gcs_emulator.credentials, endpoint=gcs_emulator.endpoint
    )
    assert set(backend.scan()[0]) == {"y.txt"}
    assert [e.path for e in backend.listdir("", recursive=False)] == ["y.txt"]
    backend.destroy()
    assert gcs_emulator.objects(bucket) == {"other/x.txt": b"not mine"}


def test_open_store_makes_a_gcs_backend_from_a_gs_url(gcs_emulator, tmp_path):
    bucket = gcs_emulator.bucket()
    store = open_store(
        f"gs://{bucket}/volumes/vo-1",
        endpoint=gcs_emulator.endpoint,
        credentials=gcs_emulator.credentials,
    )
    assert isinstance(store, GCSBackend) and store.prefix == "volumes/vo-1/"
    _put(store, "d/f.txt", b"via open_store", tmp_path)
    store.make_dir("empty")
    assert gcs_emulator.objects(bucket) == {
        "volumes/vo-1/d/f.txt": b"via open_store",
        "volumes/vo-1/empty/": b"",
    }
    assert [(e.path, e.is_dir) for e in store.listdir("", recursive=False)] == [
        ("d", True),
        ("empty", True),
    ]


def test_listings_follow_page_tokens(gcs_emulator, monkeypatch):
    monkeypatch.setattr(gcs_emulator, "page_limit", 4)
    files = {f"p/d{i % 3}/f{i:02}.txt": b"x" for i in range(11)}
    files.update({f"p/top{i:02}.txt": b"t" for i in range(9)})
    bucket = gcs_emulator.bucket(files)
    backend = GCSBackend(
        bucket, "p", credentials=gcs_emulator.credentials, endpoint=gcs_emulator.endpoint
    )
    since = len(gcs_emulator.requests)
    found, dirs = backend.scan()
    assert len(found) == 20 and dirs == {"d0", "d1", "d2"}
    pages = [q for _, path, q in gcs_emulator.requests[since:] if path.endswith("/o")]
    assert len(pages) == 5 and "pageToken" in pages[-1]
    top = backend.listdir("", recursive=False)
    assert len(top) == 12 and [e.path for e in top[:4]] == ["d0", "d1", "d2", "top00.txt"]
    backend.destroy()
    assert gcs_emulator.objects(bucket) == {}


def test_a_large_file_goes_up_in_a_resumable_upload_and_comes_back_whole(gcs_emulator, tmp_path):
    backend = _gcs(gcs_emulator)
    backend.upload_chunk_size = 4 << 20  # three requests for 10 MiB
    data = os.urandom(10 << 20)
    since = len(gcs_emulator.requests)
    entry = _put(backend, "big.bin", data, tmp_path)
    assert entry.size == len(data) and entry.version
    assert (
        _uploads(gcs_emulator, backend.bucket, since)
        == [("POST", "resumable")] + [("PUT", "resumable")] * 3
    )
    assert gcs_emulator.objects(backend.bucket)["vols/vo-1/big.bin"] == data
    backend.fetch(entry, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == data
    assert backend.read_range("big.bin", 5 << 20, 100)[0] == data[5 << 20 : (5 << 20) + 100]
    since = len(gcs_emulator.requests)
    _put(backend, "small.bin", b"small", tmp_path)
    assert _uploads(gcs_emulator, backend.bucket, since) == [("POST", "multipart")]


def test_delete_if_with_a_stale_generation_keeps_the_newer_file(gcs_emulator, tmp_path):
    backend = _gcs(gcs_emulator)
    old = _put(backend, "f.txt", b"old", tmp_path)
    new = _put(backend, "f.txt", b"new", tmp_path)
    assert old.version != new.version
    assert new.version == str(gcs_emulator.generation(backend.bucket, "vols/vo-1/f.txt"))
    assert not backend.delete_if("f.txt", old.version)
    assert _read(backend, "f.txt") == b"new"
    assert backend.delete_if("f.txt", new.version)
    assert not backend.delete_if("f.txt", new.version)  # already gone
    assert backend.stat("f.txt") is None


def test_missing_files_are_not_found_errors(gcs_emulator, tmp_path):
    backend = _gcs(gcs_emulator)
    assert backend.stat("nope.txt") is None
    with pytest.raises(NotFoundError):
        backend.read_range("nope.txt", 0, 10)
    with pytest.raises(NotFoundError):
        backend.remove("nope.txt", recursive=False)
    with pytest.raises(NotFoundError):
        backend.copy("nope.txt", "other.txt")
    with pytest.raises(NotFoundError):
        backend.listdir("nope", recursive=True)


def test_a_volume_can_keep_its_committed_files_in_gcs(gcs_emulator, monkeypatch):
    import strato

    # the control plane opens the store without a secret: with an endpoint, that is an
    # anonymous caller, which this bucket lets in
    bucket = gcs_emulator.bucket(anonymous=True)
    monkeypatch.setenv("STRATO_VOLUME_STORE", f"gs://{bucket}/volumes")
    monkeypatch.setenv("STRATO_VOLUME_STORE_ENDPOINT", gcs_emulator.endpoint)
    with strato.Volume.ephemeral() as vol:
        with vol.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"in gcs"), "a/b.txt")
        assert [e.path for e in vol.listdir("a")] == ["a/b.txt"]
        assert b"".join(vol.read_file("a/b.txt")) == b"in gcs"
        assert gcs_emulator.objects(bucket) == {f"volumes/{vol.object_id}/a/b.txt": b"in gcs"}
    assert gcs_emulator.objects(bucket) == {}  # deleting the volume deleted its objects
