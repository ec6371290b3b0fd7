"""The interest map in a frame that keeps one Plotly plot per viewer and updates it in place.

``st.plotly_chart`` identifies a selectable chart by a hash of its spec, so each new user
remounted the map: every viewer's browser built a new plot of the whole catalogue. Measured in
headless Chromium here (bench/bench_load.py, docs/reliability.md), that was the largest part of
a "Random user" click's cost in the browser. The frame (``map_frontend/``: components v1, no
build step) calls ``Plotly.react`` on the plot it has and sends selections back in
``st.plotly_chart``'s shape, tagged with the view they were made on.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import plotly
import streamlit.components.v1 as components
from plotly.io.json import to_json_plotly

FRONTEND = Path(__file__).with_name("map_frontend")


@functools.cache
def served_folder() -> Path:
    """The frame's files with plotly.js beside them: plotly.py ships plotly.min.js, copied once
    per version and frontend into a temporary folder (the source tree stays untouched)."""
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    files = sorted(FRONTEND.iterdir())
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]
    dest = Path(tempfile.gettempdir()) / f"mind-explorer-map-{plotly.__version__}-{digest}"
    if not (dest / "plotly.min.js").is_file():
        tmp = Path(tempfile.mkdtemp(prefix=".mind-explorer-map-", dir=dest.parent))
        for f in files:
            shutil.copyfile(f, tmp / f.name)
        shutil.copyfile(plotly_js, tmp / "plotly.min.js")
        try:
            os.replace(tmp, dest)
        except OSError:  # another server copied it first
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


_frame = components.declare_component("interest_map", path=str(served_folder()))


def map_frame(spec: dict, key: str) -> tuple[str, dict | None]:
    """Draw ``spec`` (a figure's dict) in the frame under ``key``. Returns (the view drawn: a
    hash of the spec, the frame's last selection ``{"view", "selection": {"points", ...}}`` or
    None). A new spec is a new view: the frame clears its selection, as a remounted
    ``st.plotly_chart`` did."""
    text = to_json_plotly(spec)
    view = hashlib.sha1(text.encode()).hexdigest()[:16]
    return view, _frame(spec=text, view=view, key=key, default=None)


def selection_points(value, view: str) -> list[dict]:
    """The points of a frame's selection made on ``view`` (one made on another view is stale:
    the frame has cleared it). A value without a view is taken as this view's."""
    if not isinstance(value, dict) or value.get("view", view) != view:
        return []
    try:
        return list(value["selection"]["points"])
    except (KeyError, TypeError):
        return []
