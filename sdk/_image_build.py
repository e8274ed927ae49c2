"""Asking the control plane to build an image, and showing the build as it goes.

The client sends the image's layer payloads (``image.build``); an image whose layers are all
cached is answered at once. Otherwise the plane builds on a worker thread and the client
long-polls the build's log (``image.build_log``), printing each step (``[2/5] pip_install
...: building``, ``cached``) and the installer's own output. When the plane cannot read a
local file at the path the client named (a control plane on another machine), it answers
with the missing content hashes and the client uploads them (``image.put_file``) and asks
again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, Any

from strato.exception import RemoteError


class ImageBuildError(RemoteError):
    """An image could not be built, or cannot run where it was sent.

    Attributes:
        image_id: the image's id (``im-...``).
        layer: the 1-based position of the layer that failed or was refused, where known.
        step: that layer's description (``pip_install nonexistent-pkg``).
        refused: True when the step was refused by policy (a host-unsafe step on the local
            provider), not failed by its installer.
    """

    def __init__(
        self,
        message: str,
        *,
        image_id: str | None = None,
        layer: int | None = None,
        step: str | None = None,
        refused: bool = False,
    ) -> None:
        super().__init__(message)
        self.image_id = image_id
        self.layer = layer
        self.step = step
        self.refused = refused

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (str(self), dict(self.__dict__)))


def _rebuild(message: str, state: dict[str, Any]) -> ImageBuildError:
    error = ImageBuildError(message)
    error.__dict__.update(state)
    return error


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def force_from_env() -> bool:
    """``STRATO_FORCE_BUILD=1`` (or Modal's ``MODAL_FORCE_BUILD=1``) rebuilds every layer."""
    return _truthy("STRATO_FORCE_BUILD") or _truthy("MODAL_FORCE_BUILD")


class Progress:
    """Prints a build's log lines: steps flush left, installer output indented."""

    def __init__(self, out: IO[str] | None) -> None:
        self.out = out

    def show(self, lines: list[list[str]]) -> None:
        if self.out is None:
            return
        for kind, text in lines:
            if kind == "out":
                self.out.write(f"    {text.rstrip()}\n")
            else:
                self.out.write(f"[strato] {text.rstrip()}\n")
        self.out.flush()


def run_build(
    client: Any,
    payloads: list[dict[str, Any]],
    *,
    app_id: str | None,
    force: bool,
    out: IO[str] | None,
    sources: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Build the image on the control plane, printing progress to ``out`` (None: silent), and
    return its report; raise :class:`ImageBuildError` when a layer fails. ``sources`` maps
    content hashes to the local files to upload when the plane asks (default: the paths the
    payloads name)."""
    progress = Progress(out)
    if sources is None:
        sources = {sha: src for p in payloads for src, _dest, sha, _mode in p["files"]}
    params = {"layers": payloads, "app_id": app_id, "force": force or force_from_env()}
    uploaded: set[str] = set()
    built = False
    while True:
        answer = client.rpc("image.build", params)
        built = built or answer.get("build_id") is not None
        answer = _follow(client, answer, progress)
        missing = [sha for sha in answer.get("missing") or [] if sha not in uploaded]
        if answer["state"] != "missing_files" or not missing:
            break
        upload_files(client, sources, missing)
        uploaded.update(missing)
    if answer["state"] in ("failed", "missing_files"):
        raise ImageBuildError(
            answer.get("message") or f"image {answer.get('image_id')} failed to build",
            image_id=answer.get("image_id"),
            layer=answer.get("layer"),
            step=answer.get("step"),
        )
    if built:
        progress.show([["step", f"image {summary(answer)}"]])
    return answer


def _follow(client: Any, answer: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Print a running build's log until it finishes; return its final answer."""
    after = 0
    while True:
        progress.show(answer.get("lines") or [])
        after = answer.get("next", after)
        if answer["state"] != "building":
            return answer
        answer = client.rpc("image.build_log", {"build_id": answer["build_id"], "after": after})


def upload_files(client: Any, sources: Mapping[str, str], missing: list[str]) -> None:
    """Send the content of local files the control plane cannot read itself."""
    for sha in missing:
        with open(sources[sha], "rb") as fh:
            client.rpc("image.put_file", {"sha256": sha, "data": fh.read()})


def summary(report: dict[str, Any]) -> str:
    """One line about a finished build: the image, and its layers built and cached."""
    counts: dict[str, int] = {}
    for layer in report.get("layers") or []:
        counts[layer["status"]] = counts.get(layer["status"], 0) + 1
    parts = [f"{counts[k]} {k}" for k in ("built", "cached", "applied", "refused") if k in counts]
    seconds = report.get("seconds") or 0.0
    state = report["state"]
    return f"{report['image_id']} {state} in {seconds:.1f}s ({', '.join(parts) or 'no layers'})"
