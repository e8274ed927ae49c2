"""Where a container runs: pick a provider and offer, provision it, fail over on refusal.

A function that names no ``gpu``, ``region`` or ``cloud`` runs on the local provider (a laptop
with cloud credentials in its environment does not start VMs for every function) unless the
operator sets ``[placement] default_cloud = "auto"`` in config.toml. Otherwise placement ranks
the catalog's offers of the providers that are loaded and have credentials
(:func:`strato.core.placement.rank_offers`) and :meth:`Launcher.launch` tries them in order:
a retryable refusal (capacity, quota, an API that keeps failing) moves to the next zone,
region or cloud, up to :data:`MAX_ATTEMPTS`; every attempt is an event, and all of them are
in ``NoOfferError.failover_history`` when nothing could be had. With no cloud provider able
to serve, the local provider runs the function and says what it could not honour.

Capacity memory: capacity, quota and preemption errors per (provider, region, instance type)
are kept in the store. An offer refused in the last :data:`BLOCK_S` seconds is skipped;
older ones are demoted by a failure rate that halves every :data:`HALF_LIFE_S` seconds.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from strato.core.store import Store
from strato.exception import (
    BudgetExceededError,
    CapacityError,
    CredentialsError,
    InvalidError,
    NoOfferError,
    ProviderError,
    ProviderUnavailableError,
    QuotaError,
)
from strato.plugins.manager import Providers
from strato.plugins.provider import ContainerHandle, ContainerSpec, Provider

log = logging.getLogger("strato.launcher")

MAX_ATTEMPTS = 32  # refusals tried before giving up on one container
BLOCK_S = 120.0
HALF_LIFE_S = 600.0
UNAVAILABLE_RETRIES = 2
UNAVAILABLE_BACKOFF_S = 0.5
CREDENTIALS_TTL_S = 300.0


@dataclass
class Attempt:
    """One try at provisioning, as kept in the failover history."""

    provider: str
    region: str | None
    instance_type: str | None
    outcome: str  # launched | refused | skipped
    error: str | None = None
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Launch:
    """A provisioned container and what it runs on."""

    provider: Provider
    handle: ContainerHandle
    offer: Any = None
    usd_per_hour: float = 0.0
    attempts: list[Attempt] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


class CapacityMemory:
    """Recent refusals and preemptions per offer, decaying with age."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: tuple[float, list[dict[str, Any]]] = (0.0, [])

    def record(
        self, provider: str, region: str | None, instance_type: str | None, kind: str
    ) -> None:
        self.store.add_capacity_event(provider, region or "", instance_type or "", kind)
        self._cache = (0.0, [])

    def _recent(self) -> list[dict[str, Any]]:
        fetched, rows = self._cache
        now = time.time()
        if now - fetched > 1.0:
            rows = self.store.capacity_events_since(now - 8 * HALF_LIFE_S)
            self._cache = (now, rows)
        return rows

    def blocked(self, provider: str, region: str, instance_type: str) -> bool:
        now = time.time()
        return any(
            r["provider"] == provider
            and r["region"] == region
            and r["instance_type"] == instance_type
            and now - r["ts"] < BLOCK_S
            for r in self._recent()
        )

    def failure_rate(self, offer: Any) -> float:
        """0 for an offer with no recent trouble, approaching 1 with repeated recent errors."""
        now = time.time()
        score = sum(
            math.exp(-math.log(2) * (now - r["ts"]) / HALF_LIFE_S)
            for r in self._recent()
            if r["provider"] == offer.provider
            and r["region"] == offer.region
            and r["instance_type"] == offer.instance_type
        )
        return 1.0 - math.exp(-score)


class Launcher:
    """Places and provisions containers through the providers' plugin manager."""

    def __init__(self, store: Store, providers: Providers) -> None:
        self.store = store
        self.providers = providers
        self.capacity = CapacityMemory(store)
        self._credentials: dict[str, tuple[float, bool, str]] = {}
        self._lock = threading.Lock()

    # -- which providers may serve -------------------------------------------------------------
    def usable(self, name: str) -> tuple[bool, str]:
        """Whether a provider has working credentials (checked at most every 5 minutes)."""
        now = time.time()
        with self._lock:
            cached = self._credentials.get(name)
            if cached and now - cached[0] < CREDENTIALS_TTL_S:
                return cached[1], cached[2]
        try:
            check = self.providers.get(name).check_credentials()
            ok, message = bool(check.ok), str(check.message)
        except Exception as exc:  # noqa: BLE001 - a broken check means "not usable"
            ok, message = False, f"credential check failed: {exc}"
        with self._lock:
            self._credentials[name] = (now, ok, message)
        return ok, message

    def forget_credentials(self, name: str, message: str) -> None:
        with self._lock:
            self._credentials[name] = (time.time(), False, message)

    @staticmethod
    def wants_cloud(options: dict[str, Any]) -> bool:
        """Whether a function asks for something only a cloud can give."""
        from strato.config import wants_cloud

        return wants_cloud(options)

    def cloud_providers(self, options: dict[str, Any]) -> tuple[list[str], list[str]]:
        """(usable provider names, one line per provider skipped and why)."""
        cloud = options.get("cloud")
        names = [n for n in self.providers.by_name if n != "local" and cloud in (None, "auto", n)]
        usable, skipped = [], []
        for name in names:
            ok, message = self.usable(name)
            if ok:
                usable.append(name)
            else:
                skipped.append(f"{name} skipped: {message}")
        return usable, skipped

    # -- launching -----------------------------------------------------------------------------
    def launch(
        self, spec: ContainerSpec, options: dict[str, Any], context: dict[str, Any]
    ) -> Launch:
        """Provision one container for ``spec``; raises NoOfferError when nothing works."""
        local = self.providers.get("local")
        if not self.wants_cloud(options):
            return self._local(local, spec, context, [])
        names, skipped = self.cloud_providers(options)
        if not names:
            note = "no cloud provider with credentials is loaded"
            return self._local(local, spec, context, [note, *skipped])
        offers = self._offers(options, names)
        attempts: list[Attempt] = []
        for offer in offers:
            if len([a for a in attempts if a.outcome != "skipped"]) >= MAX_ATTEMPTS:
                break
            if offer.provider not in names:
                continue  # lost its credentials during this launch
            if self.capacity.blocked(offer.provider, offer.region, offer.instance_type):
                attempts.append(
                    Attempt(
                        offer.provider,
                        offer.region,
                        offer.instance_type,
                        "skipped",
                        "recent-refusal",
                    )
                )
                self._event(context, spec, attempts[-1])
                continue
            provider = self.providers.get(offer.provider)
            placed = self._try(provider, spec, offer, options, attempts, context)
            if placed is not None:
                price = offer.price(bool(spec.spot)) if hasattr(offer, "price") else 0.0
                return Launch(provider, placed, offer, float(price or 0.0), attempts, skipped)
            if attempts[-1].error == "CredentialsError":
                names.remove(offer.provider)
        history = [a.as_dict() for a in attempts]
        tried = (
            ", ".join(f"{a.provider}:{a.region}:{a.instance_type} ({a.error})" for a in attempts)
            or "none"
        )
        raise NoOfferError(
            f"could not provision {spec.function_name} on any offer; tried: {tried}",
            failover_history=history,
        )

    def _local(
        self, local: Provider, spec: ContainerSpec, context: dict[str, Any], notices: list[str]
    ) -> Launch:
        handle = self.providers.provision(local, spec, None)
        self._event(
            context, spec, Attempt("local", handle.region, handle.instance_type, "launched")
        )
        return Launch(local, handle, notices=notices)

    def _offers(self, options: dict[str, Any], names: list[str]) -> list[Any]:
        """Offers to try, best first: the catalog's, ranked by placement, then those of
        providers that price their own machines (``list_offers``), cheapest first."""
        from strato.core.placement import PlacementSpec, rank_offers
        from strato.pricing.catalog import default_catalog

        cataloged = set(default_catalog().providers())
        own = [n for n in names if n not in cataloged]
        offers: list[Any] = []
        problem: InvalidError | None = None
        if any(n in cataloged for n in names):
            try:
                offers = [
                    r.offer
                    for r in rank_offers(
                        PlacementSpec.from_options(options),
                        providers=[n for n in names if n in cataloged],
                        failure_rate=self.capacity.failure_rate,
                    )
                ]
            except InvalidError as exc:
                problem = exc
        for name in own:
            list_offers = getattr(self.providers.get(name), "list_offers", None)
            if list_offers is not None:
                offers += sorted(list_offers(options), key=lambda o: o.on_demand_usd_per_hour)
        if not offers:
            reason = f": {problem}" if problem else ""
            raise NoOfferError(f"no offer can run this function{reason}", failover_history=[])
        return offers

    def _try(
        self,
        provider: Provider,
        spec: ContainerSpec,
        offer: Any,
        options: dict[str, Any],
        attempts: list[Attempt],
        context: dict[str, Any],
    ) -> ContainerHandle | None:
        placed_spec = _for_offer(spec, offer)
        for retry in range(UNAVAILABLE_RETRIES + 1):
            try:
                handle = self.providers.provision(provider, placed_spec, offer)
            except BudgetExceededError:
                raise  # no other offer changes what the app may spend
            except ProviderError as exc:
                error = exc
            except Exception as exc:  # noqa: BLE001 - a provider bug must not stop failover
                error = ProviderUnavailableError(
                    f"{type(exc).__name__}: {exc}", provider=provider.name
                )
            else:
                attempts.append(
                    Attempt(provider.name, offer.region, offer.instance_type, "launched")
                )
                self._event(context, spec, attempts[-1], zone=handle.zone)
                return handle
            if isinstance(error, ProviderUnavailableError) and retry < UNAVAILABLE_RETRIES:
                time.sleep(UNAVAILABLE_BACKOFF_S * 2**retry)
                continue
            break
        attempt = Attempt(
            provider.name,
            offer.region,
            offer.instance_type,
            "refused",
            type(error).__name__,
            str(error),
        )
        attempts.append(attempt)
        self._event(context, spec, attempt)
        if isinstance(error, CapacityError | QuotaError):
            self.capacity.record(
                provider.name,
                offer.region,
                offer.instance_type,
                "capacity" if isinstance(error, CapacityError) else "quota",
            )
        elif isinstance(error, CredentialsError):
            log.warning("%s: %s", provider.name, error)
            self.forget_credentials(provider.name, str(error))
        return None

    def _event(
        self,
        context: dict[str, Any],
        spec: ContainerSpec,
        attempt: Attempt,
        zone: str | None = None,
    ) -> None:
        self.store.add_event(
            app_id=spec.app_id,
            function_id=spec.function_id,
            container_id=spec.container_id,
            kind=attempt.outcome,
            provider=attempt.provider,
            region=attempt.region,
            zone=zone,
            instance_type=attempt.instance_type,
            error=attempt.error,
            message=attempt.message,
        )


def _for_offer(spec: ContainerSpec, offer: Any) -> ContainerSpec:
    from dataclasses import replace

    return replace(spec, region=[offer.region], cloud=offer.provider)
