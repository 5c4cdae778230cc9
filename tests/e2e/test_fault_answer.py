"""A 500 under uvicorn: the one error shape, and the connection closed as it says (was: the
server closed the kept-alive connection after Starlette's text 500 without saying so, and the
client's next request on it failed with "Connection reset by peer").

Full tier: a real ``regtune api`` on a SQLite file whose schema is then garbled.
"""

from __future__ import annotations

from tests.support import Processes, garble_schema, sqlite_stack


def test_a_fault_answers_a_json_500_and_the_next_request_is_answered(
    processes: Processes,
) -> None:
    stack = sqlite_stack(processes, workers=0)
    with stack.client() as client:
        assert client.get("/healthz").status_code == 200  # the connection is kept alive
        garble_schema(processes.tmp / "regtune.db")
        fault = client.get("/v1/studies/abc")
        assert fault.status_code == 500, fault.text
        assert fault.json()["error"]["code"] == "internal_error", fault.text
        assert fault.headers["connection"] == "close"
        assert client.get("/healthz").status_code == 200
