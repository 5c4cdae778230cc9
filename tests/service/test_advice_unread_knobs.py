"""A fixed ``search_space.learning_rate`` or ``batch_size`` under the exact solver is warned of as
never read, as ``training.batch_size`` there is; it was accepted without a word. A default the
definition did not write (``learning_rate``'s 1e-2) is not."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

LINEAR: dict[str, Any] = {
    "name": "enet",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "linear"},
    "search_space": {"lambda": {"low": 1e-4, "high": 1.0, "log": True}},
    "budget": {"n_trials": 4},
}
UNREAD = (
    "the minibatch trainer's settings, which the exact solver this study trains with "
    "(training.solver exact) does not read: it solves each fold full-batch and "
    "deterministically to training.tol within training.max_iter iterations, without early "
    "stopping; leave them out, or give training.solver minibatch to use them"
)


def _warnings(api: TestClient, **space: Any) -> list[str]:
    """The warnings of the study created with ``space`` added, as created and as read back."""
    definition = LINEAR | {"search_space": LINEAR["search_space"] | space}
    created = api.post("/v1/studies", json=definition | {"name": f"enet-{len(space)}"})
    assert created.status_code == 201, created.text
    warnings: list[str] = created.json()["warnings"]
    assert api.get(f"/v1/studies/{created.json()['id']}").json()["warnings"] == warnings
    return warnings


def test_fixed_minibatch_knobs_under_the_exact_solver_are_warned_as_never_read(
    api: TestClient,
) -> None:
    assert _warnings(api, learning_rate=0.1, batch_size=32) == [
        f"search_space.learning_rate, search_space.batch_size: {UNREAD}"
    ]


def test_knobs_the_definition_left_out_are_not_warned_of(api: TestClient) -> None:
    assert _warnings(api) == []
