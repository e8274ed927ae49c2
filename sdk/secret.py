"""``strato.Secret``: environment variables for the containers of the functions that use it.

``@app.function(secrets=[...])`` (or ``strato.App(secrets=[...])``) injects each secret's
key-value pairs as environment variables, later secrets overriding earlier ones. Named
secrets live in the control plane, encrypted (``strato secret create``); secrets made in code
(:meth:`Secret.from_dict`, :meth:`~Secret.from_local_environ`, :meth:`~Secret.from_dotenv`)
are sent, encrypted there, for the app's run. Values are never sent back to a client, nor
pickled with a Secret object, nor shown in its ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from strato.dict import (
    ObjectManager,
    Op,
    _Call,
    _hydrate,
    _hydrate_async,
    _NamedObject,
    check_name,
    live,
)
from strato.exception import InvalidError
from strato.function import _Dual


def _in_container() -> bool:
    return "STRATO_CONTAINER_ID" in os.environ


def _checked(env: dict[str, Any]) -> dict[str, str]:
    """Modal's rule: str values, None values left out. Errors name the key only."""
    if not isinstance(env, dict):
        raise InvalidError(f"a secret is made from a dict, got {type(env).__name__}")
    out: dict[str, str] = {}
    for key, value in env.items():
        if not isinstance(key, str) or not key or "=" in key:
            raise InvalidError(f"invalid secret key {key!r}: a non-empty str without '='")
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidError(
                f"the value of secret key {key!r} must be a str or None, got {type(value).__name__}"
            )
        out[key] = value
    return out


class Secret(_NamedObject):
    """Key-value pairs set as environment variables in a function's containers."""

    _kind = "secret"
    objects: ClassVar[ObjectManager]

    def __init__(
        self,
        name: str | None = None,
        object_id: str | None = None,
        *,
        create_if_missing: bool = False,
        client: Any = None,
        required_keys: Sequence[str] = (),
        contents: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        super().__init__(name, object_id, create_if_missing=create_if_missing, client=client)
        self._required_keys = list(required_keys)
        self._contents = contents

    # -- constructors ----------------------------------------------------------------------
    @staticmethod
    def from_name(
        name: str, *, environment_name: str | None = None, required_keys: Sequence[str] = ()
    ) -> Secret:
        """A named secret, looked up when an app using it starts; each of ``required_keys``
        must be in it, else the app fails with an error naming the missing keys."""
        if isinstance(required_keys, str) or not all(isinstance(k, str) for k in required_keys):
            raise InvalidError("required_keys must be a list of str")
        return Secret(check_name("secret", name), required_keys=required_keys)

    @staticmethod
    def from_dict(env_dict: dict[str, str | None] | None = None) -> Secret:
        """A secret with these contents (``None`` values are left out)."""
        env = _checked(dict(env_dict or {}))
        return Secret(contents=lambda: dict(env))

    @staticmethod
    def from_local_environ(env_keys: list[str]) -> Secret:
        """A secret of these variables of this process's environment (empty in a container,
        which has them already)."""
        if _in_container():
            return Secret.from_dict({})
        missing = [key for key in env_keys if key not in os.environ]
        if missing:
            raise InvalidError(
                f"local environment variable(s) {', '.join(missing)} not set,"
                " for Secret.from_local_environ"
            )
        return Secret.from_dict({key: os.environ[key] for key in env_keys})

    @staticmethod
    def from_dotenv(
        path: str | os.PathLike[str] | None = None, *, filename: str = ".env"
    ) -> Secret:
        """A secret of the variables in a ``.env`` file, read when the app starts.

        The file is looked for in ``path`` (a directory, or a file's directory; default: the
        current directory) and then in each directory above it.
        """

        def contents() -> dict[str, str]:
            found = find_dotenv(path, filename)
            return {} if found is None else read_dotenv(found)

        return Secret(contents=contents)

    # -- use by an app ---------------------------------------------------------------------
    def _lookup_call(self) -> _Call:
        if self._name is not None:
            return _Call(
                "secret.lookup",
                {"name": self._name, "required_keys": self._required_keys},
                False,
            )
        env = _checked(self._contents() if self._contents is not None else {})
        return _Call("secret.ephemeral", {"env": env, "app_id": None}, False)

    def _strato_hydrate(self, client: Any, app_id: str | None) -> dict[str, Any]:
        """The reference a function definition keeps: an id, never the values."""
        if self._name is not None:
            lookup = self._lookup_call()
            info = client.rpc(lookup.method, lookup.params)
        else:
            env = _checked(self._contents() if self._contents is not None else {})
            info = client.rpc("secret.ephemeral", {"env": env, "app_id": app_id})
        return {
            "kind": "secret",
            "id": info["id"],
            "name": self._name,
            "required_keys": self._required_keys,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        # the contents stay behind (a container gets them as environment variables)
        return (_restore, (self._name, self._object_id, self._required_keys))

    hydrate = _Dual(_hydrate, _hydrate_async)
    info = live(_NamedObject._op_info)


def _restore(name: str | None, object_id: str | None, required_keys: list[str]) -> Secret:
    return Secret(name, object_id, required_keys=required_keys)


def _op_create(
    name: str,
    env_dict: dict[str, str],
    *,
    allow_existing: bool = False,
    environment_name: str | None = None,
) -> Op:
    """Create a named secret with these contents; an existing name is an error unless
    ``allow_existing`` (and then its contents are left as they are)."""
    check_name("secret", name)
    params = {"name": name, "env": _checked(dict(env_dict)), "allow_existing": allow_existing}
    yield _Call("secret.create", params, False)


Secret.objects = ObjectManager(Secret, create=_op_create)


# -- .env files ----------------------------------------------------------------------------------
def find_dotenv(path: str | os.PathLike[str] | None, filename: str = ".env") -> Path | None:
    """The first ``filename`` in ``path``'s directory or above it."""
    start = Path(path) if path is not None else Path.cwd()
    start = start.resolve()
    if start.is_file():
        start = start.parent
    for directory in (start, *start.parents):
        candidate = directory / filename
        if candidate.is_file():
            return candidate
    return None


def read_dotenv(path: str | os.PathLike[str]) -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file: ``export`` prefixes, quotes and comments allowed.

    Double-quoted values take backslash escapes (``\\n``, ``\\"``); single-quoted ones are
    literal; an unquoted value ends at `` #``. Lines without ``=`` are skipped.
    """
    env: dict[str, str] = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            value = (
                value[1:-1]
                .replace("\\n", "\n")
                .replace("\\t", "\t")
                .replace('\\"', '"')
                .replace("\\\\", "\\")
            )
        else:
            value = value.split(" #", 1)[0].rstrip()
        env[key] = value
    return env


__all__ = ["Secret"]
