"""The Python-package steps of ``strato.Image`` (pip, uv, Poetry, micromamba).

A mixin of :class:`strato.image.Image`: each method validates its arguments and adds one
layer through ``Image._extend``; requirement files and lock files become the layer's local
files, so their content is part of its identity.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from strato._image_args import (
    check_bool,
    check_gpu,
    check_local_path,
    check_packages,
    check_secrets,
    check_str,
    check_str_list,
    is_local,
    pip_args,
)
from strato._image_files import FileSource
from strato.exception import InvalidError

if TYPE_CHECKING:
    from strato.image import Image


class PackageSteps:
    """Installing Python (and conda) packages into an image."""

    if TYPE_CHECKING:

        def _extend(self, method: str, args: dict[str, Any], **fields: Any) -> Image: ...

    def pip_install(
        self,
        *packages: str | list[str],
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        secrets: Sequence[Any] = (),
        gpu: Any = None,
    ) -> Image:
        """Install Python packages with pip (``uv pip`` on the local provider)."""
        method = "pip_install"
        args = {
            "packages": check_packages(method, packages),
            **pip_args(method, find_links, index_url, extra_index_url, pre, extra_options),
            "gpu": check_gpu(method, gpu),
        }
        if not args["packages"]:
            return self
        return self._extend(
            method, args, force_build=force_build, secrets=check_secrets(method, secrets)
        )

    def uv_pip_install(
        self,
        *packages: str | list[str],
        requirements: list[str] | None = None,
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        uv_version: str | None = None,
        secrets: Sequence[Any] = (),
        gpu: Any = None,
    ) -> Image:
        """Install Python packages (and ``requirements`` files) with ``uv pip install``."""
        method = "uv_pip_install"
        files = check_str_list(method, "requirements", requirements, optional=True)
        paths = [check_local_path(method, "requirements", f, "file") for f in files]
        args = {
            "packages": check_packages(method, packages),
            "requirements": files or None,
            **pip_args(method, find_links, index_url, extra_index_url, pre, extra_options),
            "uv_version": check_str(method, "uv_version", uv_version, optional=True),
            "gpu": check_gpu(method, gpu),
        }
        sources = tuple(FileSource(p, f"requirements-{i}.txt") for i, p in enumerate(paths))
        return self._extend(
            method,
            args,
            sources=sources,
            force_build=force_build,
            secrets=check_secrets(method, secrets),
        )

    def pip_install_from_requirements(
        self,
        requirements_txt: str,
        find_links: str | None = None,
        *,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        secrets: Sequence[Any] = (),
        gpu: Any = None,
    ) -> Image:
        """Install the packages a local ``requirements.txt`` lists (its content is hashed)."""
        method = "pip_install_from_requirements"
        path = check_local_path(method, "requirements_txt", requirements_txt, "file")
        args = {
            "path": str(requirements_txt),
            **pip_args(method, find_links, index_url, extra_index_url, pre, extra_options),
            "gpu": check_gpu(method, gpu),
        }
        return self._extend(
            method,
            args,
            sources=(FileSource(path, "requirements.txt"),),
            force_build=force_build,
            secrets=check_secrets(method, secrets),
        )

    def pip_install_from_pyproject(
        self,
        pyproject_toml: str,
        optional_dependencies: list[str] | None = None,
        *,
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        secrets: Sequence[Any] = (),
        gpu: Any = None,
    ) -> Image:
        """Install a local ``pyproject.toml``'s dependencies (and the optional groups named)."""
        method = "pip_install_from_pyproject"
        path = check_local_path(method, "pyproject_toml", pyproject_toml, "file")
        groups = check_str_list(
            method, "optional_dependencies", optional_dependencies, optional=True
        )

        def resolve() -> dict[str, Any]:
            import tomllib

            with open(path, "rb") as fh:
                project = tomllib.load(fh).get("project") or {}
            wanted = list(project.get("dependencies") or [])
            optional = project.get("optional-dependencies") or {}
            for group in groups:
                if group not in optional:
                    raise InvalidError(
                        f"Image.{method}(): {pyproject_toml} has no optional dependency group "
                        f"{group!r} (it has: {', '.join(optional) or 'none'})"
                    )
                wanted += optional[group]
            return {"packages": sorted(wanted)}

        args = {
            "path": str(pyproject_toml),
            "optional_dependencies": groups,
            **pip_args(method, find_links, index_url, extra_index_url, pre, extra_options),
            "gpu": check_gpu(method, gpu),
        }
        return self._extend(
            method,
            args,
            force_build=force_build,
            secrets=check_secrets(method, secrets),
            resolve=resolve,
        )

    def uv_sync(
        self,
        uv_project_dir: str = "./",
        *,
        force_build: bool = False,
        groups: list[str] | None = None,
        extras: list[str] | None = None,
        frozen: bool = True,
        extra_options: str = "",
        uv_version: str | None = None,
        secrets: Sequence[Any] = (),
        gpu: Any = None,
    ) -> Image:
        """Install a uv project's locked dependencies (its ``pyproject.toml`` and ``uv.lock``;
        the project itself is not installed: add its code with ``add_local_python_source``)."""
        method = "uv_sync"
        folder = check_local_path(method, "uv_project_dir", uv_project_dir, "directory")
        pyproject = os.path.join(folder, "pyproject.toml")
        if is_local() and not os.path.isfile(pyproject):
            raise InvalidError(f"Image.{method}(): no pyproject.toml in {uv_project_dir}")
        lock = os.path.join(folder, "uv.lock")
        check_bool(method, "frozen", frozen)

        def resolve() -> dict[str, Any]:
            return {"has_lock": os.path.isfile(lock)}

        def sources() -> tuple[FileSource, ...]:
            found = [FileSource(pyproject, "pyproject.toml")]
            if os.path.isfile(lock):
                found.append(FileSource(lock, "uv.lock"))
            return tuple(found)

        args = {
            "path": str(uv_project_dir),
            "groups": check_str_list(method, "groups", groups, optional=True),
            "extras": check_str_list(method, "extras", extras, optional=True),
            "frozen": frozen,
            "extra_options": check_str(method, "extra_options", extra_options) or None,
            "uv_version": check_str(method, "uv_version", uv_version, optional=True),
            "gpu": check_gpu(method, gpu),
        }
        return self._extend(
            method,
            args,
            force_build=force_build,
            secrets=check_secrets(method, secrets),
            resolve=resolve,
            source_fn=sources,
        )

    def poetry_install_from_file(
        self,
        poetry_pyproject_toml: str,
        poetry_lockfile: str | None = None,
        *,
        ignore_lockfile: bool = False,
        force_build: bool = False,
        with_: list[str] | None = None,
        without: list[str] | None = None,
        only: list[str] | None = None,
        poetry_version: str | None = "latest",
        old_installer: bool = False,
        secrets: Sequence[Any] = (),
        gpu: Any = None,
    ) -> Image:
        """Install a Poetry project's dependencies (not the project itself)."""
        method = "poetry_install_from_file"
        pyproject = check_local_path(method, "poetry_pyproject_toml", poetry_pyproject_toml, "file")
        check_bool(method, "ignore_lockfile", ignore_lockfile)
        check_bool(method, "old_installer", old_installer)
        sources = [FileSource(pyproject, "pyproject.toml")]
        if not ignore_lockfile:
            if poetry_lockfile is None:
                lock = os.path.join(os.path.dirname(pyproject), "poetry.lock")
                if is_local() and not os.path.isfile(lock):
                    raise InvalidError(
                        f"Image.{method}(): no poetry.lock next to {poetry_pyproject_toml}: "
                        "pass `poetry_lockfile` or `ignore_lockfile=True`"
                    )
            else:
                lock = check_local_path(method, "poetry_lockfile", poetry_lockfile, "file")
            sources.append(FileSource(lock, "poetry.lock"))
        args = {
            "path": str(poetry_pyproject_toml),
            "with_": check_str_list(method, "with_", with_, optional=True),
            "without": check_str_list(method, "without", without, optional=True),
            "only": check_str_list(method, "only", only, optional=True),
            "poetry_version": check_str(method, "poetry_version", poetry_version, optional=True),
            "gpu": check_gpu(method, gpu),
        }
        return self._extend(
            method,
            args,
            sources=tuple(sources),
            force_build=force_build,
            secrets=check_secrets(method, secrets),
        )

    def micromamba_install(
        self,
        *packages: str | list[str],
        spec_file: str | None = None,
        channels: list[str] | None = None,
        force_build: bool = False,
        secrets: Sequence[Any] = (),
        gpu: Any = None,
    ) -> Image:
        """Install conda packages with micromamba (on a ``micromamba()`` base)."""
        method = "micromamba_install"
        sources: tuple[FileSource, ...] = ()
        if spec_file is not None:
            sources = (
                FileSource(check_local_path(method, "spec_file", spec_file, "file"), "spec.txt"),
            )
        args = {
            "packages": check_packages(method, packages),
            "spec_file": str(spec_file) if spec_file is not None else None,
            "channels": check_str_list(method, "channels", channels, optional=True),
            "gpu": check_gpu(method, gpu),
        }
        return self._extend(
            method,
            args,
            sources=sources,
            force_build=force_build,
            secrets=check_secrets(method, secrets),
        )
