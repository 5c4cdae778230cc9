"""A closed client says so in a ``ClientError``: ``ClientClosed`` at its next request, and at
once when a ``with`` block enters it again (was httpx's bare ``RuntimeError: Cannot send a
request, as the client has been closed.``, at the first request only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import regtune
from tests.service.test_client_optuna import STUDY, ThroughApp

CLOSED = (
    "this regtune.Client of http://regtune.test is closed (by close(), or at the end of its with "
    "block) and sends no more requests: make a new Client"
)


def test_a_closed_client_says_so_at_each_request(api: TestClient, tmp_path: Path) -> None:
    saved = tmp_path / "models" / "m.safetensors"
    saved.parent.mkdir()
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as rt:
        study = rt.submit(STUDY)
    for request in (
        lambda: rt.study(study.id),
        lambda: rt.submit(STUDY),
        lambda: rt.download_best_model(study.id, saved),
        lambda: rt.trials_dataframe(study.id),
    ):
        with pytest.raises(regtune.ClientClosed) as refused:
            request()
        assert isinstance(refused.value, regtune.ClientError)
        assert str(refused.value) == CLOSED
    assert list(saved.parent.iterdir()) == []
    assert api.get("/v1/studies").json()["total"] == 1


def test_a_with_block_on_a_closed_client_fails_as_it_enters(api: TestClient) -> None:
    rt = regtune.Client("http://regtune.test", transport=ThroughApp(api))
    rt.close()
    rt.close()  # twice is once
    entered = False
    with pytest.raises(regtune.ClientClosed, match="is closed"), rt:
        entered = True
    assert not entered
