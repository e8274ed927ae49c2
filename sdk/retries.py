"""``strato.Retries``: how often, and after what delay, a failed input is retried."""

from __future__ import annotations

from typing import Any

from strato.exception import InvalidError

MAX_RETRIES = 10
MAX_DELAY_S = 60.0


class Retries:
    """A retry policy: ``max_retries`` attempts after the first, with exponential backoff.

    The delay before retry ``n`` is ``initial_delay * backoff_coefficient ** (n - 1)``, capped
    at ``max_delay``. ``retries=3`` on a function means ``Retries(max_retries=3,
    backoff_coefficient=1.0, initial_delay=1.0)``.
    """

    def __init__(
        self,
        *,
        max_retries: int,
        backoff_coefficient: float = 2.0,
        initial_delay: float = 1.0,
        max_delay: float = 60.0,
    ) -> None:
        if not isinstance(max_retries, int) or isinstance(max_retries, bool):
            raise InvalidError(f"Retries: max_retries must be an int, got {max_retries!r}")
        if not 0 <= max_retries <= MAX_RETRIES:
            raise InvalidError(
                f"Retries: max_retries must be between 0 and {MAX_RETRIES}, got {max_retries}"
            )
        if not 1.0 <= backoff_coefficient <= 10.0:
            raise InvalidError(
                "Retries: backoff_coefficient must be between 1.0 and 10.0, "
                f"got {backoff_coefficient}"
            )
        if not 0.0 <= initial_delay <= MAX_DELAY_S:
            raise InvalidError(
                f"Retries: initial_delay must be between 0 and {MAX_DELAY_S:.0f} s, "
                f"got {initial_delay}"
            )
        if not 1.0 <= max_delay <= MAX_DELAY_S:
            raise InvalidError(
                f"Retries: max_delay must be between 1 and {MAX_DELAY_S:.0f} s, got {max_delay}"
            )
        self.max_retries = max_retries
        self.backoff_coefficient = float(backoff_coefficient)
        self.initial_delay = float(initial_delay)
        self.max_delay = float(max_delay)

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_retries": self.max_retries,
            "backoff_coefficient": self.backoff_coefficient,
            "initial_delay": self.initial_delay,
            "max_delay": self.max_delay,
        }

    def __repr__(self) -> str:
        return (
            f"Retries(max_retries={self.max_retries}, "
            f"backoff_coefficient={self.backoff_coefficient}, "
            f"initial_delay={self.initial_delay}, max_delay={self.max_delay})"
        )
