"""Bucket mounts with FUSE: which tool this machine has, and the command that mounts a bucket.

Used by the control plane for local containers (:mod:`strato.core.objects.mounts`) and by a
container on a cloud machine that mounts its buckets itself (:mod:`strato.runtime.mounts`);
nothing here needs the control plane. ``rclone`` is preferred, ``s3fs`` otherwise.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from strato.exception import InvalidError

MODE_ENV = "STRATO_BUCKET_MOUNT"  # auto (default) | sync | fuse


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
