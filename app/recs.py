"""Recommendations and the comparisons drawn from them, cached per bundle (and user).

One user's lists come from :func:`mind_core.retrieval.recommend` with the session's search
backend. Comparisons over all users (list overlaps, the seed noise floor, sweeps) use
:mod:`mind_core.overlap` and :mod:`mind_core.sweep`: exact search, ``max_score`` merge, test-time
histories, history excluded, exactly as ``mind-core overlap`` and ``mind-core sweep`` do.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from app.loaders import Loaded, get_bundle, get_index, get_model, load

NOISE_N = 10  # the merged top-N whose overlaps are compared over all users


@st.cache_data(show_spinner=False, max_entries=512)
def recommend(_loaded: Loaded, path: str, mtime: int, row: int, n: int, merge: str,
              backend: str):
    """Per-interest and merged recommendations (cached per bundle, user and settings)."""
    from mind_core.retrieval import recommend as _recommend

    index = get_index(path, mtime, backend)
    return _recommend(_loaded.bundle, _loaded.data, row, n=n, merge=merge, backend=backend,
                      index=index)


def recommend_for(loaded: Loaded, row: int, n: int, merge: str, backend: str):
    return recommend(loaded, loaded.entry.path, loaded.entry.mtime, row, n, merge, backend)


def labels(loaded: Loaded, row: int, rec) -> list[dict]:
    from mind_core.retrieval import interest_labels

    model = get_model(loaded.entry.path, loaded.entry.mtime)
    return interest_labels(loaded.bundle, loaded.data, row, rec, model=model)


def merge_strategies() -> list[str]:
    from mind_core.retrieval import MERGE_STRATEGIES

    return list(MERGE_STRATEGIES)


# --- over all users: exact merged lists and their overlaps --------------------------------

@st.cache_resource(show_spinner="Ranking every user's movies…", max_entries=64)
def merged_lists(path: str, mtime: int, n: int) -> dict[int, np.ndarray]:
    """{user row: merged top-n item codes} for every evaluated user (exact search)."""
    from mind_core.overlap import merged_top_n

    bundle = get_bundle(path, mtime)
    loaded = load_path(path, mtime)
    users, top = merged_top_n(bundle, loaded.data, n)
    return {int(u): top[i] for i, u in enumerate(users)}


def load_path(path: str, mtime: int) -> Loaded:
    from app.catalog import Entry

    bundle = get_bundle(path, mtime)
    config = bundle.config.to_dict()
    entry = Entry(path, bundle.name, config["interest_num"], config["seed"], "", config, mtime,
                  bundle.meta.get("created", ""), None)
    return load(entry)


@st.cache_data(show_spinner="Comparing lists over all users…", max_entries=256)
def mean_jaccard(path_a: str, mtime_a: int, path_b: str, mtime_b: int, n: int) -> float:
    """Mean Jaccard over the evaluated users of two bundles' merged top-n lists."""
    from mind_core.overlap import check_comparable, jaccard_rows

    check_comparable(get_bundle(path_a, mtime_a), get_bundle(path_b, mtime_b))
    a, b = merged_lists(path_a, mtime_a, n), merged_lists(path_b, mtime_b, n)
    users = sorted(set(a) & set(b))
    return float(jaccard_rows(np.stack([a[u] for u in users]),
                              np.stack([b[u] for u in users])).mean())


def user_list(path: str, mtime: int, row: int, n: int) -> list[int] | None:
    """One user's exact merged top-n (None if the user is not evaluated)."""
    top = merged_lists(path, mtime, n).get(int(row))
    return None if top is None else [int(c) for c in top]


@st.cache_data(show_spinner="Summarizing the sweep…", max_entries=32)
def sweep_summary(paths: tuple[tuple[str, int], ...], param: str, n: int) -> dict:
    """mind_core.sweep.summarize over the given bundles (path, mtime)."""
    from mind_core.sweep import summarize

    bundles = [get_bundle(p, m) for p, m in paths]
    data = load_path(*paths[0]).data
    return summarize(bundles, param, data, n=n)


@st.cache_data(show_spinner=False, max_entries=128)
def interest_figures(path: str, mtime: int) -> dict:
    """Distinctness of a model's interests (mind_core.distinctness)."""
    from mind_core.distinctness import interest_metrics

    return interest_metrics(get_bundle(path, mtime), load_path(path, mtime).data)
