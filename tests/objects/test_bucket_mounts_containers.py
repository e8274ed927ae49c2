"""CloudBucketMount on the local provider, against a moto S3 server that checks credentials.

The functions are defined inside the tests (the emulator's port is only known then), so they
travel to their containers pickled. This sandbox has no ``rclone``/``s3fs``, so the mounts are
synced directories: downloaded before the container starts, written back when it exits.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest
from support import s3_emulator as s3_support

import strato
from strato.core.objects.mounts import fuse_command
from strato.plugins.local.provider import bubblewrap_path

pytest.importorskip("boto3")
pytestmark = pytest.mark.skipif(
    bubblewrap_path() is None, reason="mounts appear at their paths only under bubblewrap"
)

s3_emulator = s3_support.s3_emulator  # the module-scoped fixture

MOUNT = "/tmp/strato-bucket"


@pytest.fixture(autouse=True)
def synced(monkeypatch):
    monkeypatch.setenv("STRATO_BUCKET_MOUNT", "sync")


def _mount(emulator, bucket: str, **kwargs) -> strato.CloudBucketMount:
    return strato.CloudBucketMount(
        bucket,
        bucket_endpoint_url=emulator.endpoint_url,
        secret=kwargs.pop("secret", None) or strato.Secret.from_dict(emulator.credentials),
        **kwargs,
    )


def _eventually(read, expected, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_a_function_lists_reads_and_changes_a_bucket(s3_emulator):
    bucket = s3_emulator.bucket({"a.txt": b"alpha", "dir/b.txt": b"beta", "gone.txt": b"x"})
    app = strato.App("bucket-rw")

    @app.function(volumes={MOUNT: _mount(s3_emulator, bucket)})
    def work() -> tuple[list[str], str]:
        root = Path(MOUNT)
        found = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        alpha = (root / "a.txt").read_text()
        (root / "new.txt").write_text("made in a container")
        (root / "dir" / "b.txt").write_text("beta, changed")
        (root / "gone.txt").unlink()
        return found, alpha

    with app.run():
        found, alpha = work.remote()
    assert found == ["a.txt", "dir/b.txt", "gone.txt"]
    assert alpha == "alpha"
    expected = {
        "a.txt": b"alpha",
        "dir/b.txt": b"beta, changed",
        "new.txt": b"made in a container",
    }
    assert _eventually(lambda: s3_emulator.objects(bucket), expected) == expected


def test_key_prefix_mounts_only_the_keys_under_it(s3_emulator):
    bucket = s3_emulator.bucket({"data/x.txt": b"x", "data/deep/y.txt": b"y", "other/z.txt": b"z"})
    app = strato.App("bucket-prefix")

    @app.function(volumes={MOUNT: _mount(s3_emulator, bucket, key_prefix="data/")})
    def work() -> list[str]:
        root = Path(MOUNT)
        (root / "added.txt").write_text("added")
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    with app.run():
        assert work.remote() == ["added.txt", "deep/y.txt", "x.txt"]
    assert _eventually(lambda: s3_emulator.objects(bucket).get("data/added.txt"), b"added") == (
        b"added"
    )
    assert s3_emulator.objects(bucket)["other/z.txt"] == b"z"


def test_a_read_only_mount_rejects_writes_and_writes_nothing_back(s3_emulator):
    bucket = s3_emulator.bucket({"keep.txt": b"keep"})
    app = strato.App("bucket-ro")

    @app.function(volumes={MOUNT: _mount(s3_emulator, bucket, read_only=True)})
    def work() -> tuple[str, int, int]:
        root = Path(MOUNT)
        try:
            (root / "new.txt").write_text("no")
            created = 0
        except OSError as exc:
            created = exc.errno or -1
        try:
            os.remove(root / "keep.txt")
            removed = 0
        except OSError as exc:
            removed = exc.errno or -1
        return (root / "keep.txt").read_text(), created, removed

    with app.run():
        content, created, removed = work.remote()
    assert content == "keep"
    assert created == errno.EROFS and removed == errno.EROFS
    time.sleep(0.5)
    assert s3_emulator.objects(bucket) == {"keep.txt": b"keep"}


def test_wrong_credentials_fail_with_an_error_naming_the_bucket(s3_emulator):
    bucket = s3_emulator.bucket({"a.txt": b"a"})
    wrong = {**s3_emulator.credentials, "AWS_SECRET_ACCESS_KEY": "not-the-right-secret"}
    app = strato.App("bucket-wrong-credentials")

    @app.function(
        volumes={MOUNT: _mount(s3_emulator, bucket, secret=strato.Secret.from_dict(wrong))}
    )
    def work() -> str:
        return "ran"

    with app.run():
        with pytest.raises(strato.exception.CredentialsError) as caught:
            work.remote()
    message = str(caught.value)
    assert bucket in message and "credentials were refused" in message
    assert "not-the-right-secret" not in message


def test_mount_arguments_are_checked_where_they_are_written():
    with pytest.raises(strato.exception.InvalidError, match="end in '/'"):
        strato.CloudBucketMount("bucket", key_prefix="no/slash")
    with pytest.raises(strato.exception.InvalidError, match="not an ARN"):
        strato.CloudBucketMount("arn:aws:s3:::bucket")
    with pytest.raises(strato.exception.InvalidError, match="https://"):
        strato.CloudBucketMount("bucket", bucket_endpoint_url="storage.googleapis.com")
    mount = strato.CloudBucketMount("bucket", key_prefix="a/b/", read_only=True)
    assert mount._strato_hydrate(None, None)["key_prefix"] == "a/b/"


@pytest.mark.parametrize("tool", ["rclone", "s3fs"])
def test_fuse_commands_keep_credentials_off_the_command_line(tool, tmp_path):
    ref = {
        "bucket_name": "b",
        "key_prefix": "p/",
        "bucket_endpoint_url": "https://r2.example.com",
        "read_only": True,
        "requester_pays": False,
    }
    values = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t"}
    cmd, env = fuse_command(tool, ref, values, tmp_path / "mnt", tmp_path / "passwd")
    assert not any("s3cr3t" in part or "AKIDEXAMPLE" in part for part in cmd)
    assert str(tmp_path / "mnt") in cmd
    if tool == "rclone":
        assert cmd[:3] == ["rclone", "mount", ":s3:b/p"] and "--read-only" in cmd
        assert env["RCLONE_S3_SECRET_ACCESS_KEY"] == "s3cr3t"
    else:
        assert cmd[:2] == ["s3fs", "b:/p"] and "ro" in cmd[-1].split(",")
        assert (tmp_path / "passwd").read_text() == "AKIDEXAMPLE:s3cr3t\n"
        assert (tmp_path / "passwd").stat().st_mode & 0o777 == 0o600
