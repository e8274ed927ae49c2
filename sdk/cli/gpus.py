"""``strato gpus``: the GPU types Strato knows and what they cost.

Only Typer and the standard library are imported here; the price catalog is loaded inside the
command, so ``strato --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

app = typer.Typer(help="GPU types and their cheapest offers.", no_args_is_help=True)

_HEADERS = ("GPU", "MEMORY", "PROVIDER", "INSTANCE", "GPUS", "REGION", "$/GPU-H")


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(_HEADERS))]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _gpu_memory() -> dict[str, float]:
    try:
        from strato.pricing.gpu import GPU_TYPES
    except ImportError:
        # Vendor memory per GPU, for when strato.pricing.gpu is not there.
        return {
            "T4": 16,
            "L4": 24,
            "A10": 24,
            "A100-40GB": 40,
            "A100-80GB": 80,
            "L40S": 48,
            "H100": 80,
            "H200": 141,
            "B200": 180,
        }
    return {name: gpu_type.memory_gib for name, gpu_type in GPU_TYPES.items()}


def _cheapest_per_gpu(offers: list[Any], spot: bool) -> Any:
    """The offer with the lowest price per GPU, any GPU count (fewer GPUs win a tie)."""
    priced = [offer for offer in offers if offer.usd_per_gpu_hour(spot) is not None]
    if not priced:
        return None
    return min(
        priced,
        key=lambda offer: (
            offer.usd_per_gpu_hour(spot),
            offer.gpu_count,
            offer.provider,
            offer.region,
            offer.instance_type,
        ),
    )


@app.command("list")
def list_gpus(
    cloud: Annotated[
        str | None, typer.Option(help="Only this cloud's offers: aws, gcp, azure or oci.")
    ] = None,
    spot: Annotated[bool, typer.Option("--spot", help="Rank by spot price.")] = False,
) -> None:
    """List GPU types with memory and the cheapest offer per GPU-hour (list prices)."""
    from strato.pricing.catalog import default_catalog

    catalog = default_catalog()
    if cloud is not None and cloud not in catalog.providers():
        choices = ", ".join(catalog.providers())
        typer.echo(f"Error: no prices for cloud {cloud!r}; known clouds: {choices}", err=True)
        raise typer.Exit(code=2)
    memory = _gpu_memory()
    names = list(memory) + [name for name in catalog.gpu_types() if name not in memory]
    rows: list[tuple[str, ...]] = [_HEADERS]
    for name in names:
        gib = f"{memory[name]:g} GiB" if name in memory else "-"
        best = _cheapest_per_gpu(catalog.offers(provider=cloud, gpu_type=name), spot)
        if best is None:
            rows.append((name, gib, "-", "-", "-", "-", "-"))
            continue
        rows.append(
            (
                name,
                gib,
                best.provider,
                best.instance_type,
                str(best.gpu_count),
                best.region,
                f"{best.usd_per_gpu_hour(spot):.4f}",
            )
        )
    typer.echo(_table(rows))
