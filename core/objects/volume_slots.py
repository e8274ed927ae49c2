"""Working copies handed to local containers, and what happens to them when a container ends.

Volumes and synced bucket mounts give each container a working copy
(:class:`~strato.core.objects.volume_sync.WorkingCopy`) bound at its mount path. Copies live in
numbered *slots* under the volume's directory and are reused: a new container takes the lowest
free slot, which only has to pull what changed since its last user, and the local provider's
fork server (one template per set of bind mounts) finds the same mount sources again instead
of starting a template per container.

A slot is held by one container. The control plane's process holds an ``flock`` on the slot's
lock file meanwhile, so two control planes sharing a data directory never hand out the same
slot. A :class:`SlotManager` per control plane watches its slots from the event loop (every
:data:`TICK_S`):

- while a container runs, a writable volume slot is committed in the background every
  :data:`BACKGROUND_COMMIT_S` seconds (Modal's background commits);
- when a container is gone, its slot is committed one last time if the container exited
  normally (not if it crashed or failed to start), then released;
- when the control plane shuts down, every held slot is committed first.

The file work runs on worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strato.core.objects.volume_backends import StorageBackend
from strato.core.objects.volume_sync import SyncStats, WorkingCopy

log = logging.getLogger("strato.volumes")

TICK_S = 0.25
BACKGROUND_COMMIT_S = 5.0
#: how long the working copy of a container that seems to have crashed is kept before it is
#: released uncommitted: when the control plane itself stops, its server drops every
#: container's connection first, which looks like a crash until the plane commits them all
CRASH_GRACE_S = 5.0
#: exit reasons (see ``strato.core.plane``) after which a container's uncommitted changes
#: are dropped rather than committed: it crashed, was killed, or never started
_CRASHED = ("container exited unexpectedly", "start-up failed", "preempted")


def exited_normally(reason: str | None) -> bool:
    """Whether a container's recorded exit reason is a normal stop."""
    if reason is None:
        return False
    return reason not in _CRASHED and not reason.startswith("container ")


@dataclass(frozen=True)
class SlotPolicy:
    """How a slot's working copy behaves."""

    writable: bool
    #: fill with hard links (a read-only view of a local volume)
    link: bool = False
    #: commit every few seconds while the container runs
    background_push: bool = False
    #: commit when the container exits normally
    push_at_exit: bool = True


class Slot:
    """One working copy, held by one container at a time."""

    def __init__(
        self,
        group: Path,
        index: int,
        copy: WorkingCopy,
        policy: SlotPolicy,
        lock_fd: int,
        container_id: str,
        key: str,
    ) -> None:
        self.group = group
        self.index = index
        self.copy = copy
        self.policy = policy
        self.lock_fd = lock_fd
        self.container_id = container_id
        #: what the slot is a copy of (a volume id, a bucket mount's key)
        self.key = key
        self.state = "busy"  # busy | finishing | crashed | released
        self.crashed_at = 0.0
        self.mutex = threading.Lock()
        self.pushing = False
        self.last_push = time.monotonic()

    @property
    def work(self) -> Path:
        return Path(self.copy.directory)

    def commit(self) -> SyncStats:
        """Publish this container's changes (a no-op for a read-only slot)."""
        if not self.policy.writable:
            return SyncStats()
        with self.mutex:
            stats = self.copy.push()
            self.last_push = time.monotonic()
            return stats

    def reload(self) -> SyncStats:
        """Commit, then take in what other containers committed."""
        with self.mutex:
            if self.policy.writable:
                stats = self.copy.reload()
                self.last_push = time.monotonic()
                return stats
            return self.copy.pull()


class SlotManager:
    """The slots one control plane has handed out."""

    def __init__(self, plane: Any) -> None:
        self._plane = weakref.ref(plane)
        self._slots: dict[tuple[str, int], Slot] = {}
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._when_gone: list[tuple[str, Callable[[], None]]] = []

    # -- handing out ----------------------------------------------------------------------------
    def acquire(
        self,
        group: Path,
        backend: StorageBackend,
        container_id: str,
        key: str,
        policy: SlotPolicy,
    ) -> Slot:
        """Take the lowest free slot under ``group`` and bring it up to date (blocking)."""
        group.mkdir(parents=True, exist_ok=True)
        index = 0
        while True:
            with self._lock:
                taken = (str(group), index) in self._slots
            if not taken:
                slot_dir = group / str(index)
                slot_dir.mkdir(exist_ok=True)
                fd = os.open(slot_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)  # another control plane holds it
                else:
                    break
            index += 1
        try:
            copy = WorkingCopy(
                slot_dir / "work", slot_dir / "manifest.json", backend, link=policy.link
            )
            copy.pull(exact=True)
        except BaseException:
            os.close(fd)
            raise
        slot = Slot(group, index, copy, policy, fd, container_id, key)
        with self._lock:
            self._slots[(str(group), index)] = slot
        self._start_watching()
        return slot

    def slots_of(self, container_id: str, key: str | None = None) -> list[Slot]:
        """The slots a container holds (of one volume, when ``key`` is given)."""
        with self._lock:
            return [
                s
                for s in self._slots.values()
                if s.container_id == container_id
                and s.state == "busy"
                and (key is None or s.key == key)
            ]

    def when_gone(self, container_id: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on a worker thread) once the container is gone."""
        with self._lock:
            self._when_gone.append((container_id, callback))
        self._start_watching()

    def held(self) -> list[Slot]:
        with self._lock:
            return list(self._slots.values())

    # -- watching -------------------------------------------------------------------------------
    def _start_watching(self) -> None:
        if self._task is not None and not self._task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # a worker thread preparing a container: start watching from the plane's loop
            plane = self._plane()
            plane_loop = getattr(plane, "loop", None)
            if plane_loop is not None and not plane_loop.is_closed():
                plane_loop.call_soon_threadsafe(self._start_watching)
            return  # else no loop at all (a test driving a preparer directly)
        self._task = loop.create_task(self._watch())

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(TICK_S)
                try:
                    self.tick(loop)
                except Exception:  # noqa: BLE001 - the watcher must outlive one bad tick
                    log.exception("volume slot watcher failed")
        except asyncio.CancelledError:
            # the control plane's event loop is closing (its server stopped): commit what
            # running containers wrote before the slots go
            await self.shutdown()
            raise

    def tick(self, loop: asyncio.AbstractEventLoop) -> None:
        """Finish the slots of containers that are gone; background-commit the others."""
        plane = self._plane()
        if plane is None:
            return
        now = time.monotonic()

        def gone(container_id: str) -> bool:
            container = plane.containers.get(container_id)
            return container is None or container.state == "stopped"

        with self._lock:
            due = [(c, f) for c, f in self._when_gone if gone(c)]
            self._when_gone = [(c, f) for c, f in self._when_gone if not gone(c)]
        for _container_id, callback in due:
            _off_loop(loop, callback)
        for slot in self.held():
            if slot.state == "crashed" and now - slot.crashed_at >= CRASH_GRACE_S:
                self.release(slot)
            if slot.state != "busy":
                continue
            if gone(slot.container_id):
                slot.state = "finishing"
                # the store is read here, on the loop: its one SQLite connection is not for
                # worker threads
                row = plane.store.get_container(slot.container_id)
                normal = None if row is None else exited_normally(row.get("exit_reason"))
                _off_loop(loop, self._finish, slot, normal)
            elif (
                slot.policy.background_push
                and not slot.pushing
                and now - slot.last_push >= BACKGROUND_COMMIT_S
            ):
                slot.pushing = True
                _off_loop(loop, self._background_push, slot)

    def _background_push(self, slot: Slot) -> None:
        try:
            if slot.mutex.acquire(blocking=False):
                try:
                    slot.copy.push()
                finally:
                    slot.last_push = time.monotonic()
                    slot.mutex.release()
        except Exception:  # noqa: BLE001
            log.warning("background commit of %s failed", slot.work, exc_info=True)
        finally:
            slot.pushing = False

    def _finish(self, slot: Slot, normal: bool | None) -> None:
        """The container is gone: a last commit if it exited ``normal``-ly, then release.
        After a crash the copy is kept uncommitted for :data:`CRASH_GRACE_S` (see there);
        ``None``: the container never started, so there is nothing to commit."""
        try:
            if slot.policy.writable and slot.policy.push_at_exit:
                if normal is False:
                    slot.crashed_at = time.monotonic()
                    slot.state = "crashed"
                    return
                if normal:
                    with slot.mutex:
                        slot.copy.push()
        except Exception:  # noqa: BLE001
            log.warning("final commit of %s failed", slot.work, exc_info=True)
        self.release(slot)

    def release(self, slot: Slot) -> None:
        """Give the slot back (its files stay, for the next container to pull into)."""
        with self._lock:  # check and set at once: the lock's fd must be closed exactly once
            if self._slots.get((str(slot.group), slot.index)) is slot:
                del self._slots[(str(slot.group), slot.index)]
            if slot.state == "released":
                return
            slot.state = "released"
        with contextlib.suppress(OSError):
            os.close(slot.lock_fd)

    async def shutdown(self) -> None:
        """The control plane is stopping: commit every held slot, then release them all."""
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

        def flush() -> None:
            for slot in self.held():
                try:
                    if (
                        slot.state in ("busy", "crashed")
                        and slot.policy.writable
                        and slot.policy.push_at_exit
                    ):
                        with slot.mutex:
                            slot.copy.push()
                except Exception:  # noqa: BLE001
                    log.warning("commit of %s at shutdown failed", slot.work, exc_info=True)
                finally:
                    self.release(slot)

        with self._lock:
            callbacks = [f for _c, f in self._when_gone]
            self._when_gone = []

        def flush_all() -> None:
            flush()
            for callback in callbacks:
                with contextlib.suppress(Exception):
                    callback()

        try:
            await asyncio.to_thread(flush_all)
        except RuntimeError:  # the interpreter is exiting: no more worker threads
            flush_all()


def _off_loop(loop: asyncio.AbstractEventLoop, func: Callable[..., None], *args: Any) -> None:
    """Run ``func`` on a worker thread; inline when the interpreter is exiting (its thread
    pool refuses work then, and the last commits must still happen)."""
    try:
        loop.run_in_executor(None, func, *args)
    except RuntimeError:
        func(*args)


_managers: weakref.WeakKeyDictionary[Any, SlotManager] = weakref.WeakKeyDictionary()
_managers_lock = threading.Lock()


def manager_for(plane: Any) -> SlotManager:
    """The slot manager of a control plane (made on first use)."""
    with _managers_lock:
        manager = _managers.get(plane)
        if manager is None:
            manager = _managers[plane] = SlotManager(plane)
        return manager


def existing_manager(plane: Any) -> SlotManager | None:
    with _managers_lock:
        return _managers.get(plane)
