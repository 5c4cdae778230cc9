"""A typed Python client for the regtune API, over httpx. The CLI is built on it.

    from service.client.http import Client

    with Client("http://127.0.0.1:8000", key=None) as rt:
        study = rt.submit("examples/diabetes-enet.yaml")
        done = rt.wait(study["id"])
        print(done["best_trial"]["value"], done["best_trial"]["params"])
        rt.download_best_model(study["id"], "model.safetensors")

Every error answer of the API raises ``ApiError`` (status, machine-readable code, message and
the field paths at fault); an unreachable server raises ``ApiUnreachable``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
FINAL_STATUSES = ("completed", "cancelled", "failed")


class ClientError(Exception):
    """Anything that kept a request from getting a successful answer."""


class ApiError(ClientError):
    """An error answer from the API, with its code and field problems."""

    def __init__(self, status: int, code: str, message: str, fields: list[dict[str, str]]):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def __str__(self) -> str:
        detail = "; ".join(f"{f['path']}: {f['rule']}" for f in self.fields)
        return f"{self.status} {self.code}: {self.message}" + (
            f" [{detail}]" if detail and detail not in self.message else ""
        )


class ApiUnreachable(ClientError):
    """No HTTP answer at all: wrong URL, server down, network error."""


# --------------------------------------------------------------------------- answer shapes


class Progress(TypedDict):
    done: int
    n_trials: int
    running: int
    fraction: float


class BestTrial(TypedDict):
    number: int
    value: float | None
    values: list[float | None] | None
    params: dict[str, Any]
    n_nonzero: int | None
    user_attrs: dict[str, Any]
    test_metrics: dict[str, Any] | None


class BestModel(TypedDict):
    artifact_id: str
    trial: int
    filename: str
    bytes: int
    sha256: str
    test_metrics: dict[str, Any]
    val_metrics: dict[str, Any]
    created_at: str


class Study(TypedDict):
    id: str
    name: str
    status: str
    optuna_study_name: str
    definition: dict[str, Any]
    counts: dict[str, int]
    progress: Progress
    best_trial: BestTrial | None
    pareto_front: list[BestTrial] | None
    best_model: BestModel | None
    error: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None


class StudyBrief(TypedDict):
    id: str
    name: str
    status: str
    n_trials: int
    done: int
    running: int
    created_at: str
    finished_at: str | None


class StudyPage(TypedDict):
    items: list[StudyBrief]
    total: int
    offset: int
    limit: int


class Trial(TypedDict):
    number: int
    state: str
    value: float | None
    values: list[float | None] | None
    params: dict[str, Any]
    user_attrs: dict[str, Any]
    datetime_start: str | None
    datetime_complete: str | None
    learning_curve: list[dict[str, Any]] | None
    retried_from: int | None


class TrialPage(TypedDict):
    items: list[Trial]
    total: int
    offset: int
    limit: int


# --------------------------------------------------------------------------- the client


class Client:
    """One connection pool to one API; ``url`` and ``key`` default to REGTUNE_URL/REGTUNE_KEY."""

    def __init__(
        self,
        url: str | None = None,
        *,
        key: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = (url or os.environ.get("REGTUNE_URL") or DEFAULT_URL).rstrip("/")
        key = key or os.environ.get("REGTUNE_KEY") or None
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiUnreachable(
                f"cannot reach the regtune API at {self.url} ({type(exc).__name__}: {exc})"
            ) from None
        if response.status_code >= 400:
            raise _api_error(response)
        return response

    # ------------------------------------------------------------------ studies

    def submit(self, definition: dict[str, Any] | str | Path) -> Study:
        """Create a study from a mapping, a YAML/JSON file path, or YAML/JSON text."""
        if isinstance(definition, Path) or (
            isinstance(definition, str) and "\n" not in definition and Path(definition).is_file()
        ):
            definition = Path(definition).read_text()
        if isinstance(definition, str):
            response = self._request(
                "POST",
                "/v1/studies",
                content=definition.encode(),
                headers={"Content-Type": "application/yaml"},
            )
        else:
            response = self._request("POST", "/v1/studies", json=definition)
        return response.json()

    def study(self, study_id: str) -> Study:
        return self._request("GET", f"/v1/studies/{study_id}").json()

    def studies(self, *, status: str | None = None, offset: int = 0, limit: int = 50) -> StudyPage:
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if status:
            params["status"] = status
        return self._request("GET", "/v1/studies", params=params).json()

    def trials(
        self, study_id: str, *, state: str | None = None, offset: int = 0, limit: int = 50
    ) -> TrialPage:
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if state:
            params["state"] = state
        response = self._request("GET", f"/v1/studies/{study_id}/trials", params=params)
        return response.json()

    def trial(self, study_id: str, number: int) -> Trial:
        response = self._request("GET", f"/v1/studies/{study_id}/trials/{number}")
        return response.json()

    def cancel(self, study_id: str) -> Study:
        return self._request("POST", f"/v1/studies/{study_id}/cancel").json()

    def delete(self, study_id: str) -> None:
        self._request("DELETE", f"/v1/studies/{study_id}")

    def download_best_model(self, study_id: str, path: str | Path) -> Path:
        """Save the best model (safetensors) of a completed study to ``path``."""
        path = Path(path)
        try:
            with self._http.stream("GET", f"/v1/studies/{study_id}/best-model") as response:
                if response.status_code >= 400:
                    response.read()
                    raise _api_error(response)
                partial = path.with_name(path.name + ".part")
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                partial.replace(path)
        except httpx.TransportError as exc:
            raise ApiUnreachable(f"cannot reach the regtune API at {self.url} ({exc})") from None
        return path

    def workers(self) -> list[dict[str, Any]]:
        return self._request("GET", "/v1/workers").json()

    # ------------------------------------------------------------------ datasets and keys

    def upload_dataset(
        self, path: str | Path, *, target: str, task: str = "auto"
    ) -> dict[str, Any]:
        """Upload a CSV or Parquet file; the same file and target twice is one dataset."""
        path = Path(path)
        with path.open("rb") as handle:
            response = self._request(
                "POST",
                "/v1/datasets",
                files={"file": (path.name, handle)},
                data={"target": target, "task": task},
            )
        return response.json()

    def datasets(self, *, offset: int = 0, limit: int = 50) -> dict[str, Any]:
        params = {"offset": offset, "limit": limit}
        return self._request("GET", "/v1/datasets", params=params).json()

    def dataset(self, dataset_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/datasets/{dataset_id}").json()

    def delete_dataset(self, dataset_id: str) -> None:
        self._request("DELETE", f"/v1/datasets/{dataset_id}")

    def create_key(self, tenant: str) -> dict[str, Any]:
        """A new API key of ``tenant`` (admin key only); its secret is in ``key``, shown once."""
        return self._request("POST", "/v1/keys", json={"tenant": tenant}).json()

    def revoke_key(self, key_id: str) -> None:
        self._request("DELETE", f"/v1/keys/{key_id}")

    def wait(
        self,
        study_id: str,
        *,
        timeout: float = 3600,
        poll: float = 1.0,
        on_update: Callable[[Study], None] | None = None,
        model_grace: float = 300,
    ) -> Study:
        """Poll until the study reaches a final status; ``on_update`` sees every poll.

        A completed study's best model is saved just after it completes (the worker retrains
        the best trial); this waits up to ``model_grace`` more seconds for it to appear.
        """
        deadline = time.monotonic() + timeout
        completed_at: float | None = None
        while True:
            study = self.study(study_id)
            if on_update is not None:
                on_update(study)
            if study["status"] in FINAL_STATUSES:
                if not awaits_model(study):
                    return study
                completed_at = completed_at or time.monotonic()
                if time.monotonic() - completed_at > model_grace:
                    return study
            if time.monotonic() > deadline:
                raise TimeoutError(f"study {study_id} still {study['status']} after {timeout}s")
            time.sleep(poll)


def awaits_model(study: Study) -> bool:
    """Completed with a best trial, and its model is not saved yet."""
    return (
        study["status"] == "completed"
        and study.get("best_trial") is not None
        and study.get("best_model") is None
    )


def _api_error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(
            response.status_code, error["code"], error["message"], error.get("fields", [])
        )
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, "http_error", response.text[:500] or "", [])
