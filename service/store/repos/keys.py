"""API keys and tenants: who a request comes from, and whether a server may listen openly.

Secrets are 256-bit random tokens, so a plain SHA-256 digest is a safe thing to store (no slow
hash needed); lookups go by digest and the final comparison is constant-time. A secret is shown
once, when it is created, and never logged.

Every request is authenticated, so each process remembers what it read about a key for
``KEY_CACHE_SECONDS``: a revoked key is refused by the process that revoked it at once, and by
every other API process at most ``KEY_CACHE_SECONDS`` later. When what it remembers expires, one
request reads it again and the requests that arrive meanwhile wait for that read: without it,
every request of the next millisecond read it too, each holding a thread while it waited for
one of the pool's few connections, and a process under load stalled for 50-100 ms every 2 s.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

from cachetools import TTLCache, cached
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from regtune.service.errors import Forbidden, NotFound, Unauthorized
from regtune.service.header_keys import holds_scheme
from regtune.service.settings import Settings
from regtune.service.store.backoff import TRANSIENT
from regtune.service.store.clock import utcnow
from regtune.service.store.db import transaction
from regtune.service.store.tables import ApiKeyRow

SECRET_PREFIX = "rt_"
DEFAULT_TENANT = "default"
"""Everyone's tenant when no key is configured, and the admin key's tenant."""
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
KEY_CACHE_SECONDS = 2.0
"""The longest a revoked key is still accepted, by an API process other than the one that
revoked it."""


class KeyNotFound(NotFound):
    pass


@dataclass(frozen=True)
class Caller:
    tenant: str
    admin: bool = False
    key_id: str | None = None


OPEN = Caller(DEFAULT_TENANT)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


_LOCK = threading.Lock()
_KEYS: TTLCache[str, tuple[Caller | None, float]] = TTLCache(maxsize=4096, ttl=KEY_CACHE_SECONDS)
"""Digest of a presented secret → (its caller, or None for an unknown or revoked key; when the
lookup started). The start, not the insertion, bounds how long the answer is trusted."""
_ANY_KEY: TTLCache[str, bool] = TTLCache(maxsize=1, ttl=KEY_CACHE_SECONDS)
_LAST_ANY: dict[str, bool] = {}
"""``_any_active_key``'s last answer, kept past its cache's time (``keys_configured``)."""
_READ = threading.Condition(_LOCK)
"""One read per entry at a time: callers that miss it meanwhile wait for that read's answer."""


@cached(_ANY_KEY, key=lambda: "any", condition=_READ)
def _any_active_key() -> bool:
    with transaction() as session:
        found = session.scalar(select(ApiKeyRow.id).where(ApiKeyRow.revoked_at.is_(None)).limit(1))
    return found is not None


@cached(_KEYS, key=lambda presented: presented, condition=_READ)
def _lookup(presented: str) -> tuple[Caller | None, float]:
    """The caller of a presented secret's digest (None: unknown or revoked), and when the read
    started."""
    started = time.monotonic()
    with transaction() as session:
        row = session.scalar(
            select(ApiKeyRow).where(ApiKeyRow.digest == presented, ApiKeyRow.revoked_at.is_(None))
        )
    if row is not None and hmac.compare_digest(row.digest, presented):
        return Caller(row.tenant, key_id=row.id), started
    return None, started


def keys_configured(settings: Settings) -> bool:
    """Auth is on once an admin key is set or any unrevoked key exists.

    In an outage, a service that had no key when the database last answered stays open until
    it answers again (``/metrics`` is read then too, when an operator most wants it; every
    route that reads the database answers 503 anyway): no key can be made meanwhile."""
    if settings.admin_key is not None:
        return True
    try:
        found = _any_active_key()
    except TRANSIENT:
        if _LAST_ANY.get("any") is False:
            return False
        raise
    _LAST_ANY["any"] = found
    return found


def stored_keys_warning(settings: Settings) -> str | None:
    """What an API started without ``REGTUNE_ADMIN_KEY`` says when tenant keys are stored (made
    under an admin key at an earlier start), else None. They keep keys on, so the tenants' data
    stays theirs; but nobody holds the admin key, so nobody reads the pool-wide views."""
    if settings.admin_key is not None:
        return None
    with transaction() as session:
        stored = session.scalar(
            select(func.count()).select_from(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))
        )
    if not stored:
        return None
    keys = "1 tenant key exists" if stored == 1 else f"{stored} tenant keys exist"
    return (
        f"{keys} in the database, so API keys are on: every request needs a key, and the "
        "pool-wide views (/metrics, every worker in /v1/workers) and managing keys need "
        "REGTUNE_ADMIN_KEY, which is not set (the API is open only when no key is configured "
        "and none is stored)"
    )


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("this endpoint needs an API key: send Authorization: Bearer <key>")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be: Bearer <key>")
    return token.strip()


def _unknown(token: str) -> Unauthorized:
    """The 401 of a key no live key matches; of one given with its scheme in it (``REGTUNE_KEY=
    "Bearer rt_…"``, sent as ``Bearer Bearer rt_…``), words that say so."""
    if holds_scheme(token):
        return Unauthorized(
            "the API key was sent with 'Bearer' in it (the header read Authorization: Bearer "
            "Bearer …): give the key alone (rt_…), as POST /v1/keys answered it; REGTUNE_KEY, "
            "--key and Client(key=) take it without 'Bearer'"
        )
    return Unauthorized("the API key is unknown or revoked")


def cached_caller(authorization: str | None, settings: Settings) -> Caller | None:
    """The caller if it is known without the database, else None (then call ``authenticate``).

    Raises ``Unauthorized`` for a malformed header, or a key known to be unknown or revoked.
    """
    if settings.admin_key is None:
        with _LOCK:
            configured = _ANY_KEY.get("any")
        if configured is None:
            return None
        if not configured:
            return OPEN
    token = _bearer(authorization)
    presented = digest(token)
    if settings.admin_key is not None and hmac.compare_digest(
        presented, digest(settings.admin_key.get_secret_value())
    ):
        return Caller(DEFAULT_TENANT, admin=True)
    with _LOCK:
        found = _KEYS.get(presented)
    if found is None or time.monotonic() - found[1] >= KEY_CACHE_SECONDS:
        return None
    caller = found[0]
    if caller is None:
        raise _unknown(token)
    return caller


def authenticate(authorization: str | None, settings: Settings) -> Caller:
    """The caller behind an ``Authorization`` header; ``Unauthorized`` if it is not a live key."""
    known = cached_caller(authorization, settings)
    if known is not None:
        return known
    if not keys_configured(settings):
        return OPEN
    token = _bearer(authorization)
    presented = digest(token)
    with _LOCK:
        found = _KEYS.get(presented)
        if found is not None and time.monotonic() - found[1] >= KEY_CACHE_SECONDS:
            del _KEYS[presented]  # read more than KEY_CACHE_SECONDS ago: no longer trusted
    caller, _ = _lookup(presented)
    if caller is None:
        raise _unknown(token)
    return caller


def require_admin(caller: Caller, settings: Settings) -> None:
    if settings.admin_key is None:
        raise Forbidden("managing API keys needs REGTUNE_ADMIN_KEY set on the server")
    if not caller.admin:
        raise Forbidden("only the admin key (REGTUNE_ADMIN_KEY) manages API keys")


# ---------------------------------------------------------------------------- keys


def create_key(tenant: str) -> tuple[ApiKeyRow, str]:
    """A new key of ``tenant``; the secret is returned here and nowhere else, ever."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        id=uuid.uuid4().hex[:16],
        tenant=tenant,
        digest=digest(secret),
        prefix=secret[:10],
        created_at=utcnow(),
        revoked_at=None,
    )
    with transaction() as session:
        session.add(row)
    return row, secret


def list_keys(*, tenant: str | None = None) -> list[ApiKeyRow]:
    query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
    if tenant is not None:
        query = query.where(ApiKeyRow.tenant == tenant)
    with transaction() as session:
        return list(session.scalars(query).all())


def _found(session: Session, key_id: str) -> ApiKeyRow:
    row = session.get(ApiKeyRow, key_id)
    if row is None:
        raise KeyNotFound(f"no API key with id {key_id!r}")
    return row


def get_key(key_id: str) -> ApiKeyRow:
    with transaction() as session:
        return _found(session, key_id)


def revoke_key(key_id: str) -> None:
    """Revoke: refused at once by this process, by all within ``KEY_CACHE_SECONDS``. Idempotent."""
    with transaction() as session:
        _found(session, key_id)
        session.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    with _LOCK:  # refused here at once; other processes forget it within KEY_CACHE_SECONDS
        for presented, (caller, started) in list(_KEYS.items()):
            if caller is not None and caller.key_id == key_id:
                _KEYS[presented] = (None, started)
        _ANY_KEY.clear()
        _LAST_ANY.clear()


# ---------------------------------------------------------------------------- binding


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_refusal(host: str, settings: Settings) -> str | None:
    """Why the API must not listen on ``host`` as configured, or None if it may."""
    if is_loopback(host) or settings.insecure_no_auth:
        return None
    try:
        configured = keys_configured(settings)
    except Exception:  # no database or no tables yet: no keys either
        configured = False
    if configured:
        return None
    return (
        f"refusing to listen on {host} without API keys: anyone who reaches it could run and "
        "delete studies. Set REGTUNE_ADMIN_KEY (then create keys with POST /v1/keys), bind "
        "127.0.0.1, or set REGTUNE_INSECURE_NO_AUTH=1 if a trusted network guards the port."
    )
