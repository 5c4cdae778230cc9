"""Uploading and listing your own datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from regtune.service.cli.output import (
    JsonOpt,
    KeyOpt,
    OffsetOpt,
    UrlOpt,
    call,
    console,
    fmt,
    listing,
    print_json,
    print_table,
    shown_of,
)
from regtune.service.spec.words import counted

app = typer.Typer(no_args_is_help=True, help="Upload and list your own datasets.")


@app.command("upload")
def upload_dataset(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or Parquet.")],
    target: Annotated[str, typer.Option("--target", help="The column to predict.")],
    task: Annotated[str, typer.Option(help="auto, regression, binary or multiclass.")] = "auto",
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore",
            metavar="COLUMN",
            help="A column to leave out (a row id, say); repeat for several.",
        ),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            metavar="NAME",
            help="The CSV's text encoding when not UTF-8: cp1252 for Excel's on Windows.",
        ),
    ] = None,
    missing_value: Annotated[
        list[str] | None,
        typer.Option(
            "--missing-value",
            metavar="TEXT",
            help="A cell text that marks a missing value besides the built-in ones (an empty "
            "cell, NA, N/A, n/a, NaN, nan, null, NULL, None, none, ? and #N/A), such as '-', '.' "
            "or 'n.a.'; repeat for several.",
        ),
    ] = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Upload a dataset; use its id in a definition as dataset: {id: ID}."""
    dataset = call(
        url,
        key,
        lambda client: client.upload_dataset(
            file,
            target=target,
            task=task,
            ignore=ignore or (),
            encoding=encoding,
            missing_values=missing_value or (),
        ),
        unanswered=f"the dataset of {file.name} may or may not be stored; regtune datasets ls "
        "lists it if it is (the same upload again answers the same dataset)",
    )
    if as_json:
        print_json(dataset)
        return
    rows, features = counted(dataset.n_rows, "row"), counted(dataset.n_features, "feature")
    said = [rows, features, f"task {dataset.task}"]
    dropped = dataset.missing.get("target_missing_rows_dropped")
    if dropped:
        said.append(f"{counted(dropped, 'row')} without a target dropped")
    if dataset.ignored:
        said.append(f"ignored: {', '.join(dataset.ignored)}")
    console.print(
        Text.assemble("dataset ", (dataset.id, "bold"), f" ({dataset.name}): ", ", ".join(said))
    )
    missing = dataset.missing["missing_by_column"]
    if missing:
        shown = ", ".join(f"{k} {v}" for k, v in missing.items())
        console.print(Text(f"missing values (filled from each training split): {shown}"))
    for note in dataset.notes:
        console.print(Text(f"note: {note}"))


@app.command("ls")
def list_datasets(
    offset: OffsetOpt = 0,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest first).")] = 50,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List your datasets, newest first."""
    page = call(url, key, lambda client: client.datasets(offset=offset, limit=limit))
    if as_json:
        print_json(page)
        return
    items = page.items
    table = listing(
        [d.id for d in items], *("target", "task", "rows", "features", "uploaded (UTC)")
    )
    for d in items:
        table.add_row(  # names and targets are the uploader's text, never rich markup
            d.id,
            Text(d.name),
            Text(d.target),
            d.task,
            str(d.n_rows),
            str(d.n_features),
            fmt(d.created_at),
        )
    print_table(table)
    if page.total > len(items):
        console.print(shown_of(len(items), page.total, "dataset", offset=offset))


@app.command("rm")
def remove_dataset(
    dataset_id: str, url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Delete a dataset (refused while a queued or running study uses it)."""
    call(
        url,
        key,
        lambda client: client.delete_dataset(dataset_id),
        unanswered=f"dataset {dataset_id} may or may not be deleted; regtune datasets ls lists "
        "it until it is",
    )
    if as_json:
        print_json({"id": dataset_id, "deleted": True})
    else:
        console.print(f"deleted dataset {dataset_id}")
