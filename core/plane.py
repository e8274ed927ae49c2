"""The control plane's coordinator: calls in, inputs to containers, outputs back, logs out.

Everything here runs on the server's event loop. Callers (client sessions) and containers are
:class:`Peer` objects with an outbox, so the scheduling code never awaits a socket. Inputs are
written to the store before they are acknowledged and outputs before they are forwarded, so a
restarted plane rebuilds its queues from the store and loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from strato import _protocol as proto
from strato.core.containers import ContainerLifecycle, _error_blob, new_id
from strato.core.launcher import Launcher
from strato.core.pools import (
    Container,
    FunctionPool,
    QueuedInput,
)
from strato.core.store import Store
from strato.exception import InvalidError, NotFoundError
from strato.plugins.manager import Providers

log = logging.getLogger("strato.plane")

TICK_S = 0.25


class Peer:
    """One WebSocket connection seen from the plane: messages go through an outbox."""

    def __init__(self, send_bytes: Callable[[bytes], Any], name: str = "") -> None:
        self._send_bytes = send_bytes
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.name = name
        self.closed = False

    def send(self, message: dict[str, Any]) -> None:
        if not self.closed:
            self.outbox.put_nowait(proto.pack(message))

    async def pump(self) -> None:
        """Write the outbox to the socket until :meth:`close`."""
        while True:
            data = await self.outbox.get()
            if data is None:
                return
            try:
                await self._send_bytes(data)
            except Exception:  # noqa: BLE001 - the reader notices the broken socket
                self.closed = True
                return

    def close(self) -> None:
        self.closed = True
        self.outbox.put_nowait(None)


class LocalPeer(Peer):
    """A caller in this very process: messages are handed over as dicts, no socket."""

    def __init__(self, deliver: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(lambda _data: None, "local-session")
        self._deliver = deliver

    def send(self, message: dict[str, Any]) -> None:
        if not self.closed:
            self._deliver(message)


@dataclass
class CallState:
    """A call the plane is routing outputs for."""

    id: str
    pool: FunctionPool
    mode: str
    subscriber: Peer | None = None
    cancelled: bool = False
    waiters: dict[int, list[asyncio.Future[None]]] = field(default_factory=dict)
    #: outputs sent to the caller and not yet confirmed: resent if it reconnects
    unacked: dict[tuple[int, int], list[Any]] = field(default_factory=dict)
    acked_upto: int = 0
    acked_extra: set[int] = field(default_factory=set)
    finished: bool = False
    dirty: bool = False

    @property
    def spawned(self) -> bool:
        return self.mode.startswith("spawn")


class ControlPlane(ContainerLifecycle):
    """Apps, functions, calls and containers: the broker's state machine."""

    def __init__(
        self,
        store: Store,
        providers: Providers,
        *,
        default_max_containers: int | None = None,
        recover: bool = True,
    ) -> None:
        self.store = store
        self.providers = providers
        self.launcher = Launcher(store, providers)
        budget = providers.pm.get_plugin("strato.budget")
        if budget is None:
            from strato.plugins.budget import BudgetCap

            providers.pm.register(BudgetCap(self.app_spend), name="strato.budget")
        else:
            budget._spent = self.app_spend  # the newest plane in this process keeps the books
        self.server_url = ""
        #: whether start() rebuilds queues from the store (a standalone server does; an
        #: embedded plane lives and dies with its one caller and owns nothing earlier)
        self.recover = recover
        self.shutting_down = False
        self.default_max_containers = default_max_containers or (os.cpu_count() or 1)
        self.pools: dict[str, FunctionPool] = {}
        self.containers: dict[str, Container] = {}
        self.calls: dict[str, CallState] = {}
        self.log_subscribers: dict[str, set[Peer]] = defaultdict(set)
        self._tick_task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._last_expiry = 0.0

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, server_url: str) -> None:
        """Recover from the store, then start the periodic tick."""
        self.server_url = server_url
        self.loop = asyncio.get_running_loop()
        for provider in self.providers.by_name.values():
            prewarm = getattr(provider, "prewarm", None)
            if prewarm is not None:  # e.g. the local provider's fork server
                self.loop.run_in_executor(None, prewarm)
        if self.recover:
            self._recover()
        self._tick_task = asyncio.get_running_loop().create_task(self._tick_forever())

    def _recover(self) -> None:
        """Rebuild queues from the store: every input not known to be done runs again."""
        self.store.stop_stale_containers("control plane restarted")
        now = time.time()
        for info in self.store.unfinished_calls():
            pool = self.pool(info["function_id"])
            call = self.calls[info["id"]] = CallState(info["id"], pool, info["mode"])
            for row in info["inputs"]:
                item = QueuedInput(
                    info["id"],
                    row["idx"],
                    row["method"],
                    row["args"],
                    row["attempt"],
                    row["crashes"],
                )
                if row["not_before"] and row["not_before"] > now:
                    pool.delay(item, row["not_before"])
                else:
                    pool.queue.append(item)
            log.info("recovered call %s with %d inputs to run", call.id, len(info["inputs"]))
        for pool in list(self.pools.values()):
            self.autoscale(pool)

    async def stop(self) -> None:
        if self._tick_task:
            self._tick_task.cancel()
        self._save_progress()
        for container in list(self.containers.values()):
            if container.state != "stopped":
                self.store.update_container(
                    container.id,
                    state="stopped",
                    stopped_at=time.time(),
                    exit_reason="control plane stopped",
                )
            self._terminate(container, "control plane stopped")

    # -- apps and functions --------------------------------------------------------------------
    def create_app(self, name: str | None) -> str:
        app_id = new_id("ap")
        self.store.create_app(app_id, name)
        return app_id

    def stop_app(self, app_id: str) -> None:
        """Stop an app: its queued inputs are cancelled and its containers stopped."""
        if self.store.get_app(app_id) is None:
            raise NotFoundError(f"no app {app_id!r}")
        self.store.set_app_state(app_id, "stopped")
        for call in [c for c in self.calls.values() if c.pool.app_id == app_id]:
            if not call.cancelled:
                self.cancel_call(call.id)
        for pool in [p for p in self.pools.values() if p.app_id == app_id]:
            pool.stopped = True
            pool.queue.clear()  # inputs of calls already closed by their callers
            pool.delayed.clear()
            for container in list(pool.containers.values()):
                self._stop_container(container, "app stopped")

    def register_function(
        self, app_id: str, name: str, definition: bytes, parent_id: str | None = None
    ) -> str:
        if self.store.get_app(app_id) is None:
            raise NotFoundError(f"no app {app_id!r}")
        function_id = new_id("fu")
        self.store.create_function(function_id, app_id, name, definition, parent_id)
        if proto.unpack(definition).get("options", {}).get("min_containers"):
            self.autoscale(self.pool(function_id))  # keep warm from the start
        return function_id

    def pool(self, function_id: str) -> FunctionPool:
        pool = self.pools.get(function_id)
        if pool is None:
            row = self.store.get_function(function_id)
            if row is None:
                raise NotFoundError(f"no function {function_id!r}")
            definition = proto.unpack(row["definition"])
            app = self.store.get_app(row["app_id"]) or {}
            pool = FunctionPool(
                function_id, row["app_id"], row["name"], definition, app.get("name")
            )
            self.pools[function_id] = pool
        return pool

    def update_autoscaler(self, function_id: str, settings: dict[str, int]) -> None:
        pool = self.pool(function_id)
        pool.overrides.update({k: v for k, v in settings.items() if v is not None})
        self.autoscale(pool)

    # -- calls from a session ----------------------------------------------------------------
    def session_message(self, peer: Peer, message: dict[str, Any]) -> None:
        """Handle one message from a caller; a failure is answered, the session goes on."""
        kind = message["t"]
        try:
            if kind == "submit":
                self.submit(peer, message)
            elif kind == "resume":
                self.resume(peer, message)
            elif kind == "logs":
                self.subscribe_logs(peer, message["app"])
            elif kind == "received":
                self.received(message)
            elif kind == "close":
                self.close_call(message["call"])
            elif kind == "rpc":
                self.rpc(peer, message)
        except Exception as exc:  # noqa: BLE001 - answer the caller, keep the session
            peer.send(
                {
                    "t": "error",
                    "call": message.get("call"),
                    "kind": type(exc).__name__,
                    "message": str(exc),
                }
            )

    def rpc(self, peer: Peer, message: dict[str, Any]) -> None:
        """One request/response call from a caller, answered on its session: the fast path
        for small object operations (``Dict.get``, ``Queue.put``...) registered in
        :data:`strato.core.objects.RPC`. A handler is ``handler(plane, params)`` returning the
        result, or a coroutine function when it may wait (a blocking ``Queue.get``)."""
        from strato.core.objects import RPC

        request_id = message["id"]

        def reply(ok: bool, result: Any = None, error: BaseException | None = None) -> None:
            answer: dict[str, Any] = {
                "t": "rpc_result",
                "id": request_id,
                "ok": ok,
                "result": result,
            }
            if error is not None:
                answer["kind"], answer["message"] = type(error).__name__, str(error)
            peer.send(answer)

        handler = RPC.get(message.get("method", ""))
        if handler is None:
            reply(False, error=InvalidError(f"unknown operation {message.get('method')!r}"))
            return
        try:
            result = handler(self, message.get("params") or {})
        except Exception as exc:  # noqa: BLE001 - the caller gets the error
            reply(False, error=exc)
            return
        if not asyncio.iscoroutine(result):
            reply(True, result)
            return

        async def finish(coroutine: Any) -> None:
            try:
                reply(True, await coroutine)
            except Exception as exc:  # noqa: BLE001
                reply(False, error=exc)

        asyncio.get_running_loop().create_task(finish(result))

    def submit(self, peer: Peer | None, message: dict[str, Any]) -> int:
        """Make inputs durable, acknowledge them, and queue them. Returns the ack mark."""
        call_id, function_id, mode = message["call"], message["fn"], message.get("mode", "map")
        pool = self.pool(function_id)
        items = message.get("items") or []
        call = self.calls.get(call_id)
        new_call = call is None and not message.get("replay")
        if call is None:
            call = self.calls[call_id] = CallState(call_id, pool, mode)
        if peer is not None and mode not in ("spawn", "spawn_map"):
            call.subscriber = peer
        if message.get("replay") and items:
            stored = self.store.stored_indices(call_id)
            items = [it for it in items if it[0] not in stored]
        self.store.add_inputs(
            call_id, function_id, mode, items, bool(message.get("last")), new_call
        )
        upto = max((it[0] for it in message.get("items") or []), default=-1) + 1
        if peer is not None and mode not in ("remote", "gen"):
            # a .remote caller learns its input is durable from the output itself
            peer.send({"t": "acked", "call": call_id, "upto": upto})
        if call.cancelled:
            self._deliver(call, [[idx, proto.CANCELLED, None, 0] for idx, _, _ in items])
            return upto
        for idx, args, method in items:
            pool.queue.append(QueuedInput(call_id, idx, method, args))
        self.dispatch(pool)
        self.autoscale(pool)
        return upto

    def resume(self, peer: Peer, message: dict[str, Any]) -> None:
        """A caller reconnected: route the call to it and resend what it has not confirmed."""
        call_id = message["call"]
        call = self.calls.get(call_id)
        if call is None:
            call = self.calls[call_id] = CallState(
                call_id, self.pool(message["fn"]), message.get("mode", "map")
            )
        call.subscriber = peer
        rows = [
            row
            for (idx, _), row in sorted(call.unacked.items())
            if idx >= int(message.get("received_upto", 0))
        ]
        for start in range(0, len(rows), 1000):
            peer.send({"t": "out", "call": call_id, "items": rows[start : start + 1000]})

    def received(self, message: dict[str, Any]) -> None:
        """The caller confirms outputs: they need never be resent or rerun."""
        call = self.calls.get(message["call"])
        if call is None:
            return
        upto = int(message["upto"])
        call.acked_upto = max(call.acked_upto, upto)
        call.acked_extra = {i for i in message.get("extra") or () if i >= call.acked_upto}
        for key in [k for k in call.unacked if k[0] < call.acked_upto or k[0] in call.acked_extra]:
            del call.unacked[key]
        call.dirty = True

    def close_call(self, call_id: str) -> None:
        """The caller has all it wanted from the call."""
        call = self.calls.get(call_id)
        if call is not None:
            call.finished = True
            call.unacked.clear()
            call.dirty = True
            self._drop_inputs(call)

    def _drop_inputs(self, call: CallState) -> list[int]:
        """Take a call's inputs out of the queues and interrupt the running ones (a caller
        that stopped reading a map wants no more of it); returns their indices."""
        pool = call.pool
        idxs = [i.idx for i in pool.queue if i.call_id == call.id]
        idxs += [i.idx for i in pool.delayed if i.call_id == call.id]
        if idxs:
            pool.queue = type(pool.queue)(i for i in pool.queue if i.call_id != call.id)
            pool.delayed = [i for i in pool.delayed if i.call_id != call.id]
        for container in list(pool.containers.values()):
            running = [k for k, i in container.assigned.items() if i.call_id == call.id]
            if not running:
                continue
            idxs += [container.assigned.pop(k).idx for k in running]
            if container.peer is not None:
                container.peer.send({"t": "cancel", "inputs": running})
        return idxs

    def _save_progress(self) -> None:
        dirty = [c for c in self.calls.values() if c.dirty]
        if not dirty:
            return
        self.store.save_progress(
            [(c.id, proto.pack([c.acked_upto, sorted(c.acked_extra)]), c.finished) for c in dirty]  # type: ignore[arg-type]
        )
        for call in dirty:
            call.dirty = False
            if call.finished:
                self.calls.pop(call.id, None)

    def subscribe_logs(self, peer: Peer, app_id: str) -> None:
        self.log_subscribers[app_id].add(peer)

    def session_closed(self, peer: Peer) -> None:
        for call in self.calls.values():
            if call.subscriber is peer:
                call.subscriber = None
        for peers in self.log_subscribers.values():
            peers.discard(peer)

    def cancel_call(self, call_id: str, terminate_containers: bool = False) -> None:
        """Cancel a call: queued inputs are dropped, running ones interrupted."""
        call = self.calls.get(call_id)
        if call is None:
            info = self.store.get_call(call_id)
            if info is None:
                raise NotFoundError(f"no function call {call_id!r}")
            self.store.cancel_call(call_id)
            return  # nothing of it is queued or running here
        call.cancelled = True
        self.store.cancel_call(call_id)
        pool = call.pool
        if terminate_containers:
            # the containers go; their other inputs are requeued elsewhere
            for container in list(pool.containers.values()):
                keys = [k for k, i in container.assigned.items() if i.call_id == call_id]
                if keys:
                    idxs_running = [container.assigned.pop(k).idx for k in keys]
                    self._stop_container(container, "terminated by cancel", force=True)
                    self._cancelled_rows(call, idxs_running)
        idxs = self._drop_inputs(call)
        self._cancelled_rows(call, idxs)
        self.autoscale(pool)

    def _cancelled_rows(self, call: CallState, idxs: list[int]) -> None:
        if not idxs:
            return
        if call.spawned:
            self.store.record_outputs((call.id, idx, proto.CANCELLED, None) for idx in idxs)
        self._deliver(call, [[idx, proto.CANCELLED, None, 0] for idx in sorted(idxs)])

    async def wait_output(self, call_id: str, idx: int, timeout: float | None) -> dict[str, Any]:
        """Wait up to ``timeout`` seconds for one output of a spawned call."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            row = self.store.get_output(call_id, idx)
            if row is not None:
                return {"state": "done", **row}
            info = self.store.get_call(call_id)
            if info is None:
                raise NotFoundError(f"no function call {call_id!r}")
            if info["expires_at"] == float("inf"):
                return {"state": "expired"}
            if not info["mode"].startswith("spawn"):
                raise InvalidError(
                    f"{call_id} was not spawned: only spawned calls keep their results"
                )
            if info["inputs_complete"] and idx >= info["num_inputs"]:
                raise InvalidError(
                    f"index {idx} is out of range: the call has {info['num_inputs']} inputs"
                )
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return {"state": "pending"}
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            call = self.calls.get(call_id)
            if call is not None:
                call.waiters.setdefault(idx, []).append(future)
            wait = 1.0 if remaining is None else min(remaining, 1.0)
            try:
                await asyncio.wait_for(future, wait)
            except TimeoutError:
                pass

    def app_spend(self, app_id: str) -> float:
        """What an app's containers have cost so far (the cost ledger)."""
        from strato.core.ledger import container_cost

        now = time.time()
        try:
            return sum(container_cost(row, now) for row in self.store.list_containers(app_id))
        except Exception:  # noqa: BLE001 - a ledger fault must not block launches
            log.exception("could not compute the spend of %s", app_id)
            return 0.0

    # -- containers ----------------------------------------------------------------------------

    # -- scheduling ----------------------------------------------------------------------------
    def dispatch(self, pool: FunctionPool) -> None:
        """Hand queued inputs to ready containers, up to each one's window."""
        pool.release_due(time.time())
        if not pool.queue:
            return
        window = pool.window()
        lifetime = pool.options.get("max_inputs")
        ready = sorted(
            (c for c in pool.containers.values() if c.state == "ready" and c.peer is not None),
            key=lambda c: len(c.assigned),
        )
        for container in ready:
            if any(i.crashes for i in container.assigned.values()):
                continue  # it is running a suspect alone
            room = window - len(container.assigned)
            if lifetime:
                room = min(room, int(lifetime) - container.inputs_done - len(container.assigned))
            if room <= 0:
                continue
            batch = []
            while pool.queue and len(batch) < room:
                item = pool.queue[0]
                call = self.calls.get(item.call_id)
                if call is not None and call.cancelled:
                    pool.queue.popleft()
                    continue
                if item.crashes and (batch or container.assigned):
                    break  # a suspect of an earlier crash runs alone
                pool.queue.popleft()
                container.assigned[item.key] = item
                batch.append(
                    [item.key, item.call_id, item.idx, item.attempt, item.args, item.method]
                )
                if item.crashes:
                    break
            if batch:
                container.peer.send({"t": "inputs", "items": batch})
            if not pool.queue:
                break

    def autoscale(self, pool: FunctionPool) -> None:
        """Start containers until the pool has as many as the autoscaler rule wants."""
        if pool.stopped:
            return
        desired = pool.desired_containers(self.default_max_containers)
        live = len(pool.live_containers())
        for _ in range(desired - live):
            self._launch(pool)

    # -- outputs and logs ----------------------------------------------------------------------
    def _outputs(self, container: Container, items: list[list[Any]]) -> None:
        pool = container.pool
        now = time.time()
        final: list[tuple[QueuedInput, int, bytes | None]] = []
        gen_rows: list[tuple[str, int, int, bytes]] = []
        streamed: dict[str, list[list[Any]]] = defaultdict(list)
        retried: list[tuple[str, int, int, int, float | None]] = []
        for key, status, data, seq, seconds in items:
            item = container.assigned.get(key)
            if item is None:
                continue  # cancelled or reassigned meanwhile
            if status == proto.GEN_ITEM:
                gen_rows.append((item.call_id, item.idx, seq, data))
                streamed[item.call_id].append([item.idx, status, data, seq])
                continue
            del container.assigned[key]
            container.inputs_done += 1
            pool.observe(seconds)
            if status in (proto.FAILURE, proto.TIMEOUT) and item.attempt < pool.max_retries:
                item.attempt += 1
                until = now + pool.retry_delay(item.attempt)
                pool.delay(item, until)
                retried.append((item.call_id, item.idx, item.attempt, item.crashes, until))
                asyncio.get_running_loop().call_later(until - now + 0.01, self._retry_due, pool)
                continue
            final.append((item, status, data))
        if gen_rows:
            self.store.record_generator_items(
                [row for row in gen_rows if (c := self.calls.get(row[0])) is not None and c.spawned]
            )
            for call_id, rows in streamed.items():
                call = self.calls.get(call_id)
                if call is not None:
                    self._deliver(call, rows)
        self.store.update_attempts(retried)
        self._finalize(pool, final)
        if not container.assigned:
            container.idle_since = time.monotonic()
        lifetime = pool.options.get("max_inputs")
        if lifetime and container.inputs_done >= int(lifetime) and not container.assigned:
            self._stop_container(container, "reached max_inputs")
        self.dispatch(pool)
        if final or retried:
            self.autoscale(pool)

    def _retry_due(self, pool: FunctionPool) -> None:
        self.dispatch(pool)
        self.autoscale(pool)

    def _finalize(
        self, pool: FunctionPool, done: list[tuple[QueuedInput, int, bytes | None]]
    ) -> None:
        """Keep the results of spawned calls, then forward every output to whoever waits."""
        if not done:
            return
        by_call: dict[str, list[list[Any]]] = defaultdict(list)
        for item, status, data in done:
            by_call[item.call_id].append([item.idx, status, data, 0])
        spawned = [
            (item.call_id, item.idx, status, data)
            for item, status, data in done
            if (call := self.calls.get(item.call_id)) is None or call.spawned
        ]
        self.store.record_outputs(spawned)
        for call_id, rows in by_call.items():
            call = self.calls.get(call_id)
            if call is not None:
                self._deliver(call, rows)

    def _deliver(self, call: CallState, rows: list[list[Any]]) -> None:
        if not rows:
            return
        if not call.spawned:
            for row in rows:
                call.unacked[(row[0], row[3] if row[1] == proto.GEN_ITEM else -1)] = row
        if call.subscriber is not None:
            call.subscriber.send({"t": "out", "call": call.id, "items": rows})
        for idx, status, _, _ in rows:
            if status == proto.GEN_ITEM:
                continue
            for future in call.waiters.pop(idx, []):
                if not future.done():
                    future.set_result(None)

    def _logs(self, container: Container, items: list[list[Any]]) -> None:
        pool = container.pool
        now = time.time()
        self.store.append_logs(
            [
                {
                    "app_id": pool.app_id,
                    "function_id": pool.id,
                    "container_id": container.id,
                    "fd": fd,
                    "text": text,
                    "ts": now,
                }
                for fd, text in items
            ]
        )
        for peer in self.log_subscribers.get(pool.app_id, ()):
            peer.send({"t": "log", "items": items})

    def _app_notice(self, pool: FunctionPool, lines: list[str]) -> None:
        items = [[2, line + "\n"] for line in lines]
        self.store.append_logs(
            [
                {
                    "app_id": pool.app_id,
                    "function_id": pool.id,
                    "container_id": None,
                    "fd": 2,
                    "text": t,
                    "ts": time.time(),
                }
                for _, t in items
            ]
        )
        for peer in self.log_subscribers.get(pool.app_id, ()):
            peer.send({"t": "log", "items": items})

    # -- periodic work -------------------------------------------------------------------------
    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the tick must survive anything
                log.exception("control plane tick failed")

    def tick(self) -> None:
        """Scale down idle containers, notice dead ones, release retries, expire old calls."""
        now = time.monotonic()
        for pool in list(self.pools.values()):
            pool.release_due(time.time())
            startup_timeout = float(
                pool.options.get("startup_timeout") or pool.options.get("timeout") or 300
            )
            for container in list(pool.containers.values()):
                if (
                    container.state == "starting"
                    and time.time() - container.started_at > startup_timeout
                ):
                    self._init_failed(
                        container,
                        _error_blob(f"container did not start within {startup_timeout:.0f}s"),
                    )
                    continue
                if container.state in ("starting", "ready") and container.handle is not None:
                    self._poll_status(container)
            desired = pool.desired_containers(self.default_max_containers)
            window = pool.setting("scaledown_window", 60)
            idle = [c for c in pool.containers.values() if c.state == "ready" and not c.assigned]
            live = len(pool.live_containers())
            for container in sorted(idle, key=lambda c: c.idle_since):
                if live <= desired:
                    break
                if now - container.idle_since >= window:
                    self._stop_container(container, "scaled down after idle")
                    live -= 1
            self.dispatch(pool)
            self.autoscale(pool)
        self._save_progress()
        if time.time() - self._last_expiry > 60:
            self._last_expiry = time.time()
            self.store.expire()
