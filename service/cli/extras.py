"""The parts of the CLI that need an extra: a plain message naming it when it is not installed.

The package without extras is the client; the API, the dashboard and migrations need the
``server`` extra, a worker (and ``serve``, which runs workers) the ``worker`` extra. Each such
command checks for its extra's packages before importing anything, so a laptop install answers
with the ``pip install`` line to run in a checkout instead of a traceback. The commands that
open the artifact store (api, worker, dashboard, serve) also need the ``s3`` extra (boto3) when
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
        "psycopg",
        "multipart",
        "prometheus_client",
        "pandas",
        "pyarrow",
        "cachetools",
        "orjson",
        "plotly",
        "jinja2",
    ),
    "worker": ("torch", "sklearn", "cmaes", "threadpoolctl"),
    "s3": ("boto3",),
}
"""An import name of each package of each extra in ``pyproject.toml`` (a test holds them
together): a worker without cmaes started and then failed every ``sampler: cmaes`` study with
``No module named 'cmaes'``."""

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
    """How to install ``extra``: from a checkout of the repository, as regtune is installed
    (it is on no package index, so ``pip install 'regtune[...]'`` by name would find nothing, or
    a project of another author's that took the name)."""
    return f"in a checkout of regtune, pip install '.[{extra}]'"


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
