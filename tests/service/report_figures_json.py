"""The report page's figures as plotly JSON, read back from the page: the tests of what a figure
draws (its traces' points, its axes' titles) read them here rather than search the page's
text."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import numpy as np

DRAW = re.compile(r'<script>draw\("regtune-plot-\d+", (.*?)\);</script>', re.S)


def figures(html: str) -> dict[str, dict[str, Any]]:
    """The page's figures by title, each ``{"data": [...], "layout": {...}}`` with its arrays
    as lists (plotly writes numpy arrays as base64 typed arrays)."""
    found = {}
    for payload in DRAW.findall(html):
        figure = _arrays(json.loads(payload))
        title = figure["layout"].get("title")
        found[title["text"] if isinstance(title, dict) else str(title)] = figure
    return found


def titled(html: str, start: str) -> dict[str, Any]:
    """The page's one figure whose title starts with ``start``."""
    matches = [figure for title, figure in figures(html).items() if title.startswith(start)]
    assert len(matches) == 1, (start, list(figures(html)))
    return matches[0]


def trace(figure: dict[str, Any], name: str) -> dict[str, Any]:
    """The figure's one trace named ``name``."""
    matches = [t for t in figure["data"] if t.get("name") == name]
    assert len(matches) == 1, (name, [t.get("name") for t in figure["data"]])
    return matches[0]


def _arrays(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) >= {"dtype", "bdata"}:
            flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            shape = value.get("shape")
            if isinstance(shape, str):
                flat = flat.reshape([int(n) for n in shape.split(",")])
            return flat.tolist()
        return {k: _arrays(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_arrays(v) for v in value]
    return value
