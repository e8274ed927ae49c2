"""Images on the control plane: builds, their cache, and what a container of an image gets.

Clients send an image's layer payloads (see :mod:`strato._image_layers`) with the
``image.build`` RPC. When every layer is already in the cache the answer comes at once (a few
stat calls on the event loop); otherwise a worker thread runs :class:`LocalBuilder` and the
client follows its log with ``image.build_log`` (a long poll), so the loop never waits on a
build. A finished build is recorded in the ``images`` table: the image's Dockerfile, and for
local containers its Python, environment, working directory, mounts and import path.

``prepare`` then fills each container's spec from that record: the Dockerfile for cloud
start-up scripts, and for local containers the image's interpreter, variables and files. An
image with a step refused on the local provider fails its local containers with that reason,
and still runs on clouds.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
import time
import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgpack
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Column, Float, Integer, LargeBinary, String, Table, delete, insert, select

from strato._image_build import ImageBuildError
from strato._image_files import hash_file
from strato._image_layers import image_id
from strato.core.objects import PREPARERS, ROUTERS, RPC
from strato.core.objects.image_builder import (
    BuildFailed,
    LocalBuilder,
    LocalImage,
    MissingFiles,
    context_archive,
    placeable,
)
from strato.core.schema import metadata
from strato.exception import InvalidError, NotFoundError

images_table = Table(
    "images",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # ready | refused
    Column("python", String(500), nullable=True),
    Column("layers", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("built_at", Float, nullable=False),
    Column("record", LargeBinary, nullable=False),  # msgpack of LocalImage
)

#: What a record gives containers (the rest describes the build that made it).
_CONTAINER_FIELDS = (
    "state",
    "python",
    "venv",
    "env",
    "workdir",
    "mounts",
    "python_path",
    "dockerfile",
    "context",
    "notices",
    "message",
    "layer",
    "step",
)
#: How long a finished build's log stays readable by a client that is still following it.
KEEP_FINISHED_BUILD_S = 600.0
#: How long one ``image.build_log`` call waits for new lines.
LOG_POLL_S = 2.0


def images_root() -> Path:
    """Where images are cached: ``<data dir>/images``."""
    from strato.config import data_dir

    return Path(data_dir()) / "images"


class Build:
    """One build in progress (or just finished), as clients follow it."""

    def __init__(self, image: str, total: int) -> None:
        self.id = f"ib-{secrets.token_hex(8)}"
        self.image_id = image
        self.total = total
        self.lines: list[list[str]] = []
        self.state = "building"
        self.result: dict[str, Any] = {}

    def log(self, kind: str, text: str) -> None:
        self.lines.append([kind, text])  # list.append is atomic: the loop reads concurrently

    def answer(self, after: int) -> dict[str, Any]:
        lines = self.lines[after:]
        return {
            "build_id": self.id,
            "image_id": self.image_id,
            "state": self.state,
            "lines": lines,
            "next": after + len(lines),
            **self.result,
        }


class ImageService:
    """The images of one control plane: records, running builds, uploads."""

    def __init__(self, plane: Any) -> None:
        self.plane = plane
        self.root = images_root()
        self.records: dict[str, dict[str, Any]] = {}
        self.builds: dict[str, Build] = {}
        self.active: dict[str, Build] = {}

    # -- records -------------------------------------------------------------------------------
    def record(self, image: str) -> dict[str, Any] | None:
        """A built image's record, from memory or the store."""
        found = self.records.get(image)
        if found is None:
            with self.plane.store.engine.connect() as conn:
                row = conn.execute(
                    select(images_table.c.record).where(images_table.c.id == image)
                ).first()
            if row is not None:
                found = self.records[image] = dict(msgpack.unpackb(row[0]))
        return found

    def _save(self, image: LocalImage) -> dict[str, Any]:
        """Record a build; a build that changes nothing containers see (a cached one) keeps
        the record, and the report, of the build that made it."""
        record: dict[str, Any] = image.as_record()
        known = self.record(image.image_id)
        if known is not None and all(known.get(k) == record[k] for k in _CONTAINER_FIELDS):
            return known
        self.records[image.image_id] = record
        with self.plane.store.engine.begin() as conn:
            conn.execute(delete(images_table).where(images_table.c.id == image.image_id))
            conn.execute(
                insert(images_table).values(
                    id=image.image_id,
                    hash=image.hash,
                    state=image.state,
                    python=image.python,
                    layers=len(image.layers),
                    seconds=image.seconds,
                    built_at=time.time(),
                    record=msgpack.packb(record),
                )
            )
        return record

    # -- builds --------------------------------------------------------------------------------
    def start(self, params: dict[str, Any]) -> dict[str, Any]:
        """``image.build``: answer from the cache, or start a build and answer with its id."""
        payloads = params.get("layers")
        if not isinstance(payloads, list) or not payloads:
            raise InvalidError("image.build needs the image's layers")
        force = bool(params.get("force"))
        image = image_id(payloads[-1]["hash"])
        running = self.active.get(image)
        if running is not None:
            return running.answer(0)
        builder = LocalBuilder(self.root)
        if builder.all_cached(payloads, force):
            built = builder.build(payloads)
            self._save(built)
            lines = [["note", f"note: {n}"] for n in built.notices]
            return {
                "build_id": None,
                "image_id": image,
                "state": built.state,
                "lines": lines + _refusal_lines(built),
                "next": 0,
                **_result(built),
            }
        secrets_env = self._secrets_env(payloads, params.get("app_id"))
        build = Build(image, len(payloads))
        self.active[image] = self.builds[build.id] = build
        build.log("step", f"building image {image} ({len(payloads)} layers)")
        loop = asyncio.get_running_loop()
        threading.Thread(
            target=self._run,
            args=(build, builder, payloads, force, secrets_env, loop),
            name=f"image-build-{image}",
            daemon=True,
        ).start()
        return build.answer(0)

    def _run(
        self,
        build: Build,
        builder: LocalBuilder,
        payloads: list[dict[str, Any]],
        force: bool,
        secrets_env: dict[int, dict[str, str]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """On a worker thread: build, then hand the outcome to the event loop."""
        outcome: tuple[str, Any]
        try:
            outcome = (
                "ok",
                builder.build(payloads, force=force, secrets_env=secrets_env, log=build.log),
            )
        except MissingFiles as exc:
            outcome = ("missing", exc.shas)
        except BuildFailed as exc:
            outcome = ("failed", exc)
        except Exception as exc:  # noqa: BLE001 - reported to the client, never lost
            outcome = ("failed", BuildFailed(f"the builder failed: {exc!r}"))
        try:
            loop.call_soon_threadsafe(self._finish, build, outcome)
        except RuntimeError:
            pass  # the control plane stopped meanwhile; the layers built are cached anyway

    def _finish(self, build: Build, outcome: tuple[str, Any]) -> None:
        kind, value = outcome
        if kind == "ok":
            self._save(value)
            for line in _refusal_lines(value):
                build.log(*line)
            build.result = _result(value)
            build.state = value.state
        elif kind == "missing":
            build.result = {"missing": value}
            build.state = "missing_files"
        else:
            where = f" at layer {value.layer}/{build.total} ({value.step})" if value.layer else ""
            message = f"image {build.image_id} failed to build{where}: {value}"
            build.log("step", f"failed{where}")
            build.result = {"message": message, "layer": value.layer, "step": value.step}
            build.state = "failed"
        self.active.pop(build.image_id, None)
        asyncio.get_running_loop().call_later(
            KEEP_FINISHED_BUILD_S, self.builds.pop, build.id, None
        )

    async def follow(self, params: dict[str, Any]) -> dict[str, Any]:
        """``image.build_log``: the lines after ``after``, waiting up to 2 s for some."""
        build = self.builds.get(str(params.get("build_id")))
        if build is None:
            raise NotFoundError(f"no image build {params.get('build_id')!r} is running")
        after = int(params.get("after") or 0)
        deadline = time.monotonic() + LOG_POLL_S
        while build.state == "building" and len(build.lines) <= after:
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.05)
        return build.answer(after)

    def _secrets_env(
        self, payloads: list[dict[str, Any]], app_id: Any
    ) -> dict[int, dict[str, str]]:
        """The environment each layer's ``secrets=`` give its build step, from the secrets'
        own container preparers (run here, on the loop, as they expect)."""
        from strato.plugins.provider import ContainerSpec

        found: dict[int, dict[str, str]] = {}
        for index, payload in enumerate(payloads):
            refs = (payload.get("extra") or {}).get("secrets")
            if not refs:
                continue
            pool = SimpleNamespace(
                id="image-build",
                app_id=app_id,
                name="image build",
                app_name=None,
                options={},
                definition={"objects": {"image": None, "secrets": refs, "volumes": {}}},
            )
            spec = ContainerSpec("image-build", str(app_id or ""), "", "image build", "", "")
            for prepare_other in PREPARERS:
                if prepare_other is not prepare:
                    prepare_other(self.plane, pool, spec)
            found[index] = {**spec.env, **spec.secret_env}
        return found

    async def put_file(self, params: dict[str, Any]) -> dict[str, Any]:
        """``image.put_file``: keep an uploaded local file under its content hash."""
        sha, data = str(params.get("sha256") or ""), params.get("data")
        if len(sha) != 64 or not isinstance(data, bytes):
            raise InvalidError("image.put_file needs `sha256` and the file's bytes as `data`")
        target = LocalBuilder(self.root).blob_path(sha)

        def write() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f"{sha}.{secrets.token_hex(4)}.part")
            partial.write_bytes(data)
            if hash_file(partial) != sha:
                partial.unlink()
                raise InvalidError(
                    "an uploaded file does not match its hash (was it edited during the "
                    "build?): run again"
                )
            os.replace(partial, target)

        await asyncio.to_thread(write)
        return {"ok": True}


def _result(image: LocalImage) -> dict[str, Any]:
    return {
        "layers": image.layers,
        "seconds": image.seconds,
        "notices": image.notices,
        "message": image.message,
        "layer": image.layer,
        "step": image.step,
    }


def _refusal_lines(image: LocalImage) -> list[list[str]]:
    if image.state != "refused":
        return []
    return [
        [
            "step",
            f"warning: image {image.image_id} cannot run on the local provider: layer "
            f"{image.layer}/{len(image.layers)} ({image.step}): {image.message}",
        ]
    ]


_services: weakref.WeakKeyDictionary[Any, ImageService] = weakref.WeakKeyDictionary()


def service(plane: Any) -> ImageService:
    """The image service of ``plane`` (one per control plane)."""
    found = _services.get(plane)
    if found is None:
        found = _services[plane] = ImageService(plane)
    return found


def list_images(store: Any) -> list[dict[str, Any]]:
    """Every recorded image, newest first (for ``strato image list``)."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(
                images_table.c.id,
                images_table.c.state,
                images_table.c.python,
                images_table.c.layers,
                images_table.c.seconds,
                images_table.c.built_at,
            ).order_by(images_table.c.built_at.desc())
        ).all()
    return [dict(row._mapping) for row in rows]


# -- containers ------------------------------------------------------------------------------
def prepare(plane: Any, pool: Any, spec: Any) -> None:
    """Give a container its image: the Dockerfile for clouds; Python, env, files locally."""
    ref = ((pool.definition or {}).get("objects") or {}).get("image")
    if not ref:
        return
    image = ref["image_id"]
    record = service(plane).record(image)
    if record is None:
        raise NotFoundError(
            f"image {image} was never built on this control plane: run the app again to build it"
        )
    spec.dockerfile = record["dockerfile"]
    spec.env = {**record["env"], **spec.env, "STRATO_IMAGE_ID": image}
    if ref.get("definition"):
        spec.env["STRATO_IMAGE_DEFINITION"] = ref["definition"]
    if spec.remote:
        return  # the machine builds the Dockerfile (see strato.plugins.startup)
    if record["state"] == "refused":
        raise ImageBuildError(
            f"image {image} cannot run on the local provider: layer {record['layer']}/"
            f"{len(record['layers'])} ({record['step']}): {record['message']}",
            image_id=image,
            layer=record["layer"],
            step=record["step"],
            refused=True,
        )
    venv, python = record["venv"], record["python"]
    if not python or not os.path.exists(python):
        raise ImageBuildError(
            f"image {image}'s environment is gone from the cache ({venv}): run the app again "
            "to rebuild it",
            image_id=image,
        )
    spec.python = python
    spec.env["VIRTUAL_ENV"] = venv
    spec.env["PATH"] = f"{venv}/bin{os.pathsep}{spec.env.get('PATH') or os.environ.get('PATH', '')}"
    workdir = record["workdir"]
    if workdir and not os.path.isdir(workdir) and workdir.startswith("/tmp/"):
        os.makedirs(workdir, exist_ok=True)
    if workdir and os.path.isdir(workdir):
        spec.workdir = workdir
    spec.python_path.extend(record["python_path"])
    # the sandbox mounts a fresh /tmp: bring back the image's own files when they live there
    if venv.startswith("/tmp/"):
        spec.mounts.append({"source": venv, "target": venv, "read_only": True})
    running_in = spec.workdir or os.getcwd()
    for mount in record["mounts"]:
        if placeable(mount["target"], running_in) is None:
            spec.mounts.append(dict(mount))


def _build(plane: Any, params: dict[str, Any]) -> Any:
    return service(plane).start(params)


def _build_log(plane: Any, params: dict[str, Any]) -> Any:
    return service(plane).follow(params)


def _put_file(plane: Any, params: dict[str, Any]) -> Any:
    return service(plane).put_file(params)


def _get(plane: Any, params: dict[str, Any]) -> Any:
    record = service(plane).record(str(params.get("image_id")))
    if record is None:
        raise NotFoundError(f"no image {params.get('image_id')!r} was built here")
    return record


RPC["image.build"] = _build
RPC["image.build_log"] = _build_log
RPC["image.put_file"] = _put_file
RPC["image.get"] = _get
PREPARERS.append(prepare)

router = APIRouter()


@router.get("/images")
async def _list_route(request: Request) -> dict[str, Any]:
    return {"images": list_images(request.app.state.plane.store)}


@router.get("/images/{image}")
async def _get_route(image: str, request: Request) -> dict[str, Any]:
    record = service(request.app.state.plane).record(image)
    if record is None:
        raise NotFoundError(f"no image {image!r} was built on this control plane")
    return record


@router.get("/images/{image}/context.tar.gz")
async def _context_route(image: str, request: Request) -> Response:
    """The image's Dockerfile and build context, for a cloud machine's start-up script."""
    images = service(request.app.state.plane)
    record = images.record(image)
    if record is None:
        raise NotFoundError(f"no image {image!r} was built on this control plane")
    data = await asyncio.to_thread(context_archive, LocalBuilder(images.root), record)
    return Response(data, media_type="application/gzip")


ROUTERS.append(router)
