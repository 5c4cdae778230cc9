"""The tables of PostgreSQL's translated login refusals and missing databases
(``service/store/login_refusals.py``) are what ``scripts/login_refusals.py`` writes from the
server catalogs installed here: a PostgreSQL whose catalogs changed words shows up as this
test's difference."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from regtune.service.store.login_refusals import MISSING_DATABASE, TRANSLATED

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "login_refusals.py"
LOCALES = Path("/usr/share/locale")


def test_the_table_is_what_the_installed_catalogs_say() -> None:
    script = runpy.run_path(str(SCRIPT))
    if not list(LOCALES.glob(f"*/LC_MESSAGES/{script['CATALOG']}")):
        pytest.skip(f"no {script['CATALOG']} under {LOCALES}")
    found = script["templates"](LOCALES)
    assert {language: tuple(words) for language, words in found.items()} == TRANSLATED
    assert script["missing_database"](LOCALES) == MISSING_DATABASE
