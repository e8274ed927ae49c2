"""Volumes mounted in local containers: Modal's commit and reload rules, read-only mounts.

Mount paths are under /tmp: the local sandbox shows the host read-only, so a mount point must
be creatable (the container's /tmp is its own). The volumes have fixed names, which containers
import too; every test session has a data directory of its own.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

import strato
from strato.core.objects import volume_slots
from strato.plugins.local.provider import bubblewrap_path

pytestmark = pytest.mark.skipif(
    bubblewrap_path() is None, reason="volumes appear at their paths only under bubblewrap"
)

app = strato.App("volumes-in-containers")

GUIDE = strato.Volume.from_name("guide-example", create_if_missing=True)
GUIDE_FILE = Path("/tmp/strato-vol/guide/bar.txt")

PARTS = strato.Volume.from_name("map-parts", create_if_missing=True)
PARTS_DIR = Path("/tmp/strato-vol/parts")

AT_EXIT = strato.Volume.from_name("committed-at-exit", create_if_missing=True)
AT_EXIT_DIR = Path("/tmp/strato-vol/at-exit")

SEALED = strato.Volume.from_name("read-only-view", create_if_missing=True)
SEALED_DIR = Path("/tmp/strato-vol/sealed")


def _container() -> str:
    return os.environ["STRATO_CONTAINER_ID"]


@app.function(volumes={str(GUIDE_FILE.parent): GUIDE})
def write_guide_file() -> None:
    GUIDE_FILE.write_text("hello")
    GUIDE.commit()


@app.function(volumes={str(GUIDE_FILE.parent): GUIDE}, scaledown_window=60)
def read_guide_file(reload: bool = False) -> tuple[str, str | None]:
    if reload:
        GUIDE.reload()
    return _container(), GUIDE_FILE.read_text() if GUIDE_FILE.exists() else None


@app.function(volumes={str(PARTS_DIR): PARTS}, max_containers=4)
async def write_part(i: int) -> str:
    import asyncio

    await asyncio.sleep(0.3)  # keep each container busy, so that the map spreads
    (PARTS_DIR / f"part-{i:02d}.txt").write_text(f"part {i} from {_container()}")
    await PARTS.commit.aio()
    return _container()


@app.function(volumes={str(PARTS_DIR): PARTS})
def read_parts() -> tuple[dict[str, str], list[str]]:
    PARTS.reload()
    listed = [entry.path for entry in PARTS.listdir("/")]  # the API, from inside a container
    return {p.name: p.read_text() for p in sorted(PARTS_DIR.iterdir())}, listed


@app.function(volumes={str(AT_EXIT_DIR): AT_EXIT}, max_containers=3)
def write_without_commit(name: str) -> str:
    time.sleep(0.3)
    (AT_EXIT_DIR / name).write_text(name)
    return _container()


@app.function(volumes={str(AT_EXIT_DIR): AT_EXIT}, retries=0)
def write_then_crash(name: str) -> None:
    (AT_EXIT_DIR / name).write_text("never committed")
    os._exit(1)


@app.function(volumes={str(SEALED_DIR): SEALED.read_only()})
def try_to_write_read_only() -> tuple[str, int, int]:
    content = (SEALED_DIR / "given.txt").read_text()
    try:
        (SEALED_DIR / "new.txt").write_text("nope")
        created = 0
    except OSError as exc:
        created = exc.errno or -1
    try:
        os.remove(SEALED_DIR / "given.txt")
        removed = 0
    except OSError as exc:
        removed = exc.errno or -1
    return content, created, removed


@app.function(volumes={str(PARTS_DIR): PARTS})
def reload_with_an_open_file() -> str:
    (PARTS_DIR / "open.txt").write_text("x")
    with open(PARTS_DIR / "open.txt") as fh:
        try:
            PARTS.reload()
        except strato.exception.InvalidError as exc:
            return str(exc)
        finally:
            fh.read()
    return "reloaded"


@app.function(volumes={str(PARTS_DIR): PARTS}, timeout=60)
def write_and_wait(name: str, seconds: float) -> None:
    (PARTS_DIR / name).write_text("written, never committed by hand")
    time.sleep(seconds)


@app.function()
def commit_without_mount() -> str:
    try:
        PARTS.commit()
    except strato.exception.InvalidError as exc:
        return str(exc)
    return "committed"


def _names(volume: strato.Volume, path: str = "/") -> set[str]:
    return {entry.path for entry in volume.listdir(path)}


def _wait_for(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_commit_is_seen_by_another_container_only_after_it_reloads():
    # Modal's guide example: g's container keeps the state it was started with
    with app.run():
        first, before = read_guide_file.remote()
        write_guide_file.remote()
        second, stale = read_guide_file.remote(reload=False)
        third, fresh = read_guide_file.remote(reload=True)
    assert first == second == third  # one container for the reader throughout
    assert before is None and stale is None
    assert fresh == "hello"


def test_containers_committing_the_same_volume_lose_no_file():
    with app.run():
        containers = set(write_part.map(range(12)))
        seen, listed = read_parts.remote()
    assert len(containers) > 1, "the map should have run in several containers"
    expected = {f"part-{i:02d}.txt" for i in range(12)}
    assert expected <= set(seen) and expected <= set(listed)
    assert {seen[f"part-{i:02d}.txt"].rsplit(" ", 1)[1] for i in range(12)} == containers
    assert expected <= _names(PARTS)
    assert b"".join(PARTS.read_file("part-07.txt")).startswith(b"part 7 from ct-")


def test_uncommitted_changes_are_committed_when_containers_exit_normally():
    names = [f"f{i}.txt" for i in range(6)]
    with app.run():
        containers = set(write_without_commit.map(names))
    assert len(containers) > 1
    assert _wait_for(lambda: set(names) <= _names(AT_EXIT)), _names(AT_EXIT)


def test_a_crashed_container_commits_nothing():
    with app.run():
        with pytest.raises(strato.exception.Error):
            write_then_crash.remote("crashed.txt")
    time.sleep(1.0)  # leave time for the slot watcher to see the containers gone
    assert "crashed.txt" not in _names(AT_EXIT)


def test_changes_are_committed_in_the_background_while_the_function_runs(monkeypatch):
    monkeypatch.setattr(volume_slots, "BACKGROUND_COMMIT_S", 0.5)
    with app.run():
        call = write_and_wait.spawn("background.txt", 20)
        seen = _wait_for(lambda: "background.txt" in _names(PARTS), timeout=15)
        call.cancel()
    assert seen


def test_a_read_only_mount_rejects_writes():
    with SEALED.batch_upload(force=True) as batch:
        batch.put_file(__import__("io").BytesIO(b"sealed"), "given.txt")
    with app.run():
        content, created, removed = try_to_write_read_only.remote()
    assert content == "sealed"
    assert created == errno.EROFS and removed == errno.EROFS
    assert _names(SEALED) == {"given.txt"}


def test_reload_with_a_file_open_on_the_volume_is_an_error():
    with app.run():
        message = reload_with_an_open_file.remote()
    assert "volume busy" in message


def test_commit_outside_a_mounting_container_is_an_error():
    with pytest.raises(strato.exception.InvalidError, match="not mounted"):
        PARTS.commit()
    with app.run():
        assert "not mounted in this container" in commit_without_mount.remote()


def test_a_stopping_control_plane_commits_what_running_containers_wrote():
    from strato.client import Client
    from strato.core.service import start_embedded

    server = start_embedded()
    client = Client(server.url, server.token, embedded=server)
    try:
        with app.run(client=client, detach=True):  # the app (and its container) keeps running
            write_without_commit.remote("at-shutdown.txt")
        assert "at-shutdown.txt" not in _names(AT_EXIT)
    finally:
        client.close()  # the plane stops: its slots are committed before its loop closes
    assert "at-shutdown.txt" in _names(AT_EXIT)


S3_BACKED = strato.Volume.from_name("s3-backed", create_if_missing=True)


@app.function(volumes={"/tmp/strato-vol/s3": S3_BACKED})
def append_line(line: str) -> list[str]:
    log = Path("/tmp/strato-vol/s3/log.txt")
    lines = log.read_text().splitlines() if log.exists() else []
    log.write_text("\n".join([*lines, line]))
    S3_BACKED.commit()
    return [*lines, line]


def test_a_volume_stored_in_s3_is_pulled_and_committed_like_a_local_one(monkeypatch):
    pytest.importorskip("moto.server")
    from support.s3_emulator import S3Emulator

    with S3Emulator() as emulator:
        bucket = emulator.bucket()
        monkeypatch.setenv("STRATO_VOLUME_STORE", f"s3://{bucket}/vols")
        monkeypatch.setenv("STRATO_VOLUME_STORE_ENDPOINT", emulator.endpoint_url)
        for key, value in emulator.credentials.items():
            monkeypatch.setenv(key, value)
        with app.run():
            append_line.remote("one")
            assert append_line.remote("two") == ["one", "two"]
        key = f"vols/{S3_BACKED.object_id}/log.txt"
        assert emulator.objects(bucket)[key] == b"one\ntwo"
