"""Operator price overrides: negotiated discounts and prices applied over the list catalog.

The file is ``price-overrides.toml`` in the config dir (``STRATO_CONFIG_DIR``), or the path
given to :func:`strato.pricing.catalog.load_catalog`. One table per provider::

    [aws]                               # every AWS offer
    discount_percent = 5

    [aws.families]                      # instance types starting with the prefix
    p5 = { discount_percent = 20 }      # p5.*, and p5e.*/p5en.* unless they have their own
    g6e = { usd_per_gpu_hour = 1.10 }   # on-demand = 1.10 x the machine's GPU count

    [[aws.rows]]                        # one instance type, in one region or in all
    instance_type = "p5.48xlarge"
    region = "us-east-1"                # leave out for every region
    usd_per_hour = 39.50                # the whole machine, on-demand
    spot_usd_per_hour = 12.00           # optional, rows only

    [azure.families]
    Standard_ND = { discount_percent = 15 }

Each rule sets exactly one of:

* ``discount_percent`` (0 to 100): on-demand and spot prices times ``1 - percent / 100``;
* ``usd_per_gpu_hour``: on-demand price = the rate x the machine's GPU count (CPU-only
  machines are left to the next rule);
* ``usd_per_hour`` (``rows`` only): the machine's on-demand price.

A ``rows`` rule may add ``spot_usd_per_hour``, alone or with one of the above.

Only the most specific matching rule applies, never several: a row with a region, then a row
without, then the longest matching family prefix, then the provider table. The rule is noted
at the end of the offer's ``source``. An entry that is malformed (unknown key, wrong type, a
discount outside 0-100, a price that is not positive) or that matches no offer is a
:class:`~strato.pricing.offer.CatalogProblem` naming the file, line and key; the other entries
still apply. A file that is not valid TOML applies nothing and is one problem.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from strato.pricing.offer import CatalogProblem, Offer

__all__ = [
    "DEFAULT_FILENAME",
    "PriceRule",
    "apply_overrides",
    "parse_overrides",
    "read_overrides",
]

#: Name of the overrides file in the config dir.
DEFAULT_FILENAME = "price-overrides.toml"

_PRICE_KEYS = ("discount_percent", "usd_per_gpu_hour", "usd_per_hour")


@dataclass(frozen=True, slots=True)
class PriceRule:
    """One override entry; which fields are set says how specific it is."""

    provider: str
    key: str
    """Where the rule is in the file, e.g. ``aws.families.p5`` or ``aws.rows[0]``."""
    line: int | None = None
    family: str | None = None
    instance_type: str | None = None
    region: str | None = None
    discount_percent: float | None = None
    usd_per_gpu_hour: float | None = None
    usd_per_hour: float | None = None
    spot_usd_per_hour: float | None = None

    @property
    def specificity(self) -> tuple[int, int]:
        """Sort key: higher wins (row+region > row > longest family > provider)."""
        if self.instance_type is not None:
            return (4 if self.region is not None else 3, 0)
        if self.family is not None:
            return (2, len(self.family))
        return (1, 0)

    def matches(self, offer: Offer) -> bool:
        """Whether this rule is about ``offer``."""
        if offer.provider != self.provider:
            return False
        if self.usd_per_gpu_hour is not None and offer.gpu_count == 0:
            return False
        if self.instance_type is not None:
            if offer.instance_type != self.instance_type:
                return False
            return self.region is None or offer.region == self.region
        if self.family is not None:
            prefix: str = self.family
            return bool(offer.instance_type.startswith(prefix))
        return True

    def apply(self, offer: Offer, path: str) -> Offer:
        """``offer`` with this rule's price, its source noting the rule."""
        on_demand = offer.on_demand_usd_per_hour
        spot = offer.spot_usd_per_hour
        if self.discount_percent is not None:
            factor = 1 - self.discount_percent / 100
            on_demand *= factor
            spot = None if spot is None else spot * factor
            what = f"{self.discount_percent:g}% discount"
        elif self.usd_per_gpu_hour is not None:
            on_demand = self.usd_per_gpu_hour * offer.gpu_count
            what = f"{self.usd_per_gpu_hour:g} USD/GPU-h"
        elif self.usd_per_hour is not None:
            on_demand = self.usd_per_hour
            what = f"{self.usd_per_hour:g} USD/h"
        else:
            what = ""
        if self.spot_usd_per_hour is not None:
            spot = self.spot_usd_per_hour
            what = ", ".join(filter(None, [what, f"spot {self.spot_usd_per_hour:g} USD/h"]))
        return dataclasses.replace(
            offer,
            on_demand_usd_per_hour=on_demand,
            spot_usd_per_hour=spot,
            source=f"{offer.source} | override {Path(path).name} {self.key}: {what}",
        )


class _EntryError(ValueError):
    pass


def _price(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _EntryError(f"{name} must be a number, got {value!r}")
    if not 0 < value < float("inf"):
        raise _EntryError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _percent(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _EntryError(f"discount_percent must be a number, got {value!r}")
    if not 0 <= value <= 100:
        raise _EntryError(f"discount_percent must be between 0 and 100, got {value!r}")
    return float(value)


def _rule(
    provider: str,
    key: str,
    line: int | None,
    table: object,
    *,
    family: str | None = None,
    instance_type: str | None = None,
    region: str | None = None,
) -> PriceRule:
    if not isinstance(table, dict):
        raise _EntryError(f"must be a table, got {table!r}")
    allowed = {"discount_percent", "usd_per_gpu_hour"}
    if instance_type is not None:
        allowed |= {"usd_per_hour", "spot_usd_per_hour"}
    unknown = sorted(set(table) - allowed)
    if unknown:
        hint = ""
        if {"usd_per_hour", "spot_usd_per_hour"} & set(unknown):
            hint = f" (a whole-machine price needs an exact row: [[{provider}.rows]])"
        raise _EntryError(
            f"unknown key {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}{hint}"
        )
    values: dict[str, float] = {}
    if "discount_percent" in table:
        values["discount_percent"] = _percent(table["discount_percent"])
    for name in ("usd_per_gpu_hour", "usd_per_hour", "spot_usd_per_hour"):
        if name in table:
            values[name] = _price(table[name], name)
    chosen = [name for name in _PRICE_KEYS if name in values]
    if len(chosen) > 1:
        raise _EntryError(f"set one of {', '.join(chosen)}, not several")
    if not values:
        raise _EntryError(f"sets no price; give one of {', '.join(sorted(allowed))}")
    return PriceRule(
        provider=provider,
        key=key,
        line=line,
        family=family,
        instance_type=instance_type,
        region=region,
        discount_percent=values.get("discount_percent"),
        usd_per_gpu_hour=values.get("usd_per_gpu_hour"),
        usd_per_hour=values.get("usd_per_hour"),
        spot_usd_per_hour=values.get("spot_usd_per_hour"),
    )


def _row_rule(provider: str, key: str, line: int | None, table: object) -> PriceRule:
    if not isinstance(table, dict):
        raise _EntryError(f"must be a table, got {table!r}")
    where: dict[str, str | None] = {"instance_type": None, "region": None}
    for name in where:
        value = table.get(name)
        if value is None and name == "region":
            continue
        if not isinstance(value, str) or not value.strip():
            raise _EntryError(f"{name} must be a non-empty string, got {value!r}")
        where[name] = value.strip()
    rest = {name: value for name, value in table.items() if name not in where}
    return _rule(
        provider, key, line, rest, instance_type=where["instance_type"], region=where["region"]
    )


def _family_rule(
    provider: str, key: str, line: int | None, family: str, table: object
) -> PriceRule:
    if not family.strip():
        raise _EntryError("the family prefix is empty")
    return _rule(provider, key, line, table, family=family)


class _Lines:
    """Best-effort line numbers for TOML keys (tomllib reports none)."""

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()

    def find(self, pattern: str, occurrence: int = 0, after: int | None = None) -> int | None:
        regex = re.compile(pattern)
        seen = 0
        for number, line in enumerate(self._lines, start=1):
            if after is not None and number <= after:
                continue
            if regex.search(line):
                if seen == occurrence:
                    return number
                seen += 1
        return None


def parse_overrides(text: str, path: str) -> tuple[list[PriceRule], list[CatalogProblem]]:
    """Rules from an overrides file's text; ``path`` names the file in problems."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [], [CatalogProblem(path, None, f"not valid TOML, nothing applied: {exc}")]
    lines = _Lines(text)
    rules: list[PriceRule] = []
    problems: list[CatalogProblem] = []

    def attempt(key: str, line: int | None, make: Callable[[], PriceRule]) -> None:
        try:
            rules.append(make())
        except _EntryError as exc:
            problems.append(CatalogProblem(path, line, f"{key}: {exc}"))

    for provider_key, table in document.items():
        provider = provider_key.lower()
        name = rf"\"?{re.escape(provider_key)}\"?"
        if not isinstance(table, dict):
            line = lines.find(rf"^\s*{name}\s*=")
            problems.append(CatalogProblem(path, line, f"{provider}: must be a table"))
            continue
        header = lines.find(rf"^\s*\[\s*{name}\s*\]")
        own = {k: v for k, v in table.items() if k not in ("families", "rows")}
        if own:
            attempt(provider, header, functools.partial(_rule, provider, provider, header, own))
        families = table.get("families", {})
        families_header = lines.find(rf"^\s*\[\s*{name}\.families\s*\]")
        if not isinstance(families, dict):
            problems.append(CatalogProblem(path, header, f"{provider}.families: must be a table"))
            families = {}
        for family, entry in families.items():
            key = f"{provider}.families.{family}"
            quoted = rf"\"?{re.escape(family)}\"?"
            line = lines.find(rf"^\s*\[\s*{name}\.families\.{quoted}\s*\]") or lines.find(
                rf"^\s*{quoted}\s*=", after=families_header
            )
            attempt(key, line, functools.partial(_family_rule, provider, key, line, family, entry))
        rows = table.get("rows", [])
        if not isinstance(rows, list):
            problems.append(
                CatalogProblem(path, header, f"{provider}.rows: must be [[{provider}.rows]] tables")
            )
            rows = []
        for index, entry in enumerate(rows):
            key = f"{provider}.rows[{index}]"
            line = lines.find(rf"^\s*\[\[\s*{name}\.rows\s*\]\]", index)
            attempt(key, line, functools.partial(_row_rule, provider, key, line, entry))
    return rules, problems


def read_overrides(path: Path) -> tuple[list[PriceRule], list[CatalogProblem]]:
    """Rules from the overrides file at ``path`` (a missing file is one problem)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [], [CatalogProblem(str(path), None, f"cannot read overrides: {exc.strerror}")]
    return parse_overrides(text, str(path))


def apply_overrides(
    offers: Sequence[Offer], rules: Iterable[PriceRule], path: str
) -> tuple[list[Offer], list[CatalogProblem]]:
    """``offers`` with the most specific matching rule applied to each.

    Returns the new offers and a problem for every rule that matches no offer at all.
    """
    ordered = sorted(rules, key=lambda rule: rule.specificity, reverse=True)
    by_provider: dict[str, list[PriceRule]] = {}
    for rule in ordered:
        by_provider.setdefault(rule.provider, []).append(rule)
    result: list[Offer] = []
    for offer in offers:
        for rule in by_provider.get(offer.provider, ()):
            if rule.matches(offer):
                offer = rule.apply(offer, path)
                break
        result.append(offer)
    problems = [
        CatalogProblem(path, rule.line, f"{rule.key}: matches no offer in the catalog")
        for rule in ordered
        if not any(rule.matches(offer) for offer in offers)
    ]
    return result, problems
