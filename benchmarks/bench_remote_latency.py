"""Warm ``.remote()`` round trip on the embedded default, against a raw pipe round trip and
Ray's ``ray.get(f.remote(x))``, all measured in this run.

Goals: p50 at most 1 ms, and at most half of Ray's.
"""

from __future__ import annotations

import time

import _common

import strato

app = strato.App("bench-remote")


@app.function()
def double(x: int) -> int:
    return x * 2


def strato_latency(calls: int = 3000) -> dict[str, float]:
    with app.run():
        for i in range(300):
            double.remote(i)
        samples = []
        for i in range(calls):
            started = time.perf_counter()
            double.remote(i)
            samples.append(time.perf_counter() - started)
    return _common.summary(samples)


def main() -> None:
    ours = strato_latency()
    pipe = _common.pipe_round_trip()
    ray = _common.ray_figures(tasks=1000)
    ms = 1000.0
    rows = [
        (
            "strato .remote() p50",
            f"{ours['p50'] * ms:.3f} ms",
            f"p90 {ours['p90'] * ms:.3f} ms, p99 {ours['p99'] * ms:.3f} ms",
        ),
        (
            "pipe round trip p50 (floor)",
            f"{pipe['p50'] * ms:.3f} ms",
            f"strato / pipe = {ours['p50'] / pipe['p50']:.1f}x",
        ),
    ]
    if ray is not None:
        ratio = ours["p50"] / ray["latency"]["p50"]
        rows.append(
            (
                "ray.get(f.remote()) p50 (peer)",
                f"{ray['latency']['p50'] * ms:.3f} ms",
                f"strato / ray = {ratio:.2f} (goal <= 0.5)",
            )
        )
    else:
        rows.append(("ray", "not installed", "pip install ray for the peer baseline"))
    rows.append(("goal p50 <= 1 ms", "met" if ours["p50"] <= 0.001 else "NOT met", ""))
    _common.report("remote_latency", rows, {"strato": ours, "pipe": pipe, "ray": ray})


if __name__ == "__main__":
    main()
