"""``strato.Image``: the environment a function's containers run in, as an immutable builder.

Start from a base (``Image.debian_slim()``, ``from_registry``, ``from_dockerfile``,
``micromamba``) and chain steps; every method returns a new Image and leaves its receiver as
it was. Each step is a layer whose content hash covers its arguments and, for local files,
their contents; an image's identity (:attr:`Image.object_id`) is the hash of its chain, so a
change rebuilds that layer and the ones after it, never the ones before.

Where the image runs decides how it is built:

- on the local provider the control plane builds it as a virtual environment with ``uv``,
  one cached environment per layer, and starts containers with its Python, its environment
  variables, its working directory and its local files at their container paths;
- a cloud machine builds :meth:`Image.dockerfile` with Docker.

Steps a host cannot honour safely (``apt_install``, ``run_commands``, foreign base images) are
refused on the local provider unless the operator allows them in ``config.toml``::

    [images]
    allow_host_commands = true
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from strato._image_args import (
    AUTO_DOCKERIGNORE,
    check_bool,
    check_gpu,
    check_local_path,
    check_packages,
    check_python_version,
    check_remote_path,
    check_secrets,
    check_str,
    check_str_list,
    context_ignore,
    dockerfile_sources,
    fail,
    function_identity,
    is_local,
)
from strato._image_build import ImageBuildError, run_build
from strato._image_files import (
    NON_PYTHON_FILES,
    FilePatternMatcher,
    FileSource,
    as_ignore,
    python_module_sources,
)
from strato._image_layers import (
    Layer,
    definition_hash,
    describe,
    image_id,
    payloads,
)
from strato._image_packages import PackageSteps
from strato.exception import InvalidError
from strato.function import _Dual

__all__ = ["Image", "ImageBuildError", "FilePatternMatcher", "NON_PYTHON_FILES"]


class Image(PackageSteps):
    """A container image definition: a base plus layers, each method returning a new Image.

    Build one with a constructor such as :meth:`Image.debian_slim`, not with ``Image()``.
    """

    def __init__(self, layers: tuple[Layer, ...] = ()) -> None:
        self._layers = layers

    def __repr__(self) -> str:
        steps = " -> ".join(layer.op for layer in self._layers) or "empty"
        return f"Image({steps})"

    # -- building blocks -------------------------------------------------------------------
    def _extend(
        self,
        method: str,
        args: dict[str, Any],
        *,
        sources: tuple[FileSource, ...] = (),
        force_build: bool = False,
        secrets: tuple[Any, ...] = (),
        **fields: Any,
    ) -> Image:
        if any(layer.copies_later for layer in self._layers) and not (
            method in ("add_local_file", "add_local_dir", "add_local_python_source")
            and not args.get("copy")
        ):
            raise InvalidError(
                f"Image.{method}() comes after an add_local_* step with copy=False, whose files "
                "are added when a container starts: put add_local_* steps last, or pass "
                "copy=True to include the files in a layer that later steps can use"
            )
        layers = self._layers
        if not layers:
            layers = (Layer("debian_slim", {"python_version": check_python_version(method, None)}),)
        layer = Layer(
            method,
            {k: v for k, v in args.items() if v is not None},
            sources=sources,
            force_build=check_bool(method, "force_build", force_build),
            secrets=secrets,
            **fields,
        )
        return Image((*layers, layer))

    @staticmethod
    def _base(method: str, args: dict[str, Any], force_build: bool, **fields: Any) -> Image:
        layer = Layer(
            method,
            {k: v for k, v in args.items() if v is not None},
            force_build=check_bool(method, "force_build", force_build),
            **fields,
        )
        return Image((layer,))

    # -- base images -----------------------------------------------------------------------
    @staticmethod
    def debian_slim(python_version: str | None = None, force_build: bool = False) -> Image:
        """Debian slim with Python (default: this interpreter's ``major.minor``)."""
        version = check_python_version("debian_slim", python_version)
        return Image._base("debian_slim", {"python_version": version}, force_build)

    @staticmethod
    def micromamba(python_version: str | None = None, force_build: bool = False) -> Image:
        """A Micromamba base image, for conda packages (``micromamba_install``)."""
        version = check_python_version("micromamba", python_version)
        return Image._base("micromamba", {"python_version": version}, force_build)

    @staticmethod
    def from_registry(
        tag: str,
        secret: Any = None,
        *,
        setup_dockerfile_commands: Sequence[str] = (),
        force_build: bool = False,
        add_python: str | None = None,
        **kwargs: Any,
    ) -> Image:
        """An image from a container registry such as Docker Hub (``python:3.11-slim``)."""
        return Image._registry(
            "from_registry", tag, secret, setup_dockerfile_commands, force_build, add_python
        )

    @staticmethod
    def from_gcp_artifact_registry(
        tag: str,
        secret: Any = None,
        *,
        setup_dockerfile_commands: Sequence[str] = (),
        force_build: bool = False,
        add_python: str | None = None,
        **kwargs: Any,
    ) -> Image:
        """An image from Google Artifact Registry (``secret`` holds ``SERVICE_ACCOUNT_JSON``)."""
        return Image._registry(
            "from_gcp_artifact_registry",
            tag,
            secret,
            setup_dockerfile_commands,
            force_build,
            add_python,
        )

    @staticmethod
    def from_aws_ecr(
        tag: str,
        secret: Any = None,
        *,
        setup_dockerfile_commands: Sequence[str] = (),
        force_build: bool = False,
        add_python: str | None = None,
        **kwargs: Any,
    ) -> Image:
        """An image from AWS Elastic Container Registry (``secret`` holds AWS credentials)."""
        return Image._registry(
            "from_aws_ecr", tag, secret, setup_dockerfile_commands, force_build, add_python
        )

    @staticmethod
    def _registry(
        method: str,
        tag: Any,
        secret: Any,
        setup_dockerfile_commands: Any,
        force_build: bool,
        add_python: Any,
    ) -> Image:
        tag = check_str(method, "tag", tag)
        if not tag:
            raise InvalidError(f"Image.{method}(): `tag` must not be empty")
        if secret is not None:
            check_secrets(method, [secret])
        args = {
            "tag": tag,
            "setup_dockerfile_commands": check_str_list(
                method, "setup_dockerfile_commands", setup_dockerfile_commands
            ),
            "add_python": check_python_version(method, add_python) if add_python else None,
            "registry": {"from_gcp_artifact_registry": "gcp", "from_aws_ecr": "aws"}.get(method),
        }
        secrets = (secret,) if secret is not None else ()
        return Image._base("from_registry", args, force_build, secrets=secrets)

    @staticmethod
    def from_dockerfile(
        path: str | Path,
        *,
        context_mount: Any = None,
        force_build: bool = False,
        context_dir: str | Path | None = None,
        secrets: Sequence[Any] = (),
        gpu: Any = None,
        add_python: str | None = None,
        build_args: dict[str, str] | None = None,
        ignore: Any = AUTO_DOCKERIGNORE,
    ) -> Image:
        """An image built from a local Dockerfile; its ``COPY``/``ADD`` sources are read from
        ``context_dir`` (default: the Dockerfile's folder) and hashed into its identity."""
        method = "from_dockerfile"
        dockerfile = check_local_path(method, "path", path, "file")
        context = (
            check_local_path(method, "context_dir", context_dir, "directory")
            if context_dir is not None
            else os.path.dirname(dockerfile)
        )
        build_args = dict(build_args or {})
        for key, value in build_args.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise fail(method, "build_args", "a dict of str to str", {key: value})
        matcher = context_ignore(context, ignore)

        def resolve() -> dict[str, Any]:
            return {"dockerfile": Path(dockerfile).read_text()}

        def sources() -> tuple[FileSource, ...]:
            return dockerfile_sources(Path(dockerfile).read_text(), context, matcher)

        args = {
            "path": str(path),
            "build_args": build_args,
            "add_python": check_python_version(method, add_python) if add_python else None,
            "gpu": check_gpu(method, gpu),
        }
        return Image._base(
            method,
            args,
            force_build,
            secrets=check_secrets(method, secrets),
            resolve=resolve,
            source_fn=sources,
        )

    # -- system steps ----------------------------------------------------------------------
    def apt_install(
        self,
        *packages: str | list[str],
        force_build: bool = False,
        secrets: Sequence[Any] = (),
        gpu: Any = None,
    ) -> Image:
        """Install Debian packages with ``apt-get``."""
        method = "apt_install"
        args = {"packages": check_packages(method, packages), "gpu": check_gpu(method, gpu)}
        return self._extend(
            method, args, force_build=force_build, secrets=check_secrets(method, secrets)
        )

    def run_commands(
        self,
        *commands: str | list[str],
        secrets: Sequence[Any] = (),
        gpu: Any = None,
        force_build: bool = False,
    ) -> Image:
        """Run shell commands as build steps, in order."""
        method = "run_commands"
        flat: list[str] = []
        for command in commands:
            flat.extend(
                [command]
                if isinstance(command, str)
                else check_str_list(method, "commands", command)
            )
        args = {"commands": flat, "gpu": check_gpu(method, gpu)}
        return self._extend(
            method, args, force_build=force_build, secrets=check_secrets(method, secrets)
        )

    def dockerfile_commands(
        self,
        *dockerfile_commands: str | list[str],
        context_files: dict[str, str] | None = None,
        secrets: Sequence[Any] = (),
        gpu: Any = None,
        context_mount: Any = None,
        context_dir: str | Path | None = None,
        force_build: bool = False,
        ignore: Any = AUTO_DOCKERIGNORE,
    ) -> Image:
        """Extend the image with raw Dockerfile instructions (``COPY`` reads ``context_dir``,
        default: the current directory)."""
        method = "dockerfile_commands"
        flat: list[str] = []
        for command in dockerfile_commands:
            flat.extend(
                [command]
                if isinstance(command, str)
                else check_str_list(method, "dockerfile_commands", command)
            )
        context = (
            check_local_path(method, "context_dir", context_dir, "directory")
            if context_dir is not None
            else os.getcwd()
        )
        extra_files = []
        for remote, local in (context_files or {}).items():
            path = check_local_path(method, "context_files", local, "file")
            extra_files.append(FileSource(path, check_str(method, "context_files", remote) or ""))
        matcher = context_ignore(context, ignore)
        text = "\n".join(flat)

        def sources() -> tuple[FileSource, ...]:
            return tuple(extra_files) + dockerfile_sources(text, context, matcher)

        args = {"commands": flat, "gpu": check_gpu(method, gpu)}
        return self._extend(
            method,
            args,
            force_build=force_build,
            secrets=check_secrets(method, secrets),
            source_fn=sources,
        )

    def run_function(
        self,
        raw_f: Callable[..., Any],
        *,
        secrets: Sequence[Any] = (),
        volumes: dict[Any, Any] | None = None,
        network_file_systems: dict[Any, Any] | None = None,
        gpu: Any = None,
        cpu: float | None = None,
        memory: int | None = None,
        timeout: int = 60 * 60,
        cloud: str | None = None,
        region: str | Sequence[str] | None = None,
        force_build: bool = False,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        include_source: bool = True,
    ) -> Image:
        """Run ``raw_f(*args, **kwargs)`` as a build step, in the image built so far.

        The layer's identity is the function's source, its arguments and the simple global
        values it names. On the local provider what it writes into the image's environment
        (``sys.prefix``) is kept; other files it writes are not.
        """
        method = "run_function"
        if not callable(raw_f) or not hasattr(raw_f, "__code__"):
            raise fail(method, "raw_f", "a function", raw_f)
        if volumes or network_file_systems:
            raise InvalidError(
                f"Image.{method}(): `volumes` and `network_file_systems` are not supported in "
                "Strato's image builds yet; download into the image or mount at run time"
            )
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
            raise fail(method, "timeout", "a positive int (seconds)", timeout)
        if isinstance(args, str) or not isinstance(args, Sequence):
            raise fail(method, "args", "a sequence", args)
        kwargs = dict(kwargs or {})
        call_args = tuple(args)

        def extra() -> dict[str, Any]:
            import pickle

            from strato._serialization import dumps, dumps_by_value

            data = pickle.dumps((dumps_by_value(raw_f), dumps((call_args, kwargs))))
            return {"payload": data}

        layer_args = {
            "name": getattr(raw_f, "__qualname__", raw_f.__name__),
            "timeout": timeout,
            "gpu": check_gpu(method, gpu),
            "cpu": cpu,
            "memory": memory,
        }
        return self._extend(
            method,
            layer_args,
            force_build=force_build,
            secrets=check_secrets(method, secrets),
            resolve=function_identity(raw_f, call_args, kwargs),
            extra=extra,
        )

    # -- metadata --------------------------------------------------------------------------
    def env(self, vars: dict[str, str]) -> Image:  # noqa: A002 - Modal's name
        """Set environment variables for later build steps and for the function."""
        if not isinstance(vars, Mapping):
            raise fail("env", "vars", "a dict of str to str", vars)
        for key, value in vars.items():
            if not isinstance(key, str) or not key:
                raise fail("env", "vars", "a dict with non-empty str keys", key)
            if not isinstance(value, str):
                raise InvalidError(
                    f"Image.env(): `vars` values must be str; {key!r} is "
                    f"{type(value).__name__} ({value!r})"
                )
        return self._extend("env", {"vars": dict(vars)})

    def workdir(self, path: str | PurePosixPath) -> Image:
        """Set the working directory for later build steps and for the function."""
        if isinstance(path, PurePosixPath):
            path = str(path)
        if not isinstance(path, str) or not path:
            raise fail("workdir", "path", "a non-empty str or PurePosixPath", path)
        return self._extend("workdir", {"path": path})

    def entrypoint(self, entrypoint_commands: list[str]) -> Image:
        """Set the image's ``ENTRYPOINT`` (used by Docker; functions start the same way)."""
        commands = check_str_list("entrypoint", "entrypoint_commands", entrypoint_commands)
        return self._extend("entrypoint", {"commands": commands})

    def shell(self, shell_commands: list[str]) -> Image:
        """Set the shell Docker runs ``RUN`` steps with."""
        return self._extend(
            "shell", {"commands": check_str_list("shell", "shell_commands", shell_commands)}
        )

    def cmd(self, cmd: list[str]) -> Image:
        """Set the image's default command (``CMD``); functions ignore it."""
        return self._extend("cmd", {"commands": check_str_list("cmd", "cmd", cmd)})

    # -- local files -----------------------------------------------------------------------
    def add_local_file(
        self, local_path: str | Path, remote_path: str, *, copy: bool = False
    ) -> Image:
        """Put a local file at ``remote_path`` in the container (a trailing ``/`` keeps the
        file's name). ``copy=True`` builds it into a layer later steps can use."""
        method = "add_local_file"
        path = check_local_path(method, "local_path", local_path, "file")
        remote = check_remote_path(method, remote_path)
        if remote.endswith("/"):
            remote += os.path.basename(path)
        args = {
            "local_path": str(local_path),
            "remote_path": remote,
            "copy": check_bool(method, "copy", copy),
        }
        return self._extend(method, args, sources=(FileSource(path, os.path.basename(path)),))

    def add_local_dir(
        self,
        local_path: str | Path,
        remote_path: str,
        *,
        copy: bool = False,
        ignore: Sequence[str] | Callable[[Path], bool] = (),
    ) -> Image:
        """Put a local directory's files under ``remote_path`` in the container; ``ignore``
        takes dockerignore patterns or a predicate on paths relative to the directory."""
        method = "add_local_dir"
        path = check_local_path(method, "local_path", local_path, "directory")
        remote = check_remote_path(method, remote_path)
        args = {
            "local_path": str(local_path),
            "remote_path": remote,
            "copy": check_bool(method, "copy", copy),
        }
        matcher = as_ignore(ignore)
        return self._extend(method, args, sources=(FileSource(path, "", matcher),))

    def add_local_python_source(
        self,
        *modules: str,
        copy: bool = False,
        ignore: Sequence[str] | Callable[[Path], bool] = NON_PYTHON_FILES,
    ) -> Image:
        """Make locally importable modules or packages importable in the container, by name.

        Only ``.py`` files are taken by default (never dot-files or ``__pycache__``)."""
        method = "add_local_python_source"
        if not modules:
            raise InvalidError(f"Image.{method}() needs at least one module name")
        names = [check_str(method, "modules", m) or "" for m in modules]
        matcher = as_ignore(ignore)
        sources: list[FileSource] = []
        if is_local():
            for name in names:
                sources.extend(python_module_sources(name, matcher))
        args = {"modules": names, "copy": check_bool(method, "copy", copy)}
        return self._extend(method, args, sources=tuple(sources))

    # -- using the image -------------------------------------------------------------------
    @contextmanager
    def imports(self) -> Iterator[None]:
        """Import packages only the image has: here an ``ImportError`` is ignored; in a
        container of this image it is raised."""
        try:
            yield
        except ImportError:
            if is_local():
                return
            if os.environ.get("STRATO_IMAGE_DEFINITION") == self._definition_id():
                raise

    def _definition_id(self) -> str:
        return definition_hash(self._layers)

    def _payloads(self, hashed: bool = True) -> list[dict[str, Any]]:
        return payloads(self._layers, hashed)

    @property
    def object_id(self) -> str:
        """The image's id: ``im-`` and the start of the hash of its layers (reads and hashes
        its local files)."""
        return image_id(self._payloads()[-1]["hash"])

    def dockerfile(self) -> str:
        """The image as Dockerfile text (what cloud machines build)."""
        from strato._dockerfile import render_dockerfile

        return render_dockerfile(self._payloads(hashed=False))

    def write_build_context(self, path: str | Path) -> Path:
        """Write the Dockerfile and the local files it copies into the folder ``path``, ready
        for ``docker build path``; returns the folder."""
        from strato._dockerfile import write_build_context

        return write_build_context(self._payloads(hashed=False), path)

    def layers(self) -> list[str]:
        """One line per layer, as the build progress names them."""
        return [describe(p) for p in self._payloads(hashed=False)]

    # -- hydration -------------------------------------------------------------------------
    def _strato_hydrate(self, client: Any, app_id: str | None) -> dict[str, Any]:
        """Build the image on the control plane (printing progress) and return its reference."""
        report = self._build_with(client, app_id, force=False, out=sys.stderr)
        return {"image_id": report["image_id"], "definition": self._definition_id()}

    def _build_with(
        self, client: Any, app_id: str | None, *, force: bool, out: Any
    ) -> dict[str, Any]:
        found = self._payloads()
        for layer, payload in zip(self._layers, found, strict=True):
            if layer.secrets:
                payload["extra"]["secrets"] = [
                    s._strato_hydrate(client, app_id) for s in layer.secrets
                ]
        return run_build(client, found, app_id=app_id, force=force, out=out)

    def _build_blocking(
        self, app: Any = None, *, force: bool = False, quiet: bool = False
    ) -> Image:
        """Build the image now on the control plane of ``app`` (if running) or of this
        process, printing progress unless ``quiet``; returns the image. ``force`` rebuilds
        every layer."""
        client = getattr(app, "_client", None)
        if client is None:
            from strato.client import Client

            client = Client.from_env()
        out = None if quiet else sys.stderr
        self._build_with(client, getattr(app, "app_id", None), force=force, out=out)
        return self

    async def _build_async(
        self, app: Any = None, *, force: bool = False, quiet: bool = False
    ) -> Image:
        import asyncio

        return await asyncio.to_thread(self._build_blocking, app, force=force, quiet=quiet)

    build = _Dual(_build_blocking, _build_async)
