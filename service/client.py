"""A typed Python client for the regtune API, over httpx. The CLI is built on it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

DEFAULT_URL = "http://127.0.0.1:8000"


class ApiError(Exception):
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


class Client:
    def __init__(
        self, url: str | None = None, *, key: str | None = None, timeout: float = 30.0
    ) -> None:
        url = url or os.environ.get("REGTUNE_URL", DEFAULT_URL)
        key = key or os.environ.get("REGTUNE_KEY") or None
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                raise ApiError(
                    response.status_code, error["code"], error["message"], error.get("fields", [])
                )
            except (ValueError, KeyError, TypeError):
                raise ApiError(
                    response.status_code, "http_error", response.text[:500], []
                ) from None
        return response

    # ------------------------------------------------------------------ studies

    def submit(self, definition: dict[str, Any] | str | Path) -> dict[str, Any]:
        """Create a study from a mapping, a YAML/JSON file path, or YAML text."""
        if isinstance(definition, Path) or (
            isinstance(definition, str) and "\n" not in definition and Path(definition).exists()
        ):
            definition = Path(definition).read_text()
        if isinstance(definition, str):
            return self._request(
                "POST",
                "/v1/studies",
                content=definition.encode(),
                headers={"Content-Type": "application/yaml"},
            ).json()
        return self._request("POST", "/v1/studies", json=definition).json()

    def study(self, study_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/studies/{study_id}").json()

    def studies(
        self, *, status: str | None = None, offset: int = 0, limit: int = 50
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if status:
            params["status"] = status
        return self._request("GET", "/v1/studies", params=params).json()

    def trials(
        self, study_id: str, *, state: str | None = None, offset: int = 0, limit: int = 50
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if state:
            params["state"] = state
        return self._request("GET", f"/v1/studies/{study_id}/trials", params=params).json()

    def trial(self, study_id: str, number: int) -> dict[str, Any]:
        return self._request("GET", f"/v1/studies/{study_id}/trials/{number}").json()

    def cancel(self, study_id: str) -> dict[str, Any]:
        return self._request("POST", f"/v1/studies/{study_id}/cancel").json()

    def delete(self, study_id: str) -> None:
        self._request("DELETE", f"/v1/studies/{study_id}")

    def workers(self) -> list[dict[str, Any]]:
        return self._request("GET", "/v1/workers").json()

    def wait(self, study_id: str, *, timeout: float = 3600, poll: float = 1.0) -> dict[str, Any]:
        """Poll until the study reaches a final status."""
        deadline = time.monotonic() + timeout
        while True:
            study = self.study(study_id)
            if study["status"] in ("completed", "cancelled", "failed"):
                return study
            if time.monotonic() > deadline:
                raise TimeoutError(f"study {study_id} still {study['status']} after {timeout}s")
            time.sleep(poll)


def load_definition_file(path: Path) -> str:
    text = path.read_text()
    yaml.safe_load(text)
    return text
