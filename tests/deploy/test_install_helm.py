"""``scripts/install_helm.py`` takes its destination as an argument and answers ``--help``: it
wrote helm to a file named ``--help`` (its first argument, whatever it was)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import ROOT


def run(monkeypatch: pytest.MonkeyPatch, script: ModuleType, *argv: str) -> None:
    """The script's ``main()`` on the command line ``install_helm.py *argv``."""
    monkeypatch.setattr(sys, "argv", ["install_helm.py", *argv])
    script.main()


def install_helm() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "install_helm", ROOT / "scripts" / "install_helm.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("argv", [["--help"], ["-h"]])
def test_help_says_how_and_installs_nothing(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    script = install_helm()
    monkeypatch.setattr(script, "install", lambda dest: pytest.fail(f"installed to {dest}"))
    with pytest.raises(SystemExit) as exit_:
        run(monkeypatch, script, *argv)
    assert exit_.value.code == 0
    assert "[-h] [dest]" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_an_unknown_option_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    script = install_helm()
    monkeypatch.setattr(script, "install", lambda dest: pytest.fail(f"installed to {dest}"))
    with pytest.raises(SystemExit) as exit_:
        run(monkeypatch, script, "--dest", "bin")
    assert exit_.value.code == 2
    assert "unrecognized arguments: --dest" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_directory_gets_helm_in_it_and_a_path_is_the_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = install_helm()
    installed: list[Path] = []
    monkeypatch.setattr(script, "install", installed.append)
    run(monkeypatch, script, str(tmp_path))
    # as `make helm` passes it: the binary's path, not there yet
    run(monkeypatch, script, str(tmp_path / "bin" / "helm"))
    # a folder not made yet, said so by its slash: helm in it (was a file named as the folder)
    run(monkeypatch, script, f"{tmp_path / 'new'}/")
    assert installed == [tmp_path / "helm", tmp_path / "bin" / "helm", tmp_path / "new" / "helm"]


def test_a_directory_holding_a_working_helm_is_left_as_it_is(
    tmp_path: Path, helm: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.copy2(helm, tmp_path / "helm")
    caplog.set_level("INFO")
    run(monkeypatch, install_helm(), str(tmp_path))
    assert caplog.messages == [f"{tmp_path / 'helm'} is there"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["helm"]
