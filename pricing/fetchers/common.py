"""What every price fetcher shares: the HTTP call, the command line, writing the CSV.

A fetcher module has three parts, so that only one of them touches the network:

* ``fetch(client, ...)``: the public price API's responses, as parsed JSON (the only
  function that makes requests);
* ``parse(responses, as_of)``: those responses as :class:`~strato.pricing.offer.Offer` rows;
* ``main(argv)``: ``python -m strato.pricing.fetchers.<provider> --out FILE``.

``--save-responses FILE`` keeps what ``fetch`` returned and ``--responses FILE`` parses such
a file instead of calling the API, so a refresh can be replayed offline.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from strato.pricing.offer import Offer, write_offers

__all__ = [
    "MachineSpec",
    "get_json",
    "run_fetcher",
    "sorted_offers",
    "write_catalog",
]

USER_AGENT = "strato-price-fetcher (+https://github.com/strato)"


@dataclass(frozen=True, slots=True)
class MachineSpec:
    """What a price API does not say about a machine type: its GPUs, CPUs and memory."""

    gpu_type: str | None
    gpu_count: int
    vcpus: int = 0
    memory_gib: float = 0.0


def get_json(
    client: httpx.Client,
    url: str,
    params: dict[str, str] | None = None,
    *,
    attempts: int = 4,
) -> Any:
    """GET ``url`` and parse JSON, retrying 429 and 5xx responses with backoff."""
    delay = 1.0
    for attempt in range(1, attempts + 1):
        response = client.get(url, params=params)
        if response.status_code == 429 or response.status_code >= 500:
            if attempt < attempts:
                time.sleep(delay)
                delay *= 2
                continue
        response.raise_for_status()
        return response.json()
    raise AssertionError("unreachable")


def new_client(timeout: float = 60.0) -> httpx.Client:
    """An HTTP client with the fetchers' timeout and user agent."""
    return httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=True)


def sorted_offers(offers: Iterable[Offer]) -> list[Offer]:
    """Offers in the order catalog files keep them: by instance type, then region."""
    return sorted(
        offers,
        key=lambda offer: (
            offer.gpu_type is None,
            offer.instance_type,
            offer.gpu_count,
            offer.region,
        ),
    )


def write_catalog(offers: Iterable[Offer], out: Path) -> int:
    """Write ``offers`` (sorted) as a catalog CSV file; returns the rows written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as stream:
        count: int = write_offers(sorted_offers(offers), stream)
    tmp.replace(out)
    return count


def run_fetcher(
    argv: Sequence[str] | None,
    *,
    provider: str,
    fetch: Callable[[httpx.Client, argparse.Namespace], Any],
    parse: Callable[[Any, datetime.date], list[Offer]],
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """The command line of a fetcher: fetch (or read saved responses), parse, write."""
    parser = argparse.ArgumentParser(
        prog=f"python -m strato.pricing.fetchers.{provider}",
        description=f"Refresh the {provider} price catalog from the provider's public API.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help=f"catalog file to write, e.g. pricing/data/{provider}.csv",
    )
    parser.add_argument(
        "--responses", type=Path, help="parse these saved responses instead of fetching"
    )
    parser.add_argument("--save-responses", type=Path, help="also save the raw responses here")
    parser.add_argument(
        "--as-of",
        type=datetime.date.fromisoformat,
        default=None,
        help="date to record in as_of (default: today, UTC)",
    )
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if args.responses is not None:
        responses = json.loads(args.responses.read_text(encoding="utf-8"))
    else:
        with new_client() as client:
            responses = fetch(client, args)
    if args.save_responses is not None:
        args.save_responses.write_text(json.dumps(responses), encoding="utf-8")
    as_of = args.as_of or datetime.datetime.now(datetime.UTC).date()
    offers = parse(responses, as_of)
    if not offers:
        print(
            f"{provider}: the responses held no offer; {args.out} left as it was", file=sys.stderr
        )
        return 1
    count = write_catalog(offers, args.out)
    print(f"{provider}: wrote {count} offers to {args.out}", file=sys.stderr)
    return 0
