"""Storage backends of volumes (local disk, S3 on moto) and the working copies synced with them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import s3_emulator as s3_support

from strato.core.objects.volume_backends import (
    LocalBackend,
    S3Backend,
    Staged,
    clean_path,
    s3_client,
)
from strato.core.objects.volume_sync import WorkingCopy
from strato.exception import CredentialsError, InvalidError, NotFoundError

pytest.importorskip("boto3")

s3_emulator = s3_support.s3_emulator  # the module-scoped fixture


def _s3(emulator, prefix: str = "vols/vo-1/", **kwargs) -> S3Backend:
    bucket = emulator.bucket()
    client = s3_client(emulator.credentials, emulator.endpoint_url)
    return S3Backend(client, bucket, prefix, **kwargs)


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path):
    if request.param == "local":
        return LocalBackend(tmp_path / "volume")
    return _s3(request.getfixturevalue("s3_emulator"))


def _put(backend, path: str, data: bytes, tmp_path: Path):
    source = tmp_path / f"src-{os.urandom(4).hex()}"
    source.write_bytes(data)
    return backend.publish(path, Staged(source, owned=True))


def _copy(backend, tmp_path: Path, name: str) -> WorkingCopy:
    return WorkingCopy(tmp_path / name / "work", tmp_path / name / "manifest.json", backend)


def _read(backend, path: str) -> bytes:
    return backend.read_range(path, 0, 1 << 20)[0]


def test_clean_path_keeps_paths_inside_the_volume():
    assert clean_path("/a//b/./c.txt") == "a/b/c.txt"
    assert clean_path("/") == ""
    with pytest.raises(InvalidError):
        clean_path("../etc/passwd")
    with pytest.raises(InvalidError):
        clean_path("a/../../b")


def test_backend_writes_lists_reads_copies_and_deletes_files(backend, tmp_path):
    first = _put(backend, "dir/a.txt", b"alpha", tmp_path)
    _put(backend, "dir/sub/b.txt", b"beta", tmp_path)
    _put(backend, "top.txt", b"top", tmp_path)
    files, dirs = backend.scan()
    assert set(files) == {"dir/a.txt", "dir/sub/b.txt", "top.txt"}
    assert {"dir", "dir/sub"} <= dirs
    assert files["dir/a.txt"].version == first.version and files["dir/a.txt"].size == 5
    listing = backend.listdir("dir", recursive=False)
    assert [(e.path, e.is_dir) for e in listing] == [("dir/a.txt", False), ("dir/sub", True)]
    assert [e.path for e in backend.listdir("", recursive=True) if not e.is_dir] == [
        "dir/a.txt",
        "dir/sub/b.txt",
        "top.txt",
    ]
    assert backend.read_range("dir/a.txt", 1, 3)[0] == b"lph"
    backend.copy("dir/a.txt", "copy/a2.txt")
    assert _read(backend, "copy/a2.txt") == b"alpha"
    second = _put(backend, "dir/a.txt", b"ALPHA!", tmp_path)
    assert second.version != first.version
    assert not backend.delete_if("dir/a.txt", first.version)  # a newer write wins
    assert backend.delete_if("dir/a.txt", second.version)
    with pytest.raises(InvalidError, match="not empty"):
        backend.remove("dir", recursive=False)
    backend.remove("dir", recursive=True)
    assert backend.stat("dir") is None and backend.stat("dir/sub/b.txt") is None
    with pytest.raises(NotFoundError):
        backend.read_range("dir/sub/b.txt", 0, 10)
    backend.destroy()


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


def test_commits_of_two_copies_to_different_files_both_survive(backend, tmp_path):
    _put(backend, "shared.txt", b"base", tmp_path)
    one, two = _copy(backend, tmp_path, "one"), _copy(backend, tmp_path, "two")
    one.pull(exact=True)
    two.pull(exact=True)
    (one.directory / "from-one.txt").write_text("1")
    (two.directory / "from-two.txt").write_text("2")
    one.push()
    two.push()
    assert set(backend.scan()[0]) == {"shared.txt", "from-one.txt", "from-two.txt"}


def test_a_change_reaches_another_copy_only_after_commit_and_reload(backend, tmp_path):
    writer, reader = _copy(backend, tmp_path, "w"), _copy(backend, tmp_path, "r")
    writer.pull(exact=True)
    reader.pull(exact=True)
    (writer.directory / "news.txt").write_text("hello")
    reader.reload()
    assert not (reader.directory / "news.txt").exists()  # not committed yet
    writer.push()
    assert not (reader.directory / "news.txt").exists()  # committed, not reloaded
    reader.reload()
    assert (reader.directory / "news.txt").read_text() == "hello"


def test_the_last_commit_of_the_same_file_wins(backend, tmp_path):
    _put(backend, "f.txt", b"base", tmp_path)
    one, two = _copy(backend, tmp_path, "one"), _copy(backend, tmp_path, "two")
    one.pull(exact=True)
    two.pull(exact=True)
    (one.directory / "f.txt").write_text("from one")
    (two.directory / "f.txt").write_text("from two, later")
    one.push()
    two.push()
    assert _read(backend, "f.txt") == b"from two, later"
    one.reload()
    assert (one.directory / "f.txt").read_text() == "from two, later"


def test_deleting_a_file_someone_rewrote_since_keeps_the_newer_file(backend, tmp_path):
    _put(backend, "f.txt", b"base", tmp_path)
    stale = _copy(backend, tmp_path, "stale")
    stale.pull(exact=True)
    _put(backend, "f.txt", b"newer", tmp_path)
    (stale.directory / "f.txt").unlink()
    stale.push()
    assert _read(backend, "f.txt") == b"newer"
    stale.reload()
    assert (stale.directory / "f.txt").read_text() == "newer"


def test_a_deletion_and_an_emptied_directory_are_committed(backend, tmp_path):
    _put(backend, "d/x.txt", b"x", tmp_path)
    copy = _copy(backend, tmp_path, "c")
    copy.pull(exact=True)
    (copy.directory / "d" / "x.txt").unlink()
    (copy.directory / "d").rmdir()
    (copy.directory / "empty").mkdir()
    copy.push()
    files, dirs = backend.scan()
    assert files == {}
    assert "d" not in dirs and "empty" in dirs


def test_an_exact_pull_discards_what_a_crashed_user_left_uncommitted(backend, tmp_path):
    _put(backend, "kept.txt", b"committed", tmp_path)
    copy = _copy(backend, tmp_path, "c")
    copy.pull(exact=True)
    (copy.directory / "kept.txt").write_text("scribbled")
    (copy.directory / "stray.txt").write_text("never committed")
    reused = _copy(backend, tmp_path, "c")  # the next container gets the same directory
    stats = reused.pull(exact=True)
    assert stats.downloaded == 1  # only the scribbled file travels again
    assert sorted(os.listdir(reused.directory)) == ["kept.txt"]
    assert (reused.directory / "kept.txt").read_text() == "committed"


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


def test_an_exact_pull_clears_a_leftover_directory_where_the_volume_has_a_file(backend, tmp_path):
    _put(backend, "thing", b"a file in the volume", tmp_path)
    copy = _copy(backend, tmp_path, "c")
    (copy.directory / "thing" / "deep").mkdir(parents=True)
    (copy.directory / "thing" / "deep" / "junk.txt").write_text("left by a crashed container")
    copy.pull(exact=True)
    assert (copy.directory / "thing").read_bytes() == b"a file in the volume"
