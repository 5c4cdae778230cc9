"""The table of PostgreSQL's translated login refusals (``service/store/login_refusals.py``)
is what ``scripts/login_refusals.py`` writes from the server catalogs installed here: a
PostgreSQL whose catalogs changed words shows up as this test's difference."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from regtune.service.store.login_refusals import TRANSLATED

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "login_refusals.py"
LOCALES = Path("/usr/share/locale")


def test_the_table_is_what_the_installed_catalogs_say() -> None:
    script = runpy.run_path(str(SCRIPT))
    if not list(LOCALES.glob(f"*/LC_MESSAGES/{script['CATALOG']}")):
        pytest.skip(f"no {script['CATALOG']} under {LOCALES}")
    found = script["templates"](LOCALES)
    assert {language: tuple(words) for language, words in found.items()} == TRANSLATED
