"""``regtune extend ID --trials K [--timeout S] [--watch]`` says what the extension did: the
budget before and after, and whether the study was opened again (was: no such command; a user
who wanted more trials submitted a new study and lost the sampler's history)."""

from __future__ import annotations

import json
import sys

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import cli_output, cli_result, run_to_the_end, worker_thread
from tests.service.test_rest_contract import definition


def test_extend_says_what_became_of_the_budget_and_the_study(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    study_id = api.post("/v1/studies", json=definition("cli", 2)).json()["id"]
    said = cli_output(api, monkeypatch, "extend", study_id, "--trials", "1")
    assert said == f"study {study_id} extended: budget.n_trials 2 → 3, still queued", said

    assert run_to_the_end(api, study_id)["status"] == "completed"
    said = cli_output(api, monkeypatch, "extend", study_id, "--trials", "2", "--timeout", "600")
    assert said == (
        f"study {study_id} extended: budget.n_trials 3 → 5, budget.timeout_s 600 s from now, "
        "reopened (was completed), now queued"
    ), said

    answer = json.loads(
        cli_result(api, monkeypatch, "extend", study_id, "--trials", "1", "--json").stdout
    )
    assert (answer["n_trials_before"], answer["study"]["progress"]["n_trials"]) == (5, 6)


def test_extend_watch_follows_the_study_to_its_new_end(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    study_id = api.post("/v1/studies", json=definition("cli-watch", 1)).json()["id"]
    assert run_to_the_end(api, study_id)["status"] == "completed"
    with worker_thread():
        said = cli_output(api, monkeypatch, "extend", study_id, "--trials", "2", "--watch")
    assert said.startswith(
        f"study {study_id} extended: budget.n_trials 1 → 3, reopened (was completed)"
    ), said
    assert "budget.n_trials reached: 3 trials done" in said, said


def test_extend_of_a_study_that_ended_below_its_budget_says_how_many_trials_will_run(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The budget grows by K from what it was: a study cancelled (or stopped by its rule or its
    deadline) before its budget runs the trials it still had too, and the line says how many
    (was: "budget.n_trials 3 → 4", then 4 trials ran where a reader of the line expected one)."""
    study_id = api.post("/v1/studies", json=definition("cli-cancelled", 3)).json()["id"]
    assert api.post(f"/v1/studies/{study_id}/cancel").json()["status"] == "cancelled"
    said = cli_output(api, monkeypatch, "extend", study_id, "--trials", "1")
    assert said == (
        f"study {study_id} extended: budget.n_trials 3 → 4 (4 to run: 0 done), reopened (was "
        "cancelled), now queued"
    ), said
    refused = cli_result(api, monkeypatch, "extend", study_id, "--to", "2")
    assert refused.exit_code == 1, refused.output
    assert "a budget only grows" in refused.output, refused.output
    assert "cancel the study" in refused.output, "queued again: cancelling stops it"

    assert api.post(f"/v1/studies/{study_id}/cancel").json()["status"] == "cancelled"
    refused = cli_result(api, monkeypatch, "extend", study_id, "--to", "2")
    assert refused.exit_code == 1, refused.output
    assert "a budget only grows" in refused.output and "cancel the" not in refused.output


def test_a_failed_or_bad_extension_is_said_as_the_api_says_it(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    study_id = api.post("/v1/studies", json=definition("cli-bad", 2)).json()["id"]
    # past REGTUNE_MAX_TRIALS_PER_STUDY (10,000): a rule only the service knows (--trials 0 is
    # a usage error, exit 2, before any request)
    refused = cli_result(api, monkeypatch, "extend", study_id, "--trials", "20000")
    assert refused.exit_code == 1, refused.output
    assert "n_trials: the study's budget.n_trials would be 20002, over the 10000" in refused.output


def test_extend_to_a_total_says_when_nothing_changed(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--to N`` can be run again (after Ctrl-C's "may or may not be extended"): the second run
    says the budget is N already and changes nothing; neither or both of --trials and --to is a
    usage error (exit 2), before any request."""
    study_id = api.post("/v1/studies", json=definition("cli-to", 2)).json()["id"]
    said = cli_output(api, monkeypatch, "extend", study_id, "--to", "5")
    assert said == f"study {study_id} extended: budget.n_trials 2 → 5, still queued", said
    said = cli_output(api, monkeypatch, "extend", study_id, "--to", "5")
    assert said == f"study {study_id} unchanged: budget.n_trials is 5 already, queued", said

    for argv, ending in (([], "or --point"), (["--trials", "1", "--to", "6"], "not both")):
        wrong = cli_result(api, monkeypatch, "extend", study_id, *argv)
        assert wrong.exit_code == 2, wrong.output
        said = " ".join(wrong.output.replace("│", " ").split())
        assert "give --trials K (how many more) or --to N" in said, wrong.output
        assert ending in said, wrong.output  # both given: said so, not as if neither were
    assert api.get(f"/v1/studies/{study_id}").json()["progress"]["n_trials"] == 5


DIGITS = sys.get_int_max_str_digits() + 100
"""A whole number of more digits than Python reads: 4,400 by default."""
BOX = {ord(line): " " for line in "╭─╮│╰╯"}
"""The lines of the box a usage error is drawn in, to read its words apart."""


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (
            "2024-13-01",
            "'2024-13-01' reads as a date, but no such date exists (month must be in 1..12; quote "
            "it for text) at line 1, column 10",
        ),
        ("!!timestamp x", "!!timestamp takes a date, got 'x' at line 1, column 10"),
        ("!!int abc", "!!int takes a whole number, got 'abc' at line 1, column 10"),
        ("!!bool maybe", "!!bool takes true or false, got 'maybe' at line 1, column 10"),
        ("!!set [1]", "!!set takes a mapping, got a list at line 1, column 10"),
        (
            "1" * DIGITS,
            f"a whole number of {DIGITS:,} digits (at most {sys.get_int_max_str_digits():,}) at "
            "line 1, column 10",
        ),
        ("[" * 1000 + "]" * 1000, "the YAML is nested too deeply"),
    ],
    ids=["no-such-date", "timestamp", "int", "bool", "set", "too-many-digits", "too-deep"],
)
def test_a_point_whose_value_its_yaml_type_cannot_read_is_a_usage_error(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, value: str, said: str
) -> None:
    """``--point '{lambda: 2024-13-01}'`` was a ValueError traceback (PyYAML's date constructor
    raises no YAML error), then a usage error in Python's words (``'NoneType' object has no
    attribute 'groupdict'``, ``cannot unpack non-iterable ScalarNode object``, or for too many
    digits ``use sys.set_int_max_str_digits()``, followed by "quote it for text"): it is one
    naming the point, in the words and at the place the API says of such a value, exit 2,
    nothing sent."""
    study_id = api.post("/v1/studies", json=definition("cli-point", 2)).json()["id"]
    given = f"{{lambda: {value}}}"
    refused = cli_result(api, monkeypatch, "extend", study_id, "--point", given)
    assert refused.exit_code == 2, refused.output
    out_of_its_box = " ".join(refused.output.translate(BOX).split())
    assert out_of_its_box.endswith(f"is not valid YAML: {said}"), out_of_its_box
    assert api.get(f"/v1/studies/{study_id}").json()["progress"]["n_trials"] == 2


@pytest.mark.parametrize(
    "given", ["{lambda: " + "1" * DIGITS + "}", "[" + "1, " * 2000 + "]"], ids=["digits", "list"]
)
def test_a_long_refused_point_is_repeated_only_in_part(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    """A 4,400-digit point filled about 60 lines of the error box: the message repeated it
    whole. It repeats its first 80 characters and says how long it was."""
    study_id = api.post("/v1/studies", json=definition("cli-long-point", 2)).json()["id"]
    refused = cli_result(api, monkeypatch, "extend", study_id, "--point", given)
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.output.translate(BOX).split())
    assert f"({len(given):,} characters)" in said, said
    assert given not in said.replace(" ", "") and len(said) < 600, said
