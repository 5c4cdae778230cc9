"""Dataset resources under /v1: upload (multipart, size-limited), list, read, delete."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    Path,
    Request,
    Response,
    UploadFile,
    status,
)
from fastapi.exceptions import RequestValidationError

from regtune.service.api.contract import errors
from regtune.service.api.deps import TenantDep
from regtune.service.api.errors import BadBody, shown
from regtune.service.api.schemas.datasets import ColumnInfo, DatasetBrief, DatasetOut, DatasetPage
from regtune.service.api.url_integers import PageLimit, PageOffset
from regtune.service.ingest.header import Limits
from regtune.service.ingest.marks import NA_WORDS
from regtune.service.settings import get_settings
from regtune.service.store.repos import datasets
from regtune.service.store.tables import DatasetRow

router = APIRouter(prefix="/v1", tags=["datasets"])
NO_DATASET = "no dataset has this id (for this key: another tenant's is not found either)"
DatasetId = Annotated[str, Path(max_length=64, description="dataset id (a content hash)")]
CHUNK = 1 << 20


def _brief(row: DatasetRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "format": row.format,
        "target": row.target,
        "task": row.task,
        "n_rows": row.n_rows,
        "n_features": row.n_features,
        "size_bytes": row.size_bytes,
        "created_at": row.created_at,
    }


def dataset_out(row: DatasetRow) -> DatasetOut:
    s = row.summary
    return DatasetOut(
        **_brief(row),
        sha256=s["sha256"],
        columns=[ColumnInfo(**c) for c in s["columns"]],
        feature_names=s["feature_names"],
        classes=s.get("classes"),
        target_distribution=s["target_distribution"],
        missing=s["missing"],
        ignored=s.get("ignored", []),  # absent in rows stored before columns could be ignored
        encoding=s.get("encoding", "utf-8"),
        missing_values=s.get("missing_values", []),  # absent before marks could be declared
        notes=s.get("notes", []),
    )


def _read(upload: UploadFile) -> tuple[bytes, str]:
    """The file's bytes and SHA-256 (the body limit already bounds its size)."""
    digest = hashlib.sha256()
    parts = []
    upload.file.seek(0)
    while chunk := upload.file.read(CHUNK):
        digest.update(chunk)
        parts.append(chunk)
    return b"".join(parts), digest.hexdigest()


FILE_AS_TEXT = (
    "must be the file itself, a form part with a filename, got a text field: send it with "
    "curl -F file=@data.csv (the @ sends the file, not its name), or files= in httpx and requests"
)
"""The rule a ``file`` field of text breaks (``-F file=data.csv``, the @ left out), said in
words instead of FastAPI's "Expected UploadFile, received: <class 'str'>"."""
UPLOAD_FIELDS = ("file", "target", "task", "ignore", "encoding", "missing_values")
"""The form fields ``POST /v1/datasets`` reads (``upload_dataset``'s)."""
REPEATABLE = frozenset({"ignore", "missing_values"})
UPLOAD_MAX_FIELDS = 20_000
"""Form fields an upload may send: one ``ignore`` (or ``missing_values``) field a column, so that
a file of thousands of columns can leave most of them out (Starlette's default of 1,000 refused
a thousand ``ignore`` fields before the file was read). The body's size limit bounds the rest."""


async def only_upload_fields(request: Request) -> None:
    """A body that is no multipart form is a 400 saying how to send one (was: a file sent as
    the body, ``curl --data-binary @data.csv``, was read as a URL-encoded form whose one field's
    name was the whole file, and the 422 repeated it twice). A form field the upload does not
    read, or one it reads once given more than once, is a 422 naming it (was: left out or the
    last one taken, silently: ``ignored=id`` trained on the id column), and so is a ``file``
    field of text (``FILE_AS_TEXT``). FastAPI has read the form by now; this reads the same
    parsed form."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        raise BadBody(
            "an upload is a multipart/form-data body whose fields are the file and the target "
            f"(curl -F file=@data.csv -F target=y), got {media_type or 'no Content-Type'}"
        )
    form = (await request.form()).multi_items()
    given = Counter(name for name, _ in form)
    problems: list[dict[str, Any]] = []
    if any(name == "file" and isinstance(value, str) for name, value in form):
        problems.append({"type": "value_error", "loc": ("body", "file"), "msg": FILE_AS_TEXT})
    problems += [
        {
            "type": "extra_forbidden",
            "loc": ("body", shown(name)),
            "msg": f"not a field of an upload: give {', '.join(UPLOAD_FIELDS)}",
        }
        for name in given
        if name not in UPLOAD_FIELDS
    ] + [
        {"type": "value_error", "loc": ("body", name), "msg": f"given {n} times: give it once"}
        for name, n in given.items()
        if n > 1 and name in UPLOAD_FIELDS and name not in REPEATABLE
    ]
    if problems:
        raise RequestValidationError(problems)


@router.post(
    "/datasets",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(only_upload_fields)],
    form_limits={"max_fields": UPLOAD_MAX_FIELDS},
    response_model=DatasetOut,
    responses={
        200: {
            "model": DatasetOut,
            "description": "the same upload exists already",
            "headers": {"Location": {"description": "its path", "schema": {"type": "string"}}},
        },
        **errors(
            {
                422: "a form field breaks a rule, or the file cannot become a dataset: "
                "error.fields names the field (file, target, encoding...) and its rule"
            }
        ),
    },
    summary="Upload a CSV or Parquet file as a dataset (multipart/form-data)",
)
def upload_dataset(
    response: Response,
    tenant: TenantDep,
    file: Annotated[
        UploadFile,
        File(description="CSV (a header row; ',', ';' or tab-separated) or Parquet"),
    ],
    target: Annotated[str, Form(min_length=1, max_length=255, description="target column")],
    task: Annotated[
        Literal["auto", "regression", "binary", "multiclass"],
        Form(description="auto: text or two-valued targets are classification, else regression"),
    ] = "auto",
    ignore: Annotated[
        list[str] | None,
        Form(description="a column to leave out (a row id, say); repeat for several"),
    ] = None,
    encoding: Annotated[
        str | None,
        Form(
            max_length=64,
            description="the text encoding of a CSV (default UTF-8, with or without a BOM): "
            "a name Python's codecs know, such as cp1252 for Excel's CSV on Windows",
        ),
    ] = None,
    missing_values: Annotated[
        list[str] | None,
        Form(
            description=f"a cell text read as a missing value besides the built-in ones ({NA_WORDS}"
            "), such as '-', '.' or 'n.a.'; repeat the field "
            "for several (each field is one whole mark: '-,n.a.' is one mark); never a text "
            "that reads as a number",
        ),
    ] = None,
) -> DatasetOut:
    raw, sha256 = _read(file)
    row, new = datasets.create(
        raw,
        file_sha256=sha256,
        filename=file.filename,
        target=target,
        task=task,
        ignore=ignore or (),
        encoding=encoding,
        missing_values=missing_values or (),
        tenant=tenant,
        limits=Limits.from_settings(get_settings()),
    )
    response.status_code = status.HTTP_201_CREATED if new else status.HTTP_200_OK
    response.headers["Location"] = f"/v1/datasets/{row.id}"
    return dataset_out(row)


@router.get("/datasets", response_model=DatasetPage)
def list_datasets(
    tenant: TenantDep,
    offset: PageOffset = 0,
    limit: PageLimit = 50,
) -> DatasetPage:
    rows, total = datasets.list_rows(tenant=tenant, offset=offset, limit=limit)
    items = [DatasetBrief(**_brief(r)) for r in rows]
    return DatasetPage(items=items, total=total, offset=offset, limit=limit)


@router.get(
    "/datasets/{dataset_id}", response_model=DatasetOut, responses=errors({404: NO_DATASET})
)
def get_dataset(dataset_id: DatasetId, tenant: TenantDep) -> DatasetOut:
    return dataset_out(datasets.get(dataset_id, tenant=tenant))


@router.delete(
    "/datasets/{dataset_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors({404: NO_DATASET, 409: "queued or running studies train on it"}),
)
def delete_dataset(dataset_id: DatasetId, tenant: TenantDep) -> Response:
    """409 while a queued or running study trains on it."""
    datasets.delete(dataset_id, tenant=tenant)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
