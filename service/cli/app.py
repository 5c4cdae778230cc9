"""The ``regtune`` command: run the parts (api, worker, serve, migrate) and talk to the API."""

from __future__ import annotations

from typing import Annotated

import typer

from regtune.service.cli import datasets, extending, keys, parts, predict, studies, workers
from regtune.service.cli.failures import Regtune

app = typer.Typer(
    cls=Regtune,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    help="Hyperparameter tuning for regularized models.",
)


def _print_version(asked: bool) -> None:
    """``regtune --version``: the installed distribution's version, then exit 0."""
    if not asked:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        typer.echo(f"regtune {version('regtune')}")
    except PackageNotFoundError:  # imported from a checkout that was never installed
        typer.echo("regtune (not installed: no version)")
    raise typer.Exit(0)


@app.callback()
def main(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print regtune's version and exit.",
        ),
    ] = False,
) -> None:
    """Hyperparameter tuning for regularized models."""


for command in (parts.migrate, parts.api, parts.worker, parts.dashboard, parts.serve):
    app.command()(command)
app.command()(studies.submit)
app.command("watch")(studies.watch_study)
app.command("ls")(studies.list_studies)
app.command()(studies.show)
app.command()(studies.trials)
app.command()(studies.cancel)
app.command()(extending.extend)
app.command("rm")(studies.remove)
app.command()(studies.best)
app.command()(studies.report)
app.command()(predict.predict)
app.command("workers")(workers.list_workers)
app.add_typer(datasets.app, name="datasets")
app.add_typer(keys.app, name="keys")

if __name__ == "__main__":
    app()
