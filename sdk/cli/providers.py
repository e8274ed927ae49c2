"""``strato providers``: which providers are loaded, and whether their credentials work."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Providers of machines: list them, check their credentials.", no_args_is_help=True
)


def _version(pm: object, name: str) -> str:
    from importlib import metadata

    for plugin, dist in pm.list_plugin_distinfo():  # type: ignore[attr-defined]
        if getattr(plugin, "__name__", "").endswith(f".{name}"):
            return str(dist.version)
    try:
        return metadata.version("strato")
    except metadata.PackageNotFoundError:
        return "unknown"


@app.command("list")
def list_providers() -> None:
    """Each loaded provider with its version, and whether credentials were found."""
    from strato.cli._util import table
    from strato.plugins.manager import default_providers

    providers = default_providers()
    rows = []
    for name, provider in sorted(providers.by_name.items()):
        try:
            check = provider.check_credentials()
            found, note = ("yes" if check.ok else "no"), check.message
        except Exception as exc:  # noqa: BLE001 - a broken provider still gets a row
            found, note = "no", f"check failed: {exc}"
        rows.append((name, _version(providers.pm, name), "yes", found, note))
    typer.echo(table(rows, ["provider", "version", "enabled", "credentials", "details"]))


@app.command("check")
def check(name: str = typer.Argument(None, help="one provider (default: all)")) -> None:
    """Check credentials and reachability; say which variables to set when they fail."""
    from strato.plugins.manager import default_providers

    providers = default_providers()
    names = [name] if name else sorted(providers.by_name)
    if name and name not in providers.by_name:
        loaded = ", ".join(sorted(providers.by_name))
        typer.echo(f"Error: no provider named {name!r}; loaded: {loaded}", err=True)
        raise typer.Exit(2)
    failed = False
    for provider_name in names:
        result = providers.by_name[provider_name].check_credentials()
        mark = "ok" if result.ok else ("unreachable" if not result.reachable else "FAILED")
        typer.echo(f"{provider_name}: {mark}: {result.message}")
        if not result.ok:
            failed = True
            if result.env_vars:
                typer.echo(f"  set: {', '.join(result.env_vars)}")
    raise typer.Exit(1 if failed else 0)
