"""``strato token``: the standalone control plane's bearer token."""

from __future__ import annotations

import typer

app = typer.Typer(help="Manage the control plane's API token.", no_args_is_help=True)


@app.command("new")
def new() -> None:
    """Create a new token (the old one stops working when the server restarts) and print it."""
    from strato.core.service import new_token, token_path

    token = new_token()
    typer.echo(token)
    typer.echo(f"saved to {token_path()}; restart `strato server` to use it", err=True)


@app.command("show")
def show() -> None:
    """Print the current token, creating one if there is none."""
    from strato.core.service import load_or_create_token

    typer.echo(load_or_create_token())
