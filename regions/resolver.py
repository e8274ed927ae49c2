"""Turn a function's ``region=`` and ``cloud=`` arguments into provider regions.

``region`` takes what Modal's takes: a broad name (``"us-east"``), a provider's own region id
(``"us-east-1"``, ``"eastus"``) or a list of either, case-insensitive; a list is the union of
its items. ``cloud`` narrows the result to one provider. Anything that cannot be satisfied
raises :class:`~strato.exception.InvalidError` at once, naming the argument and the choices,
so a typo fails at decoration time rather than as an unplaceable container later.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from strato.exception import InvalidError

from .catalog import Region, all_regions, broad_region_names

__all__ = ["CLOUDS", "pricing_zones", "resolve_regions", "validate_cloud"]

#: Values ``cloud=`` accepts; ``auto`` (like ``None``) means any cloud.
CLOUDS = ("aws", "gcp", "azure", "oci", "local", "auto")


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    quoted = [repr(choice) for choice in close]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f" (did you mean {listed}?)"


def validate_cloud(cloud: str | None) -> str | None:
    """Return ``cloud`` in lower case, or ``None`` for any cloud (``None`` or ``"auto"``).

    Raises InvalidError for anything else, naming the valid choices and the nearest one.
    """
    if cloud is None:
        return None
    if not isinstance(cloud, str):
        raise InvalidError(f"cloud must be a str or None, got {type(cloud).__name__}: {cloud!r}")
    normalised = cloud.strip().lower()
    if normalised not in CLOUDS:
        raise InvalidError(
            f"cloud={cloud!r} is not a known cloud; choose one of {', '.join(CLOUDS)}"
            + _did_you_mean(normalised, CLOUDS)
        )
    return None if normalised == "auto" else normalised


def _region_names(region: str | Sequence[str]) -> list[str]:
    if isinstance(region, str):
        return [region]
    if not isinstance(region, Sequence):
        raise InvalidError(
            f"region must be a str, a list of str or None, got {type(region).__name__}: {region!r}"
        )
    if len(region) == 0:
        raise InvalidError(
            "region=[] names no region; pass None for any region, or at least one name such as "
            "'us-east'"
        )
    for index, item in enumerate(region):
        if not isinstance(item, str):
            raise InvalidError(
                f"region[{index}] must be a str, got {type(item).__name__}: {item!r}"
            )
    return list(region)


def _providers_of(regions: Iterable[Region]) -> list[str]:
    return sorted({region.provider for region in regions})


def _resolve_one(name: str, cloud: str | None, table: list[Region]) -> list[Region]:
    key = name.strip().lower()
    broad_names = broad_region_names()
    if key in broad_names:
        everywhere = [region for region in table if key in region.broad]
        what = f"broad region {key!r}"
    else:
        everywhere = [region for region in table if region.name == key]
        what = f"region {key!r}"
    if not everywhere:
        specific = sorted({region.name for region in table})
        raise InvalidError(
            f"region={name!r} is not a known region; use a broad name ({', '.join(broad_names)}) "
            "or a provider's own region id such as 'us-east-1'"
            + _did_you_mean(key, [*broad_names, *specific])
        )
    if cloud is None:
        return everywhere
    matches = [region for region in everywhere if region.provider == cloud]
    if not matches:
        raise InvalidError(
            f"cloud={cloud!r} has no {what} (region={name!r}); "
            f"clouds that do: {', '.join(_providers_of(everywhere))}"
        )
    return matches


def resolve_regions(region: str | Sequence[str] | None, cloud: str | None = None) -> list[Region]:
    """The provider regions that ``region`` and ``cloud`` allow, in table order per name.

    ``region=None`` means every region of ``cloud`` (every region when ``cloud`` is None or
    ``"auto"``; none for ``"local"``). A list is the union of its items, first occurrence kept.
    ``cloud="aws", region="us-east"`` gives only AWS's us-east regions.

    Raises InvalidError for an unknown name (with the broad names and the nearest match), an
    empty list, a region the chosen cloud does not have (naming the clouds that do), and any
    region together with ``cloud="local"``.
    """
    chosen = validate_cloud(cloud)
    if chosen == "local":
        if region is not None:
            raise InvalidError(
                f"region={region!r} cannot be combined with cloud='local': the local machine "
                "is in no cloud region; drop region= or choose a cloud"
            )
        return []
    table = all_regions()
    if region is None:
        return [entry for entry in table if chosen is None or entry.provider == chosen]
    resolved: dict[tuple[str, str], Region] = {}
    for name in _region_names(region):
        for entry in _resolve_one(name, chosen, table):
            resolved.setdefault((entry.provider, entry.name), entry)
    return list(resolved.values())


def pricing_zones(regions: Iterable[Region]) -> set[str]:
    """The pricing zones (``US``, ``EU``, ``AP``, ``other``) that ``regions`` span."""
    return {region.pricing_zone for region in regions}
