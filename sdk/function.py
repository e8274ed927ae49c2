"""``strato.Function`` and ``strato.FunctionCall``: calling user functions in containers.

Every calling method exists blocking and as ``.aio`` (``await f.remote.aio(x)``). The blocking
forms wait in the caller's thread; the ``.aio`` forms wait on the event loop, woken by the
session's reader thread, so thousands of concurrent ``remote.aio`` calls need no threads.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from strato import _protocol as proto
from strato._lazy import asyncio
from strato._map import MapRun, iterate, iterate_async, new_call_id
from strato._results import decode, decode_value
from strato._serialization import serialize_args
from strato.exception import InvalidError, TimeoutError

if TYPE_CHECKING:
    from strato.app import App
    from strato.client import Client

T = TypeVar("T")


class _Dual:
    """A method with a blocking form and an ``.aio`` form."""

    def __init__(self, blocking: Callable[..., Any], asynchronous: Callable[..., Any]) -> None:
        self.blocking = blocking
        self.asynchronous = asynchronous
        self.__doc__ = blocking.__doc__

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return _BoundDual(obj, self.blocking, self.asynchronous)


class _BoundDual:
    __slots__ = ("_obj", "_blocking", "aio")

    def __init__(
        self, obj: Any, blocking: Callable[..., Any], asynchronous: Callable[..., Any]
    ) -> None:
        self._obj = obj
        self._blocking = blocking
        self.aio = asynchronous.__get__(obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._blocking(self._obj, *args, **kwargs)


def _arg_stream(
    iterators: tuple[Iterable[Any], ...], kwargs: dict[str, Any]
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    if not iterators:
        raise InvalidError("map() needs at least one iterable of inputs")
    for args in zip(*iterators):  # noqa: B905 - shortest wins, as with Python's map
        yield args, kwargs


def _star_stream(
    iterator: Iterable[Any], kwargs: dict[str, Any]
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    for args in iterator:
        yield tuple(args), kwargs


class Function(Generic[T]):
    """A function registered with an App and run in containers."""

    def __init__(
        self,
        app: App,
        raw_f: Callable[..., Any] | None,
        tag: str,
        options: dict[str, Any],
        *,
        definition: Callable[[], dict[str, Any]] | None = None,
        is_generator: bool = False,
        method: str | None = None,
        bound_to: Any = None,
    ) -> None:
        self._app = app
        self._raw_f = raw_f
        self._strato_raw = raw_f
        self._tag = tag
        self._options = options
        self._definition_factory = definition
        self._is_generator = is_generator
        self._method = method
        self._bound_to = bound_to  # the class instance (``Obj``) a method belongs to
        self._function_id: str | None = None
        if raw_f is not None:
            self.__doc__ = raw_f.__doc__
            self.__name__ = getattr(raw_f, "__name__", tag)
            self.__qualname__ = getattr(raw_f, "__qualname__", tag)
            self.__module__ = getattr(raw_f, "__module__", __name__)

    def __repr__(self) -> str:
        return f"<strato.Function {self._tag}>"

    # -- identity --------------------------------------------------------------------------
    @property
    def object_id(self) -> str:
        return self._hydrated_id()

    @property
    def app(self) -> App:
        return self._app

    def _client(self) -> Client:
        return self._app._require_client()

    def _hydrated_id(self) -> str:
        if self._bound_to is not None:
            return self._bound_to._hydrated_id()
        if self._function_id is None:
            self._function_id = self._app._lookup_function_id(self._tag)
        return self._function_id

    def hydrate(self, client: Any = None) -> Function[T]:
        """Make sure the function is known to the control plane (it usually is implicitly)."""
        self._hydrated_id()
        return self

    def get_raw_f(self) -> Callable[..., Any]:
        """The undecorated Python function."""
        if self._raw_f is None:
            raise InvalidError(f"{self._tag} has no local Python function")
        return self._raw_f

    # -- one call --------------------------------------------------------------------------
    def _check_not_generator(self, kind: str) -> None:
        if self._is_generator:
            raise InvalidError(f"{self._tag} is a generator function: use {kind}_gen() instead")

    def _remote_blocking(self, *args: Any, **kwargs: Any) -> T:
        self._check_not_generator("remote")
        handle = self._start_call("remote", args, kwargs)
        try:
            with handle.cond:
                while 0 not in handle.outputs and handle.error is None:
                    handle.cond.wait(1.0)
            return decode(*self._take_single(handle))  # type: ignore[no-any-return]
        finally:
            handle.close()

    async def _remote_async(self, *args: Any, **kwargs: Any) -> T:
        self._check_not_generator("remote")
        handle = self._start_call("remote", args, kwargs)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if 0 in handle.outputs or handle.error is not None:
                loop.call_soon_threadsafe(lambda: future.done() or future.set_result(None))

        handle.listeners.append(wake)
        try:
            wake()
            await future
            return decode(*self._take_single(handle))  # type: ignore[no-any-return]
        finally:
            handle.close()

    remote = _Dual(_remote_blocking, _remote_async)

    def _start_call(self, mode: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        function_id = self._hydrated_id()
        blob = serialize_args(args, kwargs)
        handle = self._client().session.open_call(new_call_id(), function_id, mode)
        handle.submit([[0, blob, self._method]], last=True)
        return handle

    @staticmethod
    def _take_single(handle: Any) -> tuple[int, bytes | None]:
        from strato._map import _raise_handle_error

        with handle.cond:
            _raise_handle_error(handle)
            return handle.outputs.pop(0)  # type: ignore[no-any-return]

    def local(self, *args: Any, **kwargs: Any) -> T:
        """Call the function here, in this process."""
        if self._bound_to is not None:
            return getattr(self._bound_to._local_instance(), self._method or "")(*args, **kwargs)  # type: ignore[no-any-return]
        return self.get_raw_f()(*args, **kwargs)  # type: ignore[no-any-return]

    # -- generators ------------------------------------------------------------------------
    def _remote_gen_blocking(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        if not self._is_generator:
            raise InvalidError(f"{self._tag} is not a generator function: use remote() instead")
        handle = self._start_call("gen", args, kwargs)
        try:
            seq = 0
            while True:
                with handle.cond:
                    while (
                        seq not in handle.gen_items.get(0, {})
                        and 0 not in handle.outputs
                        and handle.error is None
                    ):
                        handle.cond.wait(1.0)
                    item = handle.gen_items.get(0, {}).pop(seq, None)
                    final = handle.outputs.get(0) if item is None else None
                if item is not None:
                    seq += 1
                    yield decode_value(item)
                    continue
                if final is None:
                    self._take_single(handle)  # raises the session error
                status, data = final  # type: ignore[misc]
                if status == proto.GEN_DONE:
                    return
                decode(status, data)
        finally:
            handle.close()

    async def _remote_gen_async(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        iterator = self._remote_gen_blocking(*args, **kwargs)
        sentinel = object()
        while True:
            value = await asyncio.to_thread(next, iterator, sentinel)
            if value is sentinel:
                return
            yield value

    remote_gen = _Dual(_remote_gen_blocking, _remote_gen_async)

    # -- spawn -----------------------------------------------------------------------------
    def _spawn_blocking(self, *args: Any, **kwargs: Any) -> FunctionCall[T]:
        function_id = self._hydrated_id()
        run = MapRun(
            self._client().session, function_id, self._method, iter([(args, kwargs)]), mode="spawn"
        )
        try:
            run.fill()
            run.wait_acked()
        finally:
            run.close()
        return FunctionCall(
            run.handle.call_id, self._client(), num_inputs=1, is_generator=self._is_generator
        )

    async def _spawn_async(self, *args: Any, **kwargs: Any) -> FunctionCall[T]:
        return await asyncio.to_thread(self._spawn_blocking, *args, **kwargs)

    spawn = _Dual(_spawn_blocking, _spawn_async)

    def _spawn_map_blocking(
        self, *input_iterators: Iterable[Any], kwargs: dict[str, Any] | None = None
    ) -> FunctionCall[T]:
        function_id = self._hydrated_id()
        run = MapRun(
            self._client().session,
            function_id,
            self._method,
            _arg_stream(input_iterators, kwargs or {}),
            mode="spawn_map",
        )
        try:
            while not run.exhausted:
                run.handle.finished = run.next_idx  # spawned inputs never block the window
                run.fill()
            run.wait_acked()
        finally:
            run.close()
        return FunctionCall(run.handle.call_id, self._client(), num_inputs=run.next_idx)

    async def _spawn_map_async(
        self, *input_iterators: Iterable[Any], kwargs: dict[str, Any] | None = None
    ) -> FunctionCall[T]:
        return await asyncio.to_thread(self._spawn_map_blocking, *input_iterators, kwargs=kwargs)

    spawn_map = _Dual(_spawn_map_blocking, _spawn_map_async)

    # -- map -------------------------------------------------------------------------------
    def _map_run(self, stream: Iterator[Any], order_outputs: bool) -> MapRun:
        self._check_not_generator("remote")
        return MapRun(
            self._client().session, self._hydrated_id(), self._method, stream, order_outputs
        )

    def _map_blocking(
        self,
        *input_iterators: Iterable[Any],
        kwargs: dict[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
        wrap_returned_exceptions: bool = True,
    ) -> Iterator[Any]:
        run = self._map_run(_arg_stream(input_iterators, kwargs or {}), order_outputs)
        return iterate(run, return_exceptions, wrap_returned_exceptions)

    def _map_async(
        self,
        *input_iterators: Iterable[Any],
        kwargs: dict[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
        wrap_returned_exceptions: bool = True,
    ) -> AsyncIterator[Any]:
        run = self._map_run(_arg_stream(input_iterators, kwargs or {}), order_outputs)
        return iterate_async(run, return_exceptions, wrap_returned_exceptions)

    map = _Dual(_map_blocking, _map_async)

    def _starmap_blocking(
        self,
        input_iterator: Iterable[Any],
        *,
        kwargs: dict[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
        wrap_returned_exceptions: bool = True,
    ) -> Iterator[Any]:
        run = self._map_run(_star_stream(input_iterator, kwargs or {}), order_outputs)
        return iterate(run, return_exceptions, wrap_returned_exceptions)

    def _starmap_async(
        self,
        input_iterator: Iterable[Any],
        *,
        kwargs: dict[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
        wrap_returned_exceptions: bool = True,
    ) -> AsyncIterator[Any]:
        run = self._map_run(_star_stream(input_iterator, kwargs or {}), order_outputs)
        return iterate_async(run, return_exceptions, wrap_returned_exceptions)

    starmap = _Dual(_starmap_blocking, _starmap_async)

    def _for_each_blocking(
        self,
        *input_iterators: Iterable[Any],
        kwargs: dict[str, Any] | None = None,
        ignore_exceptions: bool = False,
    ) -> None:
        for _ in self._map_blocking(
            *input_iterators,
            kwargs=kwargs,
            order_outputs=False,
            return_exceptions=ignore_exceptions,
        ):
            pass

    async def _for_each_async(
        self,
        *input_iterators: Iterable[Any],
        kwargs: dict[str, Any] | None = None,
        ignore_exceptions: bool = False,
    ) -> None:
        async for _ in self._map_async(
            *input_iterators,
            kwargs=kwargs,
            order_outputs=False,
            return_exceptions=ignore_exceptions,
        ):
            pass

    for_each = _Dual(_for_each_blocking, _for_each_async)

    # -- autoscaler ------------------------------------------------------------------------
    def update_autoscaler(
        self,
        *,
        min_containers: int | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaledown_window: int | None = None,
    ) -> None:
        """Override the autoscaler settings of this function while its app runs."""
        body = {
            "min_containers": min_containers,
            "max_containers": max_containers,
            "buffer_containers": buffer_containers,
            "scaledown_window": scaledown_window,
        }
        self._client().request("POST", f"/v1/functions/{self._hydrated_id()}/autoscaler", json=body)

    def get_current_stats(self) -> dict[str, int]:
        """Queue length and number of containers right now."""
        return self._client().request("GET", f"/v1/functions/{self._hydrated_id()}/stats")  # type: ignore[no-any-return]


class FunctionCall(Generic[T]):
    """A handle on a spawned call: poll, wait for, or cancel its result."""

    def __init__(
        self,
        call_id: str,
        client: Client | None = None,
        *,
        num_inputs: int | None = None,
        is_generator: bool = False,
    ) -> None:
        self.object_id = call_id
        self._client_obj = client
        self._num_inputs = num_inputs
        self._is_generator = is_generator

    def __repr__(self) -> str:
        return f"FunctionCall({self.object_id!r})"

    def _client(self) -> Client:
        if self._client_obj is None:
            from strato.client import Client

            self._client_obj = Client.from_env()
        return self._client_obj

    @staticmethod
    def from_id(function_call_id: str, client: Client | None = None) -> FunctionCall[Any]:
        """A FunctionCall for an id obtained earlier (``call.object_id``)."""
        call = FunctionCall(function_call_id, client)
        call._client().request("GET", f"/v1/calls/{function_call_id}")  # raises NotFoundError
        return call

    def num_inputs(self) -> int:
        """How many inputs the call has."""
        if self._num_inputs is None:
            self._num_inputs = int(
                self._client().request("GET", f"/v1/calls/{self.object_id}")["num_inputs"]
            )
        return self._num_inputs

    def _get_blocking(self, timeout: float | None = None, *, index: int = 0) -> T:
        import base64

        if timeout is not None and timeout < 0:
            raise InvalidError(f"timeout must be >= 0, got {timeout}")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 50.0 if deadline is None else max(0.0, min(50.0, deadline - time.monotonic()))
            body = self._client().request(
                "GET", f"/v1/calls/{self.object_id}/outputs/{index}", params={"timeout": wait}
            )
            if body["state"] == "done":
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{self.object_id} has no result after {timeout}s")
        data = base64.b64decode(body["data"]) if body.get("data") is not None else None
        if body["status"] == proto.GEN_DONE:
            return [decode_value(base64.b64decode(i)) for i in body["items"]]  # type: ignore[return-value]
        return decode(body["status"], data)  # type: ignore[no-any-return]

    async def _get_async(self, timeout: float | None = None, *, index: int = 0) -> T:
        return await asyncio.to_thread(self._get_blocking, timeout, index=index)

    get = _Dual(_get_blocking, _get_async)

    def _iter_blocking(self, *, start: int = 0, end: int | None = None) -> Iterator[T]:
        import base64

        stop = self.num_inputs() if end is None else end
        index = start
        while index < stop:
            page = self._client().request(
                "GET",
                f"/v1/calls/{self.object_id}/outputs",
                params={"start": index, "end": stop, "timeout": 50.0},
            )["outputs"]
            for row in page:
                data = base64.b64decode(row["data"]) if row.get("data") is not None else None
                if row["status"] == proto.GEN_DONE:
                    yield [decode_value(base64.b64decode(i)) for i in row["items"]]  # type: ignore[misc]
                else:
                    yield decode(row["status"], data)
                index += 1

    async def _iter_async(self, *, start: int = 0, end: int | None = None) -> AsyncIterator[T]:
        stop = self.num_inputs() if end is None else end
        for index in range(start, stop):
            yield await self._get_async(index=index)

    iter = _Dual(_iter_blocking, _iter_async)

    def _cancel_blocking(self, terminate_containers: bool = False) -> None:
        self._client().request(
            "POST",
            f"/v1/calls/{self.object_id}/cancel",
            params={"terminate_containers": terminate_containers},
        )

    async def _cancel_async(self, terminate_containers: bool = False) -> None:
        await asyncio.to_thread(self._cancel_blocking, terminate_containers)

    cancel = _Dual(_cancel_blocking, _cancel_async)

    @staticmethod
    def _gather_blocking(*function_calls: FunctionCall[Any]) -> list[Any]:
        return [call.get() for call in function_calls]

    @staticmethod
    async def _gather_async(*function_calls: FunctionCall[Any]) -> list[Any]:
        return list(await asyncio.gather(*(call.get.aio() for call in function_calls)))

    class _GatherDescriptor:
        def __get__(self, obj: Any, objtype: Any = None) -> Any:
            def gather(*function_calls: FunctionCall[Any]) -> list[Any]:
                """Wait for every call; raise the first failure."""
                return FunctionCall._gather_blocking(*function_calls)

            gather.aio = FunctionCall._gather_async  # type: ignore[attr-defined]
            return gather

    gather = _GatherDescriptor()
