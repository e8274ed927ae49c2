"""Parse a function's ``gpu=`` argument the way Modal does.

Accepted, case-insensitive: a GPU type (``"T4"``, ``"L4"``, ``"A10"``/``"A10G"``, ``"A100"``,
``"A100-40GB"``, ``"A100-80GB"``, ``"L40S"``, ``"H100"``, ``"H100!"``, ``"H200"``, ``"B200"``)
or ``"any"``, each optionally with ``":N"`` GPUs per container, or a list of these as an
ordered fallback. :func:`parse_gpu` returns one :class:`GPURequest` per entry, preference first.

Upgrades follow Modal: an ``H100`` request may run on an H200 and an ``A100`` request on an
A100-80GB, at the price of the type asked for. ``H100!`` and the explicit ``A100-40GB`` pin
the type and never upgrade.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from strato.exception import InvalidError

__all__ = [
    "ANY",
    "GPU_TYPES",
    "UPGRADES",
    "GPURequest",
    "GPUType",
    "canonical_gpu_name",
    "parse_gpu",
]

#: The request for whatever GPU type is available.
ANY = "any"


@dataclass(frozen=True)
class GPUType:
    """One GPU model as Modal names it."""

    name: str
    """Canonical name, e.g. ``"A100-40GB"``."""
    memory_gib: int
    """Memory of one GPU as the vendor states it (what a cloud reports usable can be less)."""
    max_count: int
    """Most GPUs of this type one container may have."""
    aliases: tuple[str, ...] = ()
    """Other spellings that mean this type (upper case), e.g. ``("A10G",)``."""


def _types(*types: GPUType) -> dict[str, GPUType]:
    return {gpu_type.name: gpu_type for gpu_type in types}


#: Every GPU type, keyed by canonical name, roughly from smallest to largest.
GPU_TYPES: dict[str, GPUType] = _types(
    GPUType("T4", 16, 8),
    GPUType("L4", 24, 8),
    # Modal's GPU guide spells it A10; its older API class and AWS spell it A10G.
    GPUType("A10", 24, 4, aliases=("A10G",)),
    # A bare "A100" is the 40 GB model (and, unlike "A100-40GB", may be upgraded).
    GPUType("A100-40GB", 40, 8, aliases=("A100",)),
    GPUType("A100-80GB", 80, 8),
    GPUType("L40S", 48, 8),
    GPUType("H100", 80, 8),
    GPUType("H200", 141, 8),
    GPUType("B200", 180, 8),
)

#: Types a request may land on instead of the one asked for, at the asked-for type's price.
UPGRADES: dict[str, tuple[str, ...]] = {
    "H100": ("H200",),
    "A100-40GB": ("A100-80GB",),
}

# Every accepted spelling (upper case, in the order error messages list them) -> (canonical
# type, whether the spelling lets the request be upgraded).
_SPELLINGS: dict[str, tuple[str, bool]] = {
    "T4": ("T4", True),
    "L4": ("L4", True),
    "A10": ("A10", True),
    "A10G": ("A10", True),
    "A100": ("A100-40GB", True),
    "A100-40GB": ("A100-40GB", False),
    "A100-80GB": ("A100-80GB", True),
    "L40S": ("L40S", True),
    "H100": ("H100", True),
    "H100!": ("H100", False),
    "H200": ("H200", True),
    "B200": ("B200", True),
    ANY.upper(): (ANY, True),
}

_MAX_ANY = max(gpu_type.max_count for gpu_type in GPU_TYPES.values())


def _display(spelling: str) -> str:
    return ANY if spelling == ANY.upper() else spelling


def _valid_spellings() -> str:
    return ", ".join(_display(name) for name in _SPELLINGS)


def _did_you_mean(word: str) -> str:
    close = difflib.get_close_matches(word, list(_SPELLINGS), n=3, cutoff=0.6)
    if not close:
        return ""
    quoted = [repr(_display(name)) for name in close]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f" (did you mean {listed}?)"


def _max_count(gpu_type: str) -> int:
    return _MAX_ANY if gpu_type == ANY else GPU_TYPES[gpu_type].max_count


@dataclass(frozen=True)
class GPURequest:
    """One entry of a ``gpu=`` argument: a type, how many per container, and whether it may
    be upgraded to a bigger type (see :data:`UPGRADES`)."""

    type: str
    """Canonical type name (a key of :data:`GPU_TYPES`) or ``"any"``."""
    count: int = 1
    """GPUs per container."""
    allow_upgrade: bool = True
    """False when the spelling pins the type (``H100!``, ``A100-40GB``)."""

    def acceptable_types(self) -> tuple[str, ...]:
        """Types that satisfy this request: the type itself first, then its upgrade targets.

        For ``"any"``, every type that can have :attr:`count` GPUs in one container; ranking
        them by price is placement's job.
        """
        if self.type == ANY:
            return tuple(
                name for name, gpu_type in GPU_TYPES.items() if gpu_type.max_count >= self.count
            )
        if not self.allow_upgrade:
            return (self.type,)
        upgrades = UPGRADES.get(self.type, ())
        return (self.type,) + tuple(
            name for name in upgrades if GPU_TYPES[name].max_count >= self.count
        )

    def __str__(self) -> str:
        """The request in Modal's spelling, e.g. ``H100!:2`` or ``A100``."""
        if self.type == "H100" and not self.allow_upgrade:
            name = "H100!"
        elif self.type == "A100-40GB" and self.allow_upgrade:
            name = "A100"
        else:
            name = self.type
        return name if self.count == 1 else f"{name}:{self.count}"


def canonical_gpu_name(name: str) -> str:
    """The canonical type for a spelling, e.g. ``"a10g"`` -> ``"A10"``, ``"A100"`` ->
    ``"A100-40GB"``; spaces and underscores count as hyphens (``"A100 80GB"``).

    Raises InvalidError for an unknown name.
    """
    key = name.strip().upper().replace(" ", "-").replace("_", "-")
    spelling = _SPELLINGS.get(key)
    if spelling is None:
        raise InvalidError(
            f"gpu={name!r} is not a known GPU type; valid types: {_valid_spellings()}"
            + _did_you_mean(key)
        )
    return spelling[0]


def _parse_one(spec: str, argument: str) -> GPURequest:
    type_part, separator, count_part = spec.partition(":")
    key = type_part.strip().upper()
    spelling = _SPELLINGS.get(key)
    if spelling is None:
        hint = ""
        if key.endswith("!") and key[:-1] in _SPELLINGS:
            hint = " ('!' applies only to H100; A100-40GB is the A100 that never upgrades)"
        raise InvalidError(
            f"{argument}={spec!r} is not a known GPU type; valid types: {_valid_spellings()}"
            + (hint or _did_you_mean(key))
        )
    gpu_type, allow_upgrade = spelling
    count = 1
    if separator:
        text = count_part.strip()
        if not (text.isascii() and text.isdigit()):
            raise InvalidError(
                f"{argument}={spec!r}: the count after ':' must be a whole number, "
                f"e.g. '{type_part.strip()}:2'"
            )
        count = int(text)
    limit = _max_count(gpu_type)
    if not 1 <= count <= limit:
        raise InvalidError(
            f"{argument}={spec!r}: {_display(key)} allows 1 to {limit} GPUs per container, "
            f"got {count}"
        )
    return GPURequest(type=gpu_type, count=count, allow_upgrade=allow_upgrade)


def parse_gpu(spec: str | Sequence[str] | None) -> list[GPURequest]:
    """Parse a ``gpu=`` argument into requests in preference order (``None`` -> ``[]``).

    Raises InvalidError naming ``gpu``: for an unknown type (with the valid types and the
    nearest match), a count outside what the type allows, an empty list, or a value that is
    not a str or a list of str. A repeated entry is kept once, at its first position.
    """
    if spec is None:
        return []
    if isinstance(spec, str):
        return [_parse_one(spec, "gpu")]
    if not isinstance(spec, Sequence):
        raise InvalidError(
            f"gpu must be a str, a list of str or None, got {type(spec).__name__}: {spec!r}"
        )
    if len(spec) == 0:
        raise InvalidError("gpu=[] names no GPU; pass None for no GPU, or e.g. ['H100', 'A100']")
    requests: list[GPURequest] = []
    for index, item in enumerate(spec):
        if not isinstance(item, str):
            raise InvalidError(
                f"gpu[{index}] must be a str such as 'H100:2', got {type(item).__name__}: {item!r}"
            )
        request = _parse_one(item, f"gpu[{index}]")
        if request not in requests:
            requests.append(request)
    return requests
