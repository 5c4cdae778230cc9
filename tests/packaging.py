"""The project as a user installs it: its wheel, and ``pip install .`` (no extras) in a fresh
virtual environment, for the tests of what a client install holds and runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tests.support import ROOT, owned

SOURCES = ("pyproject.toml", "README.md", "regtune", "service", "worker")
"""What the build reads (regtune/ holds the links to service/ and worker/)."""


def clean_env(**extra: str) -> dict[str, str]:
    """This environment less what would put the checkout's modules (and its metadata) on the
    path."""
    kept = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return owned({**kept, **extra})


def pip(*args: str, cwd: Path | None = None) -> None:
    """This environment's pip (its caches too), quiet, failing with its output."""
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    done = subprocess.run(
        command, env=clean_env(), cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{' '.join(command)}\\n{done.stdout}\\n{done.stderr}"


@dataclass(frozen=True)
class ClientInstall:
    wheel: Path
    venv: Path

    @classmethod
    def make(cls, tmp: Path) -> ClientInstall:
        """A copy of the sources (the checkout stays clean of build/), its wheel, and a fresh
        environment where ``pip install`` of that wheel, as ``pip install .`` builds and
        installs it, brought the client's dependencies and nothing else."""
        source = tmp / "source"
        source.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for name in SOURCES:
            path = ROOT / name
            if path.is_dir():
                shutil.copytree(path, source / name, symlinks=True, ignore=ignore)
            else:
                shutil.copy2(path, source / name)
        # built with this environment's setuptools (no isolated build environment to fill)
        pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(source))
        (wheel,) = (tmp / "dist").glob("regtune-*.whl")
        venv = tmp / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        pip("--python", str(venv / "bin" / "python"), "install", str(wheel))
        return cls(wheel, venv)

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(**extra)

    def wheel_files(self) -> list[str]:
        with zipfile.ZipFile(self.wheel) as wheel:
            return wheel.namelist()

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.bin("python"), "-c", code],
            env=self.env(),
            cwd=self.venv,  # not the checkout, whose regtune/ would come first on the path
            capture_output=True,
            text=True,
            timeout=120,
        )

    def regtune(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.bin("regtune"), *args],
            env=self.env(**env),
            cwd=self.venv,
            capture_output=True,
            text=True,
            timeout=300,
        )
