"""``.map`` over 1,000,000 inputs: the caller's peak memory stays bounded because inputs are
streamed (at most 1,000 in flight), never materialized.

Goal: peak RSS of the calling process under 300 MB. On the embedded default that process also
hosts the control plane, so the figure covers both. The baseline is the same process's RSS
right before the map, and the size a materialized list of the inputs and outputs would take.
"""

from __future__ import annotations

import resource
import sys
import time

import _common

import strato

app = strato.App("bench-map-memory")


@app.function()
def double(x: int) -> int:
    return x * 2


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with app.run():
        list(double.map(range(1000)))
        before = peak_rss_mb()
        started = time.perf_counter()
        total = 0
        count = 0
        for value in double.map(range(n)):
            total += value
            count += 1
        elapsed = time.perf_counter() - started
    assert count == n and total == n * (n - 1)
    peak = peak_rss_mb()
    materialized = sys.getsizeof(list(range(n))) * 2 / 1e6
    rows = [
        (
            f"peak RSS after .map over {n:,}",
            f"{peak:.0f} MB",
            "goal < 300 MB: " + ("met" if peak < 300 else "NOT met"),
        ),
        ("peak RSS before the map", f"{before:.0f} MB", f"growth {peak - before:.0f} MB"),
        (
            "list of inputs + outputs alone",
            f"{materialized:.0f} MB",
            "what materializing would add (pointers only)",
        ),
        ("throughput", f"{n / elapsed:,.0f}/s", f"{elapsed:.1f} s"),
    ]
    _common.report(
        "map_memory", rows, {"n": n, "peak_mb": peak, "before_mb": before, "seconds": elapsed}
    )


if __name__ == "__main__":
    main()
