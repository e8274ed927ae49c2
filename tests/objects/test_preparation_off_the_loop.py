"""Preparing a container's files (volume copies, synced buckets) never stalls the control plane:
other functions keep being served while a slow bucket is being downloaded."""

from __future__ import annotations

import socket
import threading
import time

import pytest

import strato
from strato.exception import CredentialsError

pytest.importorskip("boto3")

DELAY_S = 4.0
DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message></Error>"
)


class SlowBucket:
    """An S3 endpoint that answers every request with AccessDenied, ``DELAY_S`` late."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            time.sleep(DELAY_S)
            head = (
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n"
                f"Content-Length: {len(DENIED)}\r\nConnection: close\r\n\r\n"
            )
            conn.sendall(head.encode() + DENIED)


app = strato.App("preparation-off-the-loop")


@app.function()
def fast(x: int) -> int:
    return x + 1


def test_a_slow_bucket_download_does_not_hold_up_other_functions(monkeypatch):
    monkeypatch.setenv("STRATO_BUCKET_MOUNT", "sync")
    bucket = SlowBucket()
    mount = strato.CloudBucketMount(
        "slow-bucket",
        bucket_endpoint_url=bucket.url,
        secret=strato.Secret.from_dict(
            {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-checked"}
        ),
    )
    slow = app.function(volumes={"/bucket": mount})(_list_bucket)
    with app.run():
        assert fast.remote(1) == 2  # the app's first container is up
        call = slow.spawn()
        time.sleep(0.3)  # its container is being prepared now
        started = time.monotonic()
        assert fast.remote(2) == 3
        assert time.monotonic() - started < DELAY_S / 2, "the plane waited for the download"
        with pytest.raises(CredentialsError, match="slow-bucket"):
            call.get(timeout=30)


def _list_bucket() -> list[str]:
    import os

    return os.listdir("/bucket")
