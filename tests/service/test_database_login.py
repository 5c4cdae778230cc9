"""A login PostgreSQL refuses (a wrong password, an unknown role), or a database it does not
have, is no outage: every part that starts on the database says so in one line and exits 2,
where the API and the workers waited for it for ever; a database that is away is still waited
for (``test_cli_startup``)."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from regtune.service.store.backoff import refused_login
from tests.pg import PostgresServer
from tests.support import Processes, free_port, process_env, regtune, wait_for

PASSWORD = "right-pw-4711"
WRONG = "s3cret-wrong-pw"
COMMANDS = [["worker"], ["api", "--workers", "1"], ["serve", "--workers", "1"], ["dashboard"]]


def _refused(server: PostgresServer) -> bool:
    """The server's new pg_hba.conf is in force: a wrong password is refused."""
    dsn = f"host=127.0.0.1 port={server.port} user=regtune password={WRONG} dbname=regtune"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(dsn).close()
    return True


def test_a_refused_login_is_one_line_and_exit_2(
    own_pg: PostgresServer, processes: Processes
) -> None:
    right = own_pg.add_login("regtune", PASSWORD)
    wait_for(lambda: _refused(own_pg), timeout=30, what="password authentication")
    wrong = right.replace(PASSWORD, WRONG)
    unknown = right.replace("regtune:", "nobody:", 1)
    cases = [(command, wrong, "regtune") for command in COMMANDS]
    cases.append((["worker"], unknown, "nobody"))
    for command, url, role in cases:
        if command[0] != "worker":
            command = [*command, "--port", str(free_port())]
        result = processes.run(regtune(*command), env=process_env(url), timeout=120)

        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.returncode == 2, (command, result.stderr)
        assert len(errors) == 1, result.stderr
        assert errors[0].startswith(
            f"error: the database at 127.0.0.1:{own_pg.port} refused the login of role "
            f"'{role}' (password authentication failed"
        ), errors[0]
        assert "REGTUNE_DATABASE_URL" in errors[0] and "pg_hba.conf" in errors[0]
        assert "retrying" not in result.stderr, result.stderr
        assert WRONG not in result.stderr + result.stdout

    migrated = processes.run(regtune("migrate"), env=process_env(right), timeout=120)
    assert migrated.returncode == 0, migrated.stderr


def test_a_login_refused_in_another_language_is_one_line_and_exit_2(
    own_pg: PostgresServer, processes: Processes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server whose ``lc_messages`` is German refuses in German, and libpq gives no SQLSTATE
    for a connection that failed to open (``sqlstate`` is None): the worker took the refusal
    for an outage and waited for it for ever."""
    right = own_pg.add_login("regtune", PASSWORD)
    admin = f"host=127.0.0.1 port={own_pg.port} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute("ALTER SYSTEM SET lc_messages = 'C.UTF-8'")
    with monkeypatch.context() as env:
        env.setenv("LANGUAGE", "de")  # gettext's language, which needs no de_DE locale
        own_pg.restart()
    dsn = f"host=127.0.0.1 port={own_pg.port} user=regtune password={WRONG} dbname=regtune"
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(dsn).close()
    if "Passwort-Authentifizierung" not in str(refused.value):
        pytest.skip(f"the server's German catalog is not installed: {refused.value}")
    assert refused.value.sqlstate is None  # what the words have to make up for

    wrong = right.replace(PASSWORD, WRONG)
    result = processes.run(regtune("worker"), env=process_env(wrong), timeout=60)

    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2, result.stderr
    assert errors == [
        f"error: the database at 127.0.0.1:{own_pg.port} refused the login of role 'regtune' "
        "(Passwort-Authentifizierung für Benutzer »regtune« fehlgeschlagen): check the user "
        f"name and password in REGTUNE_DATABASE_URL ({wrong.replace(WRONG, '***')}) and that "
        "the server's pg_hba.conf lets this role connect from here; a refused login is not "
        "retried"
    ], result.stderr
    assert "retrying" not in result.stderr, result.stderr


def test_a_database_the_server_does_not_have_is_one_line_and_exit_2(
    own_pg: PostgresServer, processes: Processes
) -> None:
    """A misspelt database name was taken for an outage: the API and the workers logged
    "retrying" for ever."""
    url = own_pg.url("regtnue")
    for command in COMMANDS:
        if command[0] != "worker":
            command = [*command, "--port", str(free_port())]
        result = processes.run(regtune(*command), env=process_env(url), timeout=120)

        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.returncode == 2, (command, result.stderr)
        assert errors == [
            f"error: the database server at 127.0.0.1:{own_pg.port} has no database "
            """'regtnue' (database "regtnue" does not exist): create it (CREATE DATABASE, or """
            f"createdb) or name an existing one in REGTUNE_DATABASE_URL ({url}); a database "
            "that does not exist is not waited for"
        ], (command, result.stderr)
        assert "retrying" not in result.stderr, result.stderr


@pytest.mark.parametrize(
    "words",
    [
        "connection failed: FATAL:  Datenbank »regtnue« existiert nicht",
        'connection failed: FATAL:  数据库 "regtnue" 不存在',
    ],
)
def test_a_database_missing_in_another_language_is_known_by_its_words(words: str) -> None:
    """The server says it in its ``lc_messages``' language, and libpq gives no SQLSTATE."""
    error = OperationalError("connect", {}, psycopg.OperationalError(words))

    line = refused_login(error, "postgresql+psycopg://regtune:pw@db:5432/regtnue")

    assert line is not None
    assert line.startswith("the database server at db:5432 has no database 'regtnue' ("), line
    assert "pw" not in line.replace("postgresql+psycopg", "")


def test_a_refused_login_is_not_taken_for_a_missing_database() -> None:
    words = 'connection failed: FATAL:  password authentication failed for user "regtune"'
    error = OperationalError("connect", {}, psycopg.OperationalError(words))

    line = refused_login(error, "postgresql+psycopg://regtune:pw@db:5432/regtune")

    assert line is not None and "refused the login of role 'regtune'" in line, line


def test_a_missing_database_the_url_does_not_name_is_the_role_s() -> None:
    """libpq connects to the role's database when the URL names none: the line named
    '(default)', where the server's words named the role's."""
    words = 'connection failed: FATAL:  database "regtune" does not exist'
    error = OperationalError("connect", {}, psycopg.OperationalError(words))

    line = refused_login(error, "postgresql+psycopg://regtune:pw@db:5432")

    assert line is not None
    assert line.startswith("the database server at db:5432 has no database 'regtune' ("), line
