"""``REGTUNE_*`` variables that are no setting but read like one (``REGTUNE_HEARTBEAT_INTERVALL``),
which pydantic-settings passes over without a word."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from regtune.service.settings import Settings


def misspelt_variables(environ: Mapping[str, str]) -> list[str]:
    """A line for each ``REGTUNE_*`` variable of ``environ`` that is no setting but reads like
    one (``REGTUNE_HEARTBEAT_INTERVALL``): pydantic-settings passes over it without a word, so
    the part runs with the default the operator meant to change."""
    prefix = str(Settings.model_config.get("env_prefix", "")).upper()
    names = [name.upper() for name in Settings.model_fields]
    lines = []
    for variable in sorted(environ):
        given = variable.upper()
        if not given.startswith(prefix) or given[len(prefix) :].lower() in Settings.model_fields:
            continue
        meant = difflib.get_close_matches(given[len(prefix) :], names, n=1, cutoff=0.85)
        if meant:
            lines.append(
                f"{variable} is no setting and is ignored: did you mean {prefix}{meant[0]}?"
            )
    return lines
