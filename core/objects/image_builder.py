"""Building an image on this machine, for the local provider: a cached venv per layer.

Every layer that changes the Python environment gets a directory of its own under
``<data dir>/images/layers/<chain hash>/``: the base layer a fresh ``uv venv``, each later one
a copy of the previous environment with its step applied (``uv pip install``, a build
function...). A directory is complete once its ``layer.json`` exists, and it is found again by
the hash of the chain up to it, so a build reruns only from the first layer whose hash has no
directory: change the last layer and only the last layer runs. Local files are copied into
their layer's ``files/`` (the container sees the copies, read-only, so an edit after the build
cannot change a built image); ``env``/``workdir`` and the like build nothing.

Each layer is built under a file lock, so two builds of the same image (two functions, two
processes on one data dir) build it once. A build that fails removes its partial directory.

Host-unsafe steps are refused unless ``[images] allow_host_commands = true``:
``run_commands`` then runs in the layer's scratch dir as the current user; ``apt_install``
also needs root; the bases the local provider cannot reproduce (``from_registry``,
``from_dockerfile``, ``micromamba``) become a plain venv of the requested Python, with a notice.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from strato._dockerfile import render_dockerfile
from strato._image_files import hash_file
from strato._image_layers import BASE_OPS, FILE_OPS, METADATA_OPS, describe, image_id
from strato.core.objects import image_python
from strato.core.objects.image_steps import BuildFailed, Log, run_step

#: Ops that need a container runtime to reproduce faithfully.
_FOREIGN = frozenset(
    {"from_registry", "from_dockerfile", "micromamba", "micromamba_install", "dockerfile_commands"}
)


class MissingFiles(Exception):
    """Local files the control plane cannot read (the client must upload them)."""

    def __init__(self, shas: list[str]) -> None:
        super().__init__(f"{len(shas)} local files must be uploaded")
        self.shas = shas


@dataclass(frozen=True)
class Settings:
    """The operator's ``[images]`` settings in ``config.toml``."""

    allow_host_commands: bool = False
    python_downloads: bool = True

    @classmethod
    def from_config(cls) -> Settings:
        from strato.config import load_settings

        section = load_settings().get("images") or {}
        return cls(
            allow_host_commands=bool(section.get("allow_host_commands", False)),
            python_downloads=bool(section.get("python_downloads", True)),
        )


@cache
def agent_version() -> str:
    """What a base layer's installed agent depends on: rebuilt when it changes."""
    import strato

    return f"{strato.__version__}|{'|'.join(image_python.runtime_requirements(pinned=True))}"


@cache
def critical_paths() -> list[str]:
    """Host folders a container cannot lose: shadowing them would hide its own Python."""
    import strato

    paths = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(strato.__file__))}
    from strato.config import data_dir

    paths.add(str(data_dir()))
    return [os.path.realpath(p) for p in paths]


def placeable(target: str, workdir: str) -> str | None:
    """Why the local sandbox cannot put a file at ``target`` (None when it can).

    The sandbox's root is a fresh tmpfs with the host's top-level folders bound read-only:
    a mount point can be created at a new top-level path (``/app``, ``/data``), on the fresh
    ``/tmp``, in the container's (writable) working directory, or over a path that already
    exists on the host (which it then shadows), but not inside a host folder."""
    real = os.path.realpath(target)
    top = "/" + real.strip("/").split("/", 1)[0]
    if real != "/" and not os.path.lexists(top):
        return None
    if real == "/tmp" or real.startswith("/tmp/"):
        return None
    work = os.path.realpath(workdir)
    if real.startswith(work.rstrip("/") + "/"):
        return None
    if os.path.lexists(target):
        for path in critical_paths():
            if path == real or path.startswith(real.rstrip("/") + "/"):
                return f"{target} holds what containers need on this host ({path})"
        return None
    return (
        f"{target} does not exist on this host and {top} is the host's, read-only: use a new "
        "top-level path (like /app), a path under /tmp or the working directory"
    )


@dataclass
class LocalImage:
    """What a built image gives its local containers, and how the build went."""

    image_id: str
    hash: str
    state: str = "ready"  # ready | refused
    python: str | None = None
    venv: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    mounts: list[dict[str, Any]] = field(default_factory=list)
    python_path: list[str] = field(default_factory=list)
    dockerfile: str = ""
    notices: list[str] = field(default_factory=list)
    message: str | None = None
    layer: int | None = None
    step: str | None = None
    layers: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    #: the Dockerfile's build context: [path in the context, source path, sha256, mode] per
    #: file (the content is the upload kept under its hash, else the source; see
    #: :func:`context_archive`)
    context: list[list[Any]] = field(default_factory=list)

    def as_record(self) -> dict[str, Any]:
        return dict(self.__dict__)


class LocalBuilder:
    """Builds images as layered virtual environments under ``root``."""

    def __init__(self, root: Path, settings: Settings | None = None) -> None:
        self.root = root
        self.layers_dir = root / "layers"
        self.blobs_dir = root / "blobs"
        self.settings = settings or Settings.from_config()

    # -- where things are ----------------------------------------------------------------------
    def layer_dir(self, chain_hash: str) -> Path:
        return self.layers_dir / chain_hash[:32]

    def blob_path(self, sha: str) -> Path:
        return self.blobs_dir / sha

    def _complete(self, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        """The layer's record if its directory is complete and current."""
        marker = self.layer_dir(payload["hash"]) / "layer.json"
        try:
            record: dict[str, Any] = json.loads(marker.read_text())
        except (OSError, ValueError):
            return None
        if payload["op"] in BASE_OPS and record.get("agent") != agent_version():
            return None
        return record

    # -- planning ------------------------------------------------------------------------------
    def refusal(self, payload: Mapping[str, Any]) -> str | None:
        """Why the local provider will not run this layer's step (None: it will)."""
        op = payload["op"]
        where = _config_path()
        allow = f"set `[images] allow_host_commands = true` in {where} to allow it"
        cloud = "or run the function on a cloud provider, where Docker builds the image"
        if op == "apt_install":
            if not self.settings.allow_host_commands:
                return (
                    "apt_install installs system packages on this machine: refused; "
                    f"{allow} (as root), {cloud}"
                )
            if os.geteuid() != 0:
                return (
                    "apt_install needs root on the local provider (the control plane runs as "
                    f"uid {os.geteuid()}), {cloud}"
                )
        if op == "run_commands" and not self.settings.allow_host_commands:
            return f"run_commands runs shell commands on this machine: refused; {allow}, {cloud}"
        if op in _FOREIGN and not self.settings.allow_host_commands:
            return (
                f"{op} needs a container runtime, and the local provider builds images as "
                f"Python virtual environments: refused; {allow} (the step is then approximated "
                f"with a notice), {cloud}"
            )
        return None

    def context_files(self, payloads: list[dict[str, Any]]) -> list[list[Any]]:
        """The build context of the image's Dockerfile (see :attr:`LocalImage.context`);
        keeps each ``run_function`` layer's pickled call as an upload, by its hash."""
        from strato._dockerfile import RUN_FUNCTION_SCRIPT, context_dir

        entries: list[list[Any]] = []
        for index, payload in enumerate(payloads):
            folder = context_dir(index, payload["op"])
            prefix = f"{folder}/" if folder else ""
            for source, dest, sha, mode in payload["files"]:
                entries.append([prefix + dest, source, sha, mode])
            if payload["op"] == "run_function":
                for name, data in (
                    ("payload.pkl", payload["extra"]["payload"]),
                    ("run_function.py", RUN_FUNCTION_SCRIPT.encode()),
                ):
                    sha = hashlib.sha256(data).hexdigest()
                    blob = self.blob_path(sha)
                    if not blob.is_file():
                        blob.parent.mkdir(parents=True, exist_ok=True)
                        partial = blob.with_name(f"{sha}.{os.getpid()}.part")
                        partial.write_bytes(data)
                        os.replace(partial, blob)
                    entries.append([prefix + name, "", sha, 0o644])
        return entries

    def missing_files(self, payloads: list[dict[str, Any]]) -> list[str]:
        """The hashes of files of any layer that are neither uploaded nor readable here (a
        remote client uploads them, so that a cloud machine can get the whole context)."""
        missing = []
        for payload in payloads:
            for source, _dest, sha, _mode in payload["files"]:
                if not self.blob_path(sha).is_file() and not os.path.isfile(source):
                    missing.append(sha)
        return missing

    def all_cached(self, payloads: list[dict[str, Any]], force: bool) -> bool:
        """Whether :meth:`build` would build nothing (it then takes milliseconds)."""
        if force or self.missing_files(payloads):
            return False
        for payload in payloads:
            if self.refusal(payload):
                return True
            if payload["op"] in METADATA_OPS or payload["op"] == "dockerfile_commands":
                continue
            if payload.get("force") or self._complete(payload) is None:
                return False
        return True

    # -- building ------------------------------------------------------------------------------
    def build(
        self,
        payloads: list[dict[str, Any]],
        *,
        force: bool = False,
        secrets_env: Mapping[int, dict[str, str]] | None = None,
        log: Log | None = None,
    ) -> LocalImage:
        """Build (or find) every layer; return what containers need. Raises
        :class:`BuildFailed` or :class:`MissingFiles`."""
        say: Log = log or (lambda _kind, _text: None)
        started = time.monotonic()
        chain = payloads[-1]["hash"]
        missing = self.missing_files(payloads)
        if missing:
            raise MissingFiles(missing)
        image = LocalImage(
            image_id(chain),
            chain,
            dockerfile=render_dockerfile(payloads),
            context=self.context_files(payloads),
        )
        total = len(payloads)
        rebuilding = force
        for index, payload in enumerate(payloads):
            step = describe(payload)
            where = f"[{index + 1}/{total}] {step}"
            report = {"index": index + 1, "op": payload["op"], "step": step, "seconds": 0.0}
            image.layers.append(report)
            refusal = self.refusal(payload)
            if refusal is not None:
                report["status"] = "refused"
                image.state, image.message = "refused", refusal
                image.layer, image.step = index + 1, step
                say("step", f"{where}: refused on the local provider")
                break
            op = payload["op"]
            if op in METADATA_OPS or op == "dockerfile_commands":
                report["status"] = "applied"
                self._apply_metadata(payload, image)
                say("step", f"{where}: applied")
                continue
            record = None
            if not (rebuilding or payload.get("force")):
                record = self._complete(payload)
            if record is not None:
                report["status"] = "cached"
                say("step", f"{where}: cached")
            else:
                say("step", f"{where}: building")
                layer_started = time.monotonic()
                try:
                    record = self._build_layer(index, payload, image, secrets_env, say)
                except (BuildFailed, MissingFiles) as exc:
                    if isinstance(exc, BuildFailed):
                        exc.layer, exc.step = index + 1, step
                    raise
                report["seconds"] = round(time.monotonic() - layer_started, 3)
                report["status"] = "built"
                rebuilding = True  # what comes after was built on the old layer: redo it
                say("step", f"{where}: built in {report['seconds']:.1f}s")
            self._apply_layer(payload, record, image)
        for note in self._placement_notes(image):
            image.notices.append(note)
        for note in image.notices:
            say("note", f"note: {note}")
        image.seconds = round(time.monotonic() - started, 3)
        return image

    def _apply_metadata(self, payload: Mapping[str, Any], image: LocalImage) -> None:
        op, args = payload["op"], payload["args"]
        if op == "env":
            image.env.update(args["vars"])
        elif op == "workdir":
            path = args["path"]
            image.workdir = (
                path if path.startswith("/") else os.path.join(image.workdir or "/root", path)
            )
        elif op == "dockerfile_commands":
            image.notices.append(
                "dockerfile_commands are not reproduced on the local provider (they render "
                "into the Dockerfile for clouds)"
            )

    def _apply_layer(
        self, payload: Mapping[str, Any], record: Mapping[str, Any], image: LocalImage
    ) -> None:
        op, args = payload["op"], payload["args"]
        folder = self.layer_dir(payload["hash"])
        if record.get("notice"):
            image.notices.append(record["notice"])
        if op in FILE_OPS:
            files = folder / "files"
            if op == "add_local_python_source":
                image.python_path.append(str(files))
            elif op == "add_local_file":
                source = files / payload["files"][0][1] if payload["files"] else files
                image.mounts.append(
                    {"source": str(source), "target": args["remote_path"], "read_only": True}
                )
            else:
                image.mounts.append(
                    {"source": str(files), "target": args["remote_path"], "read_only": True}
                )
        elif op != "apt_install":
            image.venv = str(folder / "venv")
            image.python = str(folder / "venv" / "bin" / "python")

    def _placement_notes(self, image: LocalImage) -> list[str]:
        notes = []
        workdir = image.workdir or os.getcwd()
        if image.workdir and not os.path.isdir(image.workdir):
            if not image.workdir.startswith("/tmp/"):
                notes.append(
                    f"workdir {image.workdir} does not exist on this host: local containers "
                    "run in the control plane's working directory instead"
                )
                workdir = os.getcwd()
        for mount in image.mounts:
            why = placeable(mount["target"], workdir)
            if why is not None:
                notes.append(f"local containers will not see {mount['target']}: {why}")
        return notes

    @contextmanager
    def _locked(self, folder: Path) -> Iterator[None]:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with open(str(folder) + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _build_layer(
        self,
        index: int,
        payload: Mapping[str, Any],
        image: LocalImage,
        secrets_env: Mapping[int, dict[str, str]] | None,
        say: Log,
    ) -> dict[str, Any]:
        folder = self.layer_dir(payload["hash"])
        with self._locked(folder):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            try:
                op = payload["op"]
                if payload["files"]:
                    where = folder / ("files" if op in FILE_OPS else "context")
                    self._materialize(payload["files"], where)
                if op in FILE_OPS:
                    (folder / "files").mkdir(exist_ok=True)
                    extra: dict[str, Any] = {}
                else:
                    env = {**image.env, **(secrets_env or {}).get(index, {})}
                    downloads = self.settings.python_downloads
                    extra = run_step(payload, folder, image.venv, env, downloads, say)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            record = {
                "op": payload["op"],
                "hash": payload["hash"],
                "built_at": time.time(),
                **extra,
            }
            if payload["op"] in BASE_OPS:
                record["agent"] = agent_version()
            (folder / "layer.json").write_text(json.dumps(record))
        return record

    def _materialize(self, entries: list[list[Any]], folder: Path) -> None:
        """Copy a layer's files from where the client named them (or from uploads), checking
        each against the hash the client computed."""
        missing = []
        for source, dest, sha, mode in entries:
            target = folder / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            blob = self.blob_path(sha)
            origin = blob if blob.is_file() else Path(source)
            try:
                shutil.copyfile(origin, target)
            except OSError:
                missing.append(sha)
                continue
            if hash_file(target) != sha:
                target.unlink()
                missing.append(sha)
                continue
            os.chmod(target, mode & 0o555)
        if missing:
            raise MissingFiles(missing)


def context_archive(builder: LocalBuilder, record: Mapping[str, Any]) -> bytes:
    """A gzip tar of an image's Dockerfile and build context, for a machine to build."""
    from strato.exception import InvalidError

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as archive:
        dockerfile = str(record.get("dockerfile") or "").encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size, info.mode = len(dockerfile), 0o644
        archive.addfile(info, io.BytesIO(dockerfile))
        for path, source, sha, mode in record.get("context") or []:
            blob = builder.blob_path(sha)
            origin = blob if blob.is_file() else Path(source)
            try:
                data = origin.read_bytes()
            except OSError:
                data = b""
            if hashlib.sha256(data).hexdigest() != sha:
                raise InvalidError(
                    f"the image file {source or path!r} changed or disappeared since the image "
                    f"was built: run the app again to rebuild it"
                )
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode & 0o777
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _config_path() -> str:
    from strato.config import config_dir

    return str(config_dir() / "config.toml")
