"""``strato cost report``: what containers cost, grouped by app, function, provider, region,
GPU or day, as a terminal table, CSV, JSON or a self-contained HTML page with a chart.

Only Typer and the standard library are imported here; the ledger and the store are loaded
inside the command, so ``strato --help`` stays fast.
"""

from __future__ import annotations

import html
import math
import time
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Report what your containers cost, as Modal would bill it.", no_args_is_help=True
)

FORMATS = ("table", "csv", "json", "html")
#: Columns of every format after the key, as (field, table header).
_COLUMNS = (
    ("cost_usd", "COST (USD)"),
    ("containers", "CONTAINERS"),
    ("container_seconds", "CONTAINER-SECONDS"),
    ("gpu_seconds", "GPU-SECONDS"),
)
#: Tableau 10: distinct on screen and in print; the last one is kept for "other".
_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
#: How long ``strato run`` waits for a stopped app's containers to report their last usage.
_SETTLE_S = 2.0
_ZERO_RATES_NOTE = "local containers cost 0 unless [pricing.local] rates are set in config.toml"


def read_containers(
    reader: Any, app_ref: str | None, since: float | None
) -> tuple[list[dict[str, Any]], float]:
    """Container rows still running or stopped after ``since``, and the plane's clock.

    ``app_ref`` keeps the containers of every run of the app with that name (or of the app
    with that id); an app that never existed raises NotFoundError.
    """
    if reader.remote:
        params = {} if since is None else {"since": since}
        body = reader._client.request("GET", "/v1/containers", params=params)
        rows, now = list(body["containers"]), float(body["now"])
    else:
        rows, now = reader._store.list_containers(since=since), time.time()
    if app_ref:
        rows = [r for r in rows if app_ref in (r.get("app_id"), r.get("app_name"))]
        if not rows:
            reader.app(app_ref)  # raises NotFoundError when there is no such app
    return rows, now


def _money(value: float) -> str:
    return f"{value:,.4f}"


def _seconds(value: float) -> str:
    return f"{value:.1f}"


def _render_table(by: str, rows: list[dict[str, Any]], total: dict[str, Any]) -> str:
    from strato.cli._util import table

    def cells(key: str, row: dict[str, Any]) -> list[str]:
        return [
            key,
            _money(row["cost_usd"]),
            str(row["containers"]),
            _seconds(row["container_seconds"]),
            _seconds(row["gpu_seconds"]),
        ]

    body = [cells(r["key"], r) for r in rows] + [cells("TOTAL", total)]
    lines = table(body, [by.upper(), *(header for _field, header in _COLUMNS)]).splitlines()
    lines.insert(len(lines) - 1, lines[1])  # the rule under the headers, above the total
    return "\n".join(lines)


def _render_csv(by: str, rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([by, *(name for name, _header in _COLUMNS)])
    for row in rows:
        writer.writerow([row["key"], *(row[name] for name, _header in _COLUMNS)])
    return out.getvalue()


def _nice_step(span: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) that cuts ``span`` into about 5 ticks."""
    raw = span / 5
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _svg_chart(days: list[str], series: dict[str, list[float]], stack_by: str) -> str:
    """Spend per day as stacked bars, in inline SVG: axes, ticks, labels and a legend."""
    if len(series) > len(_PALETTE):  # the costliest keep a colour; the rest are summed
        keys = list(series)
        kept = {k: series[k] for k in keys[: len(_PALETTE) - 1]}
        rest = [series[k] for k in keys[len(_PALETTE) - 1 :]]
        kept["other"] = [sum(values) for values in zip(*rest, strict=True)]
        series = kept
    width, height, legend_w = 760, 340, 240
    left, right, top, bottom = 80, 16, 16, 86
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values) for values in zip(*series.values(), strict=True)] or [0.0]
    step = _nice_step(max(totals) or 1.0)
    y_max = step * math.ceil((max(totals) or 1.0) / step)
    decimals = min(6, max(0, -math.floor(math.log10(step))))
    slot = plot_w / max(1, len(days))
    bar_w = max(1.0, slot * 0.7)
    esc = html.escape
    parts = [
        f'<svg width="{width + legend_w}" height="{height}" '
        f'viewBox="0 0 {width + legend_w} {height}" role="img" '
        f'aria-label="Spend per day, stacked by {esc(stack_by)}" font-family="sans-serif" '
        'font-size="11">'
    ]
    for i in range(round(y_max / step) + 1):  # horizontal grid lines and $ ticks
        value = i * step
        y = top + plot_h - value / y_max * plot_h
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">${value:,.{decimals}f}</text>'
        )
    label_every = max(1, math.ceil(len(days) / 15))
    for i, day in enumerate(days):
        x = left + i * slot + (slot - bar_w) / 2
        base = float(top + plot_h)
        for color, (key, values) in zip(_PALETTE, series.items(), strict=False):
            if values[i] <= 0:
                continue
            h = values[i] / y_max * plot_h
            base -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{esc(day)} {esc(key)}: ${values[i]:,.4f}</title></rect>'
            )
        if i % label_every == 0:
            cx, cy = x + bar_w / 2, top + plot_h + 12
            parts.append(
                f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="end" '
                f'transform="rotate(-40 {cx:.1f} {cy:.1f})">{esc(day)}</text>'
            )
    parts.append(  # axes and their titles
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>'
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#333"/>'
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" '
        'font-size="12">Day (UTC)</text>'
        f'<text x="16" y="{top + plot_h / 2:.1f}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 16 {top + plot_h / 2:.1f})">Spend per day (USD)</text>'
    )
    parts.append(
        f'<text x="{width + 8}" y="{top + 10}" font-size="12" font-weight="bold">'
        f"{esc(stack_by)}</text>"
    )
    for n, (color, key) in enumerate(zip(_PALETTE, series, strict=False)):
        y = top + 24 + n * 18
        label = key if len(key) <= 32 else key[:31] + "\u2026"
        parts.append(
            f'<rect x="{width + 8}" y="{y}" width="12" height="12" fill="{color}"/>'
            f'<text x="{width + 26}" y="{y + 10}"><title>{esc(key)}</title>{esc(label)}</text>'
        )
    if not series:
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" '
            'text-anchor="middle" fill="#666">no spend in this period</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _render_html(
    by: str,
    rows: list[dict[str, Any]],
    total: dict[str, Any],
    chart: tuple[list[str], dict[str, list[float]]],
    title: str,
) -> str:
    """One page with everything inline (styles, chart), readable offline and printable."""
    esc = html.escape
    stack_by = "provider" if by == "day" else by
    headers = "".join(f"<th>{esc(h)}</th>" for h in [by, *(h for _f, h in _COLUMNS)])

    def cells(key: str, row: dict[str, Any], tag: str = "td") -> str:
        values = [
            _money(row["cost_usd"]),
            str(row["containers"]),
            _seconds(row["container_seconds"]),
            _seconds(row["gpu_seconds"]),
        ]
        return f"<{tag}>{esc(key)}</{tag}>" + "".join(
            f'<{tag} class="n">{esc(v)}</{tag}>' for v in values
        )

    body = "\n".join(f"<tr>{cells(r['key'], r)}</tr>" for r in rows)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{esc(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-top: 1.5em; }}
th, td {{ padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: left; }}
td.n, th.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
tfoot th {{ border-top: 2px solid #333; }}
</style>
</head>
<body>
<h1>Strato cost report</h1>
<p>{esc(title)}</p>
<h2>Spend per day by {esc(stack_by)}</h2>
{_svg_chart(chart[0], chart[1], stack_by)}
<table>
<thead><tr>{headers}</tr></thead>
<tbody>
{body}
</tbody>
<tfoot><tr>{cells("TOTAL", total, "th")}</tr></tfoot>
</table>
</body>
</html>
"""


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


@app.command()
def report(
    app_ref: Annotated[
        str | None,
        typer.Option("--app", metavar="APP", help="Only this app (name: all its runs, or id)."),
    ] = None,
    since: Annotated[
        str,
        typer.Option(
            metavar="SINCE",
            help="Start of the period: 30m, 12h, 7d, 2w, an ISO date (UTC), or 'all'.",
        ),
    ] = "7d",
    by: Annotated[
        str,
        typer.Option(
            metavar="BY", help="Group by app, function, provider, region, gpu or day (UTC)."
        ),
    ] = "app",
    output_format: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="table, csv, json or html.")
    ] = "table",
    output: Annotated[
        str | None,
        typer.Option(metavar="FILE", help="Write the report to FILE instead of stdout."),
    ] = None,
) -> None:
    """What containers cost, accrued per second, with Modal's multipliers applied.

    CPU and memory are billed on the max of reservation and usage, GPUs for the container's
    whole life; a cloud machine is billed whole. Only time after --since counts.
    """
    from strato.cli._util import StateReader, fail_on_strato_error
    from strato.exception import InvalidError

    with fail_on_strato_error():
        from strato.core import ledger

        if output_format not in FORMATS:
            raise InvalidError(
                f"unknown format {output_format!r}; choose one of: {', '.join(FORMATS)}"
            )
        start = None if since.strip().lower() == "all" else ledger.parse_since(since)
        rates = ledger.LocalRates.from_settings()
        rows, now = read_containers(StateReader(), app_ref, start)
        grouped = ledger.aggregate(rows, by, now, rates, start)
        total = ledger.summarize(rows, now, rates, start)
        period = f"since {_when(start)}" if start is not None else "all time"
        title = f"Cost {period} until {_when(now)}, by {by}" + (
            f", app {app_ref}" if app_ref else ""
        )
        if output_format == "table":
            text = title + "\n\n" + _render_table(by, grouped, total) + "\n"
        elif output_format == "csv":
            text = _render_csv(by, grouped)
        elif output_format == "json":
            import json

            document = {
                "by": by,
                "since": start,
                "until": now,
                "app": app_ref,
                "rows": grouped,
                "total": total,
            }
            text = json.dumps(document, indent=2) + "\n"
        else:
            chart = ledger.daily_breakdown(rows, by, now, rates, start)
            text = _render_html(by, grouped, total, chart, title)
    if rates == ledger.LocalRates() and any(r.get("provider") == "local" for r in rows):
        typer.echo(f"Note: {_ZERO_RATES_NOTE}.", err=True)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        typer.echo(f"Error: cannot write {output}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"Wrote {output_format} report to {output}", err=True)


def run_cost_line(client: Any, app_id: str | None, detach: bool = False) -> str | None:
    """The line ``strato run`` ends with: what the app's containers cost; None when the
    ledger cannot be read (a run never fails for its cost line)."""
    if not app_id:
        return None
    try:
        from strato.core import ledger

        deadline = time.monotonic() + _SETTLE_S
        while True:  # the app has stopped: give its containers a moment to say what they used
            body = client.request("GET", "/v1/containers", params={"app": app_id})
            rows, now = list(body["containers"]), float(body["now"])
            # "stopped" comes once the container hung up, after its last usage report
            running = any(r.get("state") != "stopped" for r in rows)
            if detach or not running or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        rates = ledger.LocalRates.from_settings()
        total = ledger.summarize(rows, now, rates)
    except Exception:  # noqa: BLE001 - the run succeeded; its cost line is a courtesy
        return None
    count = total["containers"]
    details = (
        f"{count} container{'' if count == 1 else 's'}, "
        f"{total['container_seconds']:.1f} container-seconds"
    )
    if rates == ledger.LocalRates() and any(r.get("provider") == "local" for r in rows):
        details += "; local containers cost 0 unless [pricing.local] rates are set"
    verb = "has cost so far" if detach else "cost"
    return f"strato: this run {verb} ${total['cost_usd']:.4f} ({details})"
