"""Every OCI SDK error becomes a :class:`strato.exception.ProviderError`, here and only here.

OCI answers an API error with an HTTP status and a JSON body ``{"code": ..., "message": ...}``,
which the SDK raises as ``oci.exceptions.ServiceError(status, code, headers, message)``
(see https://docs.oracle.com/iaas/Content/API/References/apierrors.htm). The mapping:

==============================================  ===============================================
OCI                                             Strato
==============================================  ===============================================
500 ``InternalError`` "Out of host capacity."   :class:`CapacityError` (LaunchInstance's
any message "Out of capacity for shape ..."     answer when an availability domain has no
                                                machine of the shape; try another domain)
400 ``LimitExceeded`` (service limit)           :class:`QuotaError`
400 ``QuotaExceeded`` (compartment quota)       :class:`QuotaError`
401 ``NotAuthenticated``                        :class:`CredentialsError`
404 ``NotAuthorizedOrNotFound`` on a launch     :class:`CredentialsError` (IAM policy, or a
                                                compartment, subnet or image not visible)
404 "shape ... not found" on a launch           :class:`CapacityError` (the domain does not
                                                offer the shape; another may)
``InvalidConfig``, ``ConfigFileNotFound``,      :class:`CredentialsError`
``ProfileNotFound``, ``InvalidPrivateKey``...
429 ``TooManyRequests``, 5xx,                   :class:`ProviderUnavailableError`
409 ``IncorrectState``/``ExternalServer...``
``RequestException``, ``ConnectTimeout``,       :class:`ProviderUnavailableError`
other ``OSError`` (refused, reset, timed out)
any other 4xx                                   :class:`ProviderError` (not retryable)
anything else                                   :class:`ProviderError` (not retryable)
==============================================  ===============================================

This module imports the SDK only inside :func:`provider_error`.
"""

from __future__ import annotations

import re
from typing import Any

from strato.exception import (
    CapacityError,
    CredentialsError,
    ProviderError,
    ProviderUnavailableError,
    QuotaError,
)

PROVIDER = "oci"

#: Phrases OCI uses when a domain has no machine of the shape (LaunchInstance's 500 says
#: "Out of host capacity."; the console and work requests say "Out of capacity for shape ...").
CAPACITY_PHRASES = ("out of host capacity", "out of capacity")
QUOTA_CODES = frozenset({"LimitExceeded", "QuotaExceeded"})
#: 409 codes OCI documents as "retry with backoff"
TRANSIENT_CONFLICTS = frozenset({"IncorrectState", "ExternalServerIncorrectState"})
#: LaunchInstance's 404 when the shape is not offered in that availability domain
#: ("shape VM.Standard.A1.Flex not found"): another domain may have it.
_SHAPE_NOT_FOUND = re.compile(r"\bshape\b.*\bnot found\b", re.IGNORECASE)

CREDENTIALS_HINT = (
    "set OCI_CONFIG_FILE (default ~/.oci/config) to an OCI config file with user, "
    "fingerprint, key_file, tenancy and region, and OCI_CONFIG_PROFILE to its profile"
)


def is_capacity_message(message: str | None) -> bool:
    """Whether an OCI error message says the domain is out of capacity."""
    text = (message or "").lower()
    return any(phrase in text for phrase in CAPACITY_PHRASES)


def service_error(
    status: int, code: str | None, message: str | None, *, region: str | None, launch: bool
) -> ProviderError:
    """The Strato error for one OCI API error answer."""
    text = f"OCI {status} {code}: {message}"
    where: dict[str, Any] = {"provider": PROVIDER, "region": region}
    if is_capacity_message(message):
        return CapacityError(text, code=code or status, **where)
    if launch and status == 404 and _SHAPE_NOT_FOUND.search(message or ""):
        return CapacityError(f"{text} (not offered in this domain)", code=code, **where)
    if code in QUOTA_CODES:
        return QuotaError(
            f"{text} (raise the limit or quota, or use another region)", code=code, **where
        )
    if status == 401 or code == "NotAuthenticated":
        return CredentialsError(f"{text}; {CREDENTIALS_HINT}", code=code or status, **where)
    if launch and status == 404:
        return CredentialsError(
            f"{text}; check that the user's policies allow launching instances in the "
            "compartment (STRATO_OCI_COMPARTMENT) and that the subnet (STRATO_OCI_SUBNET) "
            "and image (STRATO_OCI_IMAGE) exist in this region",
            code=code or status,
            **where,
        )
    if status == 429 or status >= 500 or (status == 409 and code in TRANSIENT_CONFLICTS):
        return ProviderUnavailableError(text, code=code or status, **where)
    return ProviderError(text, code=code or status, retryable=False, **where)


def provider_error(
    exc: BaseException, *, region: str | None, launch: bool = False
) -> ProviderError:
    """The Strato error for any exception raised by the OCI SDK (or around it)."""
    if isinstance(exc, ProviderError):
        return exc
    import oci

    where: dict[str, Any] = {"provider": PROVIDER, "region": region}
    if isinstance(exc, oci.exceptions.ServiceError):
        return service_error(exc.status, exc.code, exc.message, region=region, launch=launch)
    if isinstance(exc, oci.exceptions.ClientError):
        # InvalidConfig, ConfigFileNotFound, ProfileNotFound, InvalidPrivateKey, ...
        return CredentialsError(
            f"OCI configuration: {type(exc).__name__}: {exc}; {CREDENTIALS_HINT}",
            code=type(exc).__name__,
            **where,
        )
    if isinstance(exc, OSError):
        # oci.exceptions.RequestException and ConnectTimeout (the SDK's wrappers of requests'
        # errors) are OSErrors, like a refused or reset connection and a socket timeout.
        return ProviderUnavailableError(
            f"OCI API unreachable: {type(exc).__name__}: {exc}", code=type(exc).__name__, **where
        )
    if type(exc).__name__ == "CircuitBreakerError":
        return ProviderUnavailableError(
            f"OCI API circuit open: {exc}", code=type(exc).__name__, **where
        )
    return ProviderError(
        f"unexpected OCI SDK error {type(exc).__name__}: {exc}",
        code=type(exc).__name__,
        retryable=False,
        **where,
    )
