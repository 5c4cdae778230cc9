"""An uploaded dataset as the API answers it, one or a page of them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from regtune.service.api.schemas.answer import Answer, Page, UtcDateTime


class ColumnInfo(Answer):
    name: str
    kind: Literal["numeric", "categorical"]
    n_missing: int
    categories: list[str] | None = None
    features: list[int] = Field(description="[start, stop) of its encoded features")


class DatasetBrief(Answer):
    id: str
    name: str
    format: Literal["csv", "parquet"]
    target: str
    task: Literal["regression", "binary", "multiclass"]
    n_rows: int
    n_features: int
    size_bytes: int
    created_at: UtcDateTime


class DatasetOut(DatasetBrief):
    sha256: str
    columns: list[ColumnInfo]
    feature_names: list[str]
    classes: list[str] | None
    target_distribution: dict[str, Any]
    missing: dict[str, Any] = Field(description="the missing-value policy and counts")
    ignored: list[str] = Field(
        default_factory=list, description="columns of the file left out at upload (sorted)"
    )
    encoding: str = Field(
        default="utf-8", description="the text encoding the file was read with (a CSV's)"
    )
    missing_values: list[str] = Field(
        default_factory=list,
        description="the upload's own missing-value marks, read besides the built-in ones (sorted)",
    )
    notes: list[str] = Field(
        default_factory=list,
        description="how the file was read that the caller should know (the task auto chose)",
    )


class DatasetPage(Page[DatasetBrief]):
    pass
