"""Retrying with capped exponential back-off while the database is away."""

from __future__ import annotations

import functools
import logging
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from optuna.exceptions import StorageInternalError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
)

from regtune.service.database_url import hide_password

T = TypeVar("T")
log = logging.getLogger(__name__)

DATABASE_TRANSIENT = (
    OperationalError,
    InterfaceError,
    InternalError,
    PoolTimeout,
    StorageInternalError,
)
"""The database's own errors (SQLAlchemy's, Optuna's storage's) that mean "unreachable or busy
right now": the ones that may be described as the database's fault."""
TRANSIENT = (*DATABASE_TRANSIENT, ConnectionError, TimeoutError)
"""Errors that mean "the database is unreachable or busy right now", not "the request is wrong":
what a worker or the API waits out or retries.

Optuna wraps every SQLAlchemy error of its storage in ``StorageInternalError``, so a database
restart reaches a worker as that as well as SQLAlchemy's own ``OperationalError``. A statement
the database refuses (``IntegrityError``, ``ProgrammingError``, ``DataError``) is not among
them: it fails the same way every time, so waiting it out, or handing its trial back to run
again, would loop for ever (a trial handed back on each claim, its copies piling up). The
built-in ``ConnectionError`` and ``TimeoutError`` are worth a retry too, but are not the
database's alone (a closed pipe is a ``ConnectionError``): ``DATABASE_TRANSIENT`` leaves them out.
"""


def caused_by_database(
    exc: BaseException, *, among: tuple[type[BaseException], ...] = TRANSIENT
) -> bool:
    """True if ``exc`` is, or was raised while handling, a transient database error (one of
    ``among``; ``DATABASE_TRANSIENT`` for the database's own errors only).

    Optuna can replace a storage error with an unrelated one while cleaning up after it (an
    ``UnboundLocalError`` when recording a trial's FAIL fails too), so the chain is searched.
    """
    return any(isinstance(error, among) for error in error_chain(exc))


def error_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it was raised from or while handling, down to the root, each once."""
    found: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        found.append(current)
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return found


def unavailable_cause(exc: BaseException) -> str:
    """Why the database refused, in words a caller can act on, without its address."""
    return known_cause(exc) or f"it is unavailable ({describe(exc).split(':')[0]})"


def known_cause(exc: BaseException, *, within: BaseException | None = None) -> str | None:
    """Why the database refused, in words, when it is one of the usual reasons; else None
    (``within``: as ``describe`` takes it)."""
    text = describe(exc, within=within).lower()
    if isinstance(exc, PoolTimeout) or "queuepool limit" in text:
        return (
            "every connection of this API process is in use (REGTUNE_DB_POOL_SIZE, "
            "REGTUNE_DB_MAX_OVERFLOW)"
        )
    causes = [
        (("too many clients", "too many connections", "remaining connection slots"),
         "it has too many clients already (its max_connections is reached: fewer workers, a "
         "smaller REGTUNE_DB_POOL_SIZE, or a pooler such as PgBouncer)"),
        (("starting up", "shutting down", "in recovery"), "it is starting up or shutting down"),
        (("database is locked", "lock timeout", "deadlock"), "it is busy (locked)"),
        (("disk is full", "no space left on device", "could not extend file"),
         "its disk is full (free space where it keeps its files: what is stored is kept, and "
         "writes go on once there is room)"),
        (("readonly database", "read-only file system"),
         "it cannot be written (its file or folder is read-only)"),
        (("refused", "could not connect", "connection failed", "timeout expired", "timed out",
          "server closed", "terminating connection", "no route", "name or service"),
         "it refuses connections or cannot be reached (down or restarting)"),
    ]  # fmt: skip
    for needles, cause in causes:
        if any(needle in text for needle in needles):
            return cause
    return None


_ADDRESSES = (
    (re.compile(r' (at|on)( socket)? "[^"]*"(, port \d+)?'), ""),
    (re.compile(r'host (name )?"[^"]*"'), "host"),
    (re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE), "<url>"),
    (re.compile(r"(/[^\s/'\"]+){2,}/?"), "<path>"),
    (re.compile(r"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b"), "<address>"),
)


LOGIN_SQLSTATES = frozenset({"28000", "28P01"})
"""PostgreSQL's "invalid authorization specification" and "invalid password"."""
_ENGLISH_REFUSALS = (
    r"authentication failed|no pg_hba\.conf entry|pg_hba\.conf rejects|no password supplied"
    r'|role "[^"]*" does not exist|is not permitted to log in'
)
_MISSING_DATABASE = 'database "%s" does not exist'
"""The server's English words for a connection to a database it does not have (SQLSTATE
3D000, which libpq does not give for a connection that failed to open)."""


@functools.cache
def _login_refusals() -> re.Pattern[str]:
    """The same refusals in words, in English and in every language PostgreSQL's server is
    translated to: libpq gives no SQLSTATE for a connection that failed to open, only the
    server's message, in the language of its ``lc_messages``. Compiled when a connection first
    fails (some 200 templates: 13 ms), not by every process that imports this module."""
    from regtune.service.store.login_refusals import TRANSLATED

    translated = (_pattern(template) for templates in TRANSLATED.values() for template in templates)
    return re.compile("|".join([_ENGLISH_REFUSALS, *translated]))


@functools.cache
def _missing_databases() -> re.Pattern[str]:
    """The server's words for a database it does not have, in every language it speaks."""
    from regtune.service.store.login_refusals import MISSING_DATABASE

    templates = [_MISSING_DATABASE, *MISSING_DATABASE.values()]
    return re.compile("|".join(_pattern(template) for template in templates))


def _pattern(template: str) -> str:
    """A server message template as a pattern, each ``%s`` any words."""
    return re.escape(template).replace("%s", ".*?")


def login_refusal(exc: BaseException) -> str | None:
    """The database's words if ``exc`` is a refused login (wrong password, unknown role, no
    ``pg_hba.conf`` entry) or a connection to a database the server does not have: not an
    outage, so no wait ends it; else None."""
    for error in error_chain(exc):
        lines = str(error).strip().splitlines()
        first = lines[0] if lines else ""
        if (
            getattr(error, "sqlstate", None) in LOGIN_SQLSTATES
            or _login_refusals().search(first)
            or _missing_databases().search(first)
        ):
            words = first or type(error).__name__
            return re.split(r"\bfailed: \w+:", words)[-1].rpartition("FATAL:")[2].strip()
    return None


def refused_login(exc: BaseException, url: str) -> str | None:
    """One line for an operator if ``exc`` is a refused login to ``url`` (its role, its host,
    what to check; no password) or a connection to a database the server does not have, else
    None."""
    words = login_refusal(exc)
    if words is None:
        return None
    parsed = make_url(url)
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    if _missing_databases().search(words):
        name = parsed.database or parsed.username or "(default)"  # libpq's default: the user
        return (
            f"the database server at {where} has no database {name!r} ({words}): create it "
            f"(CREATE DATABASE, or createdb) or name an existing one in REGTUNE_DATABASE_URL "
            f"({hide_password(url)}); a database that does not exist is not waited for"
        )
    return (
        f"the database at {where} refused the login of role {parsed.username or '(default)'!r} "
        f"({words}): check the user name and password in REGTUNE_DATABASE_URL "
        f"({hide_password(url)}) and that the server's pg_hba.conf lets this role connect "
        "from here; a refused login is not retried"
    )


def database_error(exc: BaseException, *, within: BaseException | None = None) -> str:
    """A database error as a tenant may read it (on a trial or a study): the usual reasons in
    words, else the error's type and first line without addresses, URLs or file paths (the
    server's log keeps them: ``describe``, which takes ``within`` too)."""
    cause = known_cause(exc, within=within)
    if cause is not None:
        return cause
    return without_addresses(describe(exc, within=within))


def without_addresses(text: str) -> str:
    """``text`` with the database's address, URLs and file paths taken out: an error as any
    tenant may read it (a trial's error as well as the database's)."""
    for pattern, replacement in _ADDRESSES:
        text = pattern.sub(replacement, text)
    return text


def describe(exc: BaseException, *, within: BaseException | None = None) -> str:
    """``Type: first line`` of the root of the error chain: what a log line should say. A link
    that carries no text is passed over (SQLAlchemy's ``InvalidatePoolError``, raised when a
    pre-ping finds a pooled connection dead, is the root of the error that the reconnection
    then meets, and reads ``()``).

    ``within``: the error being handled when ``exc`` was raised (``sys.exception()`` where the
    work began). Python links it as the context of ``exc``'s root, but it is an older failure,
    not ``exc``'s cause: its chain is left out, or every retry of a hand-back would be said to
    fail with the error that interrupted the trial, whatever it met since."""
    chain = error_chain(exc)
    if within is not None:
        older = {id(error) for error in error_chain(within)}
        chain = [error for error in chain if id(error) not in older] or chain[:1]
    telling = [error for error in chain if error.args and str(error).strip()]
    root = (telling or chain)[-1]
    message = str(root).strip().splitlines()
    return f"{type(root).__name__}: {message[0]}" if message else type(root).__name__


class Backoff:
    """Capped exponential delays with jitter; ``reset`` after a success."""

    def __init__(self, first: float, cap: float) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"need 0 < first ≤ cap, got {first=} {cap=}")
        self.first = first
        self.cap = cap
        self.current = first

    def next(self) -> float:
        delay = self.current
        self.current = min(self.cap, self.current * 2)
        return delay * (0.75 + random.random() / 2)

    def reset(self) -> None:
        self.current = self.first


class Stop(Protocol):
    """What ``retry_forever`` gives up on: a ``threading.Event``, or a ``Patience``."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class Patience:
    """A stop set ``seconds`` after ``stopping`` is: what the writes that end a trial give up
    on, so that a trial cut off while the database is away is still handed back (uncounted) if
    the database answers within that time, rather than left to the sweep as a death."""

    def __init__(self, stopping: threading.Event, seconds: float) -> None:
        self.stopping = stopping
        self.seconds = seconds
        self._since: float | None = None

    def is_set(self) -> bool:
        if not self.stopping.is_set():
            return False
        if self._since is None:
            self._since = time.monotonic()
        return time.monotonic() - self._since >= self.seconds

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep ``timeout`` seconds, less if the patience runs out first; True once it has."""
        if not self.stopping.is_set():
            self.stopping.wait(timeout)
        elif not self.is_set():
            assert self._since is not None
            left = self._since + self.seconds - time.monotonic()
            time.sleep(max(0.0, left if timeout is None else min(timeout, left)))
        return self.is_set()


def retry_forever(
    action: Callable[[], T],
    *,
    what: str,
    first: float = 0.5,
    cap: float = 10.0,
    stop: Stop | None = None,
    said: str | None = None,
) -> T:
    """Run ``action`` until it succeeds, sleeping between transient database errors.

    With ``stop``, give up (re-raising the last error) once ``stop`` is set: a worker asked to
    exit does not wait for the database to come back. ``said``: the error (``describe``) the
    caller has just warned of, not said again at the first failure.

    An outage is logged as ``OutageLog`` says: a line per attempt was six a minute for each
    operation waiting, for as long as the database was away.
    """
    outage = OutageLog(what, said=said)

    def stopped(_: RetryCallState) -> bool:
        return stop is not None and stop.is_set()

    def sleep(delay: float) -> None:
        if stop is None:
            time.sleep(delay)
        else:
            stop.wait(delay)

    def warn(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        outage.failed(error or RuntimeError("unknown error"))

    retrying = Retrying(
        retry=retry_if_exception_type(TRANSIENT),
        # exponential from ``first`` up to ``cap``, plus up to ``first`` of jitter (tenacity's
        # wait_exponential_jitter, whose ``initial`` is deprecated and ``multiplier`` new in 9.2)
        wait=wait_exponential(multiplier=first, max=cap) + wait_random(0, first),
        stop=stopped,
        sleep=sleep,
        before_sleep=warn,
        reraise=True,
    )
    done = retrying(action)
    outage.succeeded()
    return done


REMIND_S = 60.0
"""While an outage lasts, ``OutageLog`` says it still waits this often."""


class OutageLog:
    """What a wait for the database logs: a warning at the first failure, another only when the
    error changes or ``REMIND_S`` passed, and one line once it succeeds after failing.

    Errors are described as raised (``describe``), without the error that was being handled
    when the wait began (``sys.exception()`` then): a wait in an ``except`` block met new
    errors, but each was said to be the one that the block handled.
    """

    def __init__(self, what: str, *, said: str | None = None, logger: logging.Logger = log) -> None:
        self.what = what
        self.log = logger
        self.failures = 0
        self.cause = said or ""
        self.at = time.monotonic() if said else -REMIND_S
        self.handled = sys.exception()

    def failed(self, error: BaseException) -> None:
        """One more attempt failed with ``error``."""
        self.failures += 1
        cause = describe(error, within=self.handled)
        now = time.monotonic()
        if self.failures == 1 and cause != self.cause:
            self.log.warning(
                "could not %s (%s); retrying until the database answers", self.what, cause
            )
        elif cause != self.cause or now - self.at >= REMIND_S:
            self.log.warning(
                "still could not %s after %d tries (%s)", self.what, self.failures, cause
            )
        else:
            return
        self.cause, self.at = cause, now

    def succeeded(self) -> None:
        """The attempt after the failures succeeded: one line, and the next failure is a new
        outage."""
        if self.failures:
            self.log.info(
                "%s: done after %d tries (the database answers again)",
                self.what,
                self.failures + 1,
            )
        self.failures, self.cause, self.at = 0, "", -REMIND_S
