"""Intervals and waits are bounded: ``REGTUNE_SWEEP_INTERVAL=inf`` (or any wait past what a
thread may wait) was accepted, and the API's sweep thread died at its first wait with an
``OverflowError`` traceback, so a dead worker's trial was never failed or retried; an idle
worker's back-off, ``serve``'s shutdown grace and the heartbeat met the same end."""

from __future__ import annotations

import threading

import pytest

from regtune.service.errors import InvalidSettings
from regtune.service.settings import Settings, get_settings

A_DAY = 86_400


@pytest.fixture(autouse=True)
def fresh_settings() -> None:
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("variable", "value", "most"),
    [
        ("REGTUNE_SWEEP_INTERVAL", "inf", "86400"),
        ("REGTUNE_SWEEP_INTERVAL", "1e12", "86400"),
        ("REGTUNE_POLL_MIN", "1e12", "86400"),
        ("REGTUNE_POLL_MAX", "Infinity", "86400"),
        ("REGTUNE_SHUTDOWN_GRACE_S", "inf", "86400"),
        ("REGTUNE_HEARTBEAT_INTERVAL", "10000000000", "3600"),
        ("REGTUNE_GRACE_PERIOD", "100000000000", "86400"),
    ],
)
def test_a_wait_past_a_day_names_the_variable_and_the_bound(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, most: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidSettings) as refused:
        get_settings()
    get_settings.cache_clear()
    problems = {problem.path: problem.rule for problem in refused.value.fields}
    assert f"less than or equal to {most}" in problems[variable], problems
    assert problems[variable].endswith(f"got {value!r}"), problems


def test_every_bound_is_a_wait_a_thread_can_make() -> None:
    assert A_DAY < threading.TIMEOUT_MAX
    for name in ("sweep_interval", "poll_min", "poll_max", "shutdown_grace_s", "grace_period"):
        settings = Settings.model_validate({name: A_DAY, "poll_max": A_DAY})
        assert getattr(settings, name) == A_DAY
