"""The parts of the CLI that need an extra: a plain message naming it when it is not installed.

The package without extras is the client; the API, the dashboard and migrations need the
``server`` extra, a worker (and ``serve``, which runs workers) the ``worker`` extra. Each such
command checks for its extra's packages before importing anything, so a laptop install answers
with the ``pip install`` line to run instead of a traceback.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Literal

import typer
from rich.text import Text

from regtune.service.cli.output import err

Extra = Literal["server", "worker"]

MODULES: dict[Extra, tuple[str, ...]] = {
    "server": (
        "fastapi",
        "uvicorn",
        "sqlalchemy",
        "alembic",
        "optuna",
        "optuna_dashboard",
        "pydantic_settings",
        "pandas",
    ),
    "worker": ("torch", "sklearn"),
}
"""Import names that tell whether an extra is installed (the worker's extra includes the
server's)."""


def missing(extra: Extra) -> str | None:
    """The first import name of ``extra`` (or of the extras it includes) that is not installed."""
    names = MODULES["server"] + (MODULES["worker"] if extra == "worker" else ())
    return next((name for name in names if find_spec(name) is None), None)


def install_line(extra: Extra) -> str:
    """How to install ``extra``: by the package's name, or from a checkout of the repository
    (regtune is installed from its sources, not from a package index)."""
    return f"pip install 'regtune[{extra}]' (from a checkout: pip install '.[{extra}]')"


def require(extra: Extra, command: str) -> None:
    """Exit with status 2 and the ``pip install`` line when ``extra`` is not installed."""
    absent = missing(extra)
    if absent is None:
        return
    err.print(
        Text.assemble(
            ("error: ", "bold red"),
            f"`regtune {command}` needs the {extra} extra ({absent} is not installed): "
            f"{install_line(extra)}",
        )
    )
    raise typer.Exit(2)
