"""A SQLite file that cannot be written is a setting to change, not an outage: migrate, api,
serve and worker refuse it in one line and exit 2 (was: migrate said the schema was current,
the others started and retried every write for ever, the API's requests a 503 "retry in 5 s").

The file or its folder is made immutable (``chattr +i``): the tests run as root, whom
permission bits do not stop."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from regtune.service.errors import InvalidSettings
from regtune.service.store.migrate import upgrade
from tests.support import Processes, free_port, process_env, regtune

BOX = set("│╭╮╰╯─┌┐└┘")
"""Rich's traceback boxes."""


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``path`` (a file or a folder) immutable while the block runs; skips the test where
    ``chattr`` cannot set that (no chattr, a file system without the flag, no root)."""
    try:
        subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        words = getattr(exc, "stderr", None) or str(exc)
        pytest.skip(f"cannot make {path} immutable with chattr: {words.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def _refusal(path: Path, words: str) -> str:
    url = f"sqlite:///{path}"
    return (
        f"error: REGTUNE_DATABASE_URL: the SQLite file {str(path)!r} cannot be written ({words}): "
        f"the file or its folder {str(path.parent)!r} is read-only for this user or immutable "
        "(lsattr), and regtune writes the database and SQLite its -wal and -shm files beside it "
        f"(make both writable, or name another file), got {url!r}"
    )


@pytest.mark.parametrize("command", ["migrate", "worker", "api", "serve"])
def test_an_immutable_database_file_is_refused_at_start(
    tmp_path: Path, processes: Processes, command: str
) -> None:
    database = tmp_path / "regtune.db"
    upgrade(f"sqlite:///{database}")
    options = {"serve": ["--workers", "1", "--api-workers", "1"], "api": ["--workers", "1"]}
    args = [*options.get(command, [])]
    if command in ("api", "serve"):
        args += ["--port", str(free_port())]
    with immutable(database):
        result = processes.run(
            regtune(command, *args), env=process_env(f"sqlite:///{database}"), timeout=120
        )

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and not BOX & set(result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines == [_refusal(database, "attempt to write a readonly database")], result.stderr


@pytest.mark.parametrize("exists", [True, False], ids=["existing", "new"])
def test_a_database_in_an_immutable_folder_is_refused_before_migrating(
    tmp_path: Path, exists: bool
) -> None:
    """SQLite makes its -wal and -shm files beside the database: in a folder it cannot write,
    every statement fails (an existing file) or the file cannot be made (a new one)."""
    folder = tmp_path / "data"
    folder.mkdir()
    database = folder / "regtune.db"
    if exists:
        upgrade(f"sqlite:///{database}")
    with immutable(folder), pytest.raises(InvalidSettings) as refused:
        upgrade(f"sqlite:///{database}")

    (problem,) = refused.value.fields
    assert f"REGTUNE_DATABASE_URL: {problem.rule}" == _refusal(
        database, "unable to open database file"
    ).removeprefix("error: ")
    assert sorted(p.name for p in folder.iterdir()) == (["regtune.db"] if exists else [])


def test_a_writable_database_is_left_as_it_was(tmp_path: Path) -> None:
    """The probe's write is rolled back: the file is the one migrated, byte for byte."""
    database = tmp_path / "regtune.db"
    upgrade(f"sqlite:///{database}")
    before = database.read_bytes()

    upgrade(f"sqlite:///{database}")

    assert database.read_bytes() == before
