"""``strato image``: build an app's images ahead of time, list built images, show Dockerfiles.

``strato image build app.py`` builds every image the app's functions and classes use, on the
control plane in use (``STRATO_SERVER_URL``, else an embedded one on this machine's data dir,
whose image cache the next ``strato run`` finds), and runs nothing. ``strato image list``
reads the database directly in embedded mode (no control plane needed).
"""

from __future__ import annotations

import datetime

import typer

app = typer.Typer(help="Build and inspect container images.", no_args_is_help=True)


def _images_of(target: str, function: str | None) -> list[tuple[object, dict[str, object]]]:
    """Each image the app's functions and classes use, once, with the objects using it."""
    from strato.cli._runner import _find_app, import_target
    from strato.exception import InvalidError

    path, _, app_name = target.partition("::")
    found_app = _find_app(import_target(path), app_name or None)
    objects = {**found_app.registered_functions, **found_app.registered_classes}
    if function is not None:
        if function not in objects:
            raise InvalidError(
                f"no function or class {function!r} in the app; choose one of: "
                f"{', '.join(objects) or 'none'}"
            )
        objects = {function: objects[function]}
    users: dict[int, tuple[object, dict[str, object]]] = {}
    for tag, obj in objects.items():
        image = obj._objects.get("image")  # type: ignore[attr-defined]
        if image is not None:
            users.setdefault(id(image), (image, {}))[1][tag] = obj
    return list(users.values())


def _runs_locally(objects: dict[str, object]) -> bool:
    from strato.core.launcher import Launcher

    return any(not Launcher.wants_cloud(obj._options) for obj in objects.values())  # type: ignore[attr-defined]


@app.command("build")
def build(
    target: str = typer.Argument(..., help="app.py (or app.py::app) whose images to build"),
    force: bool = typer.Option(False, "--force", help="rebuild every layer, cached or not"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print only one line per image"),
) -> None:
    """Build the images an app's functions use, without running anything."""
    import sys

    from strato._image_build import summary
    from strato.cli._util import fail_on_strato_error
    from strato.client import Client

    with fail_on_strato_error():
        images = _images_of(target, None)
        if not images:
            typer.echo("the app's functions use no image: nothing to build")
            return
        client = Client.from_env()
        unusable = []
        for image, users in images:
            report = image._build_with(  # type: ignore[attr-defined]
                client, None, force=force, out=None if quiet else sys.stderr
            )
            typer.echo(f"{summary(report)}  [{', '.join(users)}]")
            if report["state"] == "refused" and _runs_locally(users):
                unusable.append(report)
    for report in unusable:
        typer.echo(
            f"Error: {report['image_id']} cannot run on the local provider: layer "
            f"{report['layer']} ({report['step']}): {report['message']}",
            err=True,
        )
    if unusable:
        raise typer.Exit(1)


@app.command("list")
def list_images() -> None:
    """List the images built on this control plane, newest first."""
    import os

    from strato.cli._util import fail_on_strato_error, table

    with fail_on_strato_error():
        if os.environ.get("STRATO_SERVER_URL"):
            from strato.client import Client

            rows = Client.from_env().request("GET", "/v1/images")["images"]
        else:
            from strato.core.objects.images import list_images as read_images
            from strato.core.service import database_url
            from strato.core.store import Store, make_engine

            rows = read_images(Store(make_engine(database_url())))
    typer.echo(
        table(
            [
                (
                    r["id"],
                    r["state"],
                    r["layers"],
                    f"{r['seconds']:.1f}s",
                    datetime.datetime.fromtimestamp(r["built_at"]).strftime("%Y-%m-%d %H:%M:%S"),
                    r.get("python") or "",
                )
                for r in rows
            ],
            ["image id", "state", "layers", "build", "built", "python"],
        )
    )


@app.command("dockerfile")
def dockerfile(
    target: str = typer.Argument(..., help="app.py (or app.py::app)"),
    function: str = typer.Option(None, "--function", "-f", help="the function whose image"),
    context: str = typer.Option(
        None, "--context", help="also write the build context (Dockerfile and files) here"
    ),
) -> None:
    """Print the Dockerfile of an app's image (the one its functions share, or --function's)."""
    from strato.cli._util import fail_on_strato_error
    from strato.exception import InvalidError

    with fail_on_strato_error():
        images = _images_of(target, function)
        if not images:
            raise InvalidError("the app's functions use no image")
        if len(images) > 1:
            raise InvalidError(
                "the app's functions use several images: pick one with --function "
                f"({'; '.join(', '.join(users) for _, users in images)})"
            )
        image = images[0][0]
        if context:
            folder = image.write_build_context(context)  # type: ignore[attr-defined]
            typer.echo(f"wrote the build context to {folder}", err=True)
        typer.echo(image.dockerfile(), nl=False)  # type: ignore[attr-defined]
