"""The project as a user installs it: its wheel, and ``pip install .`` (no extras) in a fresh
virtual environment, for the tests of what a client install holds and runs; its sdist and wheel
built from a copy of the checkout, for the tests of what each carries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tests.support import ROOT, owned

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "regtune", "service", "worker")
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


CHECKOUT_LEFT_OUT = shutil.ignore_patterns(
    ".git",
    ".venv",
    "__pycache__",
    "*.pyc",
    "*.egg-info",
    "build",
    "dist",
    ".*_cache",
    ".hypothesis",
    "regtune-artifacts",
    "test-artifacts",
    "*.db",
    "*.db-*",
)
"""What a copy of the checkout leaves out: version control, environments, caches and what runs
leave behind (never in a distribution either way). The tests, benchmarks and docs stay, so that
a file setuptools would pick up by default shows."""


def build_sdist(source: Path, out: Path) -> Path:
    """``source``'s sdist, by this environment's setuptools (as ``python -m build --sdist
    --no-isolation`` builds it)."""
    code = (
        "import sys\nfrom setuptools import build_meta\nprint(build_meta.build_sdist(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        env=clean_env(),
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out / done.stdout.strip().splitlines()[-1]


def build_wheel(source: Path, out: Path) -> Path:
    """``source``'s wheel, as ``pip wheel .`` builds it."""
    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(source))
    (wheel,) = out.glob("regtune-*.whl")
    return wheel


@dataclass(frozen=True)
class Distributions:
    """The sdist and the wheel of a copy of the checkout, and the wheel built from that sdist
    (as pip builds one from an sdist)."""

    sdist: Path
    wheel: Path
    wheel_from_sdist: Path

    @classmethod
    def make(cls, tmp: Path) -> Distributions:
        checkout = tmp / "checkout"
        shutil.copytree(ROOT, checkout, symlinks=True, ignore=CHECKOUT_LEFT_OUT)
        sdist = build_sdist(checkout, tmp / "sdist")
        wheel = build_wheel(checkout, tmp / "wheel")
        unpacked = tmp / "unpacked"
        with tarfile.open(sdist) as archive:
            archive.extractall(unpacked, filter="data")
        (root,) = unpacked.iterdir()
        return cls(sdist, wheel, build_wheel(root, tmp / "wheel-from-sdist"))

    @staticmethod
    def files(archive: Path) -> list[str]:
        """The files in ``archive`` (an sdist: without its top folder ``regtune-<version>/``)."""
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as wheel:
                return sorted(n for n in wheel.namelist() if not n.endswith("/"))
        with tarfile.open(archive) as sdist:
            return sorted(m.name.split("/", 1)[1] for m in sdist.getmembers() if m.isfile())

    @staticmethod
    def read(archive: Path, name: str) -> bytes:
        """One file of ``archive``, by its name in :meth:`files`."""
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as wheel:
                return wheel.read(name)
        with tarfile.open(archive) as sdist:
            top = sdist.getnames()[0].split("/")[0]
            member = sdist.extractfile(f"{top}/{name}")
            assert member is not None, name
            return member.read()
