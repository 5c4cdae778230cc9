"""regtune: hyperparameter tuning for regularized models, as a service.

The client is the entry point a user needs (``pip install .`` in a checkout)::

    from pathlib import Path

    import regtune

    with regtune.Client("http://127.0.0.1:8000") as rt:
        study = rt.submit(Path("examples/diabetes-enet.yaml"))
        rt.wait(study.id)
        print(rt.best_params(study.id), rt.best_value(study.id))
        frame = rt.trials_dataframe(study.id)  # pandas, with Optuna's columns

The names below are imported on first use, so ``import regtune.service...`` or
``regtune.worker...`` (the server and the worker, installed with the ``server`` and ``worker``
extras) never loads the client, and ``import regtune`` loads nothing but this module.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from regtune.service.api.schemas.datasets import DatasetOut
    from regtune.service.api.schemas.studies import StudyOut
    from regtune.service.api.schemas.trials import TrialOut
    from regtune.service.api.schemas.workers import WorkerOut
    from regtune.service.client.errors import (
        ApiDidNotAnswer,
        ApiError,
        ApiUnreachable,
        BrokenDownload,
        ClientClosed,
        ClientError,
        InvalidArgument,
        UnexpectedAnswer,
    )
    from regtune.service.client.http import Client

__all__ = [
    "ApiDidNotAnswer",
    "ApiError",
    "ApiUnreachable",
    "BrokenDownload",
    "Client",
    "ClientClosed",
    "ClientError",
    "DatasetOut",
    "InvalidArgument",
    "StudyOut",
    "TrialOut",
    "UnexpectedAnswer",
    "WorkerOut",
]

_HOME = {
    "ApiDidNotAnswer": "regtune.service.client.errors",
    "ApiError": "regtune.service.client.errors",
    "ApiUnreachable": "regtune.service.client.errors",
    "BrokenDownload": "regtune.service.client.errors",
    "Client": "regtune.service.client.http",
    "ClientClosed": "regtune.service.client.errors",
    "ClientError": "regtune.service.client.errors",
    "InvalidArgument": "regtune.service.client.errors",
    "UnexpectedAnswer": "regtune.service.client.errors",
    "DatasetOut": "regtune.service.api.schemas.datasets",
    "StudyOut": "regtune.service.api.schemas.studies",
    "TrialOut": "regtune.service.api.schemas.trials",
    "WorkerOut": "regtune.service.api.schemas.workers",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":  # the installed distribution's, as ``regtune --version`` says it
        from importlib.metadata import version

        return version("regtune")
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'regtune' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names, each once whether it was imported yet or not, and the module's own
    dunders; not the names this module uses itself (``Any``, ``import_module``, ``_HOME``)."""
    dunders = (name for name in globals() if name.startswith("__") and name.endswith("__"))
    return sorted({*__all__, "__version__", *dunders})
