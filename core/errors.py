"""The one place where exceptions become HTTP statuses (and back, for the client)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from strato import exception as exc

#: Exception class -> HTTP status. Subclasses not listed take their nearest listed base.
STATUS_BY_ERROR: dict[type[BaseException], int] = {
    exc.AuthError: 401,
    exc.NotFoundError: 404,
    exc.AlreadyExistsError: 409,
    exc.InvalidError: 400,
    exc.RequestSizeError: 413,
    exc.OutputExpiredError: 410,
    exc.ProviderError: 502,
    exc.Error: 500,
}


def status_for(error: BaseException) -> int:
    """The HTTP status for an exception, by its nearest listed class."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def install_error_handlers(app: FastAPI) -> None:
    """Answer every Strato error as ``{"error": ClassName, "message": ...}`` with its status."""

    @app.exception_handler(exc.Error)
    async def _strato_error(_request: Request, error: exc.Error) -> JSONResponse:
        return JSONResponse(
            {"error": type(error).__name__, "message": str(error)}, status_code=status_for(error)
        )
