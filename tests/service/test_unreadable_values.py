"""What the API answers a body, or a path, it cannot read: a 400 (or a 422) that says where and
why, never a 500 ``internal_error``; each test says what it was.

Fast and in-process: the keyed app under ``TestClient``, so that ``POST /v1/keys`` reads too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.inprocess import Apps, cli_result
from tests.service.test_rest_contract import definition

ADMIN = "unreadable-admin-key-0123456789abcdef"
ROUTES = ("/v1/studies", "{extend}", "/v1/keys")
"""The routes that read a body as ``POST /v1/studies`` reads a definition (``{extend}``: a
study's extend)."""


@pytest.fixture
def keyed(apps: Apps) -> TestClient:
    api = apps(admin_key=ADMIN)
    api.headers["Authorization"] = f"Bearer {ADMIN}"
    return api


def _routes(api: TestClient) -> list[str]:
    created = api.post("/v1/studies", json=definition("to-extend"))
    assert created.status_code == 201, created.text
    extend = f"/v1/studies/{created.json()['id']}/extend"
    return [route.format(extend=extend) for route in ROUTES]


def _refused(api: TestClient, route: str, body: str, content_type: str) -> str:
    answer = api.post(route, content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 400, (route, answer.text)
    error = answer.json()["error"]
    assert error["code"] == "unparseable_body", (route, error)
    assert [f["path"] for f in error["fields"]] == ["body"], error
    return str(error["message"])


UNREADABLE = [
    (
        "name: 2024-13-45",
        "'2024-13-45' reads as a date, but no such date exists (month must be in 1..12; quote "
        "it for text) at line 2, column 7",
    ),
    (
        "created: 2024-02-30 10:00:00",
        "'2024-02-30 10:00:00' reads as a date, but no such date exists (day is out of range "
        "for month; quote it for text) at line 2, column 10",
    ),
    ("budget: {n_trials: !!int abc}", "!!int takes a whole number, got 'abc' at line 2, column 20"),
    ("a: !!int 0b", "!!int takes a whole number, got '0b' at line 2, column 4"),
    ("a: !!int 0o9", "!!int takes a whole number, got '0o9' at line 2, column 4"),
    ("a: !!int _", "!!int takes a whole number, got '_' at line 2, column 4"),
    ("a: !!float abc", "!!float takes a number, got 'abc' at line 2, column 4"),
    ("a: !!bool maybe", "!!bool takes true or false, got 'maybe' at line 2, column 4"),
    ("name: !!timestamp notadate", "!!timestamp takes a date, got 'notadate' at line 2, column 7"),
    ("a: !!set [1]", "!!set takes a mapping, got a list at line 2, column 4"),
    ("a: !!map [1]", "!!map takes a mapping, got a list at line 2, column 4"),
]


@pytest.mark.parametrize(("line", "said"), UNREADABLE, ids=[line for line, _ in UNREADABLE])
def test_a_yaml_value_its_tag_cannot_read_is_a_400_naming_its_line(
    keyed: TestClient, line: str, said: str
) -> None:
    """Not an internal error: the same 400 as any other YAML the API cannot read."""
    text = f"dataset: {{builtin: diabetes}}\n{line}\n"
    for route in _routes(keyed):
        message = _refused(keyed, route, text, "application/yaml")
        assert message == f"the body is not valid YAML: {said}", (route, message)
        # sent as JSON, it is not JSON; nor does it read as YAML, so no hint to send it so
        message = _refused(keyed, route, text, "application/json")
        assert "send YAML with the header" not in message, message


def test_regtune_submit_of_a_file_with_no_such_date_is_one_error_line(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Was a traceback (ValueError: month must be in 1..12) from reading the file's name
    before sending it: the file is sent, and the API says where it breaks."""
    bad = tmp_path / "bad-date.yaml"
    bad.write_text("name: bad-date\ndataset: {builtin: diabetes}\nsampler: {seed: 2024-13-01}\n")

    result = cli_result(api, monkeypatch, "submit", str(bad))

    assert result.exit_code == 1, result.output
    assert " ".join(result.output.split()) == (
        "error: 400 unparseable_body: the body is not valid YAML: '2024-13-01' reads as a date, "
        "but no such date exists (month must be in 1..12; quote it for text) at line 3, column 17"
    )
    assert api.get("/v1/studies").json()["total"] == 0


LIMIT = sys.get_int_max_str_digits()
"""The most digits Python reads a whole number of: 4,300 by default."""
TOO_LONG = "1" + "0" * LIMIT


@pytest.mark.parametrize(
    ("body", "content_type", "said"),
    [
        (
            f'{{"dataset": {{"builtin": "diabetes"}}, "n_trials": {TOO_LONG}}}',
            "application/json",
            "the body is not valid JSON: a whole number of {digits} digits (at most {limit}) at "
            "line 1, column 50",
        ),
        (
            f"dataset: {{builtin: diabetes}}\nn_trials: {TOO_LONG}\n",
            "application/yaml",
            "the body is not valid YAML: a whole number of {digits} digits (at most {limit}) at "
            "line 2, column 11",
        ),
    ],
    ids=["json", "yaml"],
)
def test_a_whole_number_of_more_digits_than_python_reads_is_a_400_naming_where(
    keyed: TestClient, body: str, content_type: str, said: str
) -> None:
    """Was a 500 (ValueError: Exceeds the limit (4300 digits) for integer string conversion)."""
    expected = said.format(digits=f"{LIMIT + 1:,}", limit=f"{LIMIT:,}")
    for route in _routes(keyed):
        assert _refused(keyed, route, body, content_type) == expected, route


def test_a_trial_number_of_more_digits_than_python_reads_is_a_422_naming_it(
    keyed: TestClient,
) -> None:
    """As ``?offset=`` of as many digits is (was a 500 from the access log reading the trial's
    number out of the path for its context, before any route)."""
    study_id = keyed.post("/v1/studies", json=definition("long-trial")).json()["id"]
    answer = keyed.get(f"/v1/studies/{study_id}/trials/{TOO_LONG}")
    assert answer.status_code == 422, answer.text
    [field] = answer.json()["error"]["fields"]
    assert field["path"] == "number", field


def test_an_error_naming_a_key_that_holds_a_lone_surrogate_is_said_with_its_escape(
    keyed: TestClient,
) -> None:
    """JSON may hold one (``"\\ud800"``), which UTF-8 cannot: extend's 422 repeating it was a
    500 (UnicodeEncodeError)."""
    extend = _routes(keyed)[1]
    body = '{"n_trials": 1, "points_to_evaluate": [{"\\ud800": 1}]}'
    answer = keyed.post(extend, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert [f["path"] for f in error["fields"]] == ["points_to_evaluate.0.\\ud800"], error
    assert error["message"].startswith("points_to_evaluate.0.\\ud800: not a knob"), error


@pytest.mark.parametrize("sender", ["python-httpx/0.28.1", "curl/8.5.0"])
def test_a_one_line_yaml_refused_for_its_tag_gets_no_line_break_hint(
    api: TestClient, sender: str
) -> None:
    """The tag is the problem, which line breaks would not solve (was: told that block YAML
    needs a line break before each key, or that curl -d drops them)."""
    headers = {"Content-Type": "application/yaml", "User-Agent": sender}
    text = "!!python/object/apply:os.system ['echo hi']"
    answer = api.post("/v1/studies", content=text, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["message"] == (
        "the body is not valid YAML: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system' at line 1, column 1"
    )
