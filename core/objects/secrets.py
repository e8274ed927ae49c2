"""Secrets on the control plane: encrypted at rest, injected as environment variables.

A secret's key-value pairs are stored as one Fernet token (AES-128-CBC with an HMAC, from the
``cryptography`` package). The key is created, mode 0600, on first use, in
``<config dir>/secrets.key``: outside the database, so a copy of the database alone reveals
nothing. No handler returns a value: values leave the plane only as environment variables of
the containers of functions that use the secret (:func:`prepare`), later secrets in a
function's list overriding earlier ones. Errors name keys, never values.

Named secrets are made with ``Secret.objects.create`` or ``strato secret create``. Secrets made
in code (``Secret.from_dict``, ``from_local_environ``, ``from_dotenv``) are stored for one app
run (``app_id``) and deleted once that app has stopped, by a sweep that runs when the next
such secret is stored.
"""

from __future__ import annotations

import functools
import json
import os
import secrets as token_source
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Float, LargeBinary, String, delete, select, update

from strato.core.objects import PREPARERS, RPC
from strato.core.objects._named import Objects, object_table, public
from strato.exception import ExecutionError, InvalidError, NotFoundError

KEY_FILE = "secrets.key"
#: a secret made in code with no app (``Secret.from_dict(...).hydrate()``) is kept this long
UNOWNED_RETENTION_S = 24 * 3600

secrets = object_table(
    "secrets",
    Column("app_id", String(40), nullable=True, index=True),  # set for secrets made in code
    Column("data", LargeBinary, nullable=False),  # Fernet token of the JSON key-value map
    Column("updated_at", Float, nullable=False),
)

SECRETS = Objects("secret", secrets, "st")


# -- encryption ----------------------------------------------------------------------------------
def key_path() -> Path:
    from strato.config import config_dir

    return config_dir() / KEY_FILE


def _read_or_create_key(path: Path) -> bytes:
    from cryptography.fernet import Fernet

    if not path.exists():
        # Write a fresh key beside it, then link it into place: the link fails when another
        # process got there first, and then everybody uses that one.
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{token_source.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key() + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(temporary)
    return path.read_bytes().strip()


@functools.cache
def _fernet(path: str) -> Any:
    from cryptography.fernet import Fernet

    return Fernet(_read_or_create_key(Path(path)))


def encrypt(env: dict[str, str]) -> bytes:
    return bytes(_fernet(str(key_path())).encrypt(json.dumps(env).encode()))


def decrypt(row: Any) -> dict[str, str]:
    from cryptography.fernet import InvalidToken

    try:
        plain = _fernet(str(key_path())).decrypt(bytes(row.data))
    except InvalidToken:
        raise ExecutionError(
            f"cannot decrypt the secret {row.name or row.id!r}: {key_path()} is not the key it"
            " was stored with"
        ) from None
    return dict(json.loads(plain))


def check_env(env: Any) -> dict[str, str]:
    """A valid environment map; errors name the key, never the value."""
    if not isinstance(env, dict):
        raise InvalidError("a secret's contents must be a dict of str to str")
    for key, value in env.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise InvalidError(f"invalid secret key {key!r}: a non-empty str without '='")
        if not isinstance(value, str) or "\0" in value:
            raise InvalidError(f"the value of secret key {key!r} must be a str without NUL")
    return env


def missing_keys(env: dict[str, str], required: Any) -> list[str]:
    return [key for key in required or () if key not in env]


def _missing_error(name: str, missing: list[str]) -> NotFoundError:
    return NotFoundError(f"secret {name!r} is missing required key(s): {', '.join(missing)}")


# -- handlers ------------------------------------------------------------------------------------
def secret_create(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    """A named secret; ``overwrite`` replaces the contents of an existing one in place."""
    store = plane.store
    env = check_env(params.get("env") or {})
    name = params["name"]
    now = time.time()
    if params.get("overwrite"):
        with store.engine.begin() as conn:
            done = conn.execute(
                update(secrets)
                .where(secrets.c.name == name)
                .values(data=encrypt(env), updated_at=now)
            )
        if done.rowcount:
            return SECRETS.lookup(store, name)
    return SECRETS.create(
        store,
        name,
        bool(params.get("allow_existing")),
        data=encrypt(env),
        updated_at=now,
        app_id=None,
    )


def secret_ephemeral(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    """A secret made in code, stored for the run of ``app_id``."""
    store = plane.store
    env = check_env(params.get("env") or {})
    _sweep(store)
    return SECRETS.create(
        store, None, data=encrypt(env), updated_at=time.time(), app_id=params.get("app_id")
    )


def _sweep(store: Any) -> None:
    """Delete secrets made in code whose app has stopped (or, with no app, that are old)."""
    from strato.core.schema import apps

    stopped = select(apps.c.id).where(apps.c.state == "stopped")
    with store.engine.begin() as conn:
        conn.execute(delete(secrets).where(secrets.c.name.is_(None), secrets.c.app_id.in_(stopped)))
        conn.execute(
            delete(secrets).where(
                secrets.c.name.is_(None),
                secrets.c.app_id.is_(None),
                secrets.c.created_at < time.time() - UNOWNED_RETENTION_S,
            )
        )


def secret_lookup(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    """A named secret, checked for its ``required_keys``."""
    store = plane.store
    found = SECRETS.lookup(store, params["name"])
    required = params.get("required_keys")
    if required:
        missing = missing_keys(decrypt(SECRETS.get(store, found["id"])), required)
        if missing:
            raise _missing_error(params["name"], missing)
    return found


def secret_list(plane: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Named secrets with their key names (never their values)."""
    rows = SECRETS.list(plane.store, params.get("max_objects"), params.get("created_before"))
    return [
        {**public(row), "updated_at": row.updated_at, "keys": sorted(decrypt(row))} for row in rows
    ]


def secret_delete(plane: Any, params: dict[str, Any]) -> bool:
    return SECRETS.delete(
        plane.store,
        name=params.get("name"),
        object_id=params.get("id"),
        allow_missing=bool(params.get("allow_missing")),
    )


def secret_info(plane: Any, params: dict[str, Any]) -> dict[str, Any]:
    return public(SECRETS.get(plane.store, params["id"]))


RPC.update(
    {
        "secret.create": secret_create,
        "secret.ephemeral": secret_ephemeral,
        "secret.lookup": secret_lookup,
        "secret.list": secret_list,
        "secret.delete": secret_delete,
        "secret.info": secret_info,
    }
)


# -- containers ----------------------------------------------------------------------------------
def prepare(plane: Any, pool: Any, spec: Any) -> None:
    """Put the function's secrets into the container's environment, in order."""
    refs = ((pool.definition.get("objects") or {}).get("secrets")) or []
    for ref in refs:
        if not isinstance(ref, dict) or ref.get("kind") != "secret":
            continue
        label = ref.get("name") or "from code"
        try:
            row = SECRETS.get(plane.store, ref["id"])
        except NotFoundError:
            raise NotFoundError(f"secret {label!r} no longer exists") from None
        env = decrypt(row)
        missing = missing_keys(env, ref.get("required_keys"))
        if missing:
            raise _missing_error(label, missing)
        spec.secret_env.update(env)


PREPARERS.append(prepare)
