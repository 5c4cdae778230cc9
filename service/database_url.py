"""The database URL's rules: the schemes people type mapped to the drivers regtune ships with, a
URL checked for what regtune can connect with before anything does, a SQLite file's folder
required, and the URL's password hidden wherever a message shows it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from regtune.service.errors import FieldProblem, InvalidSettings

MAX_PORT = 65_535


def normalize_database_url(url: str) -> str:
    """Map the URL schemes people type to the drivers regtune ships with."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def checked_database_url(value: str) -> str:
    """``value`` as regtune connects with it (``normalize_database_url``), or a ``ValueError``
    saying why it cannot: no such driver, a URL that cannot be parsed, a port out of range, an
    ``@`` not percent-encoded, another database than SQLite or PostgreSQL, an asyncio driver, a
    driver not installed, or a libpq connection option libpq does not know."""
    url = normalize_database_url(value.strip())
    scheme = url.split(":", 1)[0]
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except NoSuchModuleError:  # an ArgumentError too: first
        raise ValueError(
            f"SQLAlchemy has no database driver {scheme!r} (regtune uses sqlite:/// or "
            "postgresql://)"
        ) from None
    except ArgumentError:
        raise ValueError("cannot be parsed as a database URL") from None
    except ValueError:  # int() of the port
        raise ValueError(f"its port must be a number from 1 to {MAX_PORT}") from None
    if parsed.host is not None and "@" in parsed.host:
        raise ValueError(
            "has '@' more than once before the host: a user name or password with @, :, / "
            "or # in it must be percent-encoded (@ as %40, : as %3A, / as %2F, # as %23)"
        )
    if parsed.port is not None and not 1 <= parsed.port <= MAX_PORT:
        raise ValueError(f"its port must be a number from 1 to {MAX_PORT}")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"regtune runs on SQLite (sqlite:///path/to/file.db) or PostgreSQL "
            f"(postgresql://user:password@host/database), not {scheme!r}"
        )
    if getattr(dialect, "is_async", False):  # its engine needs asyncio: MissingGreenlet
        raise ValueError(
            f"{scheme!r} is an asyncio driver, and regtune connects without asyncio: use "
            "postgresql:// or sqlite:///"
        )
    try:
        dialect.import_dbapi()
    except ImportError:
        raise ValueError(
            f"the driver of {scheme!r} is not installed (postgresql:// uses psycopg, which "
            "regtune installs)"
        ) from None
    if parsed.get_backend_name() == "postgresql" and parsed.query:
        _check_connection_options(parsed.query)
    return url


def _check_connection_options(query: Mapping[str, str | tuple[str, ...]]) -> None:
    """A PostgreSQL URL's query holds libpq's connection options (``?sslmode=require``): one
    libpq does not know is a ``ValueError`` naming it (was: a traceback of hundreds of lines
    from the first connection, ``invalid connection option "sslmod"``)."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import make_conninfo

    options = {k: v[-1] if isinstance(v, tuple) else v for k, v in query.items()}
    try:
        make_conninfo("", **options)
    except ProgrammingError as exc:
        raise ValueError(
            f"its query holds {str(exc).strip()} (PostgreSQL's libpq connection options, such as "
            "?sslmode=require, are what it may give)"
        ) from None


def require_sqlite_folder(url: str) -> None:
    """``InvalidSettings`` if ``url`` is a SQLite file in a folder that does not exist: SQLite
    cannot create it, and waiting for the database would wait for ever."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    folder = Path(parsed.database).expanduser().absolute().parent
    if not folder.is_dir():
        raise InvalidSettings(
            "REGTUNE_DATABASE_URL names a folder that does not exist",
            fields=[
                FieldProblem(
                    path="REGTUNE_DATABASE_URL",
                    rule=f"the SQLite file's folder {str(folder)!r} does not exist (create it, "
                    f"or name another file), got {url!r}",
                )
            ],
        )


_QUERY_PASSWORD = re.compile(r"(?i)([?&](?:ssl)?password=)[^&#]*")
"""A password given as a query parameter (libpq's ``?password=``, ``?sslpassword=``)."""


def hide_password(url: str) -> str:
    """``url`` fit for a message: its password as ``***``, whether before the ``@`` or in the
    query (``?password=``), even when it cannot be parsed or a password's ``@`` was not
    percent-encoded (the parser then takes part of it for the host)."""
    return _QUERY_PASSWORD.sub(r"\1***", _hide_userinfo_password(url))


def _hide_userinfo_password(url: str) -> str:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is no number
        return _hide_userinfo(url)
    if parsed.host is not None and "@" in parsed.host:
        return _hide_userinfo(url)
    return parsed.render_as_string(hide_password=True)


def _hide_userinfo(url: str) -> str:
    """Everything between the user name and the last ``@`` as ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, _, after = rest.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{after}"
