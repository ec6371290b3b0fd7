"""Figures whose inputs are shared by every session, built once and kept as frozen specs.

A Plotly figure with subplots costs ~100 ms to build (plotly validates every property); the
charts here depend only on the models on disk, not on the user or the session, so each is
built once per input and every later rerun only sends it (:func:`charts.frozen`).
"""

from __future__ import annotations

from app.components import charts
from app.services import recs
from app.services.shared import shared


@shared(64)
def bands_chart(paths: tuple, param: str, n: int, merge: str | None, values: tuple | None,
                metrics: tuple, xlabel: str, categorical: bool = False) -> charts.Spec:
    """charts.metrics_with_bands over recs.sweep_summary(paths, param, n, merge, values)."""
    summary = recs.sweep_summary(paths, param, n, merge, values)
    rows = summary["results"]
    if param == "merge":  # the axis reads the names the merge pickers show
        rows = [{**r, "value": recs.value_name(param, r["value"])} for r in rows]
    return charts.frozen(charts.metrics_with_bands(rows, summary["popularity"],
                                                   list(metrics), xlabel, categorical,
                                                   summary.get("ceiling")))
