"""Optuna's artifact store protocol and the prefix of the study attribute an upload records."""

from optuna.artifacts._protocol import ArtifactStore
from optuna.artifacts._upload import ARTIFACTS_ATTR_PREFIX

__all__ = ["ARTIFACTS_ATTR_PREFIX", "ArtifactStore"]
