"""Where Strato keeps its files, and the environment variables that move them.

``STRATO_CONFIG_DIR`` (default: the platform's user config dir) holds the operator's settings
(``config.toml``), the API token and the secrets key; ``STRATO_DATA_DIR`` (default: the
platform's user data dir) holds the SQLite database, container logs and image caches.
"""

from __future__ import annotations

import os
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

APP_NAME = "strato"


def config_dir() -> Path:
    """The directory of the operator's settings, created on first use."""
    env = os.environ.get("STRATO_CONFIG_DIR")
    if env:
        path = Path(env)
    else:
        import platformdirs

        path = Path(platformdirs.user_config_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """The directory of the database, logs and caches, created on first use."""
    env = os.environ.get("STRATO_DATA_DIR")
    if env:
        path = Path(env)
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_settings() -> dict[str, Any]:
    """The operator's ``config.toml`` as a dict (empty when there is none)."""
    return _load_settings(str(config_dir() / "config.toml"))


@cache
def _load_settings(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}


def wants_cloud(options: dict[str, Any]) -> bool:
    """Whether a function with these options runs on a cloud machine rather than this one:
    it asks for a GPU, a region or a cloud (``cloud="local"`` keeps it here), or the operator
    set ``[placement] default_cloud = "auto"``."""
    cloud = options.get("cloud")
    if cloud == "local":
        return False
    if cloud or options.get("gpu") or options.get("region"):
        return True
    placement = load_settings().get("placement") or {}
    return bool(placement.get("default_cloud") == "auto")
