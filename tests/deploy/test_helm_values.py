"""Values an operator gives the chart: names it makes of them, what it refuses as regtune would
refuse it, what it passes on to the pods and what an upgrade restarts."""

from __future__ import annotations

import pytest

from tests.deploy.test_helm import (
    KUBERNETES_VERSIONS,
    VALUE_SETS,
    manifests,
    template,
    validate,
)

DASHBOARD = ("--set", "dashboard.enabled=true")


@pytest.mark.parametrize("length", [53, 56, 62, 63])
def test_a_long_fullname_keeps_every_components_name_apart(length: int, helm: str) -> None:
    """Names are cut to 63 characters by cutting the fullname, not the component's suffix (was:
    a fullnameOverride of 62 or 63 characters named the API, worker, dashboard and migrate
    objects all alike)."""
    fullname = "regtune-" + "x" * (length - len("regtune-"))
    override = ("--set", f"fullnameOverride={fullname}")
    docs = manifests(template(*VALUE_SETS["defaults"], *DASHBOARD, *override))
    names: dict[str, set[str]] = {}
    for doc in docs:
        name = doc["metadata"]["name"]
        component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        assert len(name) <= 63, name
        if component != "secrets":
            assert name.endswith(f"-{component}"), name
            assert fullname.startswith(name.removesuffix(f"-{component}")), name
        names.setdefault(doc["kind"], set()).add(name)
        for version in KUBERNETES_VERSIONS:
            validate(doc, version)
    kinds = [doc["kind"] for doc in docs]
    assert {kind: len(found) for kind, found in names.items()} == {
        kind: kinds.count(kind) for kind in names
    }, "two objects of one kind share a name"
