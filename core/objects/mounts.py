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
from strato.core.objects.volume_backends import S3Backend, s3_client, s3_error
from strato.core.objects.volume_slots import SlotPolicy, manager_for
from strato.core.objects.volumes import check_mount_path
from strato.exception import CredentialsError, InvalidError, NotFoundError

log = logging.getLogger("strato.mounts")

MODE_ENV = "STRATO_BUCKET_MOUNT"  # auto (default) | sync | fuse


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


# -- FUSE ------------------------------------------------------------------------------------------
def fuse_tool() -> str | None:
    """``rclone`` or ``s3fs`` when this machine can mount with FUSE, else None."""
    mode = os.environ.get(MODE_ENV, "auto")
    if mode == "sync":
        return None
    usable = os.path.exists("/dev/fuse") and os.access("/dev/fuse", os.R_OK | os.W_OK)
    tool = next((t for t in ("rclone", "s3fs") if shutil.which(t)), None)
    if mode == "fuse" and (tool is None or not usable):
        raise InvalidError(f"{MODE_ENV}=fuse needs /dev/fuse and rclone or s3fs on this machine")
    return tool if usable else None


def fuse_command(
    tool: str, ref: dict[str, Any], values: dict[str, str] | None, target: Path, passwd: Path
) -> tuple[list[str], dict[str, str]]:
    """The command that mounts the bucket at ``target``, and its extra environment
    (credentials travel in the environment or a 0600 file, never on the command line)."""
    values = values or {}
    bucket, prefix = ref["bucket_name"], (ref.get("key_prefix") or "").rstrip("/")
    endpoint = ref.get("bucket_endpoint_url")
    key_id = values.get("AWS_ACCESS_KEY_ID") or values.get("GOOGLE_ACCESS_KEY_ID")
    secret = values.get("AWS_SECRET_ACCESS_KEY") or values.get("GOOGLE_ACCESS_KEY_SECRET")
    region = values.get("AWS_REGION") or values.get("AWS_DEFAULT_REGION")
    if tool == "rclone":
        env = {"RCLONE_S3_PROVIDER": "AWS" if endpoint is None else "Other"}
        if key_id:
            env.update(
                {"RCLONE_S3_ACCESS_KEY_ID": key_id, "RCLONE_S3_SECRET_ACCESS_KEY": secret or ""}
            )
            if values.get("AWS_SESSION_TOKEN"):
                env["RCLONE_S3_SESSION_TOKEN"] = values["AWS_SESSION_TOKEN"]
        if endpoint:
            env["RCLONE_S3_ENDPOINT"] = endpoint
        if region:
            env["RCLONE_S3_REGION"] = region
        remote = f":s3:{bucket}" + (f"/{prefix}" if prefix else "")
        cmd = ["rclone", "mount", remote, str(target), "--daemon", "--vfs-cache-mode", "writes"]
        if ref.get("read_only"):
            cmd.append("--read-only")
        if ref.get("requester_pays"):
            cmd.append("--s3-requester-pays")
        return cmd, env
    source = f"{bucket}:/{prefix}" if prefix else bucket
    cmd = ["s3fs", source, str(target)]
    options = []
    if key_id:
        passwd.write_text(f"{key_id}:{secret}\n")
        passwd.chmod(0o600)
        options.append(f"passwd_file={passwd}")
    else:
        options.append("public_bucket=1")
    if endpoint:
        options += [f"url={endpoint}", "use_path_request_style"]
    if region:
        options.append(f"endpoint={region}")
    if ref.get("read_only"):
        options.append("ro")
    if ref.get("requester_pays"):
        options.append("requester_pays")
    return cmd + ["-o", ",".join(options)], {}


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
    """Make each bucket the function mounts appear at its path."""
    refs = ((pool.definition.get("objects") or {}).get("volumes")) or {}
    for path, ref in refs.items():
        if not isinstance(ref, dict) or ref.get("kind") != "cloud_bucket_mount":
            continue
        target = check_mount_path(path)
        read_only = bool(ref.get("read_only"))
        values = _credentials(plane, ref)
        tool = fuse_tool()
        if tool is not None:
            source = _fuse_mount(plane, tool, ref, values, spec)
            spec.mounts.append({"source": str(source), "target": target, "read_only": read_only})
            continue
        try:
            client = s3_client(values, ref.get("bucket_endpoint_url"), anonymous=values is None)
        except Exception as exc:  # noqa: BLE001 - e.g. a malformed endpoint
            raise s3_error(exc, ref["bucket_name"], "connect") from None
        backend = S3Backend(
            client,
            ref["bucket_name"],
            ref.get("key_prefix") or "",
            dir_markers=False,
            requester_pays=bool(ref.get("requester_pays")),
        )
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
