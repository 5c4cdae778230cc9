"""The error body every refused request answers, and every ``error.code`` it may carry."""

from __future__ import annotations

from pydantic import Field

from regtune.service.api.schemas.answer import Answer


class FieldError(Answer):
    path: str = Field(examples=["budget.n_trials"])
    rule: str = Field(examples=["must be ≥ 1"])


ERROR_CODES = {
    "unparseable_body": "400, the body cannot be parsed at all (not JSON, YAML or multipart)",
    "bad_request": "400, the request cannot be served as asked",
    "unauthorized": "401, no key, or an unknown or revoked one",
    "forbidden": "403, the key may not do this",
    "not_found": "404, no such resource (for this key)",
    "method_not_allowed": "405, the path does not serve this method (Allow names those it does)",
    "conflict": "409, the request clashes with what is stored",
    "too_large": "413, the body is larger than the service allows",
    "invalid_request": "422, a parameter or a JSON body breaks a rule",
    "invalid_definition": "422, the study definition breaks a rule or does not fit its data",
    "invalid_upload": "422, the uploaded file cannot become a dataset",
    "internal_error": "500, the service failed",
    "database_unavailable": "503, the database refused or dropped the connection",
    "definition_too_new": "503, a newer regtune stored the study: another API process serves it",
    "artifact_store_unavailable": "503, the artifact store failed to open the file",
    "http_error": "any other HTTP error, by its status",
}
"""Every ``error.code`` the API answers, with its status and meaning."""


class ErrorBody(Answer):
    code: str = Field(
        examples=["invalid_definition"],
        description="what went wrong, for a program to act on: "
        + "; ".join(f"{code} ({said})" for code, said in ERROR_CODES.items()),
    )
    message: str
    fields: list[FieldError] = Field(default_factory=list)


class ErrorResponse(Answer):
    error: ErrorBody
