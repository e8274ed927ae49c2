"""The ``strato`` command: one Typer app with one sub-app per noun.

Each noun lives in its own module under ``strato.cli`` and imports only Typer and the standard
library at module level, so ``strato --help`` stays fast and never loads the control plane or a
cloud SDK; the heavy imports happen inside the commands.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="strato",
    help="Run Python functions on your own clouds.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: loading rich would cost 100 ms on every invocation
)

# (module, attribute, name): a Typer sub-app to mount, or a plain command when name is None.
_NOUNS: list[tuple[str, str, str | None]] = [
    ("run", "run", None),
    ("server", "server", None),
    ("app", "app", "app"),
    ("token", "app", "token"),
    ("regions", "app", "regions"),
    ("gpus", "app", "gpus"),
    ("price", "price", None),
    ("cost", "app", "cost"),
    ("providers", "app", "providers"),
    ("secret", "app", "secret"),
    ("volume", "app", "volume"),
    ("dict", "app", "dict"),
    ("queue", "app", "queue"),
    ("image", "app", "image"),
]


def _mount() -> None:
    for module_name, attribute, name in _NOUNS:
        try:
            module = importlib.import_module(f"strato.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"strato.cli.{module_name}":
                continue  # a noun not built yet
            raise
        target = getattr(module, attribute)
        if name is None:
            settings = getattr(target, "__click_context_settings__", None)
            app.command(name=module_name, context_settings=settings)(target)
        else:
            app.add_typer(target, name=name)


_mount()


def main() -> None:
    """Entry point of the ``strato`` console script."""
    app()


if __name__ == "__main__":
    main()
