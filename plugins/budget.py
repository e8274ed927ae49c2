"""Budget caps per app, as a wrapper around provisioning (a built-in plugin).

The operator sets caps in config.toml, in dollars, by app name::

    [budgets]
    nightly-training = 250.0
    "*" = 1000.0            # every app without its own cap

Before each launch the wrapper adds what the app has spent so far (the cost ledger) to one
hour of the machine about to start, with its multipliers; if that would pass the cap, the
launch is refused with :class:`~strato.exception.BudgetExceededError`, which is not
retryable: the function's inputs fail with a message naming the cap and the spend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strato.exception import BudgetExceededError
from strato.plugins.hookspecs import hookimpl


class BudgetCap:
    """Refuses launches that would take an app past its cap."""

    def __init__(
        self,
        spent: Callable[[str], float],
        caps: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self._spent = spent
        self._caps = caps or _caps_from_settings

    @hookimpl(wrapper=True)
    def strato_provision(self, spec: Any, provider: Any, offer: Any) -> Any:
        caps = self._caps()
        cap = caps.get(spec.app_name or "", caps.get("*"))
        if cap is not None:
            hourly = float(offer.price(bool(spec.spot))) if offer is not None else 0.0
            spent = self._spent(spec.app_id)
            if spent + hourly > cap:
                raise BudgetExceededError(
                    f"app {spec.app_name or spec.app_id!r} has spent ${spent:.2f} of its "
                    f"${cap:.2f} budget; starting {getattr(offer, 'instance_type', 'a container')} "
                    f"(${hourly:.2f}/h) could exceed it (config.toml [budgets])",
                    provider=provider.name,
                    retryable=False,
                )
        return (yield)


def _caps_from_settings() -> dict[str, float]:
    from strato.config import load_settings

    table = load_settings().get("budgets") or {}
    return {str(k): float(v) for k, v in table.items()}
