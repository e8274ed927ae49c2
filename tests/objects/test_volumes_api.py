"""Volumes from local code: names, files, uploads, copies, and the ``.aio`` forms."""

from __future__ import annotations

import asyncio
import io
import secrets

import pytest

import strato
from strato.volume import FileEntryType


def _name(prefix: str = "vol") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def _read(volume: strato.Volume, path: str) -> bytes:
    return b"".join(volume.read_file(path))


@pytest.fixture
def volume():
    vol = strato.Volume.from_name(_name(), create_if_missing=True)
    yield vol
    strato.Volume.objects.delete(vol.name, allow_missing=True)


def test_from_name_finds_a_volume_only_once_it_exists():
    name = _name()
    with pytest.raises(strato.exception.NotFoundError):
        strato.Volume.from_name(name).hydrate()
    strato.Volume.objects.create(name)
    with pytest.raises(strato.exception.AlreadyExistsError):
        strato.Volume.objects.create(name)
    strato.Volume.objects.create(name, allow_existing=True)
    found = strato.Volume.from_name(name).hydrate()
    assert found.object_id.startswith("vo-") and found.name == name
    assert name in [v.name for v in strato.Volume.objects.list()]
    strato.Volume.delete(name)
    assert name not in [v.name for v in strato.Volume.objects.list()]
    with pytest.raises(strato.exception.InvalidError):
        strato.Volume.from_name("no spaces allowed")


def test_batch_upload_puts_files_directories_and_file_objects(volume, tmp_path):
    (tmp_path / "local.txt").write_text("from disk")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b.txt").write_text("b")
    with volume.batch_upload() as batch:
        batch.put_file(tmp_path / "local.txt", "/remote.txt")
        batch.put_directory(tree, "/dir")
        batch.put_file(io.BytesIO(b"some data"), "/foobar")
    assert _read(volume, "remote.txt") == b"from disk"
    assert _read(volume, "/dir/sub/b.txt") == b"b"
    assert _read(volume, "foobar") == b"some data"
    entries = volume.listdir("/")
    assert [(e.path, e.type) for e in entries] == [
        ("dir", FileEntryType.DIRECTORY),
        ("foobar", FileEntryType.FILE),
        ("remote.txt", FileEntryType.FILE),
    ]
    files = [e.path for e in volume.listdir("/", recursive=True) if e.type == FileEntryType.FILE]
    assert files == [
        "dir/a.txt",
        "dir/sub/b.txt",
        "foobar",
        "remote.txt",
    ]
    assert [e.size for e in volume.listdir("foobar")] == [9]


def test_an_upload_overwrites_only_with_force_and_all_or_nothing(volume):
    with volume.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"v1"), "f.txt")
    with pytest.raises(FileExistsError):
        with volume.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"new"), "other.txt")
            batch.put_file(io.BytesIO(b"v2"), "f.txt")
    assert _read(volume, "f.txt") == b"v1"
    assert "other.txt" not in [e.path for e in volume.listdir("/")]  # the batch did not land
    with volume.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"v2"), "f.txt")
    assert _read(volume, "f.txt") == b"v2"


def test_a_large_file_travels_in_chunks(volume, monkeypatch):
    from strato import volume as volume_module

    monkeypatch.setattr(volume_module, "CHUNK_SIZE", 1 << 16)
    data = secrets.token_bytes(300_000)
    with volume.batch_upload() as batch:
        batch.put_file(io.BytesIO(data), "big.bin")
    chunks = list(volume.read_file("big.bin"))
    assert len(chunks) == 5 and b"".join(chunks) == data
    sink = io.BytesIO()
    assert volume.read_file_into_fileobj("big.bin", sink) == len(data)
    assert sink.getvalue() == data


def test_missing_paths_are_file_not_found_errors(volume):
    with pytest.raises(FileNotFoundError):
        list(volume.read_file("nope.txt"))
    with pytest.raises(strato.exception.NotFoundError):
        volume.listdir("/nope")
    with pytest.raises(FileNotFoundError):
        volume.remove_file("nope.txt")


def test_remove_file_needs_recursive_for_a_directory(volume):
    with volume.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"x"), "d/x.txt")
        batch.put_file(io.BytesIO(b"y"), "y.txt")
    volume.remove_file("y.txt")
    with pytest.raises(strato.exception.InvalidError, match="recursive"):
        volume.remove_file("d")
    volume.remove_file("d", recursive=True)
    assert volume.listdir("/") == []


def test_copy_files_follows_cp(volume):
    with volume.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"ex"), "bar/example.txt")
        batch.put_file(io.BytesIO(b"other"), "bar/other.txt")
    volume.copy_files(["bar/example.txt"], "bar2/")
    volume.copy_files(["bar/example.txt"], "bar/example2.txt")
    volume.copy_files(["bar/example.txt", "bar/other.txt"], "many")
    assert _read(volume, "bar2/example.txt") == b"ex"
    assert _read(volume, "bar/example2.txt") == b"ex"
    assert sorted(e.path for e in volume.listdir("many")) == ["many/example.txt", "many/other.txt"]
    with pytest.raises(strato.exception.InvalidError, match="recursive"):
        volume.copy_files(["bar"], "bar-copy")
    volume.copy_files(["bar"], "bar-copy", recursive=True)
    assert _read(volume, "bar-copy/other.txt") == b"other"


def test_rename_on_the_class_and_on_an_object():
    old, new, newer = _name(), _name(), _name()
    strato.Volume.objects.create(old)
    volume = strato.Volume.from_name(old).hydrate()
    with volume.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"kept"), "f.txt")
    strato.Volume.rename(old, new)
    with pytest.raises(strato.exception.NotFoundError):
        strato.Volume.from_name(old).hydrate()
    assert _read(strato.Volume.from_name(new), "f.txt") == b"kept"
    volume.rename(newer)
    assert volume.name == newer
    assert _read(strato.Volume.from_name(newer), "f.txt") == b"kept"
    strato.Volume.objects.create(old)
    with pytest.raises(strato.exception.AlreadyExistsError):
        strato.Volume.rename(newer, old)


def test_ephemeral_volume_lives_for_its_block():
    with strato.Volume.ephemeral() as vol:
        assert vol.listdir("/") == []
        with vol.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"tmp"), "t.txt")
        assert _read(vol, "t.txt") == b"tmp"
        volume_id = vol.object_id
    with pytest.raises(strato.exception.NotFoundError):
        strato.Volume(None, volume_id).listdir("/")


def test_read_only_returns_a_view_of_the_same_volume(volume):
    view = volume.read_only()
    assert view is not volume and view.name == volume.name
    assert view._strato_hydrate(None, None)["read_only"] is True
    assert volume._strato_hydrate(None, None)["read_only"] is False
    assert view._strato_hydrate(None, None)["volume_id"] == volume.object_id


def test_aio_forms():
    async def main() -> tuple[list[str], bytes, list[str]]:
        name = _name()
        await strato.Volume.objects.create.aio(name)
        vol = strato.Volume.from_name(name)
        async with vol.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"async"), "a/x.txt")
        listed = [e.path async for e in vol.iterdir.aio("/")]
        data = b"".join([chunk async for chunk in vol.read_file.aio("a/x.txt")])
        await vol.copy_files.aio(["a/x.txt"], "b.txt")
        await vol.remove_file.aio("a", recursive=True)
        after = [e.path for e in await vol.listdir.aio("/")]
        await strato.Volume.delete.aio(name)
        return listed, data, after

    listed, data, after = asyncio.run(main())
    assert listed == ["a", "a/x.txt"]
    assert data == b"async"
    assert after == ["b.txt"]
