"""Volumes and bucket mounts that a container sets up itself, on a machine of its own.

A container on a cloud machine cannot see the control plane's disk, so the plane cannot bind
working copies into it as it does for local containers. Instead its hello message lists what
to mount (``"mounts"``, built by the volume and bucket-mount preparers; it may carry
credentials, so it never appears in a start-up script or the environment), and the worker
agent sets each one up before the function loads:

- a **volume** (``{"kind": "volume", "target", "id", "read_only", "store", "endpoint",
  "credentials"}``): a :class:`~strato.core.objects.volume_sync.WorkingCopy` of the volume's
  files in its bucket store, pulled into the mount path. A writable one is committed in the
  background every :data:`BACKGROUND_COMMIT_S` seconds and when the container stops normally;
  ``Volume.commit()``/``reload()`` in the function sync it in this process (:func:`commit`,
  :func:`reload`). Same rules as on the local provider: changes reach other containers when
  this one commits and they reload; a crash loses only what was not committed yet.
- a **bucket** (a ``CloudBucketMount``): a FUSE mount (``rclone`` or ``s3fs``, where
  ``/dev/fuse`` is usable), or else a synced directory written back when the container stops
  normally.

A read-only mount is made read-only with a read-only bind mount where the container may mount
(the start-up script gives it that right), and otherwise by clearing the write bits, which a
container without ``CAP_DAC_OVERRIDE`` (a sandbox) cannot ignore; either way nothing is ever
written back from it.

The mount path must be empty (or not exist) in the image: a volume never hides files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from strato.exception import InvalidError

log = logging.getLogger("strato.runtime.mounts")

BACKGROUND_COMMIT_S = 5.0


class _Mount:
    """One volume or bucket set up at ``target``."""

    def __init__(self, entry: dict[str, Any], state: Path) -> None:
        self.entry = entry
        self.kind: str = entry["kind"]
        self.target = Path(entry["target"])
        self.read_only = bool(entry.get("read_only"))
        self.state = state
        self.copy: Any = None  # a WorkingCopy, for synced mounts
        self.unmount: list[list[str]] = []
        self.mutex = threading.Lock()

    @property
    def volume_id(self) -> str | None:
        return self.entry.get("id") if self.kind == "volume" else None

    def label(self) -> str:
        if self.kind == "volume":
            return f"volume {self.entry.get('name') or self.entry.get('id')!r}"
        return f"bucket {self.entry.get('bucket_name')!r}"

    # -- setting up -----------------------------------------------------------------------------
    def set_up(self) -> None:
        _check_target(self.target, self.label())
        self.state.mkdir(parents=True, exist_ok=True)
        if self.kind == "bucket" and self._fuse_mount():
            return
        from strato.core.objects.volume_sync import WorkingCopy

        self.copy = WorkingCopy(self.target, self.state / "manifest.json", self._backend())
        self.copy.pull(exact=True)
        if self.read_only:
            self._make_read_only()

    def _backend(self) -> Any:
        from strato.core.objects.volume_backends import bucket_backend, open_store

        values = self.entry.get("credentials") or None
        if self.kind == "volume":
            return open_store(
                self.entry["store"], endpoint=self.entry.get("endpoint"), credentials=values
            )
        return bucket_backend(self.entry, values)

    def _fuse_mount(self) -> bool:
        from strato.core.objects.bucket_fuse import fuse_command, fuse_tool

        tool = fuse_tool()
        if tool is None:
            return False
        cmd, env = fuse_command(
            tool, self.entry, self.entry.get("credentials"), self.target, self.state / "passwd"
        )
        done = subprocess.run(
            cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            from strato.exception import CredentialsError

            raise CredentialsError(
                f"{self.label()}: {tool} could not mount it: {done.stderr.strip()[-300:]}",
                provider="s3",
            )
        self.unmount.append(["fusermount", "-u", str(self.target)])
        return True

    def _make_read_only(self) -> None:
        target = str(self.target)
        bind = ["mount", "--bind", target, target]
        remount = ["mount", "-o", "remount,ro,bind", target]
        if shutil.which("mount") and _run_quietly(bind):
            if _run_quietly(remount):
                self.unmount.append(["umount", target])
                return
            _run_quietly(["umount", target])
        for root, dirs, files in os.walk(target):
            for name in dirs + files:
                path = os.path.join(root, name)
                mode = os.lstat(path).st_mode
                if not stat.S_ISLNK(mode):
                    os.chmod(path, stat.S_IMODE(mode) & ~0o222)
        os.chmod(target, stat.S_IMODE(os.stat(target).st_mode) & ~0o222)

    # -- syncing --------------------------------------------------------------------------------
    @property
    def writable_copy(self) -> bool:
        return self.copy is not None and not self.read_only

    def commit(self) -> dict[str, int]:
        if not self.writable_copy:
            return {}
        with self.mutex:
            return dict(self.copy.push().as_dict())

    def reload(self) -> dict[str, int]:
        if self.copy is None:
            return {}
        with self.mutex:
            if self.read_only:
                # the read-only copy is refreshed under its write bits (or its ro bind mount,
                # which this process made and can lift for the moment)
                return self._reload_read_only()
            return dict(self.copy.reload().as_dict())

    def _reload_read_only(self) -> dict[str, int]:
        for cmd in self.unmount:
            _run_quietly(cmd)
        self.unmount.clear()
        for root, dirs, _files in os.walk(self.target):
            os.chmod(root, stat.S_IMODE(os.stat(root).st_mode) | 0o200)
            for name in dirs:
                path = os.path.join(root, name)
                os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) | 0o200)
        stats = dict(self.copy.pull().as_dict())
        self._make_read_only()
        return stats

    def finish(self, normal: bool) -> None:
        """The container stops: a last commit after a normal stop, then unmount."""
        try:
            if normal and self.writable_copy:
                self.commit()
        finally:
            for cmd in self.unmount:
                _run_quietly(cmd)


def _check_target(target: Path, label: str) -> None:
    try:
        entries = os.listdir(target)
    except FileNotFoundError:
        target.mkdir(parents=True)
        return
    except NotADirectoryError:
        raise InvalidError(f"cannot mount the {label} at {target}: it is a file") from None
    if entries:
        raise InvalidError(
            f"cannot mount the {label} at {target}: the image has files there "
            f"({', '.join(sorted(entries)[:3])}); mount it at an empty or new path"
        )


def _run_quietly(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


class MachineMounts:
    """Every mount of this container, set up at start and finished at stop."""

    def __init__(self, entries: list[dict[str, Any]], container_id: str) -> None:
        root = Path(tempfile.gettempdir()) / "strato-mounts" / container_id
        self.mounts = [_Mount(e, root / str(i)) for i, e in enumerate(entries)]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def set_up(self) -> None:
        """Pull or mount everything (raising on the first failure, after undoing the rest),
        then start the background commits."""
        done: list[_Mount] = []
        try:
            for mount in self.mounts:
                mount.set_up()
                done.append(mount)
        except BaseException:
            for mount in done:
                with contextlib.suppress(Exception):
                    mount.finish(normal=False)
            raise
        if any(m.kind == "volume" and m.writable_copy for m in self.mounts):
            self._thread = threading.Thread(
                target=self._commit_in_background, name="strato-volume-commits", daemon=True
            )
            self._thread.start()

    def _commit_in_background(self) -> None:
        while not self._stop.wait(BACKGROUND_COMMIT_S):
            for mount in self.mounts:
                if mount.kind != "volume" or not mount.writable_copy:
                    continue
                if not mount.mutex.acquire(blocking=False):
                    continue  # a commit or reload is running: it publishes the same changes
                try:
                    mount.copy.push()
                except Exception:  # noqa: BLE001 - the next round or the final commit retries
                    log.warning("background commit of %s failed", mount.target, exc_info=True)
                finally:
                    mount.mutex.release()

    def of_volume(self, volume_id: str) -> list[_Mount]:
        return [m for m in self.mounts if m.volume_id == volume_id]

    def finish(self, normal: bool) -> None:
        """Stop background commits; commit (after a normal stop) and unmount everything."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        for mount in self.mounts:
            try:
                mount.finish(normal)
            except Exception:  # noqa: BLE001 - one failure must not keep the others
                log.warning("could not finish the mount at %s", mount.target, exc_info=True)


#: This process's mounts, once the agent set them up.
_ACTIVE: MachineMounts | None = None


def activate(entries: list[dict[str, Any]], container_id: str) -> MachineMounts:
    """Set up the mounts of this container (the worker agent calls this before loading the
    function); :func:`commit` and :func:`reload` then reach them."""
    global _ACTIVE
    mounts = MachineMounts(entries, container_id)
    mounts.set_up()
    _ACTIVE = mounts
    return mounts


def _volume_mounts(volume_id: str, what: str) -> list[_Mount]:
    found = _ACTIVE.of_volume(volume_id) if _ACTIVE is not None else []
    if not found:
        raise InvalidError(f"{what}(): the volume {volume_id!r} is not synced by this container")
    return found


def commit(volume_id: str) -> dict[str, int]:
    """Publish this container's changes to a volume it syncs itself."""
    total: dict[str, int] = {}
    for mount in _volume_mounts(volume_id, "commit"):
        for key, value in mount.commit().items():
            total[key] = total.get(key, 0) + value
    return total


def reload(volume_id: str) -> dict[str, int]:
    """Commit, then take in what other containers committed to the volume."""
    total: dict[str, int] = {}
    for mount in _volume_mounts(volume_id, "reload"):
        for key, value in mount.reload().items():
            total[key] = total.get(key, 0) + value
    return total
