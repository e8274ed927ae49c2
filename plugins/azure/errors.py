"""Every Azure SDK error, as a :class:`strato.exception.ProviderError`; the one place it happens.

ARM reports a refusal in one of two places: synchronously, as the body of the failed request
(``{"error": {"code": "SkuNotAvailable", "message": ...}}``, HTTP 409), or asynchronously, in
the ``Azure-AsyncOperation`` status the SDK polls (``{"status": "Failed", "error": {"code":
"AllocationFailed", ...}}``, HTTP 200). azure-core raises ``HttpResponseError`` for both, with
the parsed body as ``.error`` (``code``, ``message``, ``details``), so the codes decide:

===============================================  =================================
``AllocationFailed``, ``ZonalAllocationFailed``,  CapacityError
``SkuNotAvailable``,
``OverconstrainedAllocationRequest``,
``OverconstrainedZonalAllocationRequest``
``QuotaExceeded``, ``OperationNotAllowed``        QuotaError
naming a quota
HTTP 401/403, ``AuthorizationFailed``,            CredentialsError
``InvalidAuthenticationToken``, ...; azure-
identity's ``ClientAuthenticationError`` and
``CredentialUnavailableError``
HTTP 429 and 5xx, ``InternalExecutionError``,     ProviderUnavailableError
..., ``ServiceRequestError`` and
``ServiceResponseError`` (connection failures,
timeouts)
anything else                                     ProviderError (not retryable)
===============================================  =================================
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from strato.exception import (
    CapacityError,
    CredentialsError,
    ProviderError,
    ProviderUnavailableError,
    QuotaError,
)

PROVIDER = "azure"

CAPACITY_CODES = frozenset(
    {
        "AllocationFailed",
        "ZonalAllocationFailed",
        "SkuNotAvailable",
        "OverconstrainedAllocationRequest",
        "OverconstrainedZonalAllocationRequest",
    }
)
QUOTA_CODES = frozenset({"QuotaExceeded"})
CREDENTIAL_CODES = frozenset(
    {
        "AuthenticationFailed",
        "AuthorizationFailed",
        "InvalidAuthenticationToken",
        "InvalidAuthenticationTokenTenant",
        "ExpiredAuthenticationToken",
        "LinkedAuthorizationFailed",
        "SubscriptionNotFound",
        "InvalidSubscriptionId",
    }
)
UNAVAILABLE_CODES = frozenset(
    {
        "InternalExecutionError",
        "InternalServerError",
        "InternalOperationError",
        "ServiceUnavailable",
        "GatewayTimeout",
        "RetryableError",
        "TooManyRequests",
        "OperationPreempted",
    }
)

#: What a refused credential check tells the operator to set.
CREDENTIALS_HINT = (
    "set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET (a service principal; "
    "or sign in with `az login` or a managed identity) and AZURE_SUBSCRIPTION_ID"
)


def error_codes(exc: Any) -> list[str]:
    """The ARM error code of an ``HttpResponseError`` and of its details, outermost first."""
    codes: list[str] = []
    pending = [getattr(exc, "error", None)]
    while pending:
        error = pending.pop(0)
        if error is None:
            continue
        code = getattr(error, "code", None)
        if code:
            codes.append(str(code))
        pending.extend(getattr(error, "details", None) or [])
    return codes


def _message(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    text = getattr(error, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def to_provider_error(
    exc: BaseException, *, region: str | None = None, action: str = "calling Azure"
) -> ProviderError:
    """The ProviderError an exception raised by an Azure SDK stands for."""
    if isinstance(exc, ProviderError):
        if exc.region is None:
            exc.region = region
        return exc
    from azure.core import exceptions as az

    where = f" in {region}" if region else ""
    if isinstance(exc, az.ClientAuthenticationError):
        # azure-identity's CredentialUnavailableError is a ClientAuthenticationError too
        codes = error_codes(exc)
        code: str | int = codes[0] if codes else exc.status_code or type(exc).__name__
        return CredentialsError(
            f"Azure refused the credentials while {action}{where} ({code}): "
            f"{_message(exc)}; {CREDENTIALS_HINT}",
            provider=PROVIDER,
            code=code,
            region=region,
        )
    if isinstance(exc, az.HttpResponseError):
        return _from_response(exc, region=region, action=action)
    if isinstance(exc, az.ServiceRequestError | az.ServiceResponseError):
        return ProviderUnavailableError(
            f"Azure could not be reached while {action}{where}: {_message(exc)}",
            provider=PROVIDER,
            code=type(exc).__name__,
            region=region,
        )
    if isinstance(exc, az.AzureError):
        return ProviderUnavailableError(
            f"Azure failed while {action}{where}: {_message(exc)}",
            provider=PROVIDER,
            code=type(exc).__name__,
            region=region,
        )
    return ProviderError(
        f"unexpected {type(exc).__name__} while {action}{where}: {exc}",
        provider=PROVIDER,
        code=type(exc).__name__,
        region=region,
    )


def _from_response(exc: Any, *, region: str | None, action: str) -> ProviderError:
    codes = error_codes(exc)
    status: int | None = exc.status_code
    message = _message(exc)
    where = f" in {region}" if region else ""
    code: str | int | None = codes[0] if codes else status
    text = f"Azure {code}{where} while {action}: {message}"

    capacity = [c for c in codes if c in CAPACITY_CODES]
    if capacity:
        return CapacityError(text, provider=PROVIDER, code=capacity[0], region=region)
    quota = [
        c
        for c in codes
        if c in QUOTA_CODES
        or "quota" in c.lower()
        or (c == "OperationNotAllowed" and _quota(message))
    ]
    if quota:
        return QuotaError(text, provider=PROVIDER, code=quota[0], region=region)
    if status in (401, 403) or any(c in CREDENTIAL_CODES for c in codes):
        return CredentialsError(
            f"{text}; {CREDENTIALS_HINT}", provider=PROVIDER, code=code, region=region
        )
    if (status is not None and (status >= 500 or status == 429)) or any(
        c in UNAVAILABLE_CODES for c in codes
    ):
        return ProviderUnavailableError(text, provider=PROVIDER, code=code, region=region)
    return ProviderError(text, provider=PROVIDER, code=code, region=region)


def _quota(message: str) -> bool:
    return "quota" in message.lower()


@contextmanager
def translated(region: str | None = None, action: str = "calling Azure") -> Iterator[None]:
    """Re-raise whatever the block raises as a ProviderError (the SDK error chained)."""
    try:
        yield
    except ProviderError:
        raise
    except Exception as exc:
        raise to_provider_error(exc, region=region, action=action) from exc
