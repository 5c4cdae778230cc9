"""Listing, creating and revoking API keys (admin key only)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from regtune.service.cli.output import (
    JsonOpt,
    KeyOpt,
    UrlOpt,
    call,
    console,
    fmt,
    id_column,
    print_json,
    print_table,
)
from regtune.service.spec.words import counted

app = typer.Typer(no_args_is_help=True, help="List, create and revoke API keys (admin key only).")


@app.command("ls")
def list_keys(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List API keys: id (what revoke takes), tenant, prefix of the secret, created, revoked."""
    keys = call(url, key, lambda client: client.keys(tenant))
    if as_json:
        print_json(keys)
        return
    table = Table(
        id_column("id", [k.id for k in keys]), "tenant", "prefix", "created (UTC)", "revoked (UTC)"
    )
    for k in keys:
        table.add_row(k.id, k.tenant, k.prefix, fmt(k.created_at), fmt(k.revoked_at))
    print_table(table)
    live = sum(k.revoked_at is None for k in keys)
    console.print(f"{counted(len(keys), 'key')}, {live} not revoked")


@app.command("create")
def create_key(
    tenant: Annotated[str, typer.Argument(help="The tenant the key acts for.")],
    url: UrlOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; its secret is printed once and cannot be shown again."""
    created = call(
        url,
        key,
        lambda client: client.create_key(tenant),
        unanswered=f"a key for tenant {tenant!r} may or may not have been created, its secret "
        f"never shown; regtune keys ls --tenant {tenant} lists it if it was: revoke it (regtune "
        "keys revoke ID) and create another",
    )
    if as_json:
        print_json(created)
        return
    if created.warning:
        typer.secho(f"warning: {created.warning}", fg="yellow", err=True)
    console.print(f"key {created.id} for tenant {created.tenant}; secret (shown once):")
    sys.stdout.write(created.key + "\n")


@app.command("revoke")
def revoke_key(
    key_id: str, url: UrlOpt = None, key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Revoke an API key; its next request is refused."""
    call(
        url,
        key,
        lambda client: client.revoke_key(key_id),
        unanswered=f"key {key_id} may or may not be revoked; regtune keys ls shows when it was",
    )
    if as_json:
        print_json({"id": key_id, "revoked": True})
    else:
        console.print(f"revoked key {key_id}")
