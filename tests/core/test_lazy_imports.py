"""`import strato`, `strato --help` and loading every provider plugin import no cloud SDK."""

from __future__ import annotations

import os
import subprocess
import sys

CLOUD_SDKS = ("boto3", "botocore", "google.cloud", "azure", "oci")

PROBE = """
import sys
{setup}
sdks = {sdks!r}
loaded = sorted({{m for m in sys.modules for s in sdks if m == s or m.startswith(s + ".")}})
print("LOADED:" + ",".join(loaded))
"""


def loaded_after(setup: str, plugins: str | None = None) -> list[str]:
    env = dict(os.environ)
    env.pop("STRATO_PLUGINS", None)
    if plugins is not None:
        env["STRATO_PLUGINS"] = plugins
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup, sdks=CLOUD_SDKS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    ).stdout
    line = next(text for text in out.splitlines() if text.startswith("LOADED:"))
    return [m for m in line.removeprefix("LOADED:").split(",") if m]


def test_import_strato_loads_no_cloud_sdk():
    assert loaded_after("import strato; strato.App; strato.Function") == []


def test_cli_help_loads_no_cloud_sdk():
    setup = "import strato.cli.main as m\ntry:\n    m.app(['--help'])\nexcept SystemExit:\n    pass"
    assert loaded_after(setup) == []


def test_loading_every_provider_plugin_loads_no_cloud_sdk():
    setup = (
        "from strato.plugins.manager import default_providers\n"
        "print(sorted(default_providers().by_name))"
    )
    assert loaded_after(setup) == []


def test_the_local_path_loads_no_cloud_sdk(tmp_path):
    script = tmp_path / "local_app.py"
    script.write_text(
        "import strato\napp = strato.App('lazy')\n@app.function()\ndef f(x):\n    return x + 1\n"
    )
    setup = (
        f"sys.path.insert(0, {str(tmp_path)!r})\nimport local_app\n"
        "with local_app.app.run():\n    assert local_app.f.remote(1) == 2"
    )
    assert loaded_after(setup) == []
