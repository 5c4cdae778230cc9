"""A ``REGTUNE_*`` variable that reads like a setting but is none (a typo) is said at start:
pydantic-settings passes over it, so the part ran with the default the operator meant to change."""

from __future__ import annotations

from regtune.service.misspelt_settings import misspelt_variables


def test_a_misspelt_setting_is_named_with_the_one_meant() -> None:
    given = {
        "REGTUNE_HEARTBEAT_INTERVALL": "30",
        "regtune_grace_periode": "90",
        "REGTUNE_LOG_LEVEL": "debug",  # a setting
        "REGTUNE_URL": "http://127.0.0.1:8000",  # the client's, like no setting at all
        "REGTUNE_KEY": "k",
        "PATH": "/usr/bin",
    }
    assert misspelt_variables(given) == [
        "REGTUNE_HEARTBEAT_INTERVALL is no setting and is ignored: did you mean "
        "REGTUNE_HEARTBEAT_INTERVAL?",
        "regtune_grace_periode is no setting and is ignored: did you mean REGTUNE_GRACE_PERIOD?",
    ]
