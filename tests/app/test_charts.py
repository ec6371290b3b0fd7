"""Figures sent as plain specs (``charts.Spec``) must reach the browser exactly as the same
figure built through ``go.Figure`` would: same traces, same layout, the same default template,
numpy arrays base64-encoded."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from app.components import charts
from mind_core.serving.retrieval import Recommendation


def sent(fig) -> dict:
    """What ``st.plotly_chart`` sends for ``fig`` (plotly.tools' reading, then to_json)."""
    import plotly.tools

    return json.loads(pio.to_json(plotly.tools.return_figure_from_figure_or_data(
        fig, validate_figure=True), validate=False))


def as_plotly_figure(spec: charts.Spec) -> go.Figure:
    """The same traces and layout through plotly's own validated figure."""
    d = spec.to_dict()
    layout = {k: v for k, v in d["layout"].items() if k != "template"}
    return go.Figure({"data": d["data"], "layout": layout})


def items_table(n_items=40) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    items = pd.DataFrame({"title": [f"Movie <{i}>" for i in range(n_items)],
                          "genres": [f"Genre {i % 5}" for i in range(n_items)],
                          "primary_code": [i % 5 + 1 for i in range(n_items)]})
    return items, rng.normal(size=(n_items, 2)).astype(np.float32)


def test_the_map_is_sent_as_plotly_would_send_it():
    items, xy = items_table()
    rec = Recommendation(user_row=3, per_interest=[[(5, 0.9), (7, 0.8)], [], [(11, 0.5)]],
                         merged=[(5, 0.9, 0), (7, 0.8, 0), (11, 0.5, 2)],
                         active=np.array([True, False, True]), history=[1, 2, 3])
    layer = charts.catalogue_trace(items, xy)
    interests = np.array([[0.1, 0.2], [np.nan, np.nan], [0.3, -0.4]])
    fig = charts.umap_figure(layer, items, xy, interests, rec.active, rec.per_interest,
                             rec.history, held_out=9)
    got = sent(fig)
    assert got == sent(as_plotly_figure(fig))
    assert got["layout"]["template"] == sent(go.Figure())["layout"]["template"]
    # the catalogue's coordinates travel base64-encoded; every movie but padding is there
    assert set(got["data"][0]["x"]) == {"dtype", "bdata"}
    assert got["data"][0]["customdata"] == {"dtype": "i1", "bdata": got["data"][0][
        "customdata"]["bdata"]}
    names = [t["name"] for t in got["data"]]
    assert "Interest 2 retrieves" not in names  # inactive
    assert {"Interest 1 retrieves", "Interest 3 retrieves", "Held-out movie"} <= set(names)
    # the cached layer itself is not changed by building figures from it
    assert charts.catalogue_trace(items, xy)["hovertext"] == layer["hovertext"]


def test_the_jaccard_heatmap_matches_plotlys():
    m = np.array([[1.0, 0.25], [0.25, 1.0]])
    spec = charts.jaccard_heatmap(m, ["K=1", "K=4"])
    reference = go.Figure(go.Heatmap(
        z=m, x=["K=1", "K=4"], y=["K=1", "K=4"], colorscale="Greens", zmin=0, zmax=1,
        text=[[f"{v:.2f}" for v in row] for row in m], texttemplate="%{text}",
        hovertemplate="%{y} vs %{x}: %{z:.2f}<extra></extra>", showscale=False))
    reference.update_layout(height=200, margin=dict(l=10, r=10, t=10, b=10),
                            font=charts._FONT, yaxis=dict(autorange="reversed"))
    got, want = sent(spec), sent(reference)
    # z goes as a list here, as an encoded array from go.Heatmap: compare the values
    assert np.allclose(got["data"][0].pop("z"), m)
    want["data"][0].pop("z")
    assert got == want


def test_a_frozen_figure_sends_what_the_figure_sends():
    results = [{"value": k, "seeds": [0, 1],
                "metrics": {"HR@50": {"mean": 0.4 + k / 100, "sd": 0.01, "n": 2}},
                "per_seed": {"HR@50": [0.39 + k / 100, 0.41 + k / 100]}} for k in (1, 2, 4)]
    fig = charts.metrics_with_bands(results, {"HR@50": 0.3}, ["HR@50"], "K")
    frozen = charts.frozen(fig)
    assert sent(frozen) == sent(fig)
    assert sent(frozen) == sent(frozen)  # sending does not consume or change it
