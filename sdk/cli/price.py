"""``strato price``: quote what a function's resources would cost, and where it would run.

Only Typer and the standard library are imported here; placement and the price catalog are
loaded inside the command, so ``strato --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

_HEADERS = ("#", "PROVIDER", "REGION", "INSTANCE", "GPUS", "$/H BASE", "MULT", "$/H TOTAL")
_RIGHT = {0, 5, 6, 7}  # numeric columns, right-aligned


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(_HEADERS))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if column in _RIGHT else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _split(values: list[str] | None) -> list[str] | None:
    """Repeated options and comma-separated lists, flattened: ``H100,A100-80GB`` -> two."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def price(
    gpu: Annotated[
        list[str] | None,
        typer.Option(
            metavar="SPEC",
            help="GPU spec as in gpu=, e.g. H100:8; repeat (or separate with commas) for an "
            "ordered fallback list. Leave out for a CPU-only machine.",
        ),
    ] = None,
    region: Annotated[
        list[str] | None,
        typer.Option(
            metavar="REGION",
            help="Broad region (us, eu, ...) or provider region id; repeat for several.",
        ),
    ] = None,
    cloud: Annotated[
        str | None, typer.Option(metavar="CLOUD", help="Only this cloud: aws, gcp, azure or oci.")
    ] = None,
    cpu: Annotated[float | None, typer.Option(help="Fewest vCPUs the machine must have.")] = None,
    memory: Annotated[
        int | None, typer.Option(help="Least memory the machine must have, in MiB.")
    ] = None,
    spot: Annotated[
        bool, typer.Option("--spot", help="Quote spot prices (offers without one are left out).")
    ] = False,
    nonpreemptible: Annotated[
        bool,
        typer.Option("--nonpreemptible", help="Quote as nonpreemptible=True (on-demand, 3x)."),
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="How many offers to show.")] = 5,
) -> None:
    """Quote the best offers for a function's resources, with Modal's multipliers applied."""
    import dataclasses

    from strato.core.placement import PlacementSpec, explain, rank_offers
    from strato.exception import InvalidError

    options: dict[str, object] = {
        "gpu": _split(gpu),
        "region": _split(region),
        "cloud": cloud,
        "cpu": cpu,
        "memory": memory,
        "nonpreemptible": nonpreemptible,
    }
    try:
        spec = dataclasses.replace(PlacementSpec.from_options(options), spot=spot)
        ranked = rank_offers(spec)
    except InvalidError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    rows: list[tuple[str, ...]] = [_HEADERS]
    for position, entry in enumerate(ranked[:limit], start=1):
        offer = entry.offer
        gpus = f"{offer.gpu_count}x {offer.gpu_type}" if offer.gpu_type else "-"
        if entry.is_upgrade:
            gpus += f" (as {entry.requested_gpu_type})"
        rows.append(
            (
                str(position),
                offer.provider,
                offer.region,
                offer.instance_type,
                gpus,
                f"{entry.base_usd_per_hour:.2f}",
                f"{entry.multiplier:g}x",
                f"{entry.usd_per_hour:.2f}",
            )
        )
    shown = min(limit, len(ranked))
    kind = "spot" if spot else "on-demand"
    typer.echo(_table(rows))
    typer.echo(f"\n{shown} of {len(ranked)} offers, {kind} list prices, USD per hour.")
    typer.echo(explain(ranked))
