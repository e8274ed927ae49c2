"""The messages exchanged over the control plane's WebSocket streams.

Every frame is one msgpack map with a ``t`` (type) key. Payloads (arguments, results) travel as
opaque bytes that the control plane never unpickles.

Caller session (``/v1/session``):
    caller → plane  ``submit``  {call, fn, mode, items: [[idx, args, method]], last}
                    ``resume``  {call, fn, received_upto}
                    ``logs``    {app}  subscribe to an app's container output
    plane → caller  ``acked``   {call, n}  inputs received so far are durable
                    ``out``     {call, items: [[idx, status, data, seq]]}
                    ``log``     {items: [[fd, text]]}
                    ``error``   {call, status, message}

Container stream (``/v1/containers/stream``):
    plane → container  ``hello``   {container, function, ...}
                       ``inputs``  {items: [[input_id, call, idx, attempt, args, method]]}
                       ``cancel``  {inputs: [input_id]}
                       ``stop``    {}
    container → plane  ``ready``   {}  imports and ``@enter`` done
                       ``out``     {items: [[input_id, status, data, seq, seconds]]}
                       ``log``     {items: [[fd, text]]}
                       ``failed``  {error}  start-up failed (import or ``@enter``)
"""

from __future__ import annotations

from typing import Any

import msgpack

PROTOCOL_VERSION = 1

# Output statuses.
SUCCESS = 0  # data is the pickled return value
FAILURE = 1  # data is a serialized exception raised by user code
GEN_ITEM = 2  # one value yielded by a generator; seq orders them
GEN_DONE = 3  # the generator finished; seq is the number of items
TIMEOUT = 4  # the attempt ran past the function's timeout
CRASHED = 5  # the container died on this input more often than allowed
CANCELLED = 6  # the call was cancelled
INIT_FAILURE = 7  # containers could not start (import or @enter failed); data is the error


def pack(message: dict[str, Any]) -> bytes:
    """Encode one message."""
    return msgpack.packb(message, use_bin_type=True)


def unpack(data: bytes) -> dict[str, Any]:
    """Decode one message."""
    return msgpack.unpackb(data, raw=False, strict_map_key=False)
