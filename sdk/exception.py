"""Every exception Strato raises, in one tree.

The names users catch are Modal's, so a Modal program's ``except`` clauses work unchanged; the
broker's own errors (placement and providers) hang off the same root::

    Exception
    ├── Error                              root of everything Strato raises on purpose
    │   ├── AlreadyExistsError             a named object already exists
    │   ├── AuthError                      missing or wrong token (HTTP 401)
    │   ├── ClientClosed                   the client was closed while a call was in flight
    │   ├── ConnectionError                the control plane cannot be reached
    │   ├── DeserializationError           a payload could not be unpickled
    │   ├── ExecutionError                 something unexpected happened at run time
    │   ├── FilesystemExecutionError       a container filesystem operation failed
    │   ├── InternalFailure                a retryable failure inside Strato
    │   ├── InvalidError                   the user asked for something invalid
    │   ├── NotFoundError                  a named object or id does not exist
    │   ├── RemoteError                    the control plane failed a request
    │   ├── RequestSizeError               a payload exceeds a size limit
    │   ├── SerializationError             an argument or result could not be pickled
    │   ├── VersionError                   client and control plane disagree on protocol
    │   ├── TimeoutError                   base of the timeouts
    │   │   ├── FunctionTimeoutError       one attempt ran past the function's ``timeout``
    │   │   ├── OutputExpiredError         a spawned call's result expired (7 days)
    │   │   ├── InteractiveTimeoutError
    │   │   ├── MountUploadTimeoutError
    │   │   ├── SandboxTimeoutError
    │   │   └── VolumeUploadTimeoutError
    │   ├── SandboxTerminatedError
    │   └── ProviderError                  a provider refused or failed (``provider``,
    │                                      ``retryable``)
    │       ├── CapacityError              no machines of that type there now (retryable)
    │       ├── QuotaError                 the account's quota is exhausted (retryable elsewhere)
    │       ├── CredentialsError           credentials missing or rejected (not retryable)
    │       ├── ProviderUnavailableError   the provider API timed out or failed (retryable)
    │       ├── NoOfferError               nothing could be placed; carries ``failover_history``
    │       └── BudgetExceededError        a launch would exceed an app's budget cap
    └── ModuleNotMountable
    BaseException
    └── InputCancellation                  the current input was cancelled (not an Exception)

Warnings: ``DeprecationError`` and ``PendingDeprecationError`` (``UserWarning``), ``ServerWarning``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExistsError",
    "AuthError",
    "BudgetExceededError",
    "CapacityError",
    "ClientClosed",
    "ConnectionError",
    "CredentialsError",
    "DeprecationError",
    "DeserializationError",
    "Error",
    "ExecutionError",
    "FilesystemExecutionError",
    "FunctionTimeoutError",
    "InputCancellation",
    "InteractiveTimeoutError",
    "InternalFailure",
    "InvalidError",
    "ModuleNotMountable",
    "MountUploadTimeoutError",
    "NoOfferError",
    "NotFoundError",
    "OutputExpiredError",
    "PendingDeprecationError",
    "ProviderError",
    "ProviderUnavailableError",
    "QuotaError",
    "RemoteError",
    "RequestSizeError",
    "SandboxTerminatedError",
    "SandboxTimeoutError",
    "SerializationError",
    "ServerWarning",
    "TimeoutError",
    "VersionError",
    "VolumeUploadTimeoutError",
]


class Error(Exception):
    """Root of every error Strato raises on purpose."""


class AlreadyExistsError(Error):
    """A resource with that name already exists."""


class AuthError(Error):
    """The request had no token, or a wrong one."""


class ClientClosed(Error):
    """The client was closed while a request was in flight."""


class ConnectionError(Error):  # noqa: A001 - Modal's name
    """The control plane could not be reached."""


class DeserializationError(Error):
    """A payload could not be deserialized (often a package missing on one side)."""


class ExecutionError(Error):
    """Something unexpected happened while running a function."""


class FilesystemExecutionError(Error):
    """A filesystem operation inside a container failed."""


class InternalFailure(Error):
    """A retryable failure inside Strato itself."""


class InvalidError(Error):
    """The user asked for something invalid; the message names the argument and the choices."""


class NotFoundError(Error):
    """A named object or an id does not exist."""


class RemoteError(Error):
    """The control plane failed a request."""


class RequestSizeError(Error):
    """A payload is larger than the limit for its kind."""


class SerializationError(Error):
    """An argument or a result could not be serialized."""


class VersionError(Error):
    """The client and the control plane speak different protocol versions."""


class TimeoutError(Error):  # noqa: A001 - Modal's name
    """Base class of Strato's timeouts."""


class FunctionTimeoutError(TimeoutError):
    """One attempt of a function ran longer than its ``timeout``."""


class OutputExpiredError(TimeoutError):
    """The output of a spawned call is past its retention (7 days) and is gone."""


class InteractiveTimeoutError(TimeoutError):
    """An interactive session timed out connecting to a container."""


class MountUploadTimeoutError(TimeoutError):
    """Uploading a mount timed out."""


class SandboxTimeoutError(TimeoutError):
    """A sandbox ran past its timeout."""


class VolumeUploadTimeoutError(TimeoutError):
    """Uploading to a volume timed out."""


class SandboxTerminatedError(Error):
    """A sandbox was terminated for an internal reason."""


class ProviderError(Error):
    """A provider refused or failed a request.

    Attributes:
        provider: the provider's name (``aws``, ``gcp``, ``local``, ...).
        retryable: whether another zone, region or cloud may succeed.
        code: the provider's own error code or HTTP status, where there is one.
        region: where the attempt was made, where known.
    """

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        retryable: bool | None = None,
        code: str | int | None = None,
        region: str | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.retryable = self.default_retryable if retryable is None else retryable
        self.code = code
        self.region = region

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors defeat Exception's default pickling; rebuild from the dict.
        return (_rebuild_error, (type(self), str(self), dict(self.__dict__)))


def _rebuild_error(cls: type[Exception], message: str, state: dict[str, Any]) -> Exception:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class CapacityError(ProviderError):
    """The provider has no machines of the requested type there right now."""

    default_retryable = True


class QuotaError(ProviderError):
    """The account's quota for that machine type or region is used up."""

    default_retryable = True


class CredentialsError(ProviderError):
    """Credentials are missing or were rejected; the message names what to set."""


class ProviderUnavailableError(ProviderError):
    """The provider's API timed out or answered with a server error."""

    default_retryable = True


class BudgetExceededError(ProviderError):
    """A launch was refused because it would exceed the app's budget cap."""


class NoOfferError(ProviderError):
    """No offer could be provisioned; ``failover_history`` lists every attempt in order."""

    def __init__(self, message: str, *, failover_history: list[dict] | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.failover_history = list(failover_history or [])


class ModuleNotMountable(Exception):
    """A local module cannot be added to a container."""


class InputCancellation(BaseException):
    """The current input was cancelled.

    A ``BaseException`` so that a bare ``except Exception`` in user code does not swallow it.
    """


class DeprecationError(UserWarning):
    """A deprecated feature or API was used."""


class PendingDeprecationError(UserWarning):
    """A feature that will soon be deprecated was used."""


class ServerWarning(UserWarning):
    """A warning from the control plane, re-issued in the client."""
