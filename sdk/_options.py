"""Validation of ``@app.function`` / ``@app.cls`` arguments, at decoration time.

Each check names the argument and what is allowed. The result is a plain dict of options that
travels with the function's definition to the control plane and into its containers.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from strato.exception import DeprecationError, InvalidError
from strato.retries import Retries
from strato.schedule import Schedule

MAX_TIMEOUT_S = 24 * 3600
MAX_EPHEMERAL_DISK_MIB = 3 * 1024 * 1024
MAX_CPU = 64.0
MAX_MEMORY_MIB = 1024 * 1024
MAX_SCALEDOWN_WINDOW_S = 24 * 3600

#: Every keyword ``@app.function`` accepts (Modal's names), deprecated ones included.
FUNCTION_PARAMETERS = frozenset(
    {
        "image", "schedule", "secrets", "gpu", "serialized", "network_file_systems", "volumes",
        "cpu", "memory", "ephemeral_disk", "min_containers", "max_containers",
        "buffer_containers", "scaledown_window", "proxy", "retries", "timeout",
        "startup_timeout", "name", "is_generator", "cloud", "region", "nonpreemptible",
        "enable_memory_snapshot", "block_network", "restrict_modal_access", "max_inputs",
        "i6pn", "include_source", "experimental_options", "_experimental_scheduler_placement",
        "_experimental_proxy_ip", "_experimental_custom_scaling_factor", "keep_warm",
        "concurrency_limit", "container_idle_timeout", "allow_concurrent_inputs",
        "allow_cross_region_volumes", "_experimental_buffer_containers",
    }
)  # fmt: skip
#: ``@app.cls`` takes the same, less those that only make sense for one function.
CLS_PARAMETERS = FUNCTION_PARAMETERS - {"schedule", "name", "is_generator"}

_RENAMED = {
    "keep_warm": "min_containers",
    "concurrency_limit": "max_containers",
    "container_idle_timeout": "scaledown_window",
    "_experimental_buffer_containers": "buffer_containers",
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int_in(name: str, value: Any, low: int, high: int | None = None) -> int:
    if not _is_int(value):
        raise InvalidError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"between {low} and {high}"
        raise InvalidError(f"{name} must be {allowed}, got {value}")
    return int(value)


def _request_limit(name: str, value: Any, unit: str, maximum: float) -> tuple[float, float | None]:
    if isinstance(value, tuple):
        if len(value) != 2 or not all(_is_number(v) for v in value):
            raise InvalidError(
                f"{name} must be a number or a (request, limit) pair of numbers, got {value!r}"
            )
        request, limit = value
        if limit < request:
            raise InvalidError(f"{name}: the limit ({limit}) must be >= the request ({request})")
    elif _is_number(value):
        request, limit = value, None
    else:
        raise InvalidError(
            f"{name} must be a number of {unit} or a (request, limit) pair, got {value!r}"
        )
    if not 0 < request <= maximum:
        raise InvalidError(
            f"{name} must be more than 0 and at most {maximum:g} {unit}, got {request}"
        )
    return float(request), None if limit is None else float(limit)


def unknown_keyword(kind: str, name: str, allowed: frozenset[str]) -> InvalidError:
    """The error for a keyword the decorator does not take, with the nearest valid one."""
    public = sorted(a for a in allowed if not a.startswith("_"))
    hint = difflib.get_close_matches(name, public, n=1)
    suggestion = (
        f"; did you mean {hint[0]!r}?" if hint else f"; valid arguments: {', '.join(public)}"
    )
    return InvalidError(f"@app.{kind}() got an unexpected argument {name!r}{suggestion}")


def validate_options(
    kind: str, given: Mapping[str, Any], flags: Mapping[str, Any]
) -> dict[str, Any]:
    """Check every argument of ``@app.{kind}()`` and return the normalized options."""
    allowed = FUNCTION_PARAMETERS if kind == "function" else CLS_PARAMETERS
    for name in given:
        if name not in allowed:
            raise unknown_keyword(kind, name, allowed)
    args = dict(given)
    for old, new in _RENAMED.items():
        if args.get(old) is not None:
            warnings.warn(f"{old} is deprecated: use {new}", DeprecationError, stacklevel=3)
            if args.get(new) is not None:
                raise InvalidError(f"pass either {old} or {new}, not both")
            args[new] = args.pop(old)
    out: dict[str, Any] = {}

    timeout = args.get("timeout", 300)
    out["timeout"] = _int_in("timeout", timeout if timeout is not None else 300, 1, MAX_TIMEOUT_S)
    if args.get("startup_timeout") is not None:
        out["startup_timeout"] = _int_in(
            "startup_timeout", args["startup_timeout"], 1, MAX_TIMEOUT_S
        )

    for name in ("min_containers", "buffer_containers"):
        if args.get(name) is not None:
            out[name] = _int_in(name, args[name], 0, 1000)
    if args.get("max_containers") is not None:
        out["max_containers"] = _int_in("max_containers", args["max_containers"], 1, 10000)
    if out.get("min_containers", 0) > out.get("max_containers", 10**9):
        raise InvalidError(
            f"min_containers ({out['min_containers']}) must not exceed "
            f"max_containers ({out['max_containers']})"
        )
    if args.get("scaledown_window") is not None:
        out["scaledown_window"] = _int_in(
            "scaledown_window", args["scaledown_window"], 2, MAX_SCALEDOWN_WINDOW_S
        )
    if args.get("max_inputs") is not None:
        out["max_inputs"] = _int_in("max_inputs", args["max_inputs"], 1)

    retries = args.get("retries")
    if retries is not None:
        if _is_int(retries):
            retries = Retries(max_retries=retries, backoff_coefficient=1.0, initial_delay=1.0)
        if not isinstance(retries, Retries):
            raise InvalidError(
                f"retries must be an int or strato.Retries, got {type(retries).__name__}"
            )
        out["retries"] = retries.to_dict()

    if args.get("cpu") is not None:
        out["cpu"], out["cpu_limit"] = _request_limit("cpu", args["cpu"], "cores", MAX_CPU)
    if args.get("memory") is not None:
        request, limit = _request_limit("memory", args["memory"], "MiB", MAX_MEMORY_MIB)
        out["memory"], out["memory_limit"] = int(request), None if limit is None else int(limit)
    if args.get("ephemeral_disk") is not None:
        out["ephemeral_disk"] = _int_in(
            "ephemeral_disk", args["ephemeral_disk"], 1, MAX_EPHEMERAL_DISK_MIB
        )

    _placement(args, out)

    schedule = args.get("schedule")
    if schedule is not None:
        if not isinstance(schedule, Schedule):
            raise InvalidError(
                f"schedule must be strato.Cron or strato.Period, got {type(schedule).__name__}"
            )
        out["schedule"] = schedule.to_dict()

    for name in ("secrets",):
        value = args.get(name) or ()
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise InvalidError(f"{name} must be a list, got {type(value).__name__}")
    for name in ("volumes", "network_file_systems"):
        value = args.get(name) or {}
        if not isinstance(value, Mapping):
            raise InvalidError(
                f"{name} must be a dict of mount path to object, got {type(value).__name__}"
            )
        for path in value:
            if not isinstance(path, str | PurePosixPath) or not str(path).startswith("/"):
                raise InvalidError(f"{name}: mount paths must be absolute paths, got {path!r}")

    for name in (
        "serialized", "enable_memory_snapshot", "block_network", "restrict_modal_access",
        "nonpreemptible",
    ):  # fmt: skip
        if args.get(name) is not None and not isinstance(args[name], bool):
            raise InvalidError(f"{name} must be True or False, got {args[name]!r}")
        if args.get(name):
            out[name] = True
    if args.get("include_source") is not None:
        if not isinstance(args["include_source"], bool):
            raise InvalidError(
                f"include_source must be True or False, got {args['include_source']!r}"
            )
        out["include_source"] = args["include_source"]  # else the app's setting applies
    if args.get("name") is not None and not isinstance(args["name"], str):
        raise InvalidError(f"name must be a str, got {type(args['name']).__name__}")

    concurrent = flags.get("concurrent")
    if args.get("allow_concurrent_inputs") is not None:
        warnings.warn(
            "allow_concurrent_inputs is deprecated: use @strato.concurrent",
            DeprecationError,
            stacklevel=3,
        )
        concurrent = {
            "max_inputs": _int_in("allow_concurrent_inputs", args["allow_concurrent_inputs"], 1)
        }
    if concurrent:
        out["max_concurrent_inputs"] = concurrent["max_inputs"]
        if concurrent.get("target_inputs"):
            out["target_concurrent_inputs"] = concurrent["target_inputs"]
    return out


def _placement(args: Mapping[str, Any], out: dict[str, Any]) -> None:
    """gpu, cloud and region: parsed against the GPU table and the region vocabulary."""
    from strato.pricing.gpu import parse_gpu
    from strato.regions import resolve_regions, validate_cloud

    gpu = args.get("gpu")
    if gpu is not None:
        requests = parse_gpu(gpu)
        out["gpu"] = [str(r) for r in requests]
        out["gpu_label"] = out["gpu"][0] if requests else None
    cloud = _cloud(args.get("cloud"), validate_cloud)
    if cloud is not None:
        out["cloud"] = cloud
    elif isinstance(args.get("cloud"), str):
        out["cloud"] = "auto"  # explicitly any cloud: placement chooses
    region = args.get("region")
    if region is not None:
        regions = resolve_regions(region, cloud if cloud in BUILTIN_CLOUDS else None)
        out["region"] = [region] if isinstance(region, str) else list(region)
        out["regions_resolved"] = [f"{r.provider}:{r.name}" for r in regions]
    if (gpu is not None or region is not None) and out.get("cloud", "auto") in (
        *BUILTIN_CLOUDS[:4],
        "auto",
    ):
        _check_satisfiable(out)


def _check_satisfiable(options: dict[str, Any]) -> None:
    """A gpu/region/cloud combination that no catalog row satisfies is an error now, not
    at the first call. Checked in the caller only: a container imports an app already
    checked (and skips loading the catalog)."""
    import os

    if "STRATO_CONTAINER_ID" in os.environ:
        return
    from strato.core.placement import PlacementSpec, rank_offers

    rank_offers(PlacementSpec.from_options(options), limit=1)


BUILTIN_CLOUDS = ("aws", "gcp", "azure", "oci", "local")


def _cloud(value: Any, validate: Any) -> str | None:
    """A built-in cloud name, or the name of a provider a plugin registered."""
    try:
        return validate(value)  # type: ignore[no-any-return]
    except InvalidError:
        if isinstance(value, str):
            from strato.plugins.manager import default_providers

            if value.strip().lower() in default_providers().by_name:
                return value.strip().lower()
        raise
