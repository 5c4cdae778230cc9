"""``REGTUNE_DATABASE_URL`` as operators mistype it: a password with an ``@`` not
percent-encoded, a port that is no number or out of range. One line naming the variable and the
rule, the password never shown, not even in part (was: a port of ``5432x`` a ``ValueError``
traceback; ``rt:p@ss@host`` shown as ``rt:***@ss@host`` and waited on for ever as the host
``ss@host``; port 99999 waited on for ever)."""

from __future__ import annotations

import pytest

from regtune.service.database_url import hide_password
from regtune.service.errors import InvalidSettings
from regtune.service.settings import get_settings
from tests.support import Processes, process_env, regtune

PERCENT = (
    "has '@' more than once before the host: a user name or password with @, :, / or # in it "
    "must be percent-encoded (@ as %40, : as %3A, / as %2F, # as %23)"
)
PORT = "its port must be a number from 1 to 65535"


@pytest.fixture(autouse=True)
def fresh_settings() -> None:
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("url", "rule", "shown"),
    [
        (
            "postgresql://rt:p@ss@db.example:5432/regtune",
            PERCENT,
            "postgresql://rt:***@db.example:5432/regtune",
        ),
        (
            "postgresql://rt:s3cret@db.example:5432x/regtune",
            PORT,
            "postgresql://rt:***@db.example:5432x/regtune",
        ),
        (
            "postgresql://rt:s3cret@db.example:99999/regtune",
            PORT,
            "postgresql://rt:***@db.example:99999/regtune",
        ),
        (
            "postgresql://rt:s3cret@db.example:0/regtune",
            PORT,
            "postgresql://rt:***@db.example:0/regtune",
        ),
    ],
)
def test_a_mistyped_url_names_the_rule_without_the_password(
    monkeypatch: pytest.MonkeyPatch, url: str, rule: str, shown: str
) -> None:
    monkeypatch.setenv("REGTUNE_DATABASE_URL", url)
    with pytest.raises(InvalidSettings) as refused:
        get_settings()
    get_settings.cache_clear()
    (problem,) = refused.value.fields
    assert problem.path == "REGTUNE_DATABASE_URL"
    assert problem.rule == f"{rule}, got {shown!r}"


def test_a_percent_encoded_password_is_taken_and_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGTUNE_DATABASE_URL", "postgresql://rt:p%40ss@db.example:5432/regtune")
    url = get_settings().database_url
    get_settings.cache_clear()
    assert url == "postgresql+psycopg://rt:p%40ss@db.example:5432/regtune"
    assert hide_password(url) == "postgresql+psycopg://rt:***@db.example:5432/regtune"


def test_migrate_refuses_a_port_that_is_no_number_in_one_line(processes: Processes) -> None:
    env = process_env("postgresql://rt:s3cret@127.0.0.1:5432x/regtune")
    result = processes.run(regtune("migrate"), env=env, timeout=120)

    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip().splitlines() == [
        f"error: REGTUNE_DATABASE_URL: {PORT}, got 'postgresql://rt:***@127.0.0.1:5432x/regtune'"
    ], result.stderr[-3000:]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://rt@db.example:5432/regtune?password=s3cret",
            "postgresql+psycopg://rt@db.example:5432/regtune?password=***",
        ),
        (
            "postgresql+psycopg://rt:s3cret@db.example/regtune?sslmode=require&sslpassword=s3cret",
            "postgresql+psycopg://rt:***@db.example/regtune?sslmode=require&sslpassword=***",
        ),
        (
            "postgresql+psycopg://rt@db:x/regtune?PASSWORD=s3cret",
            "postgresql+psycopg://rt@db:x/regtune?PASSWORD=***",
        ),
    ],
)
def test_a_password_in_the_query_is_hidden_too(url: str, shown: str) -> None:
    """libpq takes ``?password=``, and the serve banner and every "cannot reach" line printed
    it: SQLAlchemy's ``hide_password`` masks only the one before the ``@``."""
    assert hide_password(url) == shown


def test_a_connection_option_libpq_does_not_know_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Was a traceback of hundreds of lines from the first connection, ``invalid connection
    option "sslmod"``, from ``regtune api`` and ``migrate`` alike."""
    monkeypatch.setenv(
        "REGTUNE_DATABASE_URL", "postgresql://rt:s3cret@db.example/regtune?sslmod=require"
    )
    with pytest.raises(InvalidSettings) as refused:
        get_settings()
    get_settings.cache_clear()
    (problem,) = refused.value.fields
    assert problem.path == "REGTUNE_DATABASE_URL"
    assert problem.rule.startswith('its query holds invalid connection option "sslmod" ('), (
        problem.rule
    )
    assert "s3cret" not in problem.rule and "\n" not in problem.rule
    monkeypatch.setenv(
        "REGTUNE_DATABASE_URL",
        "postgresql://rt@db.example/regtune?sslmode=require&connect_timeout=3&password=p",
    )
    assert get_settings().database_url.endswith("?sslmode=require&connect_timeout=3&password=p")
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg_async://rt:s3cret@db.example/regtune", "sqlite+aiosqlite:///x.db"],
    ids=["psycopg-async", "aiosqlite"],
)
def test_an_asyncio_driver_is_refused_naming_the_schemes_to_use(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """``postgresql+psycopg_async://`` was taken, and then every connection failed with
    SQLAlchemy's MissingGreenlet: regtune's engines are not asyncio's."""
    monkeypatch.setenv("REGTUNE_DATABASE_URL", url)
    with pytest.raises(InvalidSettings) as refused:
        get_settings()
    get_settings.cache_clear()
    (problem,) = refused.value.fields
    assert problem.path == "REGTUNE_DATABASE_URL"
    scheme = url.split(":", 1)[0]
    assert problem.rule.startswith(f"{scheme!r} is an asyncio driver"), problem.rule
    assert "use postgresql:// or sqlite:///" in problem.rule and "s3cret" not in problem.rule
