"""The parts of the CLI that need an extra: a plain message naming it when it is not installed.

The package without extras is the client; the API, the dashboard and migrations need the
``server`` extra, a worker (and ``serve``, which runs workers) the ``worker`` extra. Each such
command checks for its extra's packages before importing anything, so a laptop install answers
with the ``pip install`` line to run instead of a traceback. The commands that open the artifact
store (api, worker, dashboard, serve) also need the ``s3`` extra (boto3) when
``REGTUNE_ARTIFACT_STORE=s3``: refused at start, not when the first best model is saved or
served, after a study has trained.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Literal

import typer
from rich.text import Text

from regtune.service.cli.output import err

Extra = Literal["server", "worker", "s3"]

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
    "s3": ("boto3",),
}
"""Import names that tell whether an extra is installed."""

INCLUDES: dict[Extra, tuple[Extra, ...]] = {
    "server": ("server",),
    "worker": ("server", "worker"),
    "s3": ("s3",),
}
"""The extras each extra installs (the worker's includes the server's)."""


def missing(extra: Extra) -> str | None:
    """The first import name of ``extra`` (or of the extras it includes) that is not installed."""
    names = (name for included in INCLUDES[extra] for name in MODULES[included])
    return next((name for name in names if find_spec(name) is None), None)


def install_line(extra: Extra) -> str:
    """How to install ``extra``: by the package's name, or from a checkout of the repository
    (regtune is installed from its sources, not from a package index)."""
    return f"pip install 'regtune[{extra}]' (from a checkout: pip install '.[{extra}]')"


def require(extra: Extra, command: str, *, setting: str | None = None) -> None:
    """Exit with status 2 and the ``pip install`` line when ``extra`` is not installed;
    ``setting``: the setting that asks for it, named in the message."""
    absent = missing(extra)
    if absent is None:
        return
    needs = f"`regtune {command}`" + (f" with {setting}" if setting else "")
    err.print(
        Text.assemble(
            ("error: ", "bold red"),
            f"{needs} needs the {extra} extra ({absent} is not installed): {install_line(extra)}",
        )
    )
    raise typer.Exit(2)


def require_artifact_store(command: str) -> None:
    """Exit with status 2 when the configured artifact store needs an extra that is not
    installed (``REGTUNE_ARTIFACT_STORE=s3``: boto3). Called after ``require("server", ...)``,
    which makes the settings readable."""
    from regtune.service.settings import get_settings

    if get_settings().artifact_store == "s3":
        require("s3", command, setting="REGTUNE_ARTIFACT_STORE=s3")
