"""``REGTUNE_ADMIN_KEY`` must be a secret: ``aaaaaaaaaaaaaaaaaaaa`` and ``changemechangeme``
passed the length check and started a service any guess opened."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest

from regtune.service.errors import InvalidSettings
from regtune.service.settings import get_settings


@pytest.fixture(autouse=True)
def fresh_settings() -> None:
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "weak",
    ["short-key", "changeme", "a" * 20, "changemechangeme", "abc123" * 4, "Password" * 2],
)
def test_a_short_placeholder_or_repeated_admin_key_is_refused(
    monkeypatch: pytest.MonkeyPatch, weak: str
) -> None:
    monkeypatch.setenv("REGTUNE_ADMIN_KEY", weak)
    with pytest.raises(InvalidSettings) as refused:
        get_settings()
    get_settings.cache_clear()
    (problem,) = refused.value.fields
    assert problem.path == "REGTUNE_ADMIN_KEY"
    assert problem.rule.startswith("must be a random secret of at least 16 characters")
    assert "secrets.token_urlsafe(32)" in problem.rule
    assert weak not in problem.rule  # a secret, even a weak one, is never shown


@pytest.mark.parametrize(
    "make",
    [
        lambda: secrets.token_hex(8),
        lambda: secrets.token_urlsafe(32),
        lambda: "test-admin-key-0123",
    ],
    ids=["hex", "urlsafe", "words and digits"],
)
def test_a_random_admin_key_is_taken(
    monkeypatch: pytest.MonkeyPatch, make: Callable[[], str]
) -> None:
    key = make()  # drawn here: every test process collects the same test ids
    monkeypatch.setenv("REGTUNE_ADMIN_KEY", key)
    settings = get_settings()
    get_settings.cache_clear()
    assert settings.admin_key is not None and settings.admin_key.get_secret_value() == key
