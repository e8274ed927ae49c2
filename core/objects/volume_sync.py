"""A container's working copy of a volume: pulled from a backend, committed back to it.

A container never writes into a volume's store directly. It gets a directory of its own (a
*working copy*, bound at the mount path) holding the volume as it was when the container
started; what it writes stays there until a commit publishes the files it changed, and what
others commit reaches it only when it reloads. That is Modal's contract: changes are visible to
other containers after the writer commits and the reader reloads.

The working copy keeps a manifest: for each file, the backend version it was synced from and
the local signature (inode, size, mtime) it had then. So:

- **commit** (:meth:`WorkingCopy.push`) publishes the files whose signature changed or that are
  new, deletes from the backend the files removed here (only while the backend still has the
  version this copy saw: a newer write by another container wins), and creates or removes
  directories. Files another container committed are untouched, so two containers committing
  different files both keep theirs; two committing the same file: the last write wins.
- **reload** (:meth:`WorkingCopy.reload`) commits first (Modal: uncommitted changes "may
  implicitly be committed when reloading"), then pulls what changed in the backend.
- **pull** with ``exact=True`` (a working copy being handed to a new container) also discards
  whatever a previous, crashed, user of the directory left uncommitted.

Nothing here knows about the control plane: a cloud machine's start-up code can run the same
class against an :class:`~strato.core.objects.volume_backends.S3Backend`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strato.core.objects.volume_backends import TMP_PREFIX, FileStat, StorageBackend

MANIFEST_VERSION = 1


@dataclass
class SyncStats:
    """What one sync did."""

    uploaded: int = 0
    downloaded: int = 0
    deleted: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "uploaded": self.uploaded,
            "downloaded": self.downloaded,
            "deleted": self.deleted,
            "bytes": self.bytes,
        }


@dataclass
class Manifest:
    """path -> [backend version, inode, size, mtime_ns] for files; the set of directories."""

    files: dict[str, list[Any]] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return cls()
        if data.get("v") != MANIFEST_VERSION:
            return cls()
        return cls({k: list(v) for k, v in data["files"].items()}, set(data["dirs"]))

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(
            json.dumps({"v": MANIFEST_VERSION, "files": self.files, "dirs": sorted(self.dirs)})
        )
        os.replace(tmp, path)


def _signature(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def scan_local(root: Path) -> tuple[dict[str, os.stat_result], set[str]]:
    """Regular files (path -> stat) and directories under ``root``; symlinks are skipped."""
    files: dict[str, os.stat_result] = {}
    dirs: set[str] = set()
    stack = [(root, "")]
    while stack:
        directory, rel = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.name.startswith(TMP_PREFIX):
                continue
            child = f"{rel}/{entry.name}" if rel else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode):
                dirs.add(child)
                stack.append((Path(entry.path), child))
            elif stat.S_ISREG(st.st_mode):
                files[child] = st
    return files, dirs


class WorkingCopy:
    """One directory kept in sync with a backend.

    ``link``: fill the directory with hard links to the backend's files instead of copies (only
    for a local backend and a directory the container sees read-only: the backend never
    rewrites a file in place, so a link is a stable snapshot).
    """

    def __init__(
        self,
        directory: Path,
        manifest_path: Path,
        backend: StorageBackend,
        *,
        link: bool = False,
    ) -> None:
        self.directory = directory
        self.manifest_path = manifest_path
        self.backend = backend
        self.link = link
        self.directory.mkdir(parents=True, exist_ok=True)
        self.manifest = Manifest.load(manifest_path)

    # -- pulling --------------------------------------------------------------------------------
    def pull(self, exact: bool = False) -> SyncStats:
        """Bring the backend's changes into the directory.

        ``exact`` also throws away local changes (new, changed and deleted files) so that the
        directory equals the backend; otherwise local changes are kept (call :meth:`push`
        first to publish them).
        """
        stats = SyncStats()
        remote_files, remote_dirs = self.backend.scan()
        local_files, local_dirs = scan_local(self.directory)
        manifest = self.manifest
        if exact:  # first clear what the backend does not have, so nothing is in the way
            for path in local_files:
                if path not in remote_files:
                    with contextlib.suppress(FileNotFoundError):
                        (self.directory / path).unlink()
            for directory in sorted(local_dirs - remote_dirs, reverse=True):
                shutil.rmtree(self.directory / directory, ignore_errors=True)
            local_files = {p: st for p, st in local_files.items() if p in remote_files}
        for directory in sorted(remote_dirs):
            self._ensure_dir(directory)
        wanted: list[tuple[FileStat, bool]] = []
        for path, entry in remote_files.items():
            known = manifest.files.get(path)
            local = local_files.get(path)
            clean = known is not None and local is not None and known[1:] == _signature(local)
            if known is not None and known[0] == entry.version and clean:
                continue
            if not exact and known is not None and not clean:
                continue  # a local change or deletion not yet committed: keep it
            if not exact and known is None and local is not None:
                continue  # a new local file that happens to share the path: keep it
            wanted.append((entry, local is None and (exact or self.link)))
            stats.downloaded += 1
            stats.bytes += entry.size
        self._transfer(lambda item: self._download(*item), wanted)
        for path in list(manifest.files):
            if path in remote_files:
                continue
            local = local_files.get(path)
            if local is not None and (exact or manifest.files[path][1:] == _signature(local)):
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / path).unlink()
                stats.deleted += 1
            del manifest.files[path]
        if not exact:
            for directory in sorted(manifest.dirs - remote_dirs, reverse=True):
                with contextlib.suppress(OSError):
                    (self.directory / directory).rmdir()  # only if now empty
        manifest.dirs = set(remote_dirs)
        manifest.save(self.manifest_path)
        return stats

    def _transfer(self, work: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        """``work`` over ``items``, several at a time for a backend across a network (its
        ``transfers``); the first failure is raised once the others are done."""
        workers = min(int(getattr(self.backend, "transfers", 1)), len(items))
        if workers <= 1:
            return [work(item) for item in items]
        with ThreadPoolExecutor(workers, thread_name_prefix="strato-sync") as pool:
            return list(pool.map(work, items))

    def _ensure_dir(self, path: str) -> None:
        target = self.directory / path
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        target.mkdir(parents=True, exist_ok=True)

    def _download(self, entry: FileStat, direct: bool) -> None:
        """Fetch one file into place (its directory exists: :meth:`pull` made them all).

        A file is fetched beside its target and renamed over it, so a running container
        never reads half of one. ``direct`` (the path is missing and no container uses the
        directory yet, or the fetch is a hard link, which is atomic) writes it in place.
        """
        target = self.directory / entry.path
        if direct:
            try:
                self.backend.fetch(entry, target, link=self.link)
            except FileExistsError:
                pass
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
                raise
            else:
                self.manifest.files[entry.path] = [entry.version, *_signature(target.stat())]
                return
        tmp = target.parent / f"{TMP_PREFIX}{secrets.token_hex(6)}"
        try:
            self.backend.fetch(entry, tmp, link=self.link)
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        self.manifest.files[entry.path] = [entry.version, *_signature(target.stat())]

    # -- pushing --------------------------------------------------------------------------------
    def changes(self) -> tuple[list[str], list[str], set[str], set[str]]:
        """(changed or new files, deleted files, new directories, deleted directories)."""
        local_files, local_dirs = scan_local(self.directory)
        files = self.manifest.files
        changed = [
            path
            for path, st in local_files.items()
            if path not in files or files[path][1:] != _signature(st)
        ]
        deleted = [path for path in files if path not in local_files]
        return (
            changed,
            deleted,
            local_dirs - self.manifest.dirs,
            self.manifest.dirs - local_dirs,
        )

    def push(self) -> SyncStats:
        """Commit: publish what changed here since the last sync."""
        stats = SyncStats()
        changed, deleted, new_dirs, gone_dirs = self.changes()
        if not (changed or deleted or new_dirs or gone_dirs):
            return stats
        staged = []
        try:
            for path in changed:
                source = self.directory / path
                try:
                    before = source.stat()
                    staged.append((path, self.backend.stage(source), before))
                except FileNotFoundError:
                    continue  # removed while we looked: the next commit sees it gone
            with self.backend.lock():
                for directory in sorted(new_dirs):
                    self.backend.make_dir(directory)
                if int(getattr(self.backend, "transfers", 1)) > 1:
                    # a store across a network: publish several files at a time
                    done = self._transfer(self._publish, staged)
                    staged.clear()
                    for path, entry, before in done:
                        self.manifest.files[path] = [entry.version, *_signature(before)]
                        stats.uploaded += 1
                        stats.bytes += entry.size
                while staged:
                    path, item, before = staged.pop(0)
                    entry = self.backend.publish(path, item, overwrite_dir=True)
                    # the signature from before the copy: a write during it shows up next time
                    self.manifest.files[path] = [entry.version, *_signature(before)]
                    stats.uploaded += 1
                    stats.bytes += entry.size
                for path in deleted:
                    version = self.manifest.files.pop(path)[0]
                    if self.backend.delete_if(path, version):
                        stats.deleted += 1
                for directory in sorted(gone_dirs, reverse=True):
                    self.backend.remove_dir_if_empty(directory)
        finally:
            for _path, item, _before in staged:
                self.backend.discard(item)
            self.manifest.dirs = (self.manifest.dirs | new_dirs) - gone_dirs
            self.manifest.save(self.manifest_path)
        return stats

    def _publish(self, item: tuple[str, Any, os.stat_result]) -> tuple[str, FileStat, Any]:
        path, staged, before = item
        return path, self.backend.publish(path, staged, overwrite_dir=True), before

    def reload(self) -> SyncStats:
        """Commit local changes, then pull everything committed since."""
        pushed = self.push()
        pulled = self.pull()
        pulled.uploaded = pushed.uploaded
        pulled.deleted += pushed.deleted
        pulled.bytes += pushed.bytes
        return pulled
