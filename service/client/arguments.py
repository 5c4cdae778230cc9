"""What the client checks before any request, so that a value it cannot send is an
``InvalidArgument`` naming it as it was given, never httpx's bare error nor a request for
another resource: the API's URL, the key, the timeout, ids as path segments, trial numbers, and
numbers JSON cannot carry."""

from __future__ import annotations

import math
import numbers
import operator
import os
import re
import sys
from contextlib import suppress
from typing import Any
from urllib.parse import quote

import httpx

from regtune.service.api.schemas.studies import STUDY_WAIT_MAX
from regtune.service.client.errors import InvalidArgument
from regtune.service.header_keys import header_safe, holds_scheme

DEFAULT_URL = "http://127.0.0.1:8000"
MAX_PORT = 65_535
DEFAULT_TIMEOUT = 30.0
"""Seconds the client waits for each answer unless told (``timeout``, REGTUNE_TIMEOUT)."""


def setting_name(argument: str, value: object) -> str:
    """How a connection setting was given: the argument, or its variable when the value is the
    environment's (as the CLI's ``--url`` and ``--key`` read them)."""
    variable = f"REGTUNE_{argument.upper()}"
    return variable if value is None or value == os.environ.get(variable) else argument


def timeout_seconds(value: float | str | None, *, given_as: str) -> float:
    """How long to wait for an answer: ``value`` (REGTUNE_TIMEOUT's text, or the argument) if
    it is a number of seconds above 0, ``DEFAULT_TIMEOUT`` if None, else ``InvalidArgument``."""
    if value is None:
        return DEFAULT_TIMEOUT
    return positive_seconds(value, given_as=given_as)


def positive_seconds(value: float | str, *, given_as: str) -> float:
    """``value`` as a number of seconds above 0 (a finite one: a socket's timeout takes no NaN
    or infinity), else ``InvalidArgument``."""
    number = _number(value)
    if not (math.isfinite(number) and number > 0):
        raise InvalidArgument(given_as, f"must be a number of seconds above 0, got {value!r}")
    return number


def wait_seconds(value: float, *, given_as: str) -> float:
    """``value`` if it is a number of seconds to wait, 0 or more (an infinity: no end), else
    ``InvalidArgument``: a NaN compares false with every time, so that a wait until it never
    ended, nor gave up."""
    if not _number(value) >= 0:
        raise InvalidArgument(given_as, f"must be a number of seconds, 0 or more, got {value!r}")
    return value


def hold_seconds(value: float) -> float:
    """``value`` as the seconds the API is asked to hold its answer for (``?wait=``): above 0
    and at most ``STUDY_WAIT_MAX``, else ``InvalidArgument`` naming ``hold`` (the API's 422
    names ``wait``, which the caller never wrote)."""
    number = _number(value)
    if not 0 < number <= STUDY_WAIT_MAX:
        raise InvalidArgument(
            "hold",
            f"must be a number of seconds above 0, at most {STUDY_WAIT_MAX:g} (the API holds "
            f"an answer no longer), got {value!r}",
        )
    return number


def _number(value: float | str) -> float:
    """``value`` as a float, NaN if it is none."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def api_url(given: str, *, given_as: str) -> str:
    """``given`` without the slashes it ends with, if requests can be sent to it (httpx parses
    it: ``http://[::1`` does not, nor a port that is no number), else ``InvalidArgument``
    quoting it as given; the server's root, where it ends with the routes' ``/v1``
    (``http://host:8000/v1`` asked for ``/v1/v1/studies``, a 404)."""
    url = given.rstrip("/")
    rule = (
        f"must be an http:// or https:// URL with a host, such as {DEFAULT_URL}, "
        f"got {shown_url(given)!r}"
    )
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidArgument(given_as, f"{rule} ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidArgument(given_as, rule)
    if parsed.port is not None and not 0 < parsed.port <= MAX_PORT:
        raise InvalidArgument(given_as, f"{rule} (ports run from 1 to {MAX_PORT:,})")
    if url.endswith("/v1") and parsed.path.endswith("/v1"):  # the routes' prefix, not the root
        return url.removesuffix("/v1")
    return url


_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*):[^/?#]*@")
"""A password in a URL's user information (``http://user:password@host``)."""


def shown_url(url: str) -> str:
    """``url`` fit for a message: a password in it as ``***``."""
    return _PASSWORD.sub(r"\1:***@", url)


def header_key(key: str | None, *, given_as: str) -> str | None:
    """``key`` if an ``Authorization`` header can carry it as ``Bearer <key>``, else
    ``InvalidArgument`` (which, the key being a secret, never shows it)."""
    if key is None:
        return key
    if not header_safe(key):
        raise InvalidArgument(
            given_as,
            "must be printable ASCII, as an HTTP header carries it: no other letters, no line "
            "breaks or control characters, no spaces at either end",
        )
    if holds_scheme(key):
        raise InvalidArgument(
            given_as,
            "holds 'Bearer' before the key: give the key alone (rt_…); the client sends "
            "Authorization: Bearer <key> itself",
        )
    return key


def study_path(study_id: str, *rest: str) -> str:
    """The path of a study, or of ``rest`` under it."""
    return "/".join((item_path("studies", study_id, name="study_id"), *rest))


def item_path(collection: str, item: str, *, name: str) -> str:
    """The path of ``item`` in ``collection``: the id is one path segment, escaped (``/``,
    ``?``, ``#``, ``%``), never a dot segment (which a URL's path resolves to its parent), so
    that it names no other resource than the one it says; an empty one is ``InvalidArgument``
    named ``name``."""
    if not item:
        raise InvalidArgument(name, f"must be an id, not empty, got {item!r}")
    segment = quote(item, safe="")
    if not segment.strip("."):  # "." or "..": as %2E, a path segment's own name
        segment = segment.replace(".", "%2E")
    return f"/v1/{collection}/{segment}"


def json_numbers(value: Any, argument: str) -> Any:
    """``value`` as JSON carries it, or ``InvalidArgument`` naming where the first number that
    it cannot carry is, from ``argument`` down (``points[0].lambda``): a NaN or an infinity (JSON
    has neither), an integer of more digits than Python writes out as text
    (``sys.get_int_max_str_digits``: the JSON encoder's bare ``ValueError`` otherwise). Another
    library's values (numpy's ``int64``, ``float32`` and ``bool_``, a pandas row's, a numpy
    array) are sent as the Python values they hold (the JSON encoder's bare ``TypeError``
    otherwise)."""
    numpy = sys.modules.get("numpy")  # a value is numpy's only once numpy was imported
    if numpy is not None and isinstance(value, numpy.generic | numpy.ndarray):
        value = value.tolist()
    elif isinstance(value, numbers.Integral) and not isinstance(value, int):
        value = int(value)
    elif isinstance(value, numbers.Real) and not isinstance(value, int | float):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgument(
            argument, f"must be a finite number (JSON has no NaN or infinity), got {value!r}"
        )
    if isinstance(value, int) and not _written_out(value):
        limit = sys.get_int_max_str_digits()
        raise InvalidArgument(
            argument,
            f"must be an integer of at most {limit:,} digits (Python writes no longer one out "
            f"as JSON text), got one of more than {limit:,}",
        )
    if isinstance(value, dict):
        return {key: json_numbers(item, f"{argument}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_numbers(item, f"{argument}[{index}]") for index, item in enumerate(value)]
    return value


def _written_out(number: int) -> bool:
    """Whether ``str(number)`` works (an integer of 64 bits always does)."""
    if number.bit_length() <= 64:
        return True
    try:
        str(number)
    except ValueError:
        return False
    return True


def trial_number(number: int) -> str:
    """``number`` as a path segment if it is an integer (numpy's too); a float or a bool is
    ``InvalidArgument``, never taken for one (2.7 asked for trial 2, True for trial 1)."""
    if not isinstance(number, bool):
        with suppress(TypeError):
            return str(operator.index(number))
    raise InvalidArgument("number", f"must be a trial number, an int, got {number!r}")
