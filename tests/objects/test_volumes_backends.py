"""Storage backends of volumes (local disk, S3 on moto) and the working copies synced with them."""

from __future__ import annotations

import os

import pytest
from support import s3_emulator as s3_support
from support.backend_contract import BackendContract
from support.backend_contract import put as _put
from support.backend_contract import read as _read

from strato.core.objects.volume_backends import (
    LocalBackend,
    S3Backend,
    clean_path,
    s3_client,
)
from strato.core.objects.volume_sync import WorkingCopy
from strato.exception import CredentialsError, InvalidError

pytest.importorskip("boto3")

s3_emulator = s3_support.s3_emulator  # the module-scoped fixture


def _s3(emulator, prefix: str = "vols/vo-1/", **kwargs) -> S3Backend:
    bucket = emulator.bucket()
    client = s3_client(emulator.credentials, emulator.endpoint_url)
    return S3Backend(client, bucket, prefix, **kwargs)


class TestLocalBackend(BackendContract):
    @pytest.fixture
    def backend(self, tmp_path):
        return LocalBackend(tmp_path / "volume")


class TestS3Backend(BackendContract):
    @pytest.fixture
    def backend(self, s3_emulator):
        return _s3(s3_emulator)


def test_clean_path_keeps_paths_inside_the_volume():
    assert clean_path("/a//b/./c.txt") == "a/b/c.txt"
    assert clean_path("/") == ""
    with pytest.raises(InvalidError):
        clean_path("../etc/passwd")
    with pytest.raises(InvalidError):
        clean_path("a/../../b")


def test_s3_backend_names_the_bucket_not_the_secret_when_credentials_are_wrong(s3_emulator):
    bucket = s3_emulator.bucket({"x": b"1"})
    values = {**s3_emulator.credentials, "AWS_SECRET_ACCESS_KEY": "wrong-secret-value"}
    backend = S3Backend(s3_client(values, s3_emulator.endpoint_url), bucket)
    with pytest.raises(CredentialsError) as caught:
        backend.scan()
    assert bucket in str(caught.value)
    assert "wrong-secret-value" not in str(caught.value)
    assert values["AWS_ACCESS_KEY_ID"] not in str(caught.value)


def test_s3_backend_keeps_to_its_prefix(s3_emulator):
    bucket = s3_emulator.bucket({"other/x.txt": b"not mine", "mine/y.txt": b"mine"})
    client = s3_client(s3_emulator.credentials, s3_emulator.endpoint_url)
    backend = S3Backend(client, bucket, "mine/")
    assert set(backend.scan()[0]) == {"y.txt"}
    backend.destroy()
    assert s3_emulator.objects(bucket) == {"other/x.txt": b"not mine"}


def test_local_backend_never_rewrites_a_published_file_in_place(tmp_path):
    backend = LocalBackend(tmp_path / "volume")
    _put(backend, "f.bin", b"old", tmp_path)
    with open(backend.tree / "f.bin", "rb") as reader:
        _put(backend, "f.bin", b"new!", tmp_path)
        assert reader.read() == b"old"  # whoever had the old version keeps reading it
    assert _read(backend, "f.bin") == b"new!"


def test_a_linked_read_only_copy_is_a_stable_snapshot(tmp_path):
    backend = LocalBackend(tmp_path / "volume")
    _put(backend, "model.bin", b"v1", tmp_path)
    view = WorkingCopy(tmp_path / "ro" / "work", tmp_path / "ro" / "m.json", backend, link=True)
    view.pull(exact=True)
    linked = os.stat(view.directory / "model.bin").st_ino
    assert linked == os.stat(backend.tree / "model.bin").st_ino
    _put(backend, "model.bin", b"v2", tmp_path)
    assert (view.directory / "model.bin").read_bytes() == b"v1"
    view.pull()
    assert (view.directory / "model.bin").read_bytes() == b"v2"


def test_a_volume_can_keep_its_committed_files_in_s3(s3_emulator, monkeypatch):
    import io

    import strato

    bucket = s3_emulator.bucket()
    monkeypatch.setenv("STRATO_VOLUME_STORE", f"s3://{bucket}/volumes")
    monkeypatch.setenv("STRATO_VOLUME_STORE_ENDPOINT", s3_emulator.endpoint_url)
    for key, value in s3_emulator.credentials.items():
        monkeypatch.setenv(key, value)
    with strato.Volume.ephemeral() as vol:
        with vol.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"in s3"), "a/b.txt")
        assert [e.path for e in vol.listdir("a")] == ["a/b.txt"]
        assert b"".join(vol.read_file("a/b.txt")) == b"in s3"
        assert s3_emulator.objects(bucket) == {f"volumes/{vol.object_id}/a/b.txt": b"in s3"}
    assert s3_emulator.objects(bucket) == {}  # deleting the volume deleted its objects
