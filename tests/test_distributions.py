"""What the sdist and the wheel carry: the licence text the project declares, the package whole
(every module and data file, nothing of tests/ or bench/), and in the sdist nothing beyond what
the wheel is built from."""

from __future__ import annotations

import hashlib
import tomllib

from tests.packaging import Distributions
from tests.support import ROOT

APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
"""The Apache License 2.0 as the Apache Software Foundation publishes it (LICENSE-2.0.txt), byte
for byte: no project header, the appendix's placeholders as they are."""
DIST_INFO = "regtune-0.1.0.dist-info"


def test_the_licence_is_the_apache_2_0_text_the_project_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert hashlib.sha256((ROOT / "LICENSE").read_bytes()).hexdigest() == APACHE_2_0_SHA256


def test_the_wheel_and_the_sdist_carry_the_licence(distributions: Distributions) -> None:
    text = (ROOT / "LICENSE").read_bytes()
    wheel = distributions.wheel
    assert distributions.read(wheel, f"{DIST_INFO}/licenses/LICENSE") == text
    metadata = distributions.read(wheel, f"{DIST_INFO}/METADATA").decode().splitlines()
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata
    assert distributions.read(distributions.sdist, "LICENSE") == text


def test_the_sdist_holds_only_what_the_wheel_is_built_from(distributions: Distributions) -> None:
    files = distributions.files(distributions.sdist)
    tops = {name.split("/")[0] for name in files}
    assert tops == {
        "LICENSE",
        "MANIFEST.in",
        "PKG-INFO",
        "README.md",
        "pyproject.toml",
        "regtune",
        "regtune.egg-info",
        "setup.cfg",
    }, tops
    wheel = distributions.files(distributions.wheel)
    assert [f for f in files if f.startswith("regtune/")] == [
        f for f in wheel if f.startswith("regtune/")
    ]
    # pip building from the sdist makes the same wheel as from the checkout
    assert distributions.files(distributions.wheel_from_sdist) == wheel


def test_the_wheel_holds_every_module_and_data_file_and_nothing_else(
    distributions: Distributions,
) -> None:
    files = set(distributions.files(distributions.wheel))
    checkout = {
        f"regtune/{path.relative_to(ROOT)}"
        for part in ("service", "worker")
        for path in (ROOT / part).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    package = {
        f"regtune/{path.name}"
        for path in (ROOT / "regtune").iterdir()
        if path.is_file() and not path.is_symlink()  # __init__.py, __main__.py, py.typed
    }
    assert {f for f in files if not f.startswith(f"{DIST_INFO}/")} == checkout | package
    for wanted in (
        "regtune/service/py.typed",
        "regtune/worker/py.typed",
        "regtune/service/api/templates/report.html.j2",
        "regtune/service/api/static/plotly.js-LICENSE",
        "regtune/service/store/migrations/env.py",
        "regtune/service/store/migrations/script.py.mako",
    ):
        assert wanted in files, wanted
    assert any(f.startswith("regtune/service/store/migrations/versions/") for f in files)
    assert not any(f.startswith(("tests/", "bench/", "regtune/tests/")) for f in files)
