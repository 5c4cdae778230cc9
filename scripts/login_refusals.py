"""Write ``service/store/login_refusals.py``: PostgreSQL's words for a refused login, and for a
database that does not exist, in every language its server catalogs on this machine hold.

libpq gives no SQLSTATE for a connection that failed to open, only the server's message, in the
language of the server's ``lc_messages``; these are the templates to recognise it by. Run again
when PostgreSQL's major version changes:

    python scripts/login_refusals.py [/usr/share/locale]
"""

from __future__ import annotations

import gettext
import re
import sys
from pathlib import Path

MSGIDS = re.compile(
    r"authentication failed for user|^no pg_hba\.conf entry|^pg_hba\.conf rejects"
    r'|^role "%s" does not exist$|^role "%s" is not permitted to log in$'
)
"""The server's messages for a login it refuses (``src/backend/libpq/auth.c``, ``postinit.c``)."""
MISSING_DATABASE = 'database "%s" does not exist'
"""The server's message for a connection to a database it does not have (``postinit.c``)."""
CATALOG = "postgres-15.mo"
TARGET = Path(__file__).resolve().parents[1] / "service" / "store" / "login_refusals.py"


def templates(locale_dir: Path) -> dict[str, list[str]]:
    """Language → the translated templates of ``MSGIDS``, in msgid order."""
    found: dict[str, list[str]] = {}
    for path in sorted(locale_dir.glob(f"*/LC_MESSAGES/{CATALOG}")):
        with path.open("rb") as file:
            catalog = gettext.GNUTranslations(file)
        ids = sorted(k for k in catalog._catalog if isinstance(k, str) and MSGIDS.search(k))
        words = [catalog.gettext(k) for k in ids]
        found[path.parts[-3]] = [w for w, k in zip(words, ids, strict=True) if w != k]
    return found


def missing_database(locale_dir: Path) -> dict[str, str]:
    """Language → its words for ``MISSING_DATABASE``, where a catalog translates it."""
    found: dict[str, str] = {}
    for path in sorted(locale_dir.glob(f"*/LC_MESSAGES/{CATALOG}")):
        with path.open("rb") as file:
            words = gettext.GNUTranslations(file).gettext(MISSING_DATABASE)
        if words != MISSING_DATABASE:
            found[path.parts[-3]] = words
    return found


def main() -> None:
    locale_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/usr/share/locale")
    found = templates(locale_dir)
    if not found:
        raise SystemExit(f"no {CATALOG} under {locale_dir}")
    lines = [
        "# ruff: noqa: E501",
        '"""PostgreSQL\'s words for a refused login, and for a database it does not have, by',
        "language: what ``backoff.login_refusal`` recognises when libpq gives no SQLSTATE (a",
        "connection that failed to open) and the server's ``lc_messages`` is not English. ``%s``",
        "stands for a name. Written by ``scripts/login_refusals.py`` from PostgreSQL 15's",
        'catalogs; do not edit."""',
        "",
        "TRANSLATED: dict[str, tuple[str, ...]] = {",
    ]
    for language, words in found.items():
        lines.append(f"    {language!r}: (")
        lines += [f"        {w!r}," for w in words]
        lines.append("    ),")
    lines.append("}")
    lines += ["", "MISSING_DATABASE: dict[str, str] = {"]
    lines += [
        f"    {language!r}: {words!r}," for language, words in missing_database(locale_dir).items()
    ]
    lines.append("}")
    TARGET.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
