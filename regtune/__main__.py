"""``python -m regtune``: the ``regtune`` command, for an environment whose scripts are not on
the PATH."""

from regtune.service.cli.app import app

if __name__ == "__main__":
    app()
