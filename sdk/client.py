"""The connection from user code (or the CLI) to a control plane.

``Client.from_env()`` connects to ``STRATO_SERVER_URL`` with ``STRATO_TOKEN`` (or the token
file written by ``strato server``) when it is set, and otherwise starts an embedded control
plane in this process. REST calls go through httpx; calls and outputs through a
:class:`~strato._session.Session`.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from strato import exception as exc

_ERRORS_BY_NAME: dict[str, type[Exception]] = {
    name: getattr(exc, name)
    for name in exc.__all__
    if isinstance(getattr(exc, name), type) and issubclass(getattr(exc, name), Exception)
}


def error_from_response(status: int, body: dict[str, Any] | None) -> Exception:
    """Rebuild the exception the control plane reported."""
    if status == 401:
        return exc.AuthError(
            "the control plane refused the token: set STRATO_TOKEN or run `strato token new`"
        )
    body = body or {}
    cls = _ERRORS_BY_NAME.get(body.get("error", ""), exc.RemoteError)
    return cls(body.get("message") or f"HTTP {status}")


class Client:
    """REST and session access to one control plane."""

    _default: Client | None = None
    _default_lock = threading.Lock()

    def __init__(self, url: str, token: str, embedded: Any = None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self._embedded = embedded
        self._http: Any = None
        self._session: Any = None
        self._lock = threading.Lock()

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_env(cls) -> Client:
        """The process-wide client: ``STRATO_SERVER_URL`` if set, else an embedded plane."""
        with cls._default_lock:
            if cls._default is None:
                url = os.environ.get("STRATO_SERVER_URL")
                if url:
                    cls._default = cls(url, _token_for_remote())
                else:
                    from strato.core.service import start_embedded

                    server = start_embedded()
                    cls._default = cls(server.url, server.token, embedded=server)
                    # stop containers and close the books when the process ends
                    atexit.register(cls.reset_default)
            return cls._default

    @classmethod
    def reset_default(cls) -> None:
        """Close the process-wide client (tests use this between control planes)."""
        with cls._default_lock:
            if cls._default is not None:
                cls._default.close()
                cls._default = None

    @property
    def is_embedded(self) -> bool:
        return self._embedded is not None

    # -- REST ------------------------------------------------------------------------------
    def _client(self) -> Any:
        if self._http is None:
            import httpx

            self._http = httpx.Client(
                base_url=self.url,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=httpx.Timeout(30.0, read=None),
            )
        return self._http

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call; errors come back as the exception the plane raised."""
        import httpx

        try:
            response = self._client().request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise exc.ConnectionError(
                f"cannot reach the control plane at {self.url}: {error}"
            ) from error
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            raise error_from_response(response.status_code, body)
        return response.json()

    # -- session ---------------------------------------------------------------------------
    @property
    def session(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    from strato._session import Session

                    local = None
                    if self._embedded is not None:
                        local = (self._embedded.plane, self._embedded.loop)
                    self._session = Session(self.url, self.token, local=local)
        return self._session

    def rpc(self, method: str, params: dict[str, Any], timeout: float | None = None) -> Any:
        """A small operation on the control plane over the session (see
        :data:`strato.core.objects.RPC`); errors come back as Strato exceptions."""
        return self.session.rpc(method, params, timeout)

    async def rpc_async(self, method: str, params: dict[str, Any]) -> Any:
        """:meth:`rpc` for event loops."""
        return await self.session.rpc_async(method, params)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._embedded is not None:
            self._embedded.shutdown()
            self._embedded = None


def _token_for_remote() -> str:
    token = os.environ.get("STRATO_TOKEN") or os.environ.get("STRATO_CONTAINER_TOKEN")
    if token:
        return token
    from strato.core.service import token_path

    path = token_path()
    if path.exists():
        return path.read_text().strip()
    raise exc.AuthError(
        "STRATO_SERVER_URL is set but no token was found: set STRATO_TOKEN "
        f"(the server keeps it in {path})"
    )
