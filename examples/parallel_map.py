"""Fan out over many inputs with .map, and fire-and-forget work with .spawn.

strato run examples/parallel_map.py --count 1000
"""

import hashlib

import strato

app = strato.App("parallel-map")


@app.function(retries=2)
def fingerprint(text: str, rounds: int = 100) -> str:
    digest = text.encode()
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()[:16]


@app.local_entrypoint()
def main(count: int = 200) -> None:
    words = [f"word-{i}" for i in range(count)]
    prints = list(fingerprint.map(words, kwargs={"rounds": 50}))
    print(f"{len(prints)} fingerprints, first {prints[0]}, last {prints[-1]}")

    unordered = set(fingerprint.map(words[:10], kwargs={"rounds": 50}, order_outputs=False))
    assert unordered == set(prints[:10])

    call = fingerprint.spawn("spawned", rounds=1000)
    print("spawned", call.object_id, "->", call.get(timeout=60))
