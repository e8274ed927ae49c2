"""The container half of the control plane: starting containers through the launcher,
greeting their agents, noticing when they die or are preempted, and stopping them.

:class:`ContainerLifecycle` is mixed into :class:`strato.core.plane.ControlPlane`; it reads
the plane's store, providers, launcher and pools, and hands inputs back to the plane's
queues (``dispatch``, ``autoscale``, ``_finalize``) when a container goes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from strato import _protocol as proto
from strato.core.launcher import Launch
from strato.core.ledger import DEFAULT_CPU, DEFAULT_MEMORY_MIB, launch_price
from strato.core.objects import prepare_container
from strato.core.pools import (
    MAX_CRASHES_PER_INPUT,
    MAX_INIT_FAILURES,
    Container,
    FunctionPool,
    QueuedInput,
)
from strato.exception import BudgetExceededError, NoOfferError
from strato.plugins.provider import ContainerSpec, InstanceState

if TYPE_CHECKING:
    from strato.core.plane import Peer

log = logging.getLogger("strato.plane")

CLOUD_POLL_S = 5.0


def new_id(prefix: str) -> str:
    """A fresh object id such as ``ap-3f2c...``."""
    return f"{prefix}-{secrets.token_hex(8)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ContainerLifecycle:
    """Containers from launch to exit (a mixin of :class:`~strato.core.plane.ControlPlane`)."""

    def is_container_token(self, token: str) -> bool:
        digest = hash_token(token)
        return any(c.token_hash == digest and c.live for c in self.containers.values())

    def container_connected(self, container_id: str, token: str, peer: Peer) -> Container:
        container = self.containers.get(container_id)
        if container is None or container.token_hash != hash_token(token) or not container.live:
            raise PermissionError("unknown container or wrong token")
        container.peer = peer
        pool = container.pool
        peer.send(
            {
                "t": "hello",
                "container": container_id,
                "app_id": pool.app_id,
                "function_id": pool.id,
                "function": pool.definition,
                "env": container.secret_env,
                "mounts": container.sync,
            }
        )
        return container

    def container_message(self, container: Container, message: dict[str, Any]) -> None:
        kind = message["t"]
        if kind == "out":
            self._outputs(container, message["items"])
        elif kind == "log":
            self._logs(container, message["items"])
        elif kind == "ready":
            container.state = "ready"
            container.ready_at = time.time()
            container.idle_since = time.monotonic()
            container.pool.init_failures = 0
            self.store.update_container(container.id, state="ready", ready_at=container.ready_at)
            self.dispatch(container.pool)
        elif kind == "failed":
            self._init_failed(container, message["error"])
        elif kind == "usage":
            self.store.update_container(
                container.id, cpu_seconds=message["cpu_s"], peak_memory_mib=message["rss_mib"]
            )

    def begin_shutdown(self) -> None:
        """The server is about to close every connection: those goodbyes are no crashes."""
        self.shutting_down = True

    def container_disconnected(self, container: Container) -> None:
        if container.state == "stopped":
            return
        expected = container.state == "stopping" or self.shutting_down
        if not expected and container.provider != "local" and container.handle is not None:
            # a cloud machine that vanished may have been preempted: ask before charging
            loop = asyncio.get_running_loop()

            def work() -> None:
                try:
                    state = self._provider_call(container, "status")
                except Exception:  # noqa: BLE001
                    state = InstanceState.UNKNOWN
                loop.call_soon_threadsafe(self._cloud_disconnected, container, state)

            loop.run_in_executor(None, work)
            return
        reason = "stopped" if expected else "container exited unexpectedly"
        self._lost(container, reason, crashed=not expected)

    def _cloud_disconnected(self, container: Container, state: InstanceState) -> None:
        if container.state == "stopped":
            return
        if state == InstanceState.PREEMPTED:
            self._preempted(container)
        else:
            self._lost(container, "container exited unexpectedly", crashed=True)

    def _lost(self, container: Container, reason: str, crashed: bool) -> None:
        """A container is gone: requeue what it held.

        Which input killed it is only certain when it held one input, so only then does the
        crash count against that input. With several, each becomes a suspect and is retried
        alone in a container (see :meth:`dispatch`), where a further crash is its own.
        """
        pool = container.pool
        container.state = "stopped"
        self.store.update_container(
            container.id, state="stopped", exit_reason=reason, stopped_at=time.time()
        )
        if container.handle is not None:
            self._provider_call(container, "terminate")
        held = list(container.assigned.values())
        container.assigned.clear()
        failed: list[tuple[QueuedInput, int, bytes | None]] = []
        requeue: list[QueuedInput] = []
        for item in held:
            if crashed:
                item.crashes = item.crashes + 1 if len(held) == 1 else max(item.crashes, 1)
            if item.crashes > MAX_CRASHES_PER_INPUT:
                message = (
                    f"the container running this input crashed {item.crashes} times ({reason})"
                )
                failed.append((item, proto.CRASHED, _error_blob(message)))
            else:
                requeue.append(item)
        if crashed:
            self.store.update_attempts(
                [(i.call_id, i.idx, i.attempt, i.crashes, None) for i in requeue]
            )
        pool.queue.extendleft(reversed(requeue))
        self._finalize(pool, failed)
        self.containers.pop(container.id, None)
        pool.containers.pop(container.id, None)
        self.dispatch(pool)
        self.autoscale(pool)

    def _preempted(self, container: Container) -> None:
        """The cloud took the machine back: its inputs resume elsewhere, uncharged, and
        placement avoids that offer for a while."""
        handle = container.handle
        region = handle.region if handle else None
        instance_type = handle.instance_type if handle else None
        self.launcher.capacity.record(container.provider, region, instance_type, "preemption")
        self.store.add_event(
            app_id=container.pool.app_id,
            function_id=container.pool.id,
            container_id=container.id,
            kind="preempted",
            provider=container.provider,
            region=region,
            instance_type=instance_type,
            message="the provider preempted the machine; its inputs were requeued",
        )
        self._lost(container, "preempted", crashed=False)

    def _init_failed(self, container: Container, error: bytes, fatal: bool = False) -> None:
        """A container failed to start; after MAX_INIT_FAILURES in a row (or one ``fatal``
        failure, such as a budget refusal) the function's queued inputs fail with ``error``."""
        pool = container.pool
        pool.init_failures += MAX_INIT_FAILURES if fatal else 1
        container.state = "stopped"
        self.store.update_container(
            container.id, state="stopped", exit_reason="start-up failed", stopped_at=time.time()
        )
        if container.handle is not None:
            self._provider_call(container, "terminate")
        requeue = list(container.assigned.values())
        container.assigned.clear()
        pool.queue.extendleft(reversed(requeue))
        self.containers.pop(container.id, None)
        pool.containers.pop(container.id, None)
        if pool.init_failures >= MAX_INIT_FAILURES:
            pool.init_failures = 0
            self._fail_queued(pool, error)
        else:
            self.autoscale(pool)

    def _launch(self, pool: FunctionPool) -> None:
        container_id = new_id("ct")
        token = secrets.token_urlsafe(24)
        options = pool.options
        spec = ContainerSpec(
            container_id=container_id,
            app_id=pool.app_id,
            function_id=pool.id,
            function_name=pool.name,
            server_url=self.server_url,
            token=token,
            cpu=options.get("cpu"),
            memory_mib=options.get("memory"),
            gpu=options.get("gpu_label"),
            region=options.get("region"),
            cloud=options.get("cloud"),
            env=dict(options.get("env") or {}),
            workdir=options.get("workdir"),
            python_path=list(pool.definition.get("python_path") or []),
            app_name=pool.app_name,
            remote=self.launcher.wants_cloud(options),
        )
        container = Container(container_id, pool, hash_token(token), "local")
        pool.containers[container_id] = container
        self.containers[container_id] = container
        self.store.add_container(
            {
                "id": container_id,
                "function_id": pool.id,
                "app_id": pool.app_id,
                "provider": "pending" if spec.remote else "local",
                "token_hash": container.token_hash,
                "state": "starting",
                "started_at": container.started_at,
                "gpu": spec.gpu,
                "inputs_done": 0,
                "app_name": pool.app_name,
                "function_name": pool.name,
                "cpu_request": options.get("cpu") or DEFAULT_CPU,
                "memory_request_mib": options.get("memory") or DEFAULT_MEMORY_MIB,
            }
        )
        if not _prepares_on_disk(pool, spec):
            try:
                prepare_container(self, pool, spec)  # image, secrets
            except Exception as exc:  # noqa: BLE001 - e.g. a missing secret
                self._prepare_failed(container, exc)
                return
            self._start(container, spec)
            return
        # Volume copies and bucket downloads can take long: prepare them on a worker thread
        # (the container already counts for the autoscaler), then start it from the loop.
        loop = asyncio.get_running_loop()

        def prepare() -> None:
            try:
                prepare_container(self, pool, spec)
            except Exception as exc:  # noqa: BLE001
                loop.call_soon_threadsafe(self._prepare_failed, container, exc)
            else:
                loop.call_soon_threadsafe(self._start, container, spec)

        loop.run_in_executor(None, prepare)

    def _prepare_failed(self, container: Container, exc: BaseException) -> None:
        """An object the function uses is not usable (a missing secret, a volume that needs a
        bucket store): no container of it can start, so its queued inputs fail now."""
        from strato._serialization import serialize_exception

        self._init_failed(container, serialize_exception(exc), fatal=True)

    def _start(self, container: Container, spec: ContainerSpec) -> None:
        """Launch a prepared container: here at once, or on a cloud from a worker thread."""
        container.secret_env = dict(spec.secret_env)
        container.sync = list(spec.sync)
        if not container.live:
            return  # stopped while it was being prepared (its app stopped)
        pool = container.pool
        options = pool.options
        context = {"pool": pool}
        if not spec.remote:
            try:
                launch = self.launcher.launch(spec, options, context)
            except Exception as exc:  # noqa: BLE001 - a refused launch fails like a start-up
                self._launch_failed(container, exc)
                return
            self._launched(container, spec, launch)
            return
        # Cloud APIs take seconds: provision on a worker thread, finish on the loop.
        loop = asyncio.get_running_loop()

        def work() -> None:
            try:
                launch = self.launcher.launch(spec, options, context)
            except Exception as exc:  # noqa: BLE001
                loop.call_soon_threadsafe(self._launch_failed, container, exc)
            else:
                loop.call_soon_threadsafe(self._launched, container, spec, launch)

        loop.run_in_executor(None, work)

    def _fail_queued(self, pool: FunctionPool, error: bytes) -> None:
        """Fail every queued input of a function with ``error`` (its containers cannot start)."""
        items = list(pool.queue) + list(pool.delayed)
        pool.queue.clear()
        pool.delayed.clear()
        self._finalize(pool, [(i, proto.INIT_FAILURE, error) for i in items])

    def _launched(self, container: Container, spec: ContainerSpec, launch: Launch) -> None:
        pool = container.pool
        container.handle = launch.handle
        container.provider = launch.provider.name
        offer = launch.offer
        if offer is not None:
            gpu_count = int(offer.gpu_count or 0)
        elif spec.gpu and getattr(launch.provider, "gpus", lambda: [])():
            gpu_count = int(spec.gpu.rsplit(":", 1)[1]) if ":" in spec.gpu else 1
        else:
            gpu_count = 0  # the local machine has none to give
        price = launch_price(launch.provider.name, pool.options, gpu_count)
        self.store.update_container(
            container.id,
            provider=launch.provider.name,
            region=launch.handle.region,
            instance_type=launch.handle.instance_type,
            gpu=(
                f"{offer.gpu_type}:{offer.gpu_count}"
                if offer is not None and offer.gpu_type
                else spec.gpu
            ),
            gpu_count=gpu_count,
            usd_per_hour=launch.usd_per_hour if offer is not None else price.usd_per_hour,
            multiplier=price.multiplier,
            price_source=(offer.source if offer is not None else price.source),
        )
        if not pool.notices_sent:
            pool.notices_sent = True
            notes = list(launch.notices)
            notes += getattr(launch.provider, "notices", lambda _s: [])(spec)
            if notes:
                self._app_notice(pool, [f"[strato] {pool.name}: {n}" for n in notes])
        if container.state in ("stopping", "stopped"):
            self._provider_call(container, "terminate")  # stopped while it was being placed

    def _launch_failed(self, container: Container, exc: BaseException) -> None:
        from strato._serialization import serialize_exception

        self.store.add_event(
            app_id=container.pool.app_id,
            function_id=container.pool.id,
            container_id=container.id,
            kind="no-offer",
            error=type(exc).__name__,
            message=str(exc),
        )
        if container.state == "stopped":
            return
        fatal = isinstance(exc, BudgetExceededError | NoOfferError)
        self._init_failed(container, serialize_exception(exc), fatal=fatal)

    def _stop_container(self, container: Container, reason: str, force: bool = False) -> None:
        if container.state in ("stopping", "stopped"):
            return
        container.state = "stopping"
        # the ledger bills up to the stop request, whether or not the container answers
        self.store.update_container(container.id, stopped_at=time.time(), exit_reason=reason)
        if container.peer is not None and not force:
            container.peer.send({"t": "stop"})
            asyncio.get_running_loop().call_later(35.0, self._terminate, container, reason)
        else:
            self._terminate(container, reason)

    def _terminate(self, container: Container, reason: str) -> None:
        if container.handle is not None:
            self._provider_call(container, "terminate")
        if container.state != "stopped":
            self._lost(container, reason, crashed=False)

    def _provider_call(self, container: Container, method: str) -> Any:
        """Call a provider method on the container's handle; a provider that is no longer
        loaded (or fails) is logged, never raised into the scheduler."""
        try:
            provider = self.providers.get(container.provider)
            return getattr(provider, method)(container.handle)
        except Exception:  # noqa: BLE001
            log.warning(
                "%s(%s) on %s failed", method, container.id, container.provider, exc_info=True
            )
            return InstanceState.UNKNOWN if method == "status" else None

    def _poll_status(self, container: Container) -> None:
        """Ask the provider how the container is: at once for local processes, on a worker
        thread and at most every few seconds for cloud machines."""
        if container.provider == "local":
            self._apply_status(container, self._provider_call(container, "status"))
            return
        now = time.monotonic()
        if now - container.last_polled < CLOUD_POLL_S:
            return
        container.last_polled = now
        loop = asyncio.get_running_loop()

        def work() -> None:
            try:
                state = self._provider_call(container, "status")
            except Exception:  # noqa: BLE001 - an unanswered poll is retried next time
                return
            loop.call_soon_threadsafe(self._apply_status, container, state)

        loop.run_in_executor(None, work)

    def _apply_status(self, container: Container, state: InstanceState) -> None:
        if container.state == "starting" and state in (
            InstanceState.STOPPED,
            InstanceState.FAILED,
            InstanceState.PREEMPTED,
        ):
            self._init_failed(container, _error_blob(self._exit_message(container)))
        elif container.state == "ready":
            if state == InstanceState.PREEMPTED:
                self._preempted(container)
            elif state in (InstanceState.STOPPED, InstanceState.FAILED):
                self._lost(container, f"container {state.value}", crashed=True)

    def _exit_message(self, container: Container) -> str:
        provider = self.providers.get(container.provider)
        details = getattr(provider, "exit_details", None)
        tail = details(container.handle) if details else ""
        return "container exited before it was ready" + (f":\n{tail}" if tail else "")


def _error_blob(message: str) -> bytes:
    from strato._serialization import serialize_exception
    from strato.exception import ExecutionError

    return serialize_exception(ExecutionError(message))


def _prepares_on_disk(pool: FunctionPool, spec: ContainerSpec) -> bool:
    """Whether preparing the container copies files here (volume working copies, synced
    bucket mounts): only a local container with volumes or bucket mounts does."""
    return not spec.remote and bool((pool.definition.get("objects") or {}).get("volumes"))
