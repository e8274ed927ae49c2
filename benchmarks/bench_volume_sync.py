"""A cloud machine's volume sync against its bucket store (a moto S3 server on 127.0.0.1), beside
bare boto3 doing the same transfers to the same server in the same run.

Measured: the first pull of a volume of ``files`` small files into an empty working copy (what a
container does at start), a commit of a tenth of them changed, and a reload that brings in
another copy's commit. The floor lists the prefix and GETs every object (the pull), and PUTs
the changed files (the commit), one request at a time like the working copy.

Goal: a sync costs no more than 1.5x the bare transfers it needs.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import _common

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    size = 16 << 10
    from support.s3_emulator import S3Emulator

    from strato.core.objects.volume_backends import open_store
    from strato.core.objects.volume_sync import WorkingCopy

    with S3Emulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        payload = {f"data/{i // 50:02d}/f{i:05d}.bin": os.urandom(size) for i in range(files)}
        bucket = emulator.bucket({f"vol/{k}": v for k, v in payload.items()})
        client = emulator.client()

        def copy(name: str) -> WorkingCopy:
            backend = open_store(
                f"s3://{bucket}/vol",
                endpoint=emulator.endpoint_url,
                credentials=emulator.credentials,
            )
            root = Path(tmp) / name
            return WorkingCopy(root / "work", root / "manifest.json", backend)

        # ours: pull, change a tenth, commit; another copy commits, this one reloads
        writer = copy("writer")
        started = time.perf_counter()
        writer.pull(exact=True)
        pull_s = time.perf_counter() - started
        changed = sorted(payload)[: files // 10]
        for key in changed:
            (writer.directory / key).write_bytes(os.urandom(size))
        started = time.perf_counter()
        writer.push()
        commit_s = time.perf_counter() - started
        other = copy("other")
        other.pull(exact=True)
        for key in changed:
            (other.directory / key).write_bytes(os.urandom(size))
        other.push()
        started = time.perf_counter()
        writer.reload()
        reload_s = time.perf_counter() - started

        # the floor: the same requests with bare boto3
        started = time.perf_counter()
        keys = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="vol/"):
            keys += [item["Key"] for item in page.get("Contents", [])]
        for key in keys:
            target = Path(tmp) / "bare" / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        bare_pull_s = time.perf_counter() - started
        started = time.perf_counter()
        for key in changed:
            client.put_object(Bucket=bucket, Key=f"vol/{key}", Body=os.urandom(size))
        bare_commit_s = time.perf_counter() - started

    mb = files * size / 1e6
    rows = [
        (
            f"first pull, {files} files ({mb:.1f} MB)",
            f"{pull_s:.2f} s",
            f"bare list + GETs {bare_pull_s:.2f} s; {pull_s / bare_pull_s:.2f}x",
        ),
        (
            f"commit of {len(changed)} changed files",
            f"{commit_s:.2f} s",
            f"bare PUTs {bare_commit_s:.2f} s; {commit_s / bare_commit_s:.2f}x",
        ),
        (
            f"reload bringing in {len(changed)} files",
            f"{reload_s:.2f} s",
            "(a listing plus the changed GETs)",
        ),
    ]
    _common.report(
        "volume_sync",
        rows,
        {
            "files": files,
            "pull_s": pull_s,
            "commit_s": commit_s,
            "reload_s": reload_s,
            "bare_pull_s": bare_pull_s,
            "bare_commit_s": bare_commit_s,
        },
    )


if __name__ == "__main__":
    main()
