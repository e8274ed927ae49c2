"""The control plane's HTTP API (FastAPI): REST for objects, WebSockets for the hot paths.

Every route but ``/v1/health`` needs ``Authorization: Bearer <token>``; a missing or wrong token
gets 401 with no detail. Containers authenticate their stream with their own per-container
token. Errors are mapped to HTTP statuses in :mod:`strato.core.errors`, and nowhere else.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from strato import _protocol as proto
from strato.core.errors import install_error_handlers
from strato.core.plane import ControlPlane, Peer
from strato.exception import AuthError, InvalidError, OutputExpiredError


class AppIn(BaseModel):
    name: str | None = None


class FunctionIn(BaseModel):
    name: str
    definition: str  # base64 msgpack
    parent_id: str | None = None


class AutoscalerIn(BaseModel):
    min_containers: int | None = None
    max_containers: int | None = None
    buffer_containers: int | None = None
    scaledown_window: int | None = None


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def create_app(plane: ControlPlane, token: str, server_url: str | None = None) -> FastAPI:
    """The FastAPI application serving ``plane``; ``token`` is the one bearer token accepted."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        await plane.start(server_url or app.state.server_url)
        yield
        await plane.stop()

    app = FastAPI(title="Strato control plane", version="1", lifespan=lifespan)
    app.state.plane = plane
    app.state.server_url = server_url or ""
    install_error_handlers(app)

    def _check(header: str | None) -> bool:
        """The operator's token, or the token of a running container (for nested calls)."""
        if not header or not header.startswith("Bearer "):
            return False
        given = header[7:]
        if hmac.compare_digest(given.encode(), token.encode()):
            return True
        return plane.is_container_token(given)

    async def require_token(request: Request) -> None:
        if not _check(request.headers.get("authorization")):
            raise AuthError("missing or invalid token")

    auth = [Depends(require_token)]

    @app.get("/v1/health")
    async def health() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/v1/runtime.tar.gz", dependencies=auth)
    async def runtime() -> Response:
        """The ``strato`` package this plane runs, for cloud machines (see core/bundle.py)."""
        from strato.core.bundle import runtime_archive

        data = await asyncio.to_thread(runtime_archive)
        return Response(data, media_type="application/gzip")

    # -- apps ------------------------------------------------------------------------------
    @app.post("/v1/apps", dependencies=auth)
    async def create_app_route(body: AppIn) -> dict[str, Any]:
        return {"app_id": plane.create_app(body.name)}

    @app.get("/v1/apps", dependencies=auth)
    async def list_apps() -> dict[str, Any]:
        return {"apps": plane.store.list_apps()}

    @app.get("/v1/apps/{app_ref}", dependencies=auth)
    async def get_app(app_ref: str) -> dict[str, Any]:
        row = plane.store.get_app(app_ref)
        if row is None:
            from strato.exception import NotFoundError

            raise NotFoundError(f"no app named or with id {app_ref!r}")
        return row

    @app.post("/v1/apps/{app_id}/stop", dependencies=auth)
    async def stop_app(app_id: str) -> dict[str, Any]:
        plane.stop_app(app_id)
        return {"ok": True}

    @app.get("/v1/apps/{app_ref}/logs", dependencies=auth)
    async def app_logs(app_ref: str, after: int = 0, wait: float = 0.0) -> dict[str, Any]:
        row = await get_app(app_ref)
        lines = plane.store.logs_after(row["id"], after)
        waited = 0.0
        while not lines and waited < wait:
            await asyncio.sleep(0.2)
            waited += 0.2
            lines = plane.store.logs_after(row["id"], after)
        state = plane.store.get_app(row["id"])
        return {
            "app_id": row["id"],
            "state": state["state"] if state else "unknown",
            "lines": lines,
        }

    @app.get("/v1/apps/{app_ref}/events", dependencies=auth)
    async def app_events(app_ref: str, after: int = 0) -> dict[str, Any]:
        row = await get_app(app_ref)
        return {"events": plane.store.events_for(row["id"], after)}

    @app.get("/v1/apps/{app_ref}/containers", dependencies=auth)
    async def app_containers(app_ref: str) -> dict[str, Any]:
        row = await get_app(app_ref)
        rows = plane.store.list_containers(row["id"])
        for r in rows:
            r.pop("token_hash", None)
        return {"containers": rows}

    @app.get("/v1/containers", dependencies=auth)
    async def list_containers(since: float | None = None, app: str | None = None) -> dict[str, Any]:
        """Container records for the cost ledger (what ran where, priced how, used what)."""
        app_id = None
        if app is not None:
            app_id = (await get_app(app))["id"]
        rows = plane.store.list_containers(app_id, since)
        for r in rows:
            r.pop("token_hash", None)
        return {"containers": rows, "now": time.time()}

    # -- functions -------------------------------------------------------------------------
    @app.post("/v1/apps/{app_id}/functions", dependencies=auth)
    async def register_function(app_id: str, body: FunctionIn) -> dict[str, Any]:
        definition = base64.b64decode(body.definition)
        function_id = plane.register_function(app_id, body.name, definition, body.parent_id)
        return {"function_id": function_id}

    @app.get("/v1/apps/{app_id}/functions/{name}", dependencies=auth)
    async def find_function(app_id: str, name: str) -> dict[str, Any]:
        row = plane.store.find_function(app_id, name)
        if row is None:
            from strato.exception import NotFoundError

            raise NotFoundError(f"no function {name!r} in app {app_id}")
        return {"function_id": row["id"]}

    @app.post("/v1/functions/{function_id}/autoscaler", dependencies=auth)
    async def update_autoscaler(function_id: str, body: AutoscalerIn) -> dict[str, Any]:
        settings = body.model_dump()
        for name, value in settings.items():
            if value is not None and value < 0:
                raise InvalidError(f"{name} must be >= 0, got {value}")
        plane.update_autoscaler(function_id, settings)
        return {"ok": True}

    @app.get("/v1/functions/{function_id}/stats", dependencies=auth)
    async def function_stats(function_id: str) -> dict[str, Any]:
        pool = plane.pool(function_id)
        return {
            "backlog": len(pool.queue) + len(pool.delayed),
            "num_total_runners": len(pool.live_containers()),
        }

    # -- calls -----------------------------------------------------------------------------
    @app.get("/v1/calls/{call_id}", dependencies=auth)
    async def get_call(call_id: str) -> dict[str, Any]:
        info = plane.store.get_call(call_id)
        if info is None:
            from strato.exception import NotFoundError

            raise NotFoundError(f"no function call {call_id!r}")
        info.pop("acked", None)  # bookkeeping, and binary
        info["expires_at"] = None if info["expires_at"] == float("inf") else info["expires_at"]
        return info

    @app.get("/v1/calls/{call_id}/outputs/{idx}", dependencies=auth)
    async def get_output(call_id: str, idx: int, timeout: float | None = None) -> dict[str, Any]:
        row = await plane.wait_output(call_id, idx, timeout)
        if row["state"] == "expired":
            raise OutputExpiredError(f"the outputs of {call_id} have expired (kept 7 days)")
        if row["state"] != "done":
            return {"state": "pending"}
        items = []
        if row["status"] == proto.GEN_DONE:
            items = [_b64(d) for d in plane.store.generator_items(call_id, idx)]
        return {"state": "done", "status": row["status"], "data": _b64(row["data"]), "items": items}

    @app.get("/v1/calls/{call_id}/outputs", dependencies=auth)
    async def get_outputs(
        call_id: str, start: int = 0, end: int | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """Consecutive outputs from ``start`` (waiting up to ``timeout`` for the first)."""
        limit = start + 1000 if end is None else min(end, start + 1000)
        first = await plane.wait_output(call_id, start, timeout)
        if first["state"] == "expired":
            raise OutputExpiredError(f"the outputs of {call_id} have expired (kept 7 days)")
        if first["state"] != "done":
            return {"outputs": []}
        rows = plane.store.outputs_range(call_id, start, limit)
        result = []
        for expected, row in enumerate(rows, start):
            if row["idx"] != expected:
                break  # stop at the first gap: the caller iterates in order
            items = []
            if row["status"] == proto.GEN_DONE:
                items = [_b64(d) for d in plane.store.generator_items(call_id, row["idx"])]
            result.append(
                {
                    "idx": row["idx"],
                    "status": row["status"],
                    "data": _b64(row["data"]),
                    "items": items,
                }
            )
        return {"outputs": result}

    @app.post("/v1/calls/{call_id}/cancel", dependencies=auth)
    async def cancel_call(call_id: str, terminate_containers: bool = False) -> dict[str, Any]:
        plane.cancel_call(call_id, terminate_containers)
        return {"ok": True}

    # -- streams ---------------------------------------------------------------------------
    async def _refuse(websocket: WebSocket) -> None:
        try:
            await websocket.send_denial_response(Response(status_code=401))
        except RuntimeError:
            await websocket.close(code=4401)

    @app.websocket("/v1/session")
    async def session(websocket: WebSocket) -> None:
        if not _check(websocket.headers.get("authorization")):
            await _refuse(websocket)
            return
        await websocket.accept()
        peer = Peer(websocket.send_bytes, "session")
        pump = asyncio.create_task(peer.pump())
        try:
            while True:
                plane.session_message(peer, proto.unpack(await websocket.receive_bytes()))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            plane.session_closed(peer)
            peer.close()
            await asyncio.gather(pump, return_exceptions=True)

    @app.websocket("/v1/containers/stream")
    async def container_stream(websocket: WebSocket) -> None:
        header = websocket.headers.get("authorization") or ""
        container_id = websocket.headers.get("x-strato-container") or ""
        peer = Peer(websocket.send_bytes, container_id)
        try:
            container = plane.container_connected(
                container_id, header.removeprefix("Bearer "), peer
            )
        except PermissionError:
            await _refuse(websocket)
            return
        await websocket.accept()
        pump = asyncio.create_task(peer.pump())
        try:
            while True:
                plane.container_message(container, proto.unpack(await websocket.receive_bytes()))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            peer.close()
            plane.container_disconnected(container)
            await asyncio.gather(pump, return_exceptions=True)

    from strato.core import objects

    objects.load()
    for router in objects.ROUTERS:
        app.include_router(router, prefix="/v1", dependencies=auth)

    @app.exception_handler(AuthError)
    async def _auth_error(_request: Request, _exc: AuthError) -> JSONResponse:
        return JSONResponse({"error": "AuthError", "message": "unauthorized"}, status_code=401)

    return app
