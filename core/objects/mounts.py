"""Cloud bucket mounts on the local provider: a FUSE mount, or a directory synced with the bucket.

For each ``CloudBucketMount`` in a function's ``volumes``, the preparer makes the bucket (or the
keys under its ``key_prefix``) appear at the mount path:

- **FUSE**, when ``/dev/fuse`` is usable and ``rclone`` or ``s3fs`` is installed: the bucket is
  mounted on this machine in a directory of its own, bound into the container, and unmounted
  when the container is gone. Reads and writes go to the bucket as the tool does them.
- **Synced directory** otherwise (``STRATO_BUCKET_MOUNT=sync`` forces it): the objects are
  downloaded into a working copy before the container starts (only what changed since the copy
  was last used: copies are kept per bucket, prefix and access key, and reused), bound at the
  mount path, and the files the container created, changed or deleted are written back to the
  bucket when it exits normally. A crashed container's changes are dropped.

``read_only=True`` binds the directory read-only, so writes fail in the container with
``EROFS``, and nothing is ever written back. Credentials come from the mount's secret
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``, or
GCS's ``GOOGLE_ACCESS_KEY_ID``/``GOOGLE_ACCESS_KEY_SECRET``); with ``oidc_auth_role_arn`` and no
secret, the role is assumed with this machine's own AWS credentials (the local stand-in for
Modal's OIDC tokens); with neither, the bucket is read anonymously. A refused credential fails
the function's inputs with a :class:`~strato.exception.CredentialsError` naming the bucket.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from strato.core.objects import PREPARERS
from strato.core.objects.bucket_fuse import fuse_command, fuse_tool
from strato.core.objects.volume_backends import bucket_backend
from strato.core.objects.volume_slots import SlotPolicy, manager_for
from strato.core.objects.volumes import check_mount_path
from strato.exception import CredentialsError, NotFoundError

log = logging.getLogger("strato.mounts")


def mounts_dir() -> Path:
    from strato.config import data_dir

    path: Path = data_dir() / "bucket-mounts"
    return path


# -- credentials -----------------------------------------------------------------------------------
def secret_values(plane: Any, ref: dict[str, Any] | None) -> dict[str, str] | None:
    """The key-value pairs of the mount's secret (its hydrated reference: ``{"kind":
    "secret", "id", "name", "required_keys"}``, see :mod:`strato.core.objects.secrets`)."""
    if not ref:
        return None
    from strato.core.objects.secrets import SECRETS, decrypt, missing_keys

    label = ref.get("name") or "from code"
    try:
        row = SECRETS.get(plane.store, ref["id"])
    except NotFoundError:
        raise NotFoundError(f"secret {label!r} of a bucket mount no longer exists") from None
    values: dict[str, str] = decrypt(row)
    missing = missing_keys(values, ref.get("required_keys"))
    if missing:
        raise NotFoundError(f"secret {label!r} is missing required key(s): {', '.join(missing)}")
    return values


def _assume_role(role_arn: str, bucket: str) -> dict[str, str]:
    """Temporary credentials for ``role_arn``, from this machine's own AWS credentials."""
    try:
        import boto3

        answer = boto3.client("sts").assume_role(
            RoleArn=role_arn, RoleSessionName="strato-bucket-mount"
        )
    except Exception as exc:  # noqa: BLE001
        raise CredentialsError(
            f"bucket {bucket!r}: could not assume role {role_arn!r} with this machine's AWS "
            f"credentials ({type(exc).__name__})",
            provider="s3",
        ) from None
    creds = answer["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }


def _credentials(plane: Any, ref: dict[str, Any]) -> dict[str, str] | None:
    values = secret_values(plane, ref.get("secret"))
    if values is None and ref.get("oidc_auth_role_arn"):
        values = _assume_role(ref["oidc_auth_role_arn"], ref["bucket_name"])
    return values


def _cache_key(ref: dict[str, Any], values: dict[str, str] | None) -> str:
    """Working copies are shared by mounts of the same bucket, prefix and access key only."""
    values = values or {}
    access = values.get("AWS_ACCESS_KEY_ID") or values.get("GOOGLE_ACCESS_KEY_ID") or "anonymous"
    parts = [
        ref.get("bucket_endpoint_url") or "",
        ref["bucket_name"],
        ref.get("key_prefix") or "",
        access,
        "rp" if ref.get("requester_pays") else "",
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def _fuse_mount(plane: Any, tool: str, ref: dict[str, Any], values: Any, spec: Any) -> Path:
    root = mounts_dir() / "fuse" / str(spec.container_id)
    target: Path = root / "mnt"
    target.mkdir(parents=True, exist_ok=True)
    cmd, env = fuse_command(tool, ref, values, target, root / "passwd")
    done = subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise CredentialsError(
            f"bucket {ref['bucket_name']!r}: {tool} could not mount it: "
            f"{done.stderr.strip()[-300:]}",
            provider="s3",
        )

    def unmount() -> None:
        for command in (["fusermount", "-u", str(target)], ["umount", str(target)]):
            if (
                shutil.which(command[0])
                and subprocess.run(command, capture_output=True).returncode == 0
            ):
                break
        shutil.rmtree(root, ignore_errors=True)

    manager_for(plane).when_gone(spec.container_id, unmount)
    return target


# -- the preparer ----------------------------------------------------------------------------------
def prepare(plane: Any, pool: Any, spec: Any) -> None:
    """Make each bucket the function mounts appear at its path (a container on a cloud
    machine gets the mount's description and credentials, and mounts it itself)."""
    refs = ((pool.definition.get("objects") or {}).get("volumes")) or {}
    for path, ref in refs.items():
        if not isinstance(ref, dict) or ref.get("kind") != "cloud_bucket_mount":
            continue
        target = check_mount_path(path)
        read_only = bool(ref.get("read_only"))
        values = _credentials(plane, ref)
        if spec.remote:
            spec.sync.append(
                {
                    "kind": "bucket",
                    "target": target,
                    "read_only": read_only,
                    "bucket_name": ref["bucket_name"],
                    "bucket_endpoint_url": ref.get("bucket_endpoint_url"),
                    "key_prefix": ref.get("key_prefix"),
                    "requester_pays": bool(ref.get("requester_pays")),
                    "credentials": values,
                }
            )
            continue
        tool = fuse_tool()
        if tool is not None:
            source = _fuse_mount(plane, tool, ref, values, spec)
            spec.mounts.append({"source": str(source), "target": target, "read_only": read_only})
            continue
        backend = bucket_backend(ref, values)
        key = _cache_key(ref, values)
        slot = manager_for(plane).acquire(
            mounts_dir() / key / ("ro" if read_only else "rw"),
            backend,
            spec.container_id,
            key,
            SlotPolicy(writable=not read_only, push_at_exit=not read_only),
        )
        spec.mounts.append({"source": str(slot.work), "target": target, "read_only": read_only})


PREPARERS.append(prepare)
