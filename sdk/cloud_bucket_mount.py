"""``strato.CloudBucketMount``: an S3, R2 or GCS bucket mounted at a function's path.

Pass one in a function's ``volumes``::

    @app.function(volumes={"/bucket": strato.CloudBucketMount("my-bucket", secret=creds)})

Credentials come from ``secret`` (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, optionally
``AWS_SESSION_TOKEN`` and ``AWS_REGION``; for GCS, ``GOOGLE_ACCESS_KEY_ID``/
``GOOGLE_ACCESS_KEY_SECRET`` with ``bucket_endpoint_url="https://storage.googleapis.com"``).
Without a secret the bucket is read anonymously, so only public buckets work.

How the bucket appears in the container depends on the provider; on the local provider see
:mod:`strato.core.objects.mounts` (a FUSE mount where ``rclone`` or ``s3fs`` and ``/dev/fuse``
exist, else a directory synced from the bucket before the container starts and back to it when
the container exits normally).
"""

from __future__ import annotations

from typing import Any

from strato.exception import InvalidError


class CloudBucketMount:
    """A bucket (or the keys under ``key_prefix``) to mount at a function's path."""

    def __init__(
        self,
        bucket_name: str,
        bucket_endpoint_url: str | None = None,
        key_prefix: str | None = None,
        secret: Any = None,
        oidc_auth_role_arn: str | None = None,
        read_only: bool = False,
        requester_pays: bool = False,
    ) -> None:
        if not isinstance(bucket_name, str) or not bucket_name:
            raise InvalidError("CloudBucketMount needs a bucket_name (the name, not an ARN)")
        if bucket_name.startswith(("arn:", "s3://")) or "/" in bucket_name:
            raise InvalidError(
                f"bucket_name {bucket_name!r} must be a bucket's name, not an ARN, URL or path"
            )
        if key_prefix is not None:
            if not isinstance(key_prefix, str) or not key_prefix.endswith("/"):
                raise InvalidError(
                    f"key_prefix {key_prefix!r} names a directory, so it must end in '/'"
                )
            key_prefix = key_prefix.lstrip("/")
        if bucket_endpoint_url is not None and not bucket_endpoint_url.startswith(
            ("http://", "https://")
        ):
            raise InvalidError(
                f"bucket_endpoint_url {bucket_endpoint_url!r} must start with https:// or http://"
            )
        if requester_pays and secret is None and oidc_auth_role_arn is None:
            raise InvalidError("requester_pays=True needs credentials: pass a secret")
        if secret is not None and not hasattr(secret, "_strato_hydrate"):
            raise InvalidError(f"secret must be a strato.Secret, got {type(secret).__name__}")
        self.bucket_name = bucket_name
        self.bucket_endpoint_url = bucket_endpoint_url
        self.key_prefix = key_prefix
        self.secret = secret
        self.oidc_auth_role_arn = oidc_auth_role_arn
        self.read_only = bool(read_only)
        self.requester_pays = bool(requester_pays)

    def __repr__(self) -> str:
        where = self.bucket_name + (f"/{self.key_prefix}" if self.key_prefix else "")
        mode = ", read_only=True" if self.read_only else ""
        return f"CloudBucketMount({where!r}{mode})"

    def _strato_hydrate(self, client: Any, app_id: str | None) -> dict[str, Any]:
        """The reference a function's definition carries (see ``App._hydrate_objects``)."""
        secret_ref = None
        if self.secret is not None:
            secret_ref = self.secret._strato_hydrate(client, app_id)
        return {
            "kind": "cloud_bucket_mount",
            "bucket_name": self.bucket_name,
            "bucket_endpoint_url": self.bucket_endpoint_url,
            "key_prefix": self.key_prefix,
            "secret": secret_ref,
            "oidc_auth_role_arn": self.oidc_auth_role_arn,
            "read_only": self.read_only,
            "requester_pays": self.requester_pays,
        }
