"""Limits the service's settings set: request body sizes, and what one study may ask for.

Body limits hold before any route, whatever the route (one that takes no body too): a declared
Content-Length over the limit is refused before anything is read; a body without one
(``Transfer-Encoding: chunked``) is read ahead to its end, up to the limit, before the route
runs, and replayed to it; so nothing a route would do happens for a body it refuses. Past the
limit a little more is read and dropped, so that a client that sends on hears the 413, and the
connection is then closed rather than read to the end. Definition limits are checked here, when
a study is created, and nowhere else: a stored definition stays valid for a worker configured
with other limits.
"""

from __future__ import annotations

from collections import deque

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from regtune.service.api.errors import error_response
from regtune.service.errors import FieldProblem, InvalidDefinition
from regtune.service.settings import Settings, get_settings
from regtune.service.spec.definition import StudySpec

UPLOAD_PATHS = frozenset({"/v1/datasets"})
DRAIN_FACTOR = 4
"""Read and drop up to this many times the limit before answering, so the client hears the 413."""


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(
            status_code=413,
            detail=f"the request body is larger than {limit} bytes ({setting})",
        )


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["method"] == "POST" and scope["path"] in UPLOAD_PATHS
        limit = self.max_upload if upload else self.max_body
        setting = "REGTUNE_MAX_UPLOAD_BYTES" if upload else "REGTUNE_MAX_BODY_BYTES"
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _drain(receive, limit * DRAIN_FACTOR)
            await _too_large(limit, setting)(scope, receive, send)
            return
        # no length to refuse up front: the body, to the limit (a request with neither header,
        # as most GETs are, has none to read)
        if not declared.isdigit() and "transfer-encoding" in headers:
            ahead = await _read_ahead(receive, limit)
            if ahead is None:
                await _too_large(limit, setting)(scope, receive, send)
                return
            receive = _replay(ahead, receive)
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if message.get("more_body", False):  # past the end, receive waits
                        await _drain(receive, limit * (DRAIN_FACTOR - 1))
                    raise BodyTooLarge(limit, setting)
            return message

        await self.app(scope, limited, send)


def _too_large(limit: int, setting: str) -> ASGIApp:
    """The 413 naming the limit; the connection is closed after it, so that the rest of a body
    is not read."""
    said = str(BodyTooLarge(limit, setting).detail)
    response = error_response(413, "too_large", said, [{"path": "body", "rule": said}])
    response.headers["Connection"] = "close"
    return response


async def _read_ahead(receive: Receive, limit: int) -> deque[Message] | None:
    """The messages of a body up to its end (or the client's disconnect); None once they hold
    more than ``limit`` bytes, none of them kept and the rest drained (``_drain``)."""
    messages: deque[Message] = deque()
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
        if size > limit:
            if more:  # past the end, receive waits for the client to go
                await _drain(receive, limit * (DRAIN_FACTOR - 1))
            return None
        if not more:
            return messages


def _replay(ahead: deque[Message], receive: Receive) -> Receive:
    """``receive`` that gives the messages ``ahead`` first, taking each out (so the route's
    reading frees them), then the server's."""

    async def replayed() -> Message:
        return ahead.popleft() if ahead else await receive()

    return replayed


async def _drain(receive: Receive, budget: int) -> None:
    """Consume the rest of the body (up to ``budget`` bytes) without keeping it."""
    seen = 0
    while seen <= budget:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def install(app: FastAPI) -> None:
    settings = get_settings()
    app.add_middleware(
        BodyLimit, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes
    )


def check_definition(spec: StudySpec, settings: Settings) -> None:
    """Refuse what this service's settings do not allow, as a 422 naming the field."""
    limit, n_trials = settings.max_trials_per_study, spec.budget.n_trials
    if n_trials > limit:
        rule = f"n_trials must be ≤ {limit} (REGTUNE_MAX_TRIALS_PER_STUDY), got {n_trials}"
        path = "budget.n_trials"
        raise InvalidDefinition(f"{path}: {rule}", [FieldProblem(path, rule)])


def check_extension(n_trials: int, settings: Settings, *, field: str = "n_trials") -> None:
    """Refuse an extension whose budget this service's settings do not allow: a 422 naming the
    body's ``field`` (``n_trials`` or ``n_trials_total``), as a rule of the body's own is
    answered."""
    limit = settings.max_trials_per_study
    if n_trials > limit:
        rule = (
            f"the study's budget.n_trials would be {n_trials}, over the {limit} that "
            "REGTUNE_MAX_TRIALS_PER_STUDY allows"
        )
        problem = {"type": "value_error", "loc": ("body", field), "msg": rule}
        raise RequestValidationError([problem])
