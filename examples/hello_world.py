"""The smallest Strato program: one function, run in a container, called three ways.

strato run examples/hello_world.py
"""

import sys

import strato

app = strato.App("hello-world")


@app.function()
def square(x: int) -> int:
    print(f"squaring {x} in a container")
    if x < 0:
        raise ValueError("negative numbers are not allowed")
    return x * x


@app.local_entrypoint()
def main(n: int = 5) -> None:
    print("square(4) runs here:", square.local(4))
    print("square(4) runs in a container:", square.remote(4))
    total = sum(square.map(range(n)))
    print(f"sum of squares below {n}, computed in parallel:", total)
    try:
        square.remote(-1)
    except ValueError as exc:
        print("the container's exception arrives here:", exc, file=sys.stderr)
