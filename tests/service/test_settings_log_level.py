"""``REGTUNE_LOG_LEVEL`` in any case: ``debug``, as most tools and charts spell it, was refused
with "String should match pattern '^(DEBUG|INFO|WARNING|ERROR)$'" and the part exited 2."""

from __future__ import annotations

import pytest

from regtune.service.errors import InvalidSettings
from regtune.service.settings import get_settings


@pytest.fixture(autouse=True)
def fresh_settings() -> None:
    get_settings.cache_clear()


@pytest.mark.parametrize(("given", "level"), [("debug", "DEBUG"), (" Warning ", "WARNING")])
def test_a_log_level_is_read_in_any_case(
    monkeypatch: pytest.MonkeyPatch, given: str, level: str
) -> None:
    monkeypatch.setenv("REGTUNE_LOG_LEVEL", given)
    assert get_settings().log_level == level
    get_settings.cache_clear()


def test_an_unknown_log_level_names_the_variable_the_levels_and_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REGTUNE_LOG_LEVEL", "verbose")
    with pytest.raises(InvalidSettings) as refused:
        get_settings()
    get_settings.cache_clear()
    (problem,) = refused.value.fields
    assert problem.path == "REGTUNE_LOG_LEVEL"
    assert "'DEBUG', 'INFO', 'WARNING' or 'ERROR'" in problem.rule, problem.rule
    assert problem.rule.endswith("got 'verbose'"), problem.rule
