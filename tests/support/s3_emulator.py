"""S3 without AWS: a moto server on 127.0.0.1 that checks credentials as S3 does.

The server runs moto's ``ThreadedMotoServer`` in a child process of its own: moto keeps its
state (and its switch that turns request authentication on) per process, so a server here
never shares buckets or settings with the EC2 emulator of ``support.aws_emulator``, which
runs in the test process. Authentication is on (moto's ``INITIAL_NO_AUTH_ACTION_COUNT``): the
emulator creates an IAM user allowed everything and hands out its access key; any other key
gets ``InvalidAccessKeyId``, a wrong secret ``SignatureDoesNotMatch``, as from S3.

API (``emulator`` is an :class:`S3Emulator`, from the ``s3_emulator`` fixture or a ``with``)::

    emulator.endpoint_url          # http://127.0.0.1:<free port>
    emulator.credentials           # {"AWS_ACCESS_KEY_ID": ..., "AWS_SECRET_ACCESS_KEY": ...,
                                   #  "AWS_REGION": "us-east-1"}: a secret's values
    emulator.client()              # a boto3 S3 client with those credentials
    emulator.bucket(files={})      # a new bucket (unique name) holding {key: bytes}
    emulator.objects(bucket)       # {key: bytes} of every object in it

Pytest: ``from support.s3_emulator import s3_emulator  # noqa: F401`` where it is used (one
server per test module).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from typing import Any

import pytest

from support.fake_service import free_port

_SERVER = """
import sys
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from moto.iam import access_control
from moto.server import ThreadedMotoServer

# moto's server checks signatures against the query string as the web framework decoded it
# ("prefix=a/"), while clients sign it encoded ("prefix=a%2F"): re-encode it as SigV4 does.
_original = access_control.IAMRequestBase._create_aws_request


def _create_aws_request(self):
    request = _original(self)
    parts = urlsplit(request.url)
    if parts.query:
        pairs = []
        for pair in parts.query.split("&"):
            key, sep, value = pair.partition("=")
            key, value = quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")
            pairs.append(key + sep + value)
        request.url = urlunsplit(parts._replace(query="&".join(pairs)))
    return request


access_control.IAMRequestBase._create_aws_request = _create_aws_request
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
print("ready", flush=True)
sys.stdin.read()  # until the parent closes the pipe (or dies)
server.stop()
"""

#: IAM calls made before authentication starts: create the user, its policy, its key
_SETUP_CALLS = 3
REGION = "us-east-1"


class S3Emulator:
    """A moto S3 server in a child process, with one IAM user whose key is accepted."""

    def __init__(self) -> None:
        port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(_SETUP_CALLS))
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(port)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self._proc.stdout is not None
        deadline = time.monotonic() + 30
        while b"ready" not in self._proc.stdout.readline():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the moto S3 server did not start")
        self.credentials = self._make_user()

    def _make_user(self) -> dict[str, str]:
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="strato-tests")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(
            UserName="strato-tests", PolicyName="all", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName="strato-tests")["AccessKey"]
        return {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            "AWS_REGION": REGION,
        }

    def client(self, **overrides: str) -> Any:
        """A boto3 S3 client (``overrides`` replace credential values, e.g. a wrong key)."""
        import boto3

        values = {**self.credentials, **overrides}
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=values["AWS_REGION"],
            aws_access_key_id=values["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=values["AWS_SECRET_ACCESS_KEY"],
        )

    def bucket(self, files: dict[str, bytes] | None = None, name: str | None = None) -> str:
        """A new bucket (with a unique name unless ``name``), holding ``files``."""
        name = name or f"strato-test-{secrets.token_hex(4)}"
        client = self.client()
        client.create_bucket(Bucket=name)
        for key, body in (files or {}).items():
            client.put_object(Bucket=name, Key=key, Body=body)
        return name

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object of ``bucket``: key -> bytes."""
        client = self.client()
        found: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                found[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])[
                    "Body"
                ].read()
        return found

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> S3Emulator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@pytest.fixture(scope="module")
def s3_emulator() -> Any:
    """One moto S3 server (with authentication) for the test module."""
    pytest.importorskip("moto.server")
    with S3Emulator() as emulator:
        yield emulator
