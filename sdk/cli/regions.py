"""``strato regions``: show the region vocabulary.

Only Typer and the standard library are imported here; the region table is loaded inside the
command, so ``strato --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    help="Broad region names (us, us-east, eu, ap, jp, ...) and the provider regions behind them.",
    no_args_is_help=True,
)

_HEADERS = ("PROVIDER", "REGION", "CITY", "COUNTRY", "ZONE", "BROAD")


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(_HEADERS))]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@app.command("list")
def list_regions(
    cloud: Annotated[
        str | None,
        typer.Option(help="Only this cloud's regions: aws, gcp, azure or oci."),
    ] = None,
    broad: Annotated[
        list[str] | None,
        typer.Option(
            help="Only the regions of this broad name (or provider region id); repeat for a union.",
        ),
    ] = None,
) -> None:
    """List provider regions with their city, country, pricing zone and broad names."""
    from strato.exception import InvalidError
    from strato.regions import resolve_regions

    try:
        regions = resolve_regions(broad or None, cloud=cloud)
    except InvalidError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    if not regions:
        typer.echo("No regions: the local machine is in no cloud region.")
        return
    rows: list[tuple[str, ...]] = [_HEADERS]
    for region in regions:
        rows.append(
            (
                region.provider,
                region.name,
                region.city,
                region.country,
                region.pricing_zone,
                ",".join(region.broad) or "-",
            )
        )
    typer.echo(_table(rows))
