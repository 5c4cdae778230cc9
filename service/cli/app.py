"""The ``regtune`` command: run the parts (api, worker, serve, migrate) and talk to the API."""

from __future__ import annotations

import typer

from regtune.service.cli import datasets, keys, parts, predict, studies
from regtune.service.cli.failures import Regtune

app = typer.Typer(
    cls=Regtune,
    no_args_is_help=True,
    add_completion=False,
    help="Hyperparameter tuning for regularized models.",
)
for command in (parts.migrate, parts.api, parts.worker, parts.dashboard, parts.serve):
    app.command()(command)
app.command()(studies.submit)
app.command("ls")(studies.list_studies)
app.command()(studies.show)
app.command()(studies.trials)
app.command()(studies.cancel)
app.command("rm")(studies.remove)
app.command()(studies.best)
app.command()(studies.report)
app.command()(predict.predict)
app.command("workers")(studies.list_workers)
app.add_typer(datasets.app, name="datasets")
app.add_typer(keys.app, name="keys")

if __name__ == "__main__":
    app()
