"""Every boto3/botocore error, as a Strato :class:`~strato.exception.ProviderError`.

One table, by EC2 error code (the ``Error.Code`` of the response), checked before the HTTP
status: EC2 answers ``InsufficientInstanceCapacity`` with HTTP 500 and it is a capacity
refusal, not an outage. The codes are those of the EC2 API reference ("Error codes for the
Amazon EC2 API") and of STS/SSM for the credential check and the image lookup.

========================================  =====================================================
``CapacityError`` (retry another zone,    InsufficientInstanceCapacity, InsufficientHostCapacity,
region or cloud)                          InsufficientReservedInstanceCapacity,
                                          InsufficientCapacity, InsufficientFreeAddressesInSubnet,
                                          Unsupported (the type is not offered in that zone)
``QuotaError`` (the account's limit)      VcpuLimitExceeded, InstanceLimitExceeded,
                                          MaxSpotInstanceCountExceeded, SpotMaxPriceTooLow
``CredentialsError`` (not retryable)      AuthFailure, UnauthorizedOperation,
                                          InvalidClientTokenId, SignatureDoesNotMatch,
                                          ExpiredToken, AccessDenied, ...; botocore's
                                          NoCredentialsError, PartialCredentialsError,
                                          ProfileNotFound, ...
``ProviderUnavailableError`` (retryable)  RequestLimitExceeded, Throttling, InternalError,
                                          Unavailable, ServiceUnavailable, any other HTTP 5xx;
                                          EndpointConnectionError, ConnectTimeoutError,
                                          ReadTimeoutError and botocore's other connection errors
``ProviderError`` (not retryable)         anything else (a malformed request, an unknown AMI...)
========================================  =====================================================
"""

from __future__ import annotations

from typing import Any

from strato.exception import (
    CapacityError,
    CredentialsError,
    ProviderError,
    ProviderUnavailableError,
    QuotaError,
)

__all__ = ["CREDENTIAL_HINT", "CREDENTIAL_SOURCES", "error_code", "from_sdk", "is_not_found"]

PROVIDER = "aws"

#: What a user sets so boto3 finds credentials (environment variables and files).
CREDENTIAL_SOURCES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "~/.aws/credentials",
)
CREDENTIAL_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary "
    "credentials), or AWS_PROFILE naming a profile in ~/.aws/credentials"
)

CAPACITY_CODES = frozenset(
    {
        "InsufficientInstanceCapacity",
        "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity",
        "InsufficientCapacity",
        "InsufficientFreeAddressesInSubnet",
        "Unsupported",
    }
)
QUOTA_CODES = frozenset(
    {
        "VcpuLimitExceeded",
        "InstanceLimitExceeded",
        "MaxSpotInstanceCountExceeded",
        "SpotMaxPriceTooLow",
    }
)
CREDENTIAL_CODES = frozenset(
    {
        "AuthFailure",
        "UnauthorizedOperation",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "AccessDenied",
        "AccessDeniedException",
        "MissingAuthenticationToken",
        "IncompleteSignature",
        "Blocked",
    }
)
UNAVAILABLE_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "Unavailable",
        "RequestTimeout",
        "RequestExpired",
    }
)
#: botocore's own exceptions that mean "no usable credentials here" (matched by class name,
#: so that botocore versions without one of them still import this module).
CREDENTIAL_EXCEPTIONS = frozenset(
    {
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "ProfileNotFound",
        "UnknownCredentialError",
        "NoAuthTokenError",
        "TokenRetrievalError",
        "SSOTokenLoadError",
        "UnauthorizedSSOTokenError",
        "InvalidConfigError",
    }
)
#: botocore's exceptions for a request that never got an answer.
UNREACHABLE_EXCEPTIONS = frozenset(
    {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
        "ProxyConnectionError",
        "SSLError",
        "ConnectionError",
        "HTTPClientError",
        "ResponseStreamingError",
    }
)


def error_code(exc: BaseException) -> tuple[str | None, int | None, str]:
    """(EC2 error code, HTTP status, message) of a botocore ``ClientError``-shaped exception."""
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, None, str(exc)
    error = response.get("Error") or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    code = error.get("Code")
    # EC2 sometimes prefixes codes with the fault side ("Client.UnauthorizedOperation").
    if isinstance(code, str) and code.startswith(("Client.", "Server.")):
        code = code.split(".", 1)[1]
    return code, status if isinstance(status, int) else None, str(error.get("Message") or exc)


def is_not_found(exc: BaseException) -> bool:
    """Whether an error says the instance does not exist (gone, or not visible yet)."""
    code, _, _ = error_code(exc)
    return code in {"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"}


def from_sdk(exc: BaseException, *, region: str | None, action: str) -> ProviderError:
    """The Strato error for an exception raised by boto3 during ``action`` in ``region``.

    The result carries ``provider="aws"``, ``code`` (EC2's error code, else the HTTP status,
    else botocore's exception name), ``region`` and ``http_status`` (None without a response).
    """
    if isinstance(exc, ProviderError):
        return exc
    code, status, message = error_code(exc)
    error = _classify(exc, code, status, message, region, action)
    error.http_status = status
    return error


def _classify(
    exc: BaseException,
    code: str | None,
    status: int | None,
    message: str,
    region: str | None,
    action: str,
) -> ProviderError:
    where = f"aws {region}" if region else "aws"
    if code is not None or status is not None:
        text = f"{where}: {action} failed: {code or status}: {message}"
        if code in CAPACITY_CODES:
            return CapacityError(text, provider=PROVIDER, code=code, region=region)
        if code in QUOTA_CODES:
            return QuotaError(text, provider=PROVIDER, code=code, region=region)
        if code in CREDENTIAL_CODES:
            text = f"{text} ({CREDENTIAL_HINT}, for an identity allowed to call EC2)"
            return CredentialsError(text, provider=PROVIDER, code=code, region=region)
        if code in UNAVAILABLE_CODES or (status is not None and status >= 500):
            return ProviderUnavailableError(
                text, provider=PROVIDER, code=code or status, region=region
            )
        if code == "OptInRequired":
            # the region (or the product) is not enabled for this account: others may be
            return ProviderError(text, provider=PROVIDER, code=code, region=region, retryable=True)
        return ProviderError(text, provider=PROVIDER, code=code or status, region=region)
    kind = type(exc).__name__
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & CREDENTIAL_EXCEPTIONS:
        return CredentialsError(
            f"{where}: no usable AWS credentials ({kind}: {exc}); {CREDENTIAL_HINT}",
            provider=PROVIDER,
            code=kind,
            region=region,
        )
    if names & UNREACHABLE_EXCEPTIONS:
        return ProviderUnavailableError(
            f"{where}: {action} failed: the AWS API could not be reached ({kind}: {exc})",
            provider=PROVIDER,
            code=kind,
            region=region,
        )
    return ProviderError(
        f"{where}: {action} failed unexpectedly ({kind}: {exc})",
        provider=PROVIDER,
        code=kind,
        region=region,
    )
