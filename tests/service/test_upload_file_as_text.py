"""A ``file`` form field of text, as ``curl -F file=data.csv`` sends it (the @ left out), is a
422 at ``file`` saying to send the file itself (was: "Expected UploadFile, received: <class
'str'>")."""

from __future__ import annotations

from fastapi.testclient import TestClient

RULE = (
    "must be the file itself, a form part with a filename, got a text field: send it with curl "
    "-F file=@data.csv (the @ sends the file, not its name), or files= in httpx and requests"
)


def test_a_file_field_of_text_says_to_send_the_file(api: TestClient) -> None:
    answer = api.post("/v1/datasets", files={"file": (None, "data.csv"), "target": (None, "y")})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == {
        "code": "invalid_request",
        "message": f"file: {RULE}",
        "fields": [{"path": "file", "rule": RULE}],
    }
    assert api.get("/v1/datasets").json()["total"] == 0
