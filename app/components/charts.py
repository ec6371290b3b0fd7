"""Plotly figures used by the pages. Pure functions of arrays and tables: no model logic.

Every movie point carries its item code in ``customdata`` so a chart selection maps straight
back to movies; interest vectors carry ``-(k + 1)``.
"""

from __future__ import annotations

import functools
import html

import numpy as np
import plotly.graph_objects as go
from _plotly_utils.utils import convert_to_base64
from plotly.subplots import make_subplots

from app.components.theme import (
    BASELINE_COLOR,
    CEILING_COLOR,
    HELD_OUT_COLOR,
    HISTORY_COLOR,
    TASTE_COLORS,
    genre_color,
    interest_color,
    interest_name,
)

MAP_HEIGHT = 620
# The maps draw in SVG up to this many movies, in WebGL above. Every new user remounts the
# chart (Streamlit identifies it by its spec), and a remount in WebGL costs a fresh GL context:
# measured in headless Chromium here, a "Random user" click cost the browser 820 ms of work
# with WebGL against ~450-520 ms in SVG for ml-100k's 1,682 movies, and ten viewers share the
# cores (bench/bench_load.py). SVG slows down past a few thousand points: ml-25m's 59k stay
# in WebGL.
WEBGL_ABOVE = 5000
_FONT = dict(family="Inter, system-ui, sans-serif", size=12)


class Spec(go.Figure):
    """A figure held as the finished dict ``go.Figure.to_dict()`` would return.

    ``st.plotly_chart`` reads a figure through ``to_dict()``; a ``go.Figure`` builds a
    validated object per trace, then deep-copies all of it there (~15 ms for the map's 1,700
    points, on every rerun of every session). A Spec only hands its dict over. It is for
    ``st.plotly_chart`` only: it has none of a figure's other methods."""

    def __init__(self, spec: dict):  # no super().__init__: see above
        self._spec = spec

    def to_dict(self) -> dict:
        return self._spec


def spec(data: list[dict], layout: dict, encoded: tuple[int, ...] = ()) -> Spec:
    """A Spec from plain dicts of traces that are ours and known-good, as go.Figure would send
    them: numpy arrays base64-encoded, plotly's default template. ``encoded``: indices of
    traces encoded already (a cached layer), not walked again."""
    for i, trace in enumerate(data):
        if i not in encoded:
            convert_to_base64(trace)
    convert_to_base64(layout)
    return Spec({"data": data, "layout": {**layout, "template": _default_template()}})


@functools.cache
def _default_template() -> dict:
    """The layout template every go.Figure carries (plotly's default theme)."""
    return go.Figure().to_dict()["layout"]["template"]


def frozen(fig: go.Figure) -> Spec:
    """A built figure as a :class:`Spec`: cache it, and each rerun sends it without copying."""
    return Spec(fig.to_dict())


def scatter_type(n_points: int) -> str:
    return "scattergl" if n_points > WEBGL_ABOVE else "scatter"


def _hover(items, codes, extra=None) -> list[str]:
    titles = items["title"].to_numpy()
    genres = items["genres"].to_numpy()
    out = []
    for i, c in enumerate(codes):
        text = f"<b>{html.escape(str(titles[c]))}</b><br>{html.escape(str(genres[c]))}"
        if extra is not None:
            text += "<br>" + extra[i]
        out.append(text)
    return out


def catalogue_trace(items, items_xy: np.ndarray) -> dict:
    """The whole catalogue, faint, coloured by primary genre (a plain dict: built once per
    model and cached by the caller; copied into each figure)."""
    codes = np.arange(1, len(items))
    colors = [genre_color(int(g)) for g in items["primary_code"].to_numpy()[codes]]
    trace = dict(
        type=scatter_type(len(codes)), mode="markers", name="Catalogue (colour = genre)",
        x=np.ascontiguousarray(items_xy[codes, 0]), y=np.ascontiguousarray(items_xy[codes, 1]),
        customdata=codes,
        hovertext=_hover(items, codes), hoverinfo="text",
        marker=dict(size=5, color=colors, opacity=0.35, line=dict(width=0)),
        legendrank=1000,
    )
    convert_to_base64(trace)  # once here, not in every figure the layer goes into
    return trace


def umap_figure(catalogue: dict, items, items_xy, interests_xy, active, per_interest,
                history_codes, held_out: int | None):
    """The map: catalogue, the user's history, each interest vector and what it retrieves.

    The figure must not depend on the chart's own selection: Streamlit identifies a
    selectable chart by its spec, so a figure that changed with the selection would reset
    it (plotly already highlights what is selected)."""
    traces = [dict(catalogue)]
    hist = np.asarray([c for c in history_codes if c > 0], dtype=int)
    if len(hist):
        traces.append(dict(
            type=catalogue["type"], mode="markers", name="Watched (history)",
            x=items_xy[hist, 0].tolist(), y=items_xy[hist, 1].tolist(),
            customdata=hist.tolist(), hovertext=_hover(items, hist, ["watched"] * len(hist)),
            hoverinfo="text", legendrank=900,
            marker=dict(size=7, color="rgba(0,0,0,0)", line=dict(width=1.4,
                                                                   color=HISTORY_COLOR)),
        ))
    for k, hits in enumerate(per_interest):
        if not active[k]:
            continue
        color = interest_color(k)
        group = f"interest{k}"
        if hits:
            codes = np.asarray([c for c, _ in hits], dtype=int)
            scores = [f"{interest_name(k)} · score {s:.3f}" for _, s in hits]
            traces.append(dict(
                type=catalogue["type"], mode="markers", name=f"{interest_name(k)} retrieves",
                legendgroup=group, showlegend=False,
                x=items_xy[codes, 0].tolist(), y=items_xy[codes, 1].tolist(),
                customdata=codes.tolist(), hovertext=_hover(items, codes, scores),
                hoverinfo="text",
                marker=dict(size=10, color=color, opacity=0.9, symbol="circle",
                            line=dict(width=1, color="white")),
            ))
        xy = interests_xy[k]
        if not np.all(np.isfinite(xy)):  # a dead (zero) interest has no place on the map
            continue
        traces.append(dict(
            type="scatter", mode="markers+text", name=interest_name(k), legendgroup=group,
            x=[float(xy[0])], y=[float(xy[1])], customdata=[-(k + 1)],
            text=[str(k + 1)], textposition="middle center",
            textfont=dict(color="white", size=12),
            hovertext=[f"<b>{interest_name(k)}</b> (interest vector)"], hoverinfo="text",
            marker=dict(size=26, color=color, symbol="diamond",
                        line=dict(width=2, color="white")),
            legendrank=k,
        ))
    if held_out is not None:
        traces.append(dict(
            type="scatter", mode="markers", name="Held-out movie",
            x=[float(items_xy[held_out, 0])], y=[float(items_xy[held_out, 1])],
            customdata=[int(held_out)], hoverinfo="text",
            hovertext=_hover(items, [held_out], ["held out: the movie to predict"]),
            marker=dict(size=18, color=HELD_OUT_COLOR, symbol="star",
                        line=dict(width=1.5, color="white")),
            legendrank=800,
        ))
    layout = dict(
        height=MAP_HEIGHT, margin=dict(l=10, r=10, t=10, b=10), font=_FONT,
        xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"),
        # below the plot: above it, the toolbar (top right) covered the last entries
        legend=dict(orientation="h", yanchor="top", y=-0.01, x=0, itemclick="toggle"),
        dragmode="select", hovermode="closest", plot_bgcolor="white",
        uirevision="map",
    )
    return spec(traces, layout, encoded=(0,))


def training_curves(history: list[dict], best_epoch: int | None = None, height: int = 300):
    """Training loss and validation HR@50 / NDCG@50 per epoch, side by side."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Training loss",
                                                        "Validation metrics"))
    epochs = [h["epoch"] for h in history]
    fig.add_trace(go.Scatter(x=epochs, y=[h["loss"] for h in history], mode="lines+markers",
                             name="loss", line=dict(color="#444")), row=1, col=1)
    for key, color in [("valid_HR@50", "#1f77b4"), ("valid_NDCG@50", "#e8590c"),
                       ("valid_HR@10", "#2b9348")]:
        if history and key in history[0]:
            fig.add_trace(go.Scatter(x=epochs, y=[h[key] for h in history],
                                     mode="lines+markers", name=key.replace("valid_", ""),
                                     line=dict(color=color)), row=1, col=2)
    if best_epoch:
        for col in (1, 2):
            fig.add_vline(x=best_epoch, line=dict(color="#999", dash="dot"), row=1, col=col)
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_layout(height=height + 30, margin=dict(l=10, r=10, t=40, b=10), font=_FONT,
                      legend=dict(orientation="v", x=1.01, y=1, yanchor="top"),
                      plot_bgcolor="white")
    return fig


def routing_heatmap(weights: np.ndarray, row_labels: list[str], active: np.ndarray):
    """History movies (rows, most recent at the bottom) × interests, coloured by routing
    weight; interest names in their own colours."""
    K = weights.shape[0]
    cols = [f'<span style="color:{interest_color(k)}"><b>{interest_name(k)}</b></span>'
            + ("" if active[k] else " (off)") for k in range(K)]
    fig = go.Figure(go.Heatmap(
        z=weights.T, x=cols, y=row_labels, colorscale="Blues", zmin=0, zmax=1,
        hovertemplate="%{y}<br>%{x}<br>weight %{z:.2f}<extra></extra>",
        colorbar=dict(title="weight", thickness=12),
    ))
    fig.update_layout(height=max(320, 22 * len(row_labels) + 80), font=_FONT,
                      margin=dict(l=10, r=10, t=10, b=10), xaxis=dict(side="top"),
                      yaxis=dict(autorange="reversed"))
    return fig


def jaccard_heatmap(matrix: np.ndarray, labels: list[str]) -> Spec:
    """Every list against every list (a new user's on each rerun: built as a plain spec)."""
    trace = dict(type="heatmap", z=np.asarray(matrix, dtype=float).tolist(), x=labels,
                 y=labels, colorscale=_colorscale("Greens"), zmin=0, zmax=1,
                 text=[[f"{v:.2f}" for v in row] for row in matrix], texttemplate="%{text}",
                 hovertemplate="%{y} vs %{x}: %{z:.2f}<extra></extra>", showscale=False)
    return spec([trace], dict(height=80 + 60 * len(labels),
                              margin=dict(l=10, r=10, t=10, b=10), font=_FONT,
                              yaxis=dict(autorange="reversed")))


@functools.cache
def _colorscale(name: str) -> list:
    """A named colorscale as the explicit stops plotly.py sends (plotly.js's own differ)."""
    return [list(stop) for stop in go.Heatmap(colorscale=name).colorscale]


def metrics_vs_k(rows: list[dict], baseline: dict | None, metrics: list[str]):
    """One small panel per metric: the models against K, the popularity baseline dashed."""
    n = len(metrics)
    ncols = 3
    nrows = (n + ncols - 1) // ncols
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=metrics,
                        horizontal_spacing=0.08, vertical_spacing=0.18)
    ks = [r["K"] for r in rows]
    for i, m in enumerate(metrics):
        r, c = i // ncols + 1, i % ncols + 1
        ys = [row.get(m) for row in rows]
        fig.add_trace(go.Scatter(x=ks, y=ys, mode="lines+markers", name="MIND",
                                 showlegend=i == 0, line=dict(color="#1f77b4"),
                                 marker=dict(size=9, color=[interest_color(k - 1)
                                                            for k in ks])), row=r, col=c)
        if baseline and m in baseline:
            fig.add_trace(go.Scatter(x=[min(ks) - 0.3, max(ks) + 0.3], y=[baseline[m]] * 2,
                                     mode="lines", name="most popular", showlegend=i == 0,
                                     line=dict(color=BASELINE_COLOR, dash="dash")),
                          row=r, col=c)
        fig.update_xaxes(tickvals=ks, title_text="K", row=r, col=c)
    fig.update_layout(height=260 * nrows + 40, margin=dict(l=10, r=10, t=40, b=10),
                      font=_FONT, legend=dict(orientation="h", y=1.08), plot_bgcolor="white")
    return fig


def metrics_with_bands(results: list[dict], baseline: dict | None, metrics: list[str],
                       xlabel: str, categorical: bool = False, ceiling: dict | None = None):
    """One panel per metric against a setting's values: the mean over seeds as a line, a band
    of ± one sd over seeds, each seed's own value as a faint dot, popularity dashed; with
    ``ceiling`` (a taste mixture's oracle figures, mind_core.evaluation.ceiling), that dotted.

    ``results``: mind_core.workflow.sweep.summarize's rows (``value``,
    ``metrics[m] = {mean, sd, n}``, ``per_seed[m]`` optional)."""
    n = len(metrics)
    ncols = 3
    nrows = (n + ncols - 1) // ncols
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=metrics,
                        horizontal_spacing=0.08, vertical_spacing=0.18)
    xs = [str(r["value"]) if categorical else r["value"] for r in results]
    for i, m in enumerate(metrics):
        r, c = i // ncols + 1, i % ncols + 1
        rows = [row["metrics"].get(m) for row in results]
        if any(v is None for v in rows):
            continue
        mean = np.array([v["mean"] for v in rows])
        sd = np.array([v["sd"] for v in rows])
        fig.add_trace(go.Scatter(x=xs + xs[::-1], y=np.r_[mean + sd, (mean - sd)[::-1]].tolist(),
                                 fill="toself", fillcolor="rgba(31,119,180,0.18)",
                                 line=dict(width=0), hoverinfo="skip", name="± 1 sd over seeds",
                                 showlegend=i == 0, legendgroup="band"), row=r, col=c)
        fig.add_trace(go.Scatter(
            x=xs, y=mean.tolist(), mode="lines+markers", name="MIND, mean over seeds",
            showlegend=i == 0, legendgroup="mean", line=dict(color="#1f77b4"),
            customdata=[[v["sd"], v["n"]] for v in rows],
            hovertemplate=f"{xlabel}=%{{x}}<br>{m} %{{y:.4f}} ± %{{customdata[0]:.4f}}"
                          " (%{customdata[1]} seeds)<extra></extra>"), row=r, col=c)
        seeds_x, seeds_y = [], []
        for x, row in zip(xs, results, strict=True):
            for v in row.get("per_seed", {}).get(m, []):
                seeds_x.append(x)
                seeds_y.append(v)
        if seeds_x:
            fig.add_trace(go.Scatter(x=seeds_x, y=seeds_y, mode="markers", name="one seed",
                                     showlegend=i == 0, legendgroup="seed",
                                     marker=dict(size=5, color="#1f77b4", opacity=0.45)),
                          row=r, col=c)
        if baseline and m in baseline:
            fig.add_trace(go.Scatter(x=[xs[0], xs[-1]], y=[baseline[m]] * 2, mode="lines",
                                     name="most popular", showlegend=i == 0,
                                     legendgroup="baseline",
                                     line=dict(color=BASELINE_COLOR, dash="dash")), row=r, col=c)
        if ceiling and m in ceiling:
            fig.add_trace(go.Scatter(x=[xs[0], xs[-1]], y=[ceiling[m]] * 2, mode="lines",
                                     name="knows the tastes (ceiling)", showlegend=i == 0,
                                     legendgroup="ceiling",
                                     line=dict(color=CEILING_COLOR, dash="dot")), row=r, col=c)
        fig.update_xaxes(title_text=xlabel, row=r, col=c,
                         **({"type": "category"} if categorical else {"tickvals": xs}))
    # the legend sits above the panel titles (one row of panels: they would overlap)
    fig.update_layout(height=260 * nrows + 80, margin=dict(l=10, r=10, t=80, b=10),
                      font=_FONT, legend=dict(orientation="h", y=1.0 + 0.28 / nrows,
                                              yanchor="bottom"), plot_bgcolor="white")
    return fig


def tastes_map(view: dict, items_xy: np.ndarray, interests_xy: np.ndarray):
    """A taste mixture's map for one user: the movies of each of their true tastes in that
    taste's colour, every other movie faint grey, and their interest vectors as numbered
    diamonds. ``view``: mind_core.workflow.playground.user_view."""
    cluster = np.asarray(view["item_cluster"])
    names = view["clusters"]
    codes = np.arange(1, len(cluster))
    mine = np.isin(cluster[codes], view["tastes"])
    kind = scatter_type(len(codes))
    traces = [dict(type=kind, mode="markers", name="Other genres",
                   x=items_xy[codes[~mine], 0].tolist(), y=items_xy[codes[~mine], 1].tolist(),
                   hoverinfo="skip", marker=dict(size=4, color="#ced4da", opacity=0.5))]
    for i, c in enumerate(view["tastes"]):
        pick = codes[cluster[codes] == c]
        missed = " (missed)" if c in view["missed"] else ""
        traces.append(dict(type=kind, mode="markers", name=f"{names[c]}{missed}",
                           x=items_xy[pick, 0].tolist(), y=items_xy[pick, 1].tolist(),
                           hovertext=[names[c]] * len(pick), hoverinfo="text",
                           marker=dict(size=6, color=TASTE_COLORS[i % len(TASTE_COLORS)],
                                       opacity=0.8)))
    for i in view["interests"]:
        xy = interests_xy[i["k"]]
        if not i["active"] or not np.all(np.isfinite(xy)):
            continue
        what = names[i["cluster"]] if i["cluster"] >= 0 else "no genre"
        traces.append(dict(
            type="scatter", mode="markers+text", name=interest_name(i["k"]),
            x=[float(xy[0])], y=[float(xy[1])], text=[str(i["k"] + 1)],
            textposition="middle center", textfont=dict(color="white", size=12),
            hovertext=[f"<b>{interest_name(i['k'])}</b>: {i['share']:.0%} {what}"],
            hoverinfo="text", marker=dict(size=26, color=interest_color(i["k"]),
                                          symbol="diamond", line=dict(width=2, color="white"))))
    layout = dict(height=520, margin=dict(l=10, r=10, t=10, b=10), font=_FONT,
                  xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"),
                  legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
                  plot_bgcolor="white", hovermode="closest")
    return spec(traces, layout)
