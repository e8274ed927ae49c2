"""The program in the README runs as shown."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_program_runs_with_strato_run(tmp_path):
    readme = (ROOT / "README.md").read_text()
    program = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    path = tmp_path / "demo.py"
    path.write_text(program)
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "strato"), "run", str(path), "--n", "3"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "16" in lines  # square.remote(4)
    assert "[0, 1, 4]" in lines  # square.map(range(3))
    assert "49" in lines  # square.spawn(7).get()
    assert "12" in lines  # Model(size=4).predict.remote(2): (0+1+2+3) * 2
    assert "running in a container" in result.stdout
