"""``strato run app.py[::name] [--arg value ...]``: run an app's entrypoint with the app running."""

from __future__ import annotations

import typer

_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def run(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="app.py, app.py::entrypoint or a module name"),
    detach: bool = typer.Option(False, "--detach", help="leave the app's spawned work running"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="hide container output"),
) -> None:
    """Run a local entrypoint or a function of an app, on the control plane in use."""
    from strato.cli._runner import run_target
    from strato.cli._util import fail_on_strato_error

    with fail_on_strato_error():
        code = run_target(target, list(ctx.args), detach=detach, quiet=quiet)
    raise typer.Exit(code)


run.__click_context_settings__ = _CONTEXT  # type: ignore[attr-defined]
