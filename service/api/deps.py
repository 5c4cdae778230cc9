"""Dependencies that do the lookups (and the 404s) so routes stay one-liners."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from service import studies
from service.tables import StudyRow


def tenant() -> str:
    """The caller's tenant. Without API keys configured, everyone is the default tenant."""
    return "default"


TenantDep = Annotated[str, Depends(tenant)]


def study(
    study_id: Annotated[str, Path(max_length=64, description="study id")], tenant: TenantDep
) -> StudyRow:
    return studies.get_row(study_id, tenant=tenant)


StudyDep = Annotated[StudyRow, Depends(study)]
