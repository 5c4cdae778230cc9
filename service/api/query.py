"""A query parameter a route reads is given once: ``?state=COMPLETE&state=PRUNED`` is a 422
naming it, as an upload refuses a form field given twice (was: the last one read, silently,
so that listing said 0 trials of the two states asked for). One it does not read is ignored,
repeated or not, as any unknown parameter is."""

from __future__ import annotations

from collections import Counter

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute


async def once_each(request: Request) -> None:
    """An application dependency: a 422 at each parameter the route reads that came more than
    once."""
    params = request.query_params
    if len(params.multi_items()) == len(params):  # no key twice: the common case, at once
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    read = _read(route.dependant)
    given = Counter(key for key, _ in params.multi_items())
    repeated = [key for key, times in given.items() if times > 1 and key in read]
    if repeated:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", key),
                    "msg": f"given {given[key]} times ({_values(request, key)}): give it once",
                    "input": request.query_params.getlist(key),
                }
                for key in repeated
            ]
        )


def _values(request: Request, key: str) -> str:
    return ", ".join(repr(value) for value in request.query_params.getlist(key))


def _read(dependant: Dependant) -> set[str]:
    """The query parameters a route reads, its dependencies' included."""
    found = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        found |= _read(sub)
    return found
