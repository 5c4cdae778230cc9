"""Domain errors. They know nothing of HTTP; the API maps them to status codes in one place."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FieldProblem:
    path: str
    rule: str


@dataclass
class DomainError(Exception):
    message: str
    fields: list[FieldProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


class NotFound(DomainError):
    """The thing does not exist, or belongs to another tenant (the two look the same)."""


class Conflict(DomainError):
    """The request is valid but clashes with what is stored."""


class InvalidDefinition(DomainError):
    """The study definition is well formed but cannot run (e.g. its data does not fit)."""


class StudyNotFound(NotFound):
    pass


class TrialNotFound(NotFound):
    pass


class StudyNameTaken(Conflict):
    pass


class StudyNotActive(Conflict):
    pass


class StudyNotExtendable(Conflict):
    """The study failed: the errors that ended it would end it again; or its best value
    reaches its ``budget.stop.value``: the first trial to finish would stop it again."""


class StudyRunning(Conflict):
    """The study has trials running; it can be deleted once they stopped."""


class DatasetNotFound(NotFound):
    pass


class DatasetInUse(Conflict):
    pass


class InvalidUpload(DomainError):
    """An uploaded file cannot become a dataset; the message names the problem."""


class Unauthorized(DomainError):
    """No key, an unknown key or a revoked key."""


class Forbidden(DomainError):
    """A valid key that may not do this (only the admin key manages keys)."""


class BestModelNotFound(NotFound):
    """The study has no saved best model (yet): it is not completed, or no trial completed."""


class BestModelFileMissing(BestModelNotFound):
    """The study has a best model, but this process's artifact store lacks its file: the worker
    that saved it wrote to another store (its own REGTUNE_ARTIFACT_DIR).

    A 404 like its parent, not a 5xx: the file is not found here and a retry will not find it
    (a 503 would invite one), as optuna-dashboard answers a missing artifact; the message names
    the deployment fix and the API logs it for the operator.
    """


class ArtifactStoreUnavailable(DomainError):
    """The artifact store failed to open a file it may well hold (access denied, unreachable,
    an I/O error): a 503 to retry, unlike a file it lacks."""


class BestModelFileDamaged(DomainError):
    """The artifact store holds the study's model file, but its size or SHA-256 is not the one
    its record saved: it was changed in the store since. The server's stored data is damaged, no
    fault of the caller's, and a retry reads the same bytes: a 500, never the file sent as the
    model; the message says what differs and what an operator can do."""


class InvalidSettings(DomainError):
    """``REGTUNE_*`` variables that cannot be used: each field names one, its rule, its value."""


class SchemaTooNew(DomainError):
    """The database was upgraded by a newer regtune: its schema revision is one this code has
    no migration for, so it would misread what the newer code writes."""


class SchemaChangeRefused(DomainError):
    """The database's schema needs creating or upgrading and the database refused the change to
    the role regtune connects as (no right to create in the schema): the migration has to run
    as a role that may, so waiting or retrying would change nothing."""


class LoginRefused(DomainError):
    """PostgreSQL refused the login of the role regtune connects as (a wrong password, an
    unknown role, no ``pg_hba.conf`` entry for it), or has no database of the name regtune
    connects to: the same login is refused every time, so waiting or retrying would change
    nothing."""


class DefinitionTooNew(DomainError):
    """A stored study definition names fields or values this code does not know: a newer
    regtune accepted it (a rolling upgrade, or an older worker left in the pool). It is no fault
    of the study's, so the study is left to the processes that know it, never failed."""
