"""The client's requests to the API: each sent, an error answer raised as ``ApiError`` and no
answer as ``ApiUnreachable``, a success parsed into the route's response model, and a listing
read in as many of the API's pages as it takes."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from regtune.service.api.schemas.datasets import DatasetPage
from regtune.service.api.schemas.studies import StudyPage
from regtune.service.api.schemas.trials import TrialPage
from regtune.service.client.arguments import json_numbers
from regtune.service.client.errors import (
    ClientClosed,
    api_error,
    not_expected,
    unanswered,
    unexpected,
)

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=BaseModel)
PageT = TypeVar("PageT", StudyPage, TrialPage, DatasetPage)


class Transport:
    """One connection pool to the API at ``url``; ``shown_url`` is ``url`` as messages show it,
    ``timeout_given_as`` names the setting of the wait for each answer."""

    def __init__(
        self,
        url: str,
        *,
        shown_url: str,
        headers: dict[str, str],
        timeout: float,
        timeout_given_as: str,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.shown_url = shown_url
        self.timeout_given_as = timeout_given_as
        self.http = httpx.Client(
            base_url=url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self.http.close()

    def pool(self) -> httpx.Client:
        """The connection pool, or ``ClientClosed`` once it is closed (httpx's bare
        ``RuntimeError`` otherwise)."""
        if self.http.is_closed:
            raise ClientClosed(
                f"this regtune.Client of {self.shown_url} is closed (by close(), or at the end of "
                "its with block) and sends no more requests: make a new Client"
            )
        return self.http

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if "json" in kwargs:  # httpx's encoder refuses what JSON cannot carry with a bare error
            kwargs["json"] = json_numbers(kwargs["json"], "body")
        http = self.pool()
        try:
            response = http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise unanswered(
                exc, method, path, url=self.shown_url, timeout_given_as=self.timeout_given_as
            ) from None
        if not response.is_success:  # a redirect too: its body is no answer to the request
            raise api_error(response)
        return response

    def answer(self, model: type[ModelT], method: str, path: str, **kwargs: Any) -> ModelT:
        """One request whose answer is parsed into ``model``, the route's response model."""
        return parse(model, self.request(method, path, **kwargs))

    def done(self, method: str, path: str) -> None:
        """One request the API answers ``204 No Content`` once it is done (a deletion): any other
        success is ``UnexpectedAnswer``, from what stands in the API's place (a captive portal's
        ``200`` page), never taken for the deed done."""
        response = self.request(method, path)
        if response.status_code != httpx.codes.NO_CONTENT:
            given = " ".join(filter(None, (str(response.status_code), media_type(response))))
            raise not_expected(response, f"{given}, where the API answers 204 No Content")

    def held(self, hold: float) -> httpx.Timeout:
        """The timeout of a request whose answer the server holds up to ``hold`` seconds: the
        read's wait that much longer (an unbounded one stays unbounded)."""
        timeout = self.http.timeout
        return httpx.Timeout(
            timeout.connect,
            read=None if timeout.read is None else timeout.read + hold,  # None: unbounded
            write=timeout.write,
            pool=timeout.pool,
        )

    def listing(
        self,
        model: type[PageT],
        path: str,
        params: dict[str, Any],
        *,
        offset: int,
        limit: int,
        page_limit: int,
    ) -> tuple[PageT, httpx.Headers]:
        """``limit`` items from ``offset`` on, in as many of the API's pages (at most
        ``page_limit`` items each) as that takes, answered as one page of the listing (a
        ``limit`` below 1 is sent as it is, for the API's 422 to name), and the headers of the
        API's first answer."""

        def window(start: int, count: int) -> httpx.Response:
            asked = params | {"offset": start, "limit": min(count, page_limit)}
            return self.request("GET", path, params=asked)

        first = window(offset, limit)
        page = parse(model, first)
        items = list(page.items)
        while page.items and len(items) < limit and offset + len(items) < page.total:
            page = parse(model, window(offset + len(items), limit - len(items)))
            items.extend(page.items)
        return model(items=items, total=page.total, offset=offset, limit=limit), first.headers


def parse(model: type[ModelT], response: httpx.Response) -> ModelT:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise unexpected(response, exc) from None


def parse_as(adapter: TypeAdapter[T], response: httpx.Response) -> T:
    """``parse`` for an answer that is no model of its own (a list of them)."""
    try:
        return adapter.validate_json(response.content)
    except ValidationError as exc:
        raise unexpected(response, exc) from None


def media_type(response: httpx.Response) -> str:
    """The type ``Content-Type`` names, lower case, without its parameters."""
    return response.headers.get("Content-Type", "").partition(";")[0].strip().lower()
