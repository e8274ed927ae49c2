"""GCP's refusals, mapped into Strato's ``ProviderError`` family in one place.

Compute Engine refuses in two ways, and both end up here:

- synchronously, as an HTTP error with a JSON body
  ``{"error": {"code": 403, "message": "...", "errors": [{"reason": "quotaExceeded", ...}]}}``
  that ``google.api_core`` raises as a ``GoogleAPICallError`` (``.code`` the HTTP status,
  ``.errors`` the ``errors`` list, ``.reason`` the ``ErrorInfo`` reason where there is one);
- asynchronously, in the finished zone operation: ``operation.error.errors[].code`` such as
  ``ZONE_RESOURCE_POOL_EXHAUSTED`` with ``httpErrorStatusCode`` 503, or ``QUOTA_EXCEEDED``
  with 403.

In order of precedence (the first that matches wins):

1. ``ZONE_RESOURCE_POOL_EXHAUSTED``, ``ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS``,
   ``insufficientCapacity``, ``UNSUPPORTED_OPERATION`` -> ``CapacityError`` (another zone or
   region may have machines);
2. ``rateLimitExceeded``, ``userRateLimitExceeded``, ``RESOURCE_OPERATION_RATE_EXCEEDED``,
   ``RESOURCE_NOT_READY``, ``backendError`` -> ``ProviderUnavailableError`` (throttling or a
   passing state, not quota);
3. ``QUOTA_EXCEEDED``, ``quotaExceeded`` -> ``QuotaError``;
4. HTTP 401 or 403 (permissions, API disabled), missing or unusable Application Default
   Credentials -> ``CredentialsError``, its message naming what to set;
5. HTTP 408, 429, 5xx, timeouts, connection errors -> ``ProviderUnavailableError``;
6. any other 4xx -> ``ProviderError`` (not retryable); any other exception ->
   ``ProviderUnavailableError``.

Throttling is checked before quota: Compute's rate-limit message reads "Quota exceeded for
quota metric 'Read requests' ..." yet its reason is ``rateLimitExceeded``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strato.exception import (
    CapacityError,
    CredentialsError,
    ProviderError,
    ProviderUnavailableError,
    QuotaError,
)

PROVIDER = "gcp"

#: What to do when credentials are missing or rejected.
CREDENTIALS_HINT = (
    "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or run "
    "`gcloud auth application-default login`, and set STRATO_GCP_PROJECT (or "
    "GOOGLE_CLOUD_PROJECT) to the project"
)

#: The zone has no machines of that kind now (SkyPilot's failover treats these per zone;
#: UNSUPPORTED_OPERATION is what a Spot VM preempted while being created reports).
CAPACITY_CODES = frozenset(
    {
        "ZONE_RESOURCE_POOL_EXHAUSTED",
        "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
        "insufficientCapacity",
        "UNSUPPORTED_OPERATION",
    }
)
QUOTA_CODES = frozenset({"QUOTA_EXCEEDED", "quotaExceeded"})
#: Throttling and transient states: retry later, the quota is not the problem.
TRANSIENT_CODES = frozenset(
    {
        "rateLimitExceeded",
        "userRateLimitExceeded",
        "RATE_LIMIT_EXCEEDED",
        "RESOURCE_OPERATION_RATE_EXCEEDED",
        "RESOURCE_NOT_READY",
        "resourceNotReady",
        "backendError",
        "internalError",
    }
)


def _first(codes: Iterable[str], wanted: frozenset[str]) -> str | None:
    return next((code for code in codes if code in wanted), None)


def classify(
    codes: list[str], http_status: int | None, message: str = ""
) -> tuple[type[ProviderError], str | int | None]:
    """The Strato error class for GCP's codes/reasons and HTTP status, and the code to report."""
    capacity = _first(codes, CAPACITY_CODES) or next(
        (code for code in sorted(CAPACITY_CODES, key=len, reverse=True) if code in message), None
    )
    if capacity:
        return CapacityError, capacity
    transient = _first(codes, TRANSIENT_CODES)
    if transient:
        return ProviderUnavailableError, transient
    quota = _first(codes, QUOTA_CODES)
    if quota:
        return QuotaError, quota
    code: str | int | None = codes[0] if codes else http_status
    if http_status in (401, 403):
        return CredentialsError, code
    if http_status is not None and (http_status in (408, 429) or http_status >= 500):
        return ProviderUnavailableError, code
    return ProviderError, code


def _error(
    cls: type[ProviderError],
    message: str,
    code: str | int | None,
    region: str | None,
    http_status: int | None = None,
) -> ProviderError:
    if cls is CredentialsError and "GOOGLE_APPLICATION_CREDENTIALS" not in message:
        message = f"{message} ({CREDENTIALS_HINT})"
    error = cls(f"gcp: {message}", provider=PROVIDER, code=code, region=region)
    error.http_status = http_status
    return error


def from_operation(operation: Any, *, region: str | None, zone: str | None) -> ProviderError:
    """The error of a finished zone operation (``operation.error.errors`` non-empty)."""
    errors = list(operation.error.errors)
    codes = [str(e.code) for e in errors if e.code]
    details = "; ".join(f"{e.code}: {e.message}" for e in errors) or "operation failed"
    http_status = int(operation.http_error_status_code or 0) or None
    cls, code = classify(codes, http_status, details)
    where = f" in {zone}" if zone else ""
    return _error(
        cls,
        f"{operation.operation_type or 'operation'}{where} failed: {details}",
        code,
        region,
        http_status,
    )


def from_exception(exc: BaseException, *, region: str | None, action: str = "") -> ProviderError:
    """Any exception raised by the SDK, its transport or google.auth, as a ``ProviderError``."""
    if isinstance(exc, ProviderError):
        return exc
    prefix = f"{action}: " if action else ""
    from google.api_core import exceptions as api_exceptions
    from google.auth import exceptions as auth_exceptions

    if isinstance(exc, api_exceptions.GoogleAPICallError):
        http_status = exc.code if isinstance(exc.code, int) else None
        reasons = [
            str(e.get("reason")) for e in exc.errors if isinstance(e, dict) and e.get("reason")
        ]
        if exc.reason:
            reasons.append(str(exc.reason))
        cls, code = classify(reasons, http_status, exc.message or "")
        text = f"{prefix}HTTP {http_status}: {exc.message}"
        return _error(cls, text, code, region, http_status)
    if isinstance(exc, api_exceptions.RetryError):
        return _error(ProviderUnavailableError, f"{prefix}gave up retrying: {exc}", "retry", region)
    if isinstance(exc, auth_exceptions.DefaultCredentialsError | auth_exceptions.RefreshError):
        return _error(CredentialsError, f"{prefix}{exc}", type(exc).__name__, region)
    if isinstance(exc, auth_exceptions.TransportError):
        return _error(ProviderUnavailableError, f"{prefix}{exc}", "transport", region)
    import requests

    if isinstance(exc, requests.exceptions.Timeout | TimeoutError):
        return _error(ProviderUnavailableError, f"{prefix}timed out: {exc}", "timeout", region)
    if isinstance(exc, requests.exceptions.ConnectionError | OSError):
        return _error(ProviderUnavailableError, f"{prefix}unreachable: {exc}", "connection", region)
    return _error(
        ProviderUnavailableError,
        f"{prefix}unexpected {type(exc).__name__}: {exc}",
        type(exc).__name__,
        region,
    )
