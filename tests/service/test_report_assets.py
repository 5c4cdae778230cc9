"""The report's assets: the vendored plotly.js partial bundle is the version plotly.py draws
for (a figure's JSON follows that version's schema), and a figure cannot end its script."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs_version

from regtune.service.api import report_assets


def test_the_vendored_bundle_is_the_plotly_js_that_plotly_py_draws_for() -> None:
    js = str(report_assets.plotly_js())
    assert report_assets.bundle_version(js) == get_plotlyjs_version()
    assert "(cartesian - minified)" in js[:200]  # the partial bundle, not the full fallback
    assert len(js) < 2_000_000


def test_a_figure_cannot_end_its_script_and_carries_no_template() -> None:
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name="</script><script>alert(1)"))
    div = str(report_assets.plot_div(fig))
    body = div.split("<script>", 1)[1]
    assert body.count("</script>") == 1 and body.endswith("</script>")  # the name is escaped
    assert '"template"' not in body  # the page applies one template to every figure
