"""One settings object, read from ``REGTUNE_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def normalize_database_url(url: str) -> str:
    """Map the URL schemes people type to the drivers regtune ships with."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGTUNE_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./regtune.db",
        description="SQLAlchemy URL; a SQLite file by default, PostgreSQL for a worker pool.",
    )
    max_trials_per_study: int = Field(default=10_000, ge=1)
    heartbeat_interval: int = Field(default=5, ge=1, description="Seconds between heartbeats.")
    grace_period: int = Field(
        default=20, ge=2, description="Seconds without a heartbeat before a trial is stale."
    )
    sweep_interval: float = Field(
        default=5.0, gt=0, description="Seconds between stale-trial sweeps in API and idle workers."
    )
    poll_min: float = Field(default=0.2, gt=0, description="First idle back-off of a worker (s).")
    poll_max: float = Field(default=5.0, gt=0, description="Longest idle back-off of a worker (s).")
    torch_threads: int = Field(default=1, ge=1)
    db_pool_size: int = Field(default=2, ge=1)
    db_max_overflow: int = Field(default=2, ge=0)
    sqlite_busy_timeout_ms: int = Field(default=60_000, ge=0)
    artifact_dir: Path = Field(default=Path("./regtune-artifacts"))
    public_url: str | None = Field(
        default=None, description="Base URL of the API, used in links shown by the dashboard."
    )

    @field_validator("database_url")
    @classmethod
    def _normalize_url(cls, value: str) -> str:
        return normalize_database_url(value.strip())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
