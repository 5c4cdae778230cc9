"""A secret an HTTP header carries must be one a client can send: ``REGTUNE_ADMIN_KEY`` read
from a file with its trailing newline was taken at start, and then every admin request got
``401 the API key is unknown or revoked`` (the client sends the key stripped, or cannot send it:
httpx's "Illegal header value"), with nothing but an INFO line to say why."""

from __future__ import annotations

from pathlib import Path

import pytest

from regtune.service.errors import InvalidSettings
from regtune.service.settings import get_settings
from tests.support import Processes, free_port, process_env, regtune

KEY = "header-admin-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def fresh_settings() -> None:
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "given",
    [KEY + "\n", KEY + "\r\n", KEY + " ", " " + KEY, "\t" + KEY, KEY[:8] + "\n" + KEY[8:]],
    ids=["newline", "crlf", "trailing-space", "leading-space", "leading-tab", "inner-newline"],
)
def test_an_admin_key_no_header_can_carry_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv("REGTUNE_ADMIN_KEY", given)
    with pytest.raises(InvalidSettings) as refused:
        get_settings()
    get_settings.cache_clear()
    (problem,) = refused.value.fields
    assert problem.path == "REGTUNE_ADMIN_KEY"
    assert problem.rule.startswith("must be printable ASCII"), problem.rule
    assert "no spaces at either end" in problem.rule and "trailing newline" in problem.rule
    assert KEY not in problem.rule  # a secret is never shown


def test_an_admin_key_of_other_letters_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGTUNE_ADMIN_KEY", "schlüssel-" + KEY)
    with pytest.raises(InvalidSettings) as refused:
        get_settings()
    get_settings.cache_clear()
    assert refused.value.fields[0].rule.startswith("must be printable ASCII")


def test_a_key_with_inner_punctuation_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a header carries is taken whole: a space or a symbol inside the key is no problem."""
    given = "Ab3$ kL9!q-Z_7~p.Wx+2=/"
    monkeypatch.setenv("REGTUNE_ADMIN_KEY", given)
    settings = get_settings()
    get_settings.cache_clear()
    assert settings.admin_key is not None and settings.admin_key.get_secret_value() == given


def test_serve_with_a_key_read_from_a_file_is_one_line_and_exit_2(
    tmp_path: Path, processes: Processes
) -> None:
    env = process_env(f"sqlite:///{tmp_path / 'regtune.db'}", REGTUNE_ADMIN_KEY=KEY + "\n")
    result = processes.run(regtune("serve", "--port", str(free_port())), env=env, timeout=120)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: REGTUNE_ADMIN_KEY: must be printable ASCII"), line
    assert KEY not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "given", [" ", "\t", "\n", "   \n"], ids=["space", "tab", "newline", "both"]
)
def test_an_admin_key_of_spaces_alone_is_refused_not_read_as_none(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    """Read as no key, auth was off with the operator believing it on; refused as a key no
    header can carry, it was told to strip it, which would turn auth off too."""
    monkeypatch.setenv("REGTUNE_ADMIN_KEY", given)
    with pytest.raises(InvalidSettings) as refused:
        get_settings()
    get_settings.cache_clear()
    (problem,) = refused.value.fields
    assert problem.path == "REGTUNE_ADMIN_KEY"
    assert problem.rule.startswith("holds only spaces or line breaks: give a random secret")
    assert "leave it empty for no key (auth off)" in problem.rule and "strip" not in problem.rule


def test_an_empty_admin_key_is_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGTUNE_ADMIN_KEY", "")
    settings = get_settings()
    get_settings.cache_clear()
    assert settings.admin_key is None


def test_an_admin_key_given_with_bearer_in_it_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API took it, and then the client refused to send it (a key with "Bearer" in it)."""
    monkeypatch.setenv("REGTUNE_ADMIN_KEY", f"Bearer {KEY}")
    with pytest.raises(InvalidSettings) as refused:
        get_settings()
    get_settings.cache_clear()
    (problem,) = refused.value.fields
    assert problem.path == "REGTUNE_ADMIN_KEY"
    assert problem.rule.startswith("holds 'Bearer' before the key: give the key alone"), problem
    assert KEY not in problem.rule
