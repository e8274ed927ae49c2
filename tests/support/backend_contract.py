"""What every storage backend of volumes must do: a test class to subclass per backend.

A backend's test module subclasses :class:`BackendContract` and gives it a ``backend`` fixture
returning a fresh, empty backend (its own bucket or prefix) for each test::

    class TestGCSBackend(BackendContract):
        @pytest.fixture
        def backend(self, gcs_emulator):
            return GCSBackend(gcs_emulator.bucket(), "vols/vo-1/", ...)

The tests use only the :class:`~strato.core.objects.volume_backends.StorageBackend` protocol
and :class:`~strato.core.objects.volume_sync.WorkingCopy`, the way volumes and bucket mounts
use a backend: write, list, read ranges, copy, conditional delete, directories, and the commit
and reload rules of working copies (two writers lose no file; the last write of one file wins;
a deletion never removes a newer write).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from strato.core.objects.volume_backends import Staged
from strato.core.objects.volume_sync import WorkingCopy
from strato.exception import InvalidError, NotFoundError


def put(backend, path: str, data: bytes, tmp_path: Path):
    """Publish ``data`` at ``path``; returns the new file's stat."""
    source = tmp_path / f"src-{os.urandom(4).hex()}"
    source.write_bytes(data)
    return backend.publish(path, Staged(source, owned=True))


def working_copy(backend, tmp_path: Path, name: str) -> WorkingCopy:
    """A working copy of ``backend`` in a folder of its own."""
    return WorkingCopy(tmp_path / name / "work", tmp_path / name / "manifest.json", backend)


def read(backend, path: str) -> bytes:
    """The whole content of a (small) file."""
    return backend.read_range(path, 0, 1 << 20)[0]


_put, _copy, _read = put, working_copy, read


class BackendContract:
    """Subclass with a ``backend`` fixture; every test here then runs against it."""

    def test_backend_writes_lists_reads_copies_and_deletes_files(self, backend, tmp_path):
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

    def test_commits_of_two_copies_to_different_files_both_survive(self, backend, tmp_path):
        _put(backend, "shared.txt", b"base", tmp_path)
        one, two = _copy(backend, tmp_path, "one"), _copy(backend, tmp_path, "two")
        one.pull(exact=True)
        two.pull(exact=True)
        (one.directory / "from-one.txt").write_text("1")
        (two.directory / "from-two.txt").write_text("2")
        one.push()
        two.push()
        assert set(backend.scan()[0]) == {"shared.txt", "from-one.txt", "from-two.txt"}

    def test_a_change_reaches_another_copy_only_after_commit_and_reload(self, backend, tmp_path):
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

    def test_the_last_commit_of_the_same_file_wins(self, backend, tmp_path):
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

    def test_deleting_a_file_someone_rewrote_since_keeps_the_newer_file(self, backend, tmp_path):
        _put(backend, "f.txt", b"base", tmp_path)
        stale = _copy(backend, tmp_path, "stale")
        stale.pull(exact=True)
        _put(backend, "f.txt", b"newer", tmp_path)
        (stale.directory / "f.txt").unlink()
        stale.push()
        assert _read(backend, "f.txt") == b"newer"
        stale.reload()
        assert (stale.directory / "f.txt").read_text() == "newer"

    def test_a_deletion_and_an_emptied_directory_are_committed(self, backend, tmp_path):
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

    def test_an_exact_pull_discards_what_a_crashed_user_left_uncommitted(self, backend, tmp_path):
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

    def test_an_exact_pull_clears_a_leftover_directory_where_the_volume_has_a_file(
        self, backend, tmp_path
    ):
        _put(backend, "thing", b"a file in the volume", tmp_path)
        copy = _copy(backend, tmp_path, "c")
        (copy.directory / "thing" / "deep").mkdir(parents=True)
        (copy.directory / "thing" / "deep" / "junk.txt").write_text("left by a crashed container")
        copy.pull(exact=True)
        assert (copy.directory / "thing").read_bytes() == b"a file in the volume"
