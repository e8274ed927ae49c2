"""The engine behind ``Function.map`` and friends: streams inputs, yields outputs.

Inputs are pulled from the caller's iterators only while fewer than ``MAP_WINDOW`` are
unfinished (Modal's limit of 1,000 concurrent inputs per map), so a map over millions of
inputs holds a bounded number in memory. Outputs are handed back in input order, or as they
complete with ``order_outputs=False``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

from strato import _protocol as proto
from strato._lazy import asyncio
from strato._results import UserCodeException, decode_error, decode_value
from strato._serialization import serialize_args
from strato._session import CallHandle, Session
from strato.exception import ConnectionError, RemoteError

MAP_WINDOW = 1000
SUBMIT_BATCH = 1000
CONFIRM_EVERY = 256


def new_call_id() -> str:
    return f"fc-{os.urandom(10).hex()}"  # not `secrets`: importing it costs 10 ms


def _raise_handle_error(handle: CallHandle) -> None:
    if handle.error is not None:
        kind, message = handle.error
        if kind == "ConnectionError":
            raise ConnectionError(message)
        from strato.client import error_from_response

        error = error_from_response(500, {"error": kind, "message": message})
        raise error if not isinstance(error, RemoteError) else RemoteError(f"{kind}: {message}")


class MapRun:
    """One map call: which inputs are sent, which outputs are back."""

    def __init__(
        self,
        session: Session,
        function_id: str,
        method: str | None,
        inputs: Iterator[tuple[tuple[Any, ...], dict[str, Any]]],
        order_outputs: bool = True,
        mode: str = "map",
    ) -> None:
        self.handle = session.open_call(new_call_id(), function_id, mode)
        self.method = method
        self.inputs = inputs
        self.order_outputs = order_outputs
        self.next_idx = 0
        self.exhausted = False
        self.next_yield = 0
        self.yielded = 0
        self.seen_finished = -1

    def fill(self) -> None:
        """Submit inputs while the window has room."""
        handle = self.handle
        room = MAP_WINDOW - (self.next_idx - handle.finished)
        batch: list[list[Any]] = []
        while room > 0 and not self.exhausted:
            try:
                args, kwargs = next(self.inputs)
            except StopIteration:
                self.exhausted = True
                break
            batch.append([self.next_idx, serialize_args(args, kwargs), self.method])
            self.next_idx += 1
            room -= 1
            if len(batch) >= SUBMIT_BATCH:
                handle.submit(batch)
                batch = []
        if batch or (self.exhausted and not handle.last_sent):
            handle.submit(batch, last=self.exhausted)

    def take(self) -> list[tuple[int, int, bytes | None]]:
        """Outputs ready to hand back now."""
        handle = self.handle
        with handle.cond:
            _raise_handle_error(handle)
            self.seen_finished = handle.finished
            ready = []
            if self.order_outputs:
                while self.next_yield in handle.outputs:
                    status, data = handle.outputs.pop(self.next_yield)
                    ready.append((self.next_yield, status, data))
                    self.next_yield += 1
            else:
                ready = [(idx, s, d) for idx, (s, d) in handle.outputs.items()]
                handle.outputs.clear()
        self.yielded += len(ready)
        if handle.received_upto - handle.confirmed_upto >= CONFIRM_EVERY:
            handle.confirm()
        return ready

    @property
    def done(self) -> bool:
        return self.exhausted and self.yielded == self.next_idx

    def _progress(self) -> bool:
        return self.handle.finished != self.seen_finished or self.handle.error is not None

    def wait(self) -> None:
        with self.handle.cond:
            while not self._progress():
                self.handle.cond.wait(1.0)

    async def wait_async(self) -> None:
        if self._progress():
            return
        loop = asyncio.get_running_loop()
        event = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(event.set)

        self.handle.listeners.append(wake)
        try:
            while not self._progress():
                event.clear()
                try:
                    await asyncio.wait_for(event.wait(), 1.0)
                except asyncio.TimeoutError:
                    pass
        finally:
            self.handle.listeners.remove(wake)

    def wait_acked(self) -> None:
        """Block until every submitted input is durable (for ``spawn_map``)."""
        with self.handle.cond:
            while self.handle.acked_upto < self.next_idx and self.handle.error is None:
                self.handle.cond.wait(1.0)
            _raise_handle_error(self.handle)

    def close(self) -> None:
        self.handle.close()


def _result(status: int, data: bytes | None, return_exceptions: bool, wrap: bool) -> Any:
    if status == proto.SUCCESS:
        return decode_value(data)
    error = decode_error(status, data)
    if not return_exceptions:
        raise error
    if wrap and status == proto.FAILURE:
        return UserCodeException(error)
    return error


def iterate(run: MapRun, return_exceptions: bool, wrap: bool) -> Iterator[Any]:
    """Drive ``run`` from the caller's thread, yielding results."""
    try:
        while True:
            run.fill()
            for _idx, status, data in run.take():
                yield _result(status, data, return_exceptions, wrap)
            if run.done:
                return
            run.wait()
    finally:
        run.close()


async def iterate_async(run: MapRun, return_exceptions: bool, wrap: bool) -> AsyncIterator[Any]:
    """Drive ``run`` from an event loop, yielding results."""
    try:
        while True:
            run.fill()
            for _idx, status, data in run.take():
                yield _result(status, data, return_exceptions, wrap)
            if run.done:
                return
            await run.wait_async()
    finally:
        run.close()
