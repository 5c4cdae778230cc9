"""What the report page needs besides its figures, each shipped once per page: plotly's
JavaScript (the cartesian partial bundle, a third of the full one, which is what a browser
spends its first open compiling) and the figures' shared look (one plotly template); and each
figure as a ``<div>`` plus the call that draws it.

The partial bundle is plotly.js's own (``plotly.js-cartesian-dist-min``, MIT, LICENSE beside
it), vendored in ``static/`` at the version plotly.py draws for: its figures' JSON follows that
version's schema, so when the installed plotly.py expects another version the page falls back
to plotly.py's full bundle (and tests/service/test_report_assets.py fails).
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from importlib import resources
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import Markup
from plotly.io.json import to_json_plotly
from plotly.offline import get_plotlyjs, get_plotlyjs_version

log = logging.getLogger(__name__)
BUNDLE = "plotly-cartesian.min.js"
"""scatter, bar, heatmap, contour, histogram, box…: every trace type the report draws."""
TEMPLATE = "plotly_white"
CONFIG = {"displaylogo": False, "responsive": True}


def bundle_version(text: str) -> str | None:
    """The plotly.js version a bundle's banner names."""
    found = re.search(r"plotly\.js \([a-z -]+\) v(\d+\.\d+\.\d+)", text[:400])
    return found.group(1) if found else None


@lru_cache(maxsize=1)
def plotly_js() -> Markup:
    """The JavaScript to inline: the partial bundle when it matches plotly.py's plotly.js."""
    text = (resources.files(__package__ or "") / "static" / BUNDLE).read_text(encoding="utf-8")
    if bundle_version(text) != get_plotlyjs_version():
        log.warning(
            "the vendored %s is v%s, plotly.py draws for v%s: the report inlines the full bundle",
            BUNDLE,
            bundle_version(text),
            get_plotlyjs_version(),
        )
        text = get_plotlyjs()
    return Markup(text)


@lru_cache(maxsize=1)
def template_json() -> Markup:
    """The figures' shared template as JSON, applied in the page rather than per figure (plotly
    validates a template in Python at ~14 ms a figure, and each figure's JSON would carry 7 kB)."""
    return Markup(_script_safe(json.dumps(pio.templates[TEMPLATE].to_plotly_json())))


def _script_safe(text: str) -> str:
    """JSON that cannot end the ``<script>`` it sits in (an input named ``</script>``)."""
    return text.replace("</", "<\\/")


def plot_div(fig: go.Figure, *, number: int = 0) -> Markup:
    """A figure as a ``<div>`` and the script that draws it with the page's template; numbers go
    as typed arrays (base64) where the figure holds numpy arrays. ``number``: the figure's place
    on its page, which names the ``<div>``, so that a page built twice of the same study is the
    same bytes (a count kept by the process named them anew at each build: a HEAD's
    Content-Length was not its GET's)."""
    figure: dict[str, Any] = fig.to_plotly_json()
    layout = dict(figure.get("layout") or {})
    layout.pop("template", None)
    height = int(layout.get("height") or 450)
    payload = to_json_plotly({"data": figure.get("data", []), "layout": layout})
    div = f"regtune-plot-{number}"
    return Markup(
        f'<div id="{div}" class="plotly-graph-div" style="height:{height}px; width:100%;"></div>'
        f'<script>draw("{div}", {_script_safe(payload)});</script>'
    )


def config_json() -> Markup:
    return Markup(json.dumps(CONFIG))
