"""Argument checks for ``strato.Image`` methods: each error names the method and argument.

Also the helpers that read local files lazily (a Dockerfile's ``COPY`` sources, a build
function's identity): definitions are re-imported inside containers, where those files may
not exist, so nothing here runs at import time unless the caller is local.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from strato._image_files import FilePatternMatcher, FileSource, as_ignore
from strato.exception import InvalidError


class _AutoDockerignore:
    """``ignore``'s default for Dockerfile contexts: the context's ``.dockerignore``, if any."""

    def __repr__(self) -> str:
        return "AUTO_DOCKERIGNORE"


AUTO_DOCKERIGNORE: Any = _AutoDockerignore()
_PYTHON_VERSION = re.compile(r"3\.\d{1,2}(\.\d{1,2})?")


def is_local() -> bool:
    return "STRATO_CONTAINER_ID" not in os.environ


# -- argument checks: every error names the method and the argument ---------------------------
def fail(method: str, argument: str, expected: str, value: Any) -> InvalidError:
    return InvalidError(
        f"Image.{method}(): `{argument}` must be {expected}, got {type(value).__name__} ({value!r})"
    )


def check_str(method: str, argument: str, value: Any, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise fail(method, argument, "a str", value)
    return value


def check_bool(method: str, argument: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(method, argument, "a bool", value)
    return value


def check_str_list(method: str, argument: str, value: Any, optional: bool = False) -> list[str]:
    if value is None and optional:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise fail(method, argument, "a list of str", value)
    for item in value:
        if not isinstance(item, str):
            raise fail(method, argument, "a list of str", item)
    return list(value)


def check_packages(method: str, packages: tuple[Any, ...], argument: str = "packages") -> list[str]:
    """Positional packages, each a str or a list of str; sorted, so order does not matter."""
    flat: list[str] = []
    for item in packages:
        if isinstance(item, str):
            flat.append(item)
        elif isinstance(item, list | tuple):
            flat.extend(check_str_list(method, argument, item))
        else:
            raise fail(method, argument, "str or lists of str", item)
    return sorted(p.strip() for p in flat if p.strip())


def check_secrets(method: str, secrets: Any) -> tuple[Any, ...]:
    if isinstance(secrets, str) or not isinstance(secrets, Sequence):
        raise fail(method, "secrets", "a list of strato.Secret", secrets)
    for secret in secrets:
        if not hasattr(secret, "_strato_hydrate"):
            raise fail(method, "secrets", "a list of strato.Secret", secret)
    return tuple(secrets)


def check_gpu(method: str, gpu: Any) -> Any:
    if gpu is None or isinstance(gpu, str):
        return gpu
    if isinstance(gpu, list | tuple) and all(isinstance(g, str) for g in gpu):
        return list(gpu)
    raise fail(method, "gpu", "a GPU spec str (e.g. 'A100') or a list of them", gpu)


def check_remote_path(method: str, value: Any) -> str:
    if isinstance(value, PurePosixPath):
        value = str(value)
    if not isinstance(value, str):
        raise fail(method, "remote_path", "a str", value)
    if not value.startswith("/"):
        raise InvalidError(
            f"Image.{method}(): `remote_path` must be an absolute path in the container, "
            f"got {value!r}"
        )
    return value


def check_local_path(method: str, argument: str, value: Any, kind: str) -> str:
    if not isinstance(value, str | Path):
        raise fail(method, argument, "a str or Path", value)
    path = os.path.abspath(os.path.expanduser(str(value)))
    if is_local():  # a container re-importing the definition may not have the files
        exists = os.path.isfile(path) if kind == "file" else os.path.isdir(path)
        if not exists:
            raise InvalidError(f"Image.{method}(): `{argument}` {value!s} is not a {kind}")
    return path


def check_python_version(method: str, value: Any) -> str:
    if value is None:
        return f"{sys.version_info.major}.{sys.version_info.minor}"
    if not isinstance(value, str) or not _PYTHON_VERSION.fullmatch(value):
        raise fail(method, "python_version", "a version str such as '3.12'", value)
    return value


def pip_args(
    method: str,
    find_links: Any,
    index_url: Any,
    extra_index_url: Any,
    pre: Any,
    extra_options: Any,
) -> dict[str, Any]:
    args = {
        "find_links": check_str(method, "find_links", find_links, optional=True),
        "index_url": check_str(method, "index_url", index_url, optional=True),
        "extra_index_url": check_str(method, "extra_index_url", extra_index_url, optional=True),
        "pre": check_bool(method, "pre", pre),
        "extra_options": check_str(method, "extra_options", extra_options),
    }
    return {k: v for k, v in args.items() if v not in (None, False, "")}


def function_identity(fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """What decides whether a build function's layer changed (as Modal: its source, its
    arguments and the simple global values it refers to)."""

    def resolve() -> dict[str, Any]:
        from strato._serialization import dumps

        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            source = fn.__code__.co_code.hex()
        names = set(fn.__code__.co_names)
        simple = (str, int, float, bool, bytes, type(None))
        global_values = {
            name: repr(value)
            for name, value in sorted(getattr(fn, "__globals__", {}).items())
            if name in names and isinstance(value, simple)
        }
        return {
            "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
            "arguments_sha256": hashlib.sha256(dumps((tuple(args), dict(kwargs)))).hexdigest(),
            "globals": global_values,
        }

    return resolve


def context_ignore(context: str, ignore: Any) -> Callable[[Path], bool] | None:
    if ignore is AUTO_DOCKERIGNORE:
        dockerignore = os.path.join(context, ".dockerignore")
        return FilePatternMatcher.from_file(dockerignore) if os.path.isfile(dockerignore) else None
    return as_ignore(ignore)


def dockerfile_sources(
    text: str, context: str, ignore: Callable[[Path], bool] | None
) -> tuple[FileSource, ...]:
    """The context files a Dockerfile's ``COPY``/``ADD`` lines read (not ``--from`` stages,
    not URLs), kept at their place in the context."""
    import glob
    import json
    import shlex

    found: list[FileSource] = []
    logical = re.sub(r"\\\n", " ", text)
    for line in logical.splitlines():
        match = re.match(r"\s*(COPY|ADD)\s+(.*)", line, re.IGNORECASE)
        if not match:
            continue
        rest = match.group(2).strip()
        flags: list[str] = []
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            flags.append(flag)
            rest = rest.strip()
        if any(f.startswith("--from") for f in flags):
            continue
        try:
            tokens = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        except ValueError:
            continue
        for pattern in tokens[:-1]:
            if "://" in pattern:
                continue
            for path in sorted(glob.glob(os.path.join(context, pattern))):
                rel = os.path.relpath(path, context).replace(os.sep, "/")
                dest = "" if rel == "." else rel
                found.append(FileSource(path, dest, ignore, ignore_prefix=dest))
    return tuple(found)
