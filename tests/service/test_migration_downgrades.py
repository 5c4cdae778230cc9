"""Each downgrade takes away only what its migration added: the rows of the tables it alters
stay, a study's claims included. SQLite alters a table by copying it, and dropping the old
``regtune_studies`` deleted its claims (``ON DELETE CASCADE``) with it."""

from __future__ import annotations

from sqlalchemy import text

from regtune.service.store.db import make_engine
from regtune.service.store.migrate import upgrade
from tests.service.test_schema_privileges import _downgrade
from tests.support import add_claimed_study

STEPS = ["0008", "0007", "0006", "0005", "0004", "0003"]
"""Every revision down to the one before the claims' ``reserved`` column (0004)."""


def test_every_downgrade_keeps_the_studies_and_their_claims(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        add_claimed_study(engine)
        kept = []
        for revision in STEPS:
            _downgrade(database_url, revision)
            with engine.connect() as connection:
                studies = connection.execute(text("SELECT count(*) FROM regtune_studies"))
                claims = connection.execute(text("SELECT count(*) FROM regtune_claims"))
                kept.append((revision, studies.scalar(), claims.scalar()))
        assert kept == [(revision, 1, 1) for revision in STEPS]
        upgrade(database_url)  # and back up, the rows with it
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT study_id, seq FROM regtune_claims")).all()
        assert [tuple(row) for row in rows] == [("claimed", 1)]
    finally:
        engine.dispose()
