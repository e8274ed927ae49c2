"""A class whose @enter hook runs once per container, then serves many calls.

strato run examples/class_with_enter.py
"""

import os
import time

import strato

app = strato.App("class-with-enter")


@app.cls(max_containers=1, scaledown_window=10)
class Vocabulary:
    language: str = strato.parameter(default="en")

    @strato.enter()
    def load(self) -> None:
        # Expensive set-up happens once per container, not once per call.
        time.sleep(0.2)
        words = {"en": ["alpha", "beta", "gamma"], "fr": ["un", "deux", "trois"]}
        self.words = words[self.language]
        self.loaded_in = os.getpid()

    @strato.method()
    def lookup(self, index: int) -> str:
        return self.words[index % len(self.words)]

    @strato.method()
    def container_pid(self) -> int:
        return self.loaded_in


@app.local_entrypoint()
def main() -> None:
    english = Vocabulary()
    print([english.lookup.remote(i) for i in range(5)])
    print(list(Vocabulary(language="fr").lookup.map(range(3))))
    pids = {english.container_pid.remote() for _ in range(5)}
    print(f"{len(pids)} container served every call")
